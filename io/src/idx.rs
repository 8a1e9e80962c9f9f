//! IDX files, the format of the MNIST data set (`t10k-images-idx3-ubyte`).
//!
//! Layout: a 4-byte magic `0x00 0x00 type ndims`, then `ndims` big-endian
//! u32 dimension sizes, then the elements in C order. MNIST images have
//! magic `0x00000803` (u8, 3 dims), labels `0x00000801` (u8, 1 dim). Only
//! u8 elements are supported because that is all the data sets we consume
//! use; other types are rejected by name rather than misread.
//!
//! The files are usually distributed gzipped, so a gzip stream (starting
//! `1f 8b`) is inflated transparently; a download cut short must then be
//! reported as such, not as a mysterious short array.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use ndarray::{ArrayD, IxDyn};

use super::error::{IoError, ParseError};

/// The IDX element-type byte for unsigned bytes.
const TYPE_U8: u8 = 0x08;

/// An IDX array of unsigned bytes, shaped as its header declares (e.g.
/// `[10000, 28, 28]` for MNIST test images), in standard (C) layout.
pub type IdxArray = ArrayD<u8>;

/// Parses the bytes of an uncompressed IDX file.
///
/// The error text says where and how to fix, but not the file name.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    parse_idx_detailed(bytes).map_err(|e| e.to_string())
}

/// Reads an IDX file, inflating it first if it is gzip-compressed.
///
/// Nothing beyond what the header declares is read into memory (one byte
/// more, to tell that there is more): a gzip bomb, or `/dev/zero`, stops at
/// the header's size, and a header declaring more than the memory budget
/// (see [`crate::budget`]) is an error before any data is read.
pub fn read_idx(path: &Path) -> Result<IdxArray, IoError> {
    let file = File::open(path).map_err(|e| IoError::os(path, "could not read", &e))?;
    let meta = file.metadata().ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(IoError::new(path, "this is a directory, not an IDX file")
            .with_help("name the IDX file itself, or use mnist_idx(\"DIR\") for a directory"));
    }
    let compressed = meta.map_or(0, |m| m.len() as usize);
    decode_idx_stream(BufReader::new(file), compressed).map_err(|e| IoError::parse(path, e))
}

/// Gunzips if needed, then parses.
#[cfg(test)]
fn decode_idx_file(bytes: &[u8]) -> Result<IdxArray, ParseError> {
    decode_idx_stream(bytes, bytes.len())
}

/// Reads and parses an IDX stream, gunzipping it when it starts with the
/// gzip magic; `compressed` is the stream's size, for messages.
fn decode_idx_stream(mut r: impl BufRead, compressed: usize) -> Result<IdxArray, ParseError> {
    let gz = r
        .fill_buf()
        .map_err(|e| read_failure(&e))?
        .starts_with(&[0x1f, 0x8b]);
    if !gz {
        let raw = read_declared(&mut r).map_err(|(e, _)| e)?;
        return parse_idx_detailed(&raw);
    }
    match read_declared(&mut MultiGzDecoder::new(r)) {
        Ok(raw) => parse_idx_detailed(&raw).map_err(|e| ParseError {
            place: e.place.map(|p| format!("after gunzip, {p}")),
            ..e
        }),
        Err((e, None)) => Err(e),
        Err((_, Some((io, partial)))) => Err(gzip_failure(compressed, &partial, &io)),
    }
}

fn read_failure(e: &std::io::Error) -> ParseError {
    ParseError::new("the file", format!("could not read: {e}"))
}

/// Reads the IDX header, then at most one byte more than the data it
/// declares. A read error comes back with the bytes read before it.
#[allow(clippy::type_complexity)]
fn read_declared(
    r: &mut impl Read,
) -> Result<Vec<u8>, (ParseError, Option<(std::io::Error, Vec<u8>)>)> {
    let mut buf = Vec::new();
    let mut read = |buf: &mut Vec<u8>,
                    n: u64|
     -> Result<(), (ParseError, Option<(std::io::Error, Vec<u8>)>)> {
        match r.take(n).read_to_end(buf) {
            Ok(_) => Ok(()),
            Err(e) => Err((read_failure(&e), Some((e, std::mem::take(buf))))),
        }
    };
    read(&mut buf, 4)?;
    if let [0, 0, _, nd] = buf[..] {
        read(&mut buf, 4 * u64::from(nd))?;
    }
    let declared = match (buf.get(2), header_size_and_count(&buf)) {
        (Some(&TYPE_U8), Some((hs, n))) => (hs as u64).checked_add(n as u64),
        // A header the parser will refuse: nothing more is needed.
        _ => Some(buf.len() as u64),
    };
    let Some(declared) = declared else {
        // Too many elements to count: the parser says so.
        return Ok(buf);
    };
    if let Err(e) =
        crate::budget::check(declared, "this IDX file", "check that it is the right file")
    {
        return Err((
            ParseError::new(
                format!("bytes 4..{} (dimension sizes)", buf.len()),
                format!("its header declares {declared} bytes: {e}"),
            ),
            None,
        ));
    }
    let rest = (declared + 1).saturating_sub(buf.len() as u64);
    read(&mut buf, rest)?;
    Ok(buf)
}

/// Describes a broken gzip stream, with the size the IDX header inside it
/// promised when enough of it was inflated to know.
fn gzip_failure(compressed: usize, partial: &[u8], err: &std::io::Error) -> ParseError {
    let expected = match header_size_and_count(partial) {
        Some((hs, n)) => match hs.checked_add(n) {
            Some(total) => format!("; its IDX header says the uncompressed file is {total} bytes"),
            None => String::new(),
        },
        None => String::new(),
    };
    ParseError::new(
        format!("gzip stream ({compressed} compressed bytes)"),
        format!(
            "the gzip data is truncated or corrupt ({err}): only {} bytes could be \
             decompressed{expected}",
            partial.len()
        ),
    )
    .with_help(
        "the download was probably cut off; download the file again (`gzip -t FILE` checks it)",
    )
}

/// Header size and element count, if the magic and dims are complete.
fn header_size_and_count(bytes: &[u8]) -> Option<(usize, usize)> {
    let &[0, 0, _, nd] = bytes.get(0..4)? else {
        return None;
    };
    let hs = 4 + 4 * usize::from(nd);
    let dims = read_dims(bytes.get(4..hs)?);
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
    Some((hs, n))
}

fn read_dims(raw: &[u8]) -> Vec<usize> {
    raw.chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect()
}

fn type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => return None,
    })
}

pub(crate) fn parse_idx_detailed(bytes: &[u8]) -> Result<IdxArray, ParseError> {
    let magic_place = "bytes 0..4 (magic)";
    let cut_off = "the file was cut off; download or copy it again";
    let Some(&[z0, z1, ty, nd]) = bytes.get(0..4) else {
        return Err(ParseError::new(
            magic_place,
            format!(
                "the data ends after {} bytes, but the IDX magic alone is 4 bytes",
                bytes.len()
            ),
        )
        .with_help(cut_off));
    };
    if (z0, z1) != (0, 0) {
        let help = if (z0, z1) == (0x1f, 0x8b) {
            "this is gzip-compressed; read the file with read_idx or gunzip it first"
        } else {
            "IDX files start with 00 00, e.g. 00 00 08 03 for MNIST images; check that this is the right file"
        };
        return Err(ParseError::new(
            magic_place,
            format!("not an IDX file: the magic is {z0:02x} {z1:02x} {ty:02x} {nd:02x}"),
        )
        .with_help(help));
    }
    if ty != TYPE_U8 {
        let what = match type_name(ty) {
            Some(n) => format!("unsupported element type 0x{ty:02X} ({n})"),
            None => format!("unknown element type 0x{ty:02X}"),
        };
        return Err(ParseError::new(
            "byte 2 (element type)",
            format!("{what}; only 0x08 (unsigned byte) is supported"),
        )
        .with_help("convert the data to unsigned bytes, or check that this is the right file"));
    }
    if nd == 0 {
        return Err(ParseError::new(
            "byte 3 (number of dimensions)",
            "the number of dimensions is 0",
        )
        .with_help(
            "IDX data files have at least one dimension; check that this is the right file",
        ));
    }
    let hs = 4 + 4 * usize::from(nd);
    let Some(raw_dims) = bytes.get(4..hs) else {
        return Err(ParseError::new(
            format!("bytes 4..{hs} (dimension sizes)"),
            format!(
                "truncated header: {nd} dimensions need a {hs}-byte header, but the data has only {} bytes",
                bytes.len()
            ),
        )
        .with_help(cut_off));
    };
    let dims = read_dims(raw_dims);
    let dims_text = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
    let need = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            ParseError::new(
                format!("bytes 4..{hs} (dimension sizes)"),
                format!("dimensions {dims_text} have more elements than this machine can address"),
            )
            .with_help("the header is corrupt; download or copy the file again")
        })?;
    let body = &bytes[hs..];
    let data_place = format!("bytes {hs}.. (data)");
    if body.len() < need {
        return Err(ParseError::new(
            data_place,
            format!(
                "truncated data: dimensions {dims_text} need {need} bytes after the {hs}-byte header, \
                 but only {} bytes are present",
                body.len()
            ),
        )
        .with_help(cut_off));
    }
    if body.len() > need {
        return Err(ParseError::new(
            data_place,
            format!(
                "{} unexpected bytes after the data: dimensions {dims_text} need {need} bytes, \
                 but {} bytes follow the header",
                body.len() - need,
                body.len()
            ),
        )
        .with_help("the header and the data disagree; check that this is the right file"));
    }
    // `need` is the product of `dims`, so the shape always fits the data.
    IdxArray::from_shape_vec(IxDyn(&dims), body.to_vec()).map_err(|e| {
        ParseError::new(
            data_place,
            format!("dimensions {dims_text} do not fit the data: {e}"),
        )
        .with_help("the header is corrupt; download or copy the file again")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::scratch_dir;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn idx(ty: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, ty, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn images() -> (Vec<u8>, IdxArray) {
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| (i * 7) as u8).collect();
        let bytes = idx(0x08, &[2, 3, 4], &data);
        assert_eq!(&bytes[..4], &[0, 0, 8, 3]);
        (
            bytes,
            IdxArray::from_shape_vec(IxDyn(&[2, 3, 4]), data).unwrap(),
        )
    }

    #[test]
    fn parses_images_and_labels() {
        let (bytes, want) = images();
        assert_eq!(parse_idx(&bytes).unwrap(), want);
        let labels = idx(0x08, &[5], &[7, 2, 1, 0, 4]);
        let a = parse_idx(&labels).unwrap();
        assert_eq!(a.shape(), [5]);
        assert_eq!(a.as_slice().unwrap(), [7, 2, 1, 0, 4]);
        assert_eq!(a.len(), 5);
        let nd = crate::NdArray::from(a);
        assert_eq!(nd.shape_string(), "(5,)");
        assert_eq!(nd.dtype_name(), "uint8");
        let empty = parse_idx(&idx(0x08, &[0, 28], &[])).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn gzip_is_transparent() {
        let (bytes, want) = images();
        assert_eq!(decode_idx_file(&gzip(&bytes)).unwrap(), want);
        // Concatenated gzip members are one stream, as with `gunzip`.
        let mut two = gzip(&bytes[..10]);
        two.extend(gzip(&bytes[10..]));
        assert_eq!(decode_idx_file(&two).unwrap(), want);
    }

    #[test]
    fn errors_state_expected_and_found() {
        let (bytes, _) = images();
        let err = parse_idx(&bytes[..bytes.len() - 5]).unwrap_err();
        assert!(
            err.contains("need 24 bytes") && err.contains("only 19 bytes"),
            "{err}"
        );
        let err = parse_idx(&bytes[..9]).unwrap_err();
        assert!(
            err.contains("16-byte header") && err.contains("only 9 bytes"),
            "{err}"
        );
        let err = parse_idx(&bytes[..2]).unwrap_err();
        assert!(err.contains("magic"), "{err}");
        let mut extra = bytes.clone();
        extra.push(1);
        let err = parse_idx(&extra).unwrap_err();
        assert!(err.contains("1 unexpected bytes"), "{err}");
        let err = parse_idx(&idx(0x0D, &[1], &[0; 4])).unwrap_err();
        assert!(
            err.contains("0x0D (float32)") && err.contains("only 0x08"),
            "{err}"
        );
        let err = parse_idx(&idx(0x42, &[1], &[0])).unwrap_err();
        assert!(err.contains("unknown element type 0x42"), "{err}");
        let err = parse_idx(b"PK\x03\x04....").unwrap_err();
        assert!(err.contains("not an IDX file"), "{err}");
        let err = parse_idx(&gzip(&bytes)).unwrap_err();
        assert!(err.contains("gzip"), "{err}");
        let err = parse_idx(&idx(0x08, &[], &[])).unwrap_err();
        assert!(err.contains("dimensions is 0"), "{err}");
        let huge = idx(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[]);
        let err = parse_idx(&huge).unwrap_err();
        assert!(
            err.contains("more elements") || err.contains("truncated"),
            "{err}"
        );
    }

    #[test]
    fn truncated_gzip_says_so() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        let bytes = idx(0x08, &[50, 100], &data);
        let gz = gzip(&bytes);
        let err = decode_idx_file(&gz[..gz.len() / 2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("gzip data is truncated"), "{err}");
        assert!(err.contains("the uncompressed file is 5012 bytes"), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let (bytes, _) = images();
        for cut in 0..bytes.len() {
            assert!(parse_idx(&bytes[..cut]).is_err(), "raw cut at {cut}");
        }
        let gz = gzip(&bytes);
        for cut in 0..gz.len() {
            assert!(
                decode_idx_file(&gz[..cut]).is_err(),
                "gzip cut at {cut} of {}",
                gz.len()
            );
        }
        for i in 0..gz.len() {
            let mut b = gz.clone();
            b[i] ^= 0xa5;
            let _ = decode_idx_file(&b);
        }
    }

    #[test]
    fn read_idx_names_the_file() {
        let dir = scratch_dir("idx");
        let (bytes, want) = images();
        let p = dir.join("imgs-idx3-ubyte.gz");
        std::fs::write(&p, gzip(&bytes)).unwrap();
        assert_eq!(read_idx(&p).unwrap(), want);
        let gz = gzip(&bytes);
        std::fs::write(&p, &gz[..gz.len() - 4]).unwrap();
        let err = read_idx(&p).unwrap_err().to_string();
        assert!(err.starts_with(&p.display().to_string()), "{err}");
        assert!(err.contains("\nhelp: "), "{err}");
        let err = read_idx(&dir.join("nope")).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A gzip stream inflating far past its header's size is read only one
    /// byte past it (a 10 MB tail after a 2-byte array reports 1 extra
    /// byte, not 10 MB), and a header declaring more than the memory budget
    /// is refused before its data is read.
    #[test]
    fn reading_stops_at_the_declared_size() {
        let mut bomb = idx(TYPE_U8, &[2], &[1, 2]);
        bomb.resize(bomb.len() + (10 << 20), 0);
        let err = decode_idx_file(&gzip(&bomb)).unwrap_err().to_string();
        assert!(err.contains("1 unexpected bytes after the data"), "{err}");

        let huge = idx(TYPE_U8, &[1_000_000, 1_000_000, 100], &[0; 64]);
        let err = decode_idx_file(&gzip(&huge)).unwrap_err().to_string();
        assert!(err.contains("declares 100000000000016 bytes"), "{err}");
        assert!(err.contains("memory budget"), "{err}");
    }

    #[test]
    fn a_device_or_a_directory_is_not_read_whole() {
        let err = read_idx(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("element type 0x00"), "{err}");
        let err = read_idx(&std::env::temp_dir()).unwrap_err().to_string();
        assert!(err.contains("this is a directory"), "{err}");
    }

    /// Reads the real MNIST test set when it is present (not in the repo).
    #[test]
    fn reads_shared_mnist_if_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mnist");
        let labels = dir.join("t10k-labels-idx1-ubyte.gz");
        let images = dir.join("t10k-images-idx3-ubyte.gz");
        if !labels.exists() || !images.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing: CI must have ../shared beside the repo",
                dir.display()
            );
            eprintln!("skipping: MNIST files not present in {}", dir.display());
            return;
        }
        let l = read_idx(&labels).unwrap();
        assert_eq!(l.shape(), [10000]);
        assert_eq!(
            &l.as_slice().unwrap()[..10],
            &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
        );
        let i = read_idx(&images).unwrap();
        assert_eq!(i.shape(), [10000, 28, 28]);
        assert_eq!(i.len(), 7_840_000);
    }
}
