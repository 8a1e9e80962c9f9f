//! The TextMate grammar (editors/snn.tmLanguage.json) tokenizes every word
//! the checker accepts (compiler/src/check/vocabulary.rs): block kinds,
//! every block's keys, every call and its named arguments, every value word,
//! and numbers in every form (`1e-3` is one number, not `1` + unit `e`).
//!
//! A small TextMate engine runs the grammar: `match` rules with captures,
//! `begin`/`end` rules with their own patterns, and `include`s.

use std::path::Path;

use fancy_regex::Regex;
use serde_json::Value;
use snnc_compiler::check::vocabulary::{self as vocab, BlockKeys};

struct Grammar {
    json: Value,
}

/// A candidate match: start, end, the rule (`None`: the open rule's end)
/// and every group's range.
type Found<'a> = (usize, usize, Option<&'a Value>, Vec<Option<(usize, usize)>>);

/// An open `begin`/`end` rule.
struct Frame<'a> {
    rule: &'a Value,
    end: Regex,
}

impl Grammar {
    fn load() -> Grammar {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/snn.tmLanguage.json");
        let json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        Grammar { json }
    }

    /// `patterns` with every include replaced by the rules it names.
    fn resolve<'a>(&'a self, patterns: &'a Value, out: &mut Vec<&'a Value>) {
        for p in patterns.as_array().into_iter().flatten() {
            if let Some(inc) = p["include"].as_str() {
                let name = inc.strip_prefix('#').expect("only #includes");
                let rule = &self.json["repository"][name];
                assert!(!rule.is_null(), "no rule `{name}`");
                if rule.get("match").is_none() && rule.get("begin").is_none() {
                    self.resolve(&rule["patterns"], out);
                } else {
                    out.push(rule);
                }
            } else {
                out.push(p);
            }
        }
    }

    /// The scopes of every byte of every line of `text`.
    fn tokenize(&self, text: &str) -> Vec<Vec<Vec<String>>> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut lines = Vec::new();
        for line in text.lines() {
            let mut scopes: Vec<Vec<String>> = vec![Vec::new(); line.len()];
            let mut pos = 0;
            let mut steps = 0;
            loop {
                let base: Vec<String> = stack
                    .iter()
                    .filter_map(|f| f.rule["name"].as_str().map(str::to_string))
                    .collect();
                let patterns = stack
                    .last()
                    .map_or(&self.json["patterns"], |f| &f.rule["patterns"]);
                let mut rules = Vec::new();
                self.resolve(patterns, &mut rules);
                // The earliest match; the end pattern wins ties.
                let mut best: Option<Found> = None;
                if let Some(f) = stack.last() {
                    if let Some(c) = f.end.captures_from_pos(line, pos).unwrap() {
                        let groups = (0..c.len())
                            .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                            .collect();
                        let m = c.get(0).unwrap();
                        best = Some((m.start(), m.end(), None, groups));
                    }
                }
                for r in rules {
                    let re = r["match"].as_str().or(r["begin"].as_str()).unwrap();
                    let re = Regex::new(re).unwrap_or_else(|e| panic!("{re}: {e}"));
                    if let Some(c) = re.captures_from_pos(line, pos).unwrap() {
                        let m = c.get(0).unwrap();
                        if best.as_ref().is_none_or(|b| m.start() < b.0) {
                            let groups = (0..c.len())
                                .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                                .collect();
                            best = Some((m.start(), m.end(), Some(r), groups));
                        }
                    }
                }
                let Some((start, end, rule, groups)) = best else {
                    break;
                };
                for s in &mut scopes[pos..start] {
                    *s = base.clone();
                }
                let paint = |scopes: &mut Vec<Vec<String>>, range: (usize, usize), name: &Value| {
                    if let Some(n) = name.as_str() {
                        for s in &mut scopes[range.0..range.1] {
                            s.push(n.to_string());
                        }
                    }
                };
                for s in &mut scopes[start..end] {
                    *s = base.clone();
                }
                match rule {
                    None => {
                        let f = stack.pop().unwrap();
                        let caps = &f.rule["endCaptures"];
                        for (i, g) in groups.iter().enumerate() {
                            if let Some(g) = g {
                                paint(&mut scopes, *g, &caps[i.to_string()]["name"]);
                            }
                        }
                    }
                    Some(r) if r.get("match").is_some() => {
                        paint(&mut scopes, (start, end), &r["name"]);
                        for (i, g) in groups.iter().enumerate() {
                            if let Some(g) = g {
                                paint(&mut scopes, *g, &r["captures"][i.to_string()]["name"]);
                            }
                        }
                    }
                    Some(r) => {
                        paint(&mut scopes, (start, end), &r["name"]);
                        for (i, g) in groups.iter().enumerate() {
                            if let Some(g) = g {
                                paint(&mut scopes, *g, &r["beginCaptures"][i.to_string()]["name"]);
                            }
                        }
                        let end_re = r["end"].as_str().unwrap();
                        stack.push(Frame {
                            rule: r,
                            end: Regex::new(end_re).unwrap(),
                        });
                    }
                }
                pos = if end == start && rule.is_some_and(|r| r.get("match").is_some()) {
                    end + 1
                } else {
                    end
                };
                steps += 1;
                assert!(steps < 10_000, "the grammar loops on `{line}`");
                if pos > line.len() {
                    break;
                }
            }
            let base: Vec<String> = stack
                .iter()
                .filter_map(|f| f.rule["name"].as_str().map(str::to_string))
                .collect();
            for s in scopes.iter_mut().skip(pos.min(line.len())) {
                *s = base.clone();
            }
            lines.push(scopes);
        }
        lines
    }

    /// The scopes of each byte of `word` where it first appears on line
    /// `line` of `text`.
    fn scopes_of(&self, text: &str, line: usize, word: &str) -> Vec<Vec<String>> {
        let src = text.lines().nth(line).unwrap();
        let at = find_word(src, word).unwrap_or_else(|| panic!("`{word}` not in `{src}`"));
        self.tokenize(text)[line][at..at + word.len()].to_vec()
    }
}

/// The byte offset of `word` as a whole word in `line`.
fn find_word(line: &str, word: &str) -> Option<usize> {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    line.match_indices(word).map(|(i, _)| i).find(|&i| {
        !is_word(line[..i].chars().next_back()) && !is_word(line[i + word.len()..].chars().next())
    })
}

/// Whether every byte has a scope starting with one of `prefixes`.
fn all_have(scopes: &[Vec<String>], prefixes: &[&str]) -> bool {
    scopes
        .iter()
        .all(|s| s.iter().any(|x| prefixes.iter().any(|p| x.starts_with(p))))
}

fn block_header(kind: &str) -> String {
    match kind {
        "convert" => "convert v from n {".into(),
        _ => format!("{kind} b {{"),
    }
}

#[test]
fn every_block_kind_and_key_is_highlighted() {
    let g = Grammar::load();
    for kind in vocab::BLOCK_KINDS {
        let text = format!("{}\n}}\n", block_header(kind));
        let s = g.scopes_of(&text, 0, kind);
        assert!(all_have(&s, &["storage.type.block"]), "`{kind}`: {s:?}");
        let Some(keys) = vocab::block(kind) else {
            continue;
        };
        let BlockKeys {
            plain,
            targeted,
            arrows,
        } = *keys;
        let lines = plain
            .iter()
            .map(|k| (k, format!("    {k} = 1")))
            .chain(targeted.iter().map(|k| (k, format!("    {k} p = 1"))))
            .chain(arrows.iter().map(|k| (k, format!("    {k} a -> b"))));
        for (key, line) in lines {
            let text = format!("{}\n{line}\n}}\n", block_header(kind));
            let s = g.scopes_of(&text, 1, key);
            assert!(
                all_have(&s, &["keyword.other.setting"]),
                "`{key}` in a {kind} block: {s:?}"
            );
        }
    }
}

#[test]
fn every_call_and_argument_is_highlighted() {
    let g = Grammar::load();
    for (name, args) in vocab::all_calls() {
        let args: Vec<&str> = vocab::call_args(name).unwrap_or(args.to_vec());
        let call = format!(
            "{name}({})",
            args.iter()
                .map(|a| format!("{a}=1"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let text = if vocab::LAYER_KINDS.contains(&name) {
            format!("network n {{\n    y = {call}\n}}\n")
        } else if vocab::NEURONS.contains(&name) {
            format!("convert v from n {{\n    swap relu -> {call}\n}}\n")
        } else {
            format!("train t {{\n    data = {call}\n}}\n")
        };
        let s = g.scopes_of(&text, 1, name);
        assert!(all_have(&s, &["support."]), "`{name}(`: {s:?}");
        for arg in args {
            let line = text.lines().nth(1).unwrap();
            let open = line.find('(').unwrap();
            let at = open + find_word(&line[open..], arg).unwrap();
            let s = &g.tokenize(&text)[1][at..at + arg.len()];
            assert!(
                all_have(s, &["variable.parameter"]),
                "`{arg}` of `{name}`: {s:?}"
            );
        }
    }
}

#[test]
fn every_value_word_is_highlighted() {
    let g = Grammar::load();
    let words = vocab::VALUE_WORDS
        .iter()
        .flat_map(|(_, w)| w.iter())
        .chain(&vocab::ACTIVATIONS)
        .chain(&vocab::NEURONS)
        .chain(&["none"]);
    for word in words {
        for line in [format!("    x = {word}"), format!("    x = f(a={word})")] {
            let text = format!("run r {{\n{line}\n}}\n");
            let s = g.scopes_of(&text, 1, word);
            assert!(
                all_have(&s, &["constant.", "support."]),
                "`{word}` in `{line}`: {s:?}"
            );
        }
    }
    // And the engine tells: an unknown word gets no such scope.
    let s = g.scopes_of("run r {\n    x = frobnicate\n}\n", 1, "frobnicate");
    assert!(!all_have(&s, &["constant.", "support."]), "{s:?}");
}

#[test]
fn numbers_are_one_token_and_units_are_units() {
    let g = Grammar::load();
    for number in ["1e-3", "-1e+0", "1E5", "0.5", "-2", "3e+2", "2.5e-10"] {
        let text = format!("train t {{\n    optimizer = adam(lr={number})\n}}\n");
        let line = text.lines().nth(1).unwrap();
        let at = line.find(number).unwrap();
        let s = &g.tokenize(&text)[1][at..at + number.len()];
        assert!(all_have(s, &["constant.numeric"]), "`{number}`: {s:?}");
        assert!(
            s.iter()
                .all(|x| !x.iter().any(|n| n.starts_with("keyword.other.unit"))),
            "`{number}` has a unit: {s:?}"
        );
    }
    for (quantity, unit) in [
        ("5ms", "ms"),
        ("1e-3s", "s"),
        ("200Hz", "Hz"),
        ("-1.5e+1ms", "ms"),
    ] {
        let text = format!("run r {{\n    present = {quantity}\n}}\n");
        let line = text.lines().nth(1).unwrap();
        let at = line.find(quantity).unwrap();
        let scopes = &g.tokenize(&text)[1][at..at + quantity.len()];
        let split = quantity.len() - unit.len();
        assert!(
            all_have(&scopes[..split], &["constant.numeric"]),
            "`{quantity}`: {scopes:?}"
        );
        assert!(
            all_have(&scopes[split..], &["keyword.other.unit"]),
            "`{quantity}`: {scopes:?}"
        );
    }
}

/// Names that refer to layers get `variable.other.layer`: call arguments,
/// a probe's layer, a connection's ends, a per-layer scale; the words that
/// mean something else keep their own scope.
#[test]
fn layer_names_used_as_arguments_are_highlighted() {
    let g = Grammar::load();
    let text = "network n {
    input image: 28x28x1
    c = conv2d(image, filters=2, kernel=3x3, activation=relu)
    s = add(c, c)
    a = activation(s, sigmoid)
}
convert v from n {
    swap c -> spiking_relu
    scale c = 20
    synapse all = lowpass(5ms)
    synapse image -> c = lowpass(2ms)
    synapse relay -> c = none
}
probe p = a, synapse=lowpass(5ms)
run {
    report = accuracy(p, at=last)
}
";
    let layer = ["variable.other.layer"];
    // (line, the text the reference follows, the reference)
    for (line, after, word) in [
        (2, "(", "image"),
        (3, "(", "c"),
        (4, "(", "s"),
        (8, "scale", "c"),
        (10, "synapse", "image"),
        (10, "->", "c"),
        (13, "=", "a"),
        (15, "(", "p"),
    ] {
        let src = text.lines().nth(line).unwrap();
        let from = src.find(after).unwrap() + after.len();
        let at = from + find_word(&src[from..], word).unwrap();
        let s = &g.tokenize(text)[line][at..at + word.len()];
        assert!(all_have(s, &layer), "line {line} `{word}`: {s:?}");
    }
    for (line, word, scope) in [
        (2, "relu", "support.constant.activation"),
        (4, "sigmoid", "support.constant.activation"),
        (9, "all", "constant.language"),
        (11, "relay", "variable.language"),
        (11, "none", "constant.language"),
        (13, "synapse", "variable.parameter"),
        (15, "last", "constant.language"),
    ] {
        let s = g.scopes_of(text, line, word);
        assert!(all_have(&s, &[scope]), "line {line} `{word}`: {s:?}");
    }
    // Defined names keep theirs.
    let s = g.scopes_of(text, 2, "c");
    assert!(all_have(&s, &["entity.name.variable.layer"]), "{s:?}");
}
