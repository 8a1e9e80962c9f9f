//! A network's params in a simulator's precision. The params file itself
//! (layout, checks, load and save) is `snnc_io::params`.

use snnc_compiler::ir::Network;

pub use snnc_io::params::*;

use crate::engine::{NodeParams, Real};

/// A run's params in a simulator's precision, one entry per node: `params`
/// when it has them, empty tensors for a network without weights.
pub fn node_params<T: Real>(params: Option<&NetParams>, net: &Network) -> Vec<NodeParams<T>> {
    // Engines read flat slices in C order: the tensors' logical order.
    let cast = |v: &ndarray::ArrayD<f64>| v.iter().map(|&x| T::from_f64(x)).collect();
    match params {
        Some(p) => p
            .nodes
            .iter()
            .map(|t| NodeParams {
                kernel: cast(&t.kernel),
                bias: cast(&t.bias),
            })
            .collect(),
        None => vec![NodeParams::default(); net.nodes.len()],
    }
}
