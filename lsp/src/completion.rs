//! Completion: keywords, setting keys, layer kinds, neuron types,
//! activations, synapses and the names in scope where the cursor is.
//!
//! The context is read from the text before the cursor, not from the syntax
//! tree, because the line being typed rarely parses: a scan finds the
//! enclosing block (by braces, skipping comments and strings) and the
//! statement so far (which may span lines inside parentheses).

use gen_lsp_types::{CompletionItem, CompletionItemKind};
use snnc_compiler::check::vocabulary::{
    self, ACTIVATIONS, BLOCK_KINDS, DATA_SOURCES, LAYER_KINDS, LOSSES, NEURONS, OPTIMIZERS,
    PROBE_ARGS,
};
use snnc_compiler::index::Index;

use crate::hover::keyword_doc;

/// What the text before the cursor says about where it is.
#[derive(Debug, Default, PartialEq)]
struct Context {
    /// The words of the enclosing block's header (`convert`, `s`, `from`,
    /// `mnist`); empty at the top level.
    header: Vec<String>,
    /// The statement so far, without comments, without the word being typed.
    tokens: Vec<Tok>,
    /// The word being typed.
    prefix: String,
    /// Inside a comment or a string: nothing to complete.
    quiet: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    /// Any other character: `=`, `(`, `,`, `-`, `>`, `:`, a digit-led value...
    Punct(char),
    /// A string literal.
    Str,
}

fn scan(before: &str) -> Context {
    let mut stack: Vec<String> = Vec::new();
    let mut stmt = String::new();
    let mut paren = 0usize;
    let mut chars = before.chars().peekable();
    let (mut in_comment, mut in_string) = (false, false);
    while let Some(c) = chars.next() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
            } else {
                continue;
            }
        }
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_string = false;
                    stmt.push('"');
                }
                '\n' => in_string = false,
                _ => {}
            }
            if in_string || c != '\n' {
                continue;
            }
        }
        match c {
            '#' => in_comment = true,
            '"' => {
                in_string = true;
                stmt.push('"');
            }
            '(' => {
                paren += 1;
                stmt.push(c);
            }
            ')' => {
                paren = paren.saturating_sub(1);
                stmt.push(c);
            }
            '{' => {
                stack.push(std::mem::take(&mut stmt));
                paren = 0;
            }
            '}' => {
                stack.pop();
                stmt.clear();
                paren = 0;
            }
            '\n' | '\r' if paren == 0 => stmt.clear(),
            _ => stmt.push(c),
        }
    }
    let header = stack.last().map(|h| words(h)).unwrap_or_default();
    let mut tokens = tokenize(&stmt);
    let prefix = match tokens.last() {
        Some(Tok::Word(w)) if !stmt.ends_with(char::is_whitespace) => {
            let w = w.clone();
            tokens.pop();
            w
        }
        _ => String::new(),
    };
    Context {
        header,
        tokens,
        prefix,
        quiet: in_comment || in_string,
    }
}

fn words(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter_map(|t| match t {
            Tok::Word(w) => Some(w),
            _ => None,
        })
        .collect()
}

fn tokenize(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            if c == '"' {
                in_string = false;
                out.push(Tok::Str);
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut w = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' {
                    w.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Word(w));
        } else if c.is_ascii_digit() || (c == '.' && chars.peek().is_some_and(char::is_ascii_digit))
        {
            // A number, quantity or shape: one value.
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '.')
            {
                chars.next();
            }
            out.push(Tok::Punct('0'));
        } else if !c.is_whitespace() {
            out.push(Tok::Punct(c));
        }
    }
    out
}

fn w(t: &Tok) -> Option<&str> {
    match t {
        Tok::Word(w) => Some(w.as_str()),
        _ => None,
    }
}

/// Where inside a call the cursor is: the call's name, whether an argument
/// name was just written (`name=`), and how many positional arguments came
/// before.
struct CallSite {
    name: String,
    arg_name: Option<String>,
    positional: usize,
}

fn call_site(tokens: &[Tok]) -> Option<CallSite> {
    // The innermost unclosed `(`.
    let mut depth = 0usize;
    let mut open = None;
    for (i, t) in tokens.iter().enumerate().rev() {
        match t {
            Tok::Punct(')') => depth += 1,
            Tok::Punct('(') if depth == 0 => {
                open = Some(i);
                break;
            }
            Tok::Punct('(') => depth -= 1,
            _ => {}
        }
    }
    let open = open?;
    let name = match open.checked_sub(1).map(|i| &tokens[i]) {
        Some(Tok::Word(w)) => w.clone(),
        _ => String::new(),
    };
    let inner = &tokens[open + 1..];
    // The current argument starts after the last top-level comma.
    let mut depth = 0usize;
    let mut positional = 0usize;
    let mut arg_start = 0usize;
    for (i, t) in inner.iter().enumerate() {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            Tok::Punct(',') if depth == 0 => {
                let arg = &inner[arg_start..i];
                if !matches!(arg, [Tok::Word(_), Tok::Punct('='), ..]) {
                    positional += 1;
                }
                arg_start = i + 1;
            }
            _ => {}
        }
    }
    let arg_name = match &inner[arg_start..] {
        [Tok::Word(w), Tok::Punct('=')] => Some(w.clone()),
        _ => None,
    };
    if !inner[arg_start..].is_empty() && arg_name.is_none() {
        // In the middle of a value: nothing sensible to offer.
        return Some(CallSite {
            name: String::new(),
            arg_name: None,
            positional: usize::MAX,
        });
    }
    Some(CallSite {
        name,
        arg_name,
        positional,
    })
}

/// Completion items for the cursor at byte `offset` of `text`.
pub fn complete(index: &Index, text: &str, offset: usize) -> Vec<CompletionItem> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let cx = scan(&text[..offset]);
    if cx.quiet {
        return Vec::new();
    }
    let mut out = Items::default();
    let kind = cx.header.first().map(String::as_str);
    let block_name = cx.header.get(1).filter(|w| *w != "from").cloned();
    let base = cx
        .header
        .iter()
        .position(|w| w == "from")
        .and_then(|i| cx.header.get(i + 1))
        .cloned();
    let toks: Vec<&Tok> = cx.tokens.iter().collect();

    if let Some(call) = call_site(&cx.tokens) {
        complete_call(index, &call, kind, block_name.as_deref(), offset, &mut out);
        return out.0;
    }

    match kind {
        None => match toks.as_slice() {
            [] => {
                for k in BLOCK_KINDS.iter().chain(&["probe"]) {
                    out.keyword(k);
                }
            }
            [t, _name] if w(t) == Some("convert") => out.keyword("from"),
            [t, _name, f] if w(t) == Some("convert") && w(f) == Some("from") => out.networks(index),
            [t, _name, Tok::Punct('=')] if w(t) == Some("probe") => out.all_layers(index),
            [t, _name, Tok::Punct('='), _target, Tok::Punct(',')] if w(t) == Some("probe") => {
                for a in PROBE_ARGS {
                    out.arg(a);
                }
            }
            _ => {}
        },
        Some("network") => match toks.as_slice() {
            [] => out.keyword("input"),
            [_name, Tok::Punct('=')] => {
                for k in LAYER_KINDS {
                    out.item(k, CompletionItemKind::Function, "layer kind");
                }
            }
            _ => {}
        },
        Some("convert") => {
            let layers = |out: &mut Items| {
                if let Some(b) = &base {
                    out.layers_of(index, b, usize::MAX);
                }
            };
            match toks.as_slice() {
                [] => {
                    for k in vocabulary::CONVERT.all() {
                        out.keyword(k);
                    }
                }
                [k] if w(k) == Some("swap") => {
                    for a in ACTIVATIONS.iter().filter(|a| **a != "linear") {
                        out.item(a, CompletionItemKind::EnumMember, "activation");
                    }
                    layers(&mut out);
                }
                [k, _, Tok::Punct('-'), Tok::Punct('>')] if w(k) == Some("swap") => out.neurons(),
                [k] if w(k) == Some("scale") => layers(&mut out),
                [k] if w(k) == Some("synapse") => {
                    layers(&mut out);
                    out.item(
                        "bias",
                        CompletionItemKind::Keyword,
                        "a layer's bias connection",
                    );
                }
                [k, _, Tok::Punct('-'), Tok::Punct('>')] if w(k) == Some("synapse") => {
                    layers(&mut out)
                }
                [k, Tok::Punct('=')]
                | [k, _, Tok::Punct('-'), Tok::Punct('>'), _, Tok::Punct('=')]
                    if w(k) == Some("synapse") =>
                {
                    out.synapses()
                }
                [k, Tok::Punct('=')] if w(k) == Some("initial_voltage") => {
                    out.item(
                        "uniform",
                        CompletionItemKind::Function,
                        "uniform in [0, 1) from the run's seed (the default), or `uniform(seed=N)`",
                    );
                    out.item(
                        "zero",
                        CompletionItemKind::EnumMember,
                        "every neuron starts at 0",
                    );
                }
                _ => {}
            }
        }
        Some(block @ ("train" | "run")) => match toks.as_slice() {
            [] => {
                for k in vocabulary::block(block)
                    .map(|b| b.all())
                    .unwrap_or_default()
                {
                    out.keyword(k);
                }
            }
            [k, Tok::Punct('=')] => match w(k) {
                Some("network") => {
                    out.networks(index);
                    for v in &index.variants {
                        out.item(&v.name, CompletionItemKind::Module, "convert variant");
                    }
                }
                Some("data") => {
                    for s in DATA_SOURCES {
                        out.item(s, CompletionItemKind::Function, "data source");
                    }
                }
                Some("optimizer") => {
                    for s in OPTIMIZERS {
                        out.item(s, CompletionItemKind::Function, "optimizer");
                    }
                }
                Some("precision") => {
                    out.item(
                        "f32",
                        CompletionItemKind::EnumMember,
                        "single precision (default)",
                    );
                    out.item("f64", CompletionItemKind::EnumMember, "double precision");
                }
                Some("report") => out.item(
                    "accuracy",
                    CompletionItemKind::Function,
                    "`accuracy(PROBE, at=last)`",
                ),
                _ => {}
            },
            [k] if w(k) == Some("loss") => out.probes(index),
            [k, _, Tok::Punct('=')] if w(k) == Some("loss") => {
                for s in LOSSES {
                    out.item(s, CompletionItemKind::Function, "loss");
                }
            }
            _ => {}
        },
        _ => {}
    }
    out.0
}

fn complete_call(
    index: &Index,
    call: &CallSite,
    kind: Option<&str>,
    block_name: Option<&str>,
    offset: usize,
    out: &mut Items,
) {
    if let Some(arg) = &call.arg_name {
        match (call.name.as_str(), arg.as_str()) {
            (_, "activation") => out.activations(),
            (_, "padding") => {
                out.item(
                    "valid",
                    CompletionItemKind::EnumMember,
                    "no padding (default)",
                );
                out.item(
                    "same",
                    CompletionItemKind::EnumMember,
                    "TensorFlow's 'same' padding",
                );
            }
            (_, "bias" | "from_logits") => {
                out.item("true", CompletionItemKind::EnumMember, "");
                out.item("false", CompletionItemKind::EnumMember, "");
            }
            (_, "split") => {
                out.item("train", CompletionItemKind::EnumMember, "");
                out.item("test", CompletionItemKind::EnumMember, "");
            }
            (_, "synapse") => out.synapses(),
            ("accuracy", "at") => out.item("last", CompletionItemKind::EnumMember, "the last step"),
            _ => {}
        }
        return;
    }
    if call.positional == usize::MAX {
        return;
    }
    for a in vocabulary::call_args(&call.name).unwrap_or_default() {
        out.arg(a);
    }
    // Positional arguments that are names.
    let in_network = kind == Some("network") && LAYER_KINDS.contains(&call.name.as_str());
    if in_network {
        let takes_layer = call.name == "add" || call.positional == 0;
        if takes_layer {
            if let Some(net) = block_name {
                out.layers_of(index, net, offset);
            }
        } else if call.name == "activation" && call.positional == 1 {
            out.activations();
        }
    } else if call.name == "accuracy" && call.positional == 0 {
        out.probes(index);
    }
}

#[derive(Default)]
struct Items(Vec<CompletionItem>);

impl Items {
    fn item(&mut self, label: &str, kind: CompletionItemKind, detail: &str) {
        if self.0.iter().any(|i| i.label == label) {
            return;
        }
        let documentation = keyword_doc(label).map(Into::into);
        self.0.push(CompletionItem {
            label: label.to_string(),
            kind: Some(kind),
            detail: (!detail.is_empty()).then(|| detail.to_string()),
            documentation,
            ..Default::default()
        });
    }

    fn keyword(&mut self, k: &str) {
        self.item(k, CompletionItemKind::Keyword, "");
    }

    /// A named argument, inserted as `name=`.
    fn arg(&mut self, name: &str) {
        let label = format!("{name}=");
        if self.0.iter().any(|i| i.label == label) {
            return;
        }
        self.0.push(CompletionItem {
            label,
            kind: Some(CompletionItemKind::Property),
            detail: Some("argument".into()),
            ..Default::default()
        });
    }

    fn activations(&mut self) {
        for a in ACTIVATIONS {
            self.item(a, CompletionItemKind::EnumMember, "activation");
        }
    }

    fn neurons(&mut self) {
        for n in NEURONS {
            self.item(n, CompletionItemKind::Function, "neuron type");
        }
    }

    fn synapses(&mut self) {
        self.item("none", CompletionItemKind::EnumMember, "no synapse");
        self.item("lowpass", CompletionItemKind::Function, "`lowpass(tau)`");
        self.item("alpha", CompletionItemKind::Function, "`alpha(tau)`");
    }

    fn networks(&mut self, index: &Index) {
        for n in &index.networks {
            self.item(&n.name, CompletionItemKind::Module, "network");
        }
    }

    fn probes(&mut self, index: &Index) {
        for p in &index.probes {
            let detail = p
                .target
                .as_ref()
                .map_or_else(|| "probe".to_string(), |t| format!("probe on `{t}`"));
            self.item(&p.name, CompletionItemKind::Variable, &detail);
        }
    }

    /// The layers of `network` whose statements end before `before` (a
    /// byte offset): a layer cannot read itself or a later one.
    fn layers_of(&mut self, index: &Index, network: &str, before: usize) {
        let Some(net) = index.network(network) else {
            return;
        };
        for l in net.layers.iter().filter(|l| l.stmt.end < before) {
            let detail = match index.layer(network, &l.name).and_then(|i| i.shape) {
                Some(s) => format!(
                    "{} {}",
                    if l.kind.is_empty() { "layer" } else { &l.kind },
                    crate::hover::shape_text(&s)
                ),
                None => l.kind.clone(),
            };
            self.item(&l.name, CompletionItemKind::Variable, &detail);
        }
    }

    fn all_layers(&mut self, index: &Index) {
        for n in &index.networks {
            self.layers_of(index, &n.name, usize::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "\
network mnist {
    input image: 28x28x1
    conv1 = conv2d(image, filters=32, kernel=3x3, activation=relu)
    flat  = flatten(conv1)
    out   = dense(flat, units=10)
}
convert spiking from mnist {
    swap relu -> spiking_relu
}
probe pred = out
";

    /// Completion labels with `text` inserted at `at` (a marker string of
    /// SPEC that the insertion follows).
    fn labels(insert_after: &str, typed: &str) -> Vec<String> {
        let at = SPEC.find(insert_after).expect("marker") + insert_after.len();
        let text = format!("{}{typed}{}", &SPEC[..at], &SPEC[at..]);
        let index = Index::new(&text);
        complete(&index, &text, at + typed.len())
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    #[test]
    fn layer_kinds_after_equals_in_a_network() {
        let l = labels("units=10)\n", "    h = ");
        assert!(
            l.contains(&"conv2d".to_string()) && l.contains(&"dense".to_string()),
            "{l:?}"
        );
        let l = labels("units=10)\n", "    h = con");
        assert!(l.contains(&"conv2d".to_string()), "{l:?}");
    }

    #[test]
    fn layer_names_and_args_inside_a_layer_call() {
        let l = labels("units=10)\n", "    h = dense(");
        for want in ["image", "conv1", "flat", "out", "units="] {
            assert!(l.contains(&want.to_string()), "{want} in {l:?}");
        }
        let l = labels("units=10)\n", "    h = dense(flat, activation=");
        assert!(
            l.contains(&"relu".to_string()) && l.contains(&"tanh".to_string()),
            "{l:?}"
        );
        // Only layers defined above the line.
        let l = labels("    flat  = flatten(", "");
        assert!(
            l.contains(&"conv1".to_string()) && !l.contains(&"out".to_string()),
            "{l:?}"
        );
    }

    #[test]
    fn convert_block_keys_neurons_and_layers() {
        let l = labels("spiking_relu\n", "    ");
        assert!(
            l.contains(&"swap".to_string()) && l.contains(&"synapse".to_string()),
            "{l:?}"
        );
        let l = labels("spiking_relu\n", "    swap conv1 -> ");
        assert!(
            l.contains(&"lif".to_string()) && l.contains(&"spiking_relu".to_string()),
            "{l:?}"
        );
        let l = labels("spiking_relu\n", "    synapse ");
        assert!(
            l.contains(&"conv1".to_string()) && l.contains(&"bias".to_string()),
            "{l:?}"
        );
        let l = labels("spiking_relu\n", "    synapse conv1 -> out = ");
        assert!(l.contains(&"lowpass".to_string()), "{l:?}");
    }

    #[test]
    fn top_level_run_and_probe_positions() {
        let l = labels("probe pred = out\n", "");
        assert!(
            l.contains(&"network".to_string()) && l.contains(&"probe".to_string()),
            "{l:?}"
        );
        let l = labels("probe pred = out\n", "run {\n    network = ");
        assert!(
            l.contains(&"mnist".to_string()) && l.contains(&"spiking".to_string()),
            "{l:?}"
        );
        let l = labels("probe pred = out\n", "run {\n    report = accuracy(");
        assert!(
            l.contains(&"pred".to_string()) && l.contains(&"at=".to_string()),
            "{l:?}"
        );
        let l = labels("probe pred = out\n", "probe r = ");
        assert!(l.contains(&"conv1".to_string()), "{l:?}");
        let l = labels("probe pred = out\n", "convert x from ");
        assert_eq!(l, vec!["mnist".to_string()]);
    }

    #[test]
    fn nothing_in_comments_and_strings() {
        assert!(labels("units=10)\n", "    # h = ").is_empty());
        assert!(labels("probe pred = out\n", "run {\n  data = npz(\"a ").is_empty());
    }
}
