//! Analyses of runs, behind `snnc plot`, `snnc diagnose` and `snnc sweep`:
//!
//! - [`exec`]: a run block executed with overrides (scale, synapse,
//!   presentation time), its outputs as `f64`;
//! - [`spikes`]: spike counts per step recovered from a spiking layer's
//!   probe, and the marks of a raster plot;
//! - [`layers`]: per-layer firing diagnostics of a spiking model next to its
//!   rate model;
//! - [`latency`]: when a prediction becomes right and stays right.

pub mod exec;
pub mod latency;
pub mod layers;
pub mod spikes;
