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

/// Parses a whole file. A line that does not parse becomes one diagnostic
/// and a [`Stmt::Broken`] holding the names read from its start; everything
/// else is kept so the checker can go on.
pub fn parse(source: &str) -> (File, Vec<Diagnostic>) {
    parse_items(source, true)
}

/// `recover`: whether the body of a network block with a broken header is
/// read (not again inside such a body, which keeps nesting cheap).
fn parse_items(source: &str, recover: bool) -> (File, Vec<Diagnostic>) {
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
            Rule::bad_item if pair.as_str().trim() == "}" => {
                let start = pair.as_span().start() + pair.as_str().find('}').unwrap_or(0);
                diags.extend(stray_brace(&mut items, Span::new(start, start + 1), source));
            }
            Rule::bad_item => {
                let (text, offset) = (pair.as_str(), pair.as_span().start());
                let (broken, unclosed) = bad_piece(pair, Rule::item_only, &mut diags);
                let block = recover
                    .then(|| recover_block(&broken, text, offset, &mut diags))
                    .flatten();
                match block {
                    Some(block) => items.push(Item::Block(block)),
                    None => items.push(Item::Stmt(broken)),
                }
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

/// A network or convert block whose header did not parse (reported) but
/// whose braces match: its body is read as usual, so that its layers or
/// settings are checked and known to what uses them. Only headers whose
/// meaning is plain are read: `network NAME ... {` and
/// `convert NAME [from, misspelt] BASE {`.
fn recover_block(
    broken: &Stmt,
    text: &str,
    offset: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<Block> {
    let Stmt::Broken {
        key: Some(kind),
        target: Some(name),
        span,
    } = broken
    else {
        return None;
    };
    let from = match kind.node.as_str() {
        "network" => None,
        "convert" => Some(convert_base(text, offset, name)?),
        _ => return None,
    };
    let open = text.find('{')?;
    let mut depth = 0usize;
    let close = text[open..].char_indices().find_map(|(i, c)| {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        (depth == 0).then_some(open + i)
    })?;
    // Parse the body in place: spaces stand for everything before it, so
    // the spans come out as offsets into the whole source.
    let mut padded = " ".repeat(offset + open + 1);
    padded.push_str(&text[open + 1..close]);
    let (inner, inner_diags) = parse_items(&padded, false);
    diags.extend(inner_diags);
    let body = inner
        .items
        .into_iter()
        .filter_map(|item| match item {
            Item::Stmt(s) => Some(s),
            Item::Block(_) => None, // reported by the header's error
        })
        .collect();
    Some(Block {
        kind: kind.clone(),
        name: Some(name.clone()),
        from,
        body,
        span: *span,
        header: Span::new(span.start, offset + open + 1),
    })
}

/// The base network of a convert header that did not parse, when its
/// meaning is plain: `convert NAME form BASE` (`from` misspelt) or
/// `convert NAME BASE` (`from` left out), followed by `{` or nothing.
fn convert_base(text: &str, offset: usize, name: &Ident) -> Option<Ident> {
    let mut at = name.span.end.checked_sub(offset)?;
    let mut words: Vec<Ident> = Vec::new();
    while let Some(end) = ident_end(text, skip_blanks(text, at)) {
        let start = skip_blanks(text, at);
        words.push(Spanned::new(
            text[start..end].to_string(),
            Span::new(offset + start, offset + end),
        ));
        at = end;
    }
    let rest = text[at..].trim_start_matches([' ', '\t']);
    if !(rest.starts_with('{') || rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    match words.as_slice() {
        [word, base] if crate::check::suggest::did_you_mean(&word.node, ["from"]).is_some() => {
            Some(base.clone())
        }
        [word, base] if word.node == "from" => Some(base.clone()),
        [base] => Some(base.clone()),
        _ => None,
    }
}

/// Whether a top-level item is a statement that belongs in a block: what
/// is left behind when a stray `}` closes a block early.
fn stranded(item: &Item) -> bool {
    match item {
        Item::Block(_) => false,
        Item::Stmt(Stmt::Assign { key, .. }) => key.node != "probe",
        Item::Stmt(Stmt::Broken { key, .. }) => key.as_ref().is_none_or(|k| {
            k.node != "probe" && !crate::check::BLOCK_KINDS.contains(&k.node.as_str())
        }),
        Item::Stmt(_) => true,
    }
}

/// A `}` at the top level, where no block is open. Usually an earlier `}`
/// closed a block too soon and this one was meant to close it: the
/// statements between the two are moved back into the block, and the early
/// `}` is reported, once. Or the block's header lost its `{` (reported where
/// it is missing): the statements become the block's body, and this `}`
/// closes it without a second error.
fn stray_brace(items: &mut Vec<Item>, brace: Span, source: &str) -> Option<Diagnostic> {
    let after = items.iter().rev().take_while(|i| stranded(i)).count();
    let before = items.len().checked_sub(after + 1);
    if let Some(i) = before {
        if let Some(block) = braceless_header(&items[i], source) {
            let body = items
                .drain(i + 1..)
                .filter_map(|it| match it {
                    Item::Stmt(s) => Some(s),
                    Item::Block(_) => None,
                })
                .collect();
            items[i] = Item::Block(Block {
                body,
                span: Span::new(block.span.start, brace.end),
                ..block
            });
            return None;
        }
    }
    let block_at = before.filter(|&i| after > 0 && matches!(items[i], Item::Block(_)));
    let Some(i) = block_at else {
        return Some(
            Diagnostic::error(Code::Syntax, brace, "unexpected `}`")
                .label("no block is open here")
                .help("remove this `}`"),
        );
    };
    let moved: Vec<Stmt> = items
        .drain(i + 1..)
        .filter_map(|it| match it {
            Item::Stmt(s) => Some(s),
            Item::Block(_) => None,
        })
        .collect();
    let Item::Block(b) = &mut items[i] else {
        unreachable!("checked above")
    };
    let early = Span::new(b.span.end.saturating_sub(1), b.span.end);
    b.body.extend(moved);
    b.span = Span::new(b.span.start, brace.end);
    Some(
        Diagnostic::error(
            Code::Syntax,
            early,
            format!(
                "unexpected `}}`: this closes the {} block early",
                b.kind.node
            ),
        )
        .label("the block ends here")
        .with_secondary(brace, "but its statements go on until this `}`")
        .help("remove this `}`"),
    )
}

/// A top-level line that is a block header without its `{`
/// (`network mnist`, `convert spiking from mnist`, `run quick`), as an
/// empty block.
fn braceless_header(item: &Item, source: &str) -> Option<Block> {
    let Item::Stmt(Stmt::Broken {
        key: Some(kind),
        target,
        span,
    }) = item
    else {
        return None;
    };
    let text = source.get(span.start..span.end)?;
    if !crate::check::BLOCK_KINDS.contains(&kind.node.as_str()) || text.contains(['{', '}']) {
        return None;
    }
    let from = match (kind.node.as_str(), target) {
        ("convert", Some(name)) => Some(convert_base(text, span.start, name)?),
        _ => None,
    };
    Some(Block {
        kind: kind.clone(),
        name: target.clone(),
        from,
        body: Vec::new(),
        span: *span,
        header: *span,
    })
}

fn item(pair: Pair<Rule>, diags: &mut Vec<Diagnostic>) -> Option<Item> {
    let inner = pair.into_inner().next()?;
    match inner.as_rule() {
        Rule::block => Some(Item::Block(block(inner, diags))),
        Rule::stmt => Some(Item::Stmt(stmt(inner, diags))),
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
            Rule::from_clause => {
                from = p
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::ident)
                    .map(|p| ident(&p))
            }
            Rule::lbrace => header_end = p.as_span().end(),
            Rule::stmt => body.push(stmt(p, diags)),
            Rule::bad_stmt => body.push(bad_piece(p, Rule::stmt_only, diags).0),
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

/// One statement. A part that cannot be read (a number out of range, which
/// is reported where it is read) makes it a [`Stmt::Broken`].
fn stmt(pair: Pair<Rule>, diags: &mut Vec<Diagnostic>) -> Stmt {
    let span = Span::from(pair.as_span());
    let text = pair.as_str();
    let start = span.start;
    stmt_parts(pair, diags).unwrap_or_else(|| {
        let (key, target) = head(text, start);
        Stmt::Broken { key, target, span }
    })
}

fn stmt_parts(pair: Pair<Rule>, diags: &mut Vec<Diagnostic>) -> Option<Stmt> {
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
    Some(Arg {
        name,
        value: value?,
    })
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
                Diagnostic::error(
                    Code::Syntax,
                    span,
                    format!("number `{text}` is out of range"),
                )
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
/// rule, which fails at the exact column, and keeps what can be read from
/// its start as a [`Stmt::Broken`]. Also returns whether the piece opens a
/// brace it never closes.
fn bad_piece(pair: Pair<Rule>, strict: Rule, diags: &mut Vec<Diagnostic>) -> (Stmt, bool) {
    let text = pair.as_str();
    let offset = pair.as_span().start();
    let (key, target) = head(text, offset);
    let broken = Stmt::Broken {
        key,
        target,
        span: Span::from(pair.as_span()),
    };
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
        return (broken, true);
    }
    if let Some(d) = missing_equals(text, offset, strict == Rule::item_only) {
        diags.push(d);
        return (broken, false);
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
    (broken, false)
}

/// The end of the name starting at byte `at` of `text`, if one does.
fn ident_end(text: &str, at: usize) -> Option<usize> {
    let rest = text.get(at..)?;
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(at + len)
}

/// The first byte at or after `at` that is not a space or a tab.
fn skip_blanks(text: &str, at: usize) -> usize {
    let rest = text.get(at..).unwrap_or("");
    at + rest.len() - rest.trim_start_matches([' ', '\t']).len()
}

/// The names at the start of a line that did not parse: the key, and the
/// name after it when there is one (`loss pred`, `probe rates`,
/// `input image`, `network mnist`). A name followed by `(` is a call, the
/// value rather than a target.
fn head(text: &str, offset: usize) -> (Option<Ident>, Option<Ident>) {
    let name = |start: usize, end: usize| {
        Spanned::new(
            text[start..end].to_string(),
            Span::new(offset + start, offset + end),
        )
    };
    let start = skip_blanks(text, 0);
    let Some(key_end) = ident_end(text, start) else {
        return (None, None);
    };
    let next = skip_blanks(text, key_end);
    let target = ident_end(text, next)
        .filter(|&end| next > key_end && !text[end..].starts_with('('))
        .map(|end| name(next, end));
    (Some(name(start, key_end)), target)
}

/// `scale_firing_rates 50`, `dt 1ms`, `conv1 conv2d(x)`, `network mnist`
/// (in a run block): a key and a value with no `=` between them. pest would say what it expected after
/// the value, which is not where the mistake is.
fn missing_equals(text: &str, offset: usize, top_level: bool) -> Option<Diagnostic> {
    if text.contains('{') {
        return None;
    }
    let start = skip_blanks(text, 0);
    let key_end = ident_end(text, start)?;
    let key = &text[start..key_end];
    // At the top level, `network mnist` is a block header without its `{`.
    if top_level && crate::check::BLOCK_KINDS.contains(&key) {
        return None;
    }
    // Keywords that take a name or an arrow before their `=`.
    if matches!(
        key,
        "input" | "swap" | "synapse" | "probe" | "loss" | "scale"
    ) {
        return None;
    }
    let value = skip_blanks(text, key_end);
    if value == key_end {
        return None;
    }
    let rest = &text[value..];
    let number = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
    // A name is a value when a call follows it or nothing does
    // (`network mnist`); otherwise it may be a target (`loss pred`).
    let name_value = ident_end(text, value).is_some_and(|end| {
        let after = text[end..].trim_start_matches([' ', '\t']);
        after.starts_with('(') || after.is_empty() || after.starts_with('#')
    });
    let value_like = number(rest)
        || rest.starts_with('"')
        || rest.starts_with('\'')
        || (rest.starts_with('-') && number(&rest[1..]))
        || name_value;
    if !value_like {
        return None;
    }
    let shown = rest.trim_end();
    let help = if shown.len() <= 40 && !shown.contains('#') {
        format!("write `{key} = {shown}`")
    } else {
        format!("write `{key} = ...`")
    };
    Some(
        Diagnostic::error(
            Code::Syntax,
            Span::new(offset + key_end, offset + key_end),
            format!("expected `=` after `{key}`"),
        )
        .label("expected `=` here")
        .help(help),
    )
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
    let found_len = found
        .chars()
        .next()
        .filter(|c| *c != '\n' && *c != '\r')
        .map_or(0, char::len_utf8);
    let span = Span::new(offset + start, offset + end.max(start + found_len));
    let (message, expected) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| describe(*r)).collect();
            names.sort_unstable();
            names.dedup();
            let expected = join_or(&names);
            (format!("expected {expected}, found {found_text}"), expected)
        }
        // pest's own resource limits ("stack limit reached", "call limit
        // reached") read like an internal failure; say what the user wrote.
        ErrorVariant::CustomError { message } if message.ends_with("limit reached") => (
            "this text is nested too deeply to be read".to_string(),
            String::new(),
        ),
        ErrorVariant::CustomError { message } => (message.clone(), String::new()),
    };
    let mut help = syntax_help(&expected, found);
    let at_line_end = found.is_empty() || found.starts_with(['\n', '\r']);
    let first_word = &text[..ident_end(text, skip_blanks(text, 0)).unwrap_or(0)];
    if help.is_none()
        && at_line_end
        && expected.contains("`{`")
        && crate::check::BLOCK_KINDS.contains(&first_word.trim())
    {
        help = Some("end the block's header with `{`, and close the block with `}`".into());
        let header = text[..start.min(text.len())]
            .split('#')
            .next()
            .unwrap_or("")
            .trim();
        return Diagnostic::error(
            Code::Syntax,
            span,
            format!("expected `{{` after `{header}`"),
        )
        .label("expected `{` here")
        .help(help.unwrap_or_default());
    }
    let label = if expected.is_empty() {
        "here".to_string()
    } else {
        format!("expected {expected}")
    };
    // A `"` where a value belongs is the start of a string; if nothing
    // closes it on this line, say so rather than "expected a value".
    let (message, label) = if found.starts_with('"') && !closes_string(&found[1..]) {
        (
            "this string is never closed".to_string(),
            "no closing `\"` on this line".to_string(),
        )
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
    if expected.contains("`from`") {
        let word: String = found
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
            .collect();
        if crate::check::suggest::did_you_mean(&word, ["from"]).is_some() {
            return Some("did you mean `from`?".into());
        }
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

    /// A stray `}` next to non-ASCII characters (letters, emoji, Unicode
    /// spaces and line separators) gets spans on character boundaries, in
    /// every kind of place a `}` can be stray.
    #[test]
    fn stray_braces_next_to_non_ascii_get_char_boundary_spans() {
        let before = [
            "",
            "network n {\n    input x: 4\n",
            "network n {\n    input x: 4\n}\n",
            "network n {\n    input x: 4\n}\n    y = dense(x, units=2)\n",
            "run {\n",
            "probe p = q ",
        ];
        let brace = ["}", " }", "é}", "\u{a0}}"];
        let next = [
            "", "é", "😀", "\u{a0}", "\u{3000}", "\u{85}", "\u{2028}", "é}", "\r", "\ré", "\u{301}",
        ];
        let end = ["", "\n", "\n}\n", " x\n", "\né\n"];
        for b in before {
            for r in brace {
                for n in next {
                    for e in end {
                        let src = format!("{b}{r}{n}{e}");
                        let checked = crate::check_source(&src);
                        for d in &checked.diagnostics {
                            let spans = std::iter::once(d.primary.span)
                                .chain(d.secondary.iter().map(|l| l.span));
                            for sp in spans {
                                assert!(
                                    sp.start <= sp.end
                                        && sp.end <= src.len()
                                        && src.is_char_boundary(sp.start)
                                        && src.is_char_boundary(sp.end),
                                    "{src:?}: {sp:?} for {}",
                                    d.message
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn parses_blocks_and_statements() {
        let file = ok("network n {\n  input x: 28x28x1\n  y = dense(x, units=10)\n}\nprobe p = y, sample_every=10\n");
        assert_eq!(file.items.len(), 2);
        let Item::Block(b) = &file.items[0] else {
            panic!()
        };
        assert_eq!(b.kind.node, "network");
        assert_eq!(b.name.as_ref().map(|n| n.node.as_str()), Some("n"));
        assert_eq!(b.body.len(), 2);
        let Item::Stmt(Stmt::Assign {
            key, target, extra, ..
        }) = &file.items[1]
        else {
            panic!()
        };
        assert_eq!(key.node, "probe");
        assert_eq!(target.as_ref().map(|t| t.node.as_str()), Some("p"));
        assert_eq!(extra.len(), 1);
    }

    #[test]
    fn parses_values() {
        let file = ok("run {\n dt = 1ms\n x = 28x28x1\n s = \"a\\\"b\"\n n = -1.5e-3\n c = f(a, b=2,\n   c=3Hz,\n)\n}\n");
        let Item::Block(b) = &file.items[0] else {
            panic!()
        };
        let values: Vec<&ExprKind> = b
            .body
            .iter()
            .map(|s| match s {
                Stmt::Assign { value, .. } => &value.kind,
                _ => panic!(),
            })
            .collect();
        assert!(
            matches!(values[0], ExprKind::Quantity { value, unit } if *value == 1.0 && unit.node == "ms")
        );
        assert_eq!(values[1], &ExprKind::Shape(vec![28, 28, 1]));
        assert_eq!(values[2], &ExprKind::Str("a\"b".into()));
        assert_eq!(values[3], &ExprKind::Number(-1.5e-3));
        assert!(matches!(values[4], ExprKind::Call { args, .. } if args.len() == 3));
    }

    #[test]
    fn convert_block_with_arrows() {
        let file = ok("convert s from n {\n swap relu -> lif(tau_rc=20ms)\n synapse a -> b = lowpass(5ms)\n}\n");
        let Item::Block(b) = &file.items[0] else {
            panic!()
        };
        assert_eq!(b.from.as_ref().map(|f| f.node.as_str()), Some("n"));
        assert!(matches!(&b.body[1], Stmt::Arrow { value: Some(_), .. }));
    }

    #[test]
    fn one_diagnostic_per_bad_line_and_the_rest_survives() {
        let src = "network n {\n  input x: 4\n  y = dense(x units=3)\n  z = dense(y, units=2\n  w = dense(z, units=1)\n}\n";
        let (file, diags) = parse(src);
        assert_eq!(diags.len(), 2, "{diags:#?}");
        // `units=3)` is where the comma is missing.
        assert_eq!(
            &src[diags[0].primary.span.start..diags[0].primary.span.start + 5],
            "units"
        );
        let Item::Block(b) = &file.items[0] else {
            panic!()
        };
        // input and w, and the two broken lines with the names they define.
        assert_eq!(b.body.len(), 4);
        let broken: Vec<&str> = b
            .body
            .iter()
            .filter_map(|s| match s {
                Stmt::Broken { key, .. } => key.as_ref().map(|k| k.node.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(broken, ["y", "z"]);
    }

    #[test]
    fn broken_lines_keep_their_leading_names() {
        let heads = |line: &str| {
            let (k, t) = head(line, 0);
            (k.map(|k| k.node), t.map(|t| t.node))
        };
        let s = |x: &str| Some(x.to_string());
        assert_eq!(heads("  conv1 = conv2d(x"), (s("conv1"), None));
        assert_eq!(heads("loss pred = mse("), (s("loss"), s("pred")));
        assert_eq!(heads("input image 28x28"), (s("input"), s("image")));
        assert_eq!(heads("conv1 conv2d(x)"), (s("conv1"), None));
        assert_eq!(heads("= 3"), (None, None));
    }

    #[test]
    fn a_key_and_a_value_without_equals() {
        let (_, diags) = parse("run {\n  dt 1ms\n  network mnist\n}\n");
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            ["expected `=` after `dt`", "expected `=` after `network`"]
        );
        // Right after the key.
        assert_eq!(diags[0].primary.span, Span::new(10, 10));
    }

    #[test]
    fn a_stray_brace_is_one_error_and_the_block_keeps_its_lines() {
        let src = "network n {\n  input x: 4\n  }\n  y = dense(x, units=2)\n}\nprobe p = y\n";
        let (file, diags) = parse(src);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert!(diags[0].message.contains("closes the network block early"));
        assert_eq!(
            &src[diags[0].primary.span.start..diags[0].primary.span.end],
            "}"
        );
        assert_eq!(file.items.len(), 2);
        let Item::Block(b) = &file.items[0] else {
            panic!()
        };
        assert_eq!(b.body.len(), 2);
        let (_, diags) = parse("network n {\n  input x: 4\n}\n}\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].message, "unexpected `}`");
    }

    #[test]
    fn blocks_with_broken_headers_keep_their_bodies() {
        let body = "  input x: 4\n  y = dense(x, units=2)\n}\n";
        for header in [
            "network n extra {\n",
            "network n\n",
            "netwrk n {\n",
            "convert s form n {\n",
            "convert s n\n",
        ] {
            let src = format!("{header}{body}");
            let (file, diags) = parse(&src);
            assert!(diags.len() <= 1, "{header:?}: {diags:#?}");
            let [Item::Block(b)] = file.items.as_slice() else {
                panic!("{header:?}: {:#?}", file.items)
            };
            assert_eq!(b.body.len(), 2, "{header:?}");
            assert_eq!(b.span.end, src.len() - 1, "{header:?}");
            if header.starts_with("convert") {
                assert_eq!(b.from.as_ref().map(|f| f.node.as_str()), Some("n"));
            }
            for s in &b.body {
                let span = s.span();
                assert!(
                    src[span.start..span.end].starts_with(['i', 'y']),
                    "{header:?}"
                );
            }
        }
    }

    #[test]
    fn unclosed_block_is_one_error() {
        let (_, diags) = parse("network n {\n  input x: 4\n  y = dense(x, units=3)\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::UnclosedBlock);
    }

    #[test]
    fn spans_stay_in_bounds_on_odd_text() {
        for src in [
            "{",
            "}",
            "((",
            "x = \"abc",
            "network {",
            "µ = 1",
            "a = 1.",
            "\u{0}",
            "a b c d",
        ] {
            let (_, diags) = parse(src);
            for d in diags {
                assert!(d.primary.span.end <= src.len(), "{src:?}: {d:?}");
            }
        }
    }
}
