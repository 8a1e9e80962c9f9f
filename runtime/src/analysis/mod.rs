//! Analyses of runs, behind `snnc plot`, `snnc diagnose` and `snnc sweep`
//! (the runs themselves go through [`crate::driver`]):
//!
//! - [`spikes`]: spike counts per step recovered from a spiking layer's
//!   probe, and the marks of a raster plot;
//! - [`layers`]: per-layer firing diagnostics of a spiking model next to its
//!   rate model;
//! - [`latency`]: when a prediction becomes right and stays right;
//! - [`evaluate`]: one setting's accuracy, latency and spikes, and the
//!   Pareto front over settings;
//! - [`tune`]: per-layer calibration and the search behind `snnc tune`.

pub mod evaluate;
pub mod latency;
pub mod layers;
pub mod spikes;
pub mod tune;
