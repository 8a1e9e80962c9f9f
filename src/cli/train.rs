//! `snnc train SPEC`: trains a spec's network in rate mode (its first train
//! block), saving the params after every epoch.
//!
//! The params file is replaced atomically after each completed epoch, so
//! stopping with Ctrl-C leaves the last complete epoch's params. When the
//! training data is `mnist_idx(...)`, the MNIST test split of the same
//! directory is evaluated after every epoch too.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use snnc_compiler::ir::{DataKind, LossKind, Optimizer, Schedule, Split, Train};
use snnc_runtime::data::{self, Dataset};
use snnc_runtime::driver;
use snnc_runtime::io::{replaceable, write_npz, NdArray, PathLock};
use snnc_runtime::train::{
    self, EpochReport, EvalData, Metrics, Progress, TrainData, TrainOptions,
};

use super::spec::load_spec;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The `.snn` spec to train (its first train block).
    #[arg(value_name = "SPEC")]
    pub file: PathBuf,

    /// Train for this many epochs instead of the train block's `epochs`.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,

    /// How to print the per-epoch results.
    #[arg(long, value_enum, default_value_t = TrainFormat::Human)]
    pub format: TrainFormat,

    /// Use at most N training examples (before the validation split).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Save the params here instead of the train block's `save` (relative
    /// to the current directory, like every path on the command line).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,

    /// Seed the initialisation and the shuffling with N instead of the
    /// train block's `seed`.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Fine-tune: start from these params (an `.npz` from `snnc train` or
    /// `snnc import`) instead of the train block's `init` or Glorot
    /// initialisation.
    #[arg(long, value_name = "PARAMS")]
    pub init: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrainFormat {
    /// A line per epoch.
    Human,
    /// One JSON object per epoch, one per line.
    Json,
}

pub fn run(args: TrainArgs) -> Result<ExitCode, String> {
    let Some(spec) = load_spec(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let program = &spec.program;
    let Some(train) = program.trains.first() else {
        return Err("the spec has no train block; add `train { network = ... }`".into());
    };
    let mut train: Train = train.clone();
    if let Some(limit) = args.limit {
        if limit == 0 {
            return Err("--limit must be at least 1".into());
        }
        train.data.limit = Some(train.data.limit.map_or(limit, |l| l.min(limit)));
    }
    if args.epochs == Some(0) {
        return Err("--epochs must be at least 1".into());
    }
    if let Some(seed) = args.seed {
        train.seed = seed;
    }
    let model = &program.models[train.model];
    let net = program.network_of(model);
    let save = args
        .save
        .clone()
        .unwrap_or_else(|| spec.dir.join(&train.save));
    let init = args
        .init
        .clone()
        .or_else(|| train.init.as_ref().map(|p| spec.dir.join(p)));
    let initial_params = match &init {
        Some(path) => Some(initial_params(path, net)?),
        None => None,
    };
    check_save_dir(&save)?;
    // Refuse a save path that is not a regular file, and hold its lock for
    // the whole training: a second `snnc train` saving to the same path
    // stops here instead of overwriting this one's epochs.
    let cannot = |e: snnc_runtime::io::IoError| format!("cannot save the params: {e}");
    replaceable(&save).map_err(cannot)?;
    let _lock = PathLock::acquire(&save).map_err(cannot)?;

    super::memory::check_train(net, train.batch)?;
    let dataset = match driver::load_training_data(&spec.program, &train, &spec.dir) {
        Ok(dataset) => dataset,
        Err(d) => return Ok(spec.fail(&d)),
    };
    let input_size = net.inputs().next().map_or(0, |i| net.nodes[i].size());
    let test = test_set(&train, &spec.dir, input_size, args.format);

    let opts = TrainOptions {
        epochs: args.epochs,
        initial_params,
        ..TrainOptions::default()
    };
    let epochs = args.epochs.unwrap_or(train.epochs);
    let n_val = if train.validation_split > 0.0 {
        dataset.len() - (dataset.len() as f64 * (1.0 - train.validation_split)).floor() as usize
    } else {
        0
    };
    if args.format == TrainFormat::Human {
        println!(
            "{}: training `{}` in rate mode on {} images{} ({}), {} epoch{} of batch {}, {}",
            spec.path.display(),
            model.name,
            dataset.len() - n_val,
            if n_val > 0 {
                format!(" + {n_val} validation")
            } else {
                String::new()
            },
            dataset.origin,
            epochs,
            if epochs == 1 { "" } else { "s" },
            train.batch,
            optimizer_name(&train.optimizer)
                + match train.schedule {
                    Schedule::Constant => "",
                    Schedule::Cosine => ", lr on a cosine schedule to 0",
                }
        );
        if let Some(init) = &init {
            println!("starting from the params in {}", init.display());
        }
        if train.keep_best {
            println!(
                "params    saved to {} at every epoch that improves on the best validation result (keep = best)",
                save.display()
            );
        } else {
            println!("params    saved to {} after every epoch", save.display());
        }
    }

    let mut line = ProgressLine::new();
    let mut best = BestEpoch::default();
    let spec_name = spec.path.display().to_string();
    let format = args.format;
    let mut on_progress = |p: Progress<'_>| -> Result<(), String> {
        match p {
            Progress::Batch {
                epoch,
                epochs,
                batch,
                batches,
                loss,
                accuracy,
            } => {
                line.show(|| {
                    let acc =
                        accuracy.map_or(String::new(), |a| format!("  acc {:.2}%", a * 100.0));
                    format!("epoch {epoch}/{epochs}  batch {batch}/{batches}  loss {loss:.4}{acc}")
                });
                Ok(())
            }
            Progress::Epoch { report, params } => {
                let saved = !train.keep_best || best.improves(report.val.as_ref());
                if saved {
                    save_params(&save, params)?;
                }
                line.clear();
                match format {
                    TrainFormat::Human => print_epoch(report, &train, saved),
                    TrainFormat::Json => {
                        let json = epoch_json(
                            report,
                            &train,
                            &spec_name,
                            &model.name,
                            &save,
                            init.as_deref(),
                            saved,
                        );
                        println!("{json}");
                    }
                }
                let _ = std::io::stdout().flush();
                Ok(())
            }
        }
    };
    let data = TrainData {
        images: dataset.images(),
        labels: dataset.labels(),
        test: test.as_ref().map(|t| EvalData {
            images: t.images(),
            labels: t.labels(),
        }),
    };
    let result = train::train(program, &train, data, &opts, &mut on_progress);
    line.clear();
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(format!("training stopped: {e}")),
    }
}

/// The params a fine-tuning starts from, checked against the network's
/// layers (names, shapes) before any training.
fn initial_params(
    path: &Path,
    net: &snnc_compiler::ir::Network,
) -> Result<Vec<(String, NdArray)>, String> {
    let arrays = snnc_runtime::io::read_npz(path).map_err(|e| {
        format!("cannot start from the params: {e} (set `init` in the train block or pass --init PARAMS)")
    })?;
    snnc_runtime::params::from_arrays(path, net, &mut arrays.clone())
        .map_err(|e| format!("cannot start from the params: {e}"))?;
    Ok(arrays)
}

/// Fails before training when the params could never be saved.
fn check_save_dir(save: &Path) -> Result<(), String> {
    let dir = match save.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "cannot save the params to `{}`: the directory `{}` does not exist (create it, or change `save` in the train block)",
            save.display(),
            dir.display()
        ));
    }
    Ok(())
}

/// The MNIST test split next to `mnist_idx` training data, if it loads.
fn test_set(train: &Train, dir: &Path, size: usize, format: TrainFormat) -> Option<Dataset> {
    let DataKind::MnistIdx {
        dir: d,
        split: Split::Train,
    } = &train.data.kind
    else {
        return None;
    };
    let mut src = train.data.clone();
    src.kind = DataKind::MnistIdx {
        dir: d.clone(),
        split: Split::Test,
    };
    src.offset = 0;
    src.limit = None;
    match data::load(&src, dir) {
        Ok(ds) if ds.example_size() == size => Some(ds),
        Ok(_) => None,
        Err(e) => {
            if format == TrainFormat::Human {
                eprintln!("warning: no test accuracy: {e}");
            }
            None
        }
    }
}

fn save_params(path: &Path, params: &[(String, NdArray)]) -> Result<(), String> {
    let arrays: Vec<(&str, &NdArray)> = params.iter().map(|(n, a)| (n.as_str(), a)).collect();
    write_npz(path, &arrays).map_err(|e| format!("cannot save the params: {e}"))
}

fn optimizer_name(o: &Optimizer) -> String {
    match *o {
        Optimizer::Rmsprop { lr, rho, epsilon } => {
            format!("rmsprop(lr={lr}, rho={rho}, epsilon={epsilon})")
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            epsilon,
        } => format!("adam(lr={lr}, beta1={beta1}, beta2={beta2}, epsilon={epsilon})"),
        Optimizer::Sgd { lr, momentum } => format!("sgd(lr={lr}, momentum={momentum})"),
    }
}

fn metrics_text(m: &Metrics) -> String {
    match m.accuracy {
        Some(a) => format!("loss {:.4}  acc {:.2}%", m.loss, a * 100.0),
        None => format!("loss {:.4}", m.loss),
    }
}

/// The best validation result so far, for `keep = best`: the accuracy
/// when a loss reports one (Keras' `val_accuracy`), else the loss.
#[derive(Default)]
struct BestEpoch {
    score: Option<f64>,
}

impl BestEpoch {
    /// Whether `val` beats every earlier epoch (the first always does); if
    /// so it becomes the best.
    fn improves(&mut self, val: Option<&Metrics>) -> bool {
        let Some(v) = val else { return true };
        let score = v.accuracy.unwrap_or(-v.loss);
        let better = self.score.is_none_or(|best| score > best);
        if better {
            self.score = Some(score);
        }
        better
    }
}

fn print_epoch(r: &EpochReport, train: &Train, saved: bool) {
    let mut s = format!(
        "epoch {:>2}/{}  train {}",
        r.epoch,
        r.epochs,
        metrics_text(&r.train)
    );
    if let Some(v) = &r.val {
        s += &format!("  | val {}", metrics_text(v));
    }
    if let Some(t) = &r.test {
        s += &format!("  | test {}", metrics_text(t));
    }
    s += &format!(
        "  | {:.1} s (+{:.1} s eval)",
        r.train_seconds, r.eval_seconds
    );
    if train.keep_best && saved {
        s += "  saved (best so far)";
    }
    println!("{s}");
    if train.losses.len() > 1 {
        let terms: Vec<String> = train
            .losses
            .iter()
            .zip(&r.train.terms)
            .map(|(l, v)| format!("{} {v:.4}", loss_name(l.kind)))
            .collect();
        println!("          train loss terms: {}", terms.join(", "));
    }
}

fn loss_name(k: LossKind) -> &'static str {
    match k {
        LossKind::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
        LossKind::MeanSquaredError => "mse",
        LossKind::RateInRange { .. } => "rate_in_range",
        LossKind::RateMse { .. } => "rate_mse",
    }
}

fn metrics_json(m: &Metrics) -> serde_json::Value {
    serde_json::json!({
        "loss": m.loss,
        "losses": m.terms,
        "accuracy": m.accuracy,
        "examples": m.examples,
    })
}

/// The version of `train --format json`'s line layout: raised when a key
/// changes meaning or goes away. docs/json.md documents each version.
const TRAIN_SCHEMA: u32 = 1;

fn epoch_json(
    r: &EpochReport,
    train: &Train,
    spec: &str,
    model: &str,
    save: &Path,
    init: Option<&Path>,
    saved: bool,
) -> serde_json::Value {
    serde_json::json!({
        "schema": TRAIN_SCHEMA,
        "spec": spec,
        "model": model,
        "epoch": r.epoch,
        "epochs": r.epochs,
        "loss_kinds": train.losses.iter().map(|l| loss_name(l.kind)).collect::<Vec<_>>(),
        "train": metrics_json(&r.train),
        "val": r.val.as_ref().map(metrics_json),
        "test": r.test.as_ref().map(metrics_json),
        "train_seconds": r.train_seconds,
        "eval_seconds": r.eval_seconds,
        "params": save.display().to_string(),
        "init": init.map(|p| p.display().to_string()),
        "saved": saved,
    })
}

/// A one-line progress display on a terminal's stderr, redrawn at most
/// ten times a second; nothing when stderr is not a terminal.
struct ProgressLine {
    tty: bool,
    last: Option<Instant>,
    shown: bool,
}

impl ProgressLine {
    fn new() -> Self {
        ProgressLine {
            tty: std::io::stderr().is_terminal(),
            last: None,
            shown: false,
        }
    }

    fn show(&mut self, text: impl FnOnce() -> String) {
        if !self.tty
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", text());
        let _ = err.flush();
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}
