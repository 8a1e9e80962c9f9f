//! Robustness of the parser, checker and renderers against malformed text.
//!
//! Every valid spec the project ships (`specs/`, `examples/`, `tests/golden/`)
//! and a few built-in valid texts are mutated thousands of times, with a
//! fixed-seed PRNG so that every run sees the same inputs:
//!
//! - byte-level: delete, insert, replace and duplicate bytes (including
//!   non-ASCII characters, NUL, braces, parentheses and quotes), truncate;
//! - token-level: split the text at whitespace and punctuation boundaries,
//!   then delete, duplicate, swap or replace tokens, with tokens from the same
//!   file or from a small vocabulary of keywords, units and punctuation.
//!
//! For each mutated text the test asserts that `check_source` does not panic,
//! that every diagnostic's primary and secondary spans lie inside the text on
//! character boundaries, that `render_text` and `render_json` do not panic
//! (and that the JSON lines parse, and each text header shows the line and
//! column the JSON gives), that a result without errors carries
//! a program, and that the editor index builds with every place in the
//! text. Failures are collected, shrunk to a small input that still fails,
//! and reported together.
//!
//! `SNNC_ROBUSTNESS_SEED=N` and `SNNC_ROBUSTNESS_ITERS=N` (mutations of each
//! kind) override the defaults, for longer local runs.

use std::cell::RefCell;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use snnc_compiler::diagnostic::{render_json, render_text};
use snnc_compiler::index::Index;
use snnc_compiler::{check_source, SourceFile};
use snnc_runtime::rng::SplitMix64;

type PanicHook = dyn Fn(&panic::PanicHookInfo<'_>) + Send + Sync + 'static;

const DEFAULT_SEED: u64 = 0x5EED_5111_C0DE_2024;
/// Mutations of each kind (byte-level, token-level) in a default run.
const DEFAULT_ITERS: usize = 3000;

// ------------------------------------------------------------------ PRNG ----

/// Picks among mutations with snnc's own SplitMix64.
trait Pick {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T;
    fn chance(&mut self, percent: usize) -> bool;
}

impl Pick for SplitMix64 {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------- corpus ----

/// Valid texts that exercise what the shipped specs may not.
const BUILT_IN: [(&str, &str); 4] = [
    (
        "built-in:minimal",
        "network n {\n    input x: 4\n    y = dense(x, units=2)\n}\n",
    ),
    (
        "built-in:pooling_and_skip",
        r#"# Pooling, padding, strides, a skip connection and an activation layer.
network deep {
    input image: 28x28x1
    c1   = conv2d(image, filters=8, kernel=3x3, padding=same, activation=relu)
    c2   = conv2d(c1, filters=8, kernel=3, strides=1x1, padding=same, activation=relu)
    sum  = add(c1, c2)
    act  = activation(sum, tanh)
    p1   = avg_pool(act, pool=2x2)
    p2   = max_pool(p1, pool=2x2, strides=2)
    flat = flatten(p2)
    h    = dense(flat, units=32, activation=sigmoid, bias=false)
    out  = dense(h, units=10)
}

convert lif from deep {
    swap relu -> lif(tau_rc=20ms, tau_ref=2ms, min_voltage=0, amplitude=1)
    swap sigmoid -> sigmoid(tau_ref=1ms)
    swap act -> tanh
    synapse = lowpass(5ms)
    synapse c1 -> c2 = alpha(2ms)
    synapse bias -> out = none
    initial_voltage = uniform(seed=3)
}

convert fast from deep {
    swap relu -> spiking_relu(amplitude=0.5)
    scale_firing_rates = 20
    scale c1 = 40
    synapse flat -> h = 10ms
}

probe rates = c1, synapse=lowpass(10ms), sample_every=10
probe pred  = out

train quick {
    network          = deep
    data             = mnist_idx("data/mnist", split=train, limit=512, offset=0, pixel_max=255)
    optimizer        = adam(lr=0.001, beta1=0.9, beta2=0.999)
    loss pred        = sparse_categorical_crossentropy(from_logits=true)
    loss rates       = rate_in_range(min=200Hz, max=300Hz, weight=100)
    epochs           = 2
    batch            = 64
    validation_split = 0.1
    seed             = 7
    save             = "deep.npz"
}

run spiking {
    network   = fast
    params    = "deep.npz"
    data      = mnist_idx("data/mnist", split=test, limit=100)
    dt        = 1ms
    steps     = 50
    precision = f64
    batch     = 10
    report    = accuracy(pred, at=last)
}
"#,
    ),
    (
        "built-in:npz_and_sgd",
        r#"network xor {
    input x: 2
    h   = dense(x, units=4, activation=relu)
    out = dense(h, units=2)
}
probe pred = out
train {
    network   = xor
    data      = npz("xor.npz", x="inputs", y="labels")
    optimizer = sgd(lr=0.1, momentum=0.9)
    loss pred = mse()
    epochs    = 100
    save      = "xor.npz"
}
run {
    network = xor
    params  = "xor.npz"
    data    = idx(images="x.idx", labels="y.idx")
    present = 0.01s
    report  = accuracy(pred, at=5)
}
"#,
    ),
    (
        "built-in:multi_line_call",
        "# A call split over lines, unicode in a comment: µs, τ.\nnetwork n {\n    input x: 8x8x1\n    c = conv2d(\n        x,\n        filters=4,\n        kernel=3x3,\n        activation=relu,\n    )\n    f = flatten(c)\n    o = dense(f, units=10)\n}\nconvert s from n {\n    swap relu -> lif_rate(tau_rc=0.02s, tau_ref=2000us)\n}\nprobe p = o, sample_every=2ms\nrun {\n    network = s\n    params  = \"p.npz\"\n    data    = npz(\"d.npz\")\n    dt      = 1ms\n    present = 20ms\n}\n",
    ),
];

/// `.snn` files under `dir`, recursively, sorted.
fn snn_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "snn") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every valid spec: (name, text). Files that do not check clean are left
/// out here (`specs_check_clean` reports them); built-in texts must be clean.
fn corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["specs", "examples", "tests/golden"] {
        for path in snn_files(&root.join(dir)) {
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            if check_source(&text).program.is_some() {
                let name = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.push((name, text));
            }
        }
    }
    for (name, text) in BUILT_IN {
        let checked = check_source(text);
        let errors: Vec<String> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect();
        assert!(
            errors.is_empty(),
            "{name} must check clean, but: {errors:#?}"
        );
        out.push((name.to_string(), text.to_string()));
    }
    out
}

// ------------------------------------------------------------- mutations ----

/// Characters worth inserting: structure, quoting, escapes, control and
/// multi-byte characters (2, 3 and 4 bytes, a BOM, a combining mark).
const INSERT_CHARS: &[&str] = &[
    "{", "}", "(", ")", "\"", "\\", "\n", "\r\n", "\r", "\t", " ", "\0", "=", ",", ":", "->", "-",
    ">", "#", ".", "x", "e", "E", "0", "9", "_", "'", "µ", "τ", "é", "€", "😀", "\u{feff}",
    "\u{301}", "\u{7f}",
];

fn byte_mutation(rng: &mut SplitMix64, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = bytes.len();
        match rng.below(6) {
            // Delete a short run.
            0 if len > 0 => {
                let at = rng.below(len);
                let n = (1 + rng.below(8)).min(len - at);
                bytes.drain(at..at + n);
            }
            // Insert a special character (possibly in the middle of a
            // multi-byte one; the lossy conversion below repairs that).
            1 => {
                let at = rng.below(len + 1);
                let s = rng.pick(INSERT_CHARS).as_bytes();
                bytes.splice(at..at, s.iter().copied());
            }
            // Replace a byte with any byte.
            2 if len > 0 => {
                let at = rng.below(len);
                bytes[at] = rng.next_u64() as u8;
            }
            // Duplicate a run somewhere else.
            3 if len > 0 => {
                let from = rng.below(len);
                let n = (1 + rng.below(40)).min(len - from);
                let chunk: Vec<u8> = bytes[from..from + n].to_vec();
                let at = rng.below(len + 1);
                bytes.splice(at..at, chunk);
            }
            // Truncate.
            4 if len > 0 => bytes.truncate(rng.below(len)),
            // Replace a byte with a special character.
            _ if len > 0 => {
                let at = rng.below(len);
                let s = rng.pick(INSERT_CHARS).as_bytes();
                bytes.splice(at..at + 1, s.iter().copied());
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Splits text into tokens whose concatenation is the text: runs of name
/// and number characters, runs of spaces, and single other characters.
fn tokenize(text: &str) -> Vec<&str> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Word,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            Class::Word
        } else if c == ' ' || c == '\t' {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<Class> = None;
    for (i, c) in text.char_indices() {
        let k = class(c);
        if let Some(p) = prev {
            if p != k || k == Class::Other {
                out.push(&text[start..i]);
                start = i;
            }
        }
        prev = Some(k);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

const VOCABULARY: &[&str] = &[
    "network",
    "convert",
    "from",
    "train",
    "run",
    "probe",
    "input",
    "swap",
    "synapse",
    "scale",
    "scale_firing_rates",
    "initial_voltage",
    "dense",
    "conv2d",
    "flatten",
    "avg_pool",
    "max_pool",
    "add",
    "activation",
    "relu",
    "sigmoid",
    "tanh",
    "linear",
    "lif",
    "lif_rate",
    "spiking_relu",
    "none",
    "lowpass",
    "alpha",
    "bias",
    "units",
    "filters",
    "kernel",
    "strides",
    "padding",
    "same",
    "valid",
    "true",
    "false",
    "mnist_idx",
    "idx",
    "npz",
    "split",
    "test",
    "limit",
    "offset",
    "accuracy",
    "last",
    "loss",
    "mse",
    "rate_in_range",
    "sparse_categorical_crossentropy",
    "from_logits",
    "rmsprop",
    "adam",
    "sgd",
    "lr",
    "epochs",
    "batch",
    "dt",
    "present",
    "steps",
    "precision",
    "f32",
    "f64",
    "params",
    "data",
    "save",
    "seed",
    "validation_split",
    "sample_every",
    "uniform",
    "zero",
    "image",
    "out",
    "conv1",
    "flat",
    "mnist",
    "spiking",
    "5ms",
    "1ms",
    "100ms",
    "0.005s",
    "100us",
    "200Hz",
    "1kHz",
    "5m",
    "20",
    "0",
    "-1",
    "1.5",
    "1e400",
    "99999999999999999999999",
    "3x3",
    "28x28x1",
    "0x0",
    "4294967296x4294967296",
    "\"a.npz\"",
    "\"\"",
    "\"unterminated",
    "=",
    ",",
    ":",
    "->",
    "(",
    ")",
    "{",
    "}",
    "\n",
    "#",
    "µs",
    "τ",
];

fn token_mutation(rng: &mut SplitMix64, text: &str) -> String {
    let original = tokenize(text);
    let mut tokens: Vec<&str> = original.clone();
    for _ in 0..1 + rng.below(3) {
        let len = tokens.len();
        if len == 0 {
            tokens.push(*rng.pick(VOCABULARY));
            continue;
        }
        let at = rng.below(len);
        match rng.below(5) {
            0 => {
                tokens.remove(at);
            }
            1 => {
                let t = tokens[at];
                tokens.insert(at, t);
            }
            2 => {
                let other = rng.below(len);
                tokens.swap(at, other);
            }
            3 => tokens[at] = *rng.pick(&original),
            _ => {
                let word = *rng.pick(VOCABULARY);
                if rng.chance(50) {
                    tokens[at] = word;
                } else {
                    tokens.insert(at, word);
                }
            }
        }
    }
    tokens.concat()
}

// ---------------------------------------------------------------- checks ----

thread_local! {
    /// The message and location of the last panic on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs every check on one text; `Ok` says whether the checker reported
/// errors, `Err` describes the first problem.
fn check_one(text: &str) -> Result<bool, String> {
    let checked = panic::catch_unwind(AssertUnwindSafe(|| check_source(text)))
        .map_err(|_| format!("check_source panicked: {}", last_panic()))?;
    let len = text.len();
    for d in &checked.diagnostics {
        let labels = std::iter::once(("primary", &d.primary))
            .chain(d.secondary.iter().map(|l| ("secondary", l)));
        for (which, label) in labels {
            let s = label.span;
            if !(s.start <= s.end && s.end <= len) {
                return Err(format!(
                    "{} ({}): {which} span {}..{} is outside the text (length {len})",
                    d.code, d.message, s.start, s.end
                ));
            }
            if !text.is_char_boundary(s.start) || !text.is_char_boundary(s.end) {
                return Err(format!(
                    "{} ({}): {which} span {}..{} is not on character boundaries",
                    d.code, d.message, s.start, s.end
                ));
            }
        }
    }
    let has_errors = checked.diagnostics.iter().any(|d| d.is_error());
    if !has_errors && checked.program.is_none() {
        return Err("no errors, but no program".into());
    }
    // The editor index is built from the same syntax tree, broken lines and
    // recovered blocks included, and the checker's partial program.
    let index = panic::catch_unwind(AssertUnwindSafe(|| Index::build(&checked)))
        .map_err(|_| format!("Index::build panicked: {}", last_panic()))?;
    for o in &index.occurrences {
        let s = o.span;
        if s.start > s.end
            || s.end > len
            || !text.is_char_boundary(s.start)
            || !text.is_char_boundary(s.end)
        {
            return Err(format!(
                "index: `{}` at {}..{} is not a place in the text (length {len})",
                o.symbol.name(),
                s.start,
                s.end
            ));
        }
    }
    let file = SourceFile {
        name: "mutant.snn".into(),
        text: text.to_string(),
    };
    panic::catch_unwind(AssertUnwindSafe(|| {
        render_text(&file, &checked.diagnostics, false)
    }))
    .map_err(|_| format!("render_text panicked: {}", last_panic()))?;
    let json = panic::catch_unwind(AssertUnwindSafe(|| {
        render_json(&file, &checked.diagnostics)
    }))
    .map_err(|_| format!("render_json panicked: {}", last_panic()))?;
    // The text header of each diagnostic shows the line and column the
    // JSON gives (both count characters).
    for (d, line) in checked.diagnostics.iter().zip(json.lines()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("render_json wrote invalid JSON ({e}): {line}"))?;
        let at = format!(
            "[mutant.snn:{}:{}]",
            v["span"]["start_line"], v["span"]["start_column"]
        );
        let rendered = render_text(&file, std::slice::from_ref(d), false);
        let header = rendered.lines().find(|l| l.contains("╭─["));
        if header.is_some_and(|h| !h.contains(&at)) {
            return Err(format!(
                "{} ({}): the text header {:?} is not at {at} as in JSON",
                d.code,
                d.message,
                header.unwrap_or_default()
            ));
        }
    }
    let lines = json.lines().count();
    if lines != checked.diagnostics.len() {
        return Err(format!(
            "render_json wrote {lines} lines for {} diagnostics",
            checked.diagnostics.len()
        ));
    }
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("render_json wrote invalid JSON ({e}): {line}"))?;
        for field in [
            "file", "severity", "code", "message", "label", "span", "related",
        ] {
            if v.get(field).is_none() {
                return Err(format!("render_json line without `{field}`: {line}"));
            }
        }
    }
    Ok(has_errors)
}

fn last_panic() -> String {
    LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| "(no message)".into())
}

/// A problem's kind, so that each kind is reported once and shrinking keeps
/// the same failure rather than finding another one: for a panic, where it
/// happened; otherwise the problem up to its details.
fn kind_of(problem: &str) -> String {
    let head: String = problem
        .chars()
        .take_while(|c| *c != ':' && *c != '(')
        .collect();
    match (problem.contains(" panicked: "), problem.rfind(" at ")) {
        (true, Some(at)) => format!("{head}{}", &problem[at..]),
        _ => head,
    }
}

/// Greedy shrinking: drop lines, then runs of characters, while the same
/// kind of failure remains.
fn shrink(text: &str, problem: &str) -> (String, String) {
    let kind = kind_of(problem);
    let fails = |t: &str| match check_one(t) {
        Err(p) if kind_of(&p) == kind => Some(p),
        _ => None,
    };
    let mut best = text.to_string();
    let mut best_problem = problem.to_string();
    let started = Instant::now();
    // Lines first.
    let mut i = 0;
    loop {
        let lines: Vec<&str> = best.split_inclusive('\n').collect();
        if i >= lines.len() || started.elapsed().as_secs() > 5 {
            break;
        }
        let candidate: String = lines
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, l)| *l)
            .collect();
        match fails(&candidate) {
            Some(p) => {
                best = candidate;
                best_problem = p;
            }
            None => i += 1,
        }
    }
    // Then characters, in shrinking chunks.
    let mut chunk = 16;
    while chunk >= 1 && started.elapsed().as_secs() <= 10 {
        let mut at = 0;
        loop {
            let chars: Vec<char> = best.chars().collect();
            if at >= chars.len() {
                break;
            }
            let end = (at + chunk).min(chars.len());
            let candidate: String = chars[..at].iter().chain(&chars[end..]).collect();
            match fails(&candidate) {
                Some(p) => {
                    best = candidate;
                    best_problem = p;
                }
                None => at += chunk,
            }
        }
        chunk /= 2;
    }
    (best, best_problem)
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| {
        let v = v.trim();
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        }
    })
}

#[test]
fn mutated_specs_never_crash_the_checker() {
    let seed = env_number("SNNC_ROBUSTNESS_SEED").unwrap_or(DEFAULT_SEED);
    let iters = env_number("SNNC_ROBUSTNESS_ITERS").map_or(DEFAULT_ITERS, |n| n as usize);
    let corpus = corpus();
    assert!(!corpus.is_empty());

    // Record panic messages of this thread instead of printing them (other
    // tests keep the normal hook); restored below.
    let previous_hook: Arc<PanicHook> = Arc::from(panic::take_hook());
    let fuzz_thread = std::thread::current().id();
    let other_threads = Arc::clone(&previous_hook);
    panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != fuzz_thread {
            return other_threads(info);
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string payload)".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
    }));

    let started = Instant::now();
    let mut rng = SplitMix64::new(seed);
    let mut failures: Vec<(String, &'static str, String, String)> = Vec::new();
    let mut counts = [0usize; 2];
    let mut with_errors = 0usize;
    let mut originals_ok = 0usize;

    for (name, text) in &corpus {
        match check_one(text) {
            Ok(_) => originals_ok += 1,
            Err(p) => failures.push((name.clone(), "original", p, text.clone())),
        }
    }
    for (kind_index, kind) in ["byte", "token"].into_iter().enumerate() {
        for i in 0..iters {
            let (name, text) = &corpus[i % corpus.len()];
            let mutant = if kind_index == 0 {
                byte_mutation(&mut rng, text)
            } else {
                token_mutation(&mut rng, text)
            };
            counts[kind_index] += 1;
            match check_one(&mutant) {
                Ok(errors) => with_errors += usize::from(errors),
                Err(problem) => {
                    // Keep one example per kind of problem.
                    if !failures
                        .iter()
                        .any(|(_, _, p, _)| kind_of(p) == kind_of(&problem))
                    {
                        failures.push((name.clone(), kind, problem, mutant));
                    }
                }
            }
        }
    }

    // Shrink while the recording hook is still installed.
    let shrunk: Vec<(String, String)> = failures
        .iter()
        .map(|(_, _, p, input)| shrink(input, p))
        .collect();
    drop(panic::take_hook());
    panic::set_hook(Box::new(move |info| previous_hook(info)));

    eprintln!(
        "robustness: seed {seed:#x}, {} valid texts ({originals_ok} pass unmutated), \
         {} byte-level + {} token-level mutations ({with_errors} rejected with errors) in {:.1?}",
        corpus.len(),
        counts[0],
        counts[1],
        started.elapsed()
    );
    if !failures.is_empty() {
        let report: Vec<String> = failures
            .iter()
            .zip(&shrunk)
            .map(|((name, kind, problem, input), (small, small_problem))| {
                format!(
                    "- {kind} mutation of {name}: {problem}\n  input: {input:?}\n  shrunk input: {small:?}\n  \
                     shrunk problem: {small_problem}"
                )
            })
            .collect();
        panic!(
            "{} kind(s) of robustness failure (seed {seed:#x}):\n{}",
            failures.len(),
            report.join("\n")
        );
    }
}

/// Deeply nested calls, parentheses and braces must give a diagnostic (or
/// check), never overflow the stack. Runs on a test thread, whose stack is
/// smaller than a main thread's.
#[test]
fn deep_nesting_is_not_a_crash() {
    for depth in [10, 100, 1_000, 10_000] {
        let call = format!(
            "network n {{\n    input x: 4\n    y = dense(x, units={}1{})\n}}\n",
            "f(".repeat(depth),
            ")".repeat(depth)
        );
        let parens = format!("probe p = {}\n", "(".repeat(depth));
        let braces = format!("{}{}\n", "{".repeat(depth), "}".repeat(depth));
        let blocks = format!("run {}\n", "{\n".repeat(depth));
        for text in [call, parens, braces, blocks] {
            if let Err(problem) = check_one(&text) {
                panic!(
                    "nesting depth {depth}: {problem}\ninput starts {:?}",
                    &text[..text.len().min(80)]
                );
            }
        }
    }
}

#[test]
fn tokenize_round_trips() {
    let text = "probe p = out, synapse=lowpass(5ms)  # µ\n\tx: 28x28x1\n";
    let tokens = tokenize(text);
    assert_eq!(tokens.concat(), text);
    assert!(tokens.contains(&"lowpass"));
    assert!(tokens.contains(&"5ms"));
    assert!(tokens.contains(&"28x28x1"));
    assert!(tokens.contains(&"("));
}

#[test]
fn splitmix_is_deterministic() {
    let mut a = SplitMix64::new(1);
    let mut b = SplitMix64::new(1);
    let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
    let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
    assert_eq!(xs, ys);
    assert!((0..1000).all(|_| a.below(7) < 7));
}
