//! `snnc plot SPEC`: runs a spec's run block recording one probe and draws
//! it: a spike raster, activity over time, the output per class, or
//! predictions against labels. PNG or SVG, by the output's extension.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use snnc_compiler::ir::{BoundProbe, Program, Run};
use snnc_runtime::analysis::latency::argmax;
use snnc_runtime::analysis::spikes::{raster, Raster};
use snnc_runtime::driver::{self, Loaded};
use snnc_runtime::engine::SimConfig;

use super::spec::load_spec;

mod text;

/// DejaVu Sans (see `plot/DejaVuSans-LICENSE.txt`), so that text renders the
/// same on every machine without system fonts.
const FONT: &[u8] = include_bytes!("plot/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
/// The colour of a raster's spike marks (tests count them in SVG output).
pub const MARK: RGBColor = RGBColor(20, 20, 120);
const CATEGORY10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Most classes `--kind output` draws a line for.
const MAX_CLASSES: usize = 20;

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// The `.snn` spec to run.
    #[arg(value_name = "SPEC")]
    pub file: PathBuf,

    /// The probe to draw (a `probe NAME = layer` of the spec).
    #[arg(long, value_name = "NAME")]
    pub probe: String,

    /// What to draw: `raster` (a mark per spike, neurons x time), `activity`
    /// (each neuron's firing rate in Hz over time, --images images one
    /// after another), `output` (one line per class over time) or
    /// `predictions` (predicted class at the last step against the label,
    /// for --limit images).
    #[arg(long, value_enum)]
    pub kind: PlotKind,

    /// The example drawn by raster, activity and output (0-based; the
    /// first of --images for activity).
    #[arg(long, value_name = "I", default_value_t = 0)]
    pub image: usize,

    /// Images drawn one after another by activity, from --image.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub images: usize,

    /// Neurons drawn by raster and activity: the first N that are active.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub neurons: usize,

    /// Images drawn by predictions.
    #[arg(long, value_name = "K", default_value_t = 20)]
    pub limit: usize,

    /// Which run block, when the spec has several named ones.
    #[arg(long, value_name = "NAME")]
    pub run: Option<String>,

    /// Run this network or convert variant instead of the run block's.
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,

    /// Draw the same probe and kind for each of these networks or convert
    /// variants, one row each, in one figure (e.g. `--compare
    /// first_try,tuned`).
    #[arg(
        long,
        value_name = "NAME,...",
        value_delimiter = ',',
        conflicts_with = "variant"
    )]
    pub compare: Vec<String>,

    #[command(flatten)]
    pub sim: super::overrides::SimOverrides,

    /// Image size in pixels. Default: 1000x600, and 300 pixels more per
    /// row of a --compare figure.
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,

    /// The picture to write: `.png` or `.svg`.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotKind {
    Raster,
    Activity,
    Output,
    Predictions,
}

/// What is drawn, independent of the backend.
enum Figure {
    Raster {
        title: String,
        raster: Raster,
        dt_ms: f64,
    },
    Lines {
        title: String,
        y_desc: String,
        series: Vec<(String, Vec<(f64, f64)>)>,
        /// Name the series in a key beside the plot (a few classes), or
        /// not (many neurons).
        legend: bool,
        /// Vertical lines where a new image starts: (time in ms, caption).
        images: Vec<(f64, String)>,
    },
    Predictions {
        title: String,
        labels: Vec<u32>,
        predicted: Vec<Option<usize>>,
        classes: usize,
    },
    /// Nothing to draw: the frame says why.
    Empty { title: String, message: String },
}

/// Integer ticks without decimals, others with at most three.
fn tick(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("--size must be WIDTHxHEIGHT in pixels, like 1000x600, found `{s}`");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    if !(100..=10000).contains(&w) || !(100..=10000).contains(&h) {
        return Err(format!(
            "--size {w}x{h}: each side must be 100 to 10000 pixels"
        ));
    }
    Ok((w, h))
}

pub fn run(args: PlotArgs) -> Result<ExitCode, String> {
    let ext = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let svg = match ext.as_deref() {
        Some("svg") => true,
        Some("png") => false,
        _ => {
            return Err(format!(
                "cannot tell the format of `{}`: name it `.png` or `.svg`",
                args.output.display()
            ))
        }
    };
    if args.images == 0 {
        return Err("--images must be at least 1".into());
    }
    let Some(spec) = load_spec(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let program = &spec.program;
    let mut run = driver::pick_run(program, args.run.as_deref())?;
    if let Some(v) = &args.variant {
        run.model = driver::pick_variant(program, &run, v)?;
    }
    args.sim.apply(&mut run)?;
    let probe = plotted_probe(&mut run, &args)?;
    let loaded = match driver::load(program, &run, &spec.dir) {
        Ok(loaded) => loaded,
        Err(d) => return Ok(spec.fail(&d)),
    };
    let models: Vec<usize> = if args.compare.is_empty() {
        vec![run.model]
    } else {
        args.compare
            .iter()
            .map(|v| driver::pick_variant(program, &run, v.trim()))
            .collect::<Result<_, _>>()?
    };
    let size = match &args.size {
        Some(s) => parse_size(s)?,
        None => (1000, 600 + 300 * (models.len() as u32 - 1)),
    };
    let mut figures = Vec::new();
    let mut summaries = Vec::new();
    for &model in &models {
        let mut run = run.clone();
        run.model = model;
        let (figure, summary) = build_figure(program, &run, probe.clone(), &loaded, &args)?;
        if let Figure::Empty { message, .. } = &figure {
            eprintln!("note: {message}");
        }
        figures.push(figure);
        summaries.push(summary);
    }
    if svg {
        draw_rows(
            SVGBackend::new(&args.output, size).into_drawing_area(),
            &figures,
        )?;
    } else {
        let backend = text::Text::new(BitMapBackend::new(&args.output, size), FONT)?;
        draw_rows(backend.into_drawing_area(), &figures)?;
    }
    match &summaries[..] {
        [one] => println!("wrote {}: {one}", args.output.display()),
        rows => {
            println!("wrote {}, one row per variant:", args.output.display());
            for row in rows {
                println!("  {row}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The first example a plot draws and how many: one for a raster or an
/// output plot, `--images` for activity, `--limit` for predictions.
fn images_drawn(args: &PlotArgs) -> (usize, usize) {
    match args.kind {
        PlotKind::Raster | PlotKind::Output => (args.image, 1),
        PlotKind::Activity => (args.image, args.images),
        PlotKind::Predictions => (0, args.limit.max(1)),
    }
}

/// The probe to draw, after checking that it has something to draw; sets
/// the run's data limit to the examples the plot needs.
fn plotted_probe(run: &mut Run, args: &PlotArgs) -> Result<BoundProbe, String> {
    let Some(probe) = run.probes.iter().find(|p| p.name == args.probe).cloned() else {
        let names: Vec<&str> = run.probes.iter().map(|p| p.name.as_str()).collect();
        return Err(format!(
            "no probe `{}` in this run's network; the probes are {}",
            args.probe,
            names.join(", ")
        ));
    };
    if probe.every > run.steps {
        return Err(format!(
            "probe `{}` records every {} steps, but the run has only {}: there is nothing to draw; \
             lower its `sample_every`",
            probe.name, probe.every, run.steps
        ));
    }
    let (first, count) = images_drawn(args);
    let available = run.data.limit.unwrap_or(usize::MAX);
    if first >= available {
        return Err(format!(
            "--image {first} is past the run's data, which has {available} examples (`limit=`)"
        ));
    }
    run.data.limit = Some((first + count).min(available));
    Ok(probe)
}

fn build_figure(
    program: &Program,
    run: &Run,
    probe: BoundProbe,
    loaded: &Loaded,
    args: &PlotArgs,
) -> Result<(Figure, String), String> {
    let model = &program.models[run.model];
    let net = program.network_of(model);
    let (first, count) = images_drawn(args);
    let n = loaded.dataset.len();
    if first >= n {
        return Err(format!(
            "--image {first} is past the run's data, which has {n} examples"
        ));
    }
    let range = first..(first + count).min(n);
    // "label 7", or nothing for unlabelled data.
    let label_of = |i: usize| {
        loaded
            .dataset
            .labels()
            .get(i)
            .map_or(String::new(), |l| format!(" (label {l})"))
    };
    let elem = match run.precision {
        snnc_compiler::ir::Precision::F64 => 8,
        snnc_compiler::ir::Precision::F32 => 4,
    };
    super::memory::check_run(
        net,
        std::slice::from_ref(&probe),
        range.len(),
        run.steps,
        elem,
    )?;
    let outputs = driver::simulate(
        net,
        model,
        loaded,
        range.clone(),
        std::slice::from_ref(&probe),
        &SimConfig::of(run),
        run.precision,
    )?;
    let size = net.nodes[probe.node].size();
    let storage = net.storage_of(probe.node);
    let settings = &model.nodes[storage];
    let dt_ms = run.dt * 1e3;
    let every = probe.every;
    let layer = &net.nodes[probe.node].name;
    match args.kind {
        PlotKind::Raster => {
            let neuron = settings.neuron.filter(|n| n.is_spiking()).ok_or_else(|| {
                format!("`{layer}` has no spiking neurons in `{}`; a raster needs a spiking layer (try --kind activity)", model.name)
            })?;
            if probe.synapse != snnc_compiler::ir::Synapse::None || every != 1 {
                return Err(format!("probe `{}` is filtered or sampled; a raster needs an unfiltered probe recording every step", probe.name));
            }
            let r = raster(
                outputs[0].probes[0].view(),
                neuron,
                settings.scale,
                run.dt,
                args.neurons,
            );
            if r.neurons.is_empty() {
                let message = format!(
                    "no neuron of `{layer}` spiked on image {} in {} steps of `{}`: raise `scale_firing_rates` \
                     (or the layer's `scale`) or the presentation time (--present), or pick another --image",
                    args.image, run.steps, model.name
                );
                return Ok((
                    Figure::Empty {
                        title: format!(
                            "Spikes of {layer} in `{}`, image {}{}",
                            model.name,
                            args.image,
                            label_of(args.image)
                        ),
                        message,
                    },
                    format!(
                        "raster of `{}` ({layer}) in `{}`, image {}: no neuron spiked",
                        probe.name, model.name, args.image
                    ),
                ));
            }
            let spikes: u32 = r.marks.iter().map(|m| m.2).sum();
            let fewer = if r.neurons.len() < args.neurons.min(size) {
                format!(
                    " (only {} of the layer's {size} neurons spike; --neurons asked for {})",
                    r.neurons.len(),
                    args.neurons
                )
            } else {
                String::new()
            };
            let summary = format!(
                "raster of `{}` ({layer}) in `{}`, image {}, {} neurons, {} marks, {} spikes{fewer}",
                probe.name,
                model.name,
                args.image,
                r.neurons.len(),
                r.marks.len(),
                spikes
            );
            let title = format!(
                "Spikes of {layer} in `{}`, image {}{}",
                model.name,
                args.image,
                label_of(args.image)
            );
            Ok((
                Figure::Raster {
                    title,
                    raster: r,
                    dt_ms,
                },
                summary,
            ))
        }
        PlotKind::Activity => {
            // Hz per unit of probe output; a layer without neurons draws
            // its values.
            let hz = settings.neuron.map(|n| n.hz_per_output(settings.scale));
            fn rows_of(o: &snnc_runtime::engine::SimOutput<f64>) -> &ndarray::Array2<f64> {
                &o.probes[0]
            }
            let records = run.steps / every;
            let active = |i: usize| {
                outputs
                    .iter()
                    .any(|o| (0..records).any(|k| rows_of(o)[[k, i]] != 0.0))
            };
            let all_active = (0..size).filter(|&i| active(i)).count();
            let neurons: Vec<usize> = (0..size)
                .filter(|&i| active(i))
                .take(args.neurons)
                .collect();
            let image_ms = run.steps as f64 * dt_ms;
            let series: Vec<(String, Vec<(f64, f64)>)> = neurons
                .iter()
                .map(|&i| {
                    let points = outputs
                        .iter()
                        .enumerate()
                        .flat_map(|(j, o)| {
                            (0..records).map(move |k| {
                                (
                                    j as f64 * image_ms + ((k + 1) * every) as f64 * dt_ms,
                                    rows_of(o)[[k, i]] * hz.unwrap_or(1.0),
                                )
                            })
                        })
                        .collect();
                    (format!("neuron {i}"), points)
                })
                .collect();
            // The layer's mean and largest rate over the presentation, all
            // its neurons and images (as NengoDL's example titles them).
            let per_neuron: Vec<f64> = outputs
                .iter()
                .flat_map(|o| {
                    (0..size).map(move |i| {
                        (0..records).map(|k| rows_of(o)[[k, i]]).sum::<f64>()
                            / records.max(1) as f64
                            * hz.unwrap_or(1.0)
                    })
                })
                .collect();
            let mean = per_neuron.iter().sum::<f64>() / per_neuron.len().max(1) as f64;
            let max = per_neuron.iter().copied().fold(0.0, f64::max);
            let images: Vec<(f64, String)> = range
                .clone()
                .enumerate()
                .map(|(j, i)| (j as f64 * image_ms, format!("image {i}{}", label_of(i))))
                .collect();
            let shown = match range.len() {
                1 => format!("image {first}"),
                _ => format!("images {first}-{}", range.end - 1),
            };
            let (noun, y_desc, stats) = match hz {
                Some(_) => (
                    "Firing rates",
                    "firing rate (Hz)".to_string(),
                    format!("mean {mean:.1} Hz, max {max:.1} Hz"),
                ),
                None => (
                    "Values",
                    format!("value of `{}`", probe.name),
                    format!("mean {mean:.3}, max {max:.3}"),
                ),
            };
            let title = format!("{noun} of {layer} in `{}`, {shown} ({stats})", model.name);
            let fewer = if neurons.len() < args.neurons.min(size) {
                format!(
                    " (only {all_active} of the layer's {size} neurons are active; --neurons asked for {})",
                    args.neurons
                )
            } else {
                String::new()
            };
            let summary = format!(
                "activity of `{}` ({layer}) in `{}`, {shown}, {} neurons, {stats}{fewer}",
                probe.name,
                model.name,
                neurons.len()
            );
            if neurons.is_empty() {
                return Ok((
                    Figure::Empty {
                        title,
                        message: format!(
                            "no neuron of `{layer}` was active on {shown} in {} steps of `{}`: raise `scale_firing_rates` \
                             (or the layer's `scale`) or the presentation time (--present), or pick another --image",
                            run.steps, model.name
                        ),
                    },
                    summary,
                ));
            }
            Ok((
                Figure::Lines {
                    title,
                    y_desc,
                    series,
                    legend: false,
                    images,
                },
                summary,
            ))
        }
        PlotKind::Output => {
            if size > MAX_CLASSES {
                return Err(format!(
                    "probe `{}` records {size} values, not class scores: --kind output draws a line per class and takes \
                     at most {MAX_CLASSES} (probe the output layer, or draw this one with --kind activity or raster)",
                    probe.name
                ));
            }
            let rows = &outputs[0].probes[0];
            let steps = rows.nrows();
            let series = (0..size)
                .map(|j| {
                    (
                        format!("class {j}"),
                        (0..steps)
                            .map(|k| (((k + 1) * every) as f64 * dt_ms, rows[[k, j]]))
                            .collect(),
                    )
                })
                .collect();
            let pred = rows.outer_iter().last().and_then(argmax);
            let predicted = pred.map_or("-".into(), |p| p.to_string());
            let title = format!(
                "{layer} of `{}` over time, image {}{}, predicted {predicted}",
                model.name,
                args.image,
                label_of(args.image)
            );
            let summary = format!(
                "output `{}` ({layer}) in `{}`, image {}{}, predicted {predicted}",
                probe.name,
                model.name,
                args.image,
                label_of(args.image)
            );
            Ok((
                Figure::Lines {
                    title,
                    y_desc: format!("class score (probe `{}`)", probe.name),
                    series,
                    legend: true,
                    images: Vec::new(),
                },
                summary,
            ))
        }
        PlotKind::Predictions => {
            if !loaded.dataset.labelled {
                return Err(format!(
                    "`{}` has no labels, and --kind predictions draws predictions against labels; \
                     draw one image's class scores with --kind output",
                    loaded.dataset.origin
                ));
            }
            let labels: Vec<u32> = loaded.dataset.labels()[range].to_vec();
            let predicted: Vec<Option<usize>> = outputs
                .iter()
                .map(|o| o.probes[0].outer_iter().last().and_then(argmax))
                .collect();
            let right = labels
                .iter()
                .zip(&predicted)
                .filter(|(l, p)| Some(**l as usize) == **p)
                .count();
            let title = format!(
                "Predictions of `{}` ({layer}) at step {}: {right} / {} right",
                model.name,
                run.steps / every * every,
                labels.len()
            );
            let summary = format!(
                "predictions of `{}` ({layer}) on {} images, {right} right",
                probe.name,
                labels.len()
            );
            Ok((
                Figure::Predictions {
                    title,
                    labels,
                    predicted,
                    classes: size,
                },
                summary,
            ))
        }
    }
}

fn font_setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

fn e2s(e: impl std::fmt::Display) -> String {
    format!("cannot draw: {e}")
}

/// The figures one above the other (one row each).
fn draw_rows<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    figures: &[Figure],
) -> Result<(), String> {
    font_setup();
    root.fill(&WHITE).map_err(e2s)?;
    let rows = root.split_evenly((figures.len().max(1), 1));
    for (area, figure) in rows.iter().zip(figures) {
        draw(area, figure)?;
    }
    root.present().map_err(e2s)?;
    Ok(())
}

/// The caption's font size: 24 (plotters draws a size-s font at an em of
/// s / 1.24 pixels), smaller for a title that would not fit the figure's
/// width (DejaVu Sans averages about 0.58 em a character).
fn caption_size<DB: DrawingBackend>(title: &str, area: &DrawingArea<DB, Shift>) -> u32 {
    let width = f64::from(area.dim_in_pixel().0);
    let fit = (width - 40.0) / (title.chars().count().max(1) as f64 * 0.58) * 1.24;
    fit.clamp(14.0, 24.0) as u32
}

/// A series' mark in a key.
enum Key {
    Line(RGBColor),
    Ring,
    Dot(RGBColor),
}

/// Splits off a column on the right for the key of `entries` (as wide as
/// its longest name in the key's font), so the key never covers data.
fn with_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Key)],
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let longest = entries
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let width = 50 + (longest as f64 * f64::from(KEY_FONT) / 1.24 * 0.6) as u32;
    let (w, _) = area.dim_in_pixel();
    area.split_horizontally(w.saturating_sub(width))
}

/// The font size of a key's names.
const KEY_FONT: u32 = 16;

/// A key of `entries` in `area`, from the top of the plotting area.
fn draw_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Key)],
) -> Result<(), String> {
    let style = (FAMILY, KEY_FONT).into_font().color(&BLACK);
    for (i, (name, key)) in entries.iter().enumerate() {
        let y = 60 + 22 * i as i32;
        match key {
            Key::Line(c) => area
                .draw(&PathElement::new(vec![(6, y), (30, y)], c.stroke_width(3)))
                .map_err(e2s)?,
            Key::Ring => area
                .draw(&Circle::new((18, y), 7, BLACK.stroke_width(2)))
                .map_err(e2s)?,
            Key::Dot(c) => area
                .draw(&Circle::new((18, y), 5, c.filled()))
                .map_err(e2s)?,
        }
        area.draw(&Text::new(
            name.clone(),
            (38, y),
            style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(e2s)?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> Result<(), String> {
    match figure {
        Figure::Empty { title, message } => {
            let mut chart = ChartBuilder::on(root)
                .caption(title, (FAMILY, caption_size(title, root)))
                .margin(12)
                .margin_right(40)
                .build_cartesian_2d(0.0..1.0, 0.0..1.0)
                .map_err(e2s)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .disable_axes()
                .draw()
                .map_err(e2s)?;
            // The message, broken into lines that fit.
            let (w, _) = chart.plotting_area().dim_in_pixel();
            let per_line = (w as usize / 10).max(20);
            let mut lines = vec![String::new()];
            for word in message.split_whitespace() {
                let last = lines.last_mut().expect("one line");
                if !last.is_empty() && last.len() + 1 + word.len() > per_line {
                    lines.push(word.to_string());
                } else {
                    if !last.is_empty() {
                        last.push(' ');
                    }
                    last.push_str(word);
                }
            }
            let style = (FAMILY, 21).into_font().color(&RGBColor(160, 30, 30));
            let n = lines.len() as f64;
            for (i, line) in lines.into_iter().enumerate() {
                chart
                    .draw_series(std::iter::once(Text::new(
                        line,
                        (0.5, 0.5 + (n / 2.0 - i as f64 - 0.5) * 0.09),
                        style.pos(Pos::new(HPos::Center, VPos::Center)),
                    )))
                    .map_err(e2s)?;
            }
        }
        Figure::Raster {
            title,
            raster,
            dt_ms,
        } => {
            let rows = raster.neurons.len().max(1);
            let t_end = raster.steps as f64 * dt_ms;
            let mut chart = ChartBuilder::on(root)
                .caption(title, (FAMILY, caption_size(title, root)))
                .margin(12)
                .margin_right(40)
                .x_label_area_size(45)
                .y_label_area_size(80)
                .build_cartesian_2d(0.0..t_end.max(*dt_ms), -0.5..rows as f64 - 0.5)
                .map_err(e2s)?;
            let neurons = raster.neurons.clone();
            let fmt = move |y: &f64| {
                let r = y.round();
                if (y - r).abs() < 1e-6 && r >= 0.0 {
                    neurons
                        .get(r as usize)
                        .map_or(String::new(), |n| n.to_string())
                } else {
                    String::new()
                }
            };
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("time (ms)")
                .y_desc("neuron")
                .y_labels(rows.min(25))
                .x_label_formatter(&tick)
                .y_label_formatter(&fmt)
                .label_style((FAMILY, 16))
                .axis_desc_style((FAMILY, 18))
                .draw()
                .map_err(e2s)?;
            let half_w = dt_ms * 0.4;
            chart
                .draw_series(raster.marks.iter().map(|&(step, row, _)| {
                    let t = step as f64 * dt_ms;
                    Rectangle::new(
                        [
                            (t - half_w, row as f64 - 0.4),
                            (t + half_w, row as f64 + 0.4),
                        ],
                        MARK.filled(),
                    )
                }))
                .map_err(e2s)?;
        }
        Figure::Lines {
            title,
            y_desc,
            series,
            legend,
            images,
        } => {
            let entries: Vec<(String, Key)> = series
                .iter()
                .enumerate()
                .map(|(i, (name, _))| (name.clone(), Key::Line(CATEGORY10[i % CATEGORY10.len()])))
                .collect();
            let (plot_area, key_area) = if *legend {
                let (p, k) = with_key(root, &entries);
                (p, Some(k))
            } else {
                (root.clone(), None)
            };
            let (mut x0, mut x1, mut y0, mut y1) = (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            );
            for (_, pts) in series {
                for &(x, y) in pts {
                    x0 = x0.min(x);
                    x1 = x1.max(x);
                    if y.is_finite() {
                        y0 = y0.min(y);
                        y1 = y1.max(y);
                    }
                }
            }
            if !x0.is_finite() {
                (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
            }
            x0 = x0.min(0.0);
            if x1 <= x0 {
                x1 = x0 + 1.0;
            }
            // Room above the data for the image captions.
            let top = if images.len() > 1 { 0.12 } else { 0.05 };
            let span = (y1 - y0).max(1e-6);
            let (y0, y1) = (y0.min(0.0) - span * 0.05, y1 + span * top);
            let mut chart = ChartBuilder::on(&plot_area)
                .caption(title, (FAMILY, caption_size(title, &plot_area)))
                .margin(12)
                .margin_right(if *legend { 12 } else { 40 })
                .x_label_area_size(45)
                .y_label_area_size(70)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(e2s)?;
            chart
                .configure_mesh()
                .x_desc("time (ms)")
                .y_desc(y_desc.as_str())
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .label_style((FAMILY, 16))
                .axis_desc_style((FAMILY, 18))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(e2s)?;
            if images.len() > 1 {
                let grey = RGBColor(120, 120, 120);
                for (i, (x, caption)) in images.iter().enumerate() {
                    if i > 0 {
                        chart
                            .draw_series(LineSeries::new(
                                [(*x, y0), (*x, y1)],
                                grey.stroke_width(1),
                            ))
                            .map_err(e2s)?;
                    }
                    chart
                        .draw_series(std::iter::once(Text::new(
                            caption.clone(),
                            (*x + (x1 - x0) * 0.005, y1 - (y1 - y0) * 0.01),
                            (FAMILY, 15)
                                .into_font()
                                .color(&grey)
                                .pos(Pos::new(HPos::Left, VPos::Top)),
                        )))
                        .map_err(e2s)?;
                }
            }
            for (i, (_, pts)) in series.iter().enumerate() {
                let color = CATEGORY10[i % CATEGORY10.len()];
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                    .map_err(e2s)?;
            }
            if let Some(key) = key_area {
                draw_key(&key, &entries)?;
            }
        }
        Figure::Predictions {
            title,
            labels,
            predicted,
            classes,
        } => {
            let green = RGBColor(44, 160, 44);
            let red = RGBColor(214, 39, 40);
            let entries = [
                ("label".to_string(), Key::Ring),
                ("predicted, right".to_string(), Key::Dot(green)),
                ("predicted, wrong".to_string(), Key::Dot(red)),
            ];
            let (plot_area, key_area) = with_key(root, &entries);
            let k = labels.len().max(1);
            let mut chart = ChartBuilder::on(&plot_area)
                .caption(title, (FAMILY, caption_size(title, &plot_area)))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(50)
                .build_cartesian_2d(-0.5..k as f64 - 0.5, -0.5..*classes as f64 - 0.5)
                .map_err(e2s)?;
            let int = |v: &f64| {
                if (v - v.round()).abs() < 1e-6 && *v >= 0.0 {
                    format!("{}", v.round())
                } else {
                    String::new()
                }
            };
            chart
                .configure_mesh()
                .x_desc("image")
                .y_desc("class")
                .x_labels(k.min(25))
                .y_labels(*classes)
                .x_label_formatter(&int)
                .y_label_formatter(&int)
                .label_style((FAMILY, 16))
                .axis_desc_style((FAMILY, 18))
                .light_line_style(RGBColor(240, 240, 240))
                .draw()
                .map_err(e2s)?;
            chart
                .draw_series(
                    labels
                        .iter()
                        .enumerate()
                        .map(|(i, &l)| Circle::new((i as f64, l as f64), 9, BLACK.stroke_width(2))),
                )
                .map_err(e2s)?;
            let pts: Vec<(f64, f64, bool)> = predicted
                .iter()
                .zip(labels)
                .enumerate()
                .filter_map(|(i, (p, &l))| p.map(|p| (i as f64, p as f64, p == l as usize)))
                .collect();
            chart
                .draw_series(pts.iter().map(|&(x, y, right)| {
                    Circle::new((x, y), 5, if right { green } else { red }.filled())
                }))
                .map_err(e2s)?;
            draw_key(&key_area, &entries)?;
        }
    }
    Ok(())
}

/// Accuracy against latency, with the Pareto front: for `snnc sweep --plot`.
/// Points are `(latency in steps, accuracy in %, label, on_front)`.
pub fn draw_pareto(
    path: &Path,
    size: (u32, u32),
    title: &str,
    points: &[(f64, f64, String, bool)],
) -> Result<(), String> {
    let svg = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if svg {
        pareto(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            points,
        )
    } else {
        pareto(
            text::Text::new(BitMapBackend::new(path, size), FONT)?.into_drawing_area(),
            title,
            points,
        )
    }
}

fn pareto<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    points: &[(f64, f64, String, bool)],
) -> Result<(), String> {
    font_setup();
    root.fill(&WHITE).map_err(e2s)?;
    let grey = RGBColor(150, 150, 150);
    let red = RGBColor(214, 39, 40);
    // The front is over accuracy, steps and spikes: no line joins its
    // points, which need not fall in order on these two axes.
    let entries = [
        ("setting".to_string(), Key::Dot(grey)),
        ("Pareto front".to_string(), Key::Dot(red)),
    ];
    let (plot_area, key_area) = with_key(&root, &entries);
    let finite: Vec<&(f64, f64, String, bool)> = points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let x1 = finite.iter().map(|p| p.0).fold(1.0f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, (FAMILY, caption_size(title, &plot_area)))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x1, 0.0..105.0)
        .map_err(e2s)?;
    chart
        .configure_mesh()
        .x_desc("mean steps until the prediction is right and stays right")
        .y_desc("accuracy (%)")
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(e2s)?;
    chart
        .draw_series(
            finite
                .iter()
                .filter(|p| !p.3)
                .map(|p| Circle::new((p.0, p.1), 4, grey.filled())),
        )
        .map_err(e2s)?;
    chart
        .draw_series(
            finite
                .iter()
                .filter(|p| p.3)
                .map(|p| Circle::new((p.0, p.1), 6, red.filled())),
        )
        .map_err(e2s)?;
    // Each front point's label right of it, moved down past the labels
    // already placed so that none overlaps another.
    let mut labels: Vec<(i32, i32, &str)> = finite
        .iter()
        .filter(|p| p.3)
        .map(|p| {
            let (x, y) = chart.backend_coord(&(p.0, p.1));
            (x + 9, y, p.2.as_str())
        })
        .collect();
    labels.sort_by_key(|&(x, y, _)| (y, x));
    // The points are in the way too.
    let mut placed: Vec<(i32, i32, i32, i32)> = finite
        .iter()
        .map(|p| {
            let (x, y) = chart.backend_coord(&(p.0, p.1));
            (x - 7, y - 7, x + 7, y + 7)
        })
        .collect();
    let style = (FAMILY, 14).into_font().color(&BLACK);
    for (x, mut y, text) in labels {
        let point_y = y;
        let width = (text.chars().count() as f64 * 14.0 / 1.24 * 0.6) as i32;
        while placed
            .iter()
            .any(|&(x0, y0, x1, y1)| x < x1 && x + width > x0 && y - 7 < y1 && y + 7 > y0)
        {
            y += 14;
        }
        placed.push((x, y - 7, x + width, y + 7));
        if y != point_y {
            root.draw(&PathElement::new(
                vec![(x - 5, point_y), (x, y)],
                grey.stroke_width(1),
            ))
            .map_err(e2s)?;
        }
        root.draw(&Text::new(
            text.to_string(),
            (x, y),
            style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(e2s)?;
    }
    draw_key(&key_area, &entries)?;
    root.present().map_err(e2s)?;
    Ok(())
}
