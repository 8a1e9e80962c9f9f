//! Hover text: what the checker inferred about the name under the cursor,
//! or a short description of a keyword.

use snnc_compiler::index::{Index, LayerInfo, Symbol};
use snnc_compiler::ir::{Neuron, SampleEvery, Synapse};
use snnc_compiler::ops::LayerKind;
use snnc_compiler::span::Span;

/// Markdown for the name at `offset` and the span it covers, if there is
/// anything to say.
pub fn hover(index: &Index, text: &str, offset: usize) -> Option<(String, Span)> {
    let symbols = index.symbols_at(offset);
    if let Some(first) = symbols.first() {
        let span = index
            .at(offset)
            .iter()
            .find(|o| &o.symbol == first)
            .map(|o| o.span)?;
        let parts: Vec<String> = symbols.iter().filter_map(|s| describe(index, s)).collect();
        if parts.is_empty() {
            return None;
        }
        return Some((parts.join("\n\n---\n\n"), span));
    }
    let span = word_at(text, offset)?;
    let doc = keyword_doc(&text[span.start..span.end])?;
    Some((doc.to_string(), span))
}

/// The span of the name (letters, digits, `_`) at or just before `offset`.
pub fn word_at(text: &str, offset: usize) -> Option<Span> {
    let offset = offset.min(text.len());
    if !text.is_char_boundary(offset) {
        return None;
    }
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word(c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|&(_, c)| !is_word(c))
        .map_or(text.len(), |(i, _)| offset + i);
    (start < end).then(|| Span::new(start, end))
}

fn describe(index: &Index, symbol: &Symbol) -> Option<String> {
    match symbol {
        Symbol::Layer { network, name } => {
            index.layer(network, name).map(|l| layer_text(index, &l))
        }
        Symbol::Network(name) => Some(network_text(index, name)),
        Symbol::Variant(name) => Some(variant_text(index, name)),
        Symbol::Probe(name) => Some(probe_text(index, name)),
    }
}

pub fn shape_text(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// A number without float noise: `20`, `0.5`, `1e-7`.
fn num(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e9) {
        return format!("{x:e}");
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A duration in seconds as the spec would write it.
fn duration(t: f64) -> String {
    if t == 0.0 {
        "0s".to_string()
    } else if t.abs() < 1e-3 {
        format!("{}us", num(t * 1e6))
    } else if t.abs() < 1.0 {
        format!("{}ms", num(t * 1e3))
    } else {
        format!("{}s", num(t))
    }
}

fn synapse_text(s: Synapse) -> String {
    match s {
        Synapse::None => "none".to_string(),
        Synapse::Lowpass { tau } => format!("lowpass({})", duration(tau)),
        Synapse::Alpha { tau } => format!("alpha({})", duration(tau)),
    }
}

/// `spiking_relu`, `lif(tau_rc=20ms, tau_ref=2ms)`: a LIF's time
/// constants always, other arguments only where they differ from Nengo's
/// defaults.
pub fn neuron_text(n: Neuron) -> String {
    let lif = matches!(n, Neuron::Lif { .. } | Neuron::LifRate { .. });
    let defaults = Neuron::default_named(n.name()).map_or_else(Vec::new, Neuron::values);
    let args: Vec<String> = n
        .values()
        .into_iter()
        .zip(defaults)
        .filter(|&((name, v), (_, default))| (lif && name.starts_with("tau_")) || v != default)
        .map(|((name, v), _)| {
            if name.starts_with("tau_") {
                format!("{name}={}", duration(v))
            } else {
                format!("{name}={}", num(v))
            }
        })
        .collect();
    if args.is_empty() {
        n.name().to_string()
    } else {
        format!("{}({})", n.name(), args.join(", "))
    }
}

fn values(shape: &[usize]) -> String {
    let n: usize = shape.iter().product();
    if n == 1 {
        "1 value".to_string()
    } else {
        format!("{n} values")
    }
}

fn layer_text(index: &Index, l: &LayerInfo) -> String {
    let kind = if l.kind.is_empty() {
        "layer".to_string()
    } else {
        format!("`{}`", l.kind)
    };
    let what = if l.kind == "input" {
        "input".to_string()
    } else {
        format!("{kind} layer")
    };
    let mut out = format!("**{}**: {what} of network `{}`\n", l.name, l.network);
    let Some(shape) = &l.shape else {
        let why = if index.program.is_none() {
            "the file has errors"
        } else {
            "this layer, or a layer it reads, has errors"
        };
        out.push_str(&format!("\n- shape: unknown ({why})\n"));
        return out;
    };
    out.push_str(&format!(
        "\n- shape: `{}` ({})\n",
        shape_text(shape),
        values(shape)
    ));
    if !l.inputs.is_empty() {
        let inputs: Vec<String> = l.inputs.iter().map(|i| format!("`{i}`")).collect();
        out.push_str(&format!("- reads: {}\n", inputs.join(", ")));
    }
    if l.kind != "input" && l.kind != "flatten" {
        if let Some(a) = l.activation {
            out.push_str(&format!("- activation: `{}`\n", a.name()));
        }
        let count = l.param_count();
        if count == 0 {
            out.push_str("- parameters: none\n");
        } else {
            let parts: Vec<String> = l
                .params
                .iter()
                .map(|p| format!("`{}` {}", p.name, shape_text(&p.shape)))
                .collect();
            out.push_str(&format!("- parameters: {count} ({})\n", parts.join(", ")));
        }
        if !l.neurons.is_empty() {
            out.push_str("- neurons:\n");
            for n in &l.neurons {
                let model = if n.converted {
                    format!("`{}`", n.model)
                } else {
                    format!("`{}` (rate)", n.model)
                };
                let neuron = match n.neuron {
                    None => "none (linear)".to_string(),
                    Some(x) if n.scale != 1.0 => {
                        format!("{}, scale {}", neuron_text(x), num(n.scale))
                    }
                    Some(x) => neuron_text(x),
                };
                out.push_str(&format!("  - {model}: {neuron}\n"));
            }
        }
    }
    if !index.complete {
        out.push_str("\n*(checked without the lines that have errors)*\n");
    }
    out
}

fn network_text(index: &Index, name: &str) -> String {
    let mut out = format!("**{name}**: network\n");
    let decl = index.network(name);
    let net = index
        .program
        .as_ref()
        .and_then(|p| p.networks.iter().find(|n| n.name == name));
    let declared = decl.map_or(0, |d| d.layers.len());
    match net {
        Some(net) => {
            let broken = declared.saturating_sub(net.nodes.len());
            if broken == 0 {
                out.push_str(&format!("\n- layers: {}\n", net.nodes.len()));
            } else {
                out.push_str(&format!(
                    "\n- layers: {declared} ({broken} could not be checked)\n"
                ));
            }
            for id in net.inputs() {
                let n = &net.nodes[id];
                out.push_str(&format!(
                    "- input `{}`: `{}`\n",
                    n.name,
                    shape_text(&n.shape)
                ));
            }
            let last = decl.and_then(|d| d.layers.last()).map(|l| l.name.as_str());
            match last
                .and_then(|l| net.node(l))
                .or_else(|| net.nodes.len().checked_sub(1).filter(|_| decl.is_none()))
            {
                Some(id) => out.push_str(&format!(
                    "- output `{}`: `{}`\n",
                    net.nodes[id].name,
                    shape_text(&net.nodes[id].shape)
                )),
                None => out.push_str(&format!(
                    "- output `{}`: shape unknown (errors)\n",
                    last.unwrap_or("?")
                )),
            }
            let params: usize = net
                .params()
                .map(|(_, p)| p.shape.iter().product::<usize>())
                .sum();
            if broken == 0 {
                out.push_str(&format!("- parameters: {params}\n"));
            } else {
                out.push_str(&format!("- parameters: at least {params}\n"));
            }
        }
        None if decl.is_some() => out.push_str(&format!(
            "\n- layers: {declared} (shapes unknown: the network has errors)\n"
        )),
        None => {}
    }
    let variants: Vec<String> = index
        .variants
        .iter()
        .filter(|v| v.base.as_deref() == Some(name))
        .map(|v| format!("`{}`", v.name))
        .collect();
    if !variants.is_empty() {
        out.push_str(&format!("- convert variants: {}\n", variants.join(", ")));
    }
    out
}

fn variant_text(index: &Index, name: &str) -> String {
    let base = index.variant(name).and_then(|v| v.base.clone());
    let mut out = match &base {
        Some(b) => format!("**{name}**: convert variant of network `{b}`\n"),
        None => format!("**{name}**: convert variant\n"),
    };
    let Some(program) = &index.program else {
        return out;
    };
    let Some(model) = program
        .models
        .iter()
        .find(|m| m.name == name && m.converted)
    else {
        out.push_str("\n(not checked: this block has errors)\n");
        return out;
    };
    let net = &program.networks[model.network];
    let mut lines = Vec::new();
    for (node, s) in net.nodes.iter().zip(&model.nodes) {
        if let Some(n) = s.neuron {
            let scale = if s.scale != 1.0 {
                format!(", scale {}", num(s.scale))
            } else {
                String::new()
            };
            lines.push(format!("  - `{}`: {}{scale}\n", node.name, neuron_text(n)));
        }
    }
    if lines.is_empty() && index.complete {
        out.push_str("\n- neurons: none (no layer has an activation)\n");
    } else if lines.is_empty() {
        out.push_str("\n- neurons: none known (the layers with activations have errors)\n");
    } else {
        out.push_str("\n- neurons:\n");
        out.push_str(&lines.concat());
    }
    out.push_str(if model.has_spiking() {
        "- spiking: yes\n"
    } else {
        "- spiking: no (rate neurons only)\n"
    });
    if !index.complete {
        out.push_str("\n*(checked without the lines that have errors)*\n");
    }
    out
}

fn probe_text(index: &Index, name: &str) -> String {
    let decl = index.probe(name);
    let target = decl.and_then(|p| p.target.clone());
    let mut out = match &target {
        Some(t) => format!("**{name}**: probe on `{t}`\n"),
        None => format!("**{name}**: probe\n"),
    };
    if let Some(t) = &target {
        for sym in index.probe_targets(t) {
            if let Symbol::Layer { network, name } = &sym {
                if let Some(shape) = index.layer(network, name).and_then(|l| l.shape) {
                    out.push_str(&format!(
                        "\n- in `{network}`: shape `{}`",
                        shape_text(&shape)
                    ));
                }
            }
        }
        out.push('\n');
    }
    if let Some(p) = index
        .program
        .as_ref()
        .and_then(|p| p.probes.iter().find(|p| p.name == name))
    {
        out.push_str(&format!("- synapse: {}\n", synapse_text(p.synapse)));
        let every = match p.sample_every {
            SampleEvery::Steps(1) => "every step".to_string(),
            SampleEvery::Steps(n) => format!("every {n} steps"),
            SampleEvery::Seconds(t) => format!("every {}", duration(t)),
        };
        out.push_str(&format!("- samples: {every}\n"));
    }
    out
}

/// One line about each keyword of the language (docs/language.md has more):
/// layer kinds and neuron types from their definitions in
/// `snnc_compiler::ops`, the other words from here.
pub fn keyword_doc(word: &str) -> Option<&'static str> {
    if let Some(kind) = LayerKind::named(word) {
        return Some(kind.doc());
    }
    if let Some(neuron) = Neuron::default_named(word) {
        return Some(neuron.doc());
    }
    Some(match word {
        "network" => "**network** `NAME { ... }`: a conventional network: inputs and layers, channels-last.",
        "convert" => "**convert** `NAME from NETWORK { ... }`: a conversion variant: neuron swaps, firing-rate scales, synapses.",
        "train" => "**train** `[NAME] { ... }`: rate-mode training (network, data, optimizer, losses, epochs, batch, save).",
        "run" => "**run** `[NAME] { ... }`: a simulation run (network, params, data, dt, present or steps, report).",
        "probe" => "**probe** `NAME = LAYER[, synapse=..., sample_every=...]`: records a layer's output.",
        "input" => "**input** `NAME: SHAPE`: a network input, e.g. `input image: 28x28x1` or `input x: 4`.",
        "linear" => "**linear**: no activation (the default); a linear layer has no neurons.",
        "swap" => "**swap** `ACTIVATION|LAYER -> NEURON`: the neuron type of every layer with that activation, or of one layer.",
        "scale_firing_rates" => "**scale_firing_rates** `= S`: inputs to neurons times S, amplitude divided by S.",
        "scale" => "**scale** `LAYER = S`: the firing-rate scale of one layer.",
        "synapse" => "**synapse** `= SYN` or `A -> B = SYN`: `none`, `lowpass(tau)`, `alpha(tau)` or a bare duration.",
        "lowpass" => "**lowpass**`(tau)`: first-order low-pass synapse.",
        "alpha" => "**alpha**`(tau)`: alpha synapse.",
        "initial_voltage" => "**initial_voltage** `= uniform | uniform(seed=N) | zero`: where spiking neurons' voltages start; uniform in [0, 1) by default (Nengo's default), from the run's `seed` unless given one.",
        _ => return None,
    })
}
