//! The network as the trainer runs it: every node resolved to its op, its
//! params' place in one flat parameter vector, its rate neuron and whether
//! gradients flow through it.
//!
//! Internal layouts: the dense kernel is stored transposed, `[out, in]`, so
//! that both the forward pass and the input gradient read contiguous rows;
//! the conv kernel keeps Keras' HWIO layout. Params are converted to and
//! from Keras layout only at the boundary ([`Plan::export`],
//! [`Plan::import`]).

use snnc_compiler::ir::{
    Loss, LossKind, Model, Network, Node, NodeId, NodeSettings, Op, ParamRole, ParamSpec, Train,
    Window,
};

use super::neuron::{Act, LifMode};
use super::TrainError;
use crate::engine::Real;
use crate::io::{ArrayData, NdArray};
use crate::rng::{Purpose, SplitMix64};

#[derive(Clone, Debug)]
pub(crate) enum EdgeOp {
    /// Kernel at `w`, stored `[n_out, n_in]`.
    Dense {
        w: usize,
        n_in: usize,
        n_out: usize,
    },
    /// Kernel at `w` (HWIO); `kt` is where its `[kh, kw, f, c]` transpose
    /// lives in the scratch vector when the input needs a gradient.
    Conv {
        w: usize,
        kt: Option<usize>,
        g: Window,
    },
    /// Kernel at `w`, Keras layout `[kh, kw, c, m]`.
    Depthwise {
        w: usize,
        g: Window,
    },
    AvgPool(Window),
    MaxPool(Window),
    Identity,
}

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
    /// Length of the transposed-kernel scratch.
    pub n_kt: usize,
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

fn image(shape: &[usize]) -> Option<[usize; 3]> {
    match shape {
        &[h, w, c] => Some([h, w, c]),
        _ => None,
    }
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
        let n_kt = b.place_transposed_kernels();
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
            n_kt,
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
                    NdArray {
                        shape: slot.shape.clone(),
                        data: ArrayData::F32(data),
                    },
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
            if a.shape != slot.shape {
                return Err(err(format!(
                    "initial param '{}' has shape {}, expected {:?}",
                    slot.name,
                    a.shape_string(),
                    slot.shape
                )));
            }
            if !matches!(a.data, ArrayData::F32(_) | ArrayData::F64(_)) {
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

    /// Fills the transposed conv kernels `[kh, kw, f, c]` from `params`.
    pub(crate) fn transpose_kernels<T: Real>(&self, params: &[T], kt: &mut [T]) {
        for node in &self.nodes {
            let Kind::Compute(c) = &node.kind else {
                continue;
            };
            for edge in &c.edges {
                if let EdgeOp::Conv { w, kt: Some(at), g } = &edge.op {
                    let (taps, ci, f) = (g.kernel[0] * g.kernel[1], g.input[2], g.output[2]);
                    let k = &params[*w..*w + taps * ci * f];
                    let t = &mut kt[*at..*at + taps * ci * f];
                    for tap in 0..taps {
                        for cc in 0..ci {
                            for ff in 0..f {
                                t[(tap * f + ff) * ci + cc] = k[(tap * ci + cc) * f + ff];
                            }
                        }
                    }
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
        let (kernel, bias) = self.add_params(node, size)?;
        let kind = match node.op {
            Op::Input => {
                want_inputs(node, 0)?;
                Kind::Input
            }
            Op::Flatten => {
                want_inputs(node, 1)?;
                let in_size = net.nodes[node.inputs[0]].size();
                if in_size != size {
                    return Err(layer_err(
                        node,
                        format!("flattens {in_size} values into {size}"),
                    ));
                }
                Kind::View
            }
            Op::Dense { .. }
            | Op::Conv2d { .. }
            | Op::DepthwiseConv2d { .. }
            | Op::AvgPool { .. }
            | Op::MaxPool { .. }
            | Op::Activation
            | Op::Add => {
                let edges = edge_ops(net, node, kernel)?;
                check_bias(node, bias)?;
                let edges = edges
                    .into_iter()
                    .zip(&node.inputs)
                    .map(|(op, &s)| Edge {
                        src: self.storage[s],
                        op,
                    })
                    .collect();
                Kind::Compute(Compute {
                    edges,
                    bias,
                    act: settings.neuron.map(|nr| Act::new(nr, settings.scale, lif)),
                    scale: if settings.neuron.is_some() {
                        settings.scale
                    } else {
                        1.0
                    },
                })
            }
        };
        let (st, rg) = match &kind {
            Kind::Input => (i, false),
            Kind::View => {
                let s = self.storage[node.inputs[0]];
                (s, self.requires_grad[s])
            }
            Kind::Compute(c) => (
                i,
                kernel.is_some()
                    || bias.is_some()
                    || c.edges.iter().any(|e| self.requires_grad[e.src]),
            ),
        };
        self.storage.push(st);
        self.requires_grad.push(rg);
        self.nodes.push(PNode { size, kind });
        Ok(())
    }

    /// Places the node's params in the flat vector, in node (= network
    /// param) order: the kernel's offset and the bias' `(offset, len)`.
    #[allow(clippy::type_complexity)]
    fn add_params(
        &mut self,
        node: &Node,
        size: usize,
    ) -> Result<(Option<usize>, Option<(usize, usize)>), TrainError> {
        let mut kernel: Option<usize> = None;
        let mut bias: Option<(usize, usize)> = None;
        for spec in &node.params {
            let len: usize = spec.shape.iter().product();
            let Some((transposed, fans)) = slot_layout(spec, &node.op, size) else {
                return Err(layer_err(
                    node,
                    format!(
                        "param '{}' with shape {:?} does not fit a {:?} layer",
                        spec.name, spec.shape, node.op
                    ),
                ));
            };
            let twice = match spec.role {
                ParamRole::Kernel => kernel.replace(self.offset).is_some(),
                ParamRole::Bias => bias.replace((self.offset, len)).is_some(),
            };
            if twice {
                return Err(layer_err(node, format!("has two {:?} params", spec.role)));
            }
            self.params.push(ParamSlot {
                name: spec.name.clone(),
                role: spec.role,
                shape: spec.shape.clone(),
                offset: self.offset,
                len,
                transposed,
                fans,
            });
            self.offset += len;
        }
        Ok((kernel, bias))
    }

    /// Gives every conv whose input needs a gradient a place for its
    /// transposed kernel in the scratch vector; returns the scratch length.
    fn place_transposed_kernels(&mut self) -> usize {
        let mut n_kt = 0;
        for node in &mut self.nodes {
            if let Kind::Compute(c) = &mut node.kind {
                for edge in &mut c.edges {
                    if let EdgeOp::Conv { kt, g, .. } = &mut edge.op {
                        if self.requires_grad[edge.src] {
                            *kt = Some(n_kt);
                            n_kt += g.kernel[0] * g.kernel[1] * g.input[2] * g.output[2];
                        }
                    }
                }
            }
        }
        n_kt
    }
}

/// How a param of an `op` node is stored (the transposed `[rows, cols]`
/// of a dense kernel) and its Glorot fans; `None` for a param the op does
/// not have.
#[allow(clippy::type_complexity)]
fn slot_layout(
    spec: &ParamSpec,
    op: &Op,
    size: usize,
) -> Option<(Option<(usize, usize)>, (usize, usize))> {
    let len: usize = spec.shape.iter().product();
    let no_params = None;
    match (spec.role, op) {
        (ParamRole::Bias, Op::Dense { .. } | Op::Conv2d { .. } | Op::DepthwiseConv2d { .. }) => {
            (len > 0 && size.is_multiple_of(len)).then_some((None, (0, 0)))
        }
        (ParamRole::Kernel, Op::Dense { .. }) => match spec.shape[..] {
            [n_in, units] => Some((Some((n_in, units)), (n_in, units))),
            _ => None,
        },
        (ParamRole::Kernel, Op::Conv2d { .. } | Op::DepthwiseConv2d { .. }) => match spec.shape[..]
        {
            [kh, kw, ci, f] => Some((None, (kh * kw * ci, kh * kw * f))),
            _ => None,
        },
        (
            ParamRole::Kernel | ParamRole::Bias,
            Op::Input
            | Op::AvgPool { .. }
            | Op::MaxPool { .. }
            | Op::Flatten
            | Op::Activation
            | Op::Add,
        ) => no_params,
    }
}

fn want_inputs(node: &Node, k: usize) -> Result<(), TrainError> {
    if node.inputs.len() == k {
        Ok(())
    } else {
        Err(layer_err(
            node,
            format!("expects {k} input(s), has {}", node.inputs.len()),
        ))
    }
}

/// The op of each input connection of a computing node, after checking
/// its shapes against the params and the window the checker resolved.
fn edge_ops(net: &Network, node: &Node, kernel: Option<usize>) -> Result<Vec<EdgeOp>, TrainError> {
    let e = |m: String| layer_err(node, m);
    let size = node.size();
    let in_size = |k: usize| net.nodes[node.inputs[k]].size();
    let kernel_shape = node
        .params
        .iter()
        .find(|p| p.role == ParamRole::Kernel)
        .map(|p| p.shape.as_slice());
    let window_fits = |w: &Window| {
        want_inputs(node, 1)?;
        let input = image(&net.nodes[node.inputs[0]].shape);
        if input != Some(w.input) || image(&node.shape) != Some(w.output) {
            return Err(e(format!(
                "its window reads {:?} into {:?}, but the layer reads {:?} into {:?}",
                w.input, w.output, net.nodes[node.inputs[0]].shape, node.shape
            )));
        }
        Ok(())
    };
    Ok(match node.op {
        Op::Dense { units } => {
            want_inputs(node, 1)?;
            let n_in = in_size(0);
            let w = kernel.ok_or_else(|| e("a dense layer needs a kernel".into()))?;
            if units != size || kernel_shape.is_some_and(|k| k != [n_in, units]) {
                return Err(e(format!("a dense kernel must be [{n_in}, {units}]")));
            }
            vec![EdgeOp::Dense {
                w,
                n_in,
                n_out: units,
            }]
        }
        Op::Conv2d {
            filters, window, ..
        } => {
            window_fits(&window)?;
            let w = kernel.ok_or_else(|| e("a conv layer needs a kernel".into()))?;
            let want = [window.kernel[0], window.kernel[1], window.input[2], filters];
            if kernel_shape.is_some_and(|k| k != want) {
                return Err(e(format!("a conv kernel must be {want:?}")));
            }
            vec![EdgeOp::Conv {
                w,
                kt: None,
                g: window,
            }]
        }
        Op::DepthwiseConv2d {
            depth_multiplier,
            window,
            ..
        } => {
            window_fits(&window)?;
            let w = kernel.ok_or_else(|| e("a depthwise conv layer needs a kernel".into()))?;
            let want = [
                window.kernel[0],
                window.kernel[1],
                window.input[2],
                depth_multiplier,
            ];
            if window.output[2] != window.input[2] * depth_multiplier
                || kernel_shape.is_some_and(|k| k != want)
            {
                return Err(e(format!("a depthwise conv kernel must be {want:?}")));
            }
            vec![EdgeOp::Depthwise { w, g: window }]
        }
        Op::AvgPool { window } => {
            window_fits(&window)?;
            vec![EdgeOp::AvgPool(window)]
        }
        Op::MaxPool { window } => {
            window_fits(&window)?;
            vec![EdgeOp::MaxPool(window)]
        }
        Op::Activation | Op::Add => {
            if matches!(node.op, Op::Activation) {
                want_inputs(node, 1)?;
            } else if node.inputs.is_empty() {
                return Err(e("an add needs at least one input".into()));
            }
            if let Some(k) = (0..node.inputs.len()).find(|&k| in_size(k) != size) {
                return Err(e(format!(
                    "input {k} has {} values, the layer {size}",
                    in_size(k)
                )));
            }
            node.inputs.iter().map(|_| EdgeOp::Identity).collect()
        }
        Op::Input | Op::Flatten => Vec::new(),
    })
}

/// A bias has one value per filter (conv) or per output (dense).
fn check_bias(node: &Node, bias: Option<(usize, usize)>) -> Result<(), TrainError> {
    let Some((_, len)) = bias else {
        return Ok(());
    };
    let per = match node.op {
        Op::Conv2d { filters, .. } => filters,
        Op::DepthwiseConv2d { window, .. } => window.output[2],
        Op::Input
        | Op::Dense { .. }
        | Op::AvgPool { .. }
        | Op::MaxPool { .. }
        | Op::Flatten
        | Op::Activation
        | Op::Add => node.size(),
    };
    if len != per {
        return Err(layer_err(
            node,
            format!("the bias must have {per} values, not {len}"),
        ));
    }
    Ok(())
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
