//! `snnc merge`: joins the outputs of sharded runs and sweeps (`--shard
//! K/N`) into the output the unsharded command prints: `run --format json`
//! reports, `run --out` probe files and `sweep --csv` tables.
//!
//! Every part says which shard it is, so the files may come in any order;
//! a missing, repeated or foreign part is an error naming the file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use ndarray::Axis;
use snnc_runtime::io::{read_npz, write_atomic, write_npz, NdArray};
use snnc_runtime::report::{LayerFiring, RunReport};

use super::shard::{RunShard, NPZ_KEY};
use super::sweep::{csv_text, mark_pareto, Row, CSV_HEADER};

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' outputs, all of one kind: `run --format json` reports
    /// (`.json`), `run --out` probe files (`.npz`) or `sweep --csv` tables
    /// (`.csv`), in any order.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Write the merged result here (atomically) instead of printing it;
    /// needed for `.npz`.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: MergeArgs) -> Result<ExitCode, String> {
    let kind = extension(&args.files[0]);
    if let Some(other) = args.files.iter().find(|f| extension(f) != kind) {
        return Err(format!(
            "{} is a `.{}` file but {} is a `.{kind}` file: merge one kind of output at a time",
            other.display(),
            extension(other),
            args.files[0].display()
        ));
    }
    let text = match kind.as_str() {
        "json" => merge_reports(&args.files)?,
        "csv" => merge_tables(&args.files)?,
        "npz" => {
            let out = args.out.as_ref().ok_or(
                "merging `.npz` probe files needs --out FILE for the merged file".to_string(),
            )?;
            let images = merge_probes(&args.files, out)?;
            println!(
                "merged {} shards ({images} images) into {}",
                args.files.len(),
                out.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        _ => {
            return Err(format!(
            "{}: snnc merge joins `.json` run reports, `.npz` probe files or `.csv` sweep tables",
            args.files[0].display()
        ))
        }
    };
    match &args.out {
        Some(out) => {
            write_atomic(out, |w| w.write_all(text.as_bytes())).map_err(|e| e.to_string())?;
            println!("merged {} shards into {}", args.files.len(), out.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Orders parts by shard index and checks that they are shards 1..N of
/// one whole, each once, and that each starts where the one before ends.
/// `place(part)` is (K, N, first item, items in the whole, items here).
fn order_parts<P>(
    mut parts: Vec<(PathBuf, P)>,
    place: impl Fn(&P) -> (usize, usize, usize, usize, usize),
    what: &str,
) -> Result<Vec<(PathBuf, P)>, String> {
    parts.sort_by_key(|(_, p)| place(p).0);
    let (_, count, _, whole, _) = place(&parts[0].1);
    let mut next = 0;
    for (i, (path, part)) in parts.iter().enumerate() {
        let (k, n, first, of, len) = place(part);
        if n != count || of != whole {
            return Err(format!(
                "{} is shard {k}/{n} of {of} {what}, but {} is of {count} shards of {whole} {what}: \
                 these parts come from different runs",
                path.display(),
                parts[0].0.display()
            ));
        }
        if k != i + 1 {
            let missing = if k == i { "repeated" } else { "missing" };
            return Err(format!(
                "shard {}/{count} is {missing} (found {}); merge the outputs of shards 1 to {count}, each once",
                if k == i { k } else { i + 1 },
                path.display()
            ));
        }
        if first != next {
            return Err(format!(
                "{} (shard {k}/{n}) starts at {what} {first}, but the shards before it end at {next}",
                path.display()
            ));
        }
        next = first + len;
    }
    if parts.len() != count {
        return Err(format!(
            "shard {}/{count} is missing; merge the outputs of shards 1 to {count}",
            parts.len() + 1
        ));
    }
    if next != whole {
        return Err(format!(
            "the shards cover {next} of {whole} {what}: the parts come from different runs"
        ));
    }
    Ok(parts)
}

/// Sharded `run --format json` reports into the report of the whole run.
fn merge_reports(files: &[PathBuf]) -> Result<String, String> {
    let mut parts = Vec::new();
    for path in files {
        let bad = |e: String| format!("{}: {e}", path.display());
        let mut json: serde_json::Value =
            serde_json::from_str(&read_text(path)?).map_err(|e| bad(e.to_string()))?;
        let shard = json
            .as_object_mut()
            .and_then(|m| m.remove("shard"))
            .ok_or_else(|| {
                bad("not the report of a sharded run (it has no `shard`); \
                     write each shard's report with `snnc run --shard K/N --format json`"
                    .into())
            })?;
        let shard: RunShard =
            serde_json::from_value(shard).map_err(|e| bad(format!("its `shard`: {e}")))?;
        let report: RunReport = serde_json::from_value(json)
            .map_err(|e| bad(format!("not a `snnc run --format json` report: {e}")))?;
        if report.schema != snnc_runtime::report::RUN_SCHEMA {
            return Err(bad(format!(
                "report schema {} (this snnc writes {}); merge reports of one snnc version",
                report.schema,
                snnc_runtime::report::RUN_SCHEMA
            )));
        }
        parts.push((path.clone(), (report, shard)));
    }
    let parts = order_parts(
        parts,
        |(r, s)| (s.index, s.count, s.first, s.of, r.images),
        "images",
    )?;
    let (first_path, (first, _)) = &parts[0];
    fn same(r: &RunReport) -> impl PartialEq + '_ {
        (
            &r.spec,
            &r.run,
            &r.model,
            &r.engine,
            &r.precision,
            r.steps,
            r.dt.to_bits(),
            &r.report_probe,
            r.read_step,
        )
    }
    let mut layers: Vec<LayerFiring> = parts[0].1 .1.layers.clone();
    for (path, (report, shard)) in &parts[1..] {
        let names = |l: &[LayerFiring]| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
        if same(report) != same(first) || names(&shard.layers) != names(&layers) {
            return Err(format!(
                "{} and {} report different runs (spec, run, variant, engine, precision, steps, dt or probe differ); \
                 merge the shards of one command",
                path.display(),
                first_path.display()
            ));
        }
        for (whole, part) in layers.iter_mut().zip(&shard.layers) {
            whole.append(part);
        }
    }
    let images: usize = parts.iter().map(|(_, (r, _))| r.images).sum();
    let correct: Option<usize> = parts.iter().map(|(_, (r, _))| r.correct).sum();
    let seconds: f64 = parts.iter().map(|(_, (r, _))| r.seconds).sum();
    let compile: Vec<f64> = parts
        .iter()
        .filter_map(|(_, (r, _))| r.compile_seconds)
        .collect();
    let merged = RunReport {
        accuracy: correct.map(|c| c as f64 / images.max(1) as f64),
        correct,
        images,
        layers: layers.iter().map(LayerFiring::stats).collect(),
        seconds,
        images_steps_per_second: (images * first.steps) as f64 / seconds.max(1e-9),
        compile_seconds: (!compile.is_empty()).then(|| compile.iter().sum()),
        ..first.clone()
    };
    serde_json::to_string_pretty(&merged)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

/// Sharded `sweep --csv` tables into the table of the whole sweep, with
/// the Pareto front marked over every setting.
fn merge_tables(files: &[PathBuf]) -> Result<String, String> {
    let mut parts = Vec::new();
    for path in files {
        let text = read_text(path)?;
        let mut lines = text.lines();
        if lines.next() != Some(CSV_HEADER) {
            return Err(format!(
                "{}: not a table written by this snnc's `sweep --csv` (its first line should be `{CSV_HEADER}`)",
                path.display()
            ));
        }
        let rows = lines
            .enumerate()
            .map(|(i, line)| {
                parse_row(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 2))
            })
            .collect::<Result<Vec<Row>, String>>()?;
        let Some(first) = rows.first() else {
            return Err(format!("{}: the table has no rows", path.display()));
        };
        parts.push((path.clone(), first.setting, first.settings, rows));
    }
    // Tables carry each row's setting, not the shard: a table's place is
    // its first setting, and the parts must tile 0..settings.
    parts.sort_by_key(|(_, first, _, _)| *first);
    let settings = parts[0].2;
    let mut rows: Vec<Row> = Vec::new();
    for (path, _, _, part) in &parts {
        for row in part {
            if row.settings != settings {
                return Err(format!(
                    "{} has rows of a sweep of {} settings, {} of one of {settings}: the tables come from different sweeps",
                    path.display(),
                    row.settings,
                    parts[0].0.display()
                ));
            }
            if row.setting != rows.len() {
                return Err(format!(
                    "{}: setting {} is {} (expected setting {} next); merge the tables of shards 1 to N, each once",
                    path.display(),
                    row.setting,
                    if row.setting < rows.len() {
                        "repeated"
                    } else {
                        "out of order, or one before it is missing"
                    },
                    rows.len()
                ));
            }
            rows.push(row.clone());
        }
    }
    if rows.len() != settings {
        return Err(format!(
            "the tables hold settings 0 to {} of {settings}: a shard's table is missing",
            rows.len().saturating_sub(1)
        ));
    }
    mark_pareto(&mut rows);
    Ok(csv_text(&rows))
}

/// One line of a sweep table ([`CSV_HEADER`]'s columns).
fn parse_row(line: &str) -> Result<Row, String> {
    let f: Vec<&str> = line.split(',').collect();
    let columns = CSV_HEADER.split(',').count();
    if f.len() != columns {
        return Err(format!("{} columns, expected {columns}", f.len()));
    }
    fn num<T: std::str::FromStr>(f: &[&str], i: usize) -> Result<T, String> {
        f[i].parse().map_err(|_| {
            format!(
                "`{}` in column `{}` is not a number",
                f[i],
                CSV_HEADER.split(',').nth(i).unwrap_or("?")
            )
        })
    }
    Ok(Row {
        scale: f[0].to_string(),
        synapse: f[1].to_string(),
        present_ms: num(&f, 2)?,
        steps: num(&f, 3)?,
        accuracy: num(&f, 4)?,
        correct: num(&f, 5)?,
        images: num(&f, 6)?,
        mean_steps_to_right: if f[7].is_empty() {
            None
        } else {
            Some(num(&f, 7)?)
        },
        spikes_per_image: num(&f, 8)?,
        classes_predicted: num(&f, 9)?,
        pareto: num(&f, 10)?,
        setting: num(&f, 11)?,
        settings: num(&f, 12)?,
    })
}

/// Largest probe file `snnc merge` builds: unlike `run --out`, which
/// streams, the merged file is built in memory.
const MAX_MERGED_BYTES: u64 = 4 << 30;

/// Sharded `run --out` probe files into one, each probe's images in order.
/// Returns the number of images.
fn merge_probes(files: &[PathBuf], out: &Path) -> Result<usize, String> {
    // The merged file is built in memory, next to the parts read: about
    // twice the parts' size (they are stored uncompressed).
    let mut bytes = 0u64;
    for path in files {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        bytes += meta.len();
    }
    if bytes > MAX_MERGED_BYTES {
        return Err(format!(
            "the merged probes would hold {:.1} GiB, more than `snnc merge` builds ({} GiB); \
             write fewer images per file or give large probes `sample_every`, and merge those",
            bytes as f64 / (1u64 << 30) as f64,
            MAX_MERGED_BYTES >> 30
        ));
    }
    snnc_runtime::budget::check(
        bytes.saturating_mul(2),
        "merging the probe files",
        "merge fewer files, or give large probes `sample_every`",
    )?;
    let mut parts = Vec::new();
    for path in files {
        let mut arrays = read_npz(path).map_err(|e| e.to_string())?;
        let Some(at) = arrays.iter().position(|(n, _)| n == NPZ_KEY) else {
            return Err(format!(
                "{}: not the probes of a sharded run (no `{NPZ_KEY}` array); \
                 write each shard's with `snnc run --shard K/N --out FILE.npz`",
                path.display()
            ));
        };
        let (_, record) = arrays.remove(at);
        let place = match &record {
            NdArray::I64(v) if v.shape() == [4] && v.iter().all(|&x| x >= 0) => {
                [v[0], v[1], v[2], v[3]].map(|x| x as usize)
            }
            _ => {
                return Err(format!(
                    "{}: its `{NPZ_KEY}` array is not [K, N, first image, images] as `snnc run --shard` writes it",
                    path.display()
                ))
            }
        };
        let images = arrays
            .first()
            .map_or(0, |(_, a)| a.shape().first().copied().unwrap_or(0));
        parts.push((path.clone(), (place, images, arrays)));
    }
    let parts = order_parts(
        parts,
        |(p, images, _)| (p[0], p[1], p[2], p[3], *images),
        "images",
    )?;
    let (first_path, (_, _, first)) = &parts[0];
    let mut merged: Vec<(String, NdArray)> = first.clone();
    for (path, (_, _, arrays)) in &parts[1..] {
        let names = |a: &[(String, NdArray)]| a.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        if names(arrays) != names(&merged) {
            return Err(format!(
                "{} holds probes {:?} but {} holds {:?}: the files come from different runs",
                path.display(),
                names(arrays),
                first_path.display(),
                names(&merged)
            ));
        }
        for ((name, whole), (_, part)) in merged.iter_mut().zip(arrays) {
            append_images(whole, part)
                .map_err(|e| format!("{}: probe `{name}`: {e}", path.display()))?;
        }
    }
    let images = merged
        .first()
        .map_or(0, |(_, a)| a.shape().first().copied().unwrap_or(0));
    let refs: Vec<(&str, &NdArray)> = merged.iter().map(|(n, a)| (n.as_str(), a)).collect();
    write_npz(out, &refs).map_err(|e| e.to_string())?;
    Ok(images)
}

/// Appends `part`'s images (its first axis) to `whole`'s.
fn append_images(whole: &mut NdArray, part: &NdArray) -> Result<(), String> {
    if whole.shape().len() != part.shape().len() || whole.shape().get(1..) != part.shape().get(1..)
    {
        return Err(format!(
            "shape {} does not continue shape {} (every axis but the first must agree)",
            part.shape_string(),
            whole.shape_string()
        ));
    }
    let mismatch = format!(
        "dtype {} does not match {}; merge the shards of one run",
        part.dtype_name(),
        whole.dtype_name()
    );
    let appended = match (whole, part) {
        (NdArray::F32(w), NdArray::F32(p)) => w.append(Axis(0), p.view()),
        (NdArray::F64(w), NdArray::F64(p)) => w.append(Axis(0), p.view()),
        (NdArray::I64(w), NdArray::I64(p)) => w.append(Axis(0), p.view()),
        (NdArray::I32(w), NdArray::I32(p)) => w.append(Axis(0), p.view()),
        (NdArray::U8(w), NdArray::U8(p)) => w.append(Axis(0), p.view()),
        (NdArray::Bool(w), NdArray::Bool(p)) => w.append(Axis(0), p.view()),
        (
            NdArray::F32(_)
            | NdArray::F64(_)
            | NdArray::I64(_)
            | NdArray::I32(_)
            | NdArray::U8(_)
            | NdArray::Bool(_),
            _,
        ) => return Err(mismatch),
    };
    appended.map_err(|e| format!("its images cannot be appended: {e}"))
}
