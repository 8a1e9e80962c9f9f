//! The params files a spec's run blocks name, checked against their
//! networks as `snnc check` checks them (E0503 at the `params =` value), so
//! a file saved for another network shows in the editor before anything
//! runs. A file is read again only when it changes on disk or the network
//! it must fit changes; typing elsewhere in the spec costs a `stat`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use snnc_compiler::diagnostic::Diagnostic;
use snnc_compiler::ir::{Network, Program};
use snnc_io::spec_files::params_file_diagnostics;
use snnc_io::{params, IoError};

/// What each params file gave when last read, per network it was checked
/// against.
#[derive(Default)]
pub struct ParamsFiles {
    seen: HashMap<(PathBuf, String), Seen>,
}

struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    result: Result<(), IoError>,
}

impl ParamsFiles {
    /// The problems of `program`'s existing params files, relative to
    /// `dir` (the spec's directory).
    pub fn diagnostics(&mut self, program: &Program, dir: &Path) -> Vec<Diagnostic> {
        params_file_diagnostics(program, dir, |path, net| self.check(path, net))
    }

    fn check(&mut self, path: &Path, net: &Network) -> Result<(), IoError> {
        let meta = std::fs::metadata(path).ok();
        let len = meta.as_ref().map_or(0, |m| m.len());
        let modified = meta.and_then(|m| m.modified().ok());
        let key = (path.to_path_buf(), signature(net));
        if let Some(seen) = self.seen.get(&key) {
            if seen.len == len && seen.modified == modified {
                return seen.result.clone();
            }
        }
        let result = params::load(path, net).map(drop);
        let seen = Seen {
            len,
            modified,
            result: result.clone(),
        };
        self.seen.insert(key, seen);
        result
    }
}

/// What a params file is checked against: the network's name and every
/// tensor's name and shape.
fn signature(net: &Network) -> String {
    let tensors: Vec<String> = net
        .params()
        .map(|(_, p)| format!("{}{:?}", p.name, p.shape))
        .collect();
    format!("{}:{}", net.name, tensors.join(","))
}

/// The directory of a `file://` document: where its relative paths start.
/// `None` for other schemes (an unsaved buffer), whose paths mean nothing.
pub fn document_dir(uri: &str) -> Option<PathBuf> {
    let path = percent_decode(uri.strip_prefix("file://")?)?;
    Path::new(&path).parent().map(Path::to_path_buf)
}

/// `%XX` escapes decoded (RFC 3986); `None` for a broken escape or text
/// that is not UTF-8 once decoded.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_give_their_directory() {
        assert_eq!(
            document_dir("file:///home/a%20b/spec.snn"),
            Some(PathBuf::from("/home/a b"))
        );
        assert_eq!(document_dir("untitled:Untitled-1"), None);
        assert_eq!(document_dir("file:///x/%zz.snn"), None);
        assert_eq!(document_dir("file:///x/%e2%82"), None);
    }
}
