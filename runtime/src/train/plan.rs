//! The network as the trainer runs it: every node resolved to its op, its
//! params' place in one flat parameter vector, its rate neuron and whether
//! gradients flow through it.
//!
//! Each op lays out, checks and claims its own params (`ops`); this file
//! only walks the network. Params are converted to and from Keras layout
//! only at the boundary ([`Plan::export`], [`Plan::import`]), as each
//! param's [`ParamSlot`] says.

use snnc_compiler::ir::{
    Loss, LossKind, Model, Network, Node, NodeId, NodeSettings, ParamRole, Train,
};

use super::neuron::{Act, LifMode};
use super::ops::{self, Connection, EdgeOp, Planned, Site};
use super::TrainError;
use crate::engine::Real;
use crate::io::NdArray;
use crate::rng::{Purpose, SplitMix64};

#[derive(Clone, Debug)]
pub(crate) struct Edge {
    /// The node whose buffer holds the values (flatten resolved).
    pub src: NodeId,
    pub op: EdgeOp,
}

#[derive(Clone, Debug)]
pub(crate) struct Compute {
    pub edges: Vec<Edge>,
    /// `(offset, len)`: element `i` of the node gets `bias[i % len]`.
    pub bias: Option<(usize, usize)>,
    pub act: Option<Act>,
    /// Multiplies the summed input when there is a neuron.
    pub scale: f64,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Input,
    View,
    Compute(Compute),
}

#[derive(Clone, Debug)]
pub(crate) struct PNode {
    pub size: usize,
    pub kind: Kind,
}

/// One parameter tensor.
#[derive(Clone, Debug)]
pub(crate) struct ParamSlot {
    pub name: String,
    pub role: ParamRole,
    /// Keras shape.
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
    /// Stored as the transpose of the Keras `[rows, cols]` matrix.
    pub transposed: Option<(usize, usize)>,
    /// Glorot fans (kernels).
    pub fans: (usize, usize),
}

#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub nodes: Vec<PNode>,
    pub input: NodeId,
    pub params: Vec<ParamSlot>,
    pub n_params: usize,
    /// Length of the scratch vector the ops fill from the params once per
    /// step (`Connection::fill_scratch`).
    pub n_scratch: usize,
    /// The node's output depends on params (so its gradient is needed).
    pub requires_grad: Vec<bool>,
    /// The node's output reaches a loss.
    pub live: Vec<bool>,
    pub losses: Vec<PLoss>,
    /// The loss whose probe accuracy is read from (a class-score loss).
    pub accuracy: Option<usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct PLoss {
    pub kind: snnc_compiler::ir::LossKind,
    /// Storage node of the probed layer.
    pub node: NodeId,
    pub size: usize,
}

fn err(msg: impl Into<String>) -> TrainError {
    TrainError::Invalid(msg.into())
}

/// `layer 'NAME': message`, the form of every error about one layer.
fn layer_err(node: &Node, msg: String) -> TrainError {
    err(format!("layer '{}': {msg}", node.name))
}

impl Plan {
    /// The plan of training `model` (a network's rate model) on `losses`:
    /// every node checked and given its op, params and neuron, then the
    /// scratch for transposed kernels, the losses and what reaches them.
    pub(crate) fn new(
        net: &Network,
        model: &Model,
        losses: &[Loss],
        train: &Train,
        lif: LifMode,
    ) -> Result<Plan, TrainError> {
        let n = net.nodes.len();
        if model.nodes.len() != n {
            return Err(err(format!(
                "model '{}' has settings for {} nodes, network '{}' has {n}",
                model.name,
                model.nodes.len(),
                net.name
            )));
        }
        let inputs: Vec<NodeId> = net.inputs().collect();
        let [input] = inputs[..] else {
            return Err(err(format!(
                "training needs a network with exactly one input, '{}' has {}",
                net.name,
                inputs.len()
            )));
        };
        let mut b = Builder::default();
        for (i, (node, settings)) in net.nodes.iter().zip(&model.nodes).enumerate() {
            b.add(net, i, node, settings, lif)?;
        }
        let n_scratch = b.place_scratch();
        let plosses = plan_losses(losses, train, &b.storage, &b.nodes)?;
        let live = live_nodes(&b.nodes, &plosses);
        let accuracy = plosses
            .iter()
            .position(|l| l.kind.reads_labels() && l.size >= 2);
        Ok(Plan {
            nodes: b.nodes,
            input,
            params: b.params,
            n_params: b.offset,
            n_scratch,
            requires_grad: b.requires_grad,
            live,
            losses: plosses,
            accuracy,
        })
    }

    pub(crate) fn input_size(&self) -> usize {
        self.nodes[self.input].size
    }

    /// Whether the backward pass visits node `i`.
    pub(crate) fn backprop(&self, i: NodeId) -> bool {
        self.requires_grad[i] && self.live[i]
    }

    /// Keras' default init from `seed`: Glorot-uniform kernels
    /// (`limit = sqrt(6/(fan_in + fan_out))`), zero biases. Each tensor has
    /// its own random stream, drawn in Keras layout order.
    pub(crate) fn init<T: Real>(&self, seed: u64) -> Vec<T> {
        let mut out = vec![T::zero(); self.n_params];
        for (k, slot) in self.params.iter().enumerate() {
            if slot.role != ParamRole::Kernel {
                continue;
            }
            let (fan_in, fan_out) = slot.fans;
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            let mut rng = SplitMix64::stream(seed, Purpose::Init, k as u64);
            let keras: Vec<f64> = (0..slot.len)
                .map(|_| (2.0 * rng.uniform() - 1.0) * limit)
                .collect();
            self.store(slot, &keras, &mut out);
        }
        out
    }

    /// Writes Keras-layout values of `slot` into the flat internal vector.
    fn store<T: Real>(&self, slot: &ParamSlot, keras: &[f64], flat: &mut [T]) {
        let dst = &mut flat[slot.offset..slot.offset + slot.len];
        match slot.transposed {
            None => {
                for (d, &v) in dst.iter_mut().zip(keras) {
                    *d = T::from_f64(v);
                }
            }
            Some((rows, cols)) => {
                for r in 0..rows {
                    for c in 0..cols {
                        dst[c * rows + r] = T::from_f64(keras[r * cols + c]);
                    }
                }
            }
        }
    }

    /// The params as float32 arrays in Keras layout, in network param order.
    pub(crate) fn export<T: Real>(&self, flat: &[T]) -> Vec<(String, NdArray)> {
        self.params
            .iter()
            .map(|slot| {
                let src = &flat[slot.offset..slot.offset + slot.len];
                let data: Vec<f32> = match slot.transposed {
                    None => src.iter().map(|&v| Real::to_f64(v) as f32).collect(),
                    Some((rows, cols)) => (0..rows * cols)
                        .map(|k| Real::to_f64(src[(k % cols) * rows + k / cols]) as f32)
                        .collect(),
                };
                (
                    slot.name.clone(),
                    NdArray::from_f32(slot.shape.clone(), data),
                )
            })
            .collect()
    }

    /// Params from named Keras-layout arrays (every tensor must be there
    /// with its exact shape; extra arrays are an error too).
    pub(crate) fn import<T: Real>(
        &self,
        arrays: &[(String, NdArray)],
    ) -> Result<Vec<T>, TrainError> {
        let mut flat = vec![T::zero(); self.n_params];
        for slot in &self.params {
            let Some((_, a)) = arrays.iter().find(|(n, _)| *n == slot.name) else {
                return Err(err(format!(
                    "the initial params have no array '{}'",
                    slot.name
                )));
            };
            if a.shape() != slot.shape.as_slice() {
                return Err(err(format!(
                    "initial param '{}' has shape {}, expected {:?}",
                    slot.name,
                    a.shape_string(),
                    slot.shape
                )));
            }
            if !matches!(a, NdArray::F32(_) | NdArray::F64(_)) {
                return Err(err(format!(
                    "initial param '{}' is {}, expected float32 or float64",
                    slot.name,
                    a.dtype_name()
                )));
            }
            self.store(slot, &a.to_f64_vec(), &mut flat);
        }
        if let Some((extra, _)) = arrays
            .iter()
            .find(|(n, _)| !self.params.iter().any(|s| s.name == *n))
        {
            return Err(err(format!(
                "the initial params have an array '{extra}' that is not a param of the network"
            )));
        }
        Ok(flat)
    }

    /// Fills every op's part of the scratch vector from `params`.
    pub(crate) fn fill_scratch<T: Real>(&self, params: &[T], scratch: &mut [T]) {
        for node in &self.nodes {
            if let Kind::Compute(c) = &node.kind {
                for edge in &c.edges {
                    edge.op.fill_scratch(params, scratch);
                }
            }
        }
    }
}

/// The plan's nodes and params as they are added, in network order.
#[derive(Default)]
struct Builder {
    nodes: Vec<PNode>,
    params: Vec<ParamSlot>,
    /// Where the next param goes in the flat vector.
    offset: usize,
    /// The node that owns each node's values (flatten views resolved).
    storage: Vec<NodeId>,
    requires_grad: Vec<bool>,
}

impl Builder {
    /// Checks node `i` and adds it with its params.
    fn add(
        &mut self,
        net: &Network,
        i: usize,
        node: &Node,
        settings: &NodeSettings,
        lif: LifMode,
    ) -> Result<(), TrainError> {
        if let Some(&bad) = node.inputs.iter().find(|&&s| s >= i) {
            return Err(layer_err(
                node,
                format!("reads node #{bad}, which does not come before it"),
            ));
        }
        let size = node.size();
        let first = self.params.len();
        self.place_params(node);
        let mut site = Site::new(net, node, &mut self.params[first..]);
        let planned = ops::plan(&mut site)?;
        site.all_claimed()?;
        let has_params = first < self.params.len();
        let kind = match planned {
            Planned::Input => Kind::Input,
            Planned::View => Kind::View,
            Planned::Compute { edges, bias } => Kind::Compute(Compute {
                edges: edges
                    .into_iter()
                    .zip(&node.inputs)
                    .map(|(op, &s)| Edge {
                        src: self.storage[s],
                        op,
                    })
                    .collect(),
                bias,
                act: settings.neuron.map(|nr| Act::new(nr, settings.scale, lif)),
                scale: if settings.neuron.is_some() {
                    settings.scale
                } else {
                    1.0
                },
            }),
        };
        let (st, rg) = match &kind {
            Kind::Input => (i, false),
            Kind::View => {
                let s = self.storage[node.inputs[0]];
                (s, self.requires_grad[s])
            }
            Kind::Compute(c) => (
                i,
                has_params || c.edges.iter().any(|e| self.requires_grad[e.src]),
            ),
        };
        self.storage.push(st);
        self.requires_grad.push(rg);
        self.nodes.push(PNode { size, kind });
        Ok(())
    }

    /// Places the node's params in the flat vector, in node (= network
    /// param) order; the node's op claims them and sets their layout.
    fn place_params(&mut self, node: &Node) {
        for spec in &node.params {
            let len: usize = spec.shape.iter().product();
            self.params.push(ParamSlot {
                name: spec.name.clone(),
                role: spec.role,
                shape: spec.shape.clone(),
                offset: self.offset,
                len,
                transposed: None,
                fans: (0, 0),
            });
            self.offset += len;
        }
    }

    /// Gives every op that needs it its place in the scratch vector (conv's
    /// transposed kernel, when its input needs a gradient); returns the
    /// scratch length.
    fn place_scratch(&mut self) -> usize {
        let mut n = 0;
        for node in &mut self.nodes {
            if let Kind::Compute(c) = &mut node.kind {
                for edge in &mut c.edges {
                    n += edge.op.place_scratch(n, self.requires_grad[edge.src]);
                }
            }
        }
        n
    }
}

/// Each loss on the storage node of its probe, stated in output units.
fn plan_losses(
    losses: &[Loss],
    train: &Train,
    storage: &[NodeId],
    nodes: &[PNode],
) -> Result<Vec<PLoss>, TrainError> {
    losses
        .iter()
        .map(|loss| {
            let probe = train.probes.get(loss.probe).ok_or_else(|| {
                err(format!(
                    "a loss reads probe #{}, which does not exist",
                    loss.probe
                ))
            })?;
            let node = *storage.get(probe.node).ok_or_else(|| {
                err(format!(
                    "probe '{}' targets node #{}, which does not exist",
                    probe.name, probe.node
                ))
            })?;
            let act = match &nodes[node].kind {
                Kind::Compute(c) => c.act,
                Kind::Input | Kind::View => None,
            };
            Ok(PLoss {
                kind: in_output_units(loss.kind, act),
                node,
                size: nodes[node].size,
            })
        })
        .collect()
}

/// Whether each node's output reaches a loss.
fn live_nodes(nodes: &[PNode], losses: &[PLoss]) -> Vec<bool> {
    let mut live = vec![false; nodes.len()];
    for l in losses {
        live[l.node] = true;
    }
    for i in (0..nodes.len()).rev() {
        if !live[i] {
            continue;
        }
        if let Kind::Compute(c) = &nodes[i].kind {
            for e in &c.edges {
                live[e.src] = true;
            }
        }
    }
    live
}

/// A loss on a layer's output. Rate losses are stated in Hz, and a layer's
/// output is its rate times `amplitude / scale` (ReLU and LIF; see
/// `Act::hz_per_output`), so their rates and weights are restated in
/// output units: `w * dist(f*y, [lo, hi]) = (w*f) * dist(y, [lo/f, hi/f])`
/// and `w * (f*y - t)^2 = (w*f^2) * (y - t/f)^2`.
fn in_output_units(kind: LossKind, act: Option<Act>) -> LossKind {
    let f = act.map_or(1.0, |a| a.hz_per_output());
    if f == 1.0 {
        return kind;
    }
    match kind {
        LossKind::RateInRange { min, max, weight } => LossKind::RateInRange {
            min: min / f,
            max: max / f,
            weight: weight * f,
        },
        LossKind::RateMse { target, weight } => LossKind::RateMse {
            target: target / f,
            weight: weight * f * f,
        },
        LossKind::SparseCategoricalCrossentropy | LossKind::MeanSquaredError => kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::loss;

    #[test]
    fn rate_in_range_reads_hz_through_the_amplitude() {
        // Rates 150, 250, 420 Hz from a ReLU of amplitude 0.04 (outputs 6,
        // 10, 16.8): distances 50, 0, 120 Hz, so the loss is 2 * 170 / 3.
        let kind = LossKind::RateInRange {
            min: 200.0,
            max: 300.0,
            weight: 2.0,
        };
        let act = Act::Relu { amp: 0.04 };
        let outputs: [f64; 3] = [6.0, 10.0, 16.8];
        let mut grad = [0.0f64; 3];
        let value = loss::example(
            in_output_units(kind, Some(act)),
            &outputs,
            0,
            1.0,
            Some(&mut grad),
        );
        assert!((value - 2.0 * 170.0 / 3.0).abs() < 1e-9, "{value}");
        // d/dy = weight/n * sign * (Hz per output) = 2/3 * 25.
        let g = 2.0 / 3.0 * 25.0;
        for (got, want) in grad.iter().zip([-g, 0.0, g]) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        // A target rate of 250 Hz is 10 output units; the weight scales by 25^2.
        let mse = LossKind::RateMse {
            target: 250.0,
            weight: 1e-3,
        };
        let LossKind::RateMse { target, weight } = in_output_units(mse, Some(act)) else {
            panic!("a rate_mse stays a rate_mse");
        };
        assert!((target - 10.0).abs() < 1e-12 && (weight - 0.625).abs() < 1e-12);
        // Unit amplitude: unchanged.
        assert_eq!(in_output_units(kind, Some(Act::Relu { amp: 1.0 })), kind);
    }
}
