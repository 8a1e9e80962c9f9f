//! Atomic file replacement.
//!
//! Params and result files are often overwritten in place (e.g. re-saving
//! trained weights). If the process dies half-way, a plain `File::create`
//! leaves a truncated file that looks valid by name but fails later, far from
//! the cause. Writing to a temporary file in the same directory and renaming
//! it over the target means readers see either the old file or the complete
//! new one, never a mix.
//!
//! Only a regular file (or a new path) is ever replaced: a rename over a
//! symlink, a FIFO or a device node would replace the node itself. A lock
//! file `.{filename}.lock` holding the writer's pid keeps two processes from
//! writing one path at once ([`PathLock`]; `snnc train` holds it for the
//! whole training), and the temp and lock files of processes that died
//! mid-write are removed by the next write to the path. While a temp or
//! lock file exists it is registered for [`remove_interrupted_files`], which
//! the `snnc` binary calls from its Ctrl-C (SIGINT/SIGTERM) handler.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::error::IoError;

/// Distinguishes temp files of concurrent writes within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temp and lock files this process has open, as NUL-terminated paths,
/// for a signal handler to remove: reading an atomic and calling `unlink`
/// are all it does, both safe in a handler. The strings are leaked (a few
/// bytes per write) so that a handler never reads freed memory.
const INTERRUPT_SLOTS: usize = 32;
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INTERRUPT_FILES: [AtomicPtr<u8>; INTERRUPT_SLOTS] = [EMPTY_SLOT; INTERRUPT_SLOTS];

/// A file registered for removal on interruption, until dropped.
struct Registered(Option<usize>);

impl Registered {
    fn new(path: &Path) -> Registered {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
                return Registered(None);
            };
            let ptr = c.into_raw().cast::<u8>();
            for (i, slot) in INTERRUPT_FILES.iter().enumerate() {
                if slot
                    .compare_exchange(
                        std::ptr::null_mut(),
                        ptr,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    )
                    .is_ok()
                {
                    return Registered(Some(i));
                }
            }
            // Every slot taken: the file is left to the next write's cleanup.
            // SAFETY: `ptr` came from `into_raw` and was never shared.
            drop(unsafe { std::ffi::CString::from_raw(ptr.cast()) });
        }
        #[cfg(not(unix))]
        let _ = path;
        Registered(None)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            // Leaked on purpose: a handler may be reading it right now.
            INTERRUPT_FILES[i].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }
}

/// Removes the temp and lock files of writes in progress. Only
/// async-signal-safe calls: meant for a SIGINT/SIGTERM handler, just before
/// the process exits.
pub fn remove_interrupted_files() {
    #[cfg(unix)]
    {
        extern "C" {
            fn unlink(path: *const std::ffi::c_char) -> i32;
        }
        for slot in &INTERRUPT_FILES {
            let ptr = slot.load(Ordering::SeqCst);
            if !ptr.is_null() {
                // SAFETY: a registered pointer is a leaked, NUL-terminated
                // CString that is never freed.
                unsafe {
                    unlink(ptr.cast());
                }
            }
        }
    }
}

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
    write_atomic_file(path, |w| write(w))
}

/// [`write_atomic`] for writers that need to seek (a zip archive patches
/// its member sizes): `write` gets the buffered temporary file itself.
pub fn write_atomic_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
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

    replaceable(path)?;
    let name = file_name.to_string_lossy();
    let _lock = PathLock::acquire(path)?;
    remove_stale_temps(&dir, &name);
    let (tmp_path, file) = create_temp(path, &dir, &name)?;
    let registered = Registered::new(&tmp_path);
    let result = fill_and_sync(file, write);
    let result = result.and_then(|()| fs::rename(&tmp_path, path));
    if let Err(e) = result {
        // Best effort: the original error is what matters to the user.
        let _ = fs::remove_file(&tmp_path);
        return Err(IoError::os(path, "could not write the file", &e)
            .at(format!("temporary file '{}' (removed)", tmp_path.display())));
    }
    drop(registered);
    sync_dir(&dir);
    Ok(())
}

/// Refuses a target that exists but is not a regular file: what
/// [`write_atomic`] checks first, for callers that want to fail before
/// long work rather than at the write.
pub fn replaceable(path: &Path) -> Result<(), IoError> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(()); // a new path
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_symlink() {
        "a symbolic link (writing would replace the link, not what it points to)"
    } else if kind.is_dir() {
        "an existing directory"
    } else {
        special_kind(&kind)
    };
    Err(
        IoError::new(path, format!("cannot write: this path is {what}")).with_help(
            "snnc only replaces regular files; give the path of a regular file or a new one",
        ),
    )
}

#[cfg(unix)]
fn special_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device node"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &fs::FileType) -> &'static str {
    "not a regular file"
}

/// Whether process `pid` is running. Where this cannot be told (no
/// `/proc`), every process counts as running, so nothing live is removed.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        proc.join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes `.{name}.tmp-{pid}-{n}` files in `dir` left by processes that
/// are no longer running (killed mid-write). Best effort.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some((pid, n)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(pid), true) = (pid.parse::<u32>(), n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if !alive(pid) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A temporary file beside `path` for data that is written in pieces
/// before the file at `path` is assembled from it (a streamed `.npz`):
/// named like [`write_atomic`]'s temp files, so a crashed process's scratch
/// is removed by the next write to `path`, registered for removal on
/// Ctrl-C, and removed when dropped.
pub struct ScratchFile {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    _registered: Registered,
}

impl ScratchFile {
    pub fn beside(path: &Path) -> Result<ScratchFile, IoError> {
        let name = path.file_name().ok_or_else(|| {
            IoError::new(path, "cannot write: the path has no file name")
                .with_help("give a file path such as out/probes.npz")
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tmp, file) = create_temp(path, &dir, &name.to_string_lossy())?;
        let registered = Registered::new(&tmp);
        Ok(ScratchFile {
            path: tmp,
            file: Some(BufWriter::new(file)),
            _registered: registered,
        })
    }

    /// Appends bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(bytes),
            None => Err(std::io::Error::other("scratch file already read back")),
        }
    }

    /// Everything written so far, for reading from the start.
    pub fn read_back(&mut self) -> std::io::Result<File> {
        if let Some(f) = self.file.take() {
            f.into_inner().map_err(|e| e.into_error())?;
        }
        File::open(&self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        drop(self.file.take());
        let _ = fs::remove_file(&self.path);
    }
}

/// A lock on writing one path: the file `.{filename}.lock` beside it,
/// holding the owner's pid, removed when the lock is dropped. A lock whose
/// owner is no longer running is taken over. Taking a lock this process
/// already holds succeeds (and leaves it to the outer holder).
pub struct PathLock {
    lock: PathBuf,
    owned: bool,
    _registered: Registered,
}

impl std::fmt::Debug for PathLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathLock")
            .field("lock", &self.lock)
            .field("owned", &self.owned)
            .finish()
    }
}

impl PathLock {
    pub fn acquire(path: &Path) -> Result<PathLock, IoError> {
        let name = path
            .file_name()
            .map_or_else(|| "out".to_string(), |n| n.to_string_lossy().into_owned());
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let lock = dir.join(format!(".{name}.lock"));
        let me = std::process::id();
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(mut f) => {
                    let written = write!(f, "{me}").and_then(|()| f.sync_all());
                    if let Err(e) = written {
                        let _ = fs::remove_file(&lock);
                        return Err(IoError::os(path, "could not write the lock file", &e)
                            .at(format!("lock file '{}'", lock.display())));
                    }
                    let registered = Registered::new(&lock);
                    return Ok(PathLock {
                        lock,
                        owned: true,
                        _registered: registered,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = fs::read_to_string(&lock).unwrap_or_default();
                    match text.trim().parse::<u32>() {
                        Ok(pid) if pid == me => {
                            return Ok(PathLock {
                                lock,
                                owned: false,
                                _registered: Registered(None),
                            })
                        }
                        Ok(pid) if alive(pid) => {
                            return Err(IoError::new(
                                path,
                                format!("cannot write: another snnc process (pid {pid}) is writing this file"),
                            )
                            .at(format!("lock file '{}'", lock.display()))
                            .with_help(format!(
                                "wait for it to finish or write to another path; if process {pid} is not snnc, remove '{}'",
                                lock.display()
                            )));
                        }
                        Ok(_) => {
                            // Its owner died: take it over.
                            let _ = fs::remove_file(&lock);
                        }
                        Err(_) => {
                            // Being written this instant, or garbage: a
                            // lock younger than a minute counts as held.
                            let young = fs::metadata(&lock)
                                .and_then(|m| m.modified())
                                .ok()
                                .and_then(|t| t.elapsed().ok())
                                .is_none_or(|age| age.as_secs() < 60);
                            if young {
                                return Err(IoError::new(
                                    path,
                                    "cannot write: another process is writing this file",
                                )
                                .at(format!("lock file '{}'", lock.display()))
                                .with_help(format!(
                                    "wait for it to finish; if nothing is writing, remove '{}'",
                                    lock.display()
                                )));
                            }
                            let _ = fs::remove_file(&lock);
                        }
                    }
                }
                Err(e) => {
                    return Err(IoError::os(path, "could not create the lock file", &e)
                        .at(format!("lock file '{}'", lock.display())));
                }
            }
        }
        Err(
            IoError::new(path, "cannot write: the lock file keeps changing")
                .at(format!("lock file '{}'", lock.display())),
        )
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        if self.owned {
            let _ = fs::remove_file(&self.lock);
        }
    }
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
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
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

    /// Symlinks, FIFOs and device nodes are refused and left as they are.
    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = scratch_dir("atomic-special");
        let target = dir.join("real.bin");
        fs::write(&target, b"real").expect("seed");
        let link = dir.join("link.bin");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let err = write_atomic(&link, |w| w.write_all(b"x")).expect_err("symlink");
        assert!(err.message.contains("a symbolic link"), "{err}");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"real");

        let fifo = dir.join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let err = write_atomic(&fifo, |w| w.write_all(b"x")).expect_err("fifo");
        assert!(err.message.contains("a FIFO"), "{err}");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

        // Refused before anything is created next to it.
        let err = write_atomic(Path::new("/dev/null"), |w| w.write_all(b"x")).expect_err("device");
        assert!(err.message.contains("a device node"), "{err}");
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        let _ = fs::remove_dir_all(&dir);
    }

    /// A pid that no process has: above Linux's largest pid_max.
    const DEAD_PID: u32 = 4_999_999;

    #[test]
    fn stale_temps_of_dead_processes_are_removed() {
        let dir = scratch_dir("atomic-stale");
        let p = dir.join("params.npz");
        let dead = dir.join(format!(".params.npz.tmp-{DEAD_PID}-0"));
        let mine = dir.join(format!(".params.npz.tmp-{}-999999", std::process::id()));
        let other = dir.join(format!(".other.npz.tmp-{DEAD_PID}-0"));
        for f in [&dead, &mine, &other] {
            fs::write(f, b"partial").unwrap();
        }
        write_atomic(&p, |w| w.write_all(b"new")).expect("write");
        assert!(!dead.exists(), "a dead process's temp file is removed");
        assert!(
            mine.exists(),
            "this process's own temp files are left alone"
        );
        assert!(other.exists(), "temp files of other paths are left alone");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_live_lock_refuses_and_a_dead_one_is_taken_over() {
        let dir = scratch_dir("atomic-lock");
        let p = dir.join("params.npz");
        let lock = dir.join(".params.npz.lock");
        // A lock held by a running process (pid 1 always runs).
        fs::write(&lock, b"1").unwrap();
        let err = write_atomic(&p, |w| w.write_all(b"x")).expect_err("locked");
        assert!(
            err.message.contains("another snnc process (pid 1)"),
            "{err}"
        );
        assert!(!p.exists());
        // Its owner died: taken over, and removed after the write.
        fs::write(&lock, DEAD_PID.to_string()).unwrap();
        write_atomic(&p, |w| w.write_all(b"x")).expect("stale lock");
        assert!(!lock.exists());
        // A lock this process holds lets its own writes through.
        let held = PathLock::acquire(&p).expect("acquire");
        write_atomic(&p, |w| w.write_all(b"y")).expect("own lock");
        assert!(lock.exists(), "the outer holder keeps the lock");
        drop(held);
        assert!(!lock.exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    /// Whether `path` is registered for removal on interruption (the
    /// removal itself is process-wide, so it is tested on the binary, in
    /// tests/cli_train.rs).
    fn registered(path: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        INTERRUPT_FILES.iter().any(|slot| {
            let ptr = slot.load(Ordering::SeqCst);
            // SAFETY: registered pointers are leaked CStrings, never freed.
            !ptr.is_null()
                && unsafe { std::ffi::CStr::from_ptr(ptr.cast()) }.to_bytes()
                    == path.as_os_str().as_bytes()
        })
    }

    /// A held lock is registered for removal on interruption, and no longer
    /// once released.
    #[cfg(unix)]
    #[test]
    fn held_locks_are_registered_for_interruption() {
        let dir = scratch_dir("atomic-interrupt");
        let p = dir.join("params.npz");
        let lock = dir.join(".params.npz.lock");
        let held = PathLock::acquire(&p).expect("acquire");
        assert!(registered(&lock));
        drop(held);
        assert!(!registered(&lock));
        assert!(!lock.exists());
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
