//! The JIT engine: one model's timestep compiled by Cranelift into native
//! code specialised to the network, driven over batches on every core.
//!
//! It computes exactly what the reference interpreter computes, operation
//! for operation (see `lower.rs`), so its outputs equal the reference's bit
//! for bit in the same precision; the tests hold it to that.
//!
//! Why the code generator lives in the runtime rather than the compiler
//! crate: the generated code embeds the addresses of the weights the runtime
//! owns, and keeping Cranelift out of `snnc-compiler` keeps `snnc check` and
//! the language server light.

mod codegen;
mod input_conv;
mod layout;
mod libm;
mod lower;
mod packed;
mod wide;

pub use wide::Kernels;

use snnc_compiler::ir::{BoundProbe, Model, Network, Neuron, Role};

use crate::engine::{
    check_batch, check_inputs, validate, Counts, Engine, EngineKind, InputSeq, NodeParams, Real,
    SimConfig, SimError, SimOutput, SpikeSummary,
};
use crate::reference::layers;
use crate::reference::neurons::uniform_voltages;
use crate::reference::synapses::Filter;
use layout::{is_input_edge, CompactSlots, Layout, LifList};
use lower::NodeConsts;

/// A model compiled for one precision, ready to run any number of examples.
pub struct JitModel<'a, T> {
    net: &'a Network,
    layout: Layout,
    embedded: Embedded<T>,
    model_nodes: Vec<snnc_compiler::ir::NodeSettings>,
    /// The step: one function per node that does work, called in order.
    steps: Vec<extern "C" fn(*mut u8)>,
    /// Keeps the code alive.
    _module: CodeOwner,
    /// Constants the code loads by address (see `Emitter::hoist`).
    _constants: Vec<std::pin::Pin<Box<[u64; 2]>>>,
    /// Seconds spent generating and compiling code.
    pub compile_seconds: f64,
    initial_v: Vec<Vec<T>>,
    /// The nodes whose spikes are summed in registers (see
    /// `lower::Emitter::compact_into_registers`).
    in_registers: Vec<usize>,
    /// The nodes whose code calls a precompiled loop (see `wide`).
    precompiled: Vec<usize>,
    dt: f64,
    steps_per_run: usize,
    probes: Vec<BoundProbe>,
    /// Elements per block of the generated element-wise loops.
    lanes: usize,
    /// The arena bytes zeroed before each image (`zeroed_ranges`).
    zeroed: Vec<std::ops::Range<usize>>,
}

/// A model lowered to Cranelift IR and not yet compiled: the first half of
/// [`JitModel::compile`], so that a caller can weigh the compile (by
/// [`Lowering::instructions`]) or print the IR ([`Lowering::clif`]).
pub struct Lowering<'a, T> {
    net: &'a Network,
    layout: Layout,
    embedded: Embedded<T>,
    model: &'a Model,
    cfg: SimConfig,
    probes: Vec<BoundProbe>,
    lowered: codegen::Lowered,
    start: std::time::Instant,
}

impl<'a, T: Real> JitModel<'a, T> {
    pub fn compile(
        net: &'a Network,
        model: &'a Model,
        params: &'a [NodeParams<T>],
        probes: &[BoundProbe],
        cfg: &SimConfig,
    ) -> Result<Self, SimError> {
        Self::lower(net, model, params, probes, cfg)?.compile()
    }

    /// Checks the model and lowers its step to Cranelift IR, calling the
    /// precompiled loops the CPU runs.
    pub fn lower(
        net: &'a Network,
        model: &'a Model,
        params: &'a [NodeParams<T>],
        probes: &[BoundProbe],
        cfg: &SimConfig,
    ) -> Result<Lowering<'a, T>, SimError> {
        Self::lower_with(net, model, params, probes, cfg, Kernels::detect())
    }

    /// [`JitModel::lower`] with the precompiled loops `kernels` allows (the
    /// tests hold both kinds to the reference).
    pub fn lower_with(
        net: &'a Network,
        model: &'a Model,
        params: &'a [NodeParams<T>],
        probes: &[BoundProbe],
        cfg: &SimConfig,
        kernels: Kernels,
    ) -> Result<Lowering<'a, T>, SimError> {
        // Every shape, parameter length and probe is checked; a model that
        // passes is one the generated code can index safely.
        validate(net, model, params, probes, cfg)?;
        let start = std::time::Instant::now();
        let f64_mode = std::mem::size_of::<T>() == 8;
        let elem = if f64_mode { 8 } else { 4 };
        let probed: Vec<usize> = probes.iter().map(|p| net.storage_of(p.node)).collect();
        let quiet: Vec<bool> = (0..net.nodes.len())
            .map(|id| quiet_without_input(model, &params[id], id, cfg))
            .collect();
        let layout = layout::plan(net, model, elem, &probed, &quiet);
        let (embedded, consts) = node_constants(net, model, params, &layout);
        let lowered = codegen::lower(net, model, &layout, &consts, cfg.dt, f64_mode, kernels)?;
        Ok(Lowering {
            net,
            layout,
            embedded,
            model,
            cfg: *cfg,
            probes: probes.to_vec(),
            lowered,
            start,
        })
    }

    /// The nodes stepped as packed lists of their active neurons (see
    /// `layout::CompactSlots`), by name.
    pub fn compacted_nodes(&self) -> Vec<&str> {
        self.node_names_where(|slots| slots.compact.is_some())
    }

    /// The LIF nodes stepped as packed lists of the neurons that may spike
    /// (see `layout::LifList`), by name.
    pub fn lif_listed_nodes(&self) -> Vec<&str> {
        self.node_names_where(|slots| slots.lif_list.is_some())
    }

    /// The conv nodes stepped only at positions spikes reached (see
    /// `layout::LazySlots`), by name.
    pub fn lazy_nodes(&self) -> Vec<&str> {
        self.node_names_where(|slots| slots.lazy.is_some())
    }

    /// The packed nodes whose spikes are summed in registers, without a
    /// branch per neuron (see `lower::Emitter::compact_into_registers`),
    /// by name.
    pub fn register_summed_nodes(&self) -> Vec<&str> {
        self.in_registers
            .iter()
            .map(|&id| self.net.nodes[id].name.as_str())
            .collect()
    }

    /// The nodes whose code calls a precompiled AVX2 loop (see `wide`), by
    /// name.
    pub fn precompiled_nodes(&self) -> Vec<&str> {
        self.precompiled
            .iter()
            .map(|&id| self.net.nodes[id].name.as_str())
            .collect()
    }

    fn node_names_where(&self, pred: impl Fn(&layout::NodeSlots) -> bool) -> Vec<&str> {
        self.layout
            .nodes
            .iter()
            .zip(&self.net.nodes)
            .filter(|(slots, _)| pred(slots))
            .map(|(_, node)| node.name.as_str())
            .collect()
    }

    /// Runs one example (one input per input node) from the initial state.
    pub fn run(&self, inputs: &[InputSeq<T>]) -> Result<SimOutput<T>, SimError> {
        check_inputs(&self.input_sizes(), self.steps_per_run, inputs)?;
        let mut arena = Arena::new(self.layout.bytes);
        Ok(self.run_with(&mut arena, inputs, Counts::PerNeuron))
    }

    /// The size of each input node, in node order.
    fn input_sizes(&self) -> Vec<usize> {
        self.net
            .inputs()
            .map(|i| self.net.nodes[i].size())
            .collect()
    }

    fn run_with(&self, arena: &mut Arena, inputs: &[InputSeq<T>], keep: Counts) -> SimOutput<T> {
        arena.clear(&self.zeroed);
        for (id, v) in self.initial_v.iter().enumerate() {
            if let Some(off) = self.layout.nodes[id].v {
                if !v.is_empty() {
                    arena.slice_mut::<T>(off, v.len()).copy_from_slice(v);
                }
            }
        }
        let mut probe_filters: Vec<Option<Filter<T>>> = self
            .probes
            .iter()
            .map(|p| Filter::new(p.synapse, self.dt, self.net.nodes[p.node].size()))
            .collect();
        let mut records: Vec<Vec<T>> = self
            .probes
            .iter()
            .map(|p| {
                Vec::with_capacity((self.steps_per_run / p.every) * self.net.nodes[p.node].size())
            })
            .collect();
        let held = inputs.iter().all(|x| matches!(x, InputSeq::Held(_)));
        for k in 1..=self.steps_per_run {
            if k == 1 || !held {
                // Held inputs are listed once, for the whole run.
                let horizon = held.then_some(self.steps_per_run);
                self.load_inputs(arena, inputs, k - 1, k == 1, horizon);
            }
            for c in self.layout.nodes.iter().filter_map(|slots| slots.compact) {
                self.step_packed(arena, c, k - 1, held);
            }
            let ptr = arena.ptr();
            for step in &self.steps {
                step(ptr);
            }
            for ((p, filter), rec) in self.probes.iter().zip(&mut probe_filters).zip(&mut records) {
                let n = self.net.nodes[p.node].size();
                let x = arena.slice::<T>(self.layout.nodes[p.node].out, n);
                let due = k % p.every == 0;
                match filter {
                    None if due => rec.extend_from_slice(x),
                    None => {}
                    Some(f) => {
                        if due {
                            rec.extend_from_slice(f.output());
                        }
                        f.update(x);
                    }
                }
            }
        }
        for (id, slots) in self.layout.nodes.iter().enumerate() {
            if let Some(c) = slots.compact {
                self.unlist(arena, id, c);
            }
            if let Some(l) = slots.lif_list {
                self.unlist_lif(arena, id, l);
            }
        }
        let counts = |slots: &layout::NodeSlots, node: &snnc_compiler::ir::Node| {
            slots
                .counts
                .map_or(&[][..], |off| arena.slice::<u32>(off, node.size()))
        };
        let nodes = || self.layout.nodes.iter().zip(&self.net.nodes);
        let spike_summaries = nodes()
            .map(|(s, n)| SpikeSummary::of(counts(s, n)))
            .collect();
        let spike_counts = match keep {
            Counts::PerNeuron => nodes().map(|(s, n)| counts(s, n).to_vec()).collect(),
            Counts::PerNode => Vec::new(),
        };
        SimOutput {
            probes: records
                .into_iter()
                .zip(&self.probes)
                .map(|(values, p)| crate::engine::probe_rows(values, self.net.nodes[p.node].size()))
                .collect(),
            spike_counts,
            spike_summaries,
        }
    }

    /// Copies input rows into the input nodes and computes the weighted
    /// value of every connection out of them (once per image when held).
    fn load_inputs(
        &self,
        arena: &mut Arena,
        inputs: &[InputSeq<T>],
        row: usize,
        first: bool,
        horizon: Option<usize>,
    ) {
        let input_ids: Vec<usize> = self.net.inputs().collect();
        for (index, &id) in input_ids.iter().enumerate() {
            let n = self.net.nodes[id].size();
            let Some(seq) = inputs.get(index) else {
                continue;
            };
            let values = match seq {
                InputSeq::Held(x) => &x[..n],
                InputSeq::PerStep(x) => &x[row * n..(row + 1) * n],
            };
            arena
                .slice_mut::<T>(self.layout.nodes[id].out, n)
                .copy_from_slice(values);
        }
        for (id, node) in self.net.nodes.iter().enumerate() {
            for (src, pre) in self.precomputed_edges(id) {
                let src_node = &self.net.nodes[self.net.storage_of(src)];
                let elem = std::mem::size_of::<T>();
                let [x, u] = arena.regions([
                    (self.layout.nodes[src].out, src_node.size() * elem),
                    (pre, node.size() * elem),
                ]);
                let kernel = self.embedded.kernels[id].as_slice();
                input_conv::apply(&node.op, kernel, typed(x), typed(u));
            }
            if let Some(jc) = self.layout.nodes[id].j_const {
                self.constant_current(arena, id, jc);
            }
            if let Some(c) = self.layout.nodes[id].compact {
                self.list_active_neurons(arena, id, c, first, horizon);
            }
            if let Some(l) = self.layout.nodes[id].lif_list {
                self.list_lif_neurons(arena, id, l, first, horizon);
            }
        }
    }

    /// Fills a LIF node's list (see `LifList`) from its constant current
    /// and its state. A neuron is left out only when the list serves the
    /// rest of the run (held inputs: a `horizon`) and it provably never
    /// spikes (see `lif_stays_below_threshold`); a current that changes
    /// every step lists every neuron, after the old list's state has gone
    /// back to the dense vectors the new list reads.
    fn list_lif_neurons(
        &self,
        arena: &mut Arena,
        id: usize,
        l: LifList,
        first: bool,
        horizon: Option<usize>,
    ) {
        let slots = &self.layout.nodes[id];
        let (
            Some(jc),
            Some(v_dense),
            Some(r_dense),
            Some(Neuron::Lif {
                tau_rc,
                min_voltage,
                ..
            }),
        ) = (slots.j_const, slots.v, slots.r, self.model_nodes[id].neuron)
        else {
            return;
        };
        let n = self.net.nodes[id].size();
        if !first {
            self.unlist_lif(arena, id, l);
        }
        // The decay factor of every step outside a refractory period, as
        // the step computes it, and the floor as the step holds it.
        let decay = Real::to_f64((-T::from_f64(self.dt) / T::from_f64(tau_rc)).exp_m1());
        let floor = Real::to_f64(T::from_f64(min_voltage));
        // The list is written in place: its slots hold `n` entries and a
        // vector block more (see `layout::plan`).
        let room = n + self.lanes;
        let elem = std::mem::size_of::<T>();
        let [j, v, r, index, cur, volt, refr, counts, len_slot] = arena.regions([
            (jc, n * elem),
            (v_dense, n * elem),
            (r_dense, n * elem),
            (l.index, room * 4),
            (l.j, room * elem),
            (l.v, room * elem),
            (l.r, room * elem),
            (l.counts, room * 4),
            (l.len, 8),
        ]);
        let (j, v, r): (&[T], &[T], &[T]) = (typed(j), typed(v), typed(r));
        let index = typed::<u32>(index);
        let (cur, volt, refr) = (typed::<T>(cur), typed::<T>(volt), typed::<T>(refr));
        // Branch-free, as in `list_active_neurons`: every neuron's entry is
        // written at `len`, and kept by moving `len` on.
        let mut len = 0;
        for i in 0..n {
            let quiet = horizon.is_some()
                && r[i] <= T::zero()
                && lif_stays_below_threshold(Real::to_f64(j[i]), Real::to_f64(v[i]), floor, decay);
            index[len] = i as u32;
            cur[len] = j[i];
            volt[len] = v[i];
            refr[len] = r[i];
            len += usize::from(!quiet);
        }
        let listed = len;
        let len = len.div_ceil(self.lanes) * self.lanes;
        index[listed..len].fill(u32::MAX);
        cur[listed..len].fill(T::zero());
        volt[listed..len].fill(T::zero());
        refr[listed..len].fill(T::zero());
        typed::<i64>(len_slot)[0] = len as i64;
        typed::<u32>(counts)[..len].fill(0);
    }

    /// Moves a LIF list's voltages, refractory times and spike counts back
    /// into the node's dense vectors (before a new list, and when the run
    /// ends).
    fn unlist_lif(&self, arena: &mut Arena, id: usize, l: LifList) {
        let slots = &self.layout.nodes[id];
        let (Some(v_dense), Some(r_dense), Some(counts_dense)) = (slots.v, slots.r, slots.counts)
        else {
            return;
        };
        let n = self.net.nodes[id].size();
        let len = arena.slice::<i64>(l.len, 1)[0] as usize;
        let elem = std::mem::size_of::<T>();
        let [index, v, r, spikes, v_to, r_to, counts] = arena.regions([
            (l.index, len * 4),
            (l.v, len * elem),
            (l.r, len * elem),
            (l.counts, len * 4),
            (v_dense, n * elem),
            (r_dense, n * elem),
            (counts_dense, n * 4),
        ]);
        let (index, spikes) = (typed::<u32>(index), typed::<u32>(spikes));
        let (v, r, v_to, r_to) = (
            typed::<T>(v),
            typed::<T>(r),
            typed::<T>(v_to),
            typed::<T>(r_to),
        );
        let counts = typed::<u32>(counts);
        // Entries that hold no neuron are marked `u32::MAX`.
        for (k, &i) in index.iter().enumerate().filter(|(_, &i)| (i as usize) < n) {
            let i = i as usize;
            v_to[i] = v[k];
            r_to[i] = r[k];
            counts[i] = counts[i].saturating_add(spikes[k]);
        }
    }

    /// The connections into node `id` whose weighted value the driver
    /// computes (out of input nodes): `(source, offset of the value)`.
    fn precomputed_edges(&self, id: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let node = &self.net.nodes[id];
        let view = node.op.role() == Role::View;
        node.inputs
            .iter()
            .zip(&self.layout.nodes[id].edges)
            .filter(move |&(&src, _)| !view && is_input_edge(self.net, src))
            .filter_map(|(&src, slots)| slots.u.filter(|_| slots.precomputed).map(|u| (src, u)))
    }

    /// The arena bytes an image must start from zero: all but the slots
    /// the driver overwrites whole before the first step reads them (the
    /// start voltages, the precomputed weighted values and constant
    /// currents) and the packed lists, which are read only up to the
    /// length the driver writes. Zeroing the rest of the arena for every
    /// image was a twentieth of a 10-step run (docs/architecture.md).
    fn zeroed_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let elem = std::mem::size_of::<T>();
        let mut written: Vec<(usize, usize)> = Vec::new();
        for (id, (node, slots)) in self.net.nodes.iter().zip(&self.layout.nodes).enumerate() {
            let n = node.size() * elem;
            written.extend(self.precomputed_edges(id).map(|(_, u)| (u, n)));
            written.extend(slots.j_const.map(|j| (j, n)));
            if self.initial_v[id].len() == node.size() {
                written.extend(slots.v.map(|v| (v, n)));
            }
            if let Some(c) = slots.compact {
                let entries = node.size().div_ceil(self.lanes) * self.lanes;
                let regions = layout::STEP_BLOCK * c.groups;
                written.extend([
                    (c.index, entries * 4),
                    (c.inc, entries * elem),
                    (c.v, entries * elem),
                    (c.counts, entries * 4),
                    (c.events, regions * 4),
                    (c.event_spikes, regions * self.lanes * elem),
                    (c.event_lens, layout::STEP_BLOCK * 8),
                    (c.now, 8),
                ]);
            }
            // A step writes its queue's entries before it reads them.
            if let Some(q) = slots.queue {
                written.extend([(q.channels, node.size() * 4), (q.values, n)]);
            }
        }
        written.sort_unstable();
        let mut zeroed = Vec::new();
        let mut at = 0;
        for (offset, bytes) in written {
            if offset > at {
                zeroed.push(at..offset);
            }
            at = at.max(offset + bytes);
        }
        if at < self.layout.bytes.div_ceil(16) * 16 {
            zeroed.push(at..self.layout.bytes.div_ceil(16) * 16);
        }
        zeroed
    }

    /// Fills a compacted node's list (see `CompactSlots`) from its constant
    /// current: the neurons whose increment `max(J, 0) * dt` (the
    /// reference's operations) is positive, with their voltages. Before a
    /// new list replaces an old one (inputs that change every step), the
    /// listed voltages go back to the dense vector the new list reads.
    ///
    /// With a `horizon` (the list serves that many steps, then the run
    /// ends), a neuron that provably stays below threshold until then is
    /// left out too (see `stays_below_threshold`): it would never spike,
    /// and its voltage is not an output, so nothing observable changes.
    fn list_active_neurons(
        &self,
        arena: &mut Arena,
        id: usize,
        c: CompactSlots,
        first: bool,
        horizon: Option<usize>,
    ) {
        let slots = &self.layout.nodes[id];
        let (Some(jc), Some(v_dense)) = (slots.j_const, slots.v) else {
            return;
        };
        let n = self.net.nodes[id].size();
        if !first {
            self.unlist(arena, id, c);
        }
        let dt = T::from_f64(self.dt);
        // Without a horizon nothing is provably silent: an infinite number
        // of steps reaches any threshold.
        let steps = horizon.map_or(f64::INFINITY, |s| s as f64);
        // The list is written in place: its slots hold `n` entries rounded
        // up to whole vector blocks (see `layout::plan`).
        let room = n.div_ceil(self.lanes) * self.lanes;
        let elem = std::mem::size_of::<T>();
        let [j, v, index, inc, volt, counts, len_slot] = arena.regions([
            (jc, n * elem),
            (v_dense, n * elem),
            (c.index, room * 4),
            (c.inc, room * elem),
            (c.v, room * elem),
            (c.counts, room * 4),
            (c.len, 8),
        ]);
        let (j, v): (&[T], &[T]) = (typed(j), typed(v));
        let (index, inc, volt) = (typed::<u32>(index), typed::<T>(inc), typed::<T>(volt));
        // Two passes. The first, vectorised, writes each neuron's increment
        // and whether it may spike at its own index. The second compacts
        // branch-free: every neuron's entry is written at `len` and kept by
        // moving `len` on (which neurons are active follows the image, so a
        // branch per neuron mispredicts; in a 10-step run at scale 1000 the
        // listing was a fifth of the time: docs/architecture.md). It reads
        // slot `i` before writing slot `len <= i`, so it compacts in place.
        for ((&j, &v), (d, may_spike)) in j.iter().zip(v).zip(inc.iter_mut().zip(&mut *index)) {
            *d = j.max(T::zero()) * dt;
            let silent = stays_below_threshold(Real::to_f64(v), Real::to_f64(*d), steps);
            *may_spike = u32::from((*d > T::zero()) & !silent);
        }
        let mut len = 0;
        for (i, &v) in v.iter().enumerate() {
            let (keep, d) = (index[i], inc[i]);
            index[len] = i as u32;
            inc[len] = d;
            volt[len] = v;
            len += keep as usize;
        }
        // Padding entries have a zero increment: they never spike, and
        // `unlist` skips them.
        let listed = len;
        let len = len.div_ceil(self.lanes) * self.lanes;
        index[listed..len].fill(0);
        inc[listed..len].fill(T::zero());
        volt[listed..len].fill(T::zero());
        typed::<i64>(len_slot)[0] = len as i64;
        typed::<u32>(counts)[..len].fill(0);
    }

    /// Points a packed node's step at its events for step `t` (from 0),
    /// working out the next block of steps first when `t` starts one (see
    /// `packed`). Held inputs list the neurons once, so a block runs
    /// `STEP_BLOCK` steps (or up to the run's end); inputs that change
    /// every step list them anew each step, so then a block is one step.
    fn step_packed(&self, arena: &mut Arena, c: CompactSlots, t: usize, held: bool) {
        let block = if held { layout::STEP_BLOCK } else { 1 };
        let now = t % block;
        if now == 0 {
            let steps = block.min(self.steps_per_run - t);
            let len = arena.slice::<i64>(c.len, 1)[0] as usize;
            let elem = std::mem::size_of::<T>();
            let regions = layout::STEP_BLOCK * c.groups;
            let [v, inc, groups_at, spikes, lens] = arena.regions([
                (c.v, len * elem),
                (c.inc, len * elem),
                (c.events, regions * 4),
                (c.event_spikes, regions * self.lanes * elem),
                (c.event_lens, layout::STEP_BLOCK * 8),
            ]);
            if elem == 4 && self.lanes == 4 {
                let mut events = packed_events::<f32>(groups_at, spikes, lens, c.groups);
                packed::advance_f32(typed(v), typed(inc), steps, &mut events);
            } else {
                let mut events = packed_events::<T>(groups_at, spikes, lens, c.groups);
                packed::advance(typed(v), typed(inc), self.lanes, steps, &mut events);
            }
        }
        arena.slice_mut::<i64>(c.now, 1)[0] = now as i64;
    }

    /// Moves a compacted node's listed voltages and spike counts back into
    /// its dense vectors (before a new list, and when the run ends).
    fn unlist(&self, arena: &mut Arena, id: usize, c: CompactSlots) {
        let slots = &self.layout.nodes[id];
        let (Some(v_dense), Some(counts_dense)) = (slots.v, slots.counts) else {
            return;
        };
        let n = self.net.nodes[id].size();
        let len = arena.slice::<i64>(c.len, 1)[0] as usize;
        let elem = std::mem::size_of::<T>();
        let [index, inc, v, spikes, dense, counts] = arena.regions([
            (c.index, len * 4),
            (c.inc, len * elem),
            (c.v, len * elem),
            (c.counts, len * 4),
            (v_dense, n * elem),
            (counts_dense, n * 4),
        ]);
        let (index, inc, v, spikes) = (
            typed::<u32>(index),
            typed::<T>(inc),
            typed::<T>(v),
            typed::<u32>(spikes),
        );
        let (dense, counts) = (typed::<T>(dense), typed::<u32>(counts));
        // Padding entries (zero increment) hold no neuron.
        for k in (0..len).filter(|&k| inc[k] > T::zero()) {
            let i = index[k] as usize;
            dense[i] = v[k];
            counts[i] = counts[i].saturating_add(spikes[k]);
        }
    }

    /// `J = sum of gain * u` over the connections, then `+ gain * bias`:
    /// the reference's operations in its order, done once per image
    /// because every term is constant while the image is presented.
    fn constant_current(&self, arena: &mut Arena, id: usize, jc: usize) {
        let node = &self.net.nodes[id];
        let n = node.size();
        let settings = &self.model_nodes[id];
        let gain = T::from_f64(if settings.neuron.is_some() {
            settings.scale
        } else {
            1.0
        });
        let elem = std::mem::size_of::<T>();
        arena.slice_mut::<T>(jc, n).fill(T::zero());
        for edge in &self.layout.nodes[id].edges {
            let Some(u) = edge.u else { continue };
            let [j, u] = arena.regions([(jc, n * elem), (u, n * elem)]);
            for (acc, &x) in typed::<T>(j).iter_mut().zip(typed::<T>(u).iter()) {
                *acc = *acc + gain * x;
            }
        }
        if let Some(bias) = self.embedded.biases[id].as_ref() {
            for (acc, &b) in arena.slice_mut::<T>(jc, n).iter_mut().zip(bias) {
                *acc = *acc + gain * b;
            }
        }
    }
}

impl<'a, T: Real> Lowering<'a, T> {
    /// Cranelift IR instructions: what the compile time grows with.
    pub fn instructions(&self) -> usize {
        self.lowered.instructions()
    }

    /// The threads the compile will run on: the IR is one function per
    /// node that does work, and those compile in parallel.
    pub fn threads(&self) -> usize {
        self.lowered.threads()
    }

    /// The IR as text (`snnc check --emit clif`), each node's function
    /// headed by the node's name.
    pub fn clif(&self) -> String {
        self.lowered.clif(self.net)
    }

    /// Compiles the IR to machine code: the second half of
    /// [`JitModel::compile`].
    pub fn compile(self) -> Result<JitModel<'a, T>, SimError> {
        let Lowering {
            net,
            layout,
            embedded,
            model,
            cfg,
            probes,
            lowered,
            start,
        } = self;
        let in_registers = lowered.in_registers.clone();
        let precompiled = lowered.precompiled.clone();
        let compiled = lowered.compile()?;
        let initial_v = net
            .nodes
            .iter()
            .enumerate()
            .map(|(id, node)| {
                match (
                    model.initial_voltage.uniform_seed(cfg.seed),
                    layout.nodes[id].v,
                ) {
                    (Some(seed), Some(_)) => uniform_voltages(seed, id, node.size())
                        .into_iter()
                        .map(T::from_f64)
                        .collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
        let f64_mode = std::mem::size_of::<T>() == 8;
        let mut jit = JitModel {
            net,
            layout,
            embedded,
            model_nodes: model.nodes.clone(),
            steps: compiled.steps,
            _module: CodeOwner(compiled.module),
            _constants: compiled.constants,
            compile_seconds: start.elapsed().as_secs_f64(),
            initial_v,
            in_registers,
            precompiled,
            dt: cfg.dt,
            steps_per_run: cfg.steps,
            probes,
            lanes: if f64_mode { 1 } else { lower::LANES },
            zeroed: Vec::new(),
        };
        jit.zeroed = jit.zeroed_ranges();
        Ok(jit)
    }
}

/// The vectors whose addresses the generated code embeds, owned by the
/// model so that they live as long as its code.
struct Embedded<T> {
    /// Per node: the bias vector the code reads (expanded to every
    /// position, padded, and multiplied by the gain where the code reads it
    /// that way).
    biases: Vec<Option<Vec<T>>>,
    /// Per node: its kernel, copied to start on a cache line.
    kernels: Vec<LineStart<T>>,
}

/// A copy of a slice whose first element starts a 64-byte cache line. The
/// AVX2 row sum (`wide::add_rows`) reads a conv kernel's rows 32 bytes at a
/// time; at the allocator's 16-byte alignment half of those loads crossed
/// a cache line (docs/architecture.md: `hot` +5%).
struct LineStart<T> {
    values: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Real> LineStart<T> {
    fn copy_of(x: &[T]) -> Self {
        let pad = 64 / std::mem::size_of::<T>();
        let mut values = vec![T::zero(); x.len() + pad];
        // `align_offset` may answer "never" (usize::MAX); then unaligned.
        let start = values.as_ptr().align_offset(64).min(pad);
        values[start..start + x.len()].copy_from_slice(x);
        LineStart {
            values,
            start,
            len: x.len(),
        }
    }

    fn as_slice(&self) -> &[T] {
        &self.values[self.start..self.start + self.len]
    }
}

/// Per node: the vectors the code reads by address, and those addresses.
fn node_constants<T: Real>(
    net: &Network,
    model: &Model,
    params: &[NodeParams<T>],
    layout: &Layout,
) -> (Embedded<T>, Vec<NodeConsts>) {
    let mut biases = Vec::new();
    let mut kernels = Vec::new();
    let mut consts = Vec::new();
    for (id, node) in net.nodes.iter().enumerate() {
        let p = &params[id];
        let bias = (!p.bias.is_empty()).then(|| {
            // A lazy node's shadow row is one more position.
            let shadow = usize::from(layout.nodes[id].lazy.is_some());
            let positions = layers::bias_positions(node.size(), p.bias.len());
            let mut b = layers::channel_bias(&p.bias, positions + shadow);
            // Vectorised loops read whole blocks of four past the end.
            b.resize(b.len().div_ceil(4) * 4, T::zero());
            b
        });
        // The generated code reads an unfiltered bias of a scaled neuron
        // node as `gain * bias`, the product the reference forms every
        // step, made once here (the constant current uses the raw bias).
        let slots = &layout.nodes[id];
        let gain = model.nodes[id].scale;
        let bias_scaled = bias.is_some()
            && model.nodes[id].neuron.is_some()
            && gain != 1.0
            && slots.bias_filter.is_none()
            && slots.j_const.is_none();
        let bias = if bias_scaled {
            bias.map(|b| b.iter().map(|&x| T::from_f64(gain) * x).collect())
        } else {
            bias
        };
        let bias_addr = bias.as_ref().map(|b| b.as_ptr() as u64);
        biases.push(bias);
        let kernel = LineStart::copy_of(&p.kernel);
        consts.push(NodeConsts {
            kernel: kernel.as_slice().as_ptr() as u64,
            kernel_finite: p.kernel.iter().all(|w| w.is_finite()),
            bias: bias_addr,
            bias_scaled,
        });
        kernels.push(kernel);
    }
    (Embedded { biases, kernels }, consts)
}

/// Whether a spiking ReLU neuron starting at voltage `v` and adding `d`
/// every step stays below 1 (never spikes) for `steps` steps, whatever the
/// rounding: each addition of values below 1 errs by at most half an ulp
/// (2^-25 in f32), well inside the 2^-20 per step allowed here.
fn stays_below_threshold(v: f64, d: f64, steps: f64) -> bool {
    v + steps * (d + 2f64.powi(-20)) < 1.0
}

/// Whether a LIF neuron with the constant current `j`, starting at voltage
/// `v` out of any refractory period, never spikes, however long the
/// current lasts and whatever the rounding. Never spiking, it is never
/// refractory, so every step is `v' = v - (j - v) * decay` with the same
/// `decay = expm1(-dt / tau_rc)` in [-1, 0], then the floor at
/// `min_voltage`. Rounding is monotone, so: while `v >= j` the product is
/// not negative and `v' <= v`; while `v < j` the product lies in
/// `[-fl(j - v), 0]`, so `v' <= fl(v + fl(j - v))`, which is `j` plus at
/// most 2^-13 (the difference is below 2^12 in magnitude when `|j|` and
/// `|v|` are at most 1024; in f32 it errs by at most 2^-13) plus the
/// sum's own rounding (2^-24 below 1). By induction `v` never exceeds
/// `max(v0, j + 2^-12, min_voltage)`, and never falls below `min(v0, j) -
/// 2^-12`; with `j <= 1 - 2^-8` that is at most 1, and the spike test is
/// `v > 1`. f64 errs far less.
pub(crate) fn lif_stays_below_threshold(j: f64, v: f64, min_voltage: f64, decay: f64) -> bool {
    const BOUND: f64 = 1024.0;
    let margin = 2f64.powi(-8);
    (-BOUND..=1.0 - margin).contains(&j)
        && (-BOUND..=1.0).contains(&v)
        && min_voltage <= 1.0
        && (-1.0..=0.0).contains(&decay)
}

/// Whether a spiking ReLU neuron of node `id` that receives no input (its
/// current is its scaled bias, `J = gain * bias` as the generated code
/// forms it) stays below threshold for the whole run from a zero voltage.
fn quiet_without_input<T: Real>(
    model: &Model,
    params: &NodeParams<T>,
    id: usize,
    cfg: &SimConfig,
) -> bool {
    let settings = &model.nodes[id];
    if !matches!(settings.neuron, Some(Neuron::SpikingRectifiedLinear { .. })) {
        return false;
    }
    let (gain, dt) = (T::from_f64(settings.scale), T::from_f64(cfg.dt));
    params.bias.iter().all(|&b| {
        let j = if settings.scale != 1.0 { gain * b } else { b };
        stays_below_threshold(0.0, Real::to_f64(j.max(T::zero()) * dt), cfg.steps as f64)
    })
}

/// Owns the JIT's executable memory. After `finalize_definitions` the
/// module is never touched again, only dropped, so sharing the compiled
/// model between worker threads shares nothing mutable.
struct CodeOwner(#[allow(dead_code)] cranelift_jit::JITModule);

// SAFETY: see above: no method of the module is called after compilation;
// threads only call the finalized function, which is immutable code.
unsafe impl Sync for CodeOwner {}
unsafe impl Send for CodeOwner {}

/// A worker's state memory: 16-byte aligned, zeroed per example.
struct Arena {
    words: Vec<u128>,
}

impl Arena {
    fn new(bytes: usize) -> Self {
        Arena {
            words: vec![0; bytes.div_ceil(16)],
        }
    }
    /// Zeroes the byte ranges `zeroed` (see `zeroed_ranges`).
    fn clear(&mut self, zeroed: &[std::ops::Range<usize>]) {
        let bytes = self.bytes_mut();
        for r in zeroed {
            bytes[r.clone()].fill(0);
        }
    }
    fn ptr(&mut self) -> *mut u8 {
        self.words.as_mut_ptr().cast()
    }
    fn slice<U>(&self, offset: usize, n: usize) -> &[U] {
        assert!(
            offset + n * std::mem::size_of::<U>() <= self.words.len() * 16,
            "arena slot out of bounds"
        );
        // SAFETY: in bounds (checked), aligned (slots are 16-byte aligned),
        // and every bit pattern is a valid f32/f64/u32.
        unsafe {
            std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>().add(offset).cast(), n)
        }
    }
    /// The byte ranges `(offset, bytes)` at once, for code that reads some
    /// slots while it writes others. Panics unless every range is in the
    /// arena and no two overlap (the layout's slots never do).
    fn regions<const N: usize>(&mut self, ranges: [(usize, usize); N]) -> [&mut [u8]; N] {
        let all = self.bytes_mut();
        let mut order: [usize; N] = std::array::from_fn(|k| k);
        order.sort_by_key(|&k| ranges[k].0);
        let mut parts: [Option<&mut [u8]>; N] = std::array::from_fn(|_| None);
        let (mut rest, mut at) = (all, 0);
        for k in order {
            let (offset, bytes) = ranges[k];
            let (_, tail) = std::mem::take(&mut rest)
                .split_at_mut(offset.checked_sub(at).expect("arena regions overlap"));
            let (part, tail) = tail.split_at_mut(bytes);
            parts[k] = Some(part);
            (rest, at) = (tail, offset + bytes);
        }
        parts.map(|p| p.unwrap_or_default())
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.words.len() * 16;
        // SAFETY: the words' own memory, exclusively borrowed; any bytes
        // are valid u128s.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), len) }
    }
    fn slice_mut<U>(&mut self, offset: usize, n: usize) -> &mut [U] {
        assert!(
            offset + n * std::mem::size_of::<U>() <= self.words.len() * 16,
            "arena slot out of bounds"
        );
        // SAFETY: as in `slice`, and `&mut self` makes it exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.words.as_mut_ptr().cast::<u8>().add(offset).cast(),
                n,
            )
        }
    }
}

/// Arena bytes as the elements they hold (f32, f64, u32 or i64: the
/// arena's slots are 16-byte aligned and whole vectors).
/// A packed node's event regions (`CompactSlots::events`, its spike
/// counts, its list lengths, groups per region) as `packed::Events`.
fn packed_events<'a, U: Copy>(
    groups_at: &'a mut [u8],
    spikes: &'a mut [u8],
    lens: &'a mut [u8],
    groups: usize,
) -> packed::Events<'a, U> {
    packed::Events {
        groups_at: typed(groups_at),
        spikes: typed(spikes),
        lens: typed(lens),
        groups,
    }
}

fn typed<U: Copy>(bytes: &mut [u8]) -> &mut [U] {
    let size = std::mem::size_of::<U>();
    assert!(
        bytes.as_ptr().align_offset(std::mem::align_of::<U>()) == 0
            && bytes.len().is_multiple_of(size),
        "arena region not whole elements"
    );
    // SAFETY: aligned and whole elements (checked); every bit pattern is a
    // valid f32/f64/u32/i64, the only types the driver reads the arena as.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast(), bytes.len() / size) }
}

/// Like [`crate::reference::simulate_batch`], on the JIT: many held inputs
/// of a single-input network, spread over every core, in input order.
pub fn simulate_batch<T: Real, I: AsRef<[T]> + Sync>(
    jit: &JitModel<T>,
    inputs: &[I],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<SimOutput<T>>, SimError> {
    simulate_batch_seq(jit, inputs, false, progress)
}

/// [`simulate_batch`], with each example either held (`per_step` false) or
/// a row per step (`steps * n` values, row k-1 fed in step k, as NengoDL
/// feeds `(batch, steps, features)` inputs).
pub fn simulate_batch_seq<T: Real, I: AsRef<[T]> + Sync>(
    jit: &JitModel<T>,
    inputs: &[I],
    per_step: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<SimOutput<T>>, SimError> {
    let examples: Vec<InputSeq<T>> = inputs
        .iter()
        .map(|x| InputSeq::new(x.as_ref(), per_step))
        .collect();
    jit.run_batch(&examples, progress)
}

impl<T: Real> Engine<T> for JitModel<'_, T> {
    fn kind(&self) -> EngineKind {
        EngineKind::Jit
    }

    fn run_batch_counting(
        &self,
        examples: &[InputSeq<'_, T>],
        counts: Counts,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<SimOutput<T>>, SimError> {
        check_batch(&self.input_sizes(), self.steps_per_run, examples)?;
        Ok(crate::parallel::map_in_order(
            examples,
            || Arena::new(self.layout.bytes),
            |arena, x| self.run_with(arena, std::slice::from_ref(x), counts),
            progress,
        ))
    }

    fn compile_seconds(&self) -> Option<f64> {
        Some(self.compile_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::{lif_stays_below_threshold, LineStart};
    use crate::engine::Real;
    use crate::reference::neurons::Lif;
    use crate::rng::SplitMix64;

    /// Steps one reference LIF neuron with current `j` from voltage `v`
    /// and returns its spikes.
    fn spikes<T: Real>(j: f64, v: f64, min_voltage: f64, tau_rc: f64, steps: usize) -> u32 {
        let dt = 0.001;
        let lif = Lif {
            dt: T::from_f64(dt),
            tau_rc: T::from_f64(tau_rc),
            tau_ref: T::from_f64(0.002),
            min_voltage: T::from_f64(min_voltage),
            spike: T::from_f64(1.0 / dt),
        };
        let (j, mut v, mut r, mut out, mut counts) = (
            [T::from_f64(j)],
            [T::from_f64(v)],
            [T::zero()],
            [T::zero()],
            [0],
        );
        for _ in 0..steps {
            lif.step(&j, &mut v, &mut r, &mut out, &mut counts);
        }
        counts[0]
    }

    fn holds<T: Real>(j: f64, v: f64, min_voltage: f64, tau_rc: f64) -> bool {
        let decay = (-T::from_f64(0.001) / T::from_f64(tau_rc)).exp_m1();
        lif_stays_below_threshold(
            Real::to_f64(T::from_f64(j)),
            Real::to_f64(T::from_f64(v)),
            Real::to_f64(T::from_f64(min_voltage)),
            Real::to_f64(decay),
        )
    }

    /// Neurons the bound calls silent never spike in either precision,
    /// however long they run, at the edges of the bound included (fast
    /// and slow decay, currents just under 1 - 2^-8 and at -1024, starts
    /// at 1 and far below, clamping floors); just past it, they do.
    #[test]
    fn lif_bound_admits_only_neurons_that_never_spike() {
        let edge = 1.0 - 2f64.powi(-8);
        let mut rng = SplitMix64::new(7);
        let mut cases = vec![
            (edge, 1.0, 0.0, 0.02),
            (edge, -1024.0, -2000.0, 0.02),
            (edge, 0.3, 0.9, 0.0005),
            (-1024.0, 1.0, f64::NEG_INFINITY, 0.02),
            (edge, 1.0, 1.0, 1e-6),
        ];
        for _ in 0..300 {
            let j = edge - rng.uniform() * 2f64.powi(-(rng.uniform() * 30.0) as i32);
            let v = 1.0 - rng.uniform() * 3.0;
            let floor = -rng.uniform();
            let tau_rc = 0.0005 + rng.uniform() * 0.05;
            cases.push((j, v, floor, tau_rc));
        }
        for &(j, v, floor, tau_rc) in &cases {
            assert!(
                holds::<f32>(j, v, floor, tau_rc),
                "{j} {v} {floor} {tau_rc}"
            );
            assert!(
                holds::<f64>(j, v, floor, tau_rc),
                "{j} {v} {floor} {tau_rc}"
            );
            assert_eq!(spikes::<f32>(j, v, floor, tau_rc, 3000), 0, "f32 {j} {v}");
            assert_eq!(spikes::<f64>(j, v, floor, tau_rc, 3000), 0, "f64 {j} {v}");
        }
        // Past the bound: a current above threshold spikes, and is listed.
        assert!(!holds::<f32>(1.01, 0.0, 0.0, 0.02));
        assert!(spikes::<f32>(1.01, 0.0, 0.0, 0.02, 3000) > 0);
        assert!(!holds::<f32>(0.5, 1.5, 0.0, 0.02));
        assert!(!holds::<f32>(f64::NAN, 0.0, 0.0, 0.02));
        assert!(!holds::<f32>(-2000.0, 0.0, 0.0, 0.02));
    }

    #[test]
    fn a_line_start_copy_holds_the_values_on_a_cache_line() {
        for n in [0, 1, 15, 16, 17, 1000] {
            let x: Vec<f32> = (0..n).map(|i| i as f32 - 0.5).collect();
            let copy = LineStart::copy_of(&x);
            assert_eq!(copy.as_slice(), &x[..]);
            assert_eq!(copy.as_slice().as_ptr() as usize % 64, 0);
            let y: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let copy = LineStart::copy_of(&y);
            assert_eq!(copy.as_slice(), &y[..]);
            assert_eq!(copy.as_slice().as_ptr() as usize % 64, 0);
        }
    }
}
