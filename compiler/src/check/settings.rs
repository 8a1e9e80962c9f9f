//! Blocks made of `key = value` settings (`run`, `train`, `convert`): each key
//! once, every key known, "did you mean" for the rest.

use super::suggest::{did_you_mean, hint};
use super::values::Diags;
use super::vocabulary::BlockKeys;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, Ident, Stmt};

/// One `key [target] = value[, extra...]` statement.
pub struct Setting<'a> {
    pub key: &'a Ident,
    pub target: Option<&'a Ident>,
    pub value: &'a Expr,
    pub extra: &'a [Arg],
    pub span: Span,
}

pub struct Settings<'a> {
    pub block: &'a str,
    pub header: Span,
    pub plain: Vec<Setting<'a>>,
    /// Settings with a target, such as `loss pred = ...`, in file order.
    pub targeted: Vec<Setting<'a>>,
    /// Arrow statements, such as `swap relu -> lif`, in file order.
    pub arrows: Vec<&'a Stmt>,
    /// Keys written on a line with an error that was already reported (a
    /// line that did not parse, a misspelt key whose "did you mean" is this
    /// key, `loss = ...` without its name): they count as present, so they
    /// are not reported missing too.
    broken: Vec<&'static str>,
}

/// Sorts a block's statements. `plain` keys may appear once each, `targeted`
/// keys need a target (`loss NAME = ...`) and may repeat, `arrows` keys are
/// written `key a -> b [= value]`.
pub fn collect<'a>(
    block: &'a str,
    header: Span,
    body: &'a [Stmt],
    keys: &BlockKeys,
    d: &mut Diags,
) -> Settings<'a> {
    let mut out = Settings {
        block,
        header,
        plain: Vec::new(),
        targeted: Vec::new(),
        arrows: Vec::new(),
        broken: Vec::new(),
    };
    let all = keys.all();
    let (plain, targeted, arrows) = (keys.plain, keys.targeted, keys.arrows);
    // The key a misspelt or broken key stands for.
    let meant = |k: &str| {
        all.iter()
            .copied()
            .find(|a| *a == k)
            .or_else(|| did_you_mean(k, all.iter().copied()))
    };
    for stmt in body {
        match stmt {
            Stmt::Input { span, .. } => d.push(
                Diagnostic::error(
                    Code::UnknownKeyword,
                    Span::new(span.start, span.start + 5),
                    format!("`input` does not belong in a {block} block"),
                )
                .label("inputs are declared in a network block")
                .help("move it into `network NAME { ... }`"),
            ),
            Stmt::Broken { key, .. } => {
                out.broken.extend(key.as_ref().and_then(|k| meant(&k.node)));
            }
            Stmt::Arrow { key, .. } if arrows.contains(&key.node.as_str()) => out.arrows.push(stmt),
            Stmt::Assign {
                key,
                target,
                value,
                extra,
                span,
            } => {
                let k = key.node.as_str();
                let setting = Setting {
                    key,
                    target: target.as_ref(),
                    value,
                    extra,
                    span: *span,
                };
                // A key that is both (`synapse = ...`, `synapse all = ...`)
                // is targeted when a name follows it.
                let as_targeted = |t: &&&str| **t == k && (target.is_some() || !plain.contains(&k));
                if let Some(&k) = targeted.iter().find(as_targeted) {
                    if target.is_none() {
                        d.push(
                            Diagnostic::error(
                                Code::Missing,
                                key.span,
                                format!("`{k}` needs a name after it"),
                            )
                            .label(format!("`{k} WHAT = ...`"))
                            .help(format!("for example `{k} pred = ...`")),
                        );
                        out.broken.push(k);
                    } else {
                        out.targeted.push(setting);
                    }
                } else if let Some(&k) = plain.iter().find(|p| **p == k) {
                    if let Some(t) = target {
                        d.push(
                            Diagnostic::error(
                                Code::Syntax,
                                t.span,
                                format!("unexpected `{}` after `{k}`", t.node),
                            )
                            .label("remove this name")
                            .help(format!("write `{k} = ...`")),
                        );
                        out.broken.push(k);
                    } else if let Some(prev) = out.plain.iter().find(|s| s.key.node == k) {
                        d.push(
                            Diagnostic::error(
                                Code::Duplicate,
                                key.span,
                                format!("`{k}` is set twice in this {block} block"),
                            )
                            .label("set again here")
                            .with_secondary(prev.key.span, "first set here")
                            .help("keep one of them"),
                        );
                    } else {
                        out.plain.push(setting);
                    }
                } else {
                    d.push(unknown_key(key, block, &all));
                    out.broken.extend(meant(k));
                }
            }
            Stmt::Arrow { key, .. } => {
                d.push(unknown_key(key, block, &all));
                out.broken.extend(meant(&key.node));
            }
        }
    }
    out
}

fn unknown_key(key: &Ident, block: &str, all: &[&str]) -> Diagnostic {
    Diagnostic::error(
        Code::UnknownKeyword,
        key.span,
        format!("unknown setting `{}` in a {block} block", key.node),
    )
    .label("not a setting here")
    .help(hint(&key.node, all))
}

impl<'a> Settings<'a> {
    pub fn get(&self, key: &str) -> Option<&Setting<'a>> {
        self.plain.iter().find(|s| s.key.node == key)
    }

    pub fn value(&self, key: &str) -> Option<&'a Expr> {
        self.get(key).map(|s| s.value)
    }

    /// Whether `key` was written on a line whose error is already reported.
    pub fn is_broken(&self, key: &str) -> bool {
        self.broken.contains(&key)
    }

    /// A setting that must be present.
    pub fn require(&self, key: &str, example: &str, d: &mut Diags) -> Option<&'a Expr> {
        let found = self.value(key);
        if found.is_none() && !self.is_broken(key) {
            d.push(
                Diagnostic::error(
                    Code::Missing,
                    self.header,
                    format!("this {} block has no `{key}`", self.block),
                )
                .label(format!("`{key}` is missing"))
                .help(format!("add `{example}`")),
            );
        }
        found
    }

    /// Trailing `, arg=...` lists are only meaningful on some statements.
    pub fn no_extras(&self, d: &mut Diags) {
        for s in self.plain.iter().chain(&self.targeted) {
            if let Some(first) = s.extra.first() {
                d.push(
                    Diagnostic::error(
                        Code::Syntax,
                        first.span(),
                        format!("`{}` takes a single value", s.key.node),
                    )
                    .label("unexpected extra value")
                    .help("arguments go inside a call's parentheses"),
                );
            }
        }
    }
}
