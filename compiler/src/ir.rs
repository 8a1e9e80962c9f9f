//! The typed IR: a checked spec with every name resolved, every shape
//! inferred and every unit converted to SI (seconds, hertz).
//!
//! The reference interpreter, the JIT and the trainer all consume this and
//! nothing else; nothing downstream re-reads spec text. Spans are kept (but
//! not dumped) so that runtime errors, such as a params file with the wrong
//! shape, can still point at the line that declared the layer.

use serde::Serialize;

use crate::span::Span;

pub type NodeId = usize;

#[derive(Clone, Debug, Serialize)]
pub struct Program {
    pub networks: Vec<Network>,
    /// Every runnable model: one rate model per network (named like the
    /// network), then one per `convert` variant.
    pub models: Vec<Model>,
    pub probes: Vec<Probe>,
    pub trains: Vec<Train>,
    pub runs: Vec<Run>,
}

impl Program {
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn network_of(&self, model: &Model) -> &Network {
        &self.networks[model.network]
    }
}

// ------------------------------------------------------------ networks ----

/// A conventional network as Keras would describe it.
#[derive(Clone, Debug, Serialize)]
pub struct Network {
    pub name: String,
    /// In topological order: every node comes after the nodes it reads.
    pub nodes: Vec<Node>,
    /// The network's name in `network NAME { ... }`: what a label pointing
    /// at "this network" underlines (not the whole block).
    #[serde(skip)]
    pub span: Span,
}

impl Network {
    pub fn node(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    pub fn inputs(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.op, Op::Input))
            .map(|(i, _)| i)
    }

    /// Follows flatten views back to the node that owns the values.
    pub fn storage_of(&self, mut id: NodeId) -> NodeId {
        while let Op::Flatten = self.nodes[id].op {
            id = self.nodes[id].inputs[0];
        }
        id
    }

    /// All parameter tensors, in node order.
    pub fn params(&self) -> impl Iterator<Item = (&Node, &ParamSpec)> {
        self.nodes
            .iter()
            .flat_map(|n| n.params.iter().map(move |p| (n, p)))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub name: String,
    pub op: Op,
    /// The nodes this one reads, in argument order.
    pub inputs: Vec<NodeId>,
    /// Output shape: `[h, w, c]` for images (channels last), `[n]` for
    /// vectors. Values are stored flat in C order of this shape.
    pub shape: Vec<usize>,
    /// The Keras activation applied after the op; `Linear` for none.
    pub activation: Activation,
    /// The tensors this node owns in a params file.
    pub params: Vec<ParamSpec>,
    #[serde(skip)]
    pub span: Span,
}

impl Node {
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn has_bias(&self) -> bool {
        self.params.iter().any(|p| p.role == ParamRole::Bias)
    }
}

/// What a node computes. Every `match` on it is exhaustive, so a new op is
/// a list of compile errors at each place that must learn it; its
/// arguments, defaults and docs are in [`crate::ops`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Op {
    Input,
    /// `y = x @ kernel + bias`, kernel `[in, out]`.
    Dense {
        units: usize,
    },
    /// Cross-correlation, kernel HWIO `[kh, kw, c_in, c_out]`, bias per
    /// filter.
    Conv2d {
        filters: usize,
        padding: Padding,
        window: Window,
    },
    /// Keras' `DepthwiseConv2D`: input channel `c` is cross-correlated with
    /// its own `depth_multiplier` filters, kernel `[kh, kw, c_in,
    /// depth_multiplier]`, into output channels `c * depth_multiplier + j`
    /// (TensorFlow's order); bias per output channel.
    DepthwiseConv2d {
        depth_multiplier: usize,
        padding: Padding,
        window: Window,
    },
    /// Mean over each window ('valid' padding).
    AvgPool {
        window: Window,
    },
    /// Max over each window ('valid' padding).
    MaxPool {
        window: Window,
    },
    /// A view: the same values in a flat shape. Creates nothing.
    Flatten,
    /// An identity connection into an activation.
    Activation,
    /// Element-wise sum of all inputs.
    Add,
}

/// What a node is to an engine. The places that treat every computing op
/// alike (planning, validation, dispatch) match on this rather than on
/// [`Op`], so a new op needs no arm there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Values given from outside.
    Input,
    /// The same values as its input in another shape; creates nothing.
    View,
    /// Reads its inputs through the op's transform into neurons (or
    /// values) of its own.
    Compute,
}

impl Op {
    pub const fn role(&self) -> Role {
        match self {
            Op::Input => Role::Input,
            Op::Flatten => Role::View,
            Op::Dense { .. }
            | Op::Conv2d { .. }
            | Op::DepthwiseConv2d { .. }
            | Op::AvgPool { .. }
            | Op::MaxPool { .. }
            | Op::Activation
            | Op::Add => Role::Compute,
        }
    }

    /// The resolved window of a conv or pooling.
    pub const fn window(&self) -> Option<Window> {
        match *self {
            Op::Conv2d { window, .. }
            | Op::DepthwiseConv2d { window, .. }
            | Op::AvgPool { window }
            | Op::MaxPool { window } => Some(window),
            Op::Input | Op::Dense { .. } | Op::Flatten | Op::Activation | Op::Add => None,
        }
    }

    /// The shape of the node's output, from its resolved arguments and the
    /// shape of its (first) input; `None` for an input. Engines compare a
    /// node's shape with it before indexing by it.
    pub fn output_shape(&self, input: &[usize]) -> Option<Vec<usize>> {
        let channels = input.last().copied().unwrap_or(0);
        let image = |w: &Window, c: usize| vec![w.output[0], w.output[1], c];
        match self {
            Op::Input => None,
            Op::Dense { units } => Some(vec![*units]),
            Op::Conv2d {
                filters, window, ..
            } => Some(image(window, *filters)),
            Op::DepthwiseConv2d {
                depth_multiplier,
                window,
                ..
            } => Some(image(window, channels * depth_multiplier)),
            Op::AvgPool { window } | Op::MaxPool { window } => Some(image(window, channels)),
            Op::Flatten => Some(vec![input.iter().product()]),
            Op::Activation | Op::Add => Some(input.to_vec()),
        }
    }

    /// The shape of its kernel (Keras layout) given the shape of its
    /// (first) input, and the length of its bias (one value per output
    /// channel); `None` for an op without params. The checker names the
    /// node's params from it and every engine checks a params file by it.
    pub fn kernel_shape(&self, input: &[usize]) -> Option<(Vec<usize>, usize)> {
        let channels = input.last().copied().unwrap_or(0);
        match *self {
            Op::Dense { units } => Some((vec![input.iter().product(), units], units)),
            Op::Conv2d {
                filters, window, ..
            } => Some((
                vec![window.kernel[0], window.kernel[1], channels, filters],
                filters,
            )),
            Op::DepthwiseConv2d {
                depth_multiplier,
                window,
                ..
            } => Some((
                vec![
                    window.kernel[0],
                    window.kernel[1],
                    channels,
                    depth_multiplier,
                ],
                channels * depth_multiplier,
            )),
            Op::Input
            | Op::AvgPool { .. }
            | Op::MaxPool { .. }
            | Op::Flatten
            | Op::Activation
            | Op::Add => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Padding {
    Valid,
    Same,
}

/// Where each output of a conv or pooling reads its input, resolved once by
/// the checker: the reference, the JIT, the trainer and the importer read
/// these numbers instead of deriving them again.
///
/// Images are `[h, w, c]`, channels last. Output `(oh, ow)` reads input
/// rows `oh * strides[0] + kh - pad_before[0]` for `kh` in `0..kernel[0]`
/// (columns alike); taps that fall in the padding read zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    pub input: [usize; 3],
    pub output: [usize; 3],
    /// The kernel (conv) or pool (pooling) size `[kh, kw]`.
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// Zero padding before `[top, left]`.
    pub pad_before: [usize; 2],
    /// Zero padding after `[bottom, right]` that a 'same' window reaches;
    /// TensorFlow puts the odd one here.
    pub pad_after: [usize; 2],
}

impl Window {
    /// TensorFlow's geometry: 'valid' takes every window that fits; 'same'
    /// gives `ceil(n / stride)` outputs per axis and pads `floor(total / 2)`
    /// before, the rest after. `None` when no window fits ('valid' with
    /// `n < kernel`) or a size is 0.
    pub fn resolve(
        input: [usize; 3],
        kernel: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
        out_channels: usize,
    ) -> Option<Window> {
        let mut w = Window {
            input,
            output: [0, 0, out_channels],
            kernel,
            strides,
            pad_before: [0, 0],
            pad_after: [0, 0],
        };
        for a in 0..2 {
            let (n, k, s) = (input[a], kernel[a], strides[a]);
            if n == 0 || k == 0 || s == 0 {
                return None;
            }
            match padding {
                Padding::Valid => {
                    if n < k {
                        return None;
                    }
                    w.output[a] = (n - k) / s + 1;
                }
                Padding::Same => {
                    let out = n.div_ceil(s);
                    let total = ((out - 1) * s + k).saturating_sub(n);
                    w.output[a] = out;
                    w.pad_before[a] = total / 2;
                    w.pad_after[a] = total - total / 2;
                }
            }
        }
        Some(w)
    }

    /// Output positions `h_out * w_out`.
    pub fn positions(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// The input index that output `o` reads through tap `k` on `axis`, or
    /// `None` when it falls in the padding.
    pub fn tap(&self, axis: usize, o: usize, k: usize) -> Option<usize> {
        let i = (o * self.strides[axis] + k).checked_sub(self.pad_before[axis])?;
        (i < self.input[axis]).then_some(i)
    }
}

/// The activation a conventional network was written with. In rate mode it
/// is also the neuron type (see [`Model`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
}

impl Activation {
    pub const fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }

    /// The rate neuron NengoDL's converter maps this activation to.
    pub fn rate_neuron(self) -> Option<Neuron> {
        match self {
            Activation::Linear => None,
            Activation::Relu => Some(Neuron::RectifiedLinear { amplitude: 1.0 }),
            Activation::Sigmoid => Some(Neuron::Sigmoid { tau_ref: 1.0 }),
            Activation::Tanh => Some(Neuron::Tanh { tau_ref: 1.0 }),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    /// `<layer>.kernel` or `<layer>.bias`, the key in a params `.npz`.
    pub name: String,
    pub role: ParamRole,
    /// Keras layout: dense `[in, out]`, conv `[kh, kw, c_in, c_out]`.
    pub shape: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ParamRole {
    Kernel,
    Bias,
}

// -------------------------------------------------------------- models ----

/// A network with a neuron type, scale and synapses chosen for every node:
/// the thing a simulator runs.
#[derive(Clone, Debug, Serialize)]
pub struct Model {
    pub name: String,
    /// Index into [`Program::networks`].
    pub network: usize,
    /// True for a `convert` variant, false for a network's own rate model.
    pub converted: bool,
    /// One entry per network node, same order.
    pub nodes: Vec<NodeSettings>,
    pub initial_voltage: InitialVoltage,
    /// The model's name: the network's name for a rate model, the variant's
    /// in `convert NAME from ...` for a variant.
    #[serde(skip)]
    pub span: Span,
    /// Where a variant's settings are written (empty for a rate model).
    #[serde(skip)]
    pub places: ModelPlaces,
}

/// Where a convert variant's settings are written, so that a tool can
/// point at them or edit them (`snnc diagnose` and its `--fix`) without
/// reading the spec text again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelPlaces {
    /// The block's header line, `convert NAME from BASE {`.
    pub header: Option<Span>,
    /// The offset of the block's closing brace.
    pub close: Option<usize>,
    /// The `scale_firing_rates = ...` line.
    pub global_scale: Option<Span>,
    /// The `scale LAYER = ...` lines, by layer name, in file order.
    pub layer_scales: Vec<(String, Span)>,
}

impl ModelPlaces {
    /// The `scale LAYER = ...` line of `layer`.
    pub fn layer_scale(&self, layer: &str) -> Option<Span> {
        self.layer_scales
            .iter()
            .find(|(l, _)| l == layer)
            .map(|(_, s)| *s)
    }
}

impl Model {
    pub fn has_spiking(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| n.neuron.is_some_and(|t| t.is_spiking()))
    }

    /// This model in rate mode, as training sees it: every neuron replaced
    /// by its rate equivalent (same amplitude and scale), no synapses. For a
    /// variant that only swaps in spiking neurons and scales rates, it
    /// computes what the network's own rate model does; with a changed
    /// amplitude it is the network the variant was trained as.
    pub fn rate_equivalent(&self) -> Model {
        let mut m = self.clone();
        m.name = format!("{} in rate mode", self.name);
        for node in &mut m.nodes {
            node.neuron = node.neuron.map(Neuron::rate_equivalent);
            node.input_synapses.fill(Synapse::None);
            node.bias_synapse = Synapse::None;
            node.bias_relay_synapse = Synapse::None;
        }
        m.initial_voltage = InitialVoltage::Zero;
        m
    }

    /// NengoDL's Converter rule for a global `synapse =`: every connection
    /// out of a neuron layer gets `synapse`. A flatten is a view of its
    /// input, not a connection, so the rule skips it (its reader's input is
    /// the flattened neuron layer's output and gets the synapse there).
    pub fn filter_neuron_outputs(&mut self, net: &Network, synapse: Synapse) {
        for (id, node) in net.nodes.iter().enumerate() {
            if node.op.role() == Role::View {
                continue;
            }
            for (i, &src) in node.inputs.iter().enumerate() {
                if self.nodes[net.storage_of(src)].neuron.is_some() {
                    self.nodes[id].input_synapses[i] = synapse;
                }
            }
        }
    }
}

/// How one node runs. The node's current is
/// `J = sum over inputs of scale * syn_i(transform_i(x_i)) + scale * syn_b(bias)`
/// (the scale is a gain on each connection, as Nengo applies it) and its
/// output is `neuron(J)`, or the plain sum when there is no neuron (a linear
/// node, which is never scaled). A neuron's output amplitude is divided by
/// `scale`; sigmoid and tanh have no amplitude, so for them the scale only
/// multiplies the current.
#[derive(Clone, Debug, Serialize)]
pub struct NodeSettings {
    pub neuron: Option<Neuron>,
    /// `scale_firing_rates` for this node: 1 unless set (and always 1 on
    /// nodes without neurons).
    pub scale: f64,
    /// One per entry of the node's `inputs`: the synapse on that connection.
    pub input_synapses: Vec<Synapse>,
    /// The synapse on the bias connection.
    pub bias_synapse: Synapse,
    /// The synapse on the way into the bias relay node that NengoDL's
    /// Converter puts between a conv2d's bias and its neurons (the bias
    /// node feeds one relay value per filter, which the relay broadcasts):
    /// the bias passes this synapse, then `bias_synapse`. `None` unless set
    /// (`synapse all = ...` or `synapse relay -> conv1 = ...`).
    pub bias_relay_synapse: Synapse,
}

/// Nengo's neuron types, with Nengo's parameter names and units (seconds).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Neuron {
    RectifiedLinear {
        amplitude: f64,
    },
    SpikingRectifiedLinear {
        amplitude: f64,
    },
    Lif {
        tau_rc: f64,
        tau_ref: f64,
        min_voltage: f64,
        amplitude: f64,
    },
    LifRate {
        tau_rc: f64,
        tau_ref: f64,
        amplitude: f64,
    },
    /// `out = (1/tau_ref) / (1 + exp(-J))`
    Sigmoid {
        tau_ref: f64,
    },
    /// `out = (1/tau_ref) * tanh(J)`
    Tanh {
        tau_ref: f64,
    },
}

impl Neuron {
    pub fn is_spiking(self) -> bool {
        match self {
            Neuron::SpikingRectifiedLinear { .. } | Neuron::Lif { .. } => true,
            Neuron::RectifiedLinear { .. }
            | Neuron::LifRate { .. }
            | Neuron::Sigmoid { .. }
            | Neuron::Tanh { .. } => false,
        }
    }

    /// Whether scaling its input current by `s` and its output by `1/s`
    /// computes the same function (the ReLU types), so that
    /// `scale_firing_rates` changes only how often it fires.
    pub fn is_scale_invariant(self) -> bool {
        match self {
            Neuron::RectifiedLinear { .. } | Neuron::SpikingRectifiedLinear { .. } => true,
            Neuron::Lif { .. }
            | Neuron::LifRate { .. }
            | Neuron::Sigmoid { .. }
            | Neuron::Tanh { .. } => false,
        }
    }

    /// Firing rate (Hz) per unit of rate-mode output at `scale`: a ReLU or
    /// LIF outputs `amplitude / scale` times its rate; sigmoid and tanh
    /// output the rate itself (they have no amplitude).
    pub fn hz_per_output(self, scale: f64) -> f64 {
        match self {
            Neuron::RectifiedLinear { amplitude }
            | Neuron::SpikingRectifiedLinear { amplitude }
            | Neuron::Lif { amplitude, .. }
            | Neuron::LifRate { amplitude, .. }
                if amplitude > 0.0 =>
            {
                scale / amplitude
            }
            Neuron::RectifiedLinear { .. }
            | Neuron::SpikingRectifiedLinear { .. }
            | Neuron::Lif { .. }
            | Neuron::LifRate { .. }
            | Neuron::Sigmoid { .. }
            | Neuron::Tanh { .. } => 1.0,
        }
    }

    /// Whether its rate is capped by spiking at most once a step (LIF, with
    /// its refractory period); a spiking ReLU emits as many spikes in a
    /// step as its voltage allows, so no rate is lost.
    pub fn spikes_at_most_once_per_step(self) -> bool {
        match self {
            Neuron::Lif { .. } => true,
            Neuron::SpikingRectifiedLinear { .. }
            | Neuron::RectifiedLinear { .. }
            | Neuron::LifRate { .. }
            | Neuron::Sigmoid { .. }
            | Neuron::Tanh { .. } => false,
        }
    }

    /// The rate neuron that trains in its place (NengoDL trains a spiking
    /// ReLU as a rate ReLU and LIF as LIF rate).
    pub fn rate_equivalent(self) -> Neuron {
        match self {
            Neuron::SpikingRectifiedLinear { amplitude } => Neuron::RectifiedLinear { amplitude },
            Neuron::Lif {
                tau_rc,
                tau_ref,
                amplitude,
                ..
            } => Neuron::LifRate {
                tau_rc,
                tau_ref,
                amplitude,
            },
            rate @ (Neuron::RectifiedLinear { .. }
            | Neuron::LifRate { .. }
            | Neuron::Sigmoid { .. }
            | Neuron::Tanh { .. }) => rate,
        }
    }

    pub fn amplitude(self) -> f64 {
        match self {
            Neuron::RectifiedLinear { amplitude }
            | Neuron::SpikingRectifiedLinear { amplitude }
            | Neuron::Lif { amplitude, .. }
            | Neuron::LifRate { amplitude, .. } => amplitude,
            Neuron::Sigmoid { .. } | Neuron::Tanh { .. } => 1.0,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Neuron::RectifiedLinear { .. } => "relu",
            Neuron::SpikingRectifiedLinear { .. } => "spiking_relu",
            Neuron::Lif { .. } => "lif",
            Neuron::LifRate { .. } => "lif_rate",
            Neuron::Sigmoid { .. } => "sigmoid",
            Neuron::Tanh { .. } => "tanh",
        }
    }
}

/// A synapse on a connection. Any synapse delays by one step (Nengo updates
/// filters after they are read); `None` delivers in the same step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Synapse {
    None,
    Lowpass { tau: f64 },
    Alpha { tau: f64 },
}

/// Where spiking neurons' voltages start, for every example.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum InitialVoltage {
    Zero,
    /// Uniform in [0, 1) per neuron (Nengo's default since 3.1), drawn from
    /// this seed, or from the run's `seed` when `None`.
    Uniform {
        seed: Option<u64>,
    },
}

impl InitialVoltage {
    /// The seed uniform voltages are drawn from in a run seeded `run_seed`;
    /// `None` for a zero start.
    pub fn uniform_seed(self, run_seed: u64) -> Option<u64> {
        match self {
            InitialVoltage::Zero => None,
            InitialVoltage::Uniform { seed } => Some(seed.unwrap_or(run_seed)),
        }
    }
}

// -------------------------------------------------------------- probes ----

/// A named probe on a layer. Bound to a node when a run or a training
/// chooses its network.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub name: String,
    pub target: String,
    pub synapse: Synapse,
    pub sample_every: SampleEvery,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum SampleEvery {
    Steps(usize),
    Seconds(f64),
}

/// A probe bound to a node of the network a run uses.
#[derive(Clone, Debug, Serialize)]
pub struct BoundProbe {
    /// Index into [`Program::probes`].
    pub probe: usize,
    pub name: String,
    pub node: NodeId,
    pub synapse: Synapse,
    /// Record every this many steps (1 = every step).
    pub every: usize,
}

// ---------------------------------------------------------------- data ----

#[derive(Clone, Debug, Serialize)]
pub struct DataSource {
    pub kind: DataKind,
    /// Use at most this many examples (after `offset`).
    pub limit: Option<usize>,
    /// Skip this many examples first.
    pub offset: usize,
    /// Integer pixels are mapped to `[0, pixel_max]` (byte / 255 *
    /// pixel_max); float arrays are used as stored.
    pub pixel_max: f64,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, Serialize)]
pub enum DataKind {
    /// A directory holding the four MNIST IDX files (gzipped or not).
    MnistIdx { dir: String, split: Split },
    /// An IDX images file and an IDX labels file.
    Idx { images: String, labels: String },
    /// Arrays `x` (examples first) and `y` (integer labels) of an `.npz`.
    /// `y: None` (`npz(..., y=none)`) is unlabelled data.
    Npz {
        path: String,
        x: String,
        y: Option<String>,
    },
    /// An `.npy` of examples (examples first) and, unless the data is
    /// unlabelled, an `.npy` of labels.
    Npy { x: String, labels: Option<String> },
}

impl DataKind {
    /// Whether the source has labels (`npy(...)` without `labels=` and
    /// `npz(..., y=none)` have none): runs of unlabelled data predict
    /// without an accuracy.
    pub fn labelled(&self) -> bool {
        !matches!(
            self,
            DataKind::Npy { labels: None, .. } | DataKind::Npz { y: None, .. }
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Split {
    Train,
    Test,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Precision {
    F32,
    F64,
}

// ---------------------------------------------------------------- runs ----

#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub name: Option<String>,
    /// Index into [`Program::models`].
    pub model: usize,
    /// Params `.npz`, relative to the spec's directory.
    pub params: Option<String>,
    /// Where `params` is written (its value), so that a params file that
    /// does not fit the network is reported there; empty without `params`.
    #[serde(skip)]
    pub params_span: Span,
    pub data: DataSource,
    /// Where the run's length is set: its `present` (or `steps`) line, or
    /// the block's header when neither is written.
    #[serde(skip)]
    pub steps_span: Span,
    pub dt: f64,
    /// Steps each input is held for (`present / dt`).
    pub steps: usize,
    pub precision: Precision,
    /// Inputs simulated together; each starts from the initial state.
    pub batch: usize,
    /// Seeds what a run draws: uniform initial voltages without their own
    /// seed.
    pub seed: u64,
    /// Every probe of the spec whose target exists in this run's network.
    pub probes: Vec<BoundProbe>,
    pub report: Report,
    #[serde(skip)]
    pub span: Span,
}

/// `report = accuracy(pred, at=last)`: argmax of a probe against labels.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Index into [`Run::probes`].
    pub probe: usize,
    pub at: ReadAt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ReadAt {
    Last,
    /// 1-based step.
    Step(usize),
}

// ------------------------------------------------------------- training ----

#[derive(Clone, Debug, Serialize)]
pub struct Train {
    pub name: Option<String>,
    /// Index into [`Program::models`]: trained in rate mode (every spiking
    /// neuron replaced by its rate equivalent).
    pub model: usize,
    pub data: DataSource,
    pub optimizer: Optimizer,
    /// How the learning rate changes over the training steps.
    pub schedule: Schedule,
    pub losses: Vec<Loss>,
    pub epochs: usize,
    pub batch: usize,
    pub validation_split: f64,
    /// Save the params of the epoch with the best validation accuracy
    /// (`keep = best`, Keras' `restore_best_weights`) instead of the last.
    pub keep_best: bool,
    pub seed: u64,
    /// Where the params `.npz` is written, relative to the spec's directory.
    pub save: String,
    /// Params `.npz` training starts from (fine-tuning), relative to the
    /// spec's directory; `None` starts from Glorot initialisation.
    pub init: Option<String>,
    /// The probes the losses read, bound to the trained network.
    pub probes: Vec<BoundProbe>,
    #[serde(skip)]
    pub span: Span,
}

/// A learning-rate schedule over all the steps of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Schedule {
    /// The optimizer's `lr` throughout.
    Constant,
    /// Keras' `CosineDecay(lr, decay_steps = all steps, alpha = 0)`: step
    /// `t` of `T` uses `lr * (1 + cos(pi * t / T)) / 2`.
    Cosine,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Optimizer {
    Rmsprop {
        lr: f64,
        rho: f64,
        epsilon: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        epsilon: f64,
    },
    Sgd {
        lr: f64,
        momentum: f64,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Loss {
    /// Index into [`Train::probes`].
    pub probe: usize,
    pub kind: LossKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum LossKind {
    /// Against integer labels, from logits.
    SparseCategoricalCrossentropy,
    /// Against one-hot labels.
    MeanSquaredError,
    /// `weight * mean over neurons and images of the distance (Hz) outside
    /// [min, max]`.
    RateInRange { min: f64, max: f64, weight: f64 },
    /// `weight * mean over neurons and images of (rate - target)^2` (Hz),
    /// NengoDL's keras-to-snn firing-rate regulariser (an `mse` against a
    /// constant target rate, with a loss weight).
    RateMse { target: f64, weight: f64 },
}

impl LossKind {
    /// Whether the loss compares against the labels (otherwise it reads
    /// only firing rates).
    pub fn reads_labels(self) -> bool {
        match self {
            LossKind::SparseCategoricalCrossentropy | LossKind::MeanSquaredError => true,
            LossKind::RateInRange { .. } | LossKind::RateMse { .. } => false,
        }
    }
}

/// The readable dump behind `snnc check --emit ir`.
pub fn to_ron(program: &Program) -> Result<String, ron::Error> {
    let config = ron::ser::PrettyConfig::new()
        .depth_limit(6)
        .struct_names(true);
    ron::ser::to_string_pretty(program, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output length, padding before and after along the first axis.
    fn axis(n: usize, k: usize, s: usize, padding: Padding) -> Option<(usize, usize, usize)> {
        Window::resolve([n, 1, 1], [k, 1], [s, 1], padding, 1)
            .map(|w| (w.output[0], w.pad_before[0], w.pad_after[0]))
    }

    #[test]
    fn windows_follow_tensorflow() {
        assert_eq!(axis(6, 3, 1, Padding::Valid), Some((4, 0, 0)));
        assert_eq!(axis(5, 2, 2, Padding::Valid), Some((2, 0, 0)));
        assert_eq!(axis(2, 3, 1, Padding::Valid), None);
        assert_eq!(axis(4, 3, 2, Padding::Same), Some((2, 0, 1))); // total 1
        assert_eq!(axis(5, 4, 2, Padding::Same), Some((3, 1, 2))); // total 3
        assert_eq!(axis(28, 3, 1, Padding::Same), Some((28, 1, 1)));
        assert_eq!(axis(5, 1, 3, Padding::Same), Some((2, 0, 0)));
        assert_eq!(axis(5, 3, 0, Padding::Same), None);
        assert_eq!(axis(0, 1, 1, Padding::Valid), None);
    }

    #[test]
    fn taps_in_the_padding_read_nothing() {
        let w = Window::resolve([5, 5, 1], [4, 4], [2, 2], Padding::Same, 1).unwrap();
        assert_eq!(w.tap(0, 0, 0), None); // row -1
        assert_eq!(w.tap(0, 0, 1), Some(0));
        assert_eq!(w.tap(0, 2, 2), None); // row 5
        assert_eq!(w.tap(0, 2, 1), Some(4));
    }
}
