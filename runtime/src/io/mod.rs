//! Data and params file I/O: NumPy `.npy`/`.npz` arrays, IDX (MNIST) data,
//! and atomic file replacement.
//!
//! Everything here reads untrusted files, so every failure is an [`IoError`]
//! naming the file, the place in it and the fix; nothing panics on bad input.

mod atomic;
mod error;
mod idx;
mod npy;
mod npy_header;
mod npz;

pub use atomic::{remove_interrupted_files, replaceable, write_atomic, PathLock};
pub use error::{IoError, ParseError};
pub use idx::{parse_idx, read_idx, IdxArray};
pub use npy::{encode_npy, parse_npy, read_npy, write_npy, ArrayData, NdArray};
pub use npz::{read_npz, write_npz};
