//! Keras model files: the container formats ([`file`]) and the
//! architecture JSON ([`graph`]).

pub mod file;
pub mod graph;

pub use file::{Format, KerasFile, Weight};
pub use graph::{Graph, Layer};
