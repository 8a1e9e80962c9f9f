//! Data and params file I/O: NumPy `.npy`/`.npz` arrays, IDX (MNIST) data,
//! atomic file replacement, and the memory budget a read is checked against.
//!
//! A crate of its own so that a tool which only reads or writes these files
//! (the Keras importer) does not pull in the simulators and their code
//! generator.
//!
//! Everything here reads untrusted files, so every failure is an [`IoError`]
//! naming the file, the place in it and the fix; nothing panics on bad input.

mod atomic;
pub mod budget;
mod error;
mod idx;
mod npy;
mod npy_header;
mod npz;
pub mod params;
pub mod spec_files;

pub use atomic::{
    remove_interrupted_files, replaceable, write_atomic, write_atomic_file, PathLock, ScratchFile,
};
pub use error::{IoError, ParseError};
pub use idx::{parse_idx, read_idx, IdxArray};
pub use npy::{encode_npy, parse_npy, read_npy, shape_repr, write_npy, NdArray};
pub use npz::{read_npz, write_npz, NpzStream};
