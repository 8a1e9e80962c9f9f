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

use snnc_compiler::diagnostic::{Code, Diagnostic};
use snnc_compiler::ir::{
    BoundProbe, DataSource, Model, Network, NodeId, Precision, Program, Run, Synapse, Train,
};
use snnc_compiler::span::Span;

use crate::cost::{self, Estimate};
use crate::data::{self, Dataset};
use crate::engine::{
    Counts, Engine, EngineKind, InputSeq, NodeParams, Real, SimConfig, SimError, SimOutput,
};
use crate::io::spec_files::params_diagnostic;
use crate::io::IoError;
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
/// `snnc run` measures against them). A file that cannot be read or does
/// not fit the network is a diagnostic on the run block's `data =` or
/// `params =` value ([`Code::BadData`], [`Code::BadParams`]).
pub fn load(program: &Program, run: &Run, dir: &Path) -> Result<Loaded, Box<Diagnostic>> {
    let loaded = load_run(program, run, dir, false)?;
    labels_needed(&loaded.dataset).map_err(|(message, help)| {
        Box::new(
            Diagnostic::error(Code::BadData, run.data.span, message)
                .label("this data has no labels")
                .help(help),
        )
    })?;
    Ok(loaded)
}

/// [`load`], with unlabelled data (predictions without an accuracy) and
/// NengoDL's `(N, steps, features)` sequences (see
/// [`Dataset::steps_per_example`]) too: what `snnc run` reads.
pub fn load_predicting(
    program: &Program,
    run: &Run,
    dir: &Path,
) -> Result<Loaded, Box<Diagnostic>> {
    load_run(program, run, dir, true)
}

fn load_run(
    program: &Program,
    run: &Run,
    dir: &Path,
    sequences: bool,
) -> Result<Loaded, Box<Diagnostic>> {
    let net = program.network_of(&program.models[run.model]);
    let steps = sequences.then_some(run.steps);
    let dataset = load_examples(net, &run.data, dir, steps)
        .map_err(|problem| Box::new(problem.diagnostic(net, run.data.span)))?;
    let params = match &run.params {
        Some(p) => Some(
            params::load(&dir.join(p), net)
                .map_err(|e| Box::new(params_diagnostic(net, run.params_span, &e)))?,
        ),
        None => None,
    };
    Ok(Loaded { dataset, params })
}

/// Why a data source cannot feed a network.
enum DataProblem {
    /// The files cannot be read.
    Unreadable(IoError),
    /// Examples whose size is not the input's.
    WrongSize {
        origin: String,
        values: usize,
        input: NodeId,
    },
    /// NengoDL `(steps, features)` sequences of another length than the
    /// run's.
    WrongSteps {
        origin: String,
        steps: usize,
        features: usize,
        run_steps: usize,
    },
    /// No labels, where the command measures against them.
    Unlabelled { message: String, help: String },
}

impl DataProblem {
    /// As a diagnostic at `span` (the data source in the spec).
    fn diagnostic(self, net: &Network, span: Span) -> Diagnostic {
        match self {
            DataProblem::Unreadable(e) => {
                let d = Diagnostic::error(Code::BadData, span, e.summary())
                    .label("this data cannot be read");
                match e.help {
                    Some(help) => d.help(help),
                    None => d,
                }
            }
            DataProblem::WrongSize {
                origin,
                values,
                input,
            } => {
                let input = &net.nodes[input];
                Diagnostic::error(
                    Code::BadData,
                    span,
                    format!(
                        "{origin}: examples have {values} values, but input `{}` of `{}` takes {}",
                        input.name,
                        net.name,
                        input.size()
                    ),
                )
                .label(format!("examples of {values} values"))
                .with_secondary(input.span, format!("takes {} values", input.size()))
                .help(
                    "give data whose examples fit the input, or declare the input with their shape",
                )
            }
            DataProblem::WrongSteps {
                origin,
                steps,
                features,
                run_steps,
            } => Diagnostic::error(
                Code::BadData,
                span,
                format!(
                    "{origin}: each example is a sequence of {steps} steps of {features} values \
                     (NengoDL's (N, steps, features)), but the run simulates {run_steps} steps"
                ),
            )
            .label(format!("sequences of {steps} steps"))
            .help(format!(
                "set `steps = {steps}` in the run block or pass --steps {steps}"
            )),
            DataProblem::Unlabelled { message, help } => {
                Diagnostic::error(Code::BadData, span, message)
                    .label("this data has no labels")
                    .help(help)
            }
        }
    }

    /// As one line of text, for data that is not in a spec (a command
    /// line's `--validation`, `snnc import --data`).
    fn text(self, net: &Network) -> String {
        match self {
            DataProblem::Unreadable(e) => e.to_string(),
            DataProblem::WrongSize {
                origin,
                values,
                input,
            } => {
                let input = &net.nodes[input];
                format!(
                    "{origin}: examples have {values} values, but input `{}` of `{}` takes {}",
                    input.name,
                    net.name,
                    input.size()
                )
            }
            // Not produced for data outside a run block.
            DataProblem::WrongSteps { .. } => {
                let d = self.diagnostic(net, Span::default());
                format!("{}; {}", d.message, d.help.unwrap_or_default())
            }
            DataProblem::Unlabelled { message, help } => format!("{message}; {help}"),
        }
    }
}

/// The examples and labels of `source`, checked against the input of `net`.
pub fn load_data(net: &Network, source: &DataSource, dir: &Path) -> Result<Dataset, String> {
    let dataset = load_examples(net, source, dir, None).map_err(|p| p.text(net))?;
    labels_needed(&dataset)
        .map_err(|(message, help)| DataProblem::Unlabelled { message, help }.text(net))?;
    Ok(dataset)
}

/// Data without labels, for a command that measures accuracy: the message
/// and the fix.
fn labels_needed(dataset: &Dataset) -> Result<(), (String, String)> {
    if dataset.labelled {
        return Ok(());
    }
    Err((
        format!(
            "{}: this data has no labels, and this command measures accuracy against them",
            dataset.origin
        ),
        "give the data its labels (`npy(\"x.npy\", labels=\"y.npy\")`), or use `snnc run --out` for predictions".into(),
    ))
}

/// A train block's data, checked against the input of the network it
/// trains; a problem is a diagnostic at its `data =` value, as a run
/// block's is.
pub fn load_training_data(
    program: &Program,
    train: &Train,
    dir: &Path,
) -> Result<Dataset, Box<Diagnostic>> {
    let net = program.network_of(&program.models[train.model]);
    load_examples(net, &train.data, dir, None)
        .map_err(|problem| Box::new(problem.diagnostic(net, train.data.span)))
}

/// Labels of `dataset` that the run's reported probe has no class score
/// for, as a diagnostic at the data source with the probed layer related.
pub fn labels_fit(program: &Program, run: &Run, dataset: &Dataset) -> Result<(), Box<Diagnostic>> {
    let net = program.network_of(&program.models[run.model]);
    let node = &net.nodes[run.probes[run.report.probe].node];
    crate::report::labels_fit(
        dataset.labels(),
        node.size(),
        &node.name,
        &dataset.origin,
        run.data.offset,
    )
    .map_err(|message| {
        Box::new(
            Diagnostic::error(Code::BadData, run.data.span, message)
                .label("labels out of range")
                .with_secondary(node.span, format!("{} class scores", node.size())),
        )
    })
}

/// The examples of `source` (labelled or not), checked against the input
/// of `net`; with `sequence_steps`, `(steps, features)` examples of that
/// many steps too.
fn load_examples(
    net: &Network,
    source: &DataSource,
    dir: &Path,
    sequence_steps: Option<usize>,
) -> Result<Dataset, DataProblem> {
    let dataset = data::load(source, dir).map_err(DataProblem::Unreadable)?;
    // The checker requires an input; a network without one takes nothing.
    let Some(input) = net.inputs().next() else {
        return Ok(dataset);
    };
    let size = net.nodes[input].size();
    if let (Some(steps), Some(t)) = (sequence_steps, dataset.steps_per_example(size)) {
        if t != steps {
            return Err(DataProblem::WrongSteps {
                origin: dataset.origin,
                steps: t,
                features: size,
                run_steps: steps,
            });
        }
        return Ok(dataset);
    }
    if dataset.example_size() != size {
        return Err(DataProblem::WrongSize {
            values: dataset.example_size(),
            origin: dataset.origin,
            input,
        });
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

/// Which engine a run asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    /// This one, whatever the job.
    Fixed(EngineKind),
    /// The one expected to finish a job of `images` examples first
    /// ([`crate::cost`]): the JIT unless the job is so small that compiling
    /// would take longer than the reference's whole run. A shard passes
    /// the whole run's images (and the input density is measured on the
    /// first examples of the whole data), so that every shard picks the
    /// engine the unsharded run does and `snnc merge` joins their reports.
    Fastest { images: usize },
}

/// An engine [`build_for`] built, and with [`EngineChoice::Fastest`] the
/// estimates the choice was made from.
pub struct Built<'a, T> {
    pub engine: Box<dyn Engine<T> + 'a>,
    pub estimate: Option<Estimate>,
}

/// [`build`] for `choice`, on data whose input values are `input_density`
/// nonzero.
pub fn build_for<'a, T: Real>(
    choice: EngineChoice,
    net: &'a Network,
    model: &'a Model,
    params: &'a [NodeParams<T>],
    probes: &[BoundProbe],
    cfg: &SimConfig,
    input_density: f64,
) -> Result<Built<'a, T>, SimError> {
    let images = match choice {
        EngineChoice::Fixed(kind) => {
            return Ok(Built {
                engine: build(kind, net, model, params, probes, cfg)?,
                estimate: None,
            })
        }
        EngineChoice::Fastest { images } => images,
    };
    // The JIT's IR, lowered to weigh the compile, goes on to be compiled
    // when the JIT is chosen.
    let lowering = JitModel::lower(net, model, params, probes, cfg)?;
    let job = cost::Job {
        images,
        steps: cfg.steps,
        input_density,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let estimate = cost::estimate(
        net,
        model,
        lowering.instructions(),
        lowering.threads(),
        &job,
    );
    let engine: Box<dyn Engine<T> + 'a> = if estimate.reference_is_faster() {
        Box::new(Simulation::new(net, model, params, probes, cfg)?)
    } else {
        Box::new(lowering.compile()?)
    };
    Ok(Built {
        engine,
        estimate: Some(estimate),
    })
}

/// What [`simulate_in`] recorded, and how long it took.
pub struct Simulated<T> {
    /// One per example, in order.
    pub outputs: Vec<SimOutput<T>>,
    /// The engine that ran.
    pub engine: EngineKind,
    /// With [`EngineChoice::Fastest`], the estimates behind the choice.
    pub estimate: Option<Estimate>,
    /// Seconds the JIT spent compiling (`None` on the reference).
    pub compile_seconds: Option<f64>,
    /// Seconds from building the engine to the last output.
    pub seconds: f64,
}

/// The fraction of nonzero values in examples `range` (at most the first
/// 256 of them), which the reference's work depends on (it skips zeros).
pub fn input_density(dataset: &Dataset, range: std::ops::Range<usize>) -> f64 {
    let (mut nonzero, mut all) = (0usize, 0usize);
    for i in range.take(256) {
        let x = dataset.example(i);
        nonzero += x.iter().filter(|&&v| v != 0.0).count();
        all += x.len();
    }
    if all == 0 {
        1.0
    } else {
        nonzero as f64 / all as f64
    }
}

/// Simulates examples `range` of the data with params `loaded` on the
/// engine `choice` gives, in precision `T`. Examples that are NengoDL `(steps, features)`
/// sequences ([`Dataset::steps_per_example`]) are fed a row per step. `progress` is called with the
/// number of examples finished so far.
#[allow(clippy::too_many_arguments)]
pub fn simulate_in<T: Real>(
    choice: EngineChoice,
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
    // A sequence's length was checked against the run's steps when it was
    // loaded ([`load_predicting`]); the engine checks every example again.
    let per_step = dataset.steps_per_example(input_size);
    let node_params: Vec<NodeParams<T>> = params::node_params(loaded.params.as_ref(), net);
    let inputs = examples_in::<T>(dataset, range.clone());
    let examples: Vec<InputSeq<T>> = inputs
        .iter()
        .map(|x| InputSeq::new(x, per_step.is_some()))
        .collect();
    let start = Instant::now();
    let cannot = |e: SimError| format!("cannot simulate: {e}");
    let density = match choice {
        EngineChoice::Fastest { .. } => input_density(dataset, range),
        EngineChoice::Fixed(_) => 1.0,
    };
    let Built { engine, estimate } =
        build_for(choice, net, model, &node_params, probes, cfg, density).map_err(cannot)?;
    let outputs = engine.run_batch(&examples, progress).map_err(cannot)?;
    Ok(Simulated {
        outputs,
        engine: engine.kind(),
        estimate,
        compile_seconds: engine.compile_seconds(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// [`simulate_in`] examples `range` a batch of at most `batch` at a time,
/// each batch's outputs handed to `fold` in order (with the examples'
/// range in the data) and then dropped, so that memory does not grow with
/// the number of examples. The outputs carry each node's spike summary,
/// not each neuron's count ([`Counts::PerNode`]). The engine is built
/// once; `progress` counts the examples of `range` done. Returns the
/// compile and total seconds as [`Simulated`] does, with no outputs.
#[allow(clippy::too_many_arguments)]
pub fn simulate_folded<T: Real>(
    choice: EngineChoice,
    net: &Network,
    model: &Model,
    loaded: &Loaded,
    range: std::ops::Range<usize>,
    batch: usize,
    probes: &[BoundProbe],
    cfg: &SimConfig,
    progress: &(dyn Fn(usize) + Sync),
    fold: &mut dyn FnMut(std::ops::Range<usize>, Vec<SimOutput<T>>) -> Result<(), String>,
) -> Result<Simulated<T>, String> {
    let dataset = &loaded.dataset;
    let input_size = net.inputs().next().map_or(0, |i| net.nodes[i].size());
    let per_step = dataset.steps_per_example(input_size);
    let node_params: Vec<NodeParams<T>> = params::node_params(loaded.params.as_ref(), net);
    let start = Instant::now();
    let cannot = |e: SimError| format!("cannot simulate: {e}");
    let (start_at, end) = (range.start, range.end.min(dataset.len()));
    let density = match choice {
        EngineChoice::Fastest { .. } => input_density(dataset, 0..dataset.len()),
        EngineChoice::Fixed(_) => 1.0,
    };
    let Built { engine, estimate } =
        build_for(choice, net, model, &node_params, probes, cfg, density).map_err(cannot)?;
    for first in (start_at..end).step_by(batch.max(1)) {
        let images = first..(first + batch.max(1)).min(end);
        let inputs = examples_in::<T>(dataset, images.clone());
        let examples: Vec<InputSeq<T>> = inputs
            .iter()
            .map(|x| InputSeq::new(x, per_step.is_some()))
            .collect();
        let tick = |done: usize| progress(first - start_at + done);
        let outputs = engine
            .run_batch_counting(&examples, Counts::PerNode, &tick)
            .map_err(cannot)?;
        fold(images, outputs)?;
    }
    Ok(Simulated {
        outputs: Vec::new(),
        engine: engine.kind(),
        estimate,
        compile_seconds: engine.compile_seconds(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Simulates examples `range` of the data in `precision` on the engine
/// expected to finish first (the reference when the job is too small to
/// repay the JIT's compile; both give the same bits); outputs as `f64`.
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
        EngineChoice::Fastest {
            images: range.len(),
        },
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
            probes: o.probes.iter().map(|p| p.mapv(Real::to_f64)).collect(),
            spike_counts: o.spike_counts,
            spike_summaries: o.spike_summaries,
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
        m.filter_neuron_outputs(net, syn);
    }
    m
}

/// The examples in `range`, in a simulator's precision.
fn examples_in<T: Real>(dataset: &Dataset, range: std::ops::Range<usize>) -> Vec<Vec<T>> {
    range
        .map(|i| {
            dataset
                .example(i)
                .iter()
                .map(|&x| T::from_f64(f64::from(x)))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_compiler::check_source;

    /// `simulate` (behind `plot`, `diagnose`, `sweep` and `tune`) lets a
    /// one-image, two-step job run on the reference, a full run on the
    /// JIT, and both give the same bits.
    #[test]
    fn the_fastest_engine_runs_tiny_jobs_on_the_reference_with_the_same_bits() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
        let text = std::fs::read_to_string(dir.join("deep.snn")).unwrap();
        let program = check_source(&text).program.unwrap();
        let run = pick_run(&program, None).unwrap();
        let loaded = load(&program, &run, &dir).unwrap();
        let model = &program.models[run.model];
        let net = program.network_of(model);
        let probes = [probe_on(net, net.nodes.len() - 1)];
        let cfg = SimConfig {
            steps: 2,
            ..SimConfig::of(&run)
        };
        let on = |choice| {
            simulate_in::<f32>(choice, net, model, &loaded, 0..1, &probes, &cfg, &|_| {}).unwrap()
        };
        let tiny = on(EngineChoice::Fastest { images: 1 });
        assert_eq!(tiny.engine, EngineKind::Reference);
        let jit = on(EngineChoice::Fixed(EngineKind::Jit));
        assert_eq!(jit.engine, EngineKind::Jit);
        assert_eq!(tiny.outputs, jit.outputs);
        let big = EngineChoice::Fastest { images: 10_000 };
        assert_eq!(on(big).engine, EngineKind::Jit);
    }
}
