//! `probe NAME = LAYER[, synapse=..., sample_every=...]` and binding probes
//! to the network a run or a training uses.

use super::convert::synapse;
use super::suggest::did_you_mean;
use super::values::{self as v, fmt_num, Diags};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{BoundProbe, Network, Probe, SampleEvery, Synapse};
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, Ident};

/// Checks a probe. `broken` are the layers that had errors; `lost` says a
/// whole network block could not be read, so its layers are unknown.
#[allow(clippy::too_many_arguments)]
pub fn check_probe(
    name: &Ident,
    value: &Expr,
    extra: &[Arg],
    span: Span,
    networks: &[&Network],
    broken: &[String],
    lost: bool,
    d: &mut Diags,
) -> Option<Probe> {
    let call = v::trailing(name, span, extra, &super::vocabulary::PROBE_ARGS, d);
    let target = v::name(value, "a probe target", d)?;
    let syn = match call.get("synapse") {
        Some(e) => synapse(e, d),
        None => Some(Synapse::None),
    };
    let every = match call.get("sample_every") {
        None => Some(SampleEvery::Steps(1)),
        Some(e) if matches!(e.kind, ExprKind::Quantity { .. }) => v::time(e, "`sample_every`", d)
            .and_then(|t| v::positive(t, e.span, "`sample_every`", d))
            .map(SampleEvery::Seconds),
        Some(e) => v::count(e, "`sample_every` (in steps)", 1, d).map(SampleEvery::Steps),
    };
    if !networks.iter().any(|n| n.node(target).is_some()) {
        if lost || broken.iter().any(|b| b == target) {
            return None; // reported where the layer or network is written
        }
        let all = networks
            .iter()
            .flat_map(|n| n.nodes.iter().map(|x| x.name.as_str()))
            .chain(broken.iter().map(String::as_str));
        let mut diag = Diagnostic::error(
            Code::UnknownName,
            value.span,
            format!("probe target `{target}` is not a layer of any network"),
        )
        .label("unknown layer");
        if let Some(s) = did_you_mean(target, all) {
            diag = diag.help(format!("did you mean `{s}`?"));
        }
        d.push(diag);
        return None;
    }
    Some(Probe {
        name: name.node.clone(),
        target: target.to_string(),
        synapse: syn?,
        sample_every: every?,
        span,
    })
}

/// Every probe whose target is in `net`, with `sample_every` in steps.
pub fn bind(probes: &[Probe], net: &Network, dt: f64, d: &mut Diags) -> Vec<BoundProbe> {
    probes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let node = net.node(&p.target)?;
            let every = match p.sample_every {
                SampleEvery::Steps(n) => n,
                SampleEvery::Seconds(t) => {
                    let steps = (t / dt).round();
                    if steps < 1.0 || ((t / dt) - steps).abs() > 1e-6 {
                        d.push(
                            Diagnostic::error(
                                Code::OutOfRange,
                                p.span,
                                format!("`sample_every` of probe `{}` is not a whole number of steps of {}s", p.name, fmt_num(dt)),
                            )
                            .label(format!("{}s / {}s = {}", fmt_num(t), fmt_num(dt), fmt_num(t / dt)))
                                .help("use a multiple of dt, or give it in steps (`sample_every=10`)"),
                        );
                    }
                    steps.max(1.0) as usize
                }
            };
            Some(BoundProbe { probe: i, name: p.name.clone(), node, synapse: p.synapse, every })
        })
        .collect()
}
