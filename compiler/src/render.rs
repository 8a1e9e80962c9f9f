//! IR back to spec text: a model written out as the `convert` block that
//! checks to it, for tools that choose settings (`snnc tune`) and must hand
//! the user a spec that reproduces them exactly.
//!
//! Every value is written so that the checker reads back the same `f64`:
//! numbers in Rust's shortest round-trip form, times in `ms` only when the
//! checker's `value * 1e-3` gives the time back bit for bit.

use std::fmt::Write;

use crate::ir::{InitialVoltage, Model, Network, Neuron, Synapse};

/// `model` as `convert NAME from NETWORK { ... }`: a swap for every layer
/// whose neuron is not its activation's rate neuron, a `scale` for every
/// scaled layer, a synapse line for every filtered connection and the
/// initial voltage.
pub fn convert_block(net: &Network, model: &Model, name: &str) -> String {
    let mut out = format!("convert {name} from {} {{\n", net.name);
    for (node, s) in net.nodes.iter().zip(&model.nodes) {
        if let Some(neuron) = s.neuron {
            if Some(neuron) != node.activation.rate_neuron() {
                let _ = writeln!(out, "    swap {} -> {}", node.name, neuron_text(neuron));
            }
        }
    }
    for (node, s) in net.nodes.iter().zip(&model.nodes) {
        if s.neuron.is_some() && s.scale != 1.0 {
            let _ = writeln!(out, "    scale {} = {}", node.name, s.scale);
        }
    }
    for (node, s) in net.nodes.iter().zip(&model.nodes) {
        for (&src, &syn) in node.inputs.iter().zip(&s.input_synapses) {
            if syn != Synapse::None {
                let from = &net.nodes[net.storage_of(src)].name;
                let _ = writeln!(
                    out,
                    "    synapse {from} -> {} = {}",
                    node.name,
                    synapse_text(syn)
                );
            }
        }
        if s.bias_relay_synapse != Synapse::None {
            let _ = writeln!(
                out,
                "    synapse relay -> {} = {}",
                node.name,
                synapse_text(s.bias_relay_synapse)
            );
        }
        if s.bias_synapse != Synapse::None {
            let _ = writeln!(
                out,
                "    synapse bias -> {} = {}",
                node.name,
                synapse_text(s.bias_synapse)
            );
        }
    }
    let voltage = match model.initial_voltage {
        InitialVoltage::Zero => "zero".to_string(),
        InitialVoltage::Uniform { seed: None } => "uniform".to_string(),
        InitialVoltage::Uniform { seed: Some(s) } => format!("uniform(seed={s})"),
    };
    let _ = writeln!(out, "    initial_voltage = {voltage}");
    out.push_str("}\n");
    out
}

/// A neuron type with every argument written out.
pub fn neuron_text(n: Neuron) -> String {
    let args: Vec<String> = n
        .arg_rules()
        .iter()
        .zip(n.values())
        .map(|(arg, (name, value))| {
            if arg.rule.is_duration() {
                format!("{name}={}", time_text(value))
            } else {
                format!("{name}={value}")
            }
        })
        .collect();
    format!("{}({})", n.name(), args.join(", "))
}

pub fn synapse_text(s: Synapse) -> String {
    match s {
        Synapse::None => "none".into(),
        Synapse::Lowpass { tau } => format!("lowpass({})", time_text(tau)),
        Synapse::Alpha { tau } => format!("alpha({})", time_text(tau)),
    }
}

/// `5ms` when that reads back as exactly `seconds`, else `0.005s`.
pub fn time_text(seconds: f64) -> String {
    let ms = format!("{}", seconds * 1e3);
    match ms.parse::<f64>() {
        Ok(v) if v * 1e-3 == seconds => format!("{ms}ms"),
        _ => format!("{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_source;

    const NET: &str = "network n {
    input x: 6x6x1
    c = conv2d(x, filters=2, kernel=3x3, activation=relu)
    f = flatten(c)
    h = dense(f, units=4, activation=relu)
    out = dense(h, units=3)
}
";

    /// Checks `NET` plus `convert`, renders the variant, checks that, and
    /// compares the two models.
    fn round_trip(convert: &str) -> String {
        let first = check_source(&format!("{NET}{convert}"));
        let program = first.program.expect("the spec checks");
        let model = program.model("v").expect("variant v");
        let text = convert_block(&program.networks[0], model, "w");
        let second = check_source(&format!("{NET}{text}"));
        let again = second.program.expect("the rendered block checks");
        let back = again.model("w").expect("variant w");
        assert_eq!(back.nodes.len(), model.nodes.len());
        for (a, b) in back.nodes.iter().zip(&model.nodes) {
            assert_eq!(a.neuron, b.neuron);
            assert_eq!(a.scale.to_bits(), b.scale.to_bits());
            assert_eq!(a.input_synapses, b.input_synapses);
            assert_eq!(a.bias_synapse, b.bias_synapse);
            assert_eq!(a.bias_relay_synapse, b.bias_relay_synapse);
        }
        assert_eq!(back.initial_voltage, model.initial_voltage);
        text
    }

    #[test]
    fn a_rendered_variant_checks_to_the_same_model() {
        let text = round_trip(
            "convert v from n {
    swap relu -> spiking_relu
    swap h -> lif(tau_rc=20ms, tau_ref=2.5ms, amplitude=0.01)
    scale_firing_rates = 0.1
    scale c = 123.456789012345
    synapse = lowpass(5ms)
    synapse bias -> h = alpha(0.3ms)
    synapse x -> c = lowpass(0.0123456789s)
    initial_voltage = uniform(seed=4)
}
",
        );
        assert!(text.contains("    scale c = 123.456789012345\n"), "{text}");
        assert!(
            text.contains("    synapse c -> h = lowpass(5ms)\n"),
            "{text}"
        );
        assert!(
            text.contains("    initial_voltage = uniform(seed=4)\n"),
            "{text}"
        );
    }

    /// `synapse all` is NengoDL's loop over every connection of the
    /// Converter's network: the input's connection too, a conv2d's bias
    /// twice (through its relay node), a linear dense layer's bias once,
    /// and a dense layer with neurons' bias not at all (it is the
    /// ensemble's own).
    #[test]
    fn synapse_all_filters_bias_paths_as_the_converter_builds_them() {
        let convert = "convert v from n {
    swap relu -> spiking_relu
    synapse all = lowpass(5ms)
}
";
        let checked = check_source(&format!("{NET}{convert}"));
        let program = checked.program.expect("the spec checks");
        let model = program.model("v").expect("variant v");
        let net = &program.networks[0];
        let lp = Synapse::Lowpass { tau: 0.005 };
        let at = |name: &str| &model.nodes[net.node(name).expect("node")];
        let (c, h, out) = (at("c"), at("h"), at("out"));
        assert_eq!(c.input_synapses, [lp], "the input's connection");
        assert_eq!((c.bias_relay_synapse, c.bias_synapse), (lp, lp));
        assert_eq!(h.input_synapses, [lp]);
        assert_eq!(
            (h.bias_relay_synapse, h.bias_synapse),
            (Synapse::None, Synapse::None)
        );
        assert_eq!(
            (out.bias_relay_synapse, out.bias_synapse),
            (Synapse::None, lp)
        );
        let text = round_trip(convert);
        assert!(
            text.contains("    synapse relay -> c = lowpass(5ms)\n"),
            "{text}"
        );

        for (bad, message) in [
            (
                "synapse all = alpha(5ms)",
                "two synapses in series, one of them an alpha",
            ),
            ("synapse relay -> h = lowpass(5ms)", "`h` has no bias relay"),
            ("synapse every = lowpass(5ms)", "names no connection"),
        ] {
            let checked = check_source(&format!("{NET}convert v from n {{\n    {bad}\n}}\n"));
            let all: Vec<String> = checked
                .diagnostics
                .iter()
                .map(|d| d.message.clone())
                .collect();
            assert!(all.iter().any(|m| m.contains(message)), "{bad}: {all:?}");
        }
    }

    #[test]
    fn defaults_render_as_written_out_defaults() {
        let text = round_trip("convert v from n {\n    swap relu -> spiking_relu\n}\n");
        assert_eq!(
            text,
            "convert w from n {
    swap c -> spiking_relu(amplitude=1)
    swap h -> spiking_relu(amplitude=1)
    initial_voltage = uniform
}
"
        );
        round_trip("convert v from n {\n    initial_voltage = zero\n}\n");
    }

    #[test]
    fn times_use_ms_only_when_exact() {
        assert_eq!(time_text(5.0 * 1e-3), "5ms");
        assert_eq!(time_text(0.02), "20ms");
        for t in [0.0123456789, 1e-7, 0.1 + 0.2] {
            let text = time_text(t);
            let back = match text.strip_suffix("ms") {
                Some(ms) => ms.parse::<f64>().unwrap() * 1e-3,
                None => text.strip_suffix('s').unwrap().parse::<f64>().unwrap(),
            };
            assert_eq!(back.to_bits(), t.to_bits(), "{text}");
        }
    }
}
