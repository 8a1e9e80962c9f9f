//! The pest parser and the walk from pest pairs to the AST.

use pest::iterators::Pair;
use pest::Parser as _;
use pest_derive::Parser;

use super::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{Span, Spanned};

#[derive(Parser)]
#[grammar = "../grammar/snn.pest"]
struct SnnParser;

/// Parses a whole file. Lines that do not parse become diagnostics and are
/// left out of the tree; everything else is kept so the checker can go on.
pub fn parse(source: &str) -> (File, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut items = Vec::new();
    let pairs = match SnnParser::parse(Rule::file, source) {
        Ok(pairs) => pairs,
        Err(e) => {
            // The grammar has a fallback for every line, so this is reached
            // only on text pest cannot even split into lines.
            diags.push(pest_error(&e, source, 0));
            return (File { items }, diags);
        }
    };
    for pair in pairs.flatten() {
        match pair.as_rule() {
            Rule::item => {
                if let Some(item) = item(pair, &mut diags) {
                    items.push(item);
                }
            }
            Rule::bad_item => {
                let unclosed = bad_piece(pair, Rule::item_only, &mut diags);
                if unclosed {
                    // What follows an unclosed `{` would be read as top-level
                    // statements and give a cascade of confusing errors.
                    break;
                }
            }
            _ => {}
        }
    }
    (File { items }, diags)
}

fn item(pair: Pair<Rule>, diags: &mut Vec<Diagnostic>) -> Option<Item> {
    let inner = pair.into_inner().next()?;
    match inner.as_rule() {
        Rule::block => Some(Item::Block(block(inner, diags))),
        Rule::stmt => stmt(inner, diags).map(Item::Stmt),
        _ => None,
    }
}

fn block(pair: Pair<Rule>, diags: &mut Vec<Diagnostic>) -> Block {
    let span = Span::from(pair.as_span());
    let mut kind = None;
    let mut name = None;
    let mut from = None;
    let mut header_end = span.end;
    let mut body = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident if kind.is_none() => kind = Some(ident(&p)),
            Rule::ident => name = Some(ident(&p)),
            Rule::from_clause => from = p.into_inner().find(|p| p.as_rule() == Rule::ident).map(|p| ident(&p)),
            Rule::lbrace => header_end = p.as_span().end(),
            Rule::stmt => body.extend(stmt(p, diags)),
            Rule::bad_stmt => {
                bad_piece(p, Rule::stmt_only, diags);
            }
            _ => {}
        }
    }
    let kind = kind.unwrap_or_else(|| Spanned::new(String::new(), span));
    Block {
        header: Span::new(span.start, header_end),
        kind,
        name,
        from,
        body,
        span,
    }
}

fn stmt(pair: Pair<Rule>, diags: &mut Vec<Diagnostic>) -> Option<Stmt> {
    let inner = pair.into_inner().next()?;
    let span = Span::from(inner.as_span());
    let rule = inner.as_rule();
    let mut parts = inner.into_inner().filter(|p| {
        !matches!(
            p.as_rule(),
            Rule::colon | Rule::equals | Rule::arrow | Rule::comma | Rule::kw_input
        )
    });
    match rule {
        Rule::input_stmt => {
            let name = ident(&parts.next()?);
            let shape = expr(parts.next()?, diags)?;
            Some(Stmt::Input { name, shape, span })
        }
        Rule::arrow_stmt => {
            let key = ident(&parts.next()?);
            let from = expr(parts.next()?, diags)?;
            let to = expr(parts.next()?, diags)?;
            let value = match parts.next() {
                Some(p) => Some(expr(p, diags)?),
                None => None,
            };
            Some(Stmt::Arrow {
                key,
                from,
                to,
                value,
                span,
            })
        }
        Rule::assign_stmt => {
            let key = ident(&parts.next()?);
            let mut next = parts.next()?;
            let target = if next.as_rule() == Rule::ident {
                let t = ident(&next);
                next = parts.next()?;
                Some(t)
            } else {
                None
            };
            let value = expr(next, diags)?;
            let mut extra = Vec::new();
            for p in parts {
                extra.push(arg(p, diags)?);
            }
            Some(Stmt::Assign {
                key,
                target,
                value,
                extra,
                span,
            })
        }
        _ => None,
    }
}

fn arg(pair: Pair<Rule>, diags: &mut Vec<Diagnostic>) -> Option<Arg> {
    let mut name = None;
    let mut value = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident => name = Some(ident(&p)),
            Rule::expr => value = expr(p, diags),
            _ => {}
        }
    }
    Some(Arg { name, value: value? })
}

fn expr(pair: Pair<Rule>, diags: &mut Vec<Diagnostic>) -> Option<Expr> {
    let inner = pair.into_inner().next()?;
    let span = Span::from(inner.as_span());
    let text = inner.as_str();
    let kind = match inner.as_rule() {
        Rule::number => ExprKind::Number(number(text, span, diags)?),
        Rule::quantity => {
            let mut parts = inner.into_inner();
            let num = parts.next()?;
            let value = number(num.as_str(), Span::from(num.as_span()), diags)?;
            let unit = ident(&parts.next()?);
            ExprKind::Quantity { value, unit }
        }
        Rule::shape => {
            let mut dims = Vec::new();
            for d in text.split('x') {
                match d.parse::<u64>() {
                    Ok(n) => dims.push(n),
                    Err(_) => {
                        diags.push(
                            Diagnostic::error(Code::Syntax, span, "shape dimension is too large")
                                .label("does not fit in 64 bits"),
                        );
                        return None;
                    }
                }
            }
            ExprKind::Shape(dims)
        }
        Rule::string => {
            let raw = inner.into_inner().next().map_or("", |p| p.as_str());
            ExprKind::Str(unescape(raw))
        }
        Rule::ident => ExprKind::Ident(text.to_string()),
        Rule::call => {
            let mut name = None;
            let mut args = Vec::new();
            for p in inner.into_inner() {
                match p.as_rule() {
                    Rule::ident => name = Some(ident(&p)),
                    Rule::arg => args.push(arg(p, diags)?),
                    _ => {}
                }
            }
            ExprKind::Call { name: name?, args }
        }
        _ => return None,
    };
    Some(Expr { kind, span })
}

fn number(text: &str, span: Span, diags: &mut Vec<Diagnostic>) -> Option<f64> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            diags.push(
                Diagnostic::error(Code::Syntax, span, format!("number `{text}` is out of range"))
                    .label("not a finite 64-bit float"),
            );
            None
        }
    }
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn ident(pair: &Pair<Rule>) -> Ident {
    Spanned::new(pair.as_str().to_string(), Span::from(pair.as_span()))
}

/// Reports a line that did not parse by parsing it again with the strict
/// rule, which fails at the exact column. Returns whether the piece opens a
/// brace it never closes.
fn bad_piece(pair: Pair<Rule>, strict: Rule, diags: &mut Vec<Diagnostic>) -> bool {
    let text = pair.as_str();
    let offset = pair.as_span().start();
    let opens = text.matches('{').count();
    let closes = text.matches('}').count();
    if opens > closes {
        let brace = offset + text.find('{').unwrap_or(0);
        diags.push(
            Diagnostic::error(
                Code::UnclosedBlock,
                Span::new(brace, brace + 1),
                "this block is never closed",
            )
            .label("this `{` has no matching `}`")
            .help("add a `}` on its own line after the block's last statement"),
        );
        return true;
    }
    match SnnParser::parse(strict, text) {
        Err(e) => diags.push(pest_error(&e, text, offset)),
        Ok(_) => diags.push(
            Diagnostic::error(
                Code::Syntax,
                Span::new(offset, offset + text.len()),
                "this line could not be read",
            )
            .help("put each statement on its own line"),
        ),
    }
    false
}

fn pest_error(e: &pest::error::Error<Rule>, text: &str, offset: usize) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((s, e)) => (s, e),
    };
    let found = text.get(start..).unwrap_or("");
    let found_text = found.chars().next().map_or("end of line".to_string(), |c| {
        if c == '\n' || c == '\r' {
            "end of line".to_string()
        } else {
            format!("`{c}`")
        }
    });
    // Underline one character (or the point at the end of the line).
    let found_len = found.chars().next().filter(|c| *c != '\n' && *c != '\r').map_or(0, char::len_utf8);
    let span = Span::new(offset + start, offset + end.max(start + found_len));
    let (message, expected) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| describe(*r)).collect();
            names.sort_unstable();
            names.dedup();
            let expected = join_or(&names);
            (
                format!("expected {expected}, found {found_text}"),
                expected,
            )
        }
        // pest's own resource limits ("stack limit reached", "call limit
        // reached") read like an internal failure; say what the user wrote.
        ErrorVariant::CustomError { message } if message.ends_with("limit reached") => {
            ("this text is nested too deeply to be read".to_string(), String::new())
        }
        ErrorVariant::CustomError { message } => (message.clone(), String::new()),
    };
    let help = syntax_help(&expected, found);
    let label = if expected.is_empty() {
        "here".to_string()
    } else {
        format!("expected {expected}")
    };
    // A `"` where a value belongs is the start of a string; if nothing
    // closes it on this line, say so rather than "expected a value".
    let (message, label) = if found.starts_with('"') && !closes_string(&found[1..]) {
        ("this string is never closed".to_string(), "no closing `\"` on this line".to_string())
    } else {
        (message, label)
    };
    let mut d = Diagnostic::error(Code::Syntax, span, message).label(label);
    if let Some(h) = help {
        d = d.help(h);
    }
    d
}

/// Whether the rest of a string literal (after its opening `"`) has a
/// closing `"` before the end of the line.
fn closes_string(rest: &str) -> bool {
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return true,
            '\\' => {
                chars.next();
            }
            '\n' | '\r' => return false,
            _ => {}
        }
    }
    false
}

/// A short hint for the most common slips.
fn syntax_help(expected: &str, found: &str) -> Option<String> {
    let c = found.chars().next();
    if expected.contains("`)`") && !expected.contains("a value") {
        return Some("arguments are separated by `,` and the list ends with `)`".into());
    }
    if c == Some('"') || found.starts_with('\'') {
        return Some("strings use double quotes and end on the same line".into());
    }
    if c == Some(')') && expected.contains("end of line") {
        return Some("this `)` has no matching `(`; remove it".into());
    }
    if expected.contains("`->`") && !expected.contains("`=`") {
        return Some("settings are written `key = value`; only `swap a -> b` and `synapse a -> b = ...` use an arrow".into());
    }
    if expected.contains("end of line") {
        return Some("put each statement on its own line".into());
    }
    if found.starts_with(|ch: char| ch.is_ascii_digit()) && expected.contains("a name") {
        return Some("names start with a letter or `_`".into());
    }
    None
}

fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "a name",
        Rule::expr | Rule::call | Rule::shape | Rule::quantity | Rule::number | Rule::string => {
            "a value"
        }
        Rule::int => "a whole number",
        Rule::unit => "a unit",
        Rule::arg => "an argument",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::equals => "`=`",
        Rule::arrow => "`->`",
        Rule::colon => "`:`",
        Rule::comma => "`,`",
        Rule::EOI => "end of line",
        Rule::stmt | Rule::input_stmt | Rule::arrow_stmt | Rule::assign_stmt => "a statement",
        Rule::block | Rule::item => "a block or statement",
        Rule::from_clause | Rule::kw_from => "`from`",
        Rule::kw_input => "`input`",
        _ => return None,
    })
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> File {
        let (file, diags) = parse(src);
        assert!(diags.is_empty(), "unexpected diagnostics: {diags:#?}");
        file
    }

    #[test]
    fn parses_blocks_and_statements() {
        let file = ok("network n {\n  input x: 28x28x1\n  y = dense(x, units=10)\n}\nprobe p = y, sample_every=10\n");
        assert_eq!(file.items.len(), 2);
        let Item::Block(b) = &file.items[0] else { panic!() };
        assert_eq!(b.kind.node, "network");
        assert_eq!(b.name.as_ref().map(|n| n.node.as_str()), Some("n"));
        assert_eq!(b.body.len(), 2);
        let Item::Stmt(Stmt::Assign { key, target, extra, .. }) = &file.items[1] else { panic!() };
        assert_eq!(key.node, "probe");
        assert_eq!(target.as_ref().map(|t| t.node.as_str()), Some("p"));
        assert_eq!(extra.len(), 1);
    }

    #[test]
    fn parses_values() {
        let file = ok("run {\n dt = 1ms\n x = 28x28x1\n s = \"a\\\"b\"\n n = -1.5e-3\n c = f(a, b=2,\n   c=3Hz,\n)\n}\n");
        let Item::Block(b) = &file.items[0] else { panic!() };
        let values: Vec<&ExprKind> = b
            .body
            .iter()
            .map(|s| match s {
                Stmt::Assign { value, .. } => &value.kind,
                _ => panic!(),
            })
            .collect();
        assert!(matches!(values[0], ExprKind::Quantity { value, unit } if *value == 1.0 && unit.node == "ms"));
        assert_eq!(values[1], &ExprKind::Shape(vec![28, 28, 1]));
        assert_eq!(values[2], &ExprKind::Str("a\"b".into()));
        assert_eq!(values[3], &ExprKind::Number(-1.5e-3));
        assert!(matches!(values[4], ExprKind::Call { args, .. } if args.len() == 3));
    }

    #[test]
    fn convert_block_with_arrows() {
        let file = ok("convert s from n {\n swap relu -> lif(tau_rc=20ms)\n synapse a -> b = lowpass(5ms)\n}\n");
        let Item::Block(b) = &file.items[0] else { panic!() };
        assert_eq!(b.from.as_ref().map(|f| f.node.as_str()), Some("n"));
        assert!(matches!(&b.body[1], Stmt::Arrow { value: Some(_), .. }));
    }

    #[test]
    fn one_diagnostic_per_bad_line_and_the_rest_survives() {
        let src = "network n {\n  input x: 4\n  y = dense(x units=3)\n  z = dense(y, units=2\n  w = dense(z, units=1)\n}\n";
        let (file, diags) = parse(src);
        assert_eq!(diags.len(), 2, "{diags:#?}");
        // `units=3)` is where the comma is missing.
        assert_eq!(&src[diags[0].primary.span.start..diags[0].primary.span.start + 5], "units");
        let Item::Block(b) = &file.items[0] else { panic!() };
        assert_eq!(b.body.len(), 2); // input and w
    }

    #[test]
    fn unclosed_block_is_one_error() {
        let (_, diags) = parse("network n {\n  input x: 4\n  y = dense(x, units=3)\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::UnclosedBlock);
    }

    #[test]
    fn spans_stay_in_bounds_on_odd_text() {
        for src in ["{", "}", "((", "x = \"abc", "network {", "µ = 1", "a = 1.", "\u{0}", "a b c d"] {
            let (_, diags) = parse(src);
            for d in diags {
                assert!(d.primary.span.end <= src.len(), "{src:?}: {d:?}");
            }
        }
    }
}
