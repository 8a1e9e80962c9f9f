//! The snnc runtime: everything that touches data and time.
//!
//! - [`io`]: `.npy`/`.npz`, IDX, atomic writes (untrusted files, clear errors;
//!   the `snnc-io` crate, re-exported);
//! - [`engine`]: the types every engine shares, the checks made before a
//!   run, and the interface the reference and the JIT implement;
//! - [`driver`]: the one run driver of `run`, `plot`, `diagnose`, `sweep`
//!   and `tune` (load, pick the engine, run with progress);
//! - [`data`], [`params`]: a spec's data source and params file in memory;
//! - [`cost`]: which engine finishes a small job first (compile time
//!   against the reference's run time);
//! - [`reference`]: the reference interpreter, the executable definition of
//!   the timestep semantics that every faster engine is tested against;
//! - [`report`]: what a run reports (accuracy, rates) and writes (probes);
//! - [`train`]: rate-mode training (backprop, Keras losses and optimizers).

pub mod analysis;
pub mod cost;
pub mod data;
pub mod driver;
pub mod engine;
pub mod jit;
pub mod parallel;
pub mod params;
pub mod reference;
pub mod report;
pub mod rng;
pub mod train;

// The file formats and the memory budget live in `snnc-io`; they stay
// reachable under their old paths.
pub use snnc_io as io;
pub use snnc_io::budget;
