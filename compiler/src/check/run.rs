//! `run [NAME] { ... }` and `train [NAME] { ... }` blocks.

use super::data::{check_fits, data_source};
use super::probes::bind;
use super::settings::{self, Settings};
use super::suggest::did_you_mean;
use super::values::{self as v, fmt_num, Call, Diags};
use super::vocabulary::{self as vocab, call_args};
use super::Broken;
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::*;
use crate::span::Span;
use crate::syntax::ast::{Block, Expr, ExprKind};

/// The most steps an input may be presented for: beyond this a run is a
/// mistake in the units (`present = 100s` for `100ms`, `dt = 1e-9s`), not
/// a simulation anyone waits for.
pub const MAX_STEPS: usize = 1_000_000_000;

/// Resolves `network = NAME` to a model index.
fn model_of(s: &Settings, models: &[Model], broken: &Broken, d: &mut Diags) -> Option<usize> {
    let e = s.require("network", "network = mnist", d)?;
    let name = v::name(e, "`network`", d)?;
    if let Some(i) = models.iter().position(|m| m.name == name) {
        return Some(i);
    }
    if !broken.models.iter().any(|b| b == name) {
        let mut diag = Diagnostic::error(
            Code::UnknownName,
            e.span,
            format!("no network or convert variant is called `{name}`"),
        )
        .label("unknown model");
        diag = match did_you_mean(name, models.iter().map(|m| m.name.as_str())) {
            Some(x) => diag.help(format!("did you mean `{x}`?")),
            None if models.is_empty() => diag.help(
                "define it with `network NAME { ... }` or `convert NAME from NETWORK { ... }`",
            ),
            None => diag.help(format!(
                "defined: {}",
                super::suggest::one_of(&models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>())
            )),
        };
        d.push(diag);
    }
    None
}

/// A loss or a report that reads a probe not bound to the network: one
/// defined on another network's layer, one that had errors (already
/// reported, so `None`), or an unknown one.
fn unknown_probe(
    name: &str,
    span: Span,
    net: &Network,
    all: &[Probe],
    broken: &Broken,
) -> Option<Diagnostic> {
    if broken.probes.iter().any(|b| b == name) {
        return None;
    }
    if all.iter().any(|p| p.name == name) {
        return Some(
            Diagnostic::error(
                Code::UnknownName,
                span,
                format!("probe `{name}` is not on a layer of `{}`", net.name),
            )
            .label("probe on another network")
            .help(format!("probe a layer of `{}`", net.name)),
        );
    }
    let x = Diagnostic::error(Code::UnknownName, span, format!("unknown probe `{name}`"))
        .label("not a probe");
    Some(
        match did_you_mean(
            name,
            all.iter()
                .map(|p| p.name.as_str())
                .chain(broken.probes.iter().map(String::as_str)),
        ) {
            Some(s) => x.help(format!("did you mean `{s}`?")),
            None => x.help(format!(
                "define it at the top level: `probe {name} = LAYER`"
            )),
        },
    )
}

pub fn check_run(block: &Block, p: &Program, broken: &Broken, d: &mut Diags) -> Option<Run> {
    let s = settings::collect("run", block.header, &block.body, &vocab::RUN, d);
    s.no_extras(d);
    let model = model_of(&s, &p.models, broken, d);
    let params = s
        .value("params")
        .and_then(|e| v::file_path(e, "`params`", d));
    let data = s
        .require("data", "data = mnist_idx(\"data/mnist\", split=test)", d)
        .and_then(|e| data_source(e, d));
    let dt = match s.value("dt") {
        Some(e) => v::time(e, "`dt`", d).and_then(|t| v::positive(t, e.span, "`dt`", d)),
        None if s.is_broken("dt") => None,
        None => Some(0.001),
    };
    let steps = match (s.get("present"), s.get("steps")) {
        (Some(a), Some(b)) => {
            d.push(
                Diagnostic::error(
                    Code::Duplicate,
                    b.key.span,
                    "give either `present` or `steps`, not both",
                )
                .label("`steps` here")
                .with_secondary(a.key.span, "`present` here")
                .help("`steps = N` is `present = N * dt`; keep one of them"),
            );
            None
        }
        // A `dt` with an error still leaves `present`'s own unit to check.
        (Some(pr), None) => v::time(pr.value, "`present`", d)
            .and_then(|t| v::positive(t, pr.value.span, "`present`", d))
            .and_then(|t| steps_of(t, dt?, pr.value, d)),
        (None, Some(st)) => v::count(st.value, "`steps`", 1, d).and_then(|n| {
            if n > MAX_STEPS {
                d.push(too_many_steps(
                    st.value.span,
                    format!("`steps` must be at most {MAX_STEPS}, found {n}"),
                    n as f64,
                ));
                return None;
            }
            Some(n)
        }),
        (None, None) if s.is_broken("present") || s.is_broken("steps") => None,
        (None, None) => {
            d.push(
                Diagnostic::error(
                    Code::Missing,
                    block.header,
                    "this run block does not say how long each input is presented",
                )
                .label("no `present`")
                .help("add `present = 100ms` (or `steps = 100`)"),
            );
            None
        }
    };
    let precision = match s.value("precision") {
        Some(e) => v::choice(
            e,
            "precision",
            &pair(
                vocab::value_words("precision"),
                [Precision::F32, Precision::F64],
            ),
            d,
        ),
        None => Some(Precision::F32),
    };
    let batch = s
        .value("batch")
        .map_or(Some(100), |e| v::count(e, "`batch`", 1, d));
    let seed = s
        .value("seed")
        .map_or(Some(0), |e| v::count(e, "`seed`", 0, d));

    let model = model?;
    let net = p.network_of(&p.models[model]);
    let net_incomplete = broken.networks.contains(&net.name);
    if params.is_none()
        && net.params().next().is_some()
        && s.get("params").is_none()
        && !s.is_broken("params")
    {
        d.push(
            Diagnostic::error(
                Code::Missing,
                block.header,
                format!(
                    "`{}` has weights but this run block names no params file",
                    net.name
                ),
            )
            .label("no `params`")
            .help("add `params = \"params.npz\"` (written by `snnc train`)"),
        );
    }
    if let Some(data) = &data {
        check_fits(data, net, net_incomplete, d);
    }
    let dt_v = dt?;
    let probes = bind(&p.probes, net, dt_v, d);
    let report = match s.value("report") {
        Some(e) if data.as_ref().is_some_and(|src| !src.kind.labelled()) => {
            d.push(
                Diagnostic::error(
                    Code::Missing,
                    e.span,
                    "an accuracy needs labels, but this run's data has none",
                )
                .label("needs labels")
                .help("give the data its labels (`npy(\"x.npy\", labels=\"y.npy\")`, `npz(\"d.npz\", y=\"y\")`), or remove `report` to predict without an accuracy (`snnc run --out` writes the probes)"),
            );
            None
        }
        Some(e) => report(e, &probes, net, &p.probes, broken, d),
        None if s.is_broken("report") => None,
        None => default_report(
            &probes,
            net,
            block,
            net_incomplete || !broken.probes.is_empty(),
            d,
        ),
    };
    let report = match (report, steps) {
        (Some(r), Some(n)) => report_in_run(r, &probes, &p.probes, s.value("report"), n, d),
        (r, _) => r,
    };
    Some(Run {
        name: block.name.as_ref().map(|n| n.node.clone()),
        model,
        params: params.or(None),
        params_span: s.value("params").map_or(Span::default(), |e| e.span),
        steps_span: s
            .get("present")
            .or_else(|| s.get("steps"))
            .map_or(block.header, |st| st.span),
        data: data?,
        dt: dt_v,
        steps: steps?,
        precision: precision?,
        batch: batch?,
        seed: seed? as u64,
        probes,
        report: report?,
        span: block.span,
    })
}

fn too_many_steps(span: Span, message: String, n: f64) -> Diagnostic {
    Diagnostic::error(Code::OutOfRange, span, message)
        .label(format!("{} steps", fmt_num(n)))
        .help(format!("snnc presents each input for at most {MAX_STEPS} steps; check the units of `present` and `dt`"))
}

fn steps_of(t: f64, dt: f64, e: &Expr, d: &mut Diags) -> Option<usize> {
    let ratio = t / dt;
    if ratio.is_nan() || ratio > MAX_STEPS as f64 + 0.5 {
        d.push(too_many_steps(
            e.span,
            format!(
                "`present` is {} steps of dt = {}s, more than snnc simulates",
                fmt_num(ratio),
                fmt_num(dt)
            ),
            ratio,
        ));
        return None;
    }
    let n = ratio.round();
    if n < 1.0 || (ratio - n).abs() > 1e-6 {
        d.push(
            Diagnostic::error(
                Code::OutOfRange,
                e.span,
                format!(
                    "`present` must be a whole number (at least 1) of steps of dt = {}s",
                    fmt_num(dt)
                ),
            )
            .label(format!(
                "{}s / {}s = {}",
                fmt_num(t),
                fmt_num(dt),
                fmt_num(ratio)
            ))
            .help("make `present` a multiple of `dt`"),
        );
        return None;
    }
    Some(n as usize)
}

/// No `report`: the probe on the network's last layer. `quiet` when that
/// probe or layer may be on a line with an error.
fn default_report(
    probes: &[BoundProbe],
    net: &Network,
    block: &Block,
    quiet: bool,
    d: &mut Diags,
) -> Option<Report> {
    let last = net.nodes.len().checked_sub(1);
    match probes.iter().position(|b| Some(b.node) == last) {
        Some(probe) => Some(Report {
            probe,
            at: ReadAt::Last,
        }),
        None => {
            if !quiet {
                d.push(
                    Diagnostic::error(
                        Code::Missing,
                        block.header,
                        "this run block has no `report` and no probe on the output layer",
                    )
                    .label("what should be read?")
                    .help(
                        "add `report = accuracy(PROBE, at=last)` with a probe on the output layer",
                    ),
                );
            }
            None
        }
    }
}

fn report(
    e: &Expr,
    probes: &[BoundProbe],
    net: &Network,
    all: &[Probe],
    broken: &Broken,
    d: &mut Diags,
) -> Option<Report> {
    let ExprKind::Call { name, .. } = &e.kind else {
        d.push(
            Diagnostic::error(
                Code::WrongType,
                e.span,
                "`report` must be `accuracy(PROBE, at=last)`",
            )
            .label(format!("found {}", e.kind.describe()))
            .help("for example `report = accuracy(pred, at=last)`"),
        );
        return None;
    };
    if name.node != "accuracy" {
        d.push(
            Diagnostic::error(
                Code::UnknownKeyword,
                name.span,
                format!("unknown report `{}`", name.node),
            )
            .label("not a report")
            .help("the report is `accuracy(PROBE, at=last)`"),
        );
        return None;
    }
    let call = Call::new(e, &call_args("accuracy").unwrap_or_default(), d)?;
    call.at_most_positional(1, d);
    let Some(pe) = call.positional.first() else {
        if !call.misplaced {
            d.push(
                Diagnostic::error(Code::Missing, e.span, "`accuracy` needs the probe to read")
                    .label("no probe")
                    .help("write `accuracy(pred, at=last)`"),
            );
        }
        return None;
    };
    let pname = v::name(pe, "the reported probe", d)?;
    let at = match call.get("at") {
        None => Some(ReadAt::Last),
        Some(a) if matches!(&a.kind, ExprKind::Ident(w) if w == "last") => Some(ReadAt::Last),
        Some(a) => v::count(a, "`at` (a step, or `last`)", 1, d).map(ReadAt::Step),
    };
    let Some(probe) = probes.iter().position(|b| b.name == pname) else {
        d.extend(unknown_probe(pname, pe.span, net, all, broken));
        return None;
    };
    let node = &net.nodes[probes[probe].node];
    if node.shape.len() != 1 || node.size() < 2 {
        d.push(
            Diagnostic::error(Code::ShapeMismatch, pe.span, format!("accuracy needs a vector of class scores, but `{}` has shape {}", node.name, shape_str(&node.shape)))
                .label("not a class-score vector")
                .help("report a probe on the output layer (for example a dense layer with one unit per class)"),
        );
        return None;
    }
    Some(Report { probe, at: at? })
}

/// A report the run can read: its probe records at least once within the
/// run, and `at` is a step of the run at or after the probe's first record.
fn report_in_run(
    r: Report,
    probes: &[BoundProbe],
    all: &[Probe],
    e: Option<&Expr>,
    steps: usize,
    d: &mut Diags,
) -> Option<Report> {
    let bound = &probes[r.probe];
    let probe_span = all.get(bound.probe).map_or(Span::default(), |p| p.span);
    if bound.every > steps {
        d.push(
            Diagnostic::error(
                Code::OutOfRange,
                probe_span,
                format!(
                    "probe `{}` records every {} steps, but the run has only {steps}: there is nothing to report",
                    bound.name, bound.every
                ),
            )
            .label(format!("first record at step {}", bound.every))
            .help(format!(
                "make `sample_every` at most {steps} steps, or present each input longer"
            )),
        );
        return None;
    }
    let at_span = e
        .and_then(|e| match &e.kind {
            ExprKind::Call { args, .. } => args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.node == "at"))
                .map(|a| a.value.span),
            _ => None,
        })
        .unwrap_or(probe_span);
    match r.at {
        ReadAt::Step(k) if k > steps => {
            d.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    at_span,
                    format!("`at` is step {k}, but the run has only {steps} steps"),
                )
                .label("after the last step")
                .help(format!("use `at=last`, or a step from 1 to {steps}")),
            );
            None
        }
        ReadAt::Step(k) if k < bound.every => {
            d.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    at_span,
                    format!(
                        "`at` is step {k}, but probe `{}` first records at step {}",
                        bound.name, bound.every
                    ),
                )
                .label("before the probe's first record")
                .help(format!(
                    "read at step {} or later, or lower the probe's `sample_every`",
                    bound.every
                )),
            );
            None
        }
        _ => Some(r),
    }
}

fn shape_str(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

// --------------------------------------------------------------- train ----

/// The words of a setting, from the vocabulary, each with its value.
fn pair<T: Copy, const N: usize>(words: &[&'static str], values: [T; N]) -> Vec<(&'static str, T)> {
    debug_assert_eq!(words.len(), N, "the vocabulary lists {words:?}");
    words.iter().copied().zip(values).collect()
}

pub fn check_train(block: &Block, p: &Program, broken: &Broken, d: &mut Diags) -> Option<Train> {
    let s = settings::collect("train", block.header, &block.body, &vocab::TRAIN, d);
    s.no_extras(d);
    let model = model_of(&s, &p.models, broken, d);
    let data = s
        .require("data", "data = mnist_idx(\"data/mnist\", split=train)", d)
        .and_then(|e| data_source(e, d))
        .and_then(|src| {
            if src.kind.labelled() {
                return Some(src);
            }
            d.push(
                Diagnostic::error(
                    Code::Missing,
                    src.span,
                    "training needs labels, but this data has none",
                )
                .label("no labels")
                .help("add the labels: `npy(\"x.npy\", labels=\"y.npy\")`, or name the labels' array in an npz: `npz(\"d.npz\", y=\"y\")`"),
            );
            None
        });
    let optimizer = s
        .require("optimizer", "optimizer = rmsprop(lr=0.001)", d)
        .and_then(|e| optimizer(e, d));
    let schedule = match s.value("schedule") {
        Some(e) => v::choice(
            e,
            "schedule",
            &pair(
                vocab::value_words("schedule"),
                [Schedule::Constant, Schedule::Cosine],
            ),
            d,
        ),
        None => Some(Schedule::Constant),
    };
    let epochs = s
        .require("epochs", "epochs = 10", d)
        .and_then(|e| v::count(e, "`epochs`", 1, d));
    let batch = s
        .value("batch")
        .map_or(Some(32), |e| v::count(e, "`batch`", 1, d));
    let validation_split = match s.value("validation_split") {
        Some(e) => v::number(e, "`validation_split`", d)
            .and_then(|x| v::in_range(x, 0.0, 0.9, e.span, "`validation_split`", d)),
        None => Some(0.0),
    };
    let keep_best = match s.value("keep") {
        Some(e) => v::choice(e, "keep", &pair(vocab::value_words("keep"), [false, true]), d).and_then(|best| {
            if best && validation_split == Some(0.0) {
                d.push(
                    Diagnostic::error(
                        Code::Missing,
                        e.span,
                        "`keep = best` picks an epoch by its validation accuracy, but there is no validation set",
                    )
                    .label("needs a validation set")
                    .help("add `validation_split = 0.1` to this train block"),
                );
                None
            } else {
                Some(best)
            }
        }),
        None => Some(false),
    };
    let seed = s
        .value("seed")
        .map_or(Some(0), |e| v::count(e, "`seed`", 0, d));
    let save = s
        .require("save", "save = \"params.npz\"", d)
        .and_then(|e| v::file_path(e, "`save`", d));
    let init = match s.value("init") {
        Some(e) => v::file_path(e, "`init`", d).map(Some),
        None => Some(None),
    };

    let model = model?;
    let net = p.network_of(&p.models[model]);
    if let Some(data) = &data {
        check_fits(data, net, broken.networks.contains(&net.name), d);
    }
    // Training has no time steps: the probes are bound only to find their
    // layers, and `sample_every` is a run's business (checked there).
    let probes = bind(&p.probes, net, 0.001, &mut Vec::new());
    let mut losses = Vec::new();
    for st in &s.targeted {
        let Some(target) = st.target else { continue };
        let Some(probe) = probes.iter().position(|b| b.name == target.node) else {
            d.extend(unknown_probe(
                &target.node,
                target.span,
                net,
                &p.probes,
                broken,
            ));
            continue;
        };
        let node = &net.nodes[probes[probe].node];
        let model_ref = &p.models[model];
        if let Some(kind) = loss(
            st.value,
            node,
            model_ref.nodes[probes[probe].node].neuron.is_some(),
            data.as_ref(),
            d,
        ) {
            losses.push(Loss { probe, kind });
        }
    }
    if s.targeted.is_empty() && !s.is_broken("loss") {
        d.push(
            Diagnostic::error(Code::Missing, block.header, "this train block has no loss")
                .label("nothing to minimise")
                .help("add `loss pred = sparse_categorical_crossentropy(from_logits=true)` with a probe `pred` on the output"),
        );
    }
    Some(Train {
        name: block.name.as_ref().map(|n| n.node.clone()),
        model,
        data: data?,
        optimizer: optimizer?,
        schedule: schedule?,
        losses,
        epochs: epochs?,
        batch: batch?,
        validation_split: validation_split?,
        keep_best: keep_best?,
        seed: seed? as u64,
        save: save?,
        init: init?,
        probes,
        span: block.span,
    })
}

fn optimizer(e: &Expr, d: &mut Diags) -> Option<Optimizer> {
    use vocab::OPTIMIZERS as KINDS;
    let ExprKind::Call { name, .. } = &e.kind else {
        if let ExprKind::Ident(w) = &e.kind {
            if KINDS.contains(&w.as_str()) {
                // `rmsprop` is `rmsprop()`, which lacks its learning rate.
                d.push(
                    Diagnostic::error(
                        Code::Missing,
                        e.span,
                        format!("`{w}` needs the argument `lr`"),
                    )
                    .label("`lr` is missing")
                    .help(format!("write `{w}(lr=0.001)`")),
                );
                return None;
            }
        }
        d.push(
            Diagnostic::error(
                Code::WrongType,
                e.span,
                "`optimizer` must be `rmsprop(...)`, `adam(...)` or `sgd(...)`",
            )
            .label("expected an optimizer")
            .help("for example `optimizer = rmsprop(lr=0.001)`"),
        );
        return None;
    };
    let allowed = match name.node.as_str() {
        k if KINDS.contains(&k) => call_args(k).unwrap_or_default(),
        other => {
            d.push(
                Diagnostic::error(
                    Code::UnknownKeyword,
                    name.span,
                    format!("unknown optimizer `{other}`"),
                )
                .label("not an optimizer")
                .help(super::suggest::hint(other, &KINDS)),
            );
            return None;
        }
    };
    let call = Call::new(e, &allowed, d)?;
    call.at_most_positional(0, d);
    let lr = call
        .require("lr", "lr=0.001", d)
        .and_then(|x| v::number(x, "`lr`", d).and_then(|l| v::positive(l, x.span, "`lr`", d)));
    let frac = |n: &str, default: f64, d: &mut Diags| match call.get(n) {
        Some(x) => v::number(x, &format!("`{n}`"), d)
            .and_then(|y| v::in_range(y, 0.0, 0.999_999, x.span, &format!("`{n}`"), d)),
        None => Some(default),
    };
    Some(match name.node.as_str() {
        "rmsprop" => Optimizer::Rmsprop {
            lr: lr?,
            rho: frac("rho", 0.9, d)?,
            epsilon: frac("epsilon", 1e-7, d)?,
        },
        "adam" => Optimizer::Adam {
            lr: lr?,
            beta1: frac("beta1", 0.9, d)?,
            beta2: frac("beta2", 0.999, d)?,
            epsilon: frac("epsilon", 1e-7, d)?,
        },
        _ => Optimizer::Sgd {
            lr: lr?,
            momentum: frac("momentum", 0.0, d)?,
        },
    })
}

fn loss(
    e: &Expr,
    node: &Node,
    has_neurons: bool,
    data: Option<&DataSource>,
    d: &mut Diags,
) -> Option<LossKind> {
    use vocab::LOSSES as KINDS;
    let (name, call) = match &e.kind {
        ExprKind::Call { name, .. } => {
            let allowed = match name.node.as_str() {
                k if KINDS.contains(&k) => call_args(k).unwrap_or_default(),
                other => {
                    d.push(
                        Diagnostic::error(
                            Code::UnknownKeyword,
                            name.span,
                            format!("unknown loss `{other}`"),
                        )
                        .label("not a loss")
                        .help(super::suggest::hint(other, &KINDS)),
                    );
                    return None;
                }
            };
            (name.node.as_str(), Call::new(e, &allowed, d)?)
        }
        _ => {
            d.push(
                Diagnostic::error(
                    Code::WrongType,
                    e.span,
                    format!(
                        "a loss must be a call such as `mse()`, found {}",
                        e.kind.describe()
                    ),
                )
                .label("expected a loss")
                .help(format!("losses: {}", super::suggest::one_of(&KINDS))),
            );
            return None;
        }
    };
    call.at_most_positional(0, d);
    let classes_ok = |d: &mut Diags| {
        let mnist = data
            .is_some_and(|s| matches!(s.kind, DataKind::MnistIdx { .. } | DataKind::Idx { .. }));
        if node.shape.len() != 1 || (mnist && node.size() != 10) || node.size() < 2 {
            let want = if mnist {
                "10 class scores (MNIST has 10 labels)"
            } else {
                "a vector of class scores"
            };
            d.push(
                Diagnostic::error(
                    Code::BadLoss,
                    e.span,
                    format!(
                        "this loss needs {want}, but `{}` has shape {}",
                        node.name,
                        shape_str(&node.shape)
                    ),
                )
                .label("does not fit the labels")
                .with_secondary(node.span, format!("`{}` defined here", node.name))
                .help("put the loss on a probe of the output layer, with one unit per class"),
            );
            return false;
        }
        true
    };
    match name {
        "sparse_categorical_crossentropy" => {
            let logits = call
                .get("from_logits")
                .map_or(Some(false), |x| v::boolean(x, "`from_logits`", d))?;
            if !logits {
                d.push(
                    Diagnostic::error(Code::BadLoss, e.span, "snnc networks output logits; the loss must say `from_logits=true`")
                        .label("reads probabilities")
                        .help("add `from_logits=true` (the output layer is linear, as in the seed network)"),
                );
                return None;
            }
            classes_ok(d).then_some(LossKind::SparseCategoricalCrossentropy)
        }
        "mse" => classes_ok(d).then_some(LossKind::MeanSquaredError),
        rate_loss if !has_neurons => {
            d.push(
                Diagnostic::error(
                    Code::BadLoss,
                    e.span,
                    format!(
                        "`{rate_loss}` needs a layer with neurons, but `{}` is linear",
                        node.name
                    ),
                )
                .label("no firing rates here")
                .help("probe a layer with an activation, such as a relu conv layer"),
            );
            None
        }
        "rate_mse" => {
            let target = call
                .require("target", "target=250Hz", d)
                .and_then(|x| v::frequency(x, "`target`", d).map(|t| (t, x.span)));
            let weight = match call.get("weight") {
                Some(x) => {
                    v::number(x, "`weight`", d).and_then(|w| v::positive(w, x.span, "`weight`", d))
                }
                None => Some(1.0),
            };
            let ((target, span), weight) = (target?, weight?);
            if target < 0.0 {
                d.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        span,
                        format!("a target rate cannot be negative, found {target}Hz"),
                    )
                    .label("must be >= 0"),
                );
                return None;
            }
            Some(LossKind::RateMse { target, weight })
        }
        _ => {
            let min = call
                .require("min", "min=200Hz", d)
                .and_then(|x| v::frequency(x, "`min`", d));
            let max = call
                .require("max", "max=300Hz", d)
                .and_then(|x| v::frequency(x, "`max`", d));
            let weight = match call.get("weight") {
                Some(x) => {
                    v::number(x, "`weight`", d).and_then(|w| v::positive(w, x.span, "`weight`", d))
                }
                None => Some(1.0),
            };
            let (min, max, weight) = (min?, max?, weight?);
            if min < 0.0 || max < min {
                d.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        call.span,
                        format!("need 0 <= min <= max, found min {min}Hz and max {max}Hz"),
                    )
                    .label("empty or negative range"),
                );
                return None;
            }
            Some(LossKind::RateInRange { min, max, weight })
        }
    }
}
