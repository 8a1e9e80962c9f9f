//! `snnc plot SPEC`: runs a spec's run block recording one probe and draws
//! it: a spike raster, activity over time, the output per class, or
//! predictions against labels. PNG or SVG, by the output's extension.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use plotters::coord::Shift;
use plotters::prelude::*;
use snnc_compiler::ir::{BoundProbe, Program, Run};
use snnc_runtime::analysis::latency::argmax;
use snnc_runtime::analysis::spikes::{raster, Raster};
use snnc_runtime::driver::{self, Loaded};
use snnc_runtime::engine::SimConfig;

use super::spec::load_spec;

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
    /// (probe x dt x scale: one spike per step reads 1), `output` (one line
    /// per class over time) or `predictions` (predicted class at the last
    /// step against the label, for --limit images).
    #[arg(long, value_enum)]
    pub kind: PlotKind,

    /// The example drawn by raster, activity and output (0-based).
    #[arg(long, value_name = "I", default_value_t = 0)]
    pub image: usize,

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

    #[command(flatten)]
    pub sim: super::overrides::SimOverrides,

    /// Image size in pixels.
    #[arg(long, value_name = "WxH", default_value = "1000x600")]
    pub size: String,

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
        legend: bool,
    },
    Predictions {
        title: String,
        labels: Vec<u32>,
        predicted: Vec<Option<usize>>,
        classes: usize,
    },
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
    let size = parse_size(&args.size)?;
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
    let (figure, summary) = build_figure(program, &run, probe, &loaded, &args)?;
    if svg {
        draw(
            SVGBackend::new(&args.output, size).into_drawing_area(),
            &figure,
        )?;
    } else {
        draw(
            BitMapBackend::new(&args.output, size).into_drawing_area(),
            &figure,
        )?;
    }
    println!("wrote {}: {summary}", args.output.display());
    Ok(ExitCode::SUCCESS)
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
    let single = args.kind != PlotKind::Predictions;
    let wanted = if single {
        args.image + 1
    } else {
        args.limit.max(1)
    };
    let available = run.data.limit.unwrap_or(usize::MAX);
    if single && args.image >= available {
        return Err(format!(
            "--image {} is past the run's data, which has {available} examples (`limit=`)",
            args.image
        ));
    }
    run.data.limit = Some(wanted.min(available));
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
    let single = args.kind != PlotKind::Predictions;
    let n = loaded.dataset.len();
    if single && args.image >= n {
        return Err(format!(
            "--image {} is past the run's data, which has {n} examples",
            args.image
        ));
    }
    let range = if single {
        args.image..args.image + 1
    } else {
        0..n
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
                &outputs[0].probes[0],
                size,
                neuron,
                settings.scale,
                run.dt,
                args.neurons,
            );
            if r.neurons.is_empty() {
                return Err(format!(
                    "no neuron of `{layer}` spiked on image {} in {} steps: there is nothing to draw; \
                     raise `scale_firing_rates` (or the layer's `scale`) or the presentation time (--present), or pick another --image",
                    args.image, run.steps
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
                "raster of `{}` ({layer}), image {}, {} neurons, {} marks, {} spikes{fewer}",
                probe.name,
                args.image,
                r.neurons.len(),
                r.marks.len(),
                spikes
            );
            let title = format!(
                "Spikes of {layer} in `{}`, image {} (label {})",
                model.name, args.image, loaded.dataset.labels[args.image]
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
            let rows = &outputs[0].probes[0];
            let steps = rows.len() / size.max(1);
            let factor = match settings.neuron {
                Some(nrn) => run.dt * settings.scale / nrn.amplitude(),
                None => 1.0,
            };
            let neurons: Vec<usize> = (0..size)
                .filter(|&i| (0..steps).any(|k| rows[k * size + i] != 0.0))
                .take(args.neurons)
                .collect();
            let series = neurons
                .iter()
                .map(|&i| {
                    (
                        format!("neuron {i}"),
                        (0..steps)
                            .map(|k| {
                                (
                                    ((k + 1) * every) as f64 * dt_ms,
                                    rows[k * size + i] * factor,
                                )
                            })
                            .collect(),
                    )
                })
                .collect();
            let y_desc = if settings.neuron.is_some() {
                "spikes per step (probe x dt x scale)"
            } else {
                "value"
            }
            .to_string();
            let title = format!(
                "Activity of {layer} in `{}`, image {} ({} active neurons)",
                model.name,
                args.image,
                neurons.len()
            );
            let summary = format!(
                "activity of `{}` ({layer}), image {}, {} neurons",
                probe.name,
                args.image,
                neurons.len()
            );
            Ok((
                Figure::Lines {
                    title,
                    y_desc,
                    series,
                    legend: false,
                },
                summary,
            ))
        }
        PlotKind::Output => {
            if size > MAX_CLASSES {
                return Err(format!(
                    "probe `{}` records {size} values; --kind output draws a line per class and takes at most {MAX_CLASSES} \
                     (probe the output layer, or draw this one with --kind activity or raster)",
                    probe.name
                ));
            }
            let rows = &outputs[0].probes[0];
            let steps = rows.len() / size.max(1);
            let classes = size;
            let series = (0..classes)
                .map(|j| {
                    (
                        format!("class {j}"),
                        (0..steps)
                            .map(|k| (((k + 1) * every) as f64 * dt_ms, rows[k * size + j]))
                            .collect(),
                    )
                })
                .collect();
            let label = loaded.dataset.labels[args.image];
            let pred = if steps > 0 {
                argmax(&rows[(steps - 1) * size..steps * size])
            } else {
                None
            };
            let title = format!(
                "{layer} of `{}` over time, image {} (label {label}, predicted {})",
                model.name,
                args.image,
                pred.map_or("-".into(), |p| p.to_string())
            );
            let summary = format!(
                "output `{}` ({layer}), image {}, label {label}, predicted {}",
                probe.name,
                args.image,
                pred.map_or("-".into(), |p| p.to_string())
            );
            Ok((
                Figure::Lines {
                    title,
                    y_desc: format!("{layer} output"),
                    series,
                    legend: true,
                },
                summary,
            ))
        }
        PlotKind::Predictions => {
            let labels: Vec<u32> = loaded.dataset.labels[range].to_vec();
            let predicted: Vec<Option<usize>> = outputs
                .iter()
                .map(|o| {
                    let rows = &o.probes[0];
                    let r = rows.len() / size.max(1);
                    if r == 0 {
                        None
                    } else {
                        argmax(&rows[(r - 1) * size..r * size])
                    }
                })
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

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, figure: &Figure) -> Result<(), String> {
    font_setup();
    root.fill(&WHITE).map_err(e2s)?;
    match figure {
        Figure::Raster {
            title,
            raster,
            dt_ms,
        } => {
            let rows = raster.neurons.len().max(1);
            let t_end = raster.steps as f64 * dt_ms;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, (FAMILY, 22))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(60)
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
                .y_label_formatter(&fmt)
                .label_style((FAMILY, 14))
                .axis_desc_style((FAMILY, 16))
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
        } => {
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
            let pad = ((y1 - y0) * 0.05).max(1e-6);
            let (y0, y1) = (y0.min(0.0) - pad, y1 + pad);
            let mut chart = ChartBuilder::on(&root)
                .caption(title, (FAMILY, 22))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(70)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(e2s)?;
            chart
                .configure_mesh()
                .x_desc("time (ms)")
                .y_desc(y_desc.as_str())
                .label_style((FAMILY, 14))
                .axis_desc_style((FAMILY, 16))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(e2s)?;
            for (i, (name, pts)) in series.iter().enumerate() {
                let color = CATEGORY10[i % CATEGORY10.len()];
                let s = chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                    .map_err(e2s)?;
                if *legend {
                    s.label(name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                    });
                }
            }
            if *legend {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .label_font((FAMILY, 14))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(e2s)?;
            }
        }
        Figure::Predictions {
            title,
            labels,
            predicted,
            classes,
        } => {
            let k = labels.len().max(1);
            let mut chart = ChartBuilder::on(&root)
                .caption(title, (FAMILY, 22))
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
                .label_style((FAMILY, 14))
                .axis_desc_style((FAMILY, 16))
                .light_line_style(RGBColor(240, 240, 240))
                .draw()
                .map_err(e2s)?;
            let green = RGBColor(44, 160, 44);
            let red = RGBColor(214, 39, 40);
            chart
                .draw_series(
                    labels
                        .iter()
                        .enumerate()
                        .map(|(i, &l)| Circle::new((i as f64, l as f64), 9, BLACK.stroke_width(2))),
                )
                .map_err(e2s)?
                .label("label")
                .legend(|(x, y)| Circle::new((x + 10, y), 6, BLACK.stroke_width(2)));
            let pts: Vec<(f64, f64, bool)> = predicted
                .iter()
                .zip(labels)
                .enumerate()
                .filter_map(|(i, (p, &l))| p.map(|p| (i as f64, p as f64, p == l as usize)))
                .collect();
            chart
                .draw_series(
                    pts.iter()
                        .filter(|p| p.2)
                        .map(|&(x, y, _)| Circle::new((x, y), 5, green.filled())),
                )
                .map_err(e2s)?
                .label("predicted, right")
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, green.filled()));
            chart
                .draw_series(
                    pts.iter()
                        .filter(|p| !p.2)
                        .map(|&(x, y, _)| Circle::new((x, y), 5, red.filled())),
                )
                .map_err(e2s)?
                .label("predicted, wrong")
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, red.filled()));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font((FAMILY, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(e2s)?;
        }
    }
    root.present().map_err(e2s)?;
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
            BitMapBackend::new(path, size).into_drawing_area(),
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
    let finite: Vec<&(f64, f64, String, bool)> = points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let x1 = finite.iter().map(|p| p.0).fold(1.0f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x1, 0.0..105.0)
        .map_err(e2s)?;
    chart
        .configure_mesh()
        .x_desc("mean steps until the prediction is right and stays right")
        .y_desc("accuracy (%)")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(e2s)?;
    let grey = RGBColor(150, 150, 150);
    let red = RGBColor(214, 39, 40);
    chart
        .draw_series(
            finite
                .iter()
                .filter(|p| !p.3)
                .map(|p| Circle::new((p.0, p.1), 4, grey.filled())),
        )
        .map_err(e2s)?
        .label("setting")
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, grey.filled()));
    let mut front: Vec<(f64, f64)> = finite.iter().filter(|p| p.3).map(|p| (p.0, p.1)).collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart
        .draw_series(LineSeries::new(front.iter().copied(), red.stroke_width(2)))
        .map_err(e2s)?;
    chart
        .draw_series(
            front
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 6, red.filled())),
        )
        .map_err(e2s)?
        .label("Pareto front")
        .legend(move |(x, y)| Circle::new((x + 10, y), 6, red.filled()));
    chart
        .draw_series(finite.iter().filter(|p| p.3).map(|p| {
            Text::new(
                p.2.clone(),
                (p.0, p.1 - 4.0),
                (FAMILY, 12).into_font().color(&BLACK),
            )
        }))
        .map_err(e2s)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e2s)?;
    root.present().map_err(e2s)?;
    Ok(())
}
