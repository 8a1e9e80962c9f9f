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
pub mod synapses;

use snnc_compiler::ir::{BoundProbe, Model, Network, Node, NodeId, Op, Role, Synapse};

use crate::engine::{
    check_batch, check_inputs, probe_rows, validate, Counts, Engine, EngineKind, InputSeq,
    NodeParams, Real, SimConfig, SimError, SimOutput, SpikeSummary,
};
use neurons::{NeuronState, Neurons};
use synapses::{deliver, Filter};

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
    simulate_batch_seq(net, model, params, inputs, false, probes, cfg, progress)
}

/// [`simulate_batch`], with each example either held (`per_step` false) or
/// a row per step (`steps * n` values, row k-1 fed in step k, as NengoDL
/// feeds `(batch, steps, features)` inputs).
#[allow(clippy::too_many_arguments)]
pub fn simulate_batch_seq<T: Real, I: AsRef<[T]> + Sync>(
    net: &Network,
    model: &Model,
    params: &[NodeParams<T>],
    inputs: &[I],
    per_step: bool,
    probes: &[BoundProbe],
    cfg: &SimConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<SimOutput<T>>, SimError> {
    let sim = Simulation::new(net, model, params, probes, cfg)?;
    let examples: Vec<InputSeq<T>> = inputs
        .iter()
        .map(|x| InputSeq::new(x.as_ref(), per_step))
        .collect();
    sim.run_batch(&examples, progress)
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

/// The op of the node a connection feeds, with the node's kernel.
struct Transform<'a, T> {
    op: Op,
    kernel: &'a [T],
}

impl<T: Real> Transform<'_, T> {
    fn apply(&self, x: &[T], u: &mut [T]) {
        layers::apply(&self.op, self.kernel, x, u);
    }
}

/// The bias connection: a constant vector (the conv bias already expanded
/// to every position) through its own synapse.
struct Bias<T> {
    values: Vec<T>,
    /// The bias path's filter: the relay's synapse and the bias synapse
    /// in series (`Coefs::chain`), `None` when neither filters.
    coefs: Option<synapses::Coefs<T>>,
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
    /// Checks that the network, model, params and probes fit together
    /// ([`validate`]) and prepares the per-node plan.
    pub fn new(
        net: &Network,
        model: &Model,
        params: &'a [NodeParams<T>],
        probes: &[BoundProbe],
        cfg: &SimConfig,
    ) -> Result<Self, SimError> {
        validate(net, model, params, probes, cfg)?;
        let n_nodes = net.nodes.len();
        let mut storage: Vec<NodeId> = Vec::with_capacity(n_nodes);
        let mut nodes = Vec::with_capacity(n_nodes);
        let mut input_sizes = Vec::new();
        for (i, ((node, settings), p)) in net.nodes.iter().zip(&model.nodes).zip(params).enumerate()
        {
            let size = node.size();
            match node.op.role() {
                Role::Input => {
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
                Role::View => {
                    storage.push(storage[node.inputs[0]]);
                    nodes.push(NodePlan {
                        size,
                        kind: NodeKind::View,
                    });
                    continue;
                }
                Role::Compute => {}
            }
            let (transforms, bias) = plan_op(node, p);
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
            let initial_v = match (
                neurons.as_ref().is_some_and(Neurons::is_spiking),
                model.initial_voltage.uniform_seed(cfg.seed),
            ) {
                (true, Some(seed)) => neurons::uniform_voltages(seed, i, size)
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
                    bias: match bias.is_empty() {
                        true => None,
                        false => Some(Bias {
                            values: bias,
                            // `validate` refused a pair that cannot chain.
                            coefs: synapses::Coefs::chain(
                                settings.bias_relay_synapse,
                                settings.bias_synapse,
                                cfg.dt,
                            )
                            .ok()
                            .flatten(),
                        }),
                    },
                    neurons,
                    scale: T::from_f64(settings.scale),
                    initial_v,
                },
            });
        }
        let probes = probes
            .iter()
            .map(|p| ProbePlan {
                src: storage[p.node],
                size: net.nodes[p.node].size(),
                synapse: p.synapse,
                every: p.every,
                rows: cfg.steps / p.every,
            })
            .collect();
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
        check_inputs(&self.input_sizes, self.steps, inputs)?;
        Ok(self.run_with(&mut State::new(self), inputs, Counts::PerNeuron))
    }

    /// The step loop. `inputs` must have passed [`check_inputs`].
    fn run_with(&self, state: &mut State<T>, inputs: &[InputSeq<T>], keep: Counts) -> SimOutput<T> {
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
                        // The scale is a gain on every connection into
                        // neurons, as Nengo applies it; linear nodes get 1.
                        let gain = if neurons.is_some() { *scale } else { T::one() };
                        for (edge, filter) in edges.iter().zip(&mut edge_filters[i]) {
                            // Sources come before this node (checked), and
                            // this step's source outputs are already there.
                            edge.transform.apply(&before[edge.src], u);
                            deliver(filter.as_mut(), u, j, gain);
                        }
                        if let Some(bias) = bias {
                            deliver(bias_filters[i].as_mut(), &bias.values, j, gain);
                        }
                        match neurons {
                            Some(neurons) => neurons.step(j, &mut neuron_states[i], out),
                            None => out.copy_from_slice(j),
                        }
                    }
                }
            }
            for ((probe, filter), rec) in self
                .probes
                .iter()
                .zip(probe_filters.iter_mut())
                .zip(&mut probes_out)
            {
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
        fn counts<'s, T: Real>((node, st): (&NodePlan<T>, &'s NeuronState<T>)) -> &'s [u32] {
            match &node.kind {
                NodeKind::Compute {
                    neurons: Some(nr), ..
                } if nr.is_spiking() => &st.counts,
                _ => &[],
            }
        }
        let nodes = || self.nodes.iter().zip(neuron_states.iter());
        let spike_summaries = nodes().map(|n| SpikeSummary::of(counts(n))).collect();
        let spike_counts = match keep {
            Counts::PerNeuron => nodes().map(|n| counts(n).to_vec()).collect(),
            Counts::PerNode => Vec::new(),
        };
        SimOutput {
            probes: probes_out
                .into_iter()
                .zip(&self.probes)
                .map(|(values, p)| probe_rows(values, p.size))
                .collect(),
            spike_counts,
            spike_summaries,
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
                    edges,
                    bias,
                    neurons,
                    ..
                } => {
                    max = max.max(n);
                    st.outputs.push(vec![T::zero(); n]);
                    st.neurons.push(
                        neurons
                            .as_ref()
                            .map_or_else(NeuronState::default, |nr| NeuronState::new(nr, n)),
                    );
                    st.edge_filters.push(
                        edges
                            .iter()
                            .map(|e| Filter::new(e.synapse, dt, n))
                            .collect(),
                    );
                    st.bias_filters
                        .push(bias.as_ref().and_then(|b| Filter::with_coefs(b.coefs?, n)));
                }
            }
        }
        st.probe_filters = sim
            .probes
            .iter()
            .map(|p| Filter::new(p.synapse, dt, p.size))
            .collect();
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

/// The transform of each input connection of a computing node (not an
/// input or flatten), and its bias at every position (empty for none). The
/// node passed [`validate`], so its shapes and params fit.
fn plan_op<'a, T: Real>(node: &Node, p: &'a NodeParams<T>) -> (Vec<Transform<'a, T>>, Vec<T>) {
    let transforms = node
        .inputs
        .iter()
        .map(|_| Transform {
            op: node.op,
            kernel: &p.kernel,
        })
        .collect();
    let positions = layers::bias_positions(node.size(), p.bias.len());
    (transforms, layers::channel_bias(&p.bias, positions))
}

impl<T: Real> Engine<T> for Simulation<'_, T> {
    fn kind(&self) -> EngineKind {
        EngineKind::Reference
    }

    fn run_batch_counting(
        &self,
        examples: &[InputSeq<'_, T>],
        counts: Counts,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<SimOutput<T>>, SimError> {
        check_batch(&self.input_sizes, self.steps, examples)?;
        Ok(crate::parallel::map_in_order(
            examples,
            || State::new(self),
            |state, x| self.run_with(state, std::slice::from_ref(x), counts),
            progress,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_compiler::ir::{
        Activation, InitialVoltage, Neuron, Node, NodeSettings, Padding, Window,
    };
    use snnc_compiler::span::Span;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const DT: f64 = 0.001;

    /// A probe's rows one after the other, as the tests write them.
    fn flat<T: Clone>(rows: &ndarray::Array2<T>) -> Vec<T> {
        rows.iter().cloned().collect()
    }

    const LP0: Synapse = Synapse::Lowpass { tau: 0.0 };

    fn node(name: &str, op: Op, inputs: &[usize], shape: &[usize]) -> Node {
        Node {
            name: name.into(),
            op,
            inputs: inputs.to_vec(),
            shape: shape.to_vec(),
            activation: Activation::Linear,
            params: Vec::new(),
            span: Span::default(),
        }
    }

    fn net(nodes: Vec<Node>) -> Network {
        Network {
            name: "net".into(),
            nodes,
            span: Span::default(),
        }
    }

    fn set(neuron: Option<Neuron>, input_synapses: &[Synapse]) -> NodeSettings {
        NodeSettings {
            neuron,
            scale: 1.0,
            input_synapses: input_synapses.to_vec(),
            bias_synapse: Synapse::None,
            bias_relay_synapse: Synapse::None,
        }
    }

    fn model(nodes: Vec<NodeSettings>) -> Model {
        Model {
            name: "m".into(),
            network: 0,
            converted: true,
            nodes,
            initial_voltage: InitialVoltage::Zero,
            span: Span::default(),
            places: Default::default(),
        }
    }

    fn probe(node: NodeId, synapse: Synapse, every: usize) -> BoundProbe {
        BoundProbe {
            probe: 0,
            name: format!("p{node}"),
            node,
            synapse,
            every,
        }
    }

    fn params(kb: &[(&[f64], &[f64])]) -> Vec<NodeParams<f64>> {
        kb.iter()
            .map(|(k, b)| NodeParams {
                kernel: k.to_vec(),
                bias: b.to_vec(),
            })
            .collect()
    }

    fn cfg(steps: usize) -> SimConfig {
        SimConfig {
            dt: DT,
            steps,
            seed: 0,
        }
    }

    fn ramp(steps: usize) -> Vec<f64> {
        (1..=steps).map(|k| k as f64).collect()
    }

    #[test]
    fn synapse_free_chain_has_no_delay_and_a_synapse_one_step() {
        // input -> dense x2 (no synapse) -> dense x1 through Lowpass(0).
        let n = net(vec![
            node("in", Op::Input, &[], &[1]),
            node("a", Op::Dense { units: 1 }, &[0], &[1]),
            node("b", Op::Dense { units: 1 }, &[1], &[1]),
        ]);
        let m = model(vec![
            set(None, &[]),
            set(None, &[Synapse::None]),
            set(None, &[LP0]),
        ]);
        let p = params(&[(&[], &[]), (&[2.0], &[]), (&[1.0], &[])]);
        let x = ramp(4);
        let probes = [probe(1, Synapse::None, 1), probe(2, Synapse::None, 1)];
        let out = simulate(&n, &m, &p, &[InputSeq::PerStep(&x)], &probes, &cfg(4)).unwrap();
        assert_eq!(flat(&out.probes[0]), vec![2.0, 4.0, 6.0, 8.0]);
        assert_eq!(flat(&out.probes[1]), vec![0.0, 2.0, 4.0, 6.0]);
        assert_eq!(out.spike_counts, vec![Vec::<u32>::new(); 3]);
    }

    #[test]
    fn lowpass_connection_matches_the_semantics_ramp() {
        let n = net(vec![
            node("in", Op::Input, &[], &[1]),
            node("a", Op::Activation, &[0], &[1]),
        ]);
        let m = model(vec![
            set(None, &[]),
            set(None, &[Synapse::Lowpass { tau: 0.005 }]),
        ]);
        let p = params(&[(&[], &[]), (&[], &[])]);
        let x = ramp(3);
        let out = simulate(
            &n,
            &m,
            &p,
            &[InputSeq::PerStep(&x)],
            &[probe(1, Synapse::None, 1)],
            &cfg(3),
        )
        .unwrap();
        let y = &flat(&out.probes[0]);
        assert_eq!(y[0], 0.0);
        assert!(
            (y[1] - 0.18127).abs() < 1e-5 && (y[2] - 0.51095).abs() < 1e-5,
            "{y:?}"
        );
    }

    #[test]
    fn probe_synapse_delays_and_every_subsamples() {
        let n = net(vec![node("in", Op::Input, &[], &[2])]);
        let m = model(vec![set(None, &[])]);
        let p = params(&[(&[], &[])]);
        let x: Vec<f64> = (1..=5).flat_map(|k| [k as f64, -(k as f64)]).collect();
        let probes = [
            probe(0, Synapse::None, 2),
            probe(0, LP0, 2),
            probe(0, LP0, 1),
        ];
        let out = simulate(&n, &m, &p, &[InputSeq::PerStep(&x)], &probes, &cfg(5)).unwrap();
        // every = 2: steps 2 and 4 (5 / 2 = 2 rows).
        assert_eq!(flat(&out.probes[0]), vec![2.0, -2.0, 4.0, -4.0]);
        assert_eq!(flat(&out.probes[1]), vec![1.0, -1.0, 3.0, -3.0]);
        assert_eq!(
            flat(&out.probes[2]),
            vec![0.0, 0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0]
        );
    }

    #[test]
    fn conv_bias_flatten_view_and_dense() {
        // 2x2x1 image -> 1x1 conv, 2 filters, bias -> flatten -> dense sum.
        let n = net(vec![
            node("in", Op::Input, &[], &[2, 2, 1]),
            node(
                "c",
                Op::Conv2d {
                    filters: 2,
                    padding: Padding::Valid,
                    window: Window::resolve([2, 2, 1], [1, 1], [1, 1], Padding::Valid, 2).unwrap(),
                },
                &[0],
                &[2, 2, 2],
            ),
            node("f", Op::Flatten, &[1], &[8]),
            node("d", Op::Dense { units: 1 }, &[2], &[1]),
        ]);
        let m = model(vec![
            set(None, &[]),
            set(None, &[Synapse::None]),
            set(None, &[]),
            set(None, &[Synapse::None]),
        ]);
        let p = params(&[
            (&[], &[]),
            (&[1.0, -1.0], &[10.0, 20.0]),
            (&[], &[]),
            (&[1.0; 8], &[0.5]),
        ]);
        let img = [1.0, 2.0, 3.0, 4.0];
        let probes = [
            probe(1, Synapse::None, 1),
            probe(2, Synapse::None, 1),
            probe(3, Synapse::None, 1),
        ];
        let out = simulate(&n, &m, &p, &[InputSeq::Held(&img)], &probes, &cfg(2)).unwrap();
        let conv = [11.0, 19.0, 12.0, 18.0, 13.0, 17.0, 14.0, 16.0];
        assert_eq!(flat(&out.probes[0])[..8], conv[..]);
        assert_eq!(flat(&out.probes[1])[..8], conv[..], "flatten is a view");
        assert_eq!(flat(&out.probes[2]), vec![120.5, 120.5]);
    }

    #[test]
    fn add_sums_inputs_each_through_its_own_synapse() {
        let n = net(vec![
            node("in", Op::Input, &[], &[1]),
            node("r", Op::Activation, &[0], &[1]),
            node("s", Op::Add, &[0, 1], &[1]),
        ]);
        let relu = Neuron::RectifiedLinear { amplitude: 1.0 };
        let m = model(vec![
            set(None, &[]),
            set(Some(relu), &[Synapse::None]),
            set(None, &[Synapse::None, LP0]),
        ]);
        let p = params(&[(&[], &[]), (&[], &[]), (&[], &[])]);
        let x = [1.0, -2.0, 3.0];
        let out = simulate(
            &n,
            &m,
            &p,
            &[InputSeq::PerStep(&x)],
            &[probe(2, Synapse::None, 1)],
            &cfg(3),
        )
        .unwrap();
        // s_k = x_k + relu(x_{k-1}).
        assert_eq!(flat(&out.probes[0]), vec![1.0, -1.0, 3.0]);
    }

    #[test]
    fn bias_synapse_delays_the_bias() {
        let n = net(vec![
            node("in", Op::Input, &[], &[1]),
            node("d", Op::Dense { units: 1 }, &[0], &[1]),
        ]);
        let mut d = set(None, &[Synapse::None]);
        d.bias_synapse = LP0;
        let m = model(vec![set(None, &[]), d]);
        let p = params(&[(&[], &[]), (&[1.0], &[5.0])]);
        let out = simulate(
            &n,
            &m,
            &p,
            &[InputSeq::Held(&[1.0])],
            &[probe(1, Synapse::None, 1)],
            &cfg(3),
        )
        .unwrap();
        assert_eq!(flat(&out.probes[0]), vec![1.0, 6.0, 6.0]);
    }

    /// NengoDL's conv bias goes through a relay node: with a synapse on
    /// both connections the bias is filtered twice, each filter adding its
    /// step of delay. The chained filter is exactly two filters run in
    /// series, as Nengo runs them.
    #[test]
    fn a_bias_relay_filters_the_bias_twice_in_series() {
        let n = net(vec![
            node("in", Op::Input, &[], &[1]),
            node("d", Op::Dense { units: 1 }, &[0], &[1]),
        ]);
        let (relay, bias) = (
            Synapse::Lowpass { tau: 0.005 },
            Synapse::Lowpass { tau: 0.002 },
        );
        let mut d = set(None, &[Synapse::None]);
        d.bias_relay_synapse = relay;
        d.bias_synapse = bias;
        let m = model(vec![set(None, &[]), d]);
        let p = params(&[(&[], &[]), (&[0.0], &[5.0])]);
        let steps = 12;
        let out = simulate(
            &n,
            &m,
            &p,
            &[InputSeq::Held(&[1.0])],
            &[probe(1, Synapse::None, 1)],
            &cfg(steps),
        )
        .unwrap();
        // Nengo's order: every read, then every filter update.
        let mut into_relay = Filter::<f64>::new(relay, 0.001, 1).unwrap();
        let mut out_of_relay = Filter::<f64>::new(bias, 0.001, 1).unwrap();
        let mut expected = Vec::new();
        for _ in 0..steps {
            expected.push(out_of_relay.output()[0]);
            let relay_value = into_relay.output().to_vec();
            out_of_relay.update(&relay_value);
            into_relay.update(&[5.0]);
        }
        // Two steps of delay, then a rise towards the bias.
        assert_eq!(expected[..2], [0.0, 0.0]);
        assert!(expected[2] > 0.0 && expected[steps - 1] < 5.0);
        assert_eq!(flat(&out.probes[0]), expected);

        // An alpha in the pair would need four states: refused, by name.
        let mut d = set(None, &[Synapse::None]);
        d.bias_relay_synapse = Synapse::Alpha { tau: 0.005 };
        d.bias_synapse = bias;
        let m = model(vec![set(None, &[]), d]);
        let e = simulate(
            &n,
            &m,
            &p,
            &[InputSeq::Held(&[1.0])],
            &[probe(1, Synapse::None, 1)],
            &cfg(steps),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("node 'd'") && e.contains("alpha synapse in series"),
            "{e}"
        );
    }

    #[test]
    fn scale_multiplies_current_and_divides_amplitude() {
        let n = net(vec![
            node("in", Op::Input, &[], &[1]),
            node("s", Op::Dense { units: 1 }, &[0], &[1]),
            node("r", Op::Dense { units: 1 }, &[0], &[1]),
        ]);
        let mut s = set(
            Some(Neuron::SpikingRectifiedLinear { amplitude: 1.0 }),
            &[Synapse::None],
        );
        s.scale = 2.0;
        let mut r = set(
            Some(Neuron::RectifiedLinear { amplitude: 1.0 }),
            &[Synapse::None],
        );
        r.scale = 2.0;
        let m = model(vec![set(None, &[]), s, r]);
        // J = 2*(250 + 0) = 500 Hz: v = 0.5 per step, a spike every other step.
        let p = params(&[(&[], &[]), (&[1.0], &[0.0]), (&[1.0], &[0.0])]);
        let probes = [probe(1, Synapse::None, 1), probe(2, Synapse::None, 1)];
        let out = simulate(&n, &m, &p, &[InputSeq::Held(&[250.0])], &probes, &cfg(4)).unwrap();
        assert_eq!(flat(&out.probes[0]), vec![0.0, 500.0, 0.0, 500.0]);
        assert_eq!(flat(&out.probes[1]), vec![250.0; 4]);
        assert_eq!(out.spike_counts[1], vec![2]);
        assert!(out.spike_counts[2].is_empty());
    }

    #[test]
    fn max_pool_then_filter_and_avg_pool() {
        let n = net(vec![
            node("in", Op::Input, &[], &[2, 2, 1]),
            node(
                "mx",
                Op::MaxPool {
                    window: Window::resolve([2, 2, 1], [2, 2], [2, 2], Padding::Valid, 1).unwrap(),
                },
                &[0],
                &[1, 1, 1],
            ),
            node(
                "av",
                Op::AvgPool {
                    window: Window::resolve([2, 2, 1], [2, 2], [1, 1], Padding::Valid, 1).unwrap(),
                },
                &[0],
                &[1, 1, 1],
            ),
        ]);
        let m = model(vec![
            set(None, &[]),
            set(None, &[LP0]),
            set(None, &[Synapse::None]),
        ]);
        let p = params(&[(&[], &[]), (&[], &[]), (&[], &[])]);
        let x = [1.0, -7.0, 3.0, 2.0, 0.0, 0.0, -1.0, -2.0];
        let probes = [probe(1, Synapse::None, 1), probe(2, Synapse::None, 1)];
        let out = simulate(&n, &m, &p, &[InputSeq::PerStep(&x)], &probes, &cfg(2)).unwrap();
        assert_eq!(flat(&out.probes[0]), vec![0.0, 3.0]);
        assert_eq!(flat(&out.probes[1]), vec![-0.25, -0.75]);
    }

    fn spiking_net(initial_voltage: InitialVoltage) -> (Network, Model, Vec<NodeParams<f64>>) {
        let n = net(vec![
            node("in", Op::Input, &[], &[1]),
            node("s", Op::Dense { units: 64 }, &[0], &[64]),
        ]);
        let mut m = model(vec![
            set(None, &[]),
            set(
                Some(Neuron::SpikingRectifiedLinear { amplitude: 1.0 }),
                &[Synapse::None],
            ),
        ]);
        m.initial_voltage = initial_voltage;
        let k: Vec<f64> = (0..64).map(|i| 100.0 + 10.0 * i as f64).collect();
        let p = vec![
            NodeParams::default(),
            NodeParams {
                kernel: k,
                bias: Vec::new(),
            },
        ];
        (n, m, p)
    }

    #[test]
    fn uniform_initial_voltage_is_seeded_per_node() {
        let (n, m, p) = spiking_net(InitialVoltage::Uniform { seed: Some(42) });
        // J = 500: one step adds 0.5, so a neuron spikes iff v0 >= 0.5.
        let mut p = p;
        p[1].kernel = vec![500.0; 64];
        let out = simulate(&n, &m, &p, &[InputSeq::Held(&[1.0])], &[], &cfg(1)).unwrap();
        let v0 = neurons::uniform_voltages(42, 1, 64);
        let want: Vec<u32> = v0.iter().map(|&v| u32::from(v + 0.5 >= 1.0)).collect();
        assert_eq!(out.spike_counts[1], want);
        assert!(want.contains(&0) && want.contains(&1));
        // The same for every run.
        let again = simulate(&n, &m, &p, &[InputSeq::Held(&[1.0])], &[], &cfg(1)).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn batch_matches_single_runs_in_order() {
        let (n, m, p) = spiking_net(InitialVoltage::Uniform { seed: Some(3) });
        let examples: Vec<Vec<f64>> = (0..7).map(|e| vec![0.5 + e as f64 * 0.37]).collect();
        let probes = [probe(1, Synapse::Lowpass { tau: 0.005 }, 1)];
        let calls = AtomicUsize::new(0);
        let max_seen = AtomicUsize::new(0);
        let progress = |done: usize| {
            calls.fetch_add(1, Ordering::Relaxed);
            max_seen.fetch_max(done, Ordering::Relaxed);
        };
        let batch = simulate_batch(&n, &m, &p, &examples, &probes, &cfg(30), &progress).unwrap();
        assert_eq!(batch.len(), 7);
        for (x, got) in examples.iter().zip(&batch) {
            let single = simulate(&n, &m, &p, &[InputSeq::Held(x)], &probes, &cfg(30)).unwrap();
            assert_eq!(got, &single);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 7);
        assert_eq!(max_seen.load(Ordering::Relaxed), 7);
        let empty: Vec<Vec<f64>> = Vec::new();
        assert!(
            simulate_batch(&n, &m, &p, &empty, &probes, &cfg(30), &|_| {})
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn f32_runs_everything_in_f32() {
        let n = net(vec![
            node("in", Op::Input, &[], &[1]),
            node("a", Op::Activation, &[0], &[1]),
        ]);
        let m = model(vec![
            set(None, &[]),
            set(
                Some(Neuron::SpikingRectifiedLinear { amplitude: 1.0 }),
                &[Synapse::None],
            ),
        ]);
        let p = vec![NodeParams::<f32>::default(), NodeParams::default()];
        // J = 100: f32 fires at step 10, f64 at step 11 (semantics.md §7).
        let out = simulate(
            &n,
            &m,
            &p,
            &[InputSeq::Held(&[100.0f32])],
            &[probe(1, Synapse::None, 1)],
            &cfg(11),
        )
        .unwrap();
        assert_eq!(flat(&out.probes[0])[9], 1000.0);
        let p64 = vec![NodeParams::<f64>::default(), NodeParams::default()];
        let out = simulate(
            &n,
            &m,
            &p64,
            &[InputSeq::Held(&[100.0])],
            &[probe(1, Synapse::None, 1)],
            &cfg(11),
        )
        .unwrap();
        assert_eq!(flat(&out.probes[0])[9], 0.0);
        assert_eq!(flat(&out.probes[0])[10], 1000.0);
    }

    #[test]
    fn inconsistent_inputs_are_errors_not_panics() {
        let n = net(vec![
            node("in", Op::Input, &[], &[2]),
            node("d", Op::Dense { units: 1 }, &[0], &[1]),
        ]);
        let m = model(vec![set(None, &[]), set(None, &[Synapse::None])]);
        let good = params(&[(&[], &[]), (&[1.0, 1.0], &[])]);
        let x = [1.0, 2.0];
        let run = |n: &Network,
                   m: &Model,
                   p: &[NodeParams<f64>],
                   inputs: &[InputSeq<f64>],
                   probes: &[BoundProbe]| {
            let reference = simulate(n, m, p, inputs, probes, &cfg(2));
            // One validation: the JIT refuses exactly what the reference does.
            let jit =
                crate::jit::JitModel::compile(n, m, p, probes, &cfg(2)).and_then(|j| j.run(inputs));
            assert_eq!(reference.as_ref().err(), jit.as_ref().err());
            reference
        };
        assert!(run(&n, &m, &good, &[InputSeq::Held(&x)], &[]).is_ok());
        // Wrong kernel size, wrong bias size, missing params.
        assert!(run(
            &n,
            &m,
            &params(&[(&[], &[]), (&[1.0], &[])]),
            &[InputSeq::Held(&x)],
            &[]
        )
        .is_err());
        assert!(run(
            &n,
            &m,
            &params(&[(&[], &[]), (&[1.0, 1.0], &[1.0, 2.0])]),
            &[InputSeq::Held(&x)],
            &[]
        )
        .is_err());
        assert!(run(&n, &m, &good[..1], &[InputSeq::Held(&x)], &[]).is_err());
        // Wrong input sizes and counts.
        assert!(run(&n, &m, &good, &[InputSeq::Held(&x[..1])], &[]).is_err());
        assert!(run(&n, &m, &good, &[InputSeq::PerStep(&x)], &[]).is_err());
        assert!(run(&n, &m, &good, &[], &[]).is_err());
        // Bad probes.
        assert!(run(
            &n,
            &m,
            &good,
            &[InputSeq::Held(&x)],
            &[probe(5, Synapse::None, 1)]
        )
        .is_err());
        assert!(run(
            &n,
            &m,
            &good,
            &[InputSeq::Held(&x)],
            &[probe(1, Synapse::None, 0)]
        )
        .is_err());
        // Not topological; synapse count mismatch; model size mismatch.
        let cyc = net(vec![
            node("in", Op::Input, &[], &[2]),
            node("d", Op::Dense { units: 1 }, &[1], &[1]),
        ]);
        assert!(run(&cyc, &m, &good, &[InputSeq::Held(&x)], &[]).is_err());
        let m2 = model(vec![set(None, &[]), set(None, &[])]);
        assert!(run(&n, &m2, &good, &[InputSeq::Held(&x)], &[]).is_err());
        assert!(run(
            &n,
            &model(vec![set(None, &[])]),
            &good,
            &[InputSeq::Held(&x)],
            &[]
        )
        .is_err());
        // A flatten with no input; a conv whose shape does not follow.
        let bad_flat = net(vec![
            node("in", Op::Input, &[], &[2]),
            node("f", Op::Flatten, &[], &[2]),
        ]);
        let mf = model(vec![set(None, &[]), set(None, &[])]);
        assert!(run(
            &bad_flat,
            &mf,
            &params(&[(&[], &[]), (&[], &[])]),
            &[InputSeq::Held(&x)],
            &[]
        )
        .is_err());
        // The node's shape must be the one its window fills.
        let conv = |padding, out: &[usize]| {
            net(vec![
                node("in", Op::Input, &[], &[4, 4, 1]),
                node(
                    "c",
                    Op::Conv2d {
                        filters: 1,
                        padding,
                        window: Window::resolve([4, 4, 1], [3, 3], [2, 2], padding, 1).unwrap(),
                    },
                    &[0],
                    out,
                ),
            ])
        };
        let img = [0.0; 16];
        let pk = params(&[(&[], &[]), (&[0.0; 9], &[])]);
        let mc = model(vec![set(None, &[]), set(None, &[Synapse::None])]);
        let ok = conv(Padding::Same, &[2, 2, 1]);
        assert!(run(&ok, &mc, &pk, &[InputSeq::Held(&img)], &[]).is_ok());
        let bad = conv(Padding::Same, &[1, 1, 1]);
        assert!(run(&bad, &mc, &pk, &[InputSeq::Held(&img)], &[]).is_err());
        let ok = conv(Padding::Valid, &[1, 1, 1]);
        assert!(run(&ok, &mc, &pk, &[InputSeq::Held(&img)], &[]).is_ok());
        let bad = conv(Padding::Valid, &[2, 2, 1]);
        assert!(run(&bad, &mc, &pk, &[InputSeq::Held(&img)], &[]).is_err());
    }
}
