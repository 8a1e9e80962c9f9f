//! `snnc run SPEC`: runs a spec's run block on its data and reports what a
//! NengoDL user looks at: accuracy at the last step and firing rates.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use snnc_compiler::ir::{BoundProbe, Precision, Run};
use snnc_runtime::driver::{self, EngineChoice};
use snnc_runtime::engine::{EngineKind, Real, SimConfig};
use snnc_runtime::report::{rate_probes, AccuracyRead, ProbeWriter, RunReport, RunTally};

use super::spec::{load_spec, Spec};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The `.snn` spec to run.
    #[arg(value_name = "SPEC")]
    pub file: PathBuf,

    /// Which run block, when the spec has several named ones.
    #[arg(long, value_name = "NAME")]
    pub run: Option<String>,

    /// Run this network or convert variant instead of the run block's.
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,

    /// Use at most N examples of the run's data.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Simulate in this precision instead of the run block's.
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,

    /// Write every probe to this `.npz`, shape (images, steps, neurons).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub sim: super::overrides::SimOverrides,

    /// Run only the K-th of N equal blocks of the images (after --limit),
    /// for N machines or processes; `snnc merge` joins their `--format
    /// json` reports and `--out` files into the unsharded result
    /// (docs/cluster.md).
    #[arg(long, value_name = "K/N", value_parser = super::shard::parse)]
    pub shard: Option<super::shard::Shard>,

    /// How to print the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,

    /// Which engine simulates: the Cranelift JIT, the reference
    /// interpreter (the executable definition of the semantics; slower), or
    /// `auto`: the JIT, unless the job is so small that the reference
    /// finishes it before the JIT would have compiled (a note on stderr
    /// says so; docs/architecture.md).
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    pub engine: Engine,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    Auto,
    Jit,
    Reference,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F32,
    F64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
}

/// Largest probe file `--out` writes: it is streamed, so memory is not the
/// limit, but the values pass through a scratch file beside it, so it
/// takes twice its size on disk while written.
const MAX_OUT_BYTES: usize = 16 << 30;

/// Images simulated between two folds into the report (and writes to
/// `--out`): enough to keep every core busy, few enough that a run's memory
/// does not grow with its number of images.
const CHUNK: usize = 256;

/// What one batch of images may record (probes and spike counts); large
/// probes make the batch smaller.
const CHUNK_BYTES: usize = 64 << 20;

pub fn run(args: RunArgs) -> Result<ExitCode, String> {
    let Some(spec) = load_spec(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let program = &spec.program;
    let mut run = driver::pick_run(program, args.run.as_deref())?;
    if let Some(variant) = &args.variant {
        run.model = driver::pick_variant(program, &run, variant)?;
    }
    args.sim.apply(&mut run)?;
    if args.run.is_none() && program.runs.len() > 1 {
        eprintln!(
            "note: the spec has {} run blocks; running the first, {} (choose one with --run NAME)",
            program.runs.len(),
            run.name
                .as_ref()
                .map_or("which is unnamed".to_string(), |n| format!("`{n}`"))
        );
    }
    if let Some(limit) = args.limit {
        if limit == 0 {
            return Err("--limit must be at least 1".into());
        }
        run.data.limit = Some(limit);
    }
    if let Some(p) = args.precision {
        run.precision = if p == PrecisionArg::F64 {
            Precision::F64
        } else {
            Precision::F32
        };
    }
    match run.precision {
        Precision::F32 => execute::<f32>(&spec, &run, &args),
        Precision::F64 => execute::<f64>(&spec, &run, &args),
    }
}

fn execute<T: Real>(spec: &Spec, run: &Run, args: &RunArgs) -> Result<ExitCode, String> {
    let program = &spec.program;
    let model = &program.models[run.model];
    let net = program.network_of(model);
    if let Some(out) = &args.out {
        // Before the simulation, not after it.
        snnc_runtime::io::replaceable(out).map_err(|e| format!("cannot write --out: {e}"))?;
    }
    let loaded = match driver::load_predicting(program, run, &spec.dir) {
        Ok(loaded) => loaded,
        Err(d) => return Ok(spec.fail(&d)),
    };
    let dataset = &loaded.dataset;
    // The images this run simulates: all, or its shard's block.
    let of = dataset.len();
    let range = match args.shard {
        Some(s) => s.take(of, "images")?,
        None => 0..of,
    };
    let first = range.start;
    let images = range.len();

    // Record the reported probe, and every probe only when they are written.
    let report_probe = &run.probes[run.report.probe];
    let mut probes: Vec<BoundProbe> = if args.out.is_some() {
        run.probes.clone()
    } else {
        vec![report_probe.clone()]
    };
    // The last step of every rate layer, for its rates (not written).
    let written = probes.len();
    let rate_probes = rate_probes(net, model, run.steps);
    probes.extend(rate_probes.iter().cloned());
    if let Err(d) = driver::labels_fit(program, run, dataset) {
        return Ok(spec.fail(&d));
    }
    let recorded: usize = probes
        .iter()
        .map(|p| (run.steps / p.every.max(1)) * net.nodes[p.node].size() * std::mem::size_of::<T>())
        .chain(net.nodes.iter().map(|n| n.size() * 4))
        .sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = (CHUNK_BYTES / recorded.max(1)).clamp(cores, CHUNK);
    super::memory::check_run(
        net,
        &probes,
        images.min(chunk),
        run.steps,
        std::mem::size_of::<T>() as u64,
    )?;
    let report_index = probes
        .iter()
        .position(|p| p.name == report_probe.name)
        .unwrap_or(0);
    if args.out.is_some() {
        let bytes: usize = probes[..written]
            .iter()
            .map(|p| images * (run.steps / p.every) * net.nodes[p.node].size() * 4)
            .sum();
        if bytes > MAX_OUT_BYTES {
            return Err(format!(
                "--out would write {:.1} GiB of probe data; lower --limit or give large probes `sample_every`",
                bytes as f64 / (1u64 << 30) as f64
            ));
        }
    }

    let cfg = SimConfig::of(run);
    let mut tally = RunTally::new(
        net,
        model,
        AccuracyRead {
            probe: probes[report_index].clone(),
            index: report_index,
            at: run.report.at,
            steps: run.steps,
        },
        run.dt,
        &rate_probes,
        written,
        // A shard keeps its layers' firing image by image, for `snnc merge`.
        args.shard.is_some(),
    );
    let mut writer = match &args.out {
        Some(out) => Some(
            ProbeWriter::create(
                out,
                net,
                &probes[..written],
                images,
                run.steps,
                std::mem::size_of::<T>() == 8,
            )
            .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let bar = super::progress::bar(images as u64, "simulating");
    let tick = |done: usize| bar.set_position(done as u64);
    let engine = match args.engine {
        // A shard weighs the whole run (`of` images, after --limit), as the
        // unsharded run does, so that all pick the same engine.
        Engine::Auto => EngineChoice::Fastest { images: of },
        Engine::Jit => EngineChoice::Fixed(EngineKind::Jit),
        Engine::Reference => EngineChoice::Fixed(EngineKind::Reference),
    };
    let mut fold = |images: std::ops::Range<usize>, outputs: Vec<_>| {
        let labels = if dataset.labelled {
            &dataset.labels()[images]
        } else {
            &[]
        };
        tally.add(&outputs, labels);
        match &mut writer {
            Some(w) => w.add(&outputs).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    };
    let simulated = driver::simulate_folded::<T>(
        engine, net, model, &loaded, range, chunk, &probes, &cfg, &tick, &mut fold,
    );
    bar.finish_and_clear();
    let simulated = simulated?;
    if let (EngineKind::Reference, Some(estimate)) = (simulated.engine, simulated.estimate) {
        eprintln!(
            "note: ran on the reference interpreter: {images} image{} x {} steps is estimated at {:.0} ms \
             there, less than the {:.0} ms the JIT would take to compile (--engine jit to use it anyway)",
            if images == 1 { "" } else { "s" },
            run.steps,
            estimate.reference_seconds * 1e3,
            estimate.compile_seconds * 1e3,
        );
    }
    let seconds = simulated.seconds;
    let correct = tally.correct();
    let report = RunReport {
        schema: snnc_runtime::report::RUN_SCHEMA,
        spec: spec.path.display().to_string(),
        run: run.name.clone(),
        model: model.name.clone(),
        engine: simulated.engine.name().into(),
        compile_seconds: simulated.compile_seconds,
        precision: if std::mem::size_of::<T>() == 8 {
            "f64"
        } else {
            "f32"
        }
        .into(),
        accuracy: dataset
            .labelled
            .then(|| correct as f64 / images.max(1) as f64),
        correct: dataset.labelled.then_some(correct),
        images,
        steps: run.steps,
        dt: run.dt,
        report_probe: report_probe.name.clone(),
        read_step: tally.read_step(),
        layers: tally.layers(),
        seconds,
        images_steps_per_second: (images * run.steps) as f64 / seconds.max(1e-9),
    };
    let saturated = tally.saturated(net);
    if !saturated.is_empty() {
        eprintln!(
            "warning: spike counts of {} reached {} and saturated: the rates reported for {} are too low; \
             lower `scale_firing_rates` (or the layer's `scale`)",
            saturated
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            u32::MAX,
            if saturated.len() == 1 { "it" } else { "them" }
        );
    }
    if let Some(w) = writer {
        let record = args.shard.map(|s| super::shard::npz_record(s, first, of));
        let extra: Vec<(&str, &snnc_runtime::io::NdArray)> =
            record.iter().map(|r| (super::shard::NPZ_KEY, r)).collect();
        w.finish(&extra).map_err(|e| e.to_string())?;
    }
    match args.format {
        ReportFormat::Json => {
            let json = match args.shard {
                None => serde_json::to_string_pretty(&report),
                Some(s) => serde_json::to_string_pretty(&super::shard::ShardedReport {
                    report: &report,
                    shard: super::shard::RunShard {
                        index: s.index,
                        count: s.count,
                        first,
                        of,
                        layers: tally.firing(),
                    },
                }),
            };
            println!("{}", json.map_err(|e| e.to_string())?);
        }
        ReportFormat::Human => {
            if let Some(s) = args.shard {
                println!(
                    "shard     {}/{}: images {}-{} of {of} (merge the shards' --format json reports with snnc merge)",
                    s.index,
                    s.count,
                    first + 1,
                    first + images
                );
            }
            print_report(&report, args.out.as_deref())
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &RunReport, out: Option<&Path>) {
    println!(
        "{}{}: `{}` on {} images x {} steps (dt {} ms, {}, {} engine)",
        r.spec,
        r.run
            .as_ref()
            .map_or(String::new(), |n| format!(", run `{n}`")),
        r.model,
        r.images,
        r.steps,
        r.dt * 1e3,
        r.precision,
        r.engine
    );
    match (r.accuracy, r.correct) {
        (Some(accuracy), Some(correct)) => println!(
            "accuracy  {:.2}%  ({} / {}, `{}` at step {})",
            accuracy * 100.0,
            correct,
            r.images,
            r.report_probe,
            r.read_step
        ),
        _ => println!(
            "accuracy  none: the data has no labels ({})",
            if out.is_some() {
                "the predictions are the probes written below"
            } else {
                "write the predictions with --out probes.npz"
            }
        ),
    }
    if !r.layers.is_empty() {
        println!(
            "{:<12} {:<13} {:>9} {:>14} {:>13} {:>8}",
            "layer", "neuron", "neurons", "mean rate Hz", "max rate Hz", "silent"
        );
        for l in &r.layers {
            println!(
                "{:<12} {:<13} {:>9} {:>14.1} {:>13.1} {:>7.1}%",
                l.name,
                l.neuron,
                l.neurons,
                l.mean_rate_hz,
                l.max_rate_hz,
                l.silent_fraction * 100.0
            );
        }
    }
    let compile = r.compile_seconds.map_or(String::new(), |c| {
        format!(", JIT compile {:.1} ms", c * 1e3)
    });
    println!(
        "time      {:.2} s  ({:.0} images x steps / s{compile})",
        r.seconds, r.images_steps_per_second
    );
    if let Some(out) = out {
        println!("probes    written to {}", out.display());
    }
}
