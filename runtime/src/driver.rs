//! The one run driver behind `snnc run`, `plot`, `diagnose`, `sweep` and
//! `tune`: pick a run block (and variant), load its data and params and
//! check them against the network, build the engine asked for, and run the
//! examples with a progress callback. The commands keep only their
//! arguments, their analyses and their printing.
//!
//! [`simulate`] returns outputs as `f64`, so that the analyses need no
//! generics; [`simulate_in`] keeps the run's precision (what `snnc run`
//! writes).

use std::path::Path;
use std::time::Instant;

use snnc_compiler::ir::{BoundProbe, DataSource, Model, Network, Precision, Program, Run, Synapse};

use crate::data::{self, Dataset};
use crate::engine::{
    Engine, EngineKind, InputSeq, NodeParams, Real, SimConfig, SimError, SimOutput,
};
use crate::jit::JitModel;
use crate::params::{self, NetParams};
use crate::reference::Simulation;

/// The run block called `name`, or the first one.
pub fn pick_run(program: &Program, name: Option<&str>) -> Result<Run, String> {
    match name {
        None => program
            .runs
            .first()
            .cloned()
            .ok_or_else(|| "the spec has no run block; add `run { network = ... }`".to_string()),
        Some(n) => program
            .runs
            .iter()
            .find(|r| r.name.as_deref() == Some(n))
            .cloned()
            .ok_or_else(|| {
                let names: Vec<String> = program
                    .runs
                    .iter()
                    .map(|r| r.name.clone().unwrap_or_else(|| "(unnamed)".into()))
                    .collect();
                format!(
                    "no run block is called `{n}`; the spec has {}",
                    names.join(", ")
                )
            }),
    }
}

/// The index of the model called `name`, which must convert the same network
/// as `run`'s model.
pub fn pick_variant(program: &Program, run: &Run, name: &str) -> Result<usize, String> {
    let Some(index) = program.models.iter().position(|m| m.name == name) else {
        let names: Vec<&str> = program.models.iter().map(|m| m.name.as_str()).collect();
        return Err(format!(
            "no network or convert variant is called `{name}`; the spec defines {}",
            names.join(", ")
        ));
    };
    if program.models[index].network != program.models[run.model].network {
        return Err(format!(
            "`{name}` converts another network than this run block's; add a run block for it"
        ));
    }
    Ok(index)
}

/// A run's data and params in memory, checked against its network.
pub struct Loaded {
    pub dataset: Dataset,
    pub params: Option<NetParams>,
}

/// A run's data and params; the data must have labels (every command but
/// `snnc run` measures against them).
pub fn load(program: &Program, run: &Run, dir: &Path) -> Result<Loaded, String> {
    let loaded = load_run(program, run, dir, false)?;
    labels_needed(&loaded.dataset)?;
    Ok(loaded)
}

/// [`load`], with unlabelled data (predictions without an accuracy) and
/// NengoDL's `(N, steps, features)` sequences (see
/// [`Dataset::steps_per_example`]) too: what `snnc run` reads.
pub fn load_predicting(program: &Program, run: &Run, dir: &Path) -> Result<Loaded, String> {
    load_run(program, run, dir, true)
}

fn load_run(program: &Program, run: &Run, dir: &Path, sequences: bool) -> Result<Loaded, String> {
    let net = program.network_of(&program.models[run.model]);
    let dataset = load_examples(net, &run.data, dir, sequences)?;
    let params = match &run.params {
        Some(p) => Some(params::load(&dir.join(p), net).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(Loaded { dataset, params })
}

/// The examples and labels of `source`, checked against the input of `net`.
pub fn load_data(net: &Network, source: &DataSource, dir: &Path) -> Result<Dataset, String> {
    let dataset = load_examples(net, source, dir, false)?;
    labels_needed(&dataset)?;
    Ok(dataset)
}

fn labels_needed(dataset: &Dataset) -> Result<(), String> {
    if dataset.labelled {
        return Ok(());
    }
    Err(format!(
        "{}: this data has no labels, and this command measures accuracy against them;          give the data its labels (`npy(\"x.npy\", labels=\"y.npy\")`), or use `snnc run --out` for predictions",
        dataset.origin
    ))
}

/// The examples of `source` (labelled or not), checked against the input
/// of `net`; with `sequences`, `(steps, features)` examples too.
fn load_examples(
    net: &Network,
    source: &DataSource,
    dir: &Path,
    sequences: bool,
) -> Result<Dataset, String> {
    let dataset = data::load(source, dir).map_err(|e| e.to_string())?;
    let input = net
        .inputs()
        .next()
        .map(|i| &net.nodes[i])
        .ok_or("the network has no input")?;
    if sequences && dataset.steps_per_example(input.size()).is_some() {
        return Ok(dataset);
    }
    if dataset.example_size() != input.size() {
        return Err(format!(
            "{}: examples have {} values, but input `{}` of `{}` takes {}",
            dataset.origin,
            dataset.example_size(),
            input.name,
            net.name,
            input.size()
        ));
    }
    Ok(dataset)
}

/// A probe recording `node` every step, unfiltered.
pub fn probe_on(net: &Network, node: usize) -> BoundProbe {
    BoundProbe {
        probe: usize::MAX,
        name: net.nodes[node].name.clone(),
        node,
        synapse: Synapse::None,
        every: 1,
    }
}

/// `model` of `net` with `params` bound, built for `kind` and checked
/// ([`crate::engine::validate`]).
pub fn build<'a, T: Real>(
    kind: EngineKind,
    net: &'a Network,
    model: &'a Model,
    params: &'a [NodeParams<T>],
    probes: &[BoundProbe],
    cfg: &SimConfig,
) -> Result<Box<dyn Engine<T> + 'a>, SimError> {
    Ok(match kind {
        EngineKind::Jit => Box::new(JitModel::compile(net, model, params, probes, cfg)?),
        EngineKind::Reference => Box::new(Simulation::new(net, model, params, probes, cfg)?),
    })
}

/// What [`simulate_in`] recorded, and how long it took.
pub struct Simulated<T> {
    /// One per example, in order.
    pub outputs: Vec<SimOutput<T>>,
    /// Seconds the JIT spent compiling (`None` on the reference).
    pub compile_seconds: Option<f64>,
    /// Seconds from building the engine to the last output.
    pub seconds: f64,
}

/// Simulates examples `range` of the data with params `loaded` on engine
/// `kind` in precision `T`. Examples that are NengoDL `(steps, features)`
/// sequences ([`Dataset::steps_per_example`]) are fed a row per step and
/// must have the run's number of steps. `progress` is called with the
/// number of examples finished so far.
#[allow(clippy::too_many_arguments)]
pub fn simulate_in<T: Real>(
    kind: EngineKind,
    net: &Network,
    model: &Model,
    loaded: &Loaded,
    range: std::ops::Range<usize>,
    probes: &[BoundProbe],
    cfg: &SimConfig,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Simulated<T>, String> {
    let dataset = &loaded.dataset;
    let input_size = net.inputs().next().map_or(0, |i| net.nodes[i].size());
    let per_step = dataset.steps_per_example(input_size);
    if let Some(t) = per_step {
        if t != cfg.steps {
            return Err(format!(
                "{}: each example is a sequence of {t} steps of {input_size} values (NengoDL's (N, steps, features)), \
                 but the run simulates {} steps; set `steps = {t}` in the run block or pass --steps {t}",
                dataset.origin, cfg.steps
            ));
        }
    }
    let node_params: Vec<NodeParams<T>> = params::node_params(loaded.params.as_ref(), net);
    let inputs: Vec<Vec<T>> = range
        .map(|i| {
            dataset
                .example(i)
                .iter()
                .map(|&x| T::from_f64(x as f64))
                .collect()
        })
        .collect();
    let examples: Vec<InputSeq<T>> = inputs
        .iter()
        .map(|x| InputSeq::new(x, per_step.is_some()))
        .collect();
    let start = Instant::now();
    let cannot = |e: SimError| format!("cannot simulate: {e}");
    let engine = build(kind, net, model, &node_params, probes, cfg).map_err(cannot)?;
    let outputs = engine.run_batch(&examples, progress).map_err(cannot)?;
    Ok(Simulated {
        outputs,
        compile_seconds: engine.compile_seconds(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Simulates examples `range` of the data on the JIT in `precision`;
/// outputs as `f64`.
pub fn simulate(
    net: &Network,
    model: &Model,
    loaded: &Loaded,
    range: std::ops::Range<usize>,
    probes: &[BoundProbe],
    cfg: &SimConfig,
    precision: Precision,
) -> Result<Vec<SimOutput<f64>>, String> {
    match precision {
        Precision::F32 => simulate_f64::<f32>(net, model, loaded, range, probes, cfg),
        Precision::F64 => simulate_f64::<f64>(net, model, loaded, range, probes, cfg),
    }
}

fn simulate_f64<T: Real>(
    net: &Network,
    model: &Model,
    loaded: &Loaded,
    range: std::ops::Range<usize>,
    probes: &[BoundProbe],
    cfg: &SimConfig,
) -> Result<Vec<SimOutput<f64>>, String> {
    let simulated = simulate_in::<T>(
        EngineKind::Jit,
        net,
        model,
        loaded,
        range,
        probes,
        cfg,
        &|_| {},
    )?;
    Ok(simulated
        .outputs
        .into_iter()
        .map(|o| SimOutput {
            probes: o
                .probes
                .into_iter()
                .map(|p| p.into_iter().map(Real::to_f64).collect())
                .collect(),
            spike_counts: o.spike_counts,
        })
        .collect())
}

/// `model` with every neuron layer's scale set to `scale` (per-layer scales
/// too) and/or every connection out of neurons given `synapse` (the rule of
/// a variant's global `synapse =`).
pub fn with_overrides(
    net: &Network,
    model: &Model,
    scale: Option<f64>,
    synapse: Option<Synapse>,
) -> Model {
    let mut m = model.clone();
    if let Some(s) = scale {
        for node in m.nodes.iter_mut().filter(|n| n.neuron.is_some()) {
            node.scale = s;
        }
    }
    if let Some(syn) = synapse {
        for (id, node) in net.nodes.iter().enumerate() {
            if matches!(node.op, snnc_compiler::ir::Op::Flatten) {
                continue;
            }
            for (i, &src) in node.inputs.iter().enumerate() {
                if model.nodes[net.storage_of(src)].neuron.is_some() {
                    m.nodes[id].input_synapses[i] = syn;
                }
            }
        }
    }
    m
}
