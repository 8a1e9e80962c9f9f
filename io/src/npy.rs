//! NumPy `.npy` arrays: reader for format versions 1.0, 2.0 and 3.0 and a
//! version 1.0 writer.
//!
//! Weights and golden vectors come from Python (Keras, Nengo, NumPy), so the
//! runtime speaks NumPy's own format rather than inventing one. The format
//! is a magic string, a version, a header that is a Python dict literal
//! (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`) and then
//! the raw element bytes. See
//! <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.
//!
//! Only the dtypes the simulator can use are supported; anything else is
//! rejected with an error that names the dtype and how to convert it, rather
//! than silently reinterpreting bytes.

use std::path::Path;

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use super::atomic::write_atomic;
use super::error::{IoError, ParseError};
use super::npy_header::{parse_header, Dtype, Header};

/// The NumPy magic string that starts every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// An array as a `.npy` file holds it: an [`ArrayD`] of one of the NumPy
/// dtypes the simulator can use.
///
/// The dtype is only known once a file's header is read, so a reader of any
/// file returns this enum and the caller converts (`to_f32`, or a `match`
/// that refuses what it cannot use, naming the dtype).
#[derive(Debug, Clone, PartialEq)]
pub enum NdArray {
    /// `float32` (`<f4`).
    F32(ArrayD<f32>),
    /// `float64` (`<f8`).
    F64(ArrayD<f64>),
    /// `int64` (`<i8`).
    I64(ArrayD<i64>),
    /// `int32` (`<i4`).
    I32(ArrayD<i32>),
    /// `uint8` (`|u1`).
    U8(ArrayD<u8>),
    /// `bool` (`|b1`).
    Bool(ArrayD<bool>),
}

/// Runs `$body` with `$a` bound to the inner [`ArrayD`], whatever its dtype.
macro_rules! each_dtype {
    ($array:expr, $a:ident => $body:expr) => {
        match $array {
            NdArray::F32($a) => $body,
            NdArray::F64($a) => $body,
            NdArray::I64($a) => $body,
            NdArray::I32($a) => $body,
            NdArray::U8($a) => $body,
            NdArray::Bool($a) => $body,
        }
    };
}

macro_rules! from_array {
    ($($t:ty => $variant:ident),*) => {$(
        impl From<ArrayD<$t>> for NdArray {
            fn from(a: ArrayD<$t>) -> NdArray {
                NdArray::$variant(a)
            }
        }
    )*};
}
from_array!(f32 => F32, f64 => F64, i64 => I64, i32 => I32, u8 => U8, bool => Bool);

impl NdArray {
    /// An array of `shape` holding `data` in C order, or why they disagree.
    pub fn from_shape_vec<T>(shape: Vec<usize>, data: Vec<T>) -> Result<Self, String>
    where
        ArrayD<T>: Into<NdArray>,
    {
        let n = data.len();
        ArrayD::from_shape_vec(IxDyn(&shape), data)
            .map(Into::into)
            .map_err(|e| {
                format!(
                    "shape {} does not fit {n} elements: {e}",
                    shape_repr(&shape)
                )
            })
    }

    /// A float32 array.
    ///
    /// # Panics
    /// If the product of `shape` is not `data.len()`: that is a bug in the
    /// caller, not bad input. Use [`NdArray::from_shape_vec`] for untrusted shapes.
    pub fn from_f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self::from_shape_vec(shape, data).unwrap_or_else(|e| panic!("NdArray: {e}"))
    }

    /// A float64 array.
    ///
    /// # Panics
    /// If the product of `shape` is not `data.len()` (see [`NdArray::from_f32`]).
    pub fn from_f64(shape: Vec<usize>, data: Vec<f64>) -> Self {
        Self::from_shape_vec(shape, data).unwrap_or_else(|e| panic!("NdArray: {e}"))
    }

    /// Dimensions; empty for a scalar (`shape == ()` in NumPy).
    pub fn shape(&self) -> &[usize] {
        each_dtype!(self, a => a.shape())
    }

    /// Number of elements (1 for a scalar).
    pub fn len(&self) -> usize {
        each_dtype!(self, a => a.len())
    }

    /// True when the array has no elements (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn dtype(&self) -> Dtype {
        match self {
            NdArray::F32(_) => Dtype::F32,
            NdArray::F64(_) => Dtype::F64,
            NdArray::I64(_) => Dtype::I64,
            NdArray::I32(_) => Dtype::I32,
            NdArray::U8(_) => Dtype::U8,
            NdArray::Bool(_) => Dtype::Bool,
        }
    }

    /// The NumPy dtype name, e.g. `"float32"`.
    pub fn dtype_name(&self) -> &'static str {
        self.dtype().name()
    }

    /// The shape the way NumPy prints it: `()`, `(3,)`, `(3, 3, 1, 32)`.
    pub fn shape_string(&self) -> String {
        shape_repr(self.shape())
    }

    /// The array converted to f64 (bools become 0.0 / 1.0; int64 values
    /// beyond 2^53 lose precision).
    pub fn to_f64(&self) -> ArrayD<f64> {
        match self {
            NdArray::F32(a) => a.mapv(f64::from),
            NdArray::F64(a) => a.clone(),
            NdArray::I64(a) => a.mapv(|x| x as f64),
            NdArray::I32(a) => a.mapv(f64::from),
            NdArray::U8(a) => a.mapv(f64::from),
            NdArray::Bool(a) => a.mapv(|x| f64::from(u8::from(x))),
        }
    }

    /// The array converted to f32 (rounding f64 and large integers).
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            NdArray::F32(a) => a.clone(),
            NdArray::F64(a) => a.mapv(|x| x as f32),
            NdArray::I64(a) => a.mapv(|x| x as f32),
            NdArray::I32(a) => a.mapv(|x| x as f32),
            NdArray::U8(a) => a.mapv(f32::from),
            NdArray::Bool(a) => a.mapv(|x| f32::from(u8::from(x))),
        }
    }

    /// All elements in C order, converted to f64 (see [`NdArray::to_f64`]).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.to_f64().iter().copied().collect()
    }

    /// All elements in C order, converted to f32 (see [`NdArray::to_f32`]).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.to_f32().iter().copied().collect()
    }
}

/// Product of the dimensions, `None` on overflow. `()` has one element.
fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// A shape the way NumPy prints it (Python's repr of a tuple of ints):
/// `()`, `(3,)`, `(3, 3, 1, 32)`.
pub fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Parses the bytes of a `.npy` file.
///
/// The error text says where (byte range / header field) and how to fix it,
/// but not the file name: callers know it and wrap the message.
pub fn parse_npy(bytes: &[u8]) -> Result<NdArray, String> {
    parse_npy_detailed(bytes).map_err(|e| e.to_string())
}

/// [`parse_npy`] with a structured error, for callers that attach a path.
pub(crate) fn parse_npy_detailed(bytes: &[u8]) -> Result<NdArray, ParseError> {
    check_magic(bytes)?;
    let truncated_preamble = |need: usize| {
        ParseError::new(
            format!("bytes 6..{need} (version and header length)"),
            format!(
                "the data ends after {} bytes, inside the {need}-byte preamble",
                bytes.len()
            ),
        )
        .with_help("the file was cut off; re-save or re-copy it")
    };
    let (major, minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return Err(truncated_preamble(10)),
    };
    let (len_field, header_start) = match (major, minor) {
        (1, 0) => (8..10, 10usize),
        (2, 0) | (3, 0) => (8..12, 12usize),
        _ => {
            return Err(ParseError::new(
                "bytes 6..8 (format version)",
                format!(
                    "unsupported .npy format version {major}.{minor}; supported: 1.0, 2.0, 3.0"
                ),
            )
            .with_help("re-save the array with np.save from a current NumPy"))
        }
    };
    let header_len = match bytes.get(len_field) {
        Some(&[a, b]) => usize::from(u16::from_le_bytes([a, b])),
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => return Err(truncated_preamble(header_start)),
    };
    let header_end = header_start.saturating_add(header_len);
    let Some(raw_header) = bytes.get(header_start..header_end) else {
        return Err(ParseError::new(
            format!("bytes {header_start}..{header_end} (header)"),
            format!(
                "the header is {header_len} bytes long but the data ends at byte {}",
                bytes.len()
            ),
        )
        .with_help("the file was cut off; re-save or re-copy it"));
    };
    // Versions 1 and 2 store the header as latin-1, version 3 as UTF-8.
    let header_text: String = if major == 3 {
        match std::str::from_utf8(raw_header) {
            Ok(s) => s.to_string(),
            Err(e) => {
                return Err(ParseError::new(
                    format!("bytes {header_start}..{header_end} (header)"),
                    format!("a version 3.0 header must be UTF-8: {e}"),
                ))
            }
        }
    } else {
        raw_header.iter().map(|&b| char::from(b)).collect()
    };
    let header = parse_header(&header_text, header_start)?;
    decode_body(&header, &bytes[header_end..], header_end)
}

fn check_magic(bytes: &[u8]) -> Result<(), ParseError> {
    let place = "bytes 0..6 (magic)";
    if bytes.starts_with(MAGIC) {
        return Ok(());
    }
    if bytes.is_empty() {
        return Err(ParseError::new(place, "the data is empty (0 bytes)")
            .with_help("the file was not written completely; re-save it with np.save"));
    }
    if MAGIC.starts_with(bytes) {
        return Err(ParseError::new(
            place,
            format!(
                "the data ends after {} bytes, inside the magic",
                bytes.len()
            ),
        )
        .with_help("the file was cut off; re-save or re-copy it"));
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Err(ParseError::new(
            place,
            "this is a zip archive (.npz), not a single .npy array",
        )
        .with_help("load it as .npz (read_npz) instead"));
    }
    let shown: String = bytes
        .iter()
        .take(6)
        .map(|&b| std::ascii::escape_default(b).to_string())
        .collect();
    Err(ParseError::new(
        place,
        format!("not a NumPy .npy file: expected the magic \\x93NUMPY, found {shown}"),
    )
    .with_help("save the array with np.save(path, array)"))
}

fn decode_body(h: &Header, body: &[u8], offset: usize) -> Result<NdArray, ParseError> {
    let place = format!("bytes {offset}.. (array data)");
    let shape = shape_repr(&h.shape);
    let too_big = || {
        ParseError::new(
            "header field 'shape'",
            format!("shape {shape} has more elements than this machine can address"),
        )
        .with_help("the header is corrupt; re-save the array with np.save")
    };
    let count = element_count(&h.shape).ok_or_else(too_big)?;
    let need = count.checked_mul(h.dtype.itemsize()).ok_or_else(too_big)?;
    if body.len() < need {
        return Err(ParseError::new(
            place,
            format!(
                "truncated data: shape {shape} of {} needs {need} bytes after the header, \
                 but only {} bytes are present",
                h.dtype.name(),
                body.len()
            ),
        )
        .with_help("the file was cut off (e.g. an interrupted save or copy); re-save it"));
    }
    if body.len() > need {
        return Err(ParseError::new(
            place,
            format!(
                "{} unexpected bytes after the array data: shape {shape} of {} needs \
                 {need} bytes, but {} bytes follow the header",
                body.len() - need,
                h.dtype.name(),
                body.len()
            ),
        )
        .with_help("the header and the data disagree; re-save the array with np.save"));
    }
    let be = h.big_endian;
    let (shape, order) = (&h.shape, h.fortran_order);
    let array = match h.dtype {
        Dtype::F32 => shaped(
            shape,
            order,
            decode_words(body, be, f32::from_le_bytes, f32::from_be_bytes),
        ),
        Dtype::F64 => shaped(
            shape,
            order,
            decode_words(body, be, f64::from_le_bytes, f64::from_be_bytes),
        ),
        Dtype::I64 => shaped(
            shape,
            order,
            decode_words(body, be, i64::from_le_bytes, i64::from_be_bytes),
        ),
        Dtype::I32 => shaped(
            shape,
            order,
            decode_words(body, be, i32::from_le_bytes, i32::from_be_bytes),
        ),
        Dtype::U8 => shaped(shape, order, body.to_vec()),
        Dtype::Bool => shaped(shape, order, body.iter().map(|&b| b != 0).collect()),
    };
    array.map_err(|e| ParseError::new(place, e))
}

/// The elements in the order the header gives, as a C-order (standard
/// layout) array: every consumer reads `.npy` data in C order, so a
/// Fortran-order file is reordered once here.
fn shaped<T: Clone>(shape: &[usize], fortran: bool, data: Vec<T>) -> Result<NdArray, String>
where
    ArrayD<T>: Into<NdArray>,
{
    let dims = IxDyn(shape);
    let array = if fortran {
        ArrayD::from_shape_vec(dims.f(), data).map(|a| a.as_standard_layout().into_owned())
    } else {
        ArrayD::from_shape_vec(dims, data)
    };
    array
        .map(Into::into)
        .map_err(|e| format!("shape {} does not fit the data: {e}", shape_repr(shape)))
}

/// Decodes fixed-size words; `body.len()` is a multiple of `N` here.
fn decode_words<T, const N: usize>(
    body: &[u8],
    big_endian: bool,
    le: fn([u8; N]) -> T,
    be: fn([u8; N]) -> T,
) -> Vec<T> {
    let conv = if big_endian { be } else { le };
    body.chunks_exact(N)
        .map(|c| {
            let mut w = [0u8; N];
            w.copy_from_slice(c);
            conv(w)
        })
        .collect()
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NdArray, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, "could not read", &e))?;
    parse_npy_detailed(&bytes).map_err(|e| IoError::parse(path, e))
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// The `.npy` header (magic, version, dict, padding) of an array of
/// `dtype` and `shape`: what precedes its C-order little-endian values.
pub(super) fn npy_header(dtype: Dtype, shape: &[usize]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        dtype.descr(),
        shape_repr(shape)
    );
    // NumPy pads with spaces and a final newline so that the data starts on
    // a 64-byte boundary (lets readers memory-map aligned arrays).
    let padded_len = |preamble: usize| {
        let unpadded = preamble + dict.len() + 1;
        let total = unpadded.div_ceil(64) * 64;
        total - preamble
    };
    let (version, preamble) = if padded_len(10) <= usize::from(u16::MAX) {
        (1u8, 10usize)
    } else {
        (2u8, 12usize)
    };
    let header_len = padded_len(preamble);
    let mut out = Vec::with_capacity(preamble + header_len);
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.push(0);
    if version == 1 {
        // Fits: checked against u16::MAX above.
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(preamble + header_len - 1, b' ');
    out.push(b'\n');
    out
}

/// Encodes an array as a `.npy` file (version 1.0, or 2.0 if the header
/// would exceed 65535 bytes), C order, little-endian, whatever the array's
/// memory layout.
pub fn encode_npy(a: &NdArray) -> Vec<u8> {
    let dtype = a.dtype();
    let mut out = npy_header(dtype, a.shape());
    out.reserve(a.len() * dtype.itemsize());
    match a {
        NdArray::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NdArray::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NdArray::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NdArray::I32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NdArray::U8(v) => out.extend(v.iter().copied()),
        NdArray::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
    }
    out
}

/// Writes a `.npy` file atomically (see [`write_atomic`]).
pub fn write_npy(path: &Path, a: &NdArray) -> Result<(), IoError> {
    let bytes = encode_npy(a);
    write_atomic(path, |w| w.write_all(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::scratch_dir;
    use ndarray::Array1;

    /// A 1-d array of `v`.
    fn v1<T>(v: Vec<T>) -> ArrayD<T> {
        Array1::from(v).into_dyn()
    }

    /// The same elements in C order, as a 1-d array.
    fn flat(a: &NdArray) -> NdArray {
        each_dtype!(a, x => NdArray::from(v1(x.iter().cloned().collect())))
    }

    /// Builds a `.npy` file by hand, the way another writer might.
    fn raw_npy(version: u8, header: &str, body: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.push(version);
        v.push(0);
        if version == 1 {
            v.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            v.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(body);
        v
    }

    fn samples() -> Vec<NdArray> {
        vec![
            NdArray::from_f32(
                vec![2, 3],
                vec![1.0, -2.5, 3.25, f32::MAX, f32::MIN_POSITIVE, 0.0],
            ),
            NdArray::from_f64(vec![3], vec![0.1, -1e300, f64::INFINITY]),
            NdArray::from_shape_vec::<i64>(vec![2, 2], vec![i64::MIN, -1, 0, i64::MAX]).unwrap(),
            NdArray::from_shape_vec::<i32>(vec![1, 3], vec![i32::MIN, 7, i32::MAX]).unwrap(),
            NdArray::from_shape_vec::<u8>(vec![4], vec![0, 1, 128, 255]).unwrap(),
            NdArray::from_shape_vec::<bool>(vec![2, 1], vec![true, false]).unwrap(),
            NdArray::from_f64(vec![], vec![42.0]),
            NdArray::from_f32(vec![0, 5], vec![]),
            NdArray::from_shape_vec::<i64>(vec![3, 0, 2], vec![]).unwrap(),
        ]
    }

    #[test]
    fn roundtrip_every_dtype_and_shape() {
        for a in samples() {
            let bytes = encode_npy(&a);
            assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
            let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!((10 + hl) % 64, 0, "data must be 64-byte aligned");
            assert_eq!(bytes[10 + hl - 1], b'\n');
            let b = parse_npy(&bytes).unwrap();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn header_text_matches_numpy() {
        let a = NdArray::from_f32(vec![3, 3, 1, 32], vec![0.0; 288]);
        let bytes = encode_npy(&a);
        let text = String::from_utf8_lossy(&bytes[10..128]);
        assert!(
            text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 1, 32), }")
        );
        assert_eq!(a.shape_string(), "(3, 3, 1, 32)");
        assert_eq!(
            NdArray::from_f64(vec![5], vec![0.0; 5]).shape_string(),
            "(5,)"
        );
        assert_eq!(NdArray::from_f64(vec![], vec![1.0]).shape_string(), "()");
    }

    #[test]
    fn accessors() {
        let a = NdArray::from_shape_vec::<bool>(vec![3], vec![true, false, true]).unwrap();
        assert_eq!(a.len(), 3);
        assert!(!a.is_empty());
        assert_eq!(a.dtype_name(), "bool");
        assert_eq!(a.to_f64_vec(), vec![1.0, 0.0, 1.0]);
        assert_eq!(a.to_f32_vec(), vec![1.0, 0.0, 1.0]);
        let b = NdArray::from_shape_vec::<i32>(vec![2], vec![-3, 4]).unwrap();
        assert_eq!(b.to_f64_vec(), vec![-3.0, 4.0]);
        assert_eq!(b.dtype_name(), "int32");
        let e = NdArray::from_f32(vec![2, 0], vec![]);
        assert!(e.is_empty());
        assert!(NdArray::from_shape_vec::<u8>(vec![2, 2], vec![1]).is_err());
    }

    #[test]
    fn big_endian_is_converted() {
        let mut body = Vec::new();
        for x in [1.5f32, -2.0] {
            body.extend_from_slice(&x.to_be_bytes());
        }
        let a = parse_npy(&raw_npy(
            1,
            "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}\n",
            &body,
        ))
        .unwrap();
        assert_eq!(flat(&a), NdArray::F32(v1(vec![1.5, -2.0])));

        let body: Vec<u8> = [-5i64, 9].iter().flat_map(|x| x.to_be_bytes()).collect();
        let a = parse_npy(&raw_npy(
            1,
            "{'descr': '>i8', 'fortran_order': False, 'shape': (2,)}",
            &body,
        ))
        .unwrap();
        assert_eq!(flat(&a), NdArray::I64(v1(vec![-5, 9])));

        let body: Vec<u8> = [-5i32, 9].iter().flat_map(|x| x.to_be_bytes()).collect();
        let a = parse_npy(&raw_npy(
            1,
            "{'descr': '>i4', 'fortran_order': False, 'shape': (2,)}",
            &body,
        ))
        .unwrap();
        assert_eq!(flat(&a), NdArray::I32(v1(vec![-5, 9])));

        let body: Vec<u8> = [0.25f64].iter().flat_map(|x| x.to_be_bytes()).collect();
        let a = parse_npy(&raw_npy(
            1,
            "{'descr': '>f8', 'fortran_order': False, 'shape': ()}",
            &body,
        ))
        .unwrap();
        assert_eq!(flat(&a), NdArray::F64(v1(vec![0.25])));
        assert!(a.shape().is_empty());
    }

    #[test]
    fn fortran_order_is_converted_to_c_order() {
        // np.asfortranarray(np.arange(6).reshape(2, 3)) stores 0 3 1 4 2 5.
        let body: Vec<u8> = [0i32, 3, 1, 4, 2, 5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let a = parse_npy(&raw_npy(
            1,
            "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
            &body,
        ))
        .unwrap();
        assert_eq!(a.shape(), vec![2, 3]);
        assert_eq!(flat(&a), NdArray::I32(v1(vec![0, 1, 2, 3, 4, 5])));

        // 3-d: arange(24).reshape(2,3,4) in Fortran order, built from the
        // definition: element (i,j,k) sits at i + 2*j + 6*k.
        let shape = [2usize, 3, 4];
        let mut fort = vec![0u8; 24];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    fort[i + 2 * j + 6 * k] = (i * 12 + j * 4 + k) as u8;
                }
            }
        }
        let a = parse_npy(&raw_npy(
            1,
            "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3, 4), }",
            &fort,
        ))
        .unwrap();
        assert_eq!(a.shape(), shape.to_vec());
        assert_eq!(flat(&a), NdArray::U8(v1((0..24).collect())));

        // 1-d and empty Fortran arrays are unchanged.
        let a = parse_npy(&raw_npy(
            1,
            "{'descr': '|u1', 'fortran_order': True, 'shape': (3,), }",
            &[1, 2, 3],
        ))
        .unwrap();
        assert_eq!(flat(&a), NdArray::U8(v1(vec![1, 2, 3])));
        let a = parse_npy(&raw_npy(
            1,
            "{'descr': '|u1', 'fortran_order': True, 'shape': (3, 0), }",
            &[],
        ))
        .unwrap();
        assert!(a.is_empty());
    }

    #[test]
    fn header_dict_is_parsed_robustly() {
        let body = [1u8, 0, 1];
        for header in [
            "{'shape': (3,), 'fortran_order': False, 'descr': '|b1'}",
            "{ \"descr\" : \"|b1\" , 'fortran_order':False,'shape':(3 , ) , }   \n",
            "{'descr': '|b1', 'fortran_order': False, 'shape': (3L,), }",
            "{'descr': '|b1', 'fortran_order': False, 'shape': [3], 'extra': None}",
            "{'descr': '<f8', 'descr': '|b1', 'fortran_order': False, 'shape': (3,)}",
        ] {
            let a =
                parse_npy(&raw_npy(1, header, &body)).unwrap_or_else(|e| panic!("{header}: {e}"));
            assert_eq!(
                flat(&a),
                NdArray::Bool(v1(vec![true, false, true])),
                "{header}"
            );
        }
    }

    #[test]
    fn versions_2_and_3_are_read() {
        let body = 7i64.to_le_bytes();
        let h = "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }\n";
        for v in [2, 3] {
            let a = parse_npy(&raw_npy(v, h, &body)).unwrap();
            assert_eq!(flat(&a), NdArray::I64(v1(vec![7])));
        }
        let err = parse_npy(&raw_npy(4, h, &body)).unwrap_err();
        assert!(err.contains("version 4.0"), "{err}");
    }

    #[test]
    fn huge_header_switches_to_version_2() {
        // A shape tuple of 22000 ones gives a header over 65535 bytes.
        let shape = vec![1usize; 22000];
        let a = NdArray::from_f32(shape, vec![3.0]);
        let bytes = encode_npy(&a);
        assert_eq!(bytes[6], 2);
        let hl = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        assert!(hl > 65535);
        assert_eq!((12 + hl) % 64, 0);
        assert_eq!(parse_npy(&bytes).unwrap(), a);
    }

    #[test]
    fn errors_name_the_problem() {
        let ok = encode_npy(&NdArray::from_f32(vec![2], vec![1.0, 2.0]));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "empty"),
            (b"hello world, not npy".to_vec(), "magic"),
            (b"PK\x03\x04rest".to_vec(), "zip archive"),
            (raw_npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1,)}", &[0, 0]), "float16"),
            (raw_npy(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", &[0; 8]), "object arrays"),
            (raw_npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", &[0; 4]), "structured"),
            (raw_npy(1, "{'descr': 'f4', 'fortran_order': False, 'shape': (1,)}", &[0; 4]), "byte order"),
            (raw_npy(1, "{'descr': '<f4', 'shape': (1,)}", &[0; 4]), "'fortran_order'"),
            (raw_npy(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", &[0; 4]), "True or False"),
            (raw_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", &[0; 4]), "non-negative"),
            (raw_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': 4}", &[0; 16]), "tuple"),
            (raw_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}", &[0; 4]), "integer"),
            (raw_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", &[0; 4]), "unexpected"),
            (raw_npy(1, "['descr']", &[]), "not a dict"),
            (raw_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", &[0; 6]), "unexpected bytes"),
            (
                raw_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999)}", &[]),
                "more elements",
            ),
            (ok[..ok.len() - 1].to_vec(), "needs 8 bytes after the header, but only 7"),
            // The 144-byte file that makes ndarray-npy 0.10 abort (it
            // allocates the declared 4 TiB first; see docs/architecture.md).
            (
                raw_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", &[0; 16]),
                "needs 4398046511104 bytes after the header, but only 16 bytes",
            ),
        ];
        for (bytes, want) in cases {
            let err = parse_npy(&bytes).expect_err(want);
            assert!(err.contains(want), "want {want:?} in: {err}");
            assert!(err.contains("help:"), "no fix in: {err}");
        }
        let deep = format!("{{'a': {}1{}}}", "(".repeat(100), ")".repeat(100));
        let err = parse_npy(&raw_npy(1, &deep, &[])).unwrap_err();
        assert!(err.contains("nested too deeply"), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for a in samples() {
            let bytes = encode_npy(&a);
            for cut in 0..bytes.len() {
                assert!(
                    parse_npy(&bytes[..cut]).is_err(),
                    "cut at {cut} of {}",
                    bytes.len()
                );
            }
        }
        // Corrupting single bytes of the header must not panic either.
        let bytes = encode_npy(&NdArray::from_f64(vec![2, 2], vec![1.0; 4]));
        for i in 0..bytes.len().min(128) {
            for v in [0u8, b'(', b'\'', b'{', 0xff, b'9'] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = parse_npy(&b);
            }
        }
    }

    #[test]
    fn file_roundtrip_and_errors_name_the_path() {
        let dir = scratch_dir("npy");
        let p = dir.join("w.npy");
        let a = NdArray::from_f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        write_npy(&p, &a).unwrap();
        assert_eq!(read_npy(&p).unwrap(), a);

        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let err = read_npy(&p).unwrap_err();
        let s = err.to_string();
        assert!(s.starts_with(&p.display().to_string()), "{s}");
        assert!(s.contains("array data") && s.contains("\nhelp: "), "{s}");

        let err = read_npy(&dir.join("missing.npy")).unwrap_err();
        assert!(err.to_string().contains("missing.npy"), "{err}");

        // A view in another memory layout (a transpose) is written in its
        // logical C order, as np.save writes a.T.
        let t = NdArray::F32(
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0])
                .unwrap()
                .reversed_axes(),
        );
        write_npy(&p, &t).unwrap();
        let back = read_npy(&p).unwrap();
        assert_eq!(back.shape(), &[3, 2]);
        assert_eq!(back.to_f32_vec(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(back, t);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
