//! `snnc import`: Keras models to `.snn` specs.
pub mod hdf5;
