//! Atomic file replacement.
//!
//! Params and result files are often overwritten in place (e.g. re-saving
//! trained weights). If the process dies half-way, a plain `File::create`
//! leaves a truncated file that looks valid by name but fails later, far from
//! the cause. Writing to a temporary file in the same directory and renaming
//! it over the target means readers see either the old file or the complete
//! new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::IoError;

/// Distinguishes temp files of concurrent writes within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes a file atomically: `write` fills a temporary file next to `path`,
/// which is flushed, fsynced and then renamed over `path`.
///
/// The temporary file is named `.{filename}.tmp-{pid}-{counter}` and is
/// removed if anything fails. The parent directory must exist: creating it
/// silently would hide typos in output paths, so a missing directory is an
/// error that names it.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), IoError> {
    let file_name = path.file_name().ok_or_else(|| {
        IoError::new(path, "cannot write: the path has no file name")
            .with_help("give a file path such as out/params.npz")
    })?;
    if path.is_dir() {
        return Err(
            IoError::new(path, "cannot write: this path is an existing directory")
                .with_help("give a file path inside the directory, e.g. add /params.npz"),
        );
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(IoError::new(
            path,
            format!("cannot write: the directory '{}' {what}", dir.display()),
        )
        .with_help(format!(
            "create it first (e.g. `mkdir -p {}`) or choose another output path",
            dir.display()
        )));
    }

    let (tmp_path, file) = create_temp(path, &dir, &file_name.to_string_lossy())?;
    let result = fill_and_sync(file, write);
    let result = result.and_then(|()| fs::rename(&tmp_path, path));
    if let Err(e) = result {
        // Best effort: the original error is what matters to the user.
        let _ = fs::remove_file(&tmp_path);
        return Err(IoError::os(path, "could not write the file", &e)
            .at(format!("temporary file '{}' (removed)", tmp_path.display())));
    }
    sync_dir(&dir);
    Ok(())
}

/// Creates a fresh temp file; `create_new` guarantees we never clobber a
/// stray file of the same name (e.g. left by a killed process with our pid).
fn create_temp(path: &Path, dir: &Path, name: &str) -> Result<(PathBuf, File), IoError> {
    let pid = std::process::id();
    let mut last_err = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{pid}-{n}"));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => {
                return Err(IoError::os(path, "could not create a temporary file", &e)
                    .at(format!("temporary file '{}'", tmp.display())))
            }
        }
    }
    let e = last_err.unwrap_or_else(|| std::io::Error::other("too many attempts"));
    Err(
        IoError::os(path, "could not create a temporary file", &e).with_help(format!(
            "remove stale .{name}.tmp-* files in '{}'",
            dir.display()
        )),
    )
}

fn fill_and_sync(
    file: File,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut w = BufWriter::new(file);
    write(&mut w)?;
    w.flush()?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// Makes the rename itself durable. Failure only weakens crash safety, not
/// correctness, and some filesystems refuse to fsync directories, so it is
/// ignored.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh, unique scratch directory under the system temp dir.
    pub(crate) fn scratch_dir(tag: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("snnc-io-test-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("create scratch dir");
        d
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("read dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn writes_and_replaces() {
        let dir = scratch_dir("atomic-ok");
        let p = dir.join("out.bin");
        write_atomic(&p, |w| w.write_all(b"first")).expect("write 1");
        assert_eq!(fs::read(&p).expect("read"), b"first");
        write_atomic(&p, |w| w.write_all(b"second!")).expect("write 2");
        assert_eq!(fs::read(&p).expect("read"), b"second!");
        assert!(leftovers(&dir).is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn failed_write_keeps_old_file_and_removes_temp() {
        let dir = scratch_dir("atomic-fail");
        let p = dir.join("keep.bin");
        fs::write(&p, b"old").expect("seed");
        let err = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("simulated failure"))
        })
        .expect_err("must fail");
        assert_eq!(fs::read(&p).expect("read"), b"old");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        let s = err.to_string();
        assert!(
            s.contains("keep.bin") && s.contains("simulated failure"),
            "{s}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_directory_is_named() {
        let dir = scratch_dir("atomic-nodir");
        let missing = dir.join("no_such_dir");
        let err =
            write_atomic(&missing.join("x.npz"), |w| w.write_all(b"x")).expect_err("must fail");
        assert!(err.message.contains("no_such_dir"), "{err}");
        assert!(err.message.contains("does not exist"), "{err}");
        assert!(err.help.as_deref().unwrap_or("").contains("mkdir -p"));
        assert!(!missing.exists(), "must not create the directory");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn directory_target_is_rejected() {
        let dir = scratch_dir("atomic-isdir");
        let err = write_atomic(&dir, |w| w.write_all(b"x")).expect_err("must fail");
        assert!(err.message.contains("directory"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn temp_names_are_unique() {
        let dir = scratch_dir("atomic-unique");
        let p = dir.join("same.bin");
        let (t1, _f1) = create_temp(&p, &dir, "same.bin").expect("t1");
        let (t2, _f2) = create_temp(&p, &dir, "same.bin").expect("t2");
        assert_ne!(t1, t2);
        assert!(t1
            .file_name()
            .map(|n| n.to_string_lossy().starts_with(".same.bin.tmp-"))
            .unwrap_or(false));
        let _ = fs::remove_dir_all(&dir);
    }
}
