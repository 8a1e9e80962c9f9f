//! The reference interpreter: the executable definition of snnc's timestep
//! semantics (Nengo 4.1's reference simulator on a converted network; see
//! `design/semantics.md`).
//!
//! It is deliberately plain (loops over slices, one node after another) so
//! that it is obviously right; every faster engine is tested against it.
//! It consumes only the IR ([`Network`], [`Model`], [`BoundProbe`]) and
//! the params, and never allocates inside the step loop.
//!
//! One step k (1-based, t = k*dt), nodes in network (topological) order:
//! - an input node outputs its input row for step k;
//! - a flatten node is a view of its input (no state, no synapse);
//! - any other node sums what each input connection delivers, plus its bias
//!   connection: a connection's weighted value `u` is its transform applied
//!   to the source's output *of this step*; without a synapse the node gets
//!   `u`, with one it gets the filter output as of the end of step k-1, and
//!   then the filter takes in `u` ([`synapses::deliver`]). With a neuron,
//!   `J = scale * sum` and the output is `neuron(J)` with amplitude/scale;
//!   without one the output is the sum itself (never scaled);
//! - then each probe records its node's output (through its own filter with
//!   the same one-step delay when it has a synapse) at the steps where
//!   `k % every == 0`.

pub mod layers;
pub mod neurons;
pub mod real;
pub mod synapses;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use snnc_compiler::ir::{BoundProbe, InitialVoltage, Model, Network, NodeId, Op, Padding, Synapse};

use layers::{Conv2dGeom, PoolGeom};
use neurons::{NeuronState, Neurons};
pub use real::Real;
use synapses::{deliver, Filter};

/// The parameter tensors of one network node, flat in Keras layout (dense
/// kernel `[in, out]`, conv kernel HWIO, bias per unit or per filter). An
/// empty `Vec` means the node has no such tensor (a dense layer without
/// bias, or any op without weights).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeParams<T> {
    pub kernel: Vec<T>,
    pub bias: Vec<T>,
}

/// The values of one input node over a run (flat, in the node's C order).
#[derive(Clone, Copy, Debug)]
pub enum InputSeq<'a, T> {
    /// The node's `n` values, the same in every step (an image presented
    /// for the whole run).
    Held(&'a [T]),
    /// `steps * n` values: row k-1 is used in step k.
    PerStep(&'a [T]),
}

impl<T> InputSeq<'_, T> {
    /// The row used in 0-based step `k`; lengths are checked up front.
    fn row(&self, k: usize, n: usize) -> &[T] {
        match self {
            InputSeq::Held(x) => x,
            InputSeq::PerStep(x) => &x[k * n..(k + 1) * n],
        }
    }
}

/// Time step and run length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimConfig {
    /// Seconds per step.
    pub dt: f64,
    /// Number of steps simulated.
    pub steps: usize,
}

/// What one run recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOutput<T> {
    /// One per [`BoundProbe`], in order: `rows * size` values, row-major,
    /// where `size` is the probed node's size and `rows = steps / every`
    /// (row r is step `(r+1)*every`).
    pub probes: Vec<Vec<T>>,
    /// One per network node: the total number of spikes of each neuron over
    /// the run; empty for nodes without spiking neurons.
    pub spike_counts: Vec<Vec<u32>>,
}

/// An IR, params, inputs or probes that do not fit together. The checker
/// and the params loader should make these impossible; the interpreter
/// still refuses them instead of indexing out of bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    pub message: String,
}

impl SimError {
    fn new(message: impl Into<String>) -> Self {
        SimError {
            message: message.into(),
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SimError {}

/// Simulates `model` of `net` for `cfg.steps` steps from the initial state.
///
/// `params` has one entry per network node; `inputs` one per input node, in
/// node order. Returns what `probes` recorded and the spike counts.
pub fn simulate<T: Real>(
    net: &Network,
    model: &Model,
    params: &[NodeParams<T>],
    inputs: &[InputSeq<T>],
    probes: &[BoundProbe],
    cfg: &SimConfig,
) -> Result<SimOutput<T>, SimError> {
    Simulation::new(net, model, params, probes, cfg)?.run(inputs)
}

/// Simulates many independent examples of a single-input network, each held
/// for the whole run and each from the initial state, spread over the
/// machine's cores. Results are in input order.
///
/// `progress` is called (from worker threads) with the number of examples
/// finished so far, once per finished example.
pub fn simulate_batch<T: Real, I: AsRef<[T]> + Sync>(
    net: &Network,
    model: &Model,
    params: &[NodeParams<T>],
    inputs: &[I],
    probes: &[BoundProbe],
    cfg: &SimConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<SimOutput<T>>, SimError> {
    let sim = Simulation::new(net, model, params, probes, cfg)?;
    if sim.input_sizes.len() != 1 {
        return Err(SimError::new(format!(
            "a batch needs a network with exactly one input node, '{}' has {}",
            net.name,
            sim.input_sizes.len()
        )));
    }
    for (e, x) in inputs.iter().enumerate() {
        sim.check_inputs(&[InputSeq::Held(x.as_ref())])
            .map_err(|err| SimError::new(format!("example {e}: {err}")))?;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(inputs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(inputs.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut state = State::new(&sim);
                let mut mine = Vec::new();
                loop {
                    let e = next.fetch_add(1, Ordering::Relaxed);
                    let Some(x) = inputs.get(e) else {
                        break;
                    };
                    mine.push((e, sim.run_with(&mut state, &[InputSeq::Held(x.as_ref())])));
                    progress(finished.fetch_add(1, Ordering::Relaxed) + 1);
                }
                // A poisoned lock means another worker panicked, which the
                // scope re-raises anyway; keep what we have either way.
                let mut all = results.lock().unwrap_or_else(|p| p.into_inner());
                all.append(&mut mine);
            });
        }
    });
    let mut all = results.into_inner().unwrap_or_else(|p| p.into_inner());
    all.sort_by_key(|(e, _)| *e);
    Ok(all.into_iter().map(|(_, out)| out).collect())
}

/// A checked, ready-to-run plan: the network with its params bound and its
/// coefficients computed once. Runs share it; each run gets fresh state.
pub struct Simulation<'a, T> {
    nodes: Vec<NodePlan<'a, T>>,
    probes: Vec<ProbePlan>,
    /// Size of each input node, in node order.
    input_sizes: Vec<usize>,
    dt: f64,
    steps: usize,
}

struct NodePlan<'a, T> {
    size: usize,
    kind: NodeKind<'a, T>,
}

enum NodeKind<'a, T> {
    /// Outputs row k of input `index` (counted over input nodes).
    Input { index: usize },
    /// A flatten: reads go to the node that owns the values.
    View,
    Compute {
        edges: Vec<Edge<'a, T>>,
        bias: Option<Bias<T>>,
        neurons: Option<Neurons<T>>,
        scale: T,
        /// Voltages at t = 0 (spiking neurons; empty otherwise).
        initial_v: Vec<T>,
    },
}

/// One input connection of a node.
struct Edge<'a, T> {
    /// The node whose buffer holds the source values (flatten resolved).
    src: NodeId,
    transform: Transform<'a, T>,
    synapse: Synapse,
}

enum Transform<'a, T> {
    Dense { kernel: &'a [T] },
    Conv2d { geom: Conv2dGeom, kernel: &'a [T] },
    AvgPool(PoolGeom),
    MaxPool(PoolGeom),
    Identity,
}

impl<T: Real> Transform<'_, T> {
    fn apply(&self, x: &[T], u: &mut [T]) {
        match self {
            Transform::Dense { kernel } => layers::dense(x, kernel, u),
            Transform::Conv2d { geom, kernel } => layers::conv2d(geom, x, kernel, u),
            Transform::AvgPool(geom) => layers::avg_pool(geom, x, u),
            Transform::MaxPool(geom) => layers::max_pool(geom, x, u),
            Transform::Identity => layers::identity(x, u),
        }
    }
}

/// The bias connection: a constant vector (the conv bias already expanded
/// to every position) through its own synapse.
struct Bias<T> {
    values: Vec<T>,
    synapse: Synapse,
}

struct ProbePlan {
    /// The node whose buffer holds the probed values (flatten resolved).
    src: NodeId,
    size: usize,
    synapse: Synapse,
    every: usize,
    rows: usize,
}

/// Everything a run mutates; allocated once and reset per example.
struct State<T> {
    /// Per node; empty for flatten views.
    outputs: Vec<Vec<T>>,
    neurons: Vec<NeuronState<T>>,
    /// Per node, per input connection.
    edge_filters: Vec<Vec<Option<Filter<T>>>>,
    bias_filters: Vec<Option<Filter<T>>>,
    probe_filters: Vec<Option<Filter<T>>>,
    /// Scratch: one connection's weighted value.
    u: Vec<T>,
    /// Scratch: a node's summed input current.
    j: Vec<T>,
}

impl<'a, T: Real> Simulation<'a, T> {
    /// Checks that the network, model, params and probes fit together and
    /// prepares the per-node plan.
    pub fn new(
        net: &Network,
        model: &Model,
        params: &'a [NodeParams<T>],
        probes: &[BoundProbe],
        cfg: &SimConfig,
    ) -> Result<Self, SimError> {
        if !(cfg.dt.is_finite() && cfg.dt > 0.0) {
            return Err(SimError::new(format!("dt must be positive, got {}", cfg.dt)));
        }
        let n_nodes = net.nodes.len();
        if model.nodes.len() != n_nodes {
            return Err(SimError::new(format!(
                "model '{}' has settings for {} nodes but network '{}' has {n_nodes}",
                model.name,
                model.nodes.len(),
                net.name
            )));
        }
        if params.len() != n_nodes {
            return Err(SimError::new(format!(
                "got params for {} nodes but network '{}' has {n_nodes}",
                params.len(),
                net.name
            )));
        }
        let mut storage: Vec<NodeId> = Vec::with_capacity(n_nodes);
        let mut nodes = Vec::with_capacity(n_nodes);
        let mut input_sizes = Vec::new();
        for (i, ((node, settings), p)) in net.nodes.iter().zip(&model.nodes).zip(params).enumerate() {
            let err = |msg: String| SimError::new(format!("node '{}': {msg}", node.name));
            if let Some(&bad) = node.inputs.iter().find(|&&s| s >= i) {
                return Err(err(format!(
                    "reads node #{bad}, which does not come before it (nodes must be in topological order)"
                )));
            }
            let size = node.size();
            let n_in = node.inputs.len();
            let in_size = |e: usize| net.nodes[node.inputs[e]].size();
            let wants_inputs = |n: usize| {
                if n_in == n {
                    Ok(())
                } else {
                    Err(err(format!("expects {n} input(s), has {n_in}")))
                }
            };
            let no_neuron = || match settings.neuron {
                Some(nr) => Err(err(format!("a {:?} node cannot have a neuron ({})", node.op, nr.name()))),
                None => Ok(()),
            };
            let no_params = || {
                if p.kernel.is_empty() && p.bias.is_empty() {
                    Ok(())
                } else {
                    Err(err(format!("a {:?} node has no params, but some were given", node.op)))
                }
            };
            if !matches!(node.op, Op::Input | Op::Flatten) && settings.input_synapses.len() != n_in {
                return Err(err(format!(
                    "has {n_in} inputs but {} input synapses",
                    settings.input_synapses.len()
                )));
            }
            // The op's transform per input connection, and the bias vector.
            let (transforms, bias): (Vec<Transform<'a, T>>, Vec<T>) = match node.op {
                Op::Input => {
                    wants_inputs(0)?;
                    no_neuron()?;
                    no_params()?;
                    storage.push(i);
                    nodes.push(NodePlan {
                        size,
                        kind: NodeKind::Input {
                            index: input_sizes.len(),
                        },
                    });
                    input_sizes.push(size);
                    continue;
                }
                Op::Flatten => {
                    wants_inputs(1)?;
                    no_neuron()?;
                    no_params()?;
                    if in_size(0) != size {
                        return Err(err(format!("flattens {} values into {size}", in_size(0))));
                    }
                    storage.push(storage[node.inputs[0]]);
                    nodes.push(NodePlan {
                        size,
                        kind: NodeKind::View,
                    });
                    continue;
                }
                Op::Dense { units } => {
                    wants_inputs(1)?;
                    if units != size {
                        return Err(err(format!("has {units} units but shape {:?}", node.shape)));
                    }
                    if p.kernel.len() != in_size(0) * units {
                        return Err(err(format!(
                            "dense kernel needs {} x {units} = {} values, got {}",
                            in_size(0),
                            in_size(0) * units,
                            p.kernel.len()
                        )));
                    }
                    if !p.bias.is_empty() && p.bias.len() != units {
                        return Err(err(format!("bias needs {units} values, got {}", p.bias.len())));
                    }
                    (vec![Transform::Dense { kernel: &p.kernel }], p.bias.clone())
                }
                Op::Conv2d {
                    filters,
                    kernel,
                    strides,
                    padding,
                    pad,
                } => {
                    wants_inputs(1)?;
                    let input = image_shape(&net.nodes[node.inputs[0]].shape)
                        .ok_or_else(|| err("the input of a conv must be an image [h, w, c]".into()))?;
                    let output = image_shape(&node.shape)
                        .ok_or_else(|| err("a conv's shape must be [h, w, filters]".into()))?;
                    let expect = |axis: usize| layers::conv_axis(input[axis], kernel[axis], strides[axis], padding);
                    let want = match (expect(0), expect(1)) {
                        (Some((h, ph)), Some((w, pw))) => ([h, w, filters], [ph, pw]),
                        _ => {
                            return Err(err(format!(
                                "a {kernel:?} kernel with strides {strides:?} does not fit a {input:?} input"
                            )))
                        }
                    };
                    if (output, pad) != want {
                        return Err(err(format!(
                            "conv shape {output:?} with padding before {pad:?}, but {padding:?} padding gives {:?} with {:?}",
                            want.0, want.1
                        )));
                    }
                    let geom = Conv2dGeom {
                        input,
                        output,
                        kernel,
                        strides,
                        pad,
                    };
                    if p.kernel.len() != geom.kernel_len() {
                        return Err(err(format!(
                            "conv kernel needs {} values ({:?}), got {}",
                            geom.kernel_len(),
                            [kernel[0], kernel[1], input[2], filters],
                            p.kernel.len()
                        )));
                    }
                    if !p.bias.is_empty() && p.bias.len() != filters {
                        return Err(err(format!("bias needs {filters} values, got {}", p.bias.len())));
                    }
                    let bias = if p.bias.is_empty() {
                        Vec::new()
                    } else {
                        layers::conv_bias(&p.bias, output[0] * output[1])
                    };
                    (
                        vec![Transform::Conv2d {
                            geom,
                            kernel: &p.kernel,
                        }],
                        bias,
                    )
                }
                Op::AvgPool { pool, strides } | Op::MaxPool { pool, strides } => {
                    wants_inputs(1)?;
                    no_params()?;
                    let input = image_shape(&net.nodes[node.inputs[0]].shape)
                        .ok_or_else(|| err("the input of a pooling must be an image [h, w, c]".into()))?;
                    let output = image_shape(&node.shape)
                        .ok_or_else(|| err("a pooling's shape must be [h, w, c]".into()))?;
                    let axis = |a: usize| layers::conv_axis(input[a], pool[a], strides[a], Padding::Valid);
                    let want = match (axis(0), axis(1)) {
                        (Some((h, _)), Some((w, _))) => [h, w, input[2]],
                        _ => {
                            return Err(err(format!(
                                "a {pool:?} window with strides {strides:?} does not fit a {input:?} input"
                            )))
                        }
                    };
                    if output != want {
                        return Err(err(format!("pooling shape {output:?}, but 'valid' pooling gives {want:?}")));
                    }
                    let geom = PoolGeom {
                        input,
                        output,
                        pool,
                        strides,
                    };
                    let t = if matches!(node.op, Op::AvgPool { .. }) {
                        Transform::AvgPool(geom)
                    } else {
                        Transform::MaxPool(geom)
                    };
                    (vec![t], Vec::new())
                }
                Op::Activation | Op::Add => {
                    if matches!(node.op, Op::Activation) {
                        wants_inputs(1)?;
                    } else if n_in == 0 {
                        return Err(err("an add needs at least one input".into()));
                    }
                    no_params()?;
                    if let Some(e) = (0..n_in).find(|&e| in_size(e) != size) {
                        return Err(err(format!("input {e} has {} values, the node {size}", in_size(e))));
                    }
                    ((0..n_in).map(|_| Transform::Identity).collect(), Vec::new())
                }
            };
            let edges = transforms
                .into_iter()
                .zip(&node.inputs)
                .zip(&settings.input_synapses)
                .map(|((transform, &src), &synapse)| Edge {
                    src: storage[src],
                    transform,
                    synapse,
                })
                .collect();
            let neurons = settings
                .neuron
                .map(|nr| Neurons::<T>::new(nr, settings.scale, cfg.dt));
            let initial_v = match (neurons.as_ref().is_some_and(Neurons::is_spiking), model.initial_voltage) {
                (true, InitialVoltage::Uniform { seed }) => neurons::uniform_voltages(seed, i, size)
                    .into_iter()
                    .map(T::from_f64)
                    .collect(),
                _ => Vec::new(),
            };
            storage.push(i);
            nodes.push(NodePlan {
                size,
                kind: NodeKind::Compute {
                    edges,
                    bias: (!bias.is_empty()).then_some(Bias {
                        values: bias,
                        synapse: settings.bias_synapse,
                    }),
                    neurons,
                    scale: T::from_f64(settings.scale),
                    initial_v,
                },
            });
        }
        let probes = probes
            .iter()
            .map(|p| {
                let node = net.nodes.get(p.node).ok_or_else(|| {
                    SimError::new(format!("probe '{}' targets node #{}, which does not exist", p.name, p.node))
                })?;
                if p.every == 0 {
                    return Err(SimError::new(format!("probe '{}' samples every 0 steps", p.name)));
                }
                Ok(ProbePlan {
                    src: storage[p.node],
                    size: node.size(),
                    synapse: p.synapse,
                    every: p.every,
                    rows: cfg.steps / p.every,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Simulation {
            nodes,
            probes,
            input_sizes,
            dt: cfg.dt,
            steps: cfg.steps,
        })
    }

    /// Runs one example from the initial state.
    pub fn run(&self, inputs: &[InputSeq<T>]) -> Result<SimOutput<T>, SimError> {
        self.check_inputs(inputs)?;
        Ok(self.run_with(&mut State::new(self), inputs))
    }

    fn check_inputs(&self, inputs: &[InputSeq<T>]) -> Result<(), SimError> {
        if inputs.len() != self.input_sizes.len() {
            return Err(SimError::new(format!(
                "the network has {} input node(s) but {} input(s) were given",
                self.input_sizes.len(),
                inputs.len()
            )));
        }
        for (e, (input, &n)) in inputs.iter().zip(&self.input_sizes).enumerate() {
            let (got, want) = match input {
                InputSeq::Held(x) => (x.len(), Some(n)),
                InputSeq::PerStep(x) => (x.len(), n.checked_mul(self.steps)),
            };
            if Some(got) != want {
                return Err(SimError::new(format!(
                    "input {e} has {got} values, expected {} ({} per step)",
                    want.map_or("too many".to_string(), |w| w.to_string()),
                    n
                )));
            }
        }
        Ok(())
    }

    /// The step loop. `inputs` must have passed [`Self::check_inputs`].
    fn run_with(&self, state: &mut State<T>, inputs: &[InputSeq<T>]) -> SimOutput<T> {
        state.reset(self);
        let mut probes_out: Vec<Vec<T>> = self
            .probes
            .iter()
            .map(|p| vec![T::zero(); p.rows * p.size])
            .collect();
        let State {
            outputs,
            neurons: neuron_states,
            edge_filters,
            bias_filters,
            probe_filters,
            u,
            j,
        } = state;
        for k in 1..=self.steps {
            for (i, node) in self.nodes.iter().enumerate() {
                let n = node.size;
                let (before, rest) = outputs.split_at_mut(i);
                let Some(out) = rest.first_mut() else {
                    continue;
                };
                match &node.kind {
                    NodeKind::Input { index } => {
                        if let Some(input) = inputs.get(*index) {
                            out.copy_from_slice(input.row(k - 1, n));
                        }
                    }
                    NodeKind::View => {}
                    NodeKind::Compute {
                        edges,
                        bias,
                        neurons,
                        scale,
                        ..
                    } => {
                        let (u, j) = (&mut u[..n], &mut j[..n]);
                        j.fill(T::zero());
                        for (edge, filter) in edges.iter().zip(&mut edge_filters[i]) {
                            // Sources come before this node (checked), and
                            // this step's source outputs are already there.
                            edge.transform.apply(&before[edge.src], u);
                            deliver(filter.as_mut(), u, j);
                        }
                        if let Some(bias) = bias {
                            deliver(bias_filters[i].as_mut(), &bias.values, j);
                        }
                        match neurons {
                            Some(neurons) => {
                                for x in j.iter_mut() {
                                    *x = *scale * *x;
                                }
                                neurons.step(j, &mut neuron_states[i], out);
                            }
                            None => out.copy_from_slice(j),
                        }
                    }
                }
            }
            for ((probe, filter), rec) in self.probes.iter().zip(probe_filters.iter_mut()).zip(&mut probes_out) {
                let x = &outputs[probe.src];
                let row = (k % probe.every == 0).then(|| {
                    let r = k / probe.every - 1;
                    &mut rec[r * probe.size..(r + 1) * probe.size]
                });
                match filter {
                    None => {
                        if let Some(row) = row {
                            row.copy_from_slice(x);
                        }
                    }
                    Some(filter) => {
                        // Like a connection: read last step's output, then update.
                        if let Some(row) = row {
                            row.copy_from_slice(filter.output());
                        }
                        filter.update(x);
                    }
                }
            }
        }
        let spike_counts = self
            .nodes
            .iter()
            .zip(neuron_states.iter())
            .map(|(node, st)| match &node.kind {
                NodeKind::Compute {
                    neurons: Some(nr), ..
                } if nr.is_spiking() => st.counts.clone(),
                _ => Vec::new(),
            })
            .collect();
        SimOutput {
            probes: probes_out,
            spike_counts,
        }
    }
}

impl<T: Real> State<T> {
    fn new(sim: &Simulation<'_, T>) -> Self {
        let dt = sim.dt;
        let mut st = State {
            outputs: Vec::with_capacity(sim.nodes.len()),
            neurons: Vec::with_capacity(sim.nodes.len()),
            edge_filters: Vec::with_capacity(sim.nodes.len()),
            bias_filters: Vec::with_capacity(sim.nodes.len()),
            probe_filters: Vec::with_capacity(sim.probes.len()),
            u: Vec::new(),
            j: Vec::new(),
        };
        let mut max = 0;
        for node in &sim.nodes {
            let n = node.size;
            match &node.kind {
                NodeKind::View => {
                    st.outputs.push(Vec::new());
                    st.neurons.push(NeuronState::default());
                    st.edge_filters.push(Vec::new());
                    st.bias_filters.push(None);
                }
                NodeKind::Input { .. } => {
                    st.outputs.push(vec![T::zero(); n]);
                    st.neurons.push(NeuronState::default());
                    st.edge_filters.push(Vec::new());
                    st.bias_filters.push(None);
                }
                NodeKind::Compute {
                    edges, bias, neurons, ..
                } => {
                    max = max.max(n);
                    st.outputs.push(vec![T::zero(); n]);
                    st.neurons.push(neurons.as_ref().map_or_else(NeuronState::default, |nr| NeuronState::new(nr, n)));
                    st.edge_filters.push(edges.iter().map(|e| Filter::new(e.synapse, dt, n)).collect());
                    st.bias_filters.push(bias.as_ref().and_then(|b| Filter::new(b.synapse, dt, n)));
                }
            }
        }
        st.probe_filters = sim.probes.iter().map(|p| Filter::new(p.synapse, dt, p.size)).collect();
        st.u = vec![T::zero(); max];
        st.j = vec![T::zero(); max];
        st
    }

    /// Back to t = 0: outputs, filters and refractory times 0, voltages at
    /// their initial values.
    fn reset(&mut self, sim: &Simulation<'_, T>) {
        for out in &mut self.outputs {
            out.fill(T::zero());
        }
        for (node, st) in sim.nodes.iter().zip(&mut self.neurons) {
            let initial_v: &[T] = match &node.kind {
                NodeKind::Compute { initial_v, .. } => initial_v,
                _ => &[],
            };
            st.reset(initial_v);
        }
        let filters = self
            .edge_filters
            .iter_mut()
            .flatten()
            .chain(&mut self.bias_filters)
            .chain(&mut self.probe_filters);
        for f in filters.flatten() {
            f.reset();
        }
    }
}

/// `[h, w, c]` of an image shape.
fn image_shape(shape: &[usize]) -> Option<[usize; 3]> {
    match *shape {
        [h, w, c] => Some([h, w, c]),
        _ => None,
    }
}
