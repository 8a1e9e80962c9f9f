//! `snnc sweep SPEC`: runs a variant for every combination of firing-rate
//! scale, synapse and presentation time, and tabulates accuracy against
//! latency and spikes, with the Pareto front.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use snnc_compiler::ir::Synapse;
use snnc_runtime::analysis::evaluate::{pareto_front, Evaluation};
use snnc_runtime::analysis::latency::{argmax, steps_until_right};
use snnc_runtime::driver;
use snnc_runtime::engine::SimConfig;
use snnc_runtime::io::write_atomic;
use snnc_runtime::report::accuracy;

use super::spec::load_spec;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The `.snn` spec; its run block gives the data, params, dt and variant.
    #[arg(value_name = "SPEC")]
    pub file: PathBuf,

    /// Firing-rate scales, comma-separated. Each replaces the variant's
    /// global `scale_firing_rates` and overrides its per-layer `scale`
    /// settings too. Default: the variant's own.
    #[arg(long, value_name = "S,...", value_delimiter = ',')]
    pub scale: Vec<f64>,

    /// Synapses, comma-separated: `none`, a duration (a low-pass, like
    /// `5ms`), `lowpass(5ms)` or `alpha(5ms)`. Each replaces the synapse on
    /// every connection out of neurons, like the variant's global
    /// `synapse =` (connection synapses set in the spec are replaced too).
    /// Default: the variant's own.
    #[arg(long, value_name = "SYN,...", value_delimiter = ',')]
    pub synapse: Vec<String>,

    /// Presentation times, comma-separated (`30ms`, `0.1s`). Default: the
    /// run block's.
    #[arg(long, value_name = "T,...", value_delimiter = ',')]
    pub present: Vec<String>,

    /// Simulate N steps per input instead of the run block's (when no
    /// --present is given).
    #[arg(long, value_name = "N", conflicts_with = "present")]
    pub steps: Option<usize>,

    /// Draw the uniform initial voltages (those without their own seed)
    /// from this seed instead of the run block's `seed`.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Use at most N examples of the run's data.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Which run block, when the spec has several named ones.
    #[arg(long, value_name = "NAME")]
    pub run: Option<String>,

    /// Sweep this convert variant instead of the run block's network.
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,

    /// Write the table as CSV (atomically).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Draw accuracy against latency with the Pareto front (`.png`/`.svg`).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// Size of the plot in pixels.
    #[arg(long, value_name = "WxH", default_value = "1000x600")]
    pub size: String,

    /// Run only the K-th of N equal blocks of the settings (in the order
    /// the table lists them), for N machines or processes; `snnc merge`
    /// joins their `--csv` tables into the unsharded one (docs/cluster.md).
    #[arg(long, value_name = "K/N", value_parser = super::shard::parse)]
    pub shard: Option<super::shard::Shard>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub scale: String,
    pub synapse: String,
    pub present_ms: f64,
    pub steps: usize,
    pub accuracy: f64,
    pub correct: usize,
    pub images: usize,
    /// Mean over images that end right of the first step from which the
    /// prediction is right through the end.
    pub mean_steps_to_right: Option<f64>,
    pub spikes_per_image: f64,
    /// Different classes predicted at the reported step: 1 is a constant
    /// output, which is never on the Pareto front.
    pub classes_predicted: usize,
    pub pareto: bool,
    /// This setting's place in the whole sweep (from 0) and the number of
    /// settings in it, so sharded tables merge back in order.
    pub setting: usize,
    pub settings: usize,
}

/// The sweep table's CSV columns, in order.
pub const CSV_HEADER: &str = "scale,synapse,present_ms,steps,accuracy,correct,images,mean_steps_to_right,spikes_per_image,classes_predicted,pareto,setting,settings";

/// The sweep table as CSV: [`CSV_HEADER`], then one line per row.
pub fn csv_text(rows: &[Row]) -> String {
    let mut text = format!("{CSV_HEADER}\n");
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.scale,
            r.synapse,
            fmt_num(r.present_ms),
            r.steps,
            r.accuracy,
            r.correct,
            r.images,
            r.mean_steps_to_right
                .map_or(String::new(), |s| s.to_string()),
            r.spikes_per_image,
            r.classes_predicted,
            r.pareto,
            r.setting,
            r.settings
        ));
    }
    text
}

/// Parses `30ms`, `0.1s`, `100us` into seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (num, factor) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(format!("`{s}` needs a unit: write `{s}ms` or `{s}s`"));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like `30ms`"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}`: a duration must be a non-negative number"));
    }
    Ok(v * factor)
}

pub fn parse_synapse(s: &str) -> Result<Synapse, String> {
    let s = s.trim();
    if s == "none" {
        return Ok(Synapse::None);
    }
    let inner = |prefix: &str| s.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
    if let Some(t) = inner("lowpass(") {
        return Ok(Synapse::Lowpass {
            tau: parse_duration(t)?,
        });
    }
    if let Some(t) = inner("alpha(") {
        return Ok(Synapse::Alpha {
            tau: parse_duration(t)?,
        });
    }
    parse_duration(s)
        .map(|tau| Synapse::Lowpass { tau })
        .map_err(|e| format!("--synapse: {e} (or `none`, `lowpass(5ms)`, `alpha(5ms)`)"))
}

pub fn fmt_num(x: f64) -> String {
    let s = format!("{x}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

pub fn run(args: SweepArgs) -> Result<ExitCode, String> {
    if args.limit == Some(0) {
        return Err("--limit must be at least 1".into());
    }
    let plot_size = super::plot::parse_size(&args.size)?;
    let Some(spec) = load_spec(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let program = &spec.program;
    let mut run = driver::pick_run(program, args.run.as_deref())?;
    if let Some(v) = &args.variant {
        run.model = driver::pick_variant(program, &run, v)?;
    }
    super::overrides::SimOverrides {
        steps: args.steps,
        present: None,
        seed: args.seed,
    }
    .apply(&mut run)?;
    if let Some(limit) = args.limit {
        run.data.limit = Some(run.data.limit.map_or(limit, |l| l.min(limit)));
    }
    let base = &program.models[run.model];
    let net = program.network_of(base);
    let scales: Vec<Option<f64>> = if args.scale.is_empty() {
        vec![None]
    } else {
        args.scale.iter().map(|&s| Some(s)).collect()
    };
    if let Some(bad) = scales
        .iter()
        .flatten()
        .find(|s| !s.is_finite() || **s <= 0.0)
    {
        return Err(format!("--scale {bad}: a scale must be a positive number"));
    }
    let synapses: Vec<Option<(String, Synapse)>> = if args.synapse.is_empty() {
        vec![None]
    } else {
        args.synapse
            .iter()
            .map(|s| parse_synapse(s).map(|syn| Some((s.trim().to_string(), syn))))
            .collect::<Result<_, _>>()?
    };
    let presents: Vec<Option<(f64, usize)>> = if args.present.is_empty() {
        vec![None]
    } else {
        args.present
            .iter()
            .map(|p| {
                let t = parse_duration(p).map_err(|e| format!("--present: {e}"))?;
                let steps = (t / run.dt).round() as usize;
                if steps == 0 {
                    return Err(format!(
                        "--present {p} is shorter than one step of {} ms",
                        run.dt * 1e3
                    ));
                }
                Ok(Some((t, steps)))
            })
            .collect::<Result<_, String>>()?
    };
    let loaded = match driver::load(program, &run, &spec.dir) {
        Ok(loaded) => loaded,
        Err(d) => return Ok(spec.fail(&d)),
    };
    let images = loaded.dataset.len();
    let probe = run.probes[run.report.probe].clone();
    let total = scales.len() * synapses.len() * presents.len();
    let longest = presents.iter().map(|p| p.map_or(run.steps, |p| p.1)).max();
    super::memory::check_run(
        net,
        std::slice::from_ref(&probe),
        images,
        longest.unwrap_or(run.steps),
        8,
    )?;
    let bar = super::progress::bar(
        args.shard.map_or(total, |s| s.range(total).len()) as u64,
        "sweeping",
    );

    let mut settings = Vec::with_capacity(total);
    for scale in &scales {
        for syn in &synapses {
            for present in &presents {
                settings.push((*scale, syn.clone(), *present));
            }
        }
    }
    let part = match args.shard {
        Some(s) => s.take(total, "settings")?,
        None => 0..total,
    };
    let mut rows = Vec::new();
    for setting in part {
        let (scale, syn, present) = settings[setting].clone();
        let model = driver::with_overrides(net, base, scale, syn.as_ref().map(|s| s.1));
        let steps = present.map_or(run.steps, |p| p.1);
        let outputs = driver::simulate(
            net,
            &model,
            &loaded,
            0..images,
            std::slice::from_ref(&probe),
            &SimConfig {
                steps,
                ..SimConfig::of(&run)
            },
            run.precision,
        )?;
        let (correct, read_step) = accuracy(
            &outputs,
            &probe,
            0,
            run.report.at,
            steps,
            loaded.dataset.labels(),
        );
        let lat: Vec<usize> = outputs
            .iter()
            .zip(loaded.dataset.labels())
            .filter_map(|(o, &l)| steps_until_right(o.probes[0].view(), probe.every, l as usize))
            .collect();
        let row = read_step / probe.every - 1;
        let mut classes: Vec<usize> = outputs
            .iter()
            .filter_map(|o| o.probes[0].outer_iter().nth(row).and_then(argmax))
            .collect();
        classes.sort_unstable();
        classes.dedup();
        let spikes: u64 = outputs
            .iter()
            .flat_map(|o| &o.spike_summaries)
            .map(|s| s.total)
            .sum();
        rows.push(Row {
            scale: scale.map_or("spec".into(), fmt_num),
            synapse: syn.as_ref().map_or("spec".into(), |s| s.0.clone()),
            present_ms: steps as f64 * run.dt * 1e3,
            steps,
            accuracy: correct as f64 / images.max(1) as f64,
            correct,
            images,
            mean_steps_to_right: (!lat.is_empty())
                .then(|| lat.iter().sum::<usize>() as f64 / lat.len() as f64),
            spikes_per_image: spikes as f64 / images.max(1) as f64,
            classes_predicted: classes.len(),
            pareto: false,
            setting,
            settings: total,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    mark_pareto(&mut rows);

    println!(
        "{}: `{}` on {images} images (dt {} ms), {} settings",
        spec.path.display(),
        base.name,
        run.dt * 1e3,
        rows.len()
    );
    println!(
        "{:>7} {:>10} {:>10} {:>9} {:>15} {:>14} {:>7}",
        "scale", "synapse", "present", "accuracy", "steps to right", "spikes/image", "pareto"
    );
    for r in &rows {
        println!(
            "{:>7} {:>10} {:>8}ms {:>8.2}% {:>15} {:>14.1} {:>7}",
            r.scale,
            r.synapse,
            fmt_num(r.present_ms),
            r.accuracy * 100.0,
            r.mean_steps_to_right
                .map_or("-".into(), |s| format!("{s:.1}")),
            r.spikes_per_image,
            if r.pareto { "*" } else { "" }
        );
    }
    if let Some(csv) = &args.csv {
        let text = csv_text(&rows);
        write_atomic(csv, |w| w.write_all(text.as_bytes())).map_err(|e| e.to_string())?;
        println!("table     written to {}", csv.display());
    }
    if let Some(plot) = &args.plot {
        let points: Vec<(f64, f64, String, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r.mean_steps_to_right.unwrap_or(f64::NAN),
                    r.accuracy * 100.0,
                    format!(
                        "s={} syn={} {}ms",
                        r.scale,
                        r.synapse,
                        fmt_num(r.present_ms)
                    ),
                    r.pareto,
                )
            })
            .collect();
        let title = format!("Accuracy against latency: `{}`, {images} images", base.name);
        super::plot::draw_pareto(plot, plot_size, &title, &points)?;
        println!("plot      written to {}", plot.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Marks the settings on the Pareto front over accuracy, steps and spikes
/// per image (`evaluate::pareto_front`, which leaves out settings that
/// never spiked or answer one class for every image).
pub fn mark_pareto(rows: &mut [Row]) {
    let evals: Vec<Evaluation> = rows
        .iter()
        .map(|r| Evaluation {
            steps: r.steps,
            correct: r.correct,
            images: r.images,
            settle_steps: r.mean_steps_to_right.unwrap_or(f64::NAN),
            spikes_per_image: r.spikes_per_image,
            classes_predicted: r.classes_predicted,
            agreement: None,
        })
        .collect();
    for (r, on) in rows.iter_mut().zip(pareto_front(&evals)) {
        r.pareto = on;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(correct: usize, steps: usize, spikes: f64, classes: usize) -> Row {
        Row {
            scale: String::new(),
            synapse: String::new(),
            present_ms: 0.0,
            steps,
            accuracy: correct as f64 / 100.0,
            correct,
            images: 100,
            mean_steps_to_right: Some(1.0),
            spikes_per_image: spikes,
            classes_predicted: classes,
            pareto: false,
            setting: 0,
            settings: 1,
        }
    }

    #[test]
    fn pareto_front_weighs_spikes_and_skips_degenerate_settings() {
        let mut rows = vec![
            row(98, 30, 25_000.0, 10),  // front: as accurate, fewer spikes
            row(98, 30, 850_000.0, 10), // dominated by the first
            row(80, 10, 50_000.0, 10),  // front: fewest steps
            row(14, 5, 0.0, 1),         // never spiked: left out
            row(14, 5, 30.0, 1),        // one class for every image: left out
        ];
        mark_pareto(&mut rows);
        let marks: Vec<bool> = rows.iter().map(|r| r.pareto).collect();
        assert_eq!(marks, [true, false, true, false, false]);
    }
}
