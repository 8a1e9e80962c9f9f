//! `snnc diagnose SPEC`: runs a convert variant in spiking and in rate mode
//! side by side on a small batch, reports firing per layer and how far the
//! spiking output is from the rate output, and turns what it sees into
//! findings that point at the spec line to change.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;
use snnc_compiler::diagnostic::{render_json, render_text, Diagnostic};
use snnc_compiler::ir::{BoundProbe, ModelPlaces, Synapse};
use snnc_compiler::render::synapse_text;
use snnc_compiler::span::Span;
use snnc_compiler::SourceFile;
use snnc_runtime::analysis::layers::{
    findings, Finding, Fix, LayerAccum, LayerDiag, OutputAccum, OutputDiag,
};
use snnc_runtime::driver;
use snnc_runtime::engine::SimConfig;
use snnc_runtime::io::write_atomic;
use snnc_runtime::report::accuracy;

use super::spec::load_spec;

/// Images simulated at once: bounds the memory of per-step probes on every
/// spiking layer.
const CHUNK: usize = 8;

#[derive(Args, Debug)]
#[command(after_long_help = "Rules (thresholds):\n  \
slow: the neurons active in the rate model spike fewer than 2 times on average in one presentation; \
the fix sets that layer's `scale LAYER = ...` to aim at 10 spikes (scale times 10 / spikes); \
a longer `present` is mentioned when it stays at most 1000 ms.\n  \
saturated (LIF only): more than 10% of neurons spike in every step, which a LIF neuron cannot exceed; \
the fix lowers the layer's scale so that 95% of the spiking neurons spike in at most half the steps. \
A spiking ReLU spiking several times a step loses nothing and is not flagged.\n  \
noisy output: over the second half of the presentation the output changes from step to step by more than 25% \
of its mean absolute value and no synapse filters the spikes into it; the fix is a low-pass synapse.\n\
--fix applies every fix to the spec; repeat until no findings remain.")]
pub struct DiagnoseArgs {
    /// The `.snn` spec.
    #[arg(value_name = "SPEC")]
    pub file: PathBuf,

    /// The convert variant to diagnose (default: the run block's network).
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,

    /// Which run block, when the spec has several named ones.
    #[arg(long, value_name = "NAME")]
    pub run: Option<String>,

    /// Images simulated (at most the run's data).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,

    /// Apply every finding's fix to SPEC (atomically): set or add the
    /// layers' `scale` lines and the synapses asked for.
    #[arg(long)]
    pub fix: bool,

    #[command(flatten)]
    pub sim: super::overrides::SimOverrides,

    /// How to print: a table and rendered findings, or one JSON object.
    #[arg(long, value_enum, default_value_t = DiagnoseFormat::Human)]
    pub format: DiagnoseFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiagnoseFormat {
    Human,
    Json,
}

/// The version of `diagnose --format json`'s layout: raised when a key
/// changes meaning or goes away (new keys do not raise it); docs/json.md
/// documents each version.
const SCHEMA: u32 = 1;

#[derive(Serialize)]
struct Report {
    schema: u32,
    spec: String,
    variant: String,
    rate_model: String,
    images: usize,
    steps: usize,
    dt: f64,
    present: f64,
    layers: Vec<LayerDiag>,
    output: OutputDiag,
    findings: Vec<JsonFinding>,
}

#[derive(Serialize)]
struct JsonFinding {
    #[serde(flatten)]
    finding: Finding,
    diagnostic: serde_json::Value,
}

pub fn run(args: DiagnoseArgs) -> Result<ExitCode, String> {
    if args.limit == 0 {
        return Err("--limit must be at least 1".into());
    }
    let Some(spec) = load_spec(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    // The text as checked: spans in the IR point into it.
    let source = SourceFile {
        name: spec.path.display().to_string(),
        text: spec.text.clone(),
    };
    let program = &spec.program;
    let mut run = driver::pick_run(program, args.run.as_deref())?;
    if let Some(v) = &args.variant {
        run.model = driver::pick_variant(program, &run, v)?;
    }
    args.sim.apply(&mut run)?;
    let variant = &program.models[run.model];
    if !variant.converted || !variant.has_spiking() {
        return Err(format!(
            "`{}` has no spiking neurons; diagnose compares a convert variant with spiking neurons to its rate model (pass --variant NAME)",
            variant.name
        ));
    }
    // The variant in rate mode (not the network's own rate model, which
    // differs from it when a swap changes a neuron's amplitude).
    let rate = &variant.rate_equivalent();
    let net = program.network_of(variant);
    run.data.limit = Some(run.data.limit.map_or(args.limit, |l| l.min(args.limit)));
    let loaded = match driver::load(program, &run, &spec.dir) {
        Ok(loaded) => loaded,
        Err(d) => return Ok(spec.fail(&d)),
    };
    let images = loaded.dataset.len();

    let report_probe = run.probes[run.report.probe].clone();
    let out_node = report_probe.node;
    let spiking: Vec<usize> = (0..net.nodes.len())
        .filter(|&id| variant.nodes[id].neuron.is_some_and(|n| n.is_spiking()))
        .collect();
    let mut probes: Vec<BoundProbe> = vec![report_probe.clone()];
    probes.extend(spiking.iter().map(|&id| driver::probe_on(net, id)));
    // A rate-model twin of the output probe, unfiltered and every step, to
    // compare the outputs and measure the spiking output's variation.
    probes.push(driver::probe_on(net, out_node));
    let twin = probes.len() - 1;

    // Both models' probes on every spiking layer, CHUNK images at a time.
    super::memory::check_run(net, &probes, CHUNK.min(images) * 2, run.steps, 8)?;
    let mut accums: Vec<LayerAccum> = spiking
        .iter()
        .map(|&id| {
            let s = &variant.nodes[id];
            LayerAccum::new(
                &net.nodes[id].name,
                s.neuron.expect("spiking"),
                s.scale,
                net.nodes[id].size(),
                run.dt,
            )
        })
        .collect();
    let mut out_acc = OutputAccum::default();
    let (mut rate_right, mut spike_right) = (0usize, 0usize);
    let mut start = 0;
    while start < images {
        let end = (start + CHUNK).min(images);
        let r = driver::simulate(
            net,
            rate,
            &loaded,
            start..end,
            &probes,
            &SimConfig::of(&run),
            run.precision,
        )?;
        let s = driver::simulate(
            net,
            variant,
            &loaded,
            start..end,
            &probes,
            &SimConfig::of(&run),
            run.precision,
        )?;
        let labels = &loaded.dataset.labels()[start..end];
        rate_right += accuracy(&r, &report_probe, 0, run.report.at, run.steps, labels).0;
        spike_right += accuracy(&s, &report_probe, 0, run.report.at, run.steps, labels).0;
        for (ro, so) in r.iter().zip(&s) {
            for (k, acc) in accums.iter_mut().enumerate() {
                acc.add(ro.probes[k + 1].view(), so.probes[k + 1].view());
            }
            out_acc.add(ro.probes[twin].view(), so.probes[twin].view());
        }
        start = end;
    }

    let layers: Vec<LayerDiag> = accums.iter().map(LayerAccum::finish).collect();
    // The spiking layers that feed the output, and whether any such
    // connection is filtered.
    let mut sources = Vec::new();
    let mut filtered = false;
    for (i, &src) in net.nodes[out_node].inputs.iter().enumerate() {
        let st = net.storage_of(src);
        if variant.nodes[st].neuron.is_some_and(|n| n.is_spiking()) {
            sources.push(net.nodes[st].name.clone());
            filtered |= variant.nodes[out_node].input_synapses[i] != Synapse::None;
        }
    }
    let output = OutputDiag {
        name: net.nodes[out_node].name.clone(),
        relative_distance: out_acc.relative_distance(),
        step_variation: out_acc.step_variation(),
        rate_accuracy: rate_right as f64 / images.max(1) as f64,
        spiking_accuracy: spike_right as f64 / images.max(1) as f64,
        filtered,
    };
    let present = run.steps as f64 * run.dt;
    let found = findings(&layers, &output, &sources, present, run.dt);

    // Spans: the run block's `present` line, the variant's scale lines.
    let places = Places {
        present: run.steps_span,
        variant: &variant.places,
    };
    let diags: Vec<Diagnostic> = found
        .iter()
        .map(|f| to_diagnostic(f, &places, variant.span))
        .collect();

    let fixed = if args.fix && !found.is_empty() {
        let text = apply_fixes(&source.text, &found, &places)?;
        write_atomic(&args.file, |w| w.write_all(text.as_bytes())).map_err(|e| e.to_string())?;
        Some(found.len())
    } else {
        None
    };
    match args.format {
        DiagnoseFormat::Json => {
            let json_lines = render_json(&source, &diags);
            let findings = found
                .into_iter()
                .zip(json_lines.lines())
                .map(|(finding, line)| JsonFinding {
                    finding,
                    diagnostic: serde_json::from_str(line).unwrap_or(serde_json::Value::Null),
                })
                .collect();
            let report = Report {
                schema: SCHEMA,
                spec: spec.path.display().to_string(),
                variant: variant.name.clone(),
                rate_model: rate.name.clone(),
                images,
                steps: run.steps,
                dt: run.dt,
                present,
                layers,
                output,
                findings,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
        }
        DiagnoseFormat::Human => {
            println!(
                "{}: `{}` against itself in rate mode on {images} images x {} steps (dt {} ms)",
                spec.path.display(),
                variant.name,
                run.steps,
                run.dt * 1e3
            );
            println!(
                "accuracy  rate {:.2}%   spiking {:.2}%",
                output.rate_accuracy * 100.0,
                output.spiking_accuracy * 100.0
            );
            println!(
                "{:<10} {:>7} {:>6} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} {:>7} {:>7} {:>9} {:>8}",
                "layer", "neurons", "scale", "rate Hz", "max Hz", "silent", "spike Hz", "max Hz", "silent", ">1/step", "every", "1st (ms)", "spikes"
            );
            for l in &layers {
                println!(
                    "{:<10} {:>7} {:>6} | {:>9.1} {:>9.1} {:>6.1}% | {:>9.1} {:>9.1} {:>6.1}% {:>6.1}% {:>6.1}% {:>9} {:>8.1}",
                    l.name,
                    l.neurons,
                    l.scale,
                    l.rate_mean_hz,
                    l.rate_max_hz,
                    l.rate_silent_fraction * 100.0,
                    l.spike_mean_hz,
                    l.spike_max_hz,
                    l.silent_fraction * 100.0,
                    l.multi_spike_fraction * 100.0,
                    l.every_step_fraction * 100.0,
                    l.first_spike_ms.map_or("-".into(), |t| format!("{t:.1}")),
                    l.spikes_per_active_neuron
                );
            }
            println!(
                "output    `{}`: distance from the rate output {:.1}% (last step), step-to-step variation {:.1}%{}",
                output.name,
                output.relative_distance * 100.0,
                output.step_variation * 100.0,
                if output.filtered { "" } else { " (unfiltered)" }
            );
            if diags.is_empty() {
                println!("no findings");
            } else {
                println!(
                    "{} finding{}:",
                    diags.len(),
                    if diags.len() == 1 { "" } else { "s" }
                );
                print!("{}", render_text(&source, &diags, false));
            }
            if let Some(n) = fixed {
                println!(
                    "applied {n} fix{} to {}",
                    if n == 1 { "" } else { "es" },
                    args.file.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the settings a fix changes are written, as the checker recorded
/// them in the IR.
struct Places<'a> {
    /// The run block's `present` (or `steps`) line, else its header.
    present: Span,
    /// The variant's header, closing brace and scale lines.
    variant: &'a ModelPlaces,
}

fn to_diagnostic(f: &Finding, places: &Places, variant_span: Span) -> Diagnostic {
    let header = places.variant.header.unwrap_or(variant_span);
    match &f.fix {
        Fix::Scale { layer, scale, .. } | Fix::LowerScale { layer, scale } => {
            let (span, label) = match (
                places.variant.layer_scale(layer),
                places.variant.global_scale,
            ) {
                (Some(span), _) => (span, format!("set this to {scale}")),
                (None, Some(span)) => (
                    span,
                    format!("`{layer}` takes its scale from here; add `scale {layer} = {scale}`"),
                ),
                (None, None) => (header, format!("add `scale {layer} = {scale}` here")),
            };
            let mut d = Diagnostic::warning(span, f.message.clone())
                .label(label)
                .help(f.help.clone());
            if let (
                Fix::Scale {
                    present: Some(p), ..
                },
                line,
            ) = (&f.fix, places.present)
            {
                d = d.with_secondary(line, format!("or present >= {}ms", (p * 1e3).round()));
            }
            d
        }
        Fix::Synapse { from, to, tau } => Diagnostic::warning(header, f.message.clone())
            .label(format!(
                "add `synapse {from} -> {to} = {}` here",
                synapse_text(Synapse::Lowpass { tau: *tau })
            ))
            .help(f.help.clone()),
        Fix::None => Diagnostic::warning(header, f.message.clone())
            .label("this variant")
            .help(f.help.clone()),
    }
}

/// The spec text with every finding's fix applied: a layer's `scale` line
/// set (or added), a synapse line added. One fix per layer scale.
fn apply_fixes(text: &str, found: &[Finding], places: &Places) -> Result<String, String> {
    let close = places
        .variant
        .close
        .ok_or("the variant's block was not found in the spec text")?;
    let mut replace: Vec<(Span, String)> = Vec::new();
    let mut added: Vec<String> = Vec::new();
    let mut scaled: Vec<&str> = Vec::new();
    for f in found {
        match &f.fix {
            Fix::Scale { layer, scale, .. } | Fix::LowerScale { layer, scale } => {
                if scaled.contains(&layer.as_str()) {
                    continue;
                }
                scaled.push(layer);
                let line = format!("scale {layer} = {scale}");
                match places.variant.layer_scale(layer) {
                    Some(span) => replace.push((span, line)),
                    None => added.push(line),
                }
            }
            Fix::Synapse { from, to, tau } => added.push(format!(
                "synapse {from} -> {to} = {}",
                synapse_text(Synapse::Lowpass { tau: *tau })
            )),
            Fix::None => {}
        }
    }
    // Added lines go before the closing brace, on lines of their own.
    let line_start = text[..close].rfind('\n').map_or(0, |i| i + 1);
    let at_line_start = text[line_start..close].trim().is_empty();
    let mut insert: String = added.iter().map(|l| format!("    {l}\n")).collect();
    let at = if at_line_start {
        line_start
    } else {
        insert.insert(0, '\n');
        close
    };
    replace.push((Span::new(at, at), insert));
    replace.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut out = text.to_string();
    for (span, new) in replace {
        out.replace_range(span.start..span.end, &new);
    }
    Ok(out)
}
