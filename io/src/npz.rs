//! NumPy `.npz` archives: a zip file whose members are `.npy` arrays.
//!
//! This is how the Python side hands over many named arrays at once (network
//! weights, golden vectors). `np.savez` stores members uncompressed and
//! `np.savez_compressed` deflates them; both are read. We write uncompressed
//! members like `np.savez`: weights compress poorly and stored members can be
//! read back without inflating.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use super::atomic::{write_atomic, write_atomic_file, ScratchFile};
use super::error::IoError;
use super::npy::{encode_npy, npy_header, parse_npy_detailed, NdArray};
use super::npy_header::Dtype;

/// Upper bound on the buffer reserved up front for one member; the size in
/// the zip directory is untrusted, so larger members just grow the buffer.
const MAX_PREALLOC: u64 = 1 << 26;

/// Reads every array of an `.npz` file, in archive order.
///
/// Names lose their `.npy` suffix, as with `np.load(path).files`.
pub fn read_npz(path: &Path) -> Result<Vec<(String, NdArray)>, IoError> {
    if path.is_dir() {
        // Opening a directory succeeds on Unix; reading it does not.
        return Err(IoError::new(path, "this is a directory, not an .npz file")
            .with_help("name the .npz file itself (for example `params = \"params.npz\"`)"));
    }
    let file = File::open(path).map_err(|e| IoError::os(path, "could not open", &e))?;
    read_npz_from(path, BufReader::new(file))
}

/// [`read_npz`] from any seekable reader; `path` is only used in errors.
fn read_npz_from<R: Read + Seek>(
    path: &Path,
    mut reader: R,
) -> Result<Vec<(String, NdArray)>, IoError> {
    if let Err(e) = ZipArchive::new(&mut reader) {
        return Err(not_a_zip(path, &mut reader, &e));
    }
    // The zip reader keeps one member per name: a second member of the same
    // name would silently replace the first.
    if let Some(name) = duplicate_member(&mut reader) {
        return Err(IoError::new(
            path,
            format!("the archive holds two members named '{name}'"),
        )
        .at(format!("member '{name}'"))
        .with_help("which one is meant is unclear; re-save the arrays with np.savez, each once"));
    }
    let mut archive = match ZipArchive::new(&mut reader) {
        Ok(a) => a,
        Err(e) => return Err(not_a_zip(path, &mut reader, &e)),
    };
    let mut out = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let listed = archive
            .name_for_index(i)
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{i}"));
        let corrupt = |what: String| {
            IoError::new(path, what)
                .at(format!("member '{listed}'"))
                .with_help(
                    "the archive is corrupt or truncated (was it fully written?); \
                     re-save it with np.savez",
                )
        };
        let mut member = archive
            .by_index(i)
            .map_err(|e| corrupt(format!("could not open the member: {e}")))?;
        if member.is_dir() {
            continue;
        }
        let name = member.name().to_string();
        // The size the directory declares bounds what is inflated: a
        // member that inflates past it is corrupt (or a zip bomb), and one
        // that declares more than the memory budget is not read at all.
        let declared = member.size();
        crate::budget::check(
            declared,
            &format!("member '{name}'"),
            "check that this is the right file",
        )
        .map_err(|e| IoError::new(path, e).at(format!("member '{name}'")))?;
        let mut buf = Vec::with_capacity(declared.min(MAX_PREALLOC) as usize);
        Read::take(&mut member, declared.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| corrupt(format!("could not read the member's data: {e}")))?;
        if buf.len() as u64 > declared {
            return Err(corrupt(format!(
                "the member inflates to more than the {declared} bytes the archive declares for it"
            )));
        }
        let array = parse_npy_detailed(&buf)
            .map_err(|e| IoError::parse(path, e).within(format!("member '{name}'")))?;
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        out.push((key, array));
    }
    Ok(out)
}

/// The first member name that the zip's central directory lists twice, if
/// any. Best effort: a directory it cannot walk (zip64, an odd layout)
/// gives `None`, and the zip reader judges the rest.
fn duplicate_member<R: Read + Seek>(reader: &mut R) -> Option<String> {
    const EOCD: &[u8] = b"PK\x05\x06";
    const ENTRY: &[u8] = b"PK\x01\x02";
    let len = reader.seek(SeekFrom::End(0)).ok()?;
    // The end record is 22 bytes plus a comment of at most 65,535.
    let tail_len = len.min(22 + 65_535);
    reader.seek(SeekFrom::Start(len - tail_len)).ok()?;
    let mut tail = Vec::new();
    reader.take(tail_len).read_to_end(&mut tail).ok()?;
    let at = tail.windows(4).rposition(|w| w == EOCD)?;
    let eocd = tail.get(at..at + 22)?;
    let u16_at = |b: &[u8], i: usize| Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]));
    let u32_at = |b: &[u8], i: usize| {
        Some(u32::from_le_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            *b.get(i + 3)?,
        ]))
    };
    let entries = u16_at(eocd, 10)?;
    let size = u64::from(u32_at(eocd, 12)?);
    let eocd_pos = len - tail_len + at as u64;
    // The directory ends where the end record starts (this also holds for
    // an archive with bytes prepended).
    let start = eocd_pos.checked_sub(size)?;
    if size > 64 << 20 {
        return None;
    }
    reader.seek(SeekFrom::Start(start)).ok()?;
    let mut dir = Vec::new();
    reader.take(size).read_to_end(&mut dir).ok()?;
    let mut seen = std::collections::HashSet::new();
    let mut i = 0usize;
    for _ in 0..entries {
        if dir.get(i..i + 4)? != ENTRY {
            return None;
        }
        let name_len = usize::from(u16_at(&dir, i + 28)?);
        let extra_len = usize::from(u16_at(&dir, i + 30)?);
        let comment_len = usize::from(u16_at(&dir, i + 32)?);
        let name = String::from_utf8_lossy(dir.get(i + 46..i + 46 + name_len)?).into_owned();
        if !seen.insert(name.clone()) {
            return Some(name);
        }
        i += 46 + name_len + extra_len + comment_len;
    }
    None
}

/// Explains why the zip reader rejected the file, recognising the common
/// mix-ups (an empty file, a single `.npy` array).
fn not_a_zip<R: Read + Seek>(path: &Path, reader: &mut R, err: &zip::result::ZipError) -> IoError {
    let mut head = Vec::new();
    let peeked = reader
        .seek(SeekFrom::Start(0))
        .and_then(|_| reader.take(8).read_to_end(&mut head));
    if peeked.is_ok() && head.is_empty() {
        return IoError::new(
            path,
            "not a valid .npz (zip) file: it is empty (0 bytes); was it fully written?",
        )
        .with_help("re-run the step that writes it");
    }
    if head.starts_with(b"\x93NUMPY") {
        return IoError::new(path, "this is a single .npy array, not an .npz archive")
            .at("bytes 0..6 (magic)")
            .with_help(
                "read it as .npy, or save several arrays with np.savez(path, name=array, ...)",
            );
    }
    // zip's Display for I/O errors drops the cause, which is the useful part.
    let detail = match err {
        zip::result::ZipError::Io(e) => format!("read error: {e}"),
        other => other.to_string(),
    };
    let size = reader
        .seek(SeekFrom::End(0))
        .map(|n| format!("zip directory (file is {n} bytes)"))
        .unwrap_or_else(|_| "zip directory".to_string());
    IoError::new(
        path,
        format!("not a valid .npz (zip) file: {detail}; was it fully written?"),
    )
    .at(size)
    .with_help("re-save it with np.savez (or write_npz); a file cut off while writing or copying looks like this")
}

/// Writes named arrays as an uncompressed `.npz` (like `np.savez`),
/// atomically (see [`write_atomic`]). Each array becomes member
/// `{name}.npy`; `np.load(path)[name]` reads it back.
pub fn write_npz(path: &Path, arrays: &[(&str, &NdArray)]) -> Result<(), IoError> {
    for (i, (name, _)) in arrays.iter().enumerate() {
        let place = format!("member '{name}.npy'");
        if name.is_empty() {
            return Err(IoError::new(path, format!("array #{i} has an empty name"))
                .with_help("give every array a name"));
        }
        if arrays[..i].iter().any(|(n, _)| n == name) {
            return Err(
                IoError::new(path, format!("the name '{name}' is used twice"))
                    .at(place)
                    .with_help("give every array a distinct name"),
            );
        }
    }
    let bytes = encode_npz(arrays)
        .map_err(|e| IoError::new(path, format!("could not build the zip archive: {e}")))?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// Builds the archive in memory: the zip writer needs to seek back to patch
/// sizes, and [`write_atomic`] hands out a plain stream.
fn encode_npz(arrays: &[(&str, &NdArray)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, a) in arrays {
        let bytes = encode_npy(a);
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            // A fixed timestamp keeps output byte-for-byte reproducible.
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644)
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(format!("{name}.npy"), options)?;
        zip.write_all(&bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// An `.npz` written as its values arrive, for arrays too large to hold:
/// each member's values are appended to a scratch file beside the output,
/// and [`NpzStream::finish`] copies them into the archive (uncompressed,
/// like [`write_npz`], atomically). Memory stays flat in the arrays' size.
pub struct NpzStream {
    path: std::path::PathBuf,
    members: Vec<StreamMember>,
}

struct StreamMember {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    values: usize,
    scratch: ScratchFile,
}

impl NpzStream {
    /// Members `(name, shape)` of f64 values (`f64`) or f32 values.
    pub fn create(
        path: &Path,
        members: &[(&str, Vec<usize>)],
        f64: bool,
    ) -> Result<NpzStream, IoError> {
        let mut out = Vec::new();
        for (i, (name, shape)) in members.iter().enumerate() {
            if name.is_empty() || members[..i].iter().any(|(n, _)| n == name) {
                return Err(IoError::new(
                    path,
                    format!("member '{name}.npy' is empty or used twice"),
                )
                .with_help("give every array a distinct, non-empty name"));
            }
            out.push(StreamMember {
                name: name.to_string(),
                dtype: if f64 { Dtype::F64 } else { Dtype::F32 },
                shape: shape.clone(),
                values: 0,
                scratch: ScratchFile::beside(path)?,
            });
        }
        Ok(NpzStream {
            path: path.to_path_buf(),
            members: out,
        })
    }

    /// Appends values to member `index` (stored as the stream's type).
    pub fn append(
        &mut self,
        index: usize,
        values: impl Iterator<Item = f64>,
    ) -> Result<(), IoError> {
        let Some(m) = self.members.get_mut(index) else {
            return Err(IoError::new(
                &self.path,
                format!("no member #{index} in this archive"),
            ));
        };
        let mut bytes = Vec::new();
        for x in values {
            m.values += 1;
            match m.dtype {
                Dtype::F64 => bytes.extend_from_slice(&x.to_le_bytes()),
                _ => bytes.extend_from_slice(&(x as f32).to_le_bytes()),
            }
        }
        m.scratch.write_all(&bytes).map_err(|e| {
            IoError::os(&self.path, "could not write a scratch file", &e)
                .at(format!("scratch file '{}'", m.scratch.path().display()))
        })
    }

    /// Writes the archive from the scratch files, which are then removed,
    /// followed by the small in-memory arrays `extra`.
    pub fn finish(mut self, extra: &[(&str, &NdArray)]) -> Result<(), IoError> {
        for (name, _) in extra {
            if name.is_empty() || self.members.iter().any(|m| m.name == *name) {
                return Err(IoError::new(
                    &self.path,
                    format!("member '{name}.npy' is empty or used twice"),
                )
                .with_help("give every array a distinct, non-empty name"));
            }
        }
        for m in &self.members {
            let want: usize = m.shape.iter().product();
            if m.values != want {
                return Err(IoError::new(
                    &self.path,
                    format!(
                        "member '{}.npy' got {} values, its shape {:?} holds {want}",
                        m.name, m.values, m.shape
                    ),
                )
                .with_help("this is a bug in the code that streamed the array"));
            }
        }
        let mut readers = Vec::new();
        for m in &mut self.members {
            let file = m.scratch.read_back().map_err(|e| {
                IoError::os(&self.path, "could not read a scratch file back", &e)
                    .at(format!("scratch file '{}'", m.scratch.path().display()))
            })?;
            readers.push(file);
        }
        let members = &self.members;
        write_atomic_file(&self.path, |w| {
            let mut zip = ZipWriter::new(w);
            for (m, reader) in members.iter().zip(&mut readers) {
                let header = npy_header(m.dtype, &m.shape);
                let bytes = header.len() as u64 + (m.values * m.dtype.itemsize()) as u64;
                let options = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Stored)
                    .last_modified_time(DateTime::default())
                    .unix_permissions(0o644)
                    .large_file(bytes >= u64::from(u32::MAX));
                zip.start_file(format!("{}.npy", m.name), options)?;
                zip.write_all(&header)?;
                std::io::copy(reader, &mut zip)?;
            }
            for (name, a) in extra {
                let bytes = encode_npy(a);
                let options = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Stored)
                    .last_modified_time(DateTime::default())
                    .unix_permissions(0o644)
                    .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
                zip.start_file(format!("{name}.npy"), options)?;
                zip.write_all(&bytes)?;
            }
            zip.finish()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::scratch_dir;
    use std::fs;

    fn all_dtypes() -> Vec<(String, NdArray)> {
        let arrays = vec![
            NdArray::from_f32(vec![2, 3], vec![1.0, -2.5, 3.25, 4.0, 5.5, -0.0]),
            NdArray::from_f64(vec![], vec![0.001]),
            NdArray::from_shape_vec::<i64>(vec![3], vec![-1, 0, i64::MAX]).unwrap(),
            NdArray::from_shape_vec::<i32>(vec![2, 1], vec![i32::MIN, 5]).unwrap(),
            NdArray::from_shape_vec::<u8>(vec![2, 2], vec![0, 7, 200, 255]).unwrap(),
            NdArray::from_shape_vec::<bool>(vec![3], vec![true, false, true]).unwrap(),
            NdArray::from_f32(vec![0, 4], vec![]),
        ];
        let names = ["kernel", "dt", "n_steps", "idx", "pixels", "mask", "empty"];
        names.iter().map(|n| n.to_string()).zip(arrays).collect()
    }

    fn as_refs(v: &[(String, NdArray)]) -> Vec<(&str, &NdArray)> {
        v.iter().map(|(n, a)| (n.as_str(), a)).collect()
    }

    /// A streamed archive, fed in pieces, is byte for byte what
    /// `write_npz` writes from the whole arrays, and leaves no scratch file.
    #[test]
    fn a_streamed_npz_equals_the_written_one() {
        let dir = scratch_dir("npz-stream");
        let a: Vec<f32> = (0..24).map(|x| x as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..6).map(|x| x as f32).collect();
        let whole = dir.join("whole.npz");
        let (na, nb) = (
            NdArray::from_f32(vec![4, 2, 3], a.clone()),
            NdArray::from_f32(vec![2, 3], b.clone()),
        );
        // An extra in-memory array of another type follows the streamed ones.
        let k = NdArray::from_shape_vec::<i64>(vec![2], vec![1, 4]).unwrap();
        write_npz(&whole, &[("a", &na), ("b", &nb), ("k", &k)]).unwrap();
        let streamed = dir.join("streamed.npz");
        let mut s = NpzStream::create(&streamed, &[("a", vec![4, 2, 3]), ("b", vec![2, 3])], false)
            .unwrap();
        for (ca, cb) in a.chunks(12).zip(b.chunks(3)) {
            s.append(0, ca.iter().map(|&x| f64::from(x))).unwrap();
            s.append(1, cb.iter().map(|&x| f64::from(x))).unwrap();
        }
        s.finish(&[("k", &k)]).unwrap();
        assert_eq!(fs::read(&whole).unwrap(), fs::read(&streamed).unwrap());
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["streamed.npz", "whole.npz"]);
    }

    /// Too few values is a bug the archive refuses to hide.
    #[test]
    fn a_short_stream_is_refused() {
        let dir = scratch_dir("npz-short");
        let path = dir.join("p.npz");
        let mut s = NpzStream::create(&path, &[("a", vec![2, 2])], true).unwrap();
        s.append(0, [1.0, 2.0, 3.0].into_iter()).unwrap();
        let e = s.finish(&[]).unwrap_err().to_string();
        assert!(e.contains("got 3 values"), "{e}");
        assert!(!path.exists());
    }

    /// An npz as np.savez_compressed would write it (deflated members).
    fn deflated_npz(arrays: &[(String, NdArray)]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, a) in arrays {
            let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
            zip.start_file(format!("{name}.npy"), opts).unwrap();
            zip.write_all(&encode_npy(a)).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn roundtrip_every_dtype_keeps_order() {
        let dir = scratch_dir("npz-rt");
        let p = dir.join("params.npz");
        let arrays = all_dtypes();
        write_npz(&p, &as_refs(&arrays)).unwrap();
        let back = read_npz(&p).unwrap();
        assert_eq!(back, arrays);
        // Reproducible bytes: writing again gives the same file.
        let first = std::fs::read(&p).unwrap();
        write_npz(&p, &as_refs(&arrays)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), first);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn members_are_stored_uncompressed_with_npy_suffix() {
        let arrays = all_dtypes();
        let bytes = encode_npz(&as_refs(&arrays)).unwrap();
        let mut z = ZipArchive::new(Cursor::new(bytes)).unwrap();
        for (i, (name, _)) in arrays.iter().enumerate() {
            let m = z.by_index(i).unwrap();
            assert_eq!(m.name(), format!("{name}.npy"));
            assert_eq!(m.compression(), CompressionMethod::Stored);
        }
    }

    #[test]
    fn reads_deflated_members() {
        let arrays = all_dtypes();
        let bytes = deflated_npz(&arrays);
        let back = read_npz_from(Path::new("c.npz"), Cursor::new(bytes)).unwrap();
        assert_eq!(back, arrays);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let arrays = all_dtypes();
        for bytes in [
            encode_npz(&as_refs(&arrays)).unwrap(),
            deflated_npz(&arrays),
        ] {
            for cut in 0..bytes.len() {
                let r = read_npz_from(Path::new("cut.npz"), Cursor::new(&bytes[..cut]));
                let err = r.expect_err(&format!("cut at {cut} of {}", bytes.len()));
                assert!(err.to_string().starts_with("cut.npz: "), "{err}");
                if cut > 8 && cut + 30 > bytes.len() {
                    // Lost the zip directory at the end: the usual half-written file.
                    assert!(err.message.ends_with("was it fully written?"), "{err}");
                    let want = format!("zip directory (file is {cut} bytes)");
                    assert_eq!(err.place.as_deref(), Some(want.as_str()), "{err}");
                }
            }
        }
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        let arrays = all_dtypes();
        for bytes in [
            encode_npz(&as_refs(&arrays)).unwrap(),
            deflated_npz(&arrays),
        ] {
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 0x5a;
                let _ = read_npz_from(Path::new("x.npz"), Cursor::new(b));
            }
        }
    }

    #[test]
    fn corrupt_member_names_the_member() {
        let arrays = all_dtypes();
        let mut bytes = encode_npz(&as_refs(&arrays)).unwrap();
        // Flip a data byte of the first member: the CRC check must catch it.
        let at = bytes.windows(6).position(|w| w == b"\x93NUMPY").unwrap() + 130;
        bytes[at] ^= 0xff;
        let err = read_npz_from(Path::new("w.npz"), Cursor::new(bytes)).unwrap_err();
        assert_eq!(err.place.as_deref(), Some("member 'kernel.npy'"), "{err}");

        // A member that is not a valid npy: the place names member and field.
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("weird.npy", SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<c8'}")
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let err = read_npz_from(Path::new("w.npz"), Cursor::new(bytes)).unwrap_err();
        let s = err.to_string();
        assert!(s.starts_with("w.npz: member 'weird.npy': "), "{s}");
    }

    /// A deflated member that inflates past the size the archive declares
    /// is an error after one byte more than declared, not an allocation.
    #[test]
    fn a_member_inflating_past_its_declared_size_is_refused() {
        let zeros = NdArray::from_f32(vec![1 << 18], vec![0.0; 1 << 18]);
        let mut bytes = deflated_npz(&[("big".to_string(), zeros)]);
        // Declare 100 bytes in the local header (offset 22) and in the
        // central directory entry (offset 24).
        let patch = |bytes: &mut Vec<u8>, sig: &[u8], at: usize| {
            let i = bytes.windows(4).position(|w| w == sig).unwrap();
            bytes[i + at..i + at + 4].copy_from_slice(&100u32.to_le_bytes());
        };
        patch(&mut bytes, b"PK\x03\x04", 22);
        patch(&mut bytes, b"PK\x01\x02", 24);
        let e = read_npz_from(Path::new("bomb.npz"), Cursor::new(bytes))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("inflates to more than the 100 bytes the archive declares"),
            "{e}"
        );
        assert!(e.contains("member 'big.npy'"), "{e}");
    }

    #[test]
    fn a_directory_is_named_as_such() {
        let dir = std::env::temp_dir();
        let e = read_npz(&dir).unwrap_err().to_string();
        assert!(e.contains("this is a directory, not an .npz file"), "{e}");
        assert!(!e.contains("bytes"), "{e}");
    }

    #[test]
    fn a_member_named_twice_is_an_error() {
        let a = NdArray::from_f32(vec![2], vec![1.0, 2.0]);
        let b = NdArray::from_f32(vec![2], vec![3.0, 4.0]);
        let mut bytes = encode_npz(&[("a", &a), ("b", &b)]).unwrap();
        // Rename member `b.npy` to `a.npy` in its local header and in the
        // central directory (the names are not in any checksum).
        let mut renamed = 0;
        for i in 0..bytes.len() - 5 {
            if &bytes[i..i + 5] == b"b.npy" {
                bytes[i] = b'a';
                renamed += 1;
            }
        }
        assert_eq!(renamed, 2);
        let e = read_npz_from(Path::new("dup.npz"), Cursor::new(bytes))
            .unwrap_err()
            .to_string();
        assert!(e.contains("dup.npz"), "{e}");
        assert!(e.contains("two members named 'a.npy'"), "{e}");
        // Distinct names are read as before.
        let bytes = encode_npz(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(
            read_npz_from(Path::new("ok.npz"), Cursor::new(bytes))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn clear_errors_for_mixups() {
        let err = read_npz_from(Path::new("e.npz"), Cursor::new(Vec::new())).unwrap_err();
        assert!(err.message.contains("empty"), "{err}");
        let npy = encode_npy(&NdArray::from_f64(vec![1], vec![1.0]));
        let err = read_npz_from(Path::new("a.npz"), Cursor::new(npy)).unwrap_err();
        assert!(err.message.contains("single .npy"), "{err}");
        let err = read_npz_from(Path::new("t.npz"), Cursor::new(b"hello".to_vec())).unwrap_err();
        assert!(
            err.message.starts_with("not a valid .npz (zip) file: ")
                && err.message.ends_with("was it fully written?"),
            "{err}"
        );
        let err = read_npz(Path::new("/nonexistent/dir/x.npz")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/x.npz"), "{err}");
    }

    #[test]
    fn write_rejects_bad_input() {
        let dir = scratch_dir("npz-bad");
        let p = dir.join("bad.npz");
        let a = NdArray::from_f32(vec![1], vec![1.0]);
        let err = write_npz(&p, &[("a", &a), ("a", &a)]).unwrap_err();
        assert!(err.message.contains("twice"), "{err}");
        assert_eq!(err.place.as_deref(), Some("member 'a.npy'"));
        let err = write_npz(&p, &[("", &a)]).unwrap_err();
        assert!(err.message.contains("empty name"), "{err}");
        assert!(!p.exists());
        // Empty archives are fine, like np.savez(path).
        write_npz(&p, &[]).unwrap();
        assert!(read_npz(&p).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Reads the real golden files when they are present (they are not part
    /// of the repository).
    #[test]
    fn reads_shared_golden_files_if_present() {
        let golden =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/golden/lif_dense.npz");
        if !golden.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing: CI must have ../shared beside the repo",
                golden.display()
            );
            eprintln!("skipping: {} not present", golden.display());
            return;
        }
        let arrays = read_npz(&golden).unwrap();
        let get = |k: &str| arrays.iter().find(|(n, _)| n == k).map(|(_, a)| a).unwrap();
        assert_eq!(arrays[0].0, "dt");
        assert_eq!(get("dt").to_f64_vec(), vec![0.001]);
        assert!(matches!(get("n_steps"), NdArray::I64(a) if a.iter().eq(&[100])));
        assert_eq!(get("t").shape(), &[100]);
        assert_eq!(get("input").shape(), &[100, 4]);
        assert_eq!(get("hidden_kernel").shape(), &[4, 8]);
        assert_eq!(get("hidden_kernel").dtype_name(), "float64");

        let keras =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/keras/seed_expected.npz");
        if !keras.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing: CI must have ../shared beside the repo",
                keras.display()
            );
            eprintln!("skipping: {} not present", keras.display());
            return;
        }
        let arrays = read_npz(&keras).unwrap();
        let get = |k: &str| arrays.iter().find(|(n, _)| n == k).map(|(_, a)| a).unwrap();
        assert_eq!(get("input").shape(), &[16, 28, 28, 1]);
        assert_eq!(get("input").dtype_name(), "float32");
        assert_eq!(get("labels").dtype_name(), "int64");
        assert_eq!(get("act_conv2d").shape_string(), "(16, 26, 26, 32)");
    }
}
