//! `snnc import MODEL -o DIR [--name NAME]`: a Keras model file to a `.snn`
//! spec and a params `.npz` (see docs/import.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use snnc_compiler::check::data_source_from_text;
use snnc_compiler::check_source;
use snnc_compiler::ir::Precision;
use snnc_compiler::render::convert_block;
use snnc_import::import;
use snnc_runtime::analysis::tune::{self, Options, Problem};
use snnc_runtime::driver::{self, Loaded};
use snnc_runtime::io::write_atomic;

/// Import a Keras model (.keras or .h5) as a .snn spec plus a params .npz.
///
/// Writes DIR/NAME.snn and DIR/NAME_params.npz. The spec names layers as
/// Keras did, notes shapes in comments, probes the output and, when the
/// model uses relu, adds a spiking variant. Layers the .snn language cannot
/// express are refused with the reason. Exits 0 on success, 1 otherwise.
#[derive(Args, Debug)]
#[command(
    about = "Import a Keras model (.keras or .h5) as a .snn spec plus a params .npz",
    long_about = "Import a Keras model (.keras or .h5) as a .snn spec plus a params .npz.\n\n\
        Writes DIR/NAME.snn and DIR/NAME_params.npz. The spec names layers as Keras did, notes \
        shapes in comments, probes the output and, when the model uses relu, adds a spiking \
        variant. Layers the .snn language cannot express are refused with the reason. \
        Exits 0 on success, 1 otherwise. Docs: docs/import.md"
)]
pub struct ImportArgs {
    /// The Keras model: a Keras 3 `.keras` file or a legacy `.h5` file.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,

    /// Directory to write the spec and params into (created if missing).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,

    /// Network name and file stem [default: the model file's stem].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,

    /// Calibrate and tune the spiking variant on these examples, written
    /// as in a spec with paths relative to the current directory (for
    /// example `mnist_idx("data/mnist", split=train, offset=59000)`), and
    /// add the result to the spec as `convert tuned` (see `snnc tune`).
    /// Use examples the model was not trained on, and never the test set.
    #[arg(long, value_name = "DATA")]
    pub calibrate: Option<String>,

    /// Seconds the tuning may take (with --calibrate).
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    pub budget: f64,

    /// Longest presentation to consider, in steps of 1 ms (with --calibrate).
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub max_steps: usize,
}

pub fn run(args: ImportArgs) -> Result<ExitCode, String> {
    let imported = import(
        &args.model,
        &snnc_import::Options {
            name: args.name.clone(),
        },
    )
    .map_err(|e| e.to_string())?;
    let (spec, params) = imported
        .write(&args.out, args.force)
        .map_err(|e| e.to_string())?;
    let values: usize = imported.params.iter().map(|(_, a)| a.len()).sum();
    println!(
        "imported {} ({} Keras layers) as network `{}`:\n  {} ({} layers)\n  {} ({} tensors, {values} values)",
        args.model.display(),
        imported.layers.len(),
        imported.name,
        spec.display(),
        imported.spec_layers,
        params.display(),
        imported.params.len(),
    );
    for note in &imported.notes {
        println!("note: {note}");
    }
    if let Some(data) = &args.calibrate {
        calibrate(&spec, &params, data, &args)?;
    }
    println!("next: snnc check {}", spec.display());
    Ok(ExitCode::SUCCESS)
}

/// Tunes the imported spec's spiking variant on `data` (as `snnc tune`
/// does) and appends the chosen setting as `convert tuned`.
fn calibrate(spec: &Path, params: &Path, data: &str, args: &ImportArgs) -> Result<(), String> {
    if !(args.budget.is_finite() && args.budget > 0.0) || args.max_steps == 0 {
        return Err("--budget and --max-steps must be positive".into());
    }
    let source = data_source_from_text(data).map_err(|e| format!("--calibrate: {e}"))?;
    let text = std::fs::read_to_string(spec)
        .map_err(|e| format!("cannot read `{}`: {e}", spec.display()))?;
    let program = check_source(&text)
        .program
        .ok_or_else(|| format!("internal error: `{}` does not check", spec.display()))?;
    let rate = &program.models[0];
    let net = program.network_of(rate);
    let base = program
        .models
        .iter()
        .find(|m| m.converted && m.has_spiking())
        .cloned()
        .unwrap_or_else(|| tune::spiking_variant(rate));
    let output = program
        .probes
        .first()
        .and_then(|p| net.node(&p.target))
        .ok_or("internal error: the imported spec probes no output")?;
    let loaded = Loaded {
        dataset: driver::load_data(net, &source, Path::new("."))?,
        params: Some(snnc_runtime::params::load(params, net).map_err(|e| e.to_string())?),
    };
    let problem = Problem {
        net,
        base: &base,
        data: &loaded,
        output,
        dt: 0.001,
        seed: 0,
        precision: Precision::F32,
    };
    let options = Options {
        max_steps: args.max_steps,
        budget: Duration::from_secs_f64(args.budget.min(1e9)),
        ..Options::default()
    };
    let outcome = super::tune::search(&problem, &options, 0)?;
    let Some(trial) = outcome.chosen.map(|i| &outcome.trials[i]) else {
        return Err(format!(
            "--calibrate: no setting spiked and told the {} examples apart; check the data's pixel_max",
            loaded.dataset.len()
        ));
    };
    let steps = trial.knobs.steps;
    let block = format!(
        "\n# Tuned by `snnc import --calibrate` on {} examples of {data}:\n\
         # {:.2}% (rate model {:.2}%) at {steps} steps of 1 ms. Run it with\n\
         # `network = tuned`, `dt = 1ms` and `steps = {steps}`.\n{}",
        loaded.dataset.len(),
        trial.eval.accuracy() * 100.0,
        outcome.rate.accuracy() * 100.0,
        convert_block(net, &trial.model, "tuned"),
    );
    let tuned = format!("{text}{block}");
    if check_source(&tuned).program.is_none() {
        return Err("internal error: the tuned block does not check".into());
    }
    write_atomic(spec, |w| w.write_all(tuned.as_bytes())).map_err(|e| e.to_string())?;
    println!(
        "tuned   `tuned` in {}: {:.2}% on the calibration examples (rate model {:.2}%) at {steps} steps, {:.0} spikes per example ({} settings in {:.0} s)",
        spec.display(),
        trial.eval.accuracy() * 100.0,
        outcome.rate.accuracy() * 100.0,
        trial.eval.spikes_per_image,
        outcome.trials.len(),
        outcome.seconds
    );
    Ok(())
}
