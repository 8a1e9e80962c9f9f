//! AST to IR. Every pass reads what the passes before it could build and
//! pushes every problem it finds; nothing stops at the first error. A layer,
//! model or probe that had errors (or whose line did not parse) is
//! remembered as broken so that what refers to it is not reported again
//! (one mistake, one diagnostic).

mod convert;
mod data;
mod network;
mod probes;
mod run;
mod settings;
pub mod suggest;
mod values;
pub mod vocabulary;

use std::collections::HashMap;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::Program;
use crate::span::Span;
use crate::syntax::ast::{Block, File, Item, Stmt};
use crate::syntax::parse;

pub use data::data_source_from_text;
pub use run::MAX_STEPS;
pub use vocabulary::{ACTIVATIONS, BLOCK_KINDS, LAYER_KINDS, NEURONS};

/// The result of checking one file.
pub struct Checked {
    /// Present when there are no errors (warnings allowed).
    pub program: Option<Program>,
    /// What could be built, errors or not: every network with the layers
    /// that checked (a layer reading a broken one is left out too), every
    /// model (a convert variant with errors keeps the settings that could
    /// be read) and every probe that checked; `trains` and `runs` hold the
    /// blocks without errors. Equal to `program` when that is present.
    /// For tools that want to show what is known about a file being edited.
    pub partial: Program,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// The syntax tree that was checked (lines that did not parse are
    /// [`Stmt::Broken`]), for tools that index names without parsing again.
    pub file: File,
}

/// Parses and checks a whole spec.
pub fn check_source(source: &str) -> Checked {
    let (file, mut diags) = parse(source);
    let (program, broken_variants) = check_file(&file, &mut diags);
    diags.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    // The same problem found twice (by two blocks that read the same thing)
    // is still one mistake.
    diags.dedup_by(|a, b| {
        a.code == b.code && a.primary.span == b.primary.span && a.message == b.message
    });
    let ok = !diags.iter().any(Diagnostic::is_error);
    let (program, partial) = if ok {
        // Nothing had errors: no broken variants either.
        (Some(program.clone()), program)
    } else {
        let mut partial = program;
        partial.models.extend(broken_variants);
        (None, partial)
    };
    Checked {
        program,
        partial,
        diagnostics: diags,
        file,
    }
}

/// Names that are defined but had errors (already reported): what refers to
/// them is not reported again.
#[derive(Debug, Default)]
pub(crate) struct Broken {
    /// Networks and convert variants.
    pub models: Vec<String>,
    pub probes: Vec<String>,
    /// Networks with a layer, or a line, that has errors.
    pub networks: Vec<String>,
    /// Whether a whole network block could not be read (its header did not
    /// parse): any layer name may have been defined there.
    pub lost_network: bool,
}

/// Checks the file; also returns the convert variants that had errors, as
/// far as they could be built.
fn check_file(file: &File, d: &mut Vec<Diagnostic>) -> (Program, Vec<crate::ir::Model>) {
    let mut networks = Vec::new();
    let mut converts = Vec::new();
    let mut trains = Vec::new();
    let mut runs = Vec::new();
    let mut probe_stmts = Vec::new();
    let mut broken = Broken::default();
    for item in &file.items {
        match item {
            Item::Block(b) => {
                let mut kind = b.kind.node.as_str();
                if !BLOCK_KINDS.contains(&kind) {
                    d.push(
                        Diagnostic::error(
                            Code::UnknownKeyword,
                            b.kind.span,
                            format!("unknown block `{kind}`"),
                        )
                        .label("not a block kind")
                        .help(suggest::hint(kind, &BLOCK_KINDS)),
                    );
                    // `netwrok mnist { ... }` is still checked as the
                    // network it means, so what uses it is not reported.
                    match suggest::did_you_mean(kind, BLOCK_KINDS) {
                        Some(meant) => kind = meant,
                        None => continue,
                    }
                }
                match kind {
                    "network" => {
                        no_from(b, d);
                        match need_name(b, "network mnist", d) {
                            Some(name) => networks.push((b, name)),
                            // Its layers are unknown to what uses them.
                            None => broken.lost_network = true,
                        }
                    }
                    "convert" => {
                        let name = need_name(b, "convert spiking from mnist", d);
                        match (&b.from, name) {
                            (Some(from), Some(name)) => converts.push((b, name, from)),
                            (None, _) => {
                                d.push(
                                    Diagnostic::error(
                                        Code::Missing,
                                        b.header,
                                        "a convert block must say which network it converts",
                                    )
                                    .label("no `from NETWORK`")
                                    .help("write `convert spiking from mnist { ... }`"),
                                );
                                broken.models.extend(name.map(|n| n.node.clone()));
                            }
                            _ => {}
                        }
                    }
                    "train" => {
                        no_from(b, d);
                        trains.push(b);
                    }
                    _ => {
                        no_from(b, d);
                        runs.push(b);
                    }
                }
            }
            Item::Stmt(Stmt::Assign {
                key,
                target,
                value,
                extra,
                span,
            }) if key.node == "probe" => match target {
                Some(name) => probe_stmts.push((name, value, extra, *span)),
                None => d.push(
                    Diagnostic::error(Code::Missing, key.span, "a probe needs a name")
                        .label("`probe NAME = LAYER`")
                        .help("for example `probe pred = out`"),
                ),
            },
            // A line that did not parse (reported): remember what it names.
            Item::Stmt(Stmt::Broken {
                key: Some(k),
                target: Some(t),
                ..
            }) => match k.node.as_str() {
                "probe" => broken.probes.push(t.node.clone()),
                "network" | "convert" => {
                    broken.lost_network |= k.node == "network";
                    broken.models.push(t.node.clone());
                }
                _ => {}
            },
            Item::Stmt(Stmt::Broken { .. }) => {}
            Item::Stmt(stmt) => {
                let key = match stmt {
                    Stmt::Assign { key, .. } | Stmt::Arrow { key, .. } => key.clone(),
                    Stmt::Input { span, .. } | Stmt::Broken { span, .. } => {
                        crate::span::Spanned::new(
                            "input".into(),
                            Span::new(span.start, span.start + 5),
                        )
                    }
                };
                let mut diag = Diagnostic::error(
                    Code::UnknownKeyword,
                    key.span,
                    format!("`{}` cannot stand at the top level", key.node),
                )
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
    for (b, name) in &networks {
        if !unique(&mut model_names, name, "network", d) {
            continue;
        }
        let errors = count_errors(d);
        let checked = network::check_network(b, name, d);
        if count_errors(d) > errors {
            broken.models.push(name.node.clone());
        }
        if checked.incomplete {
            broken.networks.push(name.node.clone());
        }
        checked_nets.push(checked);
    }
    let mut models: Vec<_> = checked_nets
        .iter()
        .enumerate()
        .map(|(i, c)| convert::rate_model(i, &c.network))
        .collect();

    // Conversion variants.
    let mut broken_variants = Vec::new();
    for (b, name, from) in &converts {
        if !unique(&mut model_names, name, "convert variant", d) {
            continue;
        }
        let Some(index) = checked_nets
            .iter()
            .position(|c| c.network.name == from.node)
        else {
            let mut diag = Diagnostic::error(
                Code::UnknownName,
                from.span,
                format!("no network is called `{}`", from.node),
            )
            .label("unknown network");
            if let Some(s) = suggest::did_you_mean(
                &from.node,
                checked_nets.iter().map(|c| c.network.name.as_str()),
            ) {
                diag = diag.help(format!("did you mean `{s}`?"));
            }
            if !broken.models.contains(&from.node) {
                d.push(diag);
            }
            broken.models.push(name.node.clone());
            continue;
        };
        match convert::check_convert(b, name, &checked_nets[index], index, d) {
            (m, true) => models.push(m),
            (m, false) => {
                broken.models.push(name.node.clone());
                broken_variants.push(m);
            }
        }
    }

    // Layers that had errors still count as defined: a probe on one must
    // not be reported a second time, and neither must what reads the probe.
    let broken_layers: Vec<String> = checked_nets
        .iter()
        .flat_map(|c| c.broken.keys().cloned())
        .collect();
    let networks: Vec<_> = checked_nets.into_iter().map(|c| c.network).collect();
    let net_refs: Vec<_> = networks.iter().collect();
    let mut probe_names: HashMap<String, Span> = HashMap::new();
    let mut probes = Vec::new();
    for (name, value, extra, span) in probe_stmts {
        if !unique(&mut probe_names, name, "probe", d) {
            continue;
        }
        match probes::check_probe(
            name,
            value,
            extra,
            span,
            &net_refs,
            &broken_layers,
            broken.lost_network,
            d,
        ) {
            Some(p) => probes.push(p),
            None => broken.probes.push(name.node.clone()),
        }
    }

    let mut program = Program {
        networks,
        models,
        probes,
        trains: Vec::new(),
        runs: Vec::new(),
    };
    let mut train_out = Vec::new();
    block_names(&trains, "train", d);
    for b in &trains {
        train_out.extend(run::check_train(b, &program, &broken, d));
    }
    let mut run_out = Vec::new();
    block_names(&runs, "run", d);
    for b in &runs {
        run_out.extend(run::check_run(b, &program, &broken, d));
    }
    program.trains = train_out;
    program.runs = run_out;
    (program, broken_variants)
}

fn count_errors(d: &[Diagnostic]) -> usize {
    d.iter().filter(|x| x.is_error()).count()
}

fn need_name<'a>(
    b: &'a Block,
    example: &str,
    d: &mut Vec<Diagnostic>,
) -> Option<&'a crate::syntax::ast::Ident> {
    if b.name.is_none() {
        d.push(
            Diagnostic::error(
                Code::Missing,
                b.kind.span,
                format!("a {} block needs a name", b.kind.node),
            )
            .label("no name")
            .help(format!("write `{example} {{ ... }}`")),
        );
    }
    b.name.as_ref()
}

fn no_from(b: &Block, d: &mut Vec<Diagnostic>) {
    if let Some(from) = &b.from {
        d.push(
            Diagnostic::error(
                Code::Syntax,
                from.span,
                format!(
                    "only convert blocks take `from`, not {} blocks",
                    b.kind.node
                ),
            )
            .label("unexpected `from`")
            .help("remove `from ...`"),
        );
    }
}

fn unique(
    seen: &mut HashMap<String, Span>,
    name: &crate::syntax::ast::Ident,
    what: &str,
    d: &mut Vec<Diagnostic>,
) -> bool {
    if let Some(first) = seen.get(&name.node) {
        d.push(
            Diagnostic::error(
                Code::Duplicate,
                name.span,
                format!("the name `{}` is used twice", name.node),
            )
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
                Diagnostic::error(
                    Code::Duplicate,
                    span,
                    format!("two {kind} blocks with the same name"),
                )
                .label("same name as an earlier one")
                .with_secondary(*first, "first one")
                .help(format!(
                    "name them: `{kind} fast {{ ... }}`, `{kind} full {{ ... }}`"
                )),
            );
        } else {
            seen.insert(key, span);
        }
    }
}
