//! Command-line interface.

mod check;
mod diagnose;
mod import;
mod lsp;
mod memory;
mod merge;
mod overrides;
mod plot;
mod progress;
mod run;
mod shard;
mod spec;
mod sweep;
mod train;
mod tune;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// snnc: compile, check and run `.snn` spiking-network specs.
///
/// A `.snn` file describes a conventional network (conv2d, dense, pooling),
/// how to convert it to spiking neurons (swaps, synapses, firing-rate
/// scale), how to train it in rate mode and how to run it.
#[derive(Parser, Debug)]
#[command(name = "snnc", version, about, long_about = None)]
#[command(after_help = "Start with `snnc check specs/mnist.snn`. Docs: docs/language.md")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// The most memory a command may plan to use, e.g. 4G or 512M (powers
    /// of 1024). Runs, compiles, trainings and file reads estimate what
    /// they need first and stop with an error naming the setting that
    /// makes it too large. Default: the memory available.
    #[arg(long, global = true, value_name = "SIZE", value_parser = snnc_runtime::budget::parse_size)]
    pub max_memory: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check specs and report every problem with its place and a hint.
    ///
    /// Exits 0 when every file is clean (warnings allowed), 1 when any file
    /// has errors, 2 on a usage error.
    Check(check::CheckArgs),
    /// Run a spec's run block: simulate, then report accuracy and rates.
    ///
    /// Paths in the spec (data, params) are relative to the spec's
    /// directory. A progress bar shows on a terminal.
    Run(run::RunArgs),
    /// Train a spec's network in rate mode (its first train block), saving
    /// the params atomically after every epoch.
    Train(train::TrainArgs),
    /// Turn a Keras model (`.keras` or `.h5`) into a `.snn` spec and params.
    Import(import::ImportArgs),
    /// Run a spec's run block and draw a probe: spike raster, activity,
    /// output per class, or predictions against labels (PNG or SVG).
    Plot(plot::PlotArgs),
    /// Run a convert variant next to its rate model and point at the spec
    /// lines to change: presentation time, firing-rate scale, synapses.
    Diagnose(diagnose::DiagnoseArgs),
    /// Run every combination of scale, synapse and presentation time:
    /// accuracy, latency and spikes, with the Pareto front.
    Sweep(sweep::SweepArgs),
    /// Convert without a hand search: calibrate each layer's firing-rate
    /// scale on the rate model, search scales, synapses and presentation
    /// time on validation data, report the test accuracy and write the
    /// chosen setting into a new spec.
    Tune(tune::TuneArgs),
    /// Join the outputs of sharded runs and sweeps (`--shard K/N`): `run
    /// --format json` reports, `run --out` probe files or `sweep --csv`
    /// tables, into the unsharded result.
    Merge(merge::MergeArgs),
    /// Serve the language server protocol over stdio, for editors.
    Lsp(lsp::LspArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// Readable text, coloured on a terminal.
    Human,
    /// One JSON object per diagnostic, one per line.
    Json,
}

pub fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Some(bytes) = cli.max_memory {
        snnc_runtime::budget::set_max_memory(bytes);
    }
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Run(args) => run::run(args),
        Command::Train(args) => train::run(args),
        Command::Import(args) => import::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Diagnose(args) => diagnose::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Tune(args) => tune::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Lsp(args) => lsp::run(args),
    }
}
