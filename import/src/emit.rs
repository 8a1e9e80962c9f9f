//! The `.snn` text: what a person would write for the model, with Keras'
//! layer names, shapes in comments, the output probe, a spiking variant
//! when the model has ReLUs, and a run block template to uncomment.

use std::fmt::Write;

use snnc_compiler::ops::ArgDefault;

use crate::convert::{Act, Converted, Line, Node, Op};

/// Facts about the source for the header comment.
pub struct Source<'a> {
    /// The network name (and file stem).
    pub name: &'a str,
    /// The model file's name as the user gave it.
    pub file: &'a str,
    pub keras_version: Option<&'a str>,
    /// `Sequential` / `Functional`.
    pub class: &'a str,
    pub model_name: &'a str,
    /// The params file name, relative to the spec.
    pub params: &'a str,
}

/// Trailing shape comments line up after the longest layer line that is at
/// most this long; longer lines get theirs two spaces after the code.
const ALIGN_WIDTH: usize = 80;

pub fn dims(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The name of the variant with spiking neurons.
pub fn variant_name(network: &str) -> String {
    if network == "spiking" {
        "spiking_variant".into()
    } else {
        "spiking".into()
    }
}

/// The output probes: (probe name, node).
pub fn output_probes(conv: &Converted) -> Vec<(String, usize)> {
    if conv.outputs.len() == 1 {
        let n = conv.outputs[0];
        let name = if conv.nodes[n].op.act() == Act::Linear {
            "logits"
        } else {
            "output"
        };
        return vec![(name.into(), n)];
    }
    conv.outputs
        .iter()
        .map(|&n| (format!("{}_out", conv.nodes[n].name), n))
        .collect()
}

/// A layer's call: its inputs, then its arguments in the ops table's order,
/// each left out when it equals its default, as a person would write it.
fn call(node: &Node, nodes: &[Node]) -> String {
    let Some(kind) = node.kind() else {
        unreachable!("inputs are declared, not called")
    };
    let values = node.arg_values();
    let value = |name: &str| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };
    let mut args: Vec<String> = node.inputs.iter().map(|&i| nodes[i].name.clone()).collect();
    for arg in kind.args() {
        let Some(v) = value(arg.name) else {
            continue;
        };
        let default = match arg.default {
            ArgDefault::Required => None,
            ArgDefault::Value(d) => Some(d),
            ArgDefault::SameAs(other) => value(other),
        };
        if default == Some(v) {
            continue;
        }
        args.push(if arg.positional {
            v.to_string()
        } else {
            format!("{}={v}", arg.name)
        });
    }
    format!("{}({})", kind.name(), args.join(", "))
}

fn with_comment(out: &mut String, code: &str, comment: &str, column: usize) {
    let pad = if code.len() + 2 <= column {
        column - code.len()
    } else {
        2
    };
    let _ = writeln!(out, "{code}{}# {comment}", " ".repeat(pad));
}

pub fn emit(conv: &Converted, src: &Source) -> String {
    let mut out = String::new();
    let nodes = &conv.nodes;
    let version = src
        .keras_version
        .map(|v| format!("Keras {v}, "))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "# {}.snn: imported by `snnc import` from {}",
        src.name, src.file
    );
    let _ = writeln!(
        out,
        "# ({version}{} model `{}`).",
        src.class, src.model_name
    );
    let _ = writeln!(
        out,
        "# Weights: {} (`<layer>.kernel` / `<layer>.bias`, Keras layouts).",
        src.params
    );
    let image_input = nodes
        .iter()
        .any(|n| n.op == Op::Input && n.shape.len() == 3);
    out.push_str("#\n");
    if image_input {
        out.push_str(
            "# The network reads its input exactly as Keras did: pixels in [0, 1] if the\n\
             # model was trained on x / 255 (the data sources' default, pixel_max = 1);\n\
             # for a model trained on raw 0-255 pixels, give the data pixel_max=255.\n",
        );
    } else {
        out.push_str(
            "# The network reads its input exactly as Keras did: scale the data the same way.\n",
        );
    }
    if !conv.notes.is_empty() {
        out.push_str("#\n# Notes from the import:\n");
        for n in &conv.notes {
            let _ = writeln!(out, "# - {n}");
        }
    }
    out.push('\n');

    // The network block, `=` aligned.
    let width = nodes
        .iter()
        .filter(|n| n.op != Op::Input)
        .map(|n| n.name.len())
        .max()
        .unwrap_or(0);
    let outputs = output_probes(conv);
    let code = |n: &Node| {
        if n.op == Op::Input {
            format!("    input {}: {}", n.name, dims(&n.shape))
        } else {
            format!("    {:width$} = {}", n.name, call(n, nodes))
        }
    };
    let column = nodes
        .iter()
        .map(|n| code(n).len())
        .filter(|&l| l <= ALIGN_WIDTH)
        .max()
        .unwrap_or(0)
        + 2;
    let _ = writeln!(out, "network {} {{", src.name);
    for line in &conv.lines {
        match line {
            Line::Comment(c) => {
                let _ = writeln!(out, "    # {c}");
            }
            Line::Node(i) => {
                let n = &nodes[*i];
                if n.op == Op::Input {
                    let note = if n.shape.len() == 3 {
                        "pixels in [0, 1] (see above)"
                    } else {
                        "as Keras received it"
                    };
                    with_comment(&mut out, &code(n), note, column);
                    continue;
                }
                let mut comment = dims(&n.shape);
                if let Some((p, _)) = outputs.iter().find(|(_, o)| o == i) {
                    comment.push_str(&format!(": the output, probe `{p}`"));
                }
                if let Some(note) = &n.note {
                    comment.push_str(&format!(" ({note})"));
                }
                with_comment(&mut out, &code(n), &comment, column);
            }
        }
    }
    out.push_str("}\n\n");

    // Probes.
    let what = if conv.softmax_dropped {
        "the output (logits; Keras' softmax is left out)"
    } else {
        "the output"
    };
    let _ = writeln!(out, "# What runs record: {what}.");
    for (p, n) in &outputs {
        let _ = writeln!(out, "probe {p} = {}", nodes[*n].name);
    }
    out.push('\n');

    // The spiking variant, when there is something to make spike.
    let relu: Vec<&Node> = nodes.iter().filter(|n| n.op.act() == Act::Relu).collect();
    let variant = variant_name(src.name);
    let run_model = if relu.is_empty() {
        out.push_str(
            "# No layer uses relu, so there is no spiking variant here: sigmoid and tanh\n\
             # have no spiking counterpart. Swap layers to `lif` in a convert block to\n\
             # try one (see docs/language.md).\n\n",
        );
        src.name.to_string()
    } else {
        let others = nodes
            .iter()
            .any(|n| matches!(n.op.act(), Act::Sigmoid | Act::Tanh));
        out.push_str(
            "# The same network with spiking neurons, as NengoDL's Converter makes it:\n\
             # spiking ReLUs whose firing rates are scaled up 20-fold (the rate output is\n\
             # unchanged) and a 5 ms low-pass on every connection out of neurons. Rates\n\
             # grow with the input scale: tune the scale and the presentation time on\n\
             # data (`snnc run`).\n",
        );
        if others {
            out.push_str(
                "# Only the relu layers are scaled: scaling sigmoid or tanh layers changes them.\n",
            );
        }
        let _ = writeln!(out, "convert {variant} from {} {{", src.name);
        out.push_str("    swap relu -> spiking_relu\n");
        if others {
            for n in &relu {
                let _ = writeln!(out, "    scale {} = 20", n.name);
            }
        } else {
            out.push_str("    scale_firing_rates = 20\n");
        }
        out.push_str("    synapse = lowpass(5ms)\n}\n\n");
        variant.clone()
    };

    // A run block to fill in: the data source is not in the model file.
    let inputs: Vec<&Node> = nodes.iter().filter(|n| n.op == Op::Input).collect();
    if inputs.len() == 1 && outputs.len() == 1 {
        let data = if inputs[0].shape == [28, 28, 1] {
            "mnist_idx(\"data/mnist\", split=test, limit=1000)".to_string()
        } else {
            "npz(\"test.npz\", x=\"x\", y=\"y\")".to_string()
        };
        out.push_str(
            "# To evaluate, uncomment this block and point `data` at your test set (paths\n\
             # are relative to this file), then `snnc run` this file.\n#\n",
        );
        let _ = writeln!(out, "# run {{");
        let _ = writeln!(out, "#     network   = {run_model}");
        let _ = writeln!(out, "#     params    = \"{}\"", src.params);
        let _ = writeln!(out, "#     data      = {data}");
        let _ = writeln!(out, "#     dt        = 1ms");
        let _ = writeln!(out, "#     present   = 100ms");
        let _ = writeln!(out, "#     report    = accuracy({}, at=last)", outputs[0].0);
        let _ = writeln!(out, "# }}");
    }
    out
}

/// The run block template with its comment marks removed (for tests).
pub fn uncomment_run(spec: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in spec.lines() {
        if line == "# run {" {
            inside = true;
        }
        if inside {
            out.push_str(line.trim_start_matches("# ").trim_start_matches('#'));
        } else {
            out.push_str(line);
        }
        out.push('\n');
        if line == "# }" {
            inside = false;
        }
    }
    out
}
