//! A small, read-only, pure-Rust HDF5 reader for exactly the subset Keras
//! writes (see [`format`] for the list, and `docs/import.md` for why this
//! beats binding the HDF5 C library here).
//!
//! The whole file is read into memory (Keras weight files are megabytes,
//! not gigabytes) and every structure is parsed with bounds-checked reads:
//! a corrupt, truncated or unsupported file gives an [`IoError`] naming the
//! file, the object path, the byte offset and what is wrong, never a panic.

mod cursor;
mod format;

use std::path::{Path, PathBuf};

use snnc_io::{IoError, ParseError};

use cursor::{bad, within, Cursor};
use format::{msg, Dtype, Layout, Msg, Raw};

pub use format::SIGNATURE;

const DEFAULT_HELP: &str =
    "the file is corrupt or truncated, or was not written by Keras/h5py; re-save the model with Keras' `model.save(...)`";

/// An open HDF5 file.
pub struct H5File {
    path: PathBuf,
    raw: Raw,
}

/// A group or dataset of an [`H5File`].
pub struct Object<'f> {
    file: &'f H5File,
    /// Absolute path inside the file, e.g. `/model_weights/conv2d`.
    pub path: String,
    /// File address of the object header: equal for the same object.
    pub addr: u64,
    msgs: Vec<Msg>,
}

/// The values of a dataset or attribute, in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// Empty for a scalar.
    pub shape: Vec<usize>,
    pub data: Data,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Any IEEE float, widened exactly to f64; `bits` is the stored width.
    Float {
        values: Vec<f64>,
        bits: usize,
    },
    /// Any integer, widened to i64.
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Value {
    pub fn len(&self) -> usize {
        match &self.data {
            Data::Float { values, .. } => values.len(),
            Data::Int(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A list of strings. An empty numeric array also counts: h5py stores
    /// an empty list of names (Keras' `weight_names` of a weightless layer)
    /// as a zero-length float64 array.
    pub fn strings(&self) -> Option<Vec<String>> {
        match &self.data {
            Data::Str(v) => Some(v.clone()),
            _ if self.is_empty() => Some(Vec::new()),
            _ => None,
        }
    }

    /// A single string (a scalar or a one-element array).
    pub fn string(&self) -> Option<&str> {
        match &self.data {
            Data::Str(v) if v.len() == 1 => Some(&v[0]),
            _ => None,
        }
    }

    /// The values as f64, if numeric.
    pub fn floats(&self) -> Option<Vec<f64>> {
        match &self.data {
            Data::Float { values, .. } => Some(values.clone()),
            Data::Int(v) => Some(v.iter().map(|&x| x as f64).collect()),
            Data::Str(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        let kind = match &self.data {
            Data::Float { bits, .. } => format!("float{bits}"),
            Data::Int(_) => "int".into(),
            Data::Str(_) => "string".into(),
        };
        format!("{kind} {}", shape_string(&self.shape))
    }
}

pub fn shape_string(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl H5File {
    /// Reads and opens an HDF5 file.
    pub fn open(path: &Path) -> Result<H5File, IoError> {
        let data = std::fs::read(path).map_err(|e| IoError::os(path, "could not read", &e))?;
        H5File::from_bytes(path, data)
    }

    /// Opens an HDF5 file already in memory; `path` names it in errors (for
    /// a zip member, e.g. `model.keras: model.weights.h5`).
    pub fn from_bytes(path: impl Into<PathBuf>, data: Vec<u8>) -> Result<H5File, IoError> {
        let path = path.into();
        match Raw::new(data) {
            Ok(raw) => {
                let file = H5File { path, raw };
                // Fail early on a broken root group.
                file.root()?;
                Ok(file)
            }
            Err(e) => Err(file_error(&path, within(e, "superblock"))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Superblock version (0 for Keras' files).
    pub fn superblock_version(&self) -> u8 {
        self.raw.version
    }

    pub fn root(&self) -> Result<Object<'_>, IoError> {
        self.object(self.raw.root, "/".into())
    }

    /// The object at an absolute path (`/model_weights/conv2d`), or `None`
    /// when some component does not exist.
    pub fn get(&self, path: &str) -> Result<Option<Object<'_>>, IoError> {
        self.root()?.get(path)
    }

    fn object(&self, addr: u64, path: String) -> Result<Object<'_>, IoError> {
        let msgs = self
            .raw
            .object_header(addr)
            .map_err(|e| file_error(&self.path, within(e, &format!("object `{path}`"))))?;
        Ok(Object {
            file: self,
            path,
            addr,
            msgs,
        })
    }
}

fn file_error(path: &Path, e: ParseError) -> IoError {
    let e = if e.help.is_none() {
        e.with_help(DEFAULT_HELP)
    } else {
        e
    };
    IoError::parse(path, e)
}

impl<'f> Object<'f> {
    fn err(&self, e: ParseError) -> IoError {
        file_error(
            &self.file.path,
            within(e, &format!("object `{}`", self.path)),
        )
    }

    fn child_path(&self, name: &str) -> String {
        if self.path == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.path)
        }
    }

    /// The file this object is in (as named in errors).
    pub fn file_path(&self) -> &Path {
        &self.file.path
    }

    pub fn is_dataset(&self) -> bool {
        self.msgs.iter().any(|m| m.kind == msg::LAYOUT)
    }

    pub fn is_group(&self) -> bool {
        self.msgs
            .iter()
            .any(|m| matches!(m.kind, msg::SYMBOL_TABLE | msg::LINK | msg::LINK_INFO))
    }

    /// Member names and object header addresses (empty for a dataset).
    fn links(&self) -> Result<Vec<(String, u64)>, IoError> {
        Ok(self
            .file
            .raw
            .links(&self.msgs)
            .map_err(|e| self.err(e))?
            .unwrap_or_default())
    }

    /// Member names, in storage order (name order for Keras' files).
    pub fn members(&self) -> Result<Vec<String>, IoError> {
        Ok(self.links()?.into_iter().map(|(n, _)| n).collect())
    }

    pub fn child(&self, name: &str) -> Result<Option<Object<'f>>, IoError> {
        match self.links()?.into_iter().find(|(n, _)| n == name) {
            Some((n, addr)) => self.file.object(addr, self.child_path(&n)).map(Some),
            None => Ok(None),
        }
    }

    /// The object at a path relative to this one (`a/b/c`; a leading `/`
    /// is ignored), or `None` if a component is missing.
    pub fn get(&self, path: &str) -> Result<Option<Object<'f>>, IoError> {
        let mut cur = Object {
            file: self.file,
            path: self.path.clone(),
            addr: self.addr,
            msgs: self.msgs.clone(),
        };
        for part in path.split('/').filter(|p| !p.is_empty()) {
            match cur.child(part)? {
                Some(next) => cur = next,
                None => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    fn attr_msgs(&self) -> Result<Vec<format::AttrMsg>, IoError> {
        self.msgs
            .iter()
            .filter(|m| m.kind == msg::ATTRIBUTE)
            .map(|m| format::attribute(&self.file.raw, m).map_err(|e| self.err(e)))
            .collect()
    }

    fn has_dense_attributes(&self) -> Result<bool, IoError> {
        for m in self.msgs.iter().filter(|m| m.kind == msg::ATTRIBUTE_INFO) {
            let raw = &self.file.raw;
            let mut c = raw
                .msg(m, "attribute info message")
                .map_err(|e| self.err(e))?;
            let dense = (|| -> cursor::Result<bool> {
                c.skip(1)?;
                let flags = c.u8()?;
                if flags & 1 != 0 {
                    c.skip(2)?;
                }
                Ok(c.addr(raw.so)?.is_some())
            })()
            .map_err(|e| self.err(e))?;
            if dense {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn attr_names(&self) -> Result<Vec<String>, IoError> {
        Ok(self.attr_msgs()?.into_iter().map(|a| a.name).collect())
    }

    /// An attribute's value, or `None` if there is no such attribute.
    pub fn attr(&self, name: &str) -> Result<Option<Value>, IoError> {
        let Some(a) = self.attr_msgs()?.into_iter().find(|a| a.name == name) else {
            if self.has_dense_attributes()? {
                return Err(self.err(bad(
                    0,
                    format!("attribute `{name}` may be in dense attribute storage (a fractal heap), which this reader does not support"),
                )));
            }
            return Ok(None);
        };
        let ctx = format!("attribute `{name}`");
        let raw = &self.file.raw;
        let bytes = raw
            .at(a.data_at, a.data_len as u64, "attribute data")
            .and_then(|mut c| c.take(a.data_len))
            .map_err(|e| self.err(within(e, &ctx)))?;
        let shape = self
            .shape(a.dims.as_deref(), a.data_at)
            .map_err(|e| self.err(within(e, &ctx)))?;
        let data =
            decode(raw, a.dtype, a.elem_size, bytes).map_err(|e| self.err(within(e, &ctx)))?;
        Ok(Some(Value { shape, data }))
    }

    fn shape(&self, dims: Option<&[u64]>, at: u64) -> cursor::Result<Vec<usize>> {
        match dims {
            None => Ok(vec![0]),
            Some(d) => d
                .iter()
                .map(|&x| {
                    usize::try_from(x).map_err(|_| bad(at, format!("dimension {x} is too large")))
                })
                .collect(),
        }
    }

    /// Reads a dataset's values.
    pub fn read(&self) -> Result<Value, IoError> {
        self.read_inner().map_err(|e| self.err(e))
    }

    fn read_inner(&self) -> cursor::Result<Value> {
        let raw = &self.file.raw;
        let find = |kind: u16, what: &str| -> cursor::Result<&Msg> {
            let m = self
                .msgs
                .iter()
                .find(|m| m.kind == kind)
                .ok_or_else(|| bad(0, format!("not a dataset: it has no {what} message")))?;
            if m.shared() {
                return Err(bad(
                    m.at,
                    format!("a shared (committed) {what}, which this reader does not support"),
                ));
            }
            Ok(m)
        };
        for m in &self.msgs {
            match m.kind {
                msg::FILTERS => {
                    return Err(bad(m.at, "this dataset is filtered (compressed), which this reader does not support")
                        .with_help("Keras writes uncompressed datasets; re-save the model with Keras' model.save(...)"))
                }
                msg::EXTERNAL => return Err(bad(m.at, "this dataset is stored in an external file, which this reader does not support")),
                _ => {}
            }
        }
        let ds = find(msg::DATASPACE, "dataspace")?;
        let dims = format::dataspace(&mut raw.msg(ds, "dataspace message")?, raw.sl)?;
        let dt = find(msg::DATATYPE, "datatype")?;
        let (dtype, elem) = format::datatype(&mut raw.msg(dt, "datatype message")?, raw.so)?;
        let lm = find(msg::LAYOUT, "data layout")?;
        let layout = format::layout(&mut raw.msg(lm, "data layout message")?, raw.so, raw.sl)?;
        let n = format::element_count(dims.as_deref(), ds.at)?;
        let need = n
            .checked_mul(elem as u64)
            .ok_or_else(|| bad(ds.at, "the dataset is larger than can be addressed"))?;
        let shape = self.shape(dims.as_deref(), ds.at)?;
        let zeros;
        let bytes: &[u8] = match layout {
            Layout::Contiguous { addr: None, .. } => {
                // Never written: every element is the fill value (zero).
                if need > raw.data.len() as u64 {
                    return Err(bad(
                        lm.at,
                        format!("an unwritten dataset of {need} bytes, larger than the whole file"),
                    ));
                }
                zeros = vec![0u8; need as usize];
                &zeros
            }
            Layout::Contiguous {
                addr: Some(a),
                size,
            }
            | Layout::Compact { at: a, size } => {
                let a = if matches!(layout, Layout::Compact { .. }) {
                    a - raw.base
                } else {
                    a
                };
                if size < need {
                    return Err(bad(lm.at, format!("the data layout holds {size} bytes but {n} elements of {elem} bytes need {need}")));
                }
                let mut c = raw.at(a, need, "dataset data")?;
                c.take(need as usize)?
            }
        };
        let data = decode(raw, dtype, elem, bytes)?;
        Ok(Value { shape, data })
    }
}

/// Decodes raw element bytes of one datatype.
fn decode(raw: &Raw, dtype: Dtype, elem: usize, bytes: &[u8]) -> cursor::Result<Data> {
    let chunks = bytes.chunks_exact(elem);
    let uint = |b: &[u8], be: bool| -> u64 {
        let f = |acc: u64, &x: &u8| (acc << 8) | u64::from(x);
        if be {
            b.iter().fold(0, f)
        } else {
            b.iter().rev().fold(0, f)
        }
    };
    Ok(match dtype {
        Dtype::Int {
            size,
            signed,
            big_endian,
        } => {
            let mut out = Vec::with_capacity(chunks.len());
            for b in chunks {
                let u = uint(b, big_endian);
                let v = if signed {
                    let shift = 64 - 8 * size as u32;
                    ((u << shift) as i64) >> shift
                } else {
                    i64::try_from(u).map_err(|_| {
                        bad(
                            0,
                            format!(
                                "the unsigned value {u} does not fit in a signed 64-bit integer"
                            ),
                        )
                    })?
                };
                out.push(v);
            }
            Data::Int(out)
        }
        Dtype::Float { size, big_endian } => {
            let values = chunks
                .map(|b| {
                    let u = uint(b, big_endian);
                    match size {
                        2 => f16_to_f64(u as u16),
                        4 => f64::from(f32::from_bits(u as u32)),
                        _ => f64::from_bits(u),
                    }
                })
                .collect();
            Data::Float {
                values,
                bits: size * 8,
            }
        }
        Dtype::FixedString { space_padded, .. } => {
            let mut out = Vec::with_capacity(chunks.len());
            for b in chunks {
                let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
                let mut s = &b[..end];
                if space_padded {
                    while let [rest @ .., b' '] = s {
                        s = rest;
                    }
                }
                out.push(format::utf8(s, 0, "string")?);
            }
            Data::Str(out)
        }
        Dtype::VlenString => {
            let mut out = Vec::with_capacity(chunks.len());
            // Each string is its own heap object, so real attributes never
            // hold more string bytes than the file; a corrupt one pointing
            // many elements at one huge object must not exhaust memory.
            let mut budget = raw.data.len();
            for b in chunks {
                let mut c = Cursor::new(b, 0, "variable-length string element");
                let len = c.u32()? as usize;
                let addr = c.addr(raw.so)?;
                let index = c.u32()?;
                if len == 0 {
                    out.push(String::new());
                    continue;
                }
                let addr = addr.ok_or_else(|| {
                    bad(
                        0,
                        "a variable-length string points to an undefined global heap address",
                    )
                })?;
                let obj = raw.global_object(addr, index)?;
                if len > obj.len() {
                    return Err(bad(
                        addr,
                        format!(
                            "a string of {len} bytes is longer than its {}-byte global heap object",
                            obj.len()
                        ),
                    ));
                }
                budget = budget.checked_sub(len).ok_or_else(|| {
                    bad(
                        addr,
                        "the strings of this attribute add up to more bytes than the whole file",
                    )
                })?;
                out.push(format::utf8(&obj[..len], addr, "string")?);
            }
            Data::Str(out)
        }
    })
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let man = f64::from(h & 0x3ff);
    sign * match exp {
        0 => man * 2f64.powi(-24),
        31 if man == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + man / 1024.0) * 2f64.powi(e - 15),
    }
}

#[cfg(test)]
pub(crate) mod tests;
