//! Error types for data and params file I/O.
//!
//! Every failure to read or write a file must tell the user three things:
//! which file, where in it (npz member, header field, byte offset), and what
//! to do about it. [`IoError`] carries exactly those, so that callers can
//! print it directly or turn it into a richer diagnostic.
//!
//! Format parsers work on bytes and do not know the path, so they return a
//! [`ParseError`] (place + message + help) that the file-level functions
//! wrap with [`IoError::parse`].

use std::fmt;
use std::path::{Path, PathBuf};

/// A failure to read or write a data/params file.
///
/// Display: `{path}: {place}: {message}` (the place is omitted when unknown),
/// then, if there is one, the fix on its own line as `help: {help}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoError {
    /// The file that was being read or written.
    pub path: PathBuf,
    /// Where in the file: npz member, header field, byte range.
    pub place: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, if we know.
    pub help: Option<String>,
}

impl IoError {
    /// An error about `path` with no place and no help yet.
    pub fn new(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        IoError {
            path: path.into(),
            place: None,
            message: message.into(),
            help: None,
        }
    }

    /// Sets where in the file the problem is.
    pub fn at(mut self, place: impl Into<String>) -> Self {
        self.place = Some(place.into());
        self
    }

    /// Sets the suggested fix.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Prefixes the place with an outer location, e.g. the npz member that
    /// contains the npy header field the parser complained about.
    pub fn within(mut self, outer: impl Into<String>) -> Self {
        let outer = outer.into();
        self.place = Some(match self.place.take() {
            Some(inner) => format!("{outer}: {inner}"),
            None => outer,
        });
        self
    }

    /// Wraps an OS-level error from `action` (e.g. "could not open") on
    /// `path`, adding a hint for the common causes.
    pub fn os(path: impl Into<PathBuf>, action: &str, err: &std::io::Error) -> Self {
        let path = path.into();
        let help = match err.kind() {
            std::io::ErrorKind::NotFound => Some("check the path and the working directory"),
            std::io::ErrorKind::PermissionDenied => {
                Some("check the file and directory permissions")
            }
            std::io::ErrorKind::IsADirectory => Some("give the path of a file, not a directory"),
            std::io::ErrorKind::StorageFull => Some("free some disk space and try again"),
            _ => None,
        };
        let e = IoError::new(path, format!("{action}: {err}"));
        match help {
            Some(h) => e.with_help(h),
            None => e,
        }
    }

    /// Attaches a path to a format parser's error.
    pub fn parse(path: impl Into<PathBuf>, err: ParseError) -> Self {
        IoError {
            path: path.into(),
            place: err.place,
            message: err.message,
            help: err.help,
        }
    }

    /// The file this error is about.
    /// `{path}: {place}: {message}` without the help: the one-line form a
    /// diagnostic carries as its message (the help goes in its own field).
    pub fn summary(&self) -> String {
        match &self.place {
            Some(place) => format!("{}: {place}: {}", self.path.display(), self.message),
            None => format!("{}: {}", self.path.display(), self.message),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        if let Some(place) = &self.place {
            write!(f, "{place}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for IoError {}

/// A format error found while decoding bytes, before a path is known.
///
/// Display puts everything on one line (`{place}: {message} (help: {help})`)
/// so that byte-level APIs returning `String` still say where and how to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Where in the bytes: header field, byte range.
    pub place: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, if we know.
    pub help: Option<String>,
}

impl ParseError {
    /// An error at `place`.
    pub fn new(place: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError {
            place: Some(place.into()),
            message: message.into(),
            help: None,
        }
    }

    /// Sets the suggested fix.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(place) = &self.place {
            write!(f, "{place}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_place_and_help() {
        let e = IoError::new("w.npz", "truncated data")
            .at("member 'kernel'")
            .with_help("re-save the file");
        assert_eq!(
            e.to_string(),
            "w.npz: member 'kernel': truncated data\nhelp: re-save the file"
        );
    }

    #[test]
    fn display_without_place_or_help() {
        let e = IoError::new("a/b.npy", "boom");
        assert_eq!(e.to_string(), "a/b.npy: boom");
        assert_eq!(e.path(), Path::new("a/b.npy"));
    }

    #[test]
    fn within_prefixes_place() {
        let e = IoError::new("w.npz", "bad").at("header field 'descr'");
        let e = e.within("member 'x'");
        assert_eq!(e.place.as_deref(), Some("member 'x': header field 'descr'"));
        let e = IoError::new("w.npz", "bad").within("member 'y'");
        assert_eq!(e.place.as_deref(), Some("member 'y'"));
    }

    #[test]
    fn parse_error_keeps_place_and_help() {
        let p = ParseError::new("bytes 0..6 (magic)", "not npy").with_help("use np.save");
        assert_eq!(
            p.to_string(),
            "bytes 0..6 (magic): not npy (help: use np.save)"
        );
        let e = IoError::parse("x.npy", p);
        assert_eq!(
            e.to_string(),
            "x.npy: bytes 0..6 (magic): not npy\nhelp: use np.save"
        );
    }

    #[test]
    fn os_error_gets_hint() {
        let err = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = IoError::os("missing.npz", "could not open", &err);
        assert!(e.message.starts_with("could not open"));
        assert!(e.help.is_some());
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(boxed.to_string().starts_with("missing.npz: could not open"));
    }
}
