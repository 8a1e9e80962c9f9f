//! Where every piece of simulation state lives in a worker's arena.
//!
//! One flat, 16-byte-aligned byte buffer per worker holds every node output,
//! filter state, neuron state and scratch vector, at offsets fixed when the
//! model is compiled. The generated code addresses them as `arena + const`,
//! so it needs no pointer tables and allocates nothing.

use snnc_compiler::ir::{InitialVoltage, Model, Network, Neuron, NodeSettings, Op, Synapse};

use super::lower::{feed, Feed};

/// Byte offsets of one filter's state vectors (`n` elements each).
#[derive(Clone, Copy, Debug)]
pub enum FilterSlots {
    Lowpass { y: usize },
    Alpha { y: usize, x0: usize, x1: usize },
}

#[derive(Clone, Debug)]
pub struct EdgeSlots {
    /// The connection's weighted value; `None` for identity connections,
    /// which read their source in place.
    pub u: Option<usize>,
    /// Whether the driver fills `u` (connections out of input nodes, whose
    /// weighted value is constant while an image is presented) rather than
    /// the generated code.
    pub precomputed: bool,
    pub filter: Option<FilterSlots>,
}

#[derive(Clone, Debug, Default)]
pub struct NodeSlots {
    /// The node's output (for a flatten view: its storage node's output).
    pub out: usize,
    pub edges: Vec<EdgeSlots>,
    pub bias_filter: Option<FilterSlots>,
    /// The node's whole input current, when it is constant while an image
    /// is presented (every connection comes unfiltered from an input node,
    /// and the bias is unfiltered): the driver computes it once per image.
    pub j_const: Option<usize>,
    /// Spiking voltage; LIF refractory time; spike counts (u32).
    pub v: Option<usize>,
    pub r: Option<usize>,
    pub counts: Option<usize>,
    /// Nothing reads the output vector: every consumer is fed event by
    /// event and no probe looks at it, so the generated code never stores it.
    pub out_unread: bool,
    pub compact: Option<CompactSlots>,
    pub lazy: Option<LazySlots>,
    pub lif_list: Option<LifList>,
    /// Scratch where a spiking ReLU node's step lists the groups of lanes
    /// that spiked (see `SpikeListSlots`).
    pub spike_list: Option<SpikeListSlots>,
    /// Where a spiking node that feeds conv layers queues a step's spikes
    /// for them (see `QueueSlots`).
    pub queue: Option<QueueSlots>,
}

/// A step's spikes into conv layers, queued in ascending input order by
/// the node's loops and added into those layers after them
/// (`lower::SpikeQueue`), so that the loops make no calls.
#[derive(Clone, Copy, Debug)]
pub struct QueueSlots {
    /// Per queued input (at most one per neuron and step): its channel
    /// (u32) and its value.
    pub channels: usize,
    pub values: usize,
    /// Per run of queued inputs at one position: the position and the
    /// run's first entry (i64 each); one more run's entry past the last
    /// holds the queue's length.
    pub runs: usize,
    /// Channels per position (the conv layers' input depth).
    pub depth: usize,
}

/// Where a spiking ReLU node's update loop lists, without a branch, the
/// groups of lanes (one element when not vectorised) in which some neuron
/// spiked (a packed node's driver lists them instead: `CompactSlots`): every group writes its index at the list's end and moves the
/// end on by one only if it spiked. A second loop then counts and
/// propagates the listed spikes, so the update loop has no branch on
/// whether a group spiked (a misprediction per group when neurons fire at
/// random).
#[derive(Clone, Copy, Debug)]
pub struct SpikeListSlots {
    /// Per listed group: its first element's index (u32).
    pub groups: usize,
    /// Per element: its spike count `k` this step, written by every group
    /// and read back for the listed ones.
    /// Stored where the group's own vectors are (at `i`, not at the list's
    /// end), its address needs no arithmetic on the list's length: two
    /// instructions fewer per group in the update loop, where from uniform
    /// start voltages most of the deep network's time goes.
    pub spikes: usize,
}

/// A conv node whose untouched positions are not stepped. Until a spike
/// first reaches position `p` (its filters hold zero, its input is zero),
/// every neuron there sees `J = gain * 0 + gain * bias`, the same for all
/// positions of a channel; when the biases provably keep such neurons
/// below threshold for the whole run (`quiet`), their voltages are a
/// function of the channel and the step alone. One extra position, the
/// shadow row (index `positions`), is stepped like the others and holds
/// exactly that voltage; the first scatter into `p` copies it over and
/// marks `p` touched, and from then on `p` is stepped every step. On
/// MNIST, spikes reach a minority of a second conv layer's positions.
#[derive(Clone, Copy, Debug)]
pub struct LazySlots {
    /// Per position (u32): nonzero once touched.
    pub touched: usize,
    pub positions: usize,
    pub channels: usize,
}

/// The packed state of a spiking ReLU node whose current is constant over a
/// presentation and whose output nobody reads as a vector (every consumer
/// is fed event by event, no probe). A neuron with `max(J, 0) * dt == 0`
/// never changes and never spikes, so the driver lists, per image, only the
/// others, in ascending order, and the generated loop steps just those: on
/// MNIST most first-layer neurons sit on background pixels.
#[derive(Clone, Copy, Debug)]
pub struct CompactSlots {
    /// How many entries the loop runs over (i64): the listed neurons, rounded
    /// up to whole vector blocks with entries whose increment is zero.
    pub len: usize,
    /// Per entry: the neuron's index (u32), its voltage increment, its
    /// voltage, and its spikes since it was listed (u32, counted four
    /// lanes at a time; the driver adds them to the node's counts).
    pub index: usize,
    pub inc: usize,
    pub v: usize,
    pub counts: usize,
    /// The groups of lanes that spike in each of the next `STEP_BLOCK`
    /// steps, worked out by the driver ahead of the step
    /// (`JitModel::step_packed`): per step a region of `groups` events,
    /// each the group's first entry (u32) and its spike counts (a vector),
    /// and how many of them are filled (i64 per step). `now` (i64) is the
    /// region the step reads, set by the driver before each step.
    pub events: usize,
    pub event_spikes: usize,
    pub event_lens: usize,
    pub now: usize,
    pub groups: usize,
}

/// Whether a node is packed (`CompactSlots`): a spiking ReLU node with a
/// constant current whose output nothing reads as a vector.
fn packs(slots: &NodeSlots, settings: &NodeSettings) -> bool {
    slots.out_unread
        && slots.j_const.is_some()
        && matches!(settings.neuron, Some(Neuron::SpikingRectifiedLinear { .. }))
}

/// Steps a packed node's driver works out at once (`CompactSlots::events`),
/// with its voltages in registers through them.
pub const STEP_BLOCK: usize = 8;

/// The packed state of a LIF node whose current is constant over a
/// presentation and whose output nobody reads as a vector (every consumer
/// is fed event by event, no probe). Per image the driver lists, in
/// ascending order, the neurons that may spike, with their current,
/// voltage and refractory time, and the generated loop steps just those;
/// a neuron left out provably stays at or below threshold for the whole
/// presentation (`jit::lif_stays_below_threshold`), so its output stays
/// zero and only its voltage, which is not an output, goes unstepped. At
/// scale 50 on MNIST about three quarters of the first layer's LIF
/// neurons are such, yet each cost a full update every step.
#[derive(Clone, Copy, Debug)]
pub struct LifList {
    /// How many entries the loop runs over (i64): the listed neurons,
    /// rounded up to whole vector blocks with entries that hold no neuron
    /// (index `u32::MAX`, zero current and voltage: they never spike).
    pub len: usize,
    /// Per entry: the neuron's index (u32), its current, voltage and
    /// refractory time, and its spikes since it was listed (u32).
    pub index: usize,
    pub j: usize,
    pub v: usize,
    pub r: usize,
    pub counts: usize,
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub nodes: Vec<NodeSlots>,
    pub bytes: usize,
}

/// Vectors of a page or more are followed by `PAGE_SKEW` unused bytes, so
/// that the vectors one loop streams through (a node's input, synapse
/// state and voltage) do not all start at the same offset in a 4 KiB page,
/// as vectors of 1,024 or 9,216 f32 laid end to end do. A load whose
/// address matches a pending store's in its low 12 bits can be held back
/// as if it depended on it ("4K aliasing"); with the skew, a load and a
/// store of two such vectors share those bits only some 800 elements
/// apart, far more than the stores in flight. Five cache lines keep every
/// vector's alignment. Measured in docs/architecture.md (the deep network
/// from uniform starts, +9% on one core).
const PAGE: usize = 4096;
const PAGE_SKEW: usize = 5 * 64;

struct Alloc {
    next: usize,
    elem: usize,
}

impl Alloc {
    fn take(&mut self, n: usize, elem: usize) -> usize {
        let at = self.next;
        // Keep every vector 16-byte aligned for SIMD loads.
        self.next += (n * elem).div_ceil(16) * 16;
        if n * elem >= PAGE {
            self.next += PAGE_SKEW;
        }
        at
    }
    fn vec(&mut self, n: usize) -> usize {
        self.take(n, self.elem)
    }
    /// A spike queue for a node of `n` elements at `depth` channels per
    /// position. Its vectors have a group of lanes to spare: a group is
    /// stored whole at the queue's end (`lower::Emitter::queue_group`).
    fn queue(&mut self, n: usize, depth: usize) -> QueueSlots {
        let lanes = block_lanes(self.elem);
        let n = n.div_ceil(lanes) * lanes;
        QueueSlots {
            channels: self.take(n + lanes, 4),
            values: self.vec(n + lanes),
            runs: self.take(2 * (n.div_ceil(depth) + 1), 8),
            depth,
        }
    }
    /// A spike list for a loop over `n` elements (or packed entries), in
    /// groups of four lanes when f32 (the generated loops' width).
    fn spike_list(&mut self, n: usize) -> SpikeListSlots {
        let lanes = if self.elem == 4 { 4 } else { 1 };
        let groups = n.div_ceil(lanes);
        SpikeListSlots {
            groups: self.take(groups, 4),
            spikes: self.vec(groups * lanes),
        }
    }
    /// The bias path's filter: the relay's synapse then the bias synapse.
    /// Two in series run in the alpha's three state vectors (the
    /// reference's `Coefs::chain`).
    fn bias_filter(&mut self, relay: Synapse, bias: Synapse, n: usize) -> Option<FilterSlots> {
        match (relay, bias) {
            (Synapse::None, one) | (one, Synapse::None) => self.filter(one, n),
            (Synapse::Lowpass { .. } | Synapse::Alpha { .. }, _) => Some(FilterSlots::Alpha {
                y: self.vec(n),
                x0: self.vec(n),
                x1: self.vec(n),
            }),
        }
    }
    fn filter(&mut self, synapse: Synapse, n: usize) -> Option<FilterSlots> {
        match synapse {
            Synapse::None => None,
            Synapse::Lowpass { .. } => Some(FilterSlots::Lowpass { y: self.vec(n) }),
            // Alpha(0) runs as Lowpass(0) (a pure delay), as in the reference.
            Synapse::Alpha { tau } if tau <= 0.0 => Some(FilterSlots::Lowpass { y: self.vec(n) }),
            Synapse::Alpha { .. } => Some(FilterSlots::Alpha {
                y: self.vec(n),
                x0: self.vec(n),
                x1: self.vec(n),
            }),
        }
    }
}

/// Whether the driver computes this edge's weighted value (its source holds
/// an input node's values).
pub fn is_input_edge(net: &Network, src: usize) -> bool {
    net.nodes[net.storage_of(src)].op == Op::Input
}

/// The source node whose spikes are fed event by event into input `i` of
/// node `id` (see `lower::Emitter::propagate`): a spiking node feeding a dense or
/// conv connection that the generated code (not the driver) computes.
pub fn scattered_source(net: &Network, model: &Model, id: usize, i: usize) -> Option<usize> {
    let node = &net.nodes[id];
    let src = net.storage_of(node.inputs[i]);
    let spiking = model.nodes[src].neuron.is_some_and(|n| n.is_spiking());
    let scatterable = feed(&node.op) == Some(Feed::Scatter);
    (spiking && scatterable && !is_input_edge(net, src)).then_some(src)
}

/// `probed`: the nodes that probes read (storage nodes, not flatten views);
/// `quiet`: per node, whether a neuron of it that receives nothing provably
/// never spikes during the run (see `LazySlots`; computed from the biases).
pub fn plan(net: &Network, model: &Model, elem: usize, probed: &[usize], quiet: &[bool]) -> Layout {
    let lanes = block_lanes(elem);
    let mut a = Alloc { next: 0, elem };
    let mut nodes: Vec<NodeSlots> = Vec::with_capacity(net.nodes.len());
    for (id, node) in net.nodes.iter().enumerate() {
        let settings = &model.nodes[id];
        let mut slots = NodeSlots {
            out_unread: node.op != Op::Input
                && !probed.contains(&id)
                && only_scattered_readers(net, model, id),
            ..NodeSlots::default()
        };
        if node.op == Op::Flatten {
            slots.out = nodes[net.storage_of(id)].out;
            nodes.push(slots);
            continue;
        }
        let lazy = lazy_shape(net, model, id, slots.out_unread, elem)
            .filter(|_| quiet.get(id).copied().unwrap_or(false));
        // A lazy node's vectors hold one more position: the shadow row.
        let n = node.size() + lazy.map_or(0, |(_, channels)| channels);
        if let Some((positions, channels)) = lazy {
            slots.lazy = Some(LazySlots {
                // One flag per position and one for the shadow row, which
                // the step sets so that the row is stepped like the others.
                touched: a.take(positions + 1, 4),
                positions,
                channels,
            });
        }
        slots.out = a.vec(n);
        if node.op != Op::Input {
            for (i, &src) in node.inputs.iter().enumerate() {
                let precomputed = is_input_edge(net, src);
                let in_place = feed(&node.op) == Some(Feed::InPlace);
                let u = (precomputed || !in_place).then(|| a.vec(n));
                let filter = a.filter(
                    settings
                        .input_synapses
                        .get(i)
                        .copied()
                        .unwrap_or(Synapse::None),
                    n,
                );
                slots.edges.push(EdgeSlots {
                    u,
                    precomputed,
                    filter,
                });
            }
            if node.has_bias() {
                slots.bias_filter =
                    a.bias_filter(settings.bias_relay_synapse, settings.bias_synapse, n);
            }
            let constant = !slots.edges.is_empty()
                && slots
                    .edges
                    .iter()
                    .all(|e| e.precomputed && e.filter.is_none())
                && slots.bias_filter.is_none();
            slots.j_const = constant.then(|| a.vec(n));
            if let Some(state) = settings.neuron.map(Neuron::state) {
                slots.v = state.voltage.then(|| a.vec(n));
                slots.r = state.refractory.then(|| a.vec(n));
                slots.counts = state.spike_count.then(|| a.take(n, 4));
            }
            // A packed node's step reads the driver's lists instead.
            if matches!(settings.neuron, Some(Neuron::SpikingRectifiedLinear { .. }))
                && !packs(&slots, settings)
            {
                slots.spike_list = Some(a.spike_list(n));
            }
            if let Some(depth) = conv_fed_depth(net, model, id) {
                slots.queue = Some(a.queue(n, depth));
            }
        }
        nodes.push(slots);
    }
    for id in 0..net.nodes.len() {
        if packs(&nodes[id], &model.nodes[id]) {
            let n = net.nodes[id].size();
            let groups = n.div_ceil(lanes);
            nodes[id].compact = Some(CompactSlots {
                len: a.take(1, 8),
                index: a.take(n, 4),
                inc: a.vec(n),
                v: a.vec(n),
                counts: a.take(n, 4),
                events: a.take(STEP_BLOCK * groups, 4),
                event_spikes: a.vec(STEP_BLOCK * groups * lanes),
                event_lens: a.take(STEP_BLOCK, 8),
                now: a.take(1, 8),
                groups,
            });
        }
        let listable = nodes[id].out_unread
            && nodes[id].j_const.is_some()
            && nodes[id].lazy.is_none()
            && matches!(model.nodes[id].neuron, Some(Neuron::Lif { .. }));
        if listable {
            let room = net.nodes[id].size() + lanes;
            nodes[id].lif_list = Some(LifList {
                len: a.take(1, 8),
                index: a.take(room, 4),
                j: a.vec(room),
                v: a.vec(room),
                r: a.vec(room),
                counts: a.take(room, 4),
            });
        }
    }
    Layout {
        nodes,
        bytes: a.next.max(16),
    }
}

/// The channels per position of spiking node `id`'s output when some conv
/// layer is fed its spikes event by event (and so needs a `QueueSlots`).
fn conv_fed_depth(net: &Network, model: &Model, id: usize) -> Option<usize> {
    let feeds_conv = net.nodes.iter().enumerate().any(|(t, consumer)| {
        matches!(consumer.op, Op::Conv2d { .. })
            && (0..consumer.inputs.len()).any(|i| scattered_source(net, model, t, i) == Some(id))
    });
    match net.nodes[id].shape[..] {
        [_, _, depth] if feeds_conv => Some(depth),
        _ => None,
    }
}

/// Whether every connection that reads node `id` (directly or through a
/// flatten view) is fed event by event.
fn only_scattered_readers(net: &Network, model: &Model, id: usize) -> bool {
    net.nodes.iter().enumerate().all(|(t, consumer)| {
        consumer.op == Op::Flatten
            || consumer.inputs.iter().enumerate().all(|(i, &src)| {
                net.storage_of(src) != id || scattered_source(net, model, t, i).is_some()
            })
    })
}

/// `(positions, channels)` of a conv node that can be updated lazily (see
/// `LazySlots`), structurally: spiking ReLU from zero voltages, output
/// unread, every input fed by scatters, an unfiltered bias, and whole
/// vector blocks per position. Whether its biases keep it quiet is the
/// caller's part.
fn lazy_shape(
    net: &Network,
    model: &Model,
    id: usize,
    out_unread: bool,
    elem: usize,
) -> Option<(usize, usize)> {
    let node = &net.nodes[id];
    let settings = &model.nodes[id];
    let [h, w, c] = node.shape[..] else {
        return None;
    };
    let lanes = block_lanes(elem);
    let eligible = matches!(node.op, Op::Conv2d { .. })
        && matches!(settings.neuron, Some(Neuron::SpikingRectifiedLinear { .. }))
        && out_unread
        && model.initial_voltage == InitialVoltage::Zero
        && settings.bias_synapse == Synapse::None
        && settings.bias_relay_synapse == Synapse::None
        && c % lanes == 0
        && (0..node.inputs.len()).all(|i| scattered_source(net, model, id, i).is_some());
    eligible.then_some((h * w, c))
}

/// Elements per block of the generated element-wise loops: f32 runs four
/// lanes at a time, f64 one.
pub fn block_lanes(elem: usize) -> usize {
    if elem == 4 {
        4
    } else {
        1
    }
}
