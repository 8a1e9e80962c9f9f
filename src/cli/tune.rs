//! `snnc tune SPEC`: turns a run block's network and params into a tuned
//! spiking variant with no hand search (per-layer calibration, then a
//! search of scales, synapses and presentation time on validation data),
//! reports the chosen setting's accuracy on the run's own test data, and
//! writes it as a `convert` block and a `run` block into a new spec.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use snnc_compiler::check::data_source_from_text;
use snnc_compiler::ir::{DataSource, Model, Precision, Program, Run};
use snnc_compiler::render::{convert_block, synapse_text, time_text};
use snnc_compiler::{check_source, SourceFile};
use snnc_runtime::analysis::evaluate::Evaluation;
use snnc_runtime::analysis::tune::{self, Knobs, Options, Outcome, Problem};
use snnc_runtime::data::Dataset;
use snnc_runtime::driver::{self, Loaded};
use snnc_runtime::io::write_atomic;

use super::run::ReportFormat;
use super::spec::{load_spec, Spec};

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// The `.snn` spec; its run block gives the network, params, test
    /// data, dt and the output probe.
    #[arg(value_name = "SPEC")]
    pub file: PathBuf,

    /// Which run block, when the spec has several named ones.
    #[arg(long, value_name = "NAME")]
    pub run: Option<String>,

    /// Start from this convert variant (its neuron swaps are kept) instead
    /// of the run block's; a plain network gets `swap relu -> spiking_relu`.
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,

    /// Validation data, written as in a spec (for example
    /// `mnist_idx("data", split=train, offset=54000)`); never the test
    /// data. Default: the examples the network's train block holds out
    /// (its `validation_split`, the end of its data).
    #[arg(long, value_name = "DATA")]
    pub validation: Option<String>,

    /// Validation examples to tune on (the last N of the held-out ones).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub images: usize,

    /// Longest presentation to consider, in steps of the run's dt.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub max_steps: usize,

    /// Percent of validation examples on which a setting may predict
    /// another class than the rate model and still count as matching it;
    /// among those the fewest steps, then spikes, win.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.25)]
    pub tolerance: f64,

    /// Seconds the search may take; the best setting found by then is used.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub budget: f64,

    /// Firing rate (Hz) calibration gives the percentile of active neurons.
    #[arg(long, value_name = "HZ", default_value_t = 250.0)]
    pub target_rate: f64,

    /// Percentile of active neurons' rate-mode outputs that calibration
    /// maps to the target rate.
    #[arg(long, value_name = "P", default_value_t = 99.9)]
    pub percentile: f64,

    /// Test on at most N examples of the run block's data.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Where to write the tuned spec (in the spec's directory, whose
    /// relative paths it keeps). Default: `NAME.tuned.snn` beside SPEC.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Name of the written variant and run block.
    #[arg(long, value_name = "NAME", default_value = "tuned")]
    pub name: String,

    /// How to print the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// `snnc tune --format json`; `schema` changes when fields change meaning.
#[derive(Serialize)]
struct TuneReport<'a> {
    schema: u32,
    spec: String,
    network: String,
    base_variant: String,
    validation: ValidationInfo,
    outcome: &'a Outcome,
    chosen: Option<Chosen>,
    written: Option<String>,
}

#[derive(Serialize)]
struct ValidationInfo {
    source: String,
    images: usize,
}

#[derive(Serialize)]
struct Chosen {
    setting: String,
    knobs: Knobs,
    validation: Evaluation,
    test: Evaluation,
    rate_test: Evaluation,
    /// The command that reproduces `test`.
    reproduce: String,
}

pub fn run(args: TuneArgs) -> Result<ExitCode, String> {
    let options = options(&args)?;
    let Some(spec) = load_spec(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let program = &spec.program;
    let mut run = driver::pick_run(program, args.run.as_deref())?;
    if let Some(v) = &args.variant {
        run.model = driver::pick_variant(program, &run, v)?;
    }
    if let Some(limit) = args.limit {
        if limit == 0 {
            return Err("--limit must be at least 1".into());
        }
        run.data.limit = Some(run.data.limit.map_or(limit, |l| l.min(limit)));
    }
    for taken in program
        .models
        .iter()
        .map(|m| &m.name)
        .chain(run_names(program))
    {
        if *taken == args.name {
            return Err(format!(
                "the spec already has `{}`; pick another --name",
                args.name
            ));
        }
    }
    let out = out_path(&spec, args.out.as_deref(), &args.name)?;

    let declared = &program.models[run.model];
    let net = program.network_of(declared);
    let base = if declared.has_spiking() {
        declared.clone()
    } else {
        tune::spiking_variant(declared)
    };
    let test = match driver::load(program, &run, &spec.dir) {
        Ok(loaded) => loaded,
        Err(d) => return Ok(spec.fail(&d)),
    };
    let (validation, source_text) = validation_data(&args, &spec, &run, &base, &test)?;
    let val = Loaded {
        dataset: validation,
        params: test.params.clone(),
    };
    let output = run.probes[run.report.probe].node;
    let problem = Problem {
        net,
        base: &base,
        data: &val,
        output,
        dt: run.dt,
        seed: run.seed,
        precision: run.precision,
    };
    let outcome = search(&problem, &options, test.dataset.len())?;

    let mut chosen = None;
    let mut written = None;
    if let Some(i) = outcome.chosen {
        let trial = &outcome.trials[i];
        let on_test = Problem {
            data: &test,
            ..problem
        };
        let (rate_test, rate_predictions) = tune::rate_reference(&on_test)?;
        let test_eval = tune::evaluate(
            &on_test,
            &trial.model,
            trial.knobs.steps,
            Some(&rate_predictions),
        )?;
        let text = tuned_spec(
            &spec,
            &run,
            &trial.model,
            trial.knobs.steps,
            &args.name,
            &outcome,
            &test_eval,
        )?;
        write_atomic(&out, |w| w.write_all(text.as_bytes())).map_err(|e| e.to_string())?;
        let mut reproduce = format!("snnc run {} --run {}", out.display(), args.name);
        if let Some(limit) = args.limit {
            reproduce.push_str(&format!(" --limit {limit}"));
        }
        written = Some(out.display().to_string());
        chosen = Some(Chosen {
            setting: describe(&trial.knobs, &outcome, net),
            knobs: trial.knobs.clone(),
            validation: trial.eval.clone(),
            test: test_eval,
            rate_test,
            reproduce,
        });
    }
    let report = TuneReport {
        schema: 1,
        spec: spec.path.display().to_string(),
        network: net.name.clone(),
        base_variant: base.name.clone(),
        validation: ValidationInfo {
            source: source_text,
            images: val.dataset.len(),
        },
        outcome: &outcome,
        chosen,
        written,
    };
    match args.format {
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        ),
        ReportFormat::Human => print_report(&report, &options, net),
    }
    Ok(if report.chosen.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `tune::tune` with a progress bar, once the memory budget allows it;
/// the chosen setting is then also run on `test_examples`.
pub fn search(
    problem: &Problem,
    options: &Options,
    test_examples: usize,
) -> Result<Outcome, String> {
    // Every setting records the output every step (as f64) for each
    // example, for at most `max_steps` steps.
    let probe = driver::probe_on(problem.net, problem.output);
    super::memory::check_run(
        problem.net,
        std::slice::from_ref(&probe),
        problem.data.dataset.len().max(test_examples),
        options.max_steps,
        8,
    )?;
    let bar = super::progress::counted_bar(0, "tuning", "settings");
    let outcome = tune::tune(problem, options, &|done, planned| {
        bar.set_length(planned as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    Ok(outcome)
}

fn options(args: &TuneArgs) -> Result<Options, String> {
    let positive = |v: f64, flag: &str| {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(format!("{flag} must be a positive number, found {v}"))
        }
    };
    if args.images == 0 || args.max_steps == 0 {
        return Err("--images and --max-steps must be at least 1".into());
    }
    if !(0.0..=100.0).contains(&args.tolerance) {
        return Err(format!(
            "--tolerance is a percentage of examples (0 to 100), found {}",
            args.tolerance
        ));
    }
    if !(args.percentile > 0.0 && args.percentile <= 100.0) {
        return Err(format!(
            "--percentile must be in (0, 100], found {}",
            args.percentile
        ));
    }
    Ok(Options {
        max_steps: args.max_steps,
        tolerance: args.tolerance / 100.0,
        budget: Duration::from_secs_f64(positive(args.budget, "--budget")?.min(1e9)),
        percentile: args.percentile,
        target_rate_hz: positive(args.target_rate, "--target-rate")?,
        ..Options::default()
    })
}

fn run_names(program: &Program) -> impl Iterator<Item = &String> {
    program.runs.iter().filter_map(|r| r.name.as_ref())
}

/// `-o`, or `STEM.tuned.snn` beside the spec; it must sit in the spec's
/// directory because it keeps the spec's relative paths.
fn out_path(spec: &Spec, out: Option<&Path>, name: &str) -> Result<PathBuf, String> {
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => {
            let stem = spec
                .path
                .file_stem()
                .map_or("spec".into(), |s| s.to_string_lossy().into_owned());
            spec.dir.join(format!("{stem}.{name}.snn"))
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    if !same(&parent, &spec.dir) {
        return Err(format!(
            "-o {}: write the tuned spec into {} (beside {}), whose relative paths it keeps",
            path.display(),
            spec.dir.display(),
            spec.path.display()
        ));
    }
    if path.canonicalize().ok() == spec.path.canonicalize().ok() {
        return Err(format!(
            "-o {}: that is the spec itself; the tuned spec goes into a new file",
            path.display()
        ));
    }
    Ok(path)
}

/// The validation examples and a description of where they came from.
fn validation_data(
    args: &TuneArgs,
    spec: &Spec,
    run: &Run,
    base: &Model,
    test: &Loaded,
) -> Result<(Dataset, String), String> {
    let program = &spec.program;
    let net = program.network_of(base);
    let (source, text, held_out) = match &args.validation {
        Some(text) => {
            let source = data_source_from_text(text).map_err(|e| format!("--validation: {e}"))?;
            (source, text.clone(), None)
        }
        None => {
            let Some(train) = program
                .trains
                .iter()
                .find(|t| program.models[t.model].network == base.network)
            else {
                return Err(format!(
                    "no train block of `{}` says which examples are held out; pass --validation DATA (examples that are not the run's test data)",
                    net.name
                ));
            };
            let text = spec.text[train.data.span.start..train.data.span.end].to_string();
            (train.data.clone(), text, Some(train.validation_split))
        }
    };
    let all = driver::load_data(net, &source, &spec.dir)?;
    let n = all.len();
    let (from, note) = match held_out {
        Some(split) if split > 0.0 => {
            let kept = n - (n as f64 * (1.0 - split)).floor() as usize;
            (
                n - kept.min(args.images),
                format!("{text}, held out by validation_split = {split}"),
            )
        }
        Some(_) => (
            n - n.min(args.images),
            format!("{text}: its train block holds nothing out, so these examples were trained on"),
        ),
        None => (0, text),
    };
    let to = (from + args.images).min(n);
    // Examples `offset + i` of the files: the two must not share one.
    let files = |s: &DataSource| format!("{:?}", s.kind);
    let tested = run.data.offset..run.data.offset + test.dataset.len();
    let validated = source.offset + from..source.offset + to;
    if files(&source) == files(&run.data)
        && validated.start < tested.end
        && tested.start < validated.end
    {
        return Err(format!(
            "the validation examples {}..{} of {} include the run's test examples {}..{}; tune on other examples, such as the held-out end of the training data (--validation)",
            validated.start, validated.end, test.dataset.origin, tested.start, tested.end
        ));
    }
    Ok((all.slice(from..to), note))
}

/// The original spec, then the chosen variant and a run block for it.
fn tuned_spec(
    spec: &Spec,
    run: &Run,
    model: &Model,
    steps: usize,
    name: &str,
    outcome: &Outcome,
    test: &Evaluation,
) -> Result<String, String> {
    let program = &spec.program;
    let net = program.network_of(model);
    let mut text = spec.text.clone();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let rate = outcome.rate.accuracy() * 100.0;
    let chosen = outcome.chosen.map(|i| &outcome.trials[i]);
    text.push_str(&format!(
        "\n# Written by `snnc tune`: per-layer scales calibrated on the rate model, then\n\
         # scales, synapses and steps searched on {} validation examples\n\
         # (spiking {:.2}% vs rate {rate:.2}%); test data {:.2}%.\n",
        outcome.rate.images,
        chosen.map_or(0.0, |t| t.eval.accuracy() * 100.0),
        test.accuracy() * 100.0,
    ));
    text.push_str(&convert_block(net, model, name));
    let params = run.params.as_ref().map_or(String::new(), |p| {
        format!(
            "    params    = \"{}\"\n",
            p.replace('\\', "\\\\").replace('"', "\\\"")
        )
    });
    let data = &spec.text[run.data.span.start..run.data.span.end];
    let probe = &run.probes[run.report.probe].name;
    text.push_str(&format!(
        "\nrun {name} {{\n    network   = {name}\n{params}    data      = {data}\n    dt        = {}\n    steps     = {steps}\n    precision = {}\n    batch     = {}\n    seed      = {}\n    report    = accuracy({probe}, at=last)\n}}\n",
        time_text(run.dt),
        match run.precision {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        },
        run.batch,
        run.seed,
    ));
    let checked = check_source(&text);
    if checked.program.is_none() || checked.diagnostics.iter().any(|d| d.is_error()) {
        let file = SourceFile {
            name: "tuned spec".into(),
            text: text.clone(),
        };
        return Err(format!(
            "internal error: the tuned spec does not check:\n{}",
            snnc_compiler::diagnostic::render_text(&file, &checked.diagnostics, false)
        ));
    }
    Ok(text)
}

/// `scale x8 (conv1 586.6), lowpass(2ms), 20 steps` and the like.
fn describe(k: &Knobs, outcome: &Outcome, net: &snnc_compiler::ir::Network) -> String {
    let scales: Vec<String> = outcome
        .calibration
        .iter()
        .zip(&k.layer_multipliers)
        .map(|(c, m)| format!("{} {:.4}", c.layer, c.scale * k.multiplier * m))
        .collect();
    let mut s = format!(
        "scale x{} ({}), synapse {}",
        k.multiplier,
        scales.join(", "),
        synapse_text(k.synapse)
    );
    for &(node, input, syn) in &k.connection_synapses {
        let from = &net.nodes[net.storage_of(net.nodes[node].inputs[input])].name;
        s.push_str(&format!(
            ", {from} -> {} {}",
            net.nodes[node].name,
            synapse_text(syn)
        ));
    }
    s.push_str(&format!(", {} steps", k.steps));
    s
}

fn print_report(r: &TuneReport, o: &Options, net: &snnc_compiler::ir::Network) {
    let out = r.outcome;
    println!(
        "{}: tuning `{}` of `{}` on {} validation examples ({}), at most {} steps",
        r.spec, r.base_variant, r.network, r.validation.images, r.validation.source, o.max_steps
    );
    println!(
        "calibration: the {}th percentile of active rate-mode outputs fires at {} Hz",
        o.percentile, o.target_rate_hz
    );
    for c in &out.calibration {
        match c.activity {
            Some(a) => println!("  {:<12} activity {a:<12.5} scale {:.4}", c.layer, c.scale),
            None => println!(
                "  {:<12} never active on the calibration examples; scale kept at {}",
                c.layer, c.scale
            ),
        }
    }
    println!(
        "rate model: {:.2}% on validation",
        out.rate.accuracy() * 100.0
    );
    println!(
        "search: {} settings in {:.1} s{}",
        out.trials.len(),
        out.seconds,
        if out.budget_exhausted {
            " (budget spent; --budget to search longer)"
        } else {
            ""
        }
    );
    println!("Pareto front on validation (accuracy, steps, spikes per image):");
    println!(
        "  {:>9} {:>8} {:>6} {:>7} {:>13}  setting",
        "accuracy", "agrees", "steps", "settle", "spikes/image"
    );
    let mut front: Vec<usize> = (0..out.trials.len()).filter(|&i| out.pareto[i]).collect();
    front.sort_by_key(|&i| {
        (
            out.trials[i].knobs.steps,
            std::cmp::Reverse(out.trials[i].eval.correct),
        )
    });
    for i in front {
        let t = &out.trials[i];
        println!(
            "  {:>8.2}% {:>7.2}% {:>6} {:>7.1} {:>13.0}  {}{}",
            t.eval.accuracy() * 100.0,
            agreement(&t.eval),
            t.eval.steps,
            t.eval.settle_steps,
            t.eval.spikes_per_image,
            describe(&t.knobs, out, net),
            if Some(i) == out.chosen {
                "  <- chosen"
            } else {
                ""
            }
        );
    }
    match &r.chosen {
        Some(c) => {
            println!("chosen: {}", c.setting);
            println!(
                "  validation {:.2}% (rate {:.2}%; same prediction as the rate model on {:.2}%), {:.0} spikes per image, settles after {:.1} steps",
                c.validation.accuracy() * 100.0,
                out.rate.accuracy() * 100.0,
                agreement(&c.validation),
                c.validation.spikes_per_image,
                c.validation.settle_steps
            );
            println!(
                "  test       {:.2}% on {} examples of the run's data (rate {:.2}%; same prediction on {:.2}%)",
                c.test.accuracy() * 100.0,
                c.test.images,
                c.rate_test.accuracy() * 100.0,
                agreement(&c.test)
            );
            if let Some(w) = &r.written {
                println!(
                    "written {w}; reproduce the test figure with: {}",
                    c.reproduce
                );
            }
        }
        None => {
            println!("no setting spiked and told classes apart; check the params and --max-steps")
        }
    }
}

/// Percent of examples predicted as the rate model predicts them.
fn agreement(e: &Evaluation) -> f64 {
    e.agreement.unwrap_or(0) as f64 / e.images.max(1) as f64 * 100.0
}
