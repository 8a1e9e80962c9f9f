//! `convert NAME from NETWORK { ... }`: activation swaps, firing-rate scale,
//! synapses and initial state, following NengoDL's Converter (see
//! docs/semantics.md for where snnc goes further).

use super::network::Checked;
use super::settings::{self, Settings};
use super::suggest::{did_you_mean, hint};
use super::values::{self as v, fmt_num, Call, Diags};
use super::vocabulary::{self as vocab, call_args, ACTIVATIONS, NEURONS};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{
    Activation, InitialVoltage, Model, ModelPlaces, Network, Neuron, NodeSettings, Op, Synapse,
};
use crate::ops::ArgRule;
use crate::span::Span;
use crate::syntax::ast::{Block, Expr, ExprKind, Ident, Stmt};

/// The model a network runs as in rate mode: each activation becomes the
/// rate neuron NengoDL's converter gives it; no synapses, scale 1.
pub fn rate_model(index: usize, net: &Network) -> Model {
    Model {
        name: net.name.clone(),
        network: index,
        converted: false,
        nodes: net
            .nodes
            .iter()
            .map(|n| NodeSettings {
                neuron: n.activation.rate_neuron(),
                scale: 1.0,
                input_synapses: vec![Synapse::None; n.inputs.len()],
                bias_synapse: Synapse::None,
                bias_relay_synapse: Synapse::None,
            })
            .collect(),
        initial_voltage: InitialVoltage::Zero,
        span: net.span,
        places: ModelPlaces::default(),
    }
}

/// Checks a convert block. The model is returned even when it has errors
/// (with what could be read), together with whether it had none.
pub fn check_convert(
    block: &Block,
    name: &Ident,
    base: &Checked,
    index: usize,
    d: &mut Diags,
) -> (Model, bool) {
    let net = &base.network;
    let s = settings::collect("convert", block.header, &block.body, &vocab::CONVERT, d);
    s.no_extras(d);
    let errors_before = d.iter().filter(|x| x.is_error()).count();
    let mut model = rate_model(index, net);
    model.name = name.node.clone();
    model.converted = true;
    // Nengo >= 3.1 starts spiking neurons uniformly in [0, 1).
    model.initial_voltage = InitialVoltage::Uniform { seed: None };
    model.span = name.span;
    model.places.header = Some(block.header);
    model.places.close = Some(block.span.end.saturating_sub(1));

    swaps(&s, base, &mut model, d);
    scales(&s, base, &mut model, d);
    synapses(&s, base, &mut model, d);
    if let Some(e) = s.value("initial_voltage") {
        if let Some(iv) = initial_voltage(e, d) {
            model.initial_voltage = iv;
        }
    }
    let errors_after = d.iter().filter(|x| x.is_error()).count();
    (model, errors_after == errors_before)
}

// ---------------------------------------------------------------- swaps ----

fn swaps(s: &Settings, base: &Checked, model: &mut Model, d: &mut Diags) {
    let net = &base.network;
    let mut by_activation: Vec<(Activation, Neuron, Span)> = Vec::new();
    let mut by_layer: Vec<(usize, Neuron, Span)> = Vec::new();
    for stmt in s
        .arrows
        .iter()
        .filter(|st| matches!(st, Stmt::Arrow { key, .. } if key.node == "swap"))
    {
        let Stmt::Arrow {
            from,
            to,
            value,
            span,
            ..
        } = stmt
        else {
            continue;
        };
        if let Some(extra) = value {
            d.push(
                Diagnostic::error(Code::Syntax, extra.span, "a swap has no `= value`")
                    .label("remove this")
                    .help("write `swap relu -> spiking_relu`"),
            );
        }
        let neuron = neuron(to, d);
        let Some(word) = v::name(from, "the swap source", d) else {
            continue;
        };
        let source = if let Some(act) = Activation::named(word) {
            if act == Activation::Linear {
                d.push(
                    Diagnostic::error(
                        Code::UnusedSwap,
                        from.span,
                        "linear layers have no neurons to swap",
                    )
                    .label("`linear` is not a neuron type")
                    .help("give the layer an activation in the network, then swap that"),
                );
                continue;
            }
            if !net.nodes.iter().any(|n| n.activation == act) {
                if base.broken.is_empty() {
                    d.push(
                        Diagnostic::error(
                            Code::UnusedSwap,
                            from.span,
                            format!("no layer of `{}` uses `{word}`", net.name),
                        )
                        .label(format!("`{word}` appears nowhere"))
                        .with_secondary(net.span, "network defined here")
                        .help(used_activations(net)),
                    );
                }
                continue;
            }
            Err(act)
        } else if let Some(id) = net.node(word) {
            if net.nodes[id].activation == Activation::Linear {
                d.push(
                    Diagnostic::error(
                        Code::UnusedSwap,
                        from.span,
                        format!("layer `{word}` has no activation to swap"),
                    )
                    .label("a linear layer has no neurons")
                    .help("give it an activation in the network (for example `activation=relu`)"),
                );
                continue;
            }
            Ok(id)
        } else {
            if !base.broken.contains_key(word) {
                let names = ACTIVATIONS
                    .iter()
                    .copied()
                    .chain(net.nodes.iter().map(|n| n.name.as_str()));
                let mut diag = Diagnostic::error(
                    Code::UnknownName,
                    from.span,
                    format!(
                        "`{word}` is neither an activation nor a layer of `{}`",
                        net.name
                    ),
                )
                .label("unknown swap source");
                diag = match did_you_mean(word, names) {
                    Some(s) => diag.help(format!("did you mean `{s}`?")),
                    None => diag.help(used_activations(net)),
                };
                d.push(diag);
            }
            continue;
        };
        let Some(neuron) = neuron else { continue };
        match source {
            Err(act) => {
                if let Some((_, _, prev)) = by_activation.iter().find(|(a, _, _)| *a == act) {
                    d.push(duplicate(
                        *span,
                        *prev,
                        &format!("`{word}` is swapped twice"),
                    ));
                } else {
                    by_activation.push((act, neuron, *span));
                }
            }
            Ok(id) => {
                if let Some((_, _, prev)) = by_layer.iter().find(|(i, _, _)| *i == id) {
                    d.push(duplicate(
                        *span,
                        *prev,
                        &format!("layer `{word}` is swapped twice"),
                    ));
                } else {
                    by_layer.push((id, neuron, *span));
                }
            }
        }
    }
    // A swap naming a layer wins over a swap naming its activation.
    for (id, node) in net.nodes.iter().enumerate() {
        if let Some((_, n, _)) = by_activation.iter().find(|(a, _, _)| *a == node.activation) {
            model.nodes[id].neuron = Some(*n);
        }
    }
    for (id, n, _) in by_layer {
        model.nodes[id].neuron = Some(n);
    }
}

fn duplicate(span: Span, prev: Span, what: &str) -> Diagnostic {
    Diagnostic::error(Code::Duplicate, span, what.to_string())
        .label("second swap")
        .with_secondary(prev, "first swap")
        .help("keep one of them")
}

fn used_activations(net: &Network) -> String {
    let mut used: Vec<&str> = net
        .nodes
        .iter()
        .filter(|n| n.activation != Activation::Linear)
        .map(|n| n.activation.name())
        .collect();
    used.sort_unstable();
    used.dedup();
    if used.is_empty() {
        format!("`{}` has no layer with an activation", net.name)
    } else {
        format!(
            "activations used in `{}`: {}",
            net.name,
            super::suggest::one_of(&used)
        )
    }
}

/// A neuron type: `spiking_relu`, `lif(tau_rc=20ms, tau_ref=2ms)`, ...
pub fn neuron(e: &Expr, d: &mut Diags) -> Option<Neuron> {
    let (kind, args): (&Ident, Option<Call>) = match &e.kind {
        ExprKind::Ident(word) => {
            v::keyword(e, "neuron type", &NEURONS, d)?;
            return Neuron::default_named(word);
        }
        ExprKind::Call { name, .. } => {
            let allowed = match name.node.as_str() {
                k if NEURONS.contains(&k) => call_args(k).unwrap_or_default(),
                other => {
                    d.push(
                        Diagnostic::error(
                            Code::UnknownKeyword,
                            name.span,
                            format!("unknown neuron type `{other}`"),
                        )
                        .label("not a neuron type")
                        .help(hint(other, &NEURONS)),
                    );
                    return None;
                }
            };
            (name, Call::new(e, &allowed, d))
        }
        _ => {
            d.push(
                Diagnostic::error(
                    Code::WrongType,
                    e.span,
                    format!(
                        "a neuron type must be a name or a call, found {}",
                        e.kind.describe()
                    ),
                )
                .label("expected a neuron type")
                .help(format!(
                    "neuron types: {}",
                    super::suggest::one_of(&NEURONS)
                )),
            );
            return None;
        }
    };
    let call = args?;
    call.at_most_positional(0, d);
    // The arguments left out keep Nengo's defaults; an argument the type
    // does not take was refused by `Call::new`.
    let default = Neuron::default_named(&kind.node)?;
    let mut ok = true;
    let mut values = Vec::new();
    for (arg, (name, default_value)) in default.arg_rules().iter().zip(default.values()) {
        let Some(e) = call.get(name) else {
            values.push(default_value);
            continue;
        };
        let what = format!("`{name}`");
        let value = match arg.rule {
            ArgRule::Duration | ArgRule::DurationOrZero => v::time(e, &what, d).and_then(|t| {
                let allowed = t > 0.0 || (arg.rule == ArgRule::DurationOrZero && t == 0.0);
                if !allowed {
                    d.push(not_a_duration(name, t, e));
                }
                allowed.then_some(t)
            }),
            ArgRule::Positive => {
                v::number(e, &what, d).and_then(|x| v::positive(x, e.span, &what, d))
            }
            ArgRule::Number => v::number(e, &what, d),
        };
        match value {
            Some(x) => values.push(x),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    default.with_values(&values)
}

/// The error for a neuron's time constant `name` written as `t` seconds,
/// which is not above zero.
fn not_a_duration(name: &str, t: f64, e: &Expr) -> Diagnostic {
    let example = if name == "tau_rc" { "20ms" } else { "2ms" };
    let help = match &e.kind {
        ExprKind::Quantity { value, unit } if *value < 0.0 => {
            format!(
                "remove the minus sign: `{name}={}{}`",
                fmt_num(-value),
                unit.node
            )
        }
        _ => format!("use a positive duration, for example `{name}={example}`"),
    };
    Diagnostic::error(
        Code::OutOfRange,
        e.span,
        format!("`{name}` must be positive, found {}s", fmt_num(t)),
    )
    .label("must be > 0")
    .help(help)
}

// ---------------------------------------------------------------- scale ----

fn scales(s: &Settings, base: &Checked, model: &mut Model, d: &mut Diags) {
    let net = &base.network;
    model.places.global_scale = s.get("scale_firing_rates").map(|st| st.span);
    model.places.layer_scales = s
        .targeted
        .iter()
        .filter(|st| st.key.node == "scale")
        .filter_map(|st| st.target.map(|t| (t.node.clone(), st.span)))
        .collect();
    let global = s.get("scale_firing_rates").and_then(|st| {
        let x = v::number(st.value, "`scale_firing_rates`", d)?;
        v::positive(x, st.value.span, "`scale_firing_rates`", d).map(|x| (x, st.span))
    });
    if let Some((x, span)) = global {
        for (id, node) in model.nodes.iter_mut().enumerate() {
            if node.neuron.is_some() {
                node.scale = x;
                warn_nonlinear(node.neuron, x, span, &net.nodes[id].name, d);
            }
        }
    }
    let mut seen: Vec<(usize, Span)> = Vec::new();
    for st in s.targeted.iter().filter(|st| st.key.node == "scale") {
        let Some(target) = st.target else { continue };
        let value = v::number(st.value, "a layer's scale", d)
            .and_then(|x| v::positive(x, st.value.span, "a layer's scale", d));
        let Some(id) = net.node(&target.node) else {
            if !base.broken.contains_key(&target.node) {
                d.push(unknown_layer(target, net));
            }
            continue;
        };
        if model.nodes[id].neuron.is_none() {
            d.push(
                Diagnostic::error(Code::WrongType, target.span, format!("layer `{}` has no neurons to scale", target.node))
                    .label("a linear layer")
                    .help("scale_firing_rates acts on layers with neurons; linear layers are never scaled"),
            );
            continue;
        }
        if let Some((_, prev)) = seen.iter().find(|(i, _)| *i == id) {
            d.push(
                Diagnostic::error(
                    Code::Duplicate,
                    st.key.span,
                    format!("the scale of `{}` is set twice", target.node),
                )
                .label("set again here")
                .with_secondary(*prev, "first set here"),
            );
            continue;
        }
        seen.push((id, st.key.span));
        if let Some(x) = value {
            model.nodes[id].scale = x;
            warn_nonlinear(model.nodes[id].neuron, x, st.span, &target.node, d);
        }
    }
}

fn warn_nonlinear(neuron: Option<Neuron>, scale: f64, span: Span, layer: &str, d: &mut Diags) {
    let nonlinear = neuron.is_some_and(|n| !n.is_scale_invariant());
    if nonlinear && scale != 1.0 && !d.iter().any(|x| x.primary.span == span && !x.is_error()) {
        d.push(
            Diagnostic::warning(
                span,
                format!("scaling firing rates changes what nonlinear neurons compute (`{layer}`)"),
            )
            .label("not exact for lif, sigmoid or tanh")
            .help("only relu-type neurons keep their rate output under scale_firing_rates"),
        );
    }
}

fn unknown_layer(target: &Ident, net: &Network) -> Diagnostic {
    let mut diag = Diagnostic::error(
        Code::UnknownName,
        target.span,
        format!("`{}` is not a layer of `{}`", target.node, net.name),
    )
    .label("unknown layer");
    if let Some(s) = did_you_mean(&target.node, net.nodes.iter().map(|n| n.name.as_str())) {
        diag = diag.help(format!("did you mean `{s}`?"));
    }
    diag
}

// ------------------------------------------------------------- synapses ----

/// `none`, `lowpass(5ms)`, `alpha(5ms)`, or a bare duration for a low-pass.
pub fn synapse(e: &Expr, d: &mut Diags) -> Option<Synapse> {
    match &e.kind {
        ExprKind::Ident(w) if w == "none" => Some(Synapse::None),
        ExprKind::Quantity { .. } => {
            let tau = v::time(e, "a synapse time constant", d)?;
            non_negative_tau(tau, e, d).map(|tau| Synapse::Lowpass { tau })
        }
        ExprKind::Call { name, .. } if name.node == "lowpass" || name.node == "alpha" => {
            let call = Call::new(e, &["tau"], d)?;
            call.at_most_positional(1, d);
            let tau_expr = call.positional.first().copied().or_else(|| call.get("tau"));
            if tau_expr.is_none() && (call.misplaced || call.misspelt("tau")) {
                return None;
            }
            let Some(tau_expr) = tau_expr else {
                d.push(
                    Diagnostic::error(
                        Code::Missing,
                        e.span,
                        format!("`{}` needs a time constant", name.node),
                    )
                    .label("no time constant")
                    .help(format!("write `{}(5ms)`", name.node)),
                );
                return None;
            };
            let tau = v::time(tau_expr, "a synapse time constant", d)?;
            if name.node == "alpha" {
                v::positive(tau, tau_expr.span, "an alpha time constant", d)
                    .map(|tau| Synapse::Alpha { tau })
            } else {
                non_negative_tau(tau, tau_expr, d).map(|tau| Synapse::Lowpass { tau })
            }
        }
        ExprKind::Ident(w)
        | ExprKind::Call {
            name: Ident { node: w, .. },
            ..
        } => {
            d.push(
                Diagnostic::error(
                    Code::UnknownKeyword,
                    e.span,
                    format!("unknown synapse `{w}`"),
                )
                .label("not a synapse")
                .help(hint(w, &vocab::SYNAPSES)),
            );
            None
        }
        _ => {
            d.push(
                Diagnostic::error(
                    Code::WrongType,
                    e.span,
                    format!(
                        "a synapse must be `none`, `lowpass(tau)` or `alpha(tau)`, found {}",
                        e.kind.describe()
                    ),
                )
                .label("expected a synapse"),
            );
            None
        }
    }
}

fn non_negative_tau(tau: f64, e: &Expr, d: &mut Diags) -> Option<f64> {
    if tau >= 0.0 {
        return Some(tau);
    }
    let written = match &e.kind {
        ExprKind::Quantity { value, unit } => format!("{}{}", fmt_num(-value), unit.node),
        _ => format!("{}s", fmt_num(-tau)),
    };
    d.push(
        Diagnostic::error(
            Code::OutOfRange,
            e.span,
            format!(
                "a synapse time constant cannot be negative, found {}s",
                fmt_num(tau)
            ),
        )
        .label("must be >= 0")
        .help(format!(
            "remove the minus sign: `{written}` (`none` means no synapse)"
        )),
    );
    None
}

fn synapses(s: &Settings, base: &Checked, model: &mut Model, d: &mut Diags) {
    let net = &base.network;
    // Where each node's relay synapse was set, for the check at the end.
    let mut relay_set: Vec<Option<Span>> = vec![None; net.nodes.len()];
    for st in s.targeted.iter().filter(|st| st.key.node == "synapse") {
        let Some(target) = st.target.filter(|t| t.node == "all") else {
            let place = st.target.map_or(st.span, |t| t.span);
            d.push(
                Diagnostic::error(Code::Syntax, place, "`synapse NAME = ...` names no connection")
                    .label("`all`, or an arrow")
                    .help("write `synapse all = lowpass(5ms)` for every connection, or `synapse a -> b = lowpass(5ms)` for one"),
            );
            continue;
        };
        let Some(syn) = synapse(st.value, d) else {
            continue;
        };
        // NengoDL's `for conn in net.all_connections: conn.synapse = syn`
        // on the Converter's network: every connection, the input's too; a
        // dense layer with neurons holds its bias in the ensemble (no
        // connection, never filtered), a linear one receives it from a
        // constant node (filtered once), and a conv2d's bias goes through
        // a relay node (filtered twice).
        for (id, node) in net.nodes.iter().enumerate() {
            if node.op == Op::Flatten {
                continue;
            }
            let settings = &mut model.nodes[id];
            settings.input_synapses.fill(syn);
            if !node.has_bias() {
                continue;
            }
            match node.op {
                Op::Conv2d { .. } => {
                    settings.bias_relay_synapse = syn;
                    settings.bias_synapse = syn;
                    relay_set[id] = Some(target.span);
                }
                _ if settings.neuron.is_some() => {}
                _ => settings.bias_synapse = syn,
            }
        }
    }
    if let Some(e) = s.value("synapse") {
        if let Some(syn) = synapse(e, d) {
            model.filter_neuron_outputs(net, syn);
        }
    }
    let mut seen: Vec<((usize, Option<usize>), Span)> = Vec::new();
    for stmt in s.arrows.iter() {
        let Stmt::Arrow {
            key,
            from,
            to,
            value,
            span,
        } = stmt
        else {
            continue;
        };
        if key.node != "synapse" {
            continue;
        }
        let syn = match value {
            Some(e) => synapse(e, d),
            None => {
                d.push(
                    Diagnostic::error(Code::Missing, *span, "this connection synapse has no value")
                        .label("`= synapse` is missing")
                        .help("write `synapse a -> b = lowpass(5ms)`"),
                );
                None
            }
        };
        let (Some(from_name), Some(to_name)) = (
            v::name(from, "a connection source", d),
            v::name(to, "a connection target", d),
        ) else {
            continue;
        };
        let to_ident = Ident::new(to_name.to_string(), to.span);
        let Some(to_id) = net.node(to_name) else {
            if !base.broken.contains_key(to_name) {
                d.push(unknown_layer(&to_ident, net));
            }
            continue;
        };
        let to_node = &net.nodes[to_id];
        if to_node.op == Op::Flatten {
            d.push(
                Diagnostic::error(
                    Code::NoSuchConnection,
                    to.span,
                    format!("`{to_name}` is a flatten view and has no connections of its own"),
                )
                .label("a view, not a layer")
                .help("name the layer that reads the flattened values instead"),
            );
            continue;
        }
        if from_name == "relay" {
            if !(matches!(to_node.op, Op::Conv2d { .. }) && to_node.has_bias()) {
                d.push(
                    Diagnostic::error(
                        Code::NoSuchConnection,
                        from.span,
                        format!("`{to_name}` has no bias relay"),
                    )
                    .label("no relay connection")
                    .help("only a conv2d layer with a bias has one (NengoDL's Converter broadcasts its per-filter bias through a relay node)"),
                );
                continue;
            }
            if let Some(syn) = syn {
                model.nodes[to_id].bias_relay_synapse = syn;
                relay_set[to_id] = Some(*span);
            }
            continue;
        }
        let edge = if from_name == "bias" {
            if !to_node.has_bias() {
                d.push(
                    Diagnostic::error(
                        Code::NoSuchConnection,
                        from.span,
                        format!("`{to_name}` has no bias"),
                    )
                    .label("no bias connection")
                    .help("only dense and conv2d layers with `bias=true` have one"),
                );
                continue;
            }
            None
        } else {
            let Some(from_id) = net.node(from_name) else {
                if !base.broken.contains_key(from_name) {
                    d.push(unknown_layer(
                        &Ident::new(from_name.to_string(), from.span),
                        net,
                    ));
                }
                continue;
            };
            let want = net.storage_of(from_id);
            match to_node
                .inputs
                .iter()
                .position(|&i| net.storage_of(i) == want)
            {
                Some(i) => Some(i),
                None => {
                    let into: Vec<String> = to_node
                        .inputs
                        .iter()
                        .map(|&i| format!("`{} -> {to_name}`", net.nodes[net.storage_of(i)].name))
                        .collect();
                    let mut help = format!("connections into `{to_name}`: {}", into.join(", "));
                    if to_node.has_bias() {
                        help.push_str(&format!(", `bias -> {to_name}`"));
                    }
                    d.push(
                        Diagnostic::error(
                            Code::NoSuchConnection,
                            from.span.to(to.span),
                            format!("there is no connection `{from_name} -> {to_name}`"),
                        )
                        .label(format!("`{to_name}` does not read `{from_name}`"))
                        .help(help),
                    );
                    continue;
                }
            }
        };
        let key_id = (to_id, edge);
        if let Some((_, prev)) = seen.iter().find(|(k, _)| *k == key_id) {
            d.push(
                Diagnostic::error(
                    Code::Duplicate,
                    *span,
                    "this connection's synapse is set twice",
                )
                .label("set again here")
                .with_secondary(*prev, "first set here"),
            );
            continue;
        }
        seen.push((key_id, *span));
        if let Some(syn) = syn {
            match edge {
                Some(i) => model.nodes[to_id].input_synapses[i] = syn,
                None => model.nodes[to_id].bias_synapse = syn,
            }
        }
    }
    // Two synapses in series on a bias path run only as low-passes.
    for (id, span) in relay_set.iter().enumerate() {
        let (Some(span), settings) = (span, &model.nodes[id]) else {
            continue;
        };
        let alpha = |s: Synapse| matches!(s, Synapse::Alpha { tau } if tau > 0.0);
        let both =
            settings.bias_relay_synapse != Synapse::None && settings.bias_synapse != Synapse::None;
        if both && (alpha(settings.bias_relay_synapse) || alpha(settings.bias_synapse)) {
            d.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    *span,
                    format!(
                        "`{}`'s bias would pass two synapses in series, one of them an alpha, which snnc cannot run",
                        net.nodes[id].name
                    ),
                )
                .label("sets the bias relay's synapse")
                .help(format!(
                    "use low-pass synapses on this bias path, or write `synapse relay -> {} = none`",
                    net.nodes[id].name
                )),
            );
        }
    }
}

fn initial_voltage(e: &Expr, d: &mut Diags) -> Option<InitialVoltage> {
    match &e.kind {
        ExprKind::Ident(w) if w == "zero" => Some(InitialVoltage::Zero),
        ExprKind::Ident(w) if w == "uniform" => Some(InitialVoltage::Uniform { seed: None }),
        ExprKind::Call { name, .. } if name.node == "uniform" => {
            let call = Call::new(e, &["seed"], d)?;
            call.at_most_positional(0, d);
            let seed = match call.get("seed") {
                Some(s) => Some(v::count(s, "`seed`", 0, d)? as u64),
                None => None,
            };
            Some(InitialVoltage::Uniform { seed })
        }
        _ => {
            d.push(
                Diagnostic::error(Code::UnknownKeyword, e.span, "unknown initial voltage")
                    .label("expected `zero` or `uniform(seed=N)`")
                    .help("`uniform` (the default, as in Nengo) draws each neuron's start from [0, 1) with the run's `seed`, `uniform(seed=N)` with its own; `zero` starts every neuron at 0"),
            );
            None
        }
    }
}
