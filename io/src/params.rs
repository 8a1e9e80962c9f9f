//! Params files: one array per tensor, named `<layer>.kernel` and
//! `<layer>.bias`, in Keras layouts, so Keras weights map one to one.
//!
//! The file's layout is checked against the network's IR here, where both
//! the simulators and the importer (which checks what it writes) reach it.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use snnc_compiler::ir::{Network, ParamRole};

use crate::{read_npz, shape_repr, write_npz, IoError, NdArray};

/// The weights of one network, per node. Stored as f64: params files hold
/// f32 or f64 and both convert exactly.
#[derive(Clone, Debug, Default)]
pub struct NetParams {
    pub nodes: Vec<NodeTensors>,
}

/// A node's kernel and bias in their Keras shapes; empty (shape `[0]`)
/// when the node has none.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTensors {
    pub kernel: ArrayD<f64>,
    pub bias: ArrayD<f64>,
}

impl Default for NodeTensors {
    fn default() -> Self {
        let none = || ArrayD::zeros(IxDyn(&[0]));
        NodeTensors {
            kernel: none(),
            bias: none(),
        }
    }
}

/// Reads a params file and checks it against `net`: every tensor present
/// with the right shape, nothing extra, every value finite. All problems are
/// listed in one error.
pub fn load(path: &Path, net: &Network) -> Result<NetParams, IoError> {
    let mut arrays = read_npz(path)?;
    from_arrays(path, net, &mut arrays)
}

/// Checks and sorts already-read arrays (shared with importers).
pub fn from_arrays(
    path: &Path,
    net: &Network,
    arrays: &mut Vec<(String, NdArray)>,
) -> Result<NetParams, IoError> {
    let mut problems = Vec::new();
    let mut out = NetParams {
        nodes: vec![NodeTensors::default(); net.nodes.len()],
    };
    for (id, node) in net.nodes.iter().enumerate() {
        for spec in &node.params {
            let Some(pos) = arrays.iter().position(|(n, _)| *n == spec.name) else {
                problems.push(format!(
                    "missing `{}` (layer `{}`, expected shape {})",
                    spec.name,
                    node.name,
                    shape_repr(&spec.shape)
                ));
                continue;
            };
            let (_, array) = arrays.swap_remove(pos);
            if !matches!(array, NdArray::F32(_) | NdArray::F64(_)) {
                // Integer or bool weights are almost always the wrong array
                // (labels, indices, a mask): refuse rather than run them.
                problems.push(format!(
                    "`{}` holds {} values; weights must be float32 or float64 (save it with .astype('float32'))",
                    spec.name,
                    array.dtype_name()
                ));
                continue;
            }
            if array.shape() != spec.shape.as_slice() {
                problems.push(format!(
                    "`{}` has shape {}, but layer `{}` needs {}",
                    spec.name,
                    array.shape_string(),
                    node.name,
                    shape_repr(&spec.shape)
                ));
                continue;
            }
            let tensor = array.to_f64();
            if let Some((i, x)) = tensor.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                problems.push(format!("`{}` holds {x} at flat index {i}", spec.name));
                continue;
            }
            match spec.role {
                ParamRole::Kernel => out.nodes[id].kernel = tensor,
                ParamRole::Bias => out.nodes[id].bias = tensor,
            }
        }
    }
    for (name, array) in arrays.iter() {
        problems.push(format!(
            "`{name}` {} is not a parameter of network `{}`",
            array.shape_string(),
            net.name
        ));
    }
    if problems.is_empty() {
        return Ok(out);
    }
    let expected: Vec<String> = net
        .params()
        .map(|(_, p)| format!("{} {}", p.name, shape_repr(&p.shape)))
        .collect();
    Err(IoError::new(path, format!("these params do not fit network `{}`:\n  - {}", net.name, problems.join("\n  - ")))
        .with_help(format!("the network needs exactly: {}; were these params saved for another network? (re)train with `snnc train`", expected.join(", "))))
}

/// The arrays of a params file, in network order, as f32 (the precision
/// training works in).
pub fn to_arrays(net: &Network, params: &NetParams) -> Vec<(String, NdArray)> {
    let mut out = Vec::new();
    for (node, tensors) in net.nodes.iter().zip(&params.nodes) {
        for spec in &node.params {
            let values = match spec.role {
                ParamRole::Kernel => &tensors.kernel,
                ParamRole::Bias => &tensors.bias,
            };
            out.push((
                spec.name.clone(),
                NdArray::from_f32(
                    spec.shape.clone(),
                    values.iter().map(|&x| x as f32).collect(),
                ),
            ));
        }
    }
    out
}

/// Writes params atomically (a temp file, then a rename).
pub fn save(path: &Path, net: &Network, params: &NetParams) -> Result<(), IoError> {
    let arrays = to_arrays(net, params);
    let refs: Vec<(&str, &NdArray)> = arrays.iter().map(|(n, a)| (n.as_str(), a)).collect();
    write_npz(path, &refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_compiler::check_source;

    fn net() -> Network {
        let src = "network n {\n input x: 4\n h = dense(x, units=3, activation=relu)\n o = dense(h, units=2, bias=false)\n}\n";
        check_source(src).program.unwrap().networks.remove(0)
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("snnc-params-{name}-{}.npz", std::process::id()))
    }

    #[test]
    fn round_trip_and_every_problem_listed() {
        let net = net();
        let params = NetParams {
            nodes: vec![
                NodeTensors::default(),
                NodeTensors {
                    kernel: ndarray::Array::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64)
                        .into_dyn(),
                    bias: ndarray::arr1(&[1.0, 2.0, 3.0]).into_dyn(),
                },
                NodeTensors {
                    kernel: ndarray::Array::from_elem((3, 2), 0.5).into_dyn(),
                    ..NodeTensors::default()
                },
            ],
        };
        let path = tmp("rt");
        save(&path, &net, &params).unwrap();
        let back = load(&path, &net).unwrap();
        assert_eq!(back.nodes[1].kernel, params.nodes[1].kernel);
        assert_eq!(back.nodes[1].kernel.shape(), [4, 3]);
        assert_eq!(back.nodes[1].bias, params.nodes[1].bias);
        assert_eq!(back.nodes[2].kernel, params.nodes[2].kernel);
        assert!(back.nodes[2].bias.is_empty());

        let bad_h = NdArray::from_f32(vec![4, 4], vec![0.0; 16]);
        let nan_o = NdArray::from_f32(vec![3, 2], vec![0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0]);
        let extra = NdArray::from_f32(vec![1], vec![0.0]);
        write_npz(
            &path,
            &[
                ("h.kernel", &bad_h),
                ("o.kernel", &nan_o),
                ("z.bias", &extra),
            ],
        )
        .unwrap();
        let e = load(&path, &net).unwrap_err().to_string();
        assert!(
            e.contains("`h.kernel` has shape (4, 4), but layer `h` needs (4, 3)"),
            "{e}"
        );
        assert!(e.contains("missing `h.bias`"), "{e}");
        assert!(e.contains("`o.kernel` holds NaN at flat index 1"), "{e}");
        assert!(e.contains("`z.bias` (1,) is not a parameter"), "{e}");
        std::fs::remove_file(path).ok();
    }

    /// Integer and bool weights are refused, naming the file and the member.
    #[test]
    fn integer_and_bool_weights_are_refused() {
        let net = net();
        let path = tmp("dtype");
        let ints = NdArray::from_shape_vec::<i64>(vec![4, 3], vec![1; 12]).unwrap();
        let bias = NdArray::from_f32(vec![3], vec![0.0; 3]);
        let mask = NdArray::from_shape_vec(vec![3, 2], vec![true; 6]).unwrap();
        write_npz(
            &path,
            &[("h.kernel", &ints), ("h.bias", &bias), ("o.kernel", &mask)],
        )
        .unwrap();
        let e = load(&path, &net).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("`h.kernel` holds int64 values"), "{e}");
        assert!(e.contains("`o.kernel` holds bool values"), "{e}");
        std::fs::remove_file(path).ok();
    }
}
