//! Reading typed values out of expressions: numbers, durations and
//! frequencies with their units, shapes, names, strings and call arguments.
//! Each reader pushes a diagnostic and returns `None` when the expression is
//! not what is asked for, so callers simply skip what they cannot use.

use super::suggest::{did_you_mean, hint, one_of};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, Ident};

pub type Diags = Vec<Diagnostic>;

const TIME_UNITS: [(&str, f64); 3] = [("s", 1.0), ("ms", 1e-3), ("us", 1e-6)];
const FREQ_UNITS: [(&str, f64); 2] = [("Hz", 1.0), ("kHz", 1e3)];

fn wrong_type(e: &Expr, expected: &str, what: &str) -> Diagnostic {
    let d = Diagnostic::error(
        Code::WrongType,
        e.span,
        format!("{what} must be {expected}, found {}", e.kind.describe()),
    )
    .label(format!("expected {expected}"));
    match &e.kind {
        // `epochs = "10"`, `dt = "1ms"`, `network = "mnist"`
        ExprKind::Str(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')) =>
        {
            d.help(format!("remove the quotes: `{s}`"))
        }
        ExprKind::Str(_) => d.help("only paths and file names are written in quotes"),
        _ => d,
    }
}

/// A number as messages show it: at most 12 significant digits, so float
/// noise such as `4.1000000000000005` reads `4.1`, and exponent notation for
/// very large or very small values.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{}", if v == 0.0 { 0.0 } else { v });
    }
    let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
    if (1e-5..1e15).contains(&rounded.abs()) {
        format!("{rounded}")
    } else {
        format!("{rounded:e}")
    }
}

/// What a quantity's unit measures.
enum Dimension {
    Time,
    Frequency,
}

fn unit_of(unit: &Ident, d: &mut Diags) -> Option<(Dimension, f64)> {
    if let Some((_, f)) = TIME_UNITS.iter().find(|(u, _)| *u == unit.node) {
        return Some((Dimension::Time, *f));
    }
    if let Some((_, f)) = FREQ_UNITS.iter().find(|(u, _)| *u == unit.node) {
        return Some((Dimension::Frequency, *f));
    }
    let all: Vec<&str> = TIME_UNITS
        .iter()
        .chain(FREQ_UNITS.iter())
        .map(|(u, _)| *u)
        .collect();
    d.push(
        Diagnostic::error(
            Code::WrongUnit,
            unit.span,
            format!("unknown unit `{}`", unit.node),
        )
        .label("not a unit snnc knows")
        .help(hint(&unit.node, &all)),
    );
    None
}

/// A duration in seconds: `5ms`, `0.005s`, `100us`.
pub fn time(e: &Expr, what: &str, d: &mut Diags) -> Option<f64> {
    match &e.kind {
        ExprKind::Quantity { value, unit } => match unit_of(unit, d)? {
            (Dimension::Time, f) => Some(value * f),
            (Dimension::Frequency, _) => {
                d.push(
                    Diagnostic::error(
                        Code::WrongUnit,
                        e.span,
                        format!("{what} is a duration, but `{}` is a frequency", unit.node),
                    )
                    .label("a frequency")
                    .help("use a time unit: `s`, `ms` or `us` (for example `5ms`)"),
                );
                None
            }
        },
        ExprKind::Number(v) => {
            d.push(
                Diagnostic::error(Code::WrongUnit, e.span, format!("{what} needs a time unit"))
                    .label("a bare number")
                    .help(if v.abs() >= 1.0 {
                        // `present = 100`: milliseconds, most likely.
                        format!("write `{}ms` or `{}s`", fmt_num(*v), fmt_num(*v))
                    } else {
                        format!("write `{}ms` or `{}s`", fmt_num(v * 1e3), fmt_num(*v))
                    }),
            );
            None
        }
        _ => {
            d.push(wrong_type(e, "a duration such as `5ms`", what));
            None
        }
    }
}

/// A frequency in hertz: `200Hz`, `1kHz`.
pub fn frequency(e: &Expr, what: &str, d: &mut Diags) -> Option<f64> {
    match &e.kind {
        ExprKind::Quantity { value, unit } => match unit_of(unit, d)? {
            (Dimension::Frequency, f) => Some(value * f),
            (Dimension::Time, _) => {
                d.push(
                    Diagnostic::error(
                        Code::WrongUnit,
                        e.span,
                        format!("{what} is a frequency, but `{}` is a time unit", unit.node),
                    )
                    .label("a duration")
                    .help("use `Hz` or `kHz` (for example `200Hz`)"),
                );
                None
            }
        },
        ExprKind::Number(v) => {
            d.push(
                Diagnostic::error(
                    Code::WrongUnit,
                    e.span,
                    format!("{what} needs a frequency unit"),
                )
                .label("a bare number")
                .help(format!("write `{}Hz`", fmt_num(*v))),
            );
            None
        }
        _ => {
            d.push(wrong_type(e, "a frequency such as `200Hz`", what));
            None
        }
    }
}

/// A plain number without a unit.
pub fn number(e: &Expr, what: &str, d: &mut Diags) -> Option<f64> {
    match &e.kind {
        ExprKind::Number(v) => Some(*v),
        ExprKind::Quantity { unit, .. } => {
            d.push(
                Diagnostic::error(Code::WrongUnit, unit.span, format!("{what} takes no unit"))
                    .label("remove this unit"),
            );
            None
        }
        _ => {
            d.push(wrong_type(e, "a number", what));
            None
        }
    }
}

/// A number that must be positive (and finite).
pub fn positive(value: f64, span: Span, what: &str, d: &mut Diags) -> Option<f64> {
    if value > 0.0 {
        Some(value)
    } else {
        d.push(
            Diagnostic::error(
                Code::OutOfRange,
                span,
                format!("{what} must be positive, found {}", fmt_num(value)),
            )
            .label("must be > 0"),
        );
        None
    }
}

/// A number within `[lo, hi]`.
pub fn in_range(
    value: f64,
    lo: f64,
    hi: f64,
    span: Span,
    what: &str,
    d: &mut Diags,
) -> Option<f64> {
    if (lo..=hi).contains(&value) {
        Some(value)
    } else {
        d.push(
            Diagnostic::error(
                Code::OutOfRange,
                span,
                format!(
                    "{what} must be between {lo} and {hi}, found {}",
                    fmt_num(value)
                ),
            )
            .label(format!("must be in [{lo}, {hi}]")),
        );
        None
    }
}

/// A whole number `>= min`.
pub fn count(e: &Expr, what: &str, min: u64, d: &mut Diags) -> Option<usize> {
    let v = number(e, what, d)?;
    if v.fract() != 0.0 {
        d.push(
            Diagnostic::error(
                Code::WrongType,
                e.span,
                format!("{what} must be a whole number, found {}", fmt_num(v)),
            )
            .label("not a whole number"),
        );
        return None;
    }
    if v < min as f64 {
        let mut diag = Diagnostic::error(
            Code::OutOfRange,
            e.span,
            format!("{what} must be at least {min}, found {}", fmt_num(v)),
        )
        .label(format!("must be >= {min}"));
        if let Some(help) = count_help(what) {
            diag = diag.help(help);
        }
        d.push(diag);
        return None;
    }
    if v > u32::MAX as f64 {
        d.push(
            Diagnostic::error(
                Code::OutOfRange,
                e.span,
                format!("{what} must be at most {}, found {}", u32::MAX, fmt_num(v)),
            )
            .label("too large")
            .help("snnc counts with 32-bit numbers"),
        );
        return None;
    }
    Some(v as usize)
}

/// What a count that is too small should look like.
fn count_help(what: &str) -> Option<&'static str> {
    Some(match what {
        "`filters`" => "a conv2d layer needs at least one filter, for example `filters=32`",
        "`units`" => "a dense layer needs at least one unit, for example `units=10`",
        "`depth_multiplier`" => "each input channel needs at least one filter; leave it out for 1",
        "`epochs`" => "train for at least one epoch, for example `epochs = 10`",
        "`steps`" => "present each input for at least one step, for example `steps = 100`",
        "`batch`" => "for example `batch = 32`",
        "`limit`" => "leave `limit` out to use every example",
        _ => return None,
    })
}

/// A shape `28x28x1`, or a single whole number for a vector.
pub fn shape(e: &Expr, what: &str, d: &mut Diags) -> Option<Vec<usize>> {
    match &e.kind {
        ExprKind::Shape(dims) => {
            if dims.contains(&0) {
                d.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        e.span,
                        format!("{what} has a zero dimension"),
                    )
                    .label("every dimension must be at least 1"),
                );
                return None;
            }
            let dims: Vec<usize> = dims.iter().map(|&x| x as usize).collect();
            if dims
                .iter()
                .try_fold(1usize, |acc, &x| acc.checked_mul(x))
                .is_none_or(|n| n > u32::MAX as usize)
            {
                d.push(
                    Diagnostic::error(Code::OutOfRange, e.span, format!("{what} is too large"))
                        .label("more than 2^32 elements"),
                );
                return None;
            }
            Some(dims)
        }
        ExprKind::Number(_) => count(e, what, 1, d).map(|n| vec![n]),
        _ => {
            d.push(wrong_type(e, "a shape such as `28x28x1`", what));
            None
        }
    }
}

/// A 2-D size: `3x3`, or `3` for a square.
pub fn pair(e: &Expr, what: &str, d: &mut Diags) -> Option<[usize; 2]> {
    let dims = shape(e, what, d)?;
    match dims.as_slice() {
        [n] => Some([*n, *n]),
        [h, w] => Some([*h, *w]),
        _ => {
            d.push(
                Diagnostic::error(
                    Code::WrongType,
                    e.span,
                    format!("{what} must have two dimensions, found {}", dims.len()),
                )
                .label("expected `HxW` or a single number"),
            );
            None
        }
    }
}

/// A bare name.
pub fn name<'a>(e: &'a Expr, what: &str, d: &mut Diags) -> Option<&'a str> {
    match &e.kind {
        ExprKind::Ident(s) => Some(s),
        _ => {
            d.push(wrong_type(e, "a name", what));
            None
        }
    }
}

/// A name out of a fixed set, mapped to what it means (`options` pairs
/// each name with its value).
pub fn choice<T: Copy>(e: &Expr, what: &str, options: &[(&str, T)], d: &mut Diags) -> Option<T> {
    let names: Vec<&str> = options.iter().map(|&(name, _)| name).collect();
    let word = keyword(e, what, &names, d)?;
    options
        .iter()
        .find(|&&(name, _)| name == word)
        .map(|&(_, value)| value)
}

/// A name out of a fixed set, with "did you mean".
pub fn keyword<'a>(e: &Expr, what: &str, options: &[&'a str], d: &mut Diags) -> Option<&'a str> {
    let word = name(e, what, d)?;
    match options.iter().find(|o| **o == word) {
        Some(o) => Some(o),
        None => {
            d.push(
                Diagnostic::error(
                    Code::UnknownKeyword,
                    e.span,
                    format!("unknown {what} `{word}`"),
                )
                .label(format!("expected {}", one_of(options)))
                .help(hint(word, options)),
            );
            None
        }
    }
}

pub fn string(e: &Expr, what: &str, d: &mut Diags) -> Option<String> {
    match &e.kind {
        ExprKind::Str(s) => Some(s.clone()),
        _ => {
            d.push(wrong_type(e, "a string in double quotes", what));
            None
        }
    }
}

/// A string naming a file: not empty (an empty path is the spec's own
/// directory, which no file reader can open).
pub fn file_path(e: &Expr, what: &str, d: &mut Diags) -> Option<String> {
    let s = string(e, what, d)?;
    if s.trim().is_empty() {
        d.push(
            Diagnostic::error(Code::OutOfRange, e.span, format!("{what} is an empty path"))
                .label("names no file")
                .help("give the file's path, relative to the spec, for example \"params.npz\""),
        );
        return None;
    }
    Some(s)
}

pub fn boolean(e: &Expr, what: &str, d: &mut Diags) -> Option<bool> {
    match &e.kind {
        ExprKind::Ident(w) if w == "true" => Some(true),
        ExprKind::Ident(w) if w == "false" => Some(false),
        ExprKind::Ident(w) => {
            let mut diag = Diagnostic::error(
                Code::UnknownKeyword,
                e.span,
                format!("{what} must be `true` or `false`, found `{w}`"),
            )
            .label("expected `true` or `false`");
            if let Some(s) = did_you_mean(w, ["true", "false"]) {
                diag = diag.help(format!("did you mean `{s}`?"));
            }
            d.push(diag);
            None
        }
        _ => {
            d.push(wrong_type(e, "`true` or `false`", what));
            None
        }
    }
}

// ---------------------------------------------------------------- calls ----

/// The arguments of a call, split into positional and named ones, with the
/// names already checked against what the callee accepts.
pub struct Call<'a> {
    pub name: &'a Ident,
    pub span: Span,
    pub positional: Vec<&'a Expr>,
    named: Vec<(&'a Ident, &'a Expr)>,
    /// Allowed names that were misspelt (`filter=32` for `filters`): already
    /// reported, so they count as given and are not reported missing.
    misspelt: Vec<String>,
    /// Whether a positional argument came after a named one (reported, and
    /// left out of `positional`): a missing positional argument is then not
    /// reported again.
    pub misplaced: bool,
}

impl<'a> Call<'a> {
    /// Reads `e` as a call (a bare name counts as a call with no arguments,
    /// so `relu` and `relu()` mean the same) and checks its argument names.
    pub fn new(e: &'a Expr, allowed: &[&str], d: &mut Diags) -> Option<Call<'a>> {
        match &e.kind {
            ExprKind::Call { name, args } => Some(Self::from_args(name, e.span, args, allowed, d)),
            _ => None,
        }
    }

    pub fn from_args(
        name: &'a Ident,
        span: Span,
        args: &'a [Arg],
        allowed: &[&str],
        d: &mut Diags,
    ) -> Call<'a> {
        let mut call = Call {
            name,
            span,
            positional: Vec::new(),
            named: Vec::new(),
            misspelt: Vec::new(),
            misplaced: false,
        };
        for arg in args {
            match &arg.name {
                None => {
                    if let Some((first, _)) = call.named.first() {
                        d.push(
                            Diagnostic::error(
                                Code::Syntax,
                                arg.value.span,
                                "positional argument after a named one",
                            )
                            .label("give this argument a name")
                            .with_secondary(first.span, "named arguments start here")
                            .help("put positional arguments first"),
                        );
                        call.misplaced = true;
                    } else {
                        call.positional.push(&arg.value);
                    }
                }
                Some(n) => {
                    if !allowed.contains(&n.node.as_str()) {
                        let mut diag = Diagnostic::error(
                            Code::UnknownKeyword,
                            n.span,
                            format!("`{}` takes no argument `{}`", name.node, n.node),
                        )
                        .label("unknown argument");
                        // The argument meant, when there is no doubt which:
                        // it counts as given (`filter=32` is not also a
                        // missing `filters`).
                        let meant = match allowed {
                            [one] => Some(*one),
                            _ => did_you_mean(&n.node, allowed.iter().copied()),
                        };
                        diag = match meant {
                            Some(m) => diag.help(format!("did you mean `{m}`?")),
                            None if allowed.is_empty() => {
                                diag.help(format!("`{}` takes no named arguments", name.node))
                            }
                            None => diag.help(hint(&n.node, allowed)),
                        };
                        d.push(diag);
                        call.misspelt.extend(meant.map(str::to_string));
                    } else if let Some((prev, _)) =
                        call.named.iter().find(|(p, _)| p.node == n.node)
                    {
                        d.push(
                            Diagnostic::error(
                                Code::Duplicate,
                                n.span,
                                format!("argument `{}` is given twice", n.node),
                            )
                            .label("second time")
                            .with_secondary(prev.span, "first time"),
                        );
                    } else {
                        call.named.push((n, &arg.value));
                    }
                }
            }
        }
        call
    }

    pub fn get(&self, name: &str) -> Option<&'a Expr> {
        self.named
            .iter()
            .find(|(n, _)| n.node == name)
            .map(|(_, e)| *e)
    }

    /// Whether `name` was given under a misspelt name (already reported).
    pub fn misspelt(&self, name: &str) -> bool {
        self.misspelt.iter().any(|m| m == name)
    }

    /// A named argument that must be there.
    pub fn require(&self, name: &str, example: &str, d: &mut Diags) -> Option<&'a Expr> {
        let found = self.get(name);
        if found.is_none() && !self.misspelt(name) {
            d.push(
                Diagnostic::error(
                    Code::Missing,
                    self.span,
                    format!("`{}` needs the argument `{name}`", self.name.node),
                )
                .label(format!("`{name}` is missing"))
                .help(format!("add `{example}`")),
            );
        }
        found
    }

    /// Complains about positional arguments past the first `max`.
    pub fn at_most_positional(&self, max: usize, d: &mut Diags) {
        for extra in self.positional.iter().skip(max) {
            d.push(
                Diagnostic::error(
                    Code::WrongType,
                    extra.span,
                    format!(
                        "`{}` takes {max} positional argument{}",
                        self.name.node,
                        if max == 1 { "" } else { "s" }
                    ),
                )
                .label("unexpected argument")
                .help("name the argument, for example `units=10`"),
            );
        }
    }
}

/// A named-argument list that follows a statement (`probe p = x, every=10`).
pub fn trailing<'a>(
    key: &'a Ident,
    span: Span,
    extra: &'a [Arg],
    allowed: &[&str],
    d: &mut Diags,
) -> Call<'a> {
    Call::from_args(key, span, extra, allowed, d)
}
