//! The HDF5 files Keras writes, read with the `hdf5-reader` crate (pure
//! Rust, no libhdf5; `docs/import.md` compares it with the others).
//!
//! This module is the seam between that crate and the importer: paths are
//! walked one member at a time so that a missing member is `None` rather than
//! an error, every value comes out as one [`Value`] type whatever its HDF5
//! datatype, and every error becomes an [`IoError`] naming the file, the
//! object and the fix (the crate's own messages name neither).

use std::path::{Path, PathBuf};

use hdf5_reader::error::Error as H5Error;
use hdf5_reader::group::Group;
use hdf5_reader::{Attribute, Dataset, Datatype, Hdf5File, OpenOptions};
use snnc_io::{shape_repr, IoError};

/// The bytes every HDF5 superblock starts with (at offset 0, or after a
/// user block of 512, 1024, 2048, ... bytes).
pub const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

const DEFAULT_HELP: &str =
    "the file is corrupt or truncated, or was not written by Keras/h5py; re-save the model with Keras' `model.save(...)`";

/// An open HDF5 file, held in memory.
pub struct H5File {
    path: PathBuf,
    file: Hdf5File,
}

/// A group or dataset of an [`H5File`].
pub struct Object<'f> {
    file: &'f H5File,
    /// Absolute path inside the file, e.g. `/model_weights/conv2d`.
    pub path: String,
    node: Node,
}

enum Node {
    Group(Group),
    Dataset(Box<Dataset>),
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
    /// Any integer, widened to i64 (u64 above `i64::MAX` is refused).
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
        format!("{kind} {}", shape_repr(&self.shape))
    }
}

impl H5File {
    pub fn open(path: &Path) -> Result<H5File, IoError> {
        let data = std::fs::read(path).map_err(|e| IoError::os(path, "could not read", &e))?;
        H5File::from_bytes(path, data)
    }

    /// Parses a file already in memory; `path` names it in messages (for a
    /// zip member: `model.keras: member 'model.weights.h5'`).
    pub fn from_bytes(path: impl Into<PathBuf>, data: Vec<u8>) -> Result<H5File, IoError> {
        let path = path.into();
        // A dataset may not claim more than the memory budget (or, below
        // that, more bytes than the file holds: Keras stores no compressed
        // datasets, and an uncompressed one cannot be larger than its file).
        let (budget, _) = snnc_io::budget::limit();
        let limit = budget.min(data.len() as u64 * 2 + (1 << 20));
        let options = OpenOptions::default()
            .with_max_read_bytes(usize::try_from(limit).unwrap_or(usize::MAX));
        let file = Hdf5File::from_vec_with_options(data, options).map_err(|e| {
            IoError::new(&path, format!("not a readable HDF5 file: {e}")).with_help(DEFAULT_HELP)
        })?;
        Ok(H5File { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn root(&self) -> Result<Object<'_>, IoError> {
        let group = self.file.root_group().map_err(|e| self.error("/", e))?;
        Ok(Object {
            file: self,
            path: "/".into(),
            node: Node::Group(group),
        })
    }

    /// The object at `path` (relative to the root), `None` when a component
    /// is missing.
    pub fn get(&self, path: &str) -> Result<Option<Object<'_>>, IoError> {
        self.root()?.get(path)
    }

    fn error(&self, object: &str, e: H5Error) -> IoError {
        IoError::new(&self.path, e.to_string())
            .at(format!("object `{object}`"))
            .with_help(DEFAULT_HELP)
    }
}

impl<'f> Object<'f> {
    pub fn file_path(&self) -> &Path {
        &self.file.path
    }

    pub fn is_dataset(&self) -> bool {
        matches!(self.node, Node::Dataset(_))
    }

    pub fn is_group(&self) -> bool {
        matches!(self.node, Node::Group(_))
    }

    fn error(&self, e: H5Error) -> IoError {
        self.file.error(&self.path, e)
    }

    /// The names of a group's members (groups, then datasets); none for a
    /// dataset.
    pub fn members(&self) -> Result<Vec<String>, IoError> {
        match &self.node {
            Node::Group(g) => {
                let (mut groups, datasets) = g.member_names().map_err(|e| self.error(e))?;
                groups.extend(datasets);
                Ok(groups)
            }
            Node::Dataset(_) => Ok(Vec::new()),
        }
    }

    /// A direct member by name.
    pub fn child(&self, name: &str) -> Result<Option<Object<'f>>, IoError> {
        let Node::Group(g) = &self.node else {
            return Ok(None);
        };
        let (groups, datasets) = g.member_names().map_err(|e| self.error(e))?;
        let path = match self.path.as_str() {
            "/" => format!("/{name}"),
            parent => format!("{parent}/{name}"),
        };
        let node = if groups.iter().any(|n| n == name) {
            Node::Group(g.group(name).map_err(|e| self.file.error(&path, e))?)
        } else if datasets.iter().any(|n| n == name) {
            Node::Dataset(Box::new(
                g.dataset(name).map_err(|e| self.file.error(&path, e))?,
            ))
        } else {
            return Ok(None);
        };
        Ok(Some(Object {
            file: self.file,
            path,
            node,
        }))
    }

    /// The object at a `/`-separated path below this one.
    pub fn get(&self, path: &str) -> Result<Option<Object<'f>>, IoError> {
        let mut parts = path.split('/').filter(|p| !p.is_empty());
        let Some(first) = parts.next() else {
            return Ok(Some(Object {
                file: self.file,
                path: self.path.clone(),
                node: match &self.node {
                    Node::Group(g) => Node::Group(g.clone()),
                    Node::Dataset(d) => Node::Dataset(d.clone()),
                },
            }));
        };
        let Some(mut obj) = self.child(first)? else {
            return Ok(None);
        };
        for part in parts {
            match obj.child(part)? {
                Some(next) => obj = next,
                None => return Ok(None),
            }
        }
        Ok(Some(obj))
    }

    fn attributes(&self) -> Result<Vec<Attribute>, IoError> {
        match &self.node {
            Node::Group(g) => g.attributes().map_err(|e| self.error(e)),
            Node::Dataset(d) => Ok(d.attributes()),
        }
    }

    pub fn attr_names(&self) -> Result<Vec<String>, IoError> {
        Ok(self.attributes()?.into_iter().map(|a| a.name).collect())
    }

    /// An attribute's value, `None` when there is no such attribute.
    pub fn attr(&self, name: &str) -> Result<Option<Value>, IoError> {
        let Some(a) = self.attributes()?.into_iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        let fail = |e: H5Error| {
            IoError::new(
                &self.file.path,
                format!("cannot read attribute `{name}`: {e}"),
            )
            .at(format!("object `{}`", self.path))
            .with_help(DEFAULT_HELP)
        };
        let shape = a.shape.iter().map(|&d| d as usize).collect();
        let data = match &a.datatype {
            Datatype::String { .. } => Data::Str(a.read_strings().map_err(fail)?),
            Datatype::VarLen { .. } if a.read_strings().is_ok() => {
                Data::Str(a.read_strings().map_err(fail)?)
            }
            Datatype::VarLen { .. } => {
                let Node::Group(g) = &self.node else {
                    return Err(fail(H5Error::Other(
                        "variable-length attributes of datasets are not read".into(),
                    )));
                };
                let bytes = g.file_data().map_err(fail)?;
                Data::Str(a.read_vlen_strings(&bytes, g.offset_size()).map_err(fail)?)
            }
            Datatype::FloatingPoint { size: 4, .. } => Data::Float {
                values: a
                    .read_1d::<f32>()
                    .map_err(fail)?
                    .into_iter()
                    .map(f64::from)
                    .collect(),
                bits: 32,
            },
            Datatype::FloatingPoint { size: 8, .. } => Data::Float {
                values: a.read_1d::<f64>().map_err(fail)?,
                bits: 64,
            },
            Datatype::FixedPoint { .. } => Data::Int(a.read_1d::<i64>().map_err(fail)?),
            other => {
                return Err(IoError::new(
                    &self.file.path,
                    format!("attribute `{name}` has a datatype Keras does not write ({other:?})"),
                )
                .at(format!("object `{}`", self.path))
                .with_help(DEFAULT_HELP))
            }
        };
        Ok(Some(Value { shape, data }))
    }

    /// A dataset's values.
    pub fn read(&self) -> Result<Value, IoError> {
        let Node::Dataset(d) = &self.node else {
            return Err(
                IoError::new(&self.file.path, "expected a dataset, found a group")
                    .at(format!("object `{}`", self.path)),
            );
        };
        let shape = d.shape().iter().map(|&x| x as usize).collect();
        let e = |e| self.error(e);
        let data = match d.dtype() {
            Datatype::FloatingPoint {
                size: 2,
                byte_order,
            } => {
                let little = matches!(byte_order, hdf5_reader::ByteOrder::LittleEndian);
                let raw = d.read_raw_bytes().map_err(e)?;
                let values = raw
                    .chunks_exact(2)
                    .map(|b| {
                        let bits = if little {
                            u16::from_le_bytes([b[0], b[1]])
                        } else {
                            u16::from_be_bytes([b[0], b[1]])
                        };
                        half_to_f64(bits)
                    })
                    .collect();
                Data::Float { values, bits: 16 }
            }
            Datatype::FloatingPoint { size: 4, .. } => Data::Float {
                values: d
                    .read_array::<f32>()
                    .map_err(e)?
                    .iter()
                    .map(|&x| f64::from(x))
                    .collect(),
                bits: 32,
            },
            Datatype::FloatingPoint { size: 8, .. } => Data::Float {
                values: d.read_array::<f64>().map_err(e)?.iter().copied().collect(),
                bits: 64,
            },
            Datatype::FixedPoint { size, signed, .. } => {
                Data::Int(read_ints(d, *size, *signed).map_err(e)?)
            }
            Datatype::String { .. } | Datatype::VarLen { .. } => {
                Data::Str(d.read_strings().map_err(e)?)
            }
            other => {
                return Err(IoError::new(
                    &self.file.path,
                    format!("the dataset has a datatype Keras does not write ({other:?})"),
                )
                .at(format!("object `{}`", self.path))
                .with_help(DEFAULT_HELP))
            }
        };
        Ok(Value { shape, data })
    }
}

/// An integer dataset of any width, widened to i64.
fn read_ints(d: &Dataset, size: u8, signed: bool) -> Result<Vec<i64>, H5Error> {
    fn wide<T: hdf5_reader::H5Type + Copy + Into<i64>>(d: &Dataset) -> Result<Vec<i64>, H5Error> {
        Ok(d.read_array::<T>()?.iter().map(|&x| x.into()).collect())
    }
    match (size, signed) {
        (1, true) => wide::<i8>(d),
        (1, false) => wide::<u8>(d),
        (2, true) => wide::<i16>(d),
        (2, false) => wide::<u16>(d),
        (4, true) => wide::<i32>(d),
        (4, false) => wide::<u32>(d),
        (8, true) => wide::<i64>(d),
        (8, false) => d
            .read_array::<u64>()?
            .iter()
            .map(|&x| {
                i64::try_from(x)
                    .map_err(|_| H5Error::Other(format!("the value {x} does not fit in int64")))
            })
            .collect(),
        _ => Err(H5Error::Other(format!("a {size}-byte integer type"))),
    }
}

/// IEEE binary16 to f64 (exact: every half is an f64).
fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
pub mod tests;
