//! AST to IR. Every pass reads what the passes before it could build and
//! pushes every problem it finds; nothing stops at the first error. A layer
//! or model that had errors is remembered as broken so that what refers to
//! it is not reported again (one mistake, one diagnostic).

mod convert;
mod data;
mod network;
mod probes;
mod run;
mod settings;
pub mod suggest;
mod values;

use std::collections::HashMap;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::Program;
use crate::span::Span;
use crate::syntax::ast::{Block, File, Item, Stmt};
use crate::syntax::parse;

pub const BLOCK_KINDS: [&str; 4] = ["network", "convert", "train", "run"];
pub use convert::NEURONS;
pub use network::{ACTIVATIONS, LAYER_KINDS};

/// The result of checking one file.
pub struct Checked {
    /// Present when there are no errors (warnings allowed).
    pub program: Option<Program>,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and checks a whole spec.
pub fn check_source(source: &str) -> Checked {
    let (file, mut diags) = parse(source);
    let program = check_file(&file, &mut diags);
    diags.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    let ok = !diags.iter().any(Diagnostic::is_error);
    Checked { program: program.filter(|_| ok), diagnostics: diags }
}

fn check_file(file: &File, d: &mut Vec<Diagnostic>) -> Option<Program> {
    let mut networks = Vec::new();
    let mut converts = Vec::new();
    let mut trains = Vec::new();
    let mut runs = Vec::new();
    let mut probe_stmts = Vec::new();
    for item in &file.items {
        match item {
            Item::Block(b) => match b.kind.node.as_str() {
                "network" => {
                    no_from(b, d);
                    if let Some(name) = need_name(b, "network mnist", d) {
                        networks.push((b, name));
                    }
                }
                "convert" => {
                    let name = need_name(b, "convert spiking from mnist", d);
                    match (&b.from, name) {
                        (Some(from), Some(name)) => converts.push((b, name, from)),
                        (None, _) => d.push(
                            Diagnostic::error(Code::Missing, b.header, "a convert block must say which network it converts")
                                .label("no `from NETWORK`")
                                .help("write `convert spiking from mnist { ... }`"),
                        ),
                        _ => {}
                    }
                }
                "train" => {
                    no_from(b, d);
                    trains.push(b);
                }
                "run" => {
                    no_from(b, d);
                    runs.push(b);
                }
                other => d.push(
                    Diagnostic::error(Code::UnknownKeyword, b.kind.span, format!("unknown block `{other}`"))
                        .label("not a block kind")
                        .help(suggest::hint(other, &BLOCK_KINDS)),
                ),
            },
            Item::Stmt(Stmt::Assign { key, target, value, extra, span }) if key.node == "probe" => match target {
                Some(name) => probe_stmts.push((name, value, extra, *span)),
                None => d.push(
                    Diagnostic::error(Code::Missing, key.span, "a probe needs a name")
                        .label("`probe NAME = LAYER`")
                        .help("for example `probe pred = out`"),
                ),
            },
            Item::Stmt(stmt) => {
                let key = match stmt {
                    Stmt::Assign { key, .. } | Stmt::Arrow { key, .. } => key.clone(),
                    Stmt::Input { span, .. } => crate::span::Spanned::new("input".into(), Span::new(span.start, span.start + 5)),
                };
                let mut diag = Diagnostic::error(Code::UnknownKeyword, key.span, format!("`{}` cannot stand at the top level", key.node))
                    .label("not a top-level statement");
                diag = match suggest::did_you_mean(&key.node, ["probe"]) {
                    Some(s) => diag.help(format!("did you mean `{s}`?")),
                    None => diag.help("the top level holds `network`, `convert`, `train` and `run` blocks and `probe` statements"),
                };
                d.push(diag);
            }
        }
    }

    // Networks, then their rate models.
    let mut checked_nets: Vec<network::Checked> = Vec::new();
    let mut model_names: HashMap<String, Span> = HashMap::new();
    let mut broken_models = Vec::new();
    for (b, name) in &networks {
        if !unique(&mut model_names, name, "network", d) {
            continue;
        }
        let errors = count_errors(d);
        let checked = network::check_network(b, name, d);
        if count_errors(d) > errors {
            broken_models.push(name.node.clone());
        }
        checked_nets.push(checked);
    }
    let mut models: Vec<_> = checked_nets.iter().enumerate().map(|(i, c)| convert::rate_model(i, &c.network)).collect();

    // Conversion variants.
    for (b, name, from) in &converts {
        if !unique(&mut model_names, name, "convert variant", d) {
            continue;
        }
        let Some(index) = checked_nets.iter().position(|c| c.network.name == from.node) else {
            broken_models.push(name.node.clone());
            let mut diag = Diagnostic::error(Code::UnknownName, from.span, format!("no network is called `{}`", from.node))
                .label("unknown network");
            if let Some(s) = suggest::did_you_mean(&from.node, checked_nets.iter().map(|c| c.network.name.as_str())) {
                diag = diag.help(format!("did you mean `{s}`?"));
            }
            if !broken_models.contains(&from.node) {
                d.push(diag);
            }
            continue;
        };
        match convert::check_convert(b, name, &checked_nets[index], index, d) {
            Some(m) => models.push(m),
            None => broken_models.push(name.node.clone()),
        }
    }

    // Layers that had errors still count as defined: a probe on one must
    // not be reported a second time.
    let broken_layers: Vec<String> = checked_nets.iter().flat_map(|c| c.broken.keys().cloned()).collect();
    let networks: Vec<_> = checked_nets.into_iter().map(|c| c.network).collect();
    let net_refs: Vec<_> = networks.iter().collect();
    let mut probe_names: HashMap<String, Span> = HashMap::new();
    let mut probes = Vec::new();
    for (name, value, extra, span) in probe_stmts {
        if !unique(&mut probe_names, name, "probe", d) {
            continue;
        }
        if let Some(p) = probes::check_probe(name, value, extra, span, &net_refs, &broken_layers, d) {
            probes.push(p);
        }
    }

    let mut program = Program { networks, models, probes, trains: Vec::new(), runs: Vec::new() };
    let mut train_out = Vec::new();
    block_names(&trains, "train", d);
    for b in &trains {
        train_out.extend(run::check_train(b, &program, &broken_models, d));
    }
    let mut run_out = Vec::new();
    block_names(&runs, "run", d);
    for b in &runs {
        run_out.extend(run::check_run(b, &program, &broken_models, d));
    }
    program.trains = train_out;
    program.runs = run_out;
    Some(program)
}

fn count_errors(d: &[Diagnostic]) -> usize {
    d.iter().filter(|x| x.is_error()).count()
}

fn need_name<'a>(b: &'a Block, example: &str, d: &mut Vec<Diagnostic>) -> Option<&'a crate::syntax::ast::Ident> {
    if b.name.is_none() {
        d.push(
            Diagnostic::error(Code::Missing, b.kind.span, format!("a {} block needs a name", b.kind.node))
                .label("no name")
                .help(format!("write `{example} {{ ... }}`")),
        );
    }
    b.name.as_ref()
}

fn no_from(b: &Block, d: &mut Vec<Diagnostic>) {
    if let Some(from) = &b.from {
        d.push(
            Diagnostic::error(Code::Syntax, from.span, format!("only convert blocks take `from`, not {} blocks", b.kind.node))
                .label("unexpected `from`")
                .help("remove `from ...`"),
        );
    }
}

fn unique(seen: &mut HashMap<String, Span>, name: &crate::syntax::ast::Ident, what: &str, d: &mut Vec<Diagnostic>) -> bool {
    if let Some(first) = seen.get(&name.node) {
        d.push(
            Diagnostic::error(Code::Duplicate, name.span, format!("the name `{}` is used twice", name.node))
                .label(format!("this {what} reuses it"))
                .with_secondary(*first, "first used here")
                .help("networks, convert variants and probes each need their own names"),
        );
        return false;
    }
    seen.insert(name.node.clone(), name.span);
    true
}

/// Several run (or train) blocks must be told apart by name.
fn block_names(blocks: &[&Block], kind: &str, d: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<Option<&str>, Span> = HashMap::new();
    for b in blocks {
        let key = b.name.as_ref().map(|n| n.node.as_str());
        let span = b.name.as_ref().map_or(b.kind.span, |n| n.span);
        if let Some(first) = seen.get(&key) {
            d.push(
                Diagnostic::error(Code::Duplicate, span, format!("two {kind} blocks with the same name"))
                    .label("same name as an earlier one")
                    .with_secondary(*first, "first one")
                    .help(format!("name them: `{kind} fast {{ ... }}`, `{kind} full {{ ... }}`")),
            );
        } else {
            seen.insert(key, span);
        }
    }
}
