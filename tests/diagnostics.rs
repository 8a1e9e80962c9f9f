//! Snapshot tests of the checker's diagnostics.
//!
//! Every `tests/diagnostics/NAME.snn` is a small spec with one or more
//! mistakes. The test checks it and compares
//!
//! - the plain-text rendering (`render_text`, no colour, 80 columns) with
//!   `tests/diagnostics/NAME.stderr`, which must exist;
//! - the JSON rendering (`render_json`) with `tests/diagnostics/NAME.json`,
//!   when that file exists.
//!
//! Every mismatch in the directory is collected and shown as a line diff
//! before the test fails.
//!
//! To (re)write the expected files after an intended change, run
//!
//! ```text
//! SNNC_BLESS=1 cargo test --test diagnostics
//! ```
//!
//! and review the result with `git diff tests/diagnostics`. Blessing writes
//! every `.stderr`, and a `.json` only for cases that already have one: to
//! give a new case a JSON snapshot, create an empty `NAME.json` first.

use std::fs;
use std::path::{Path, PathBuf};

use snnc_compiler::diagnostic::{render_json, render_text};
use snnc_compiler::{check_source, SourceFile};

/// The directory must hold at least this many cases.
const MIN_CASES: usize = 25;

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("diagnostics")
}

fn blessing() -> bool {
    std::env::var_os("SNNC_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The `.snn` cases in the directory, sorted by name.
fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "snn"))
        .collect();
    out.sort();
    out
}

#[test]
fn diagnostics_match_snapshots() {
    let dir = case_dir();
    let bless = blessing();
    let cases = cases(&dir);
    let mut failures: Vec<String> = Vec::new();
    let mut compared = 0usize;
    let mut written = 0usize;

    if cases.len() < MIN_CASES {
        failures.push(format!(
            "{} holds {} `.snn` cases; at least {MIN_CASES} are expected",
            dir.display(),
            cases.len()
        ));
    }

    for path in &cases {
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{file_name}: cannot read: {e}"));
                continue;
            }
        };
        let checked = check_source(&text);
        let source = SourceFile {
            name: format!("tests/diagnostics/{file_name}"),
            text,
        };
        if checked.diagnostics.is_empty() {
            failures.push(format!(
                "{file_name}: no diagnostics at all; every case in this directory must be reported"
            ));
        }

        let mut outputs = vec![(
            path.with_extension("stderr"),
            render_text(&source, &checked.diagnostics, false),
            true,
        )];
        let json_path = path.with_extension("json");
        outputs.push((
            json_path.clone(),
            render_json(&source, &checked.diagnostics),
            json_path.exists(),
        ));

        for (expected_path, actual, wanted) in outputs {
            if !wanted {
                continue;
            }
            let shown = expected_path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if bless {
                let unchanged = fs::read_to_string(&expected_path).is_ok_and(|old| old == actual);
                if !unchanged {
                    fs::write(&expected_path, &actual).unwrap_or_else(|e| {
                        panic!("cannot write {}: {e}", expected_path.display())
                    });
                    written += 1;
                    eprintln!("blessed {shown}");
                }
                continue;
            }
            match fs::read_to_string(&expected_path) {
                Err(_) => failures.push(format!(
                    "{file_name}: no expected file {shown}; run with SNNC_BLESS=1 to write it\n\
                     --- actual output ---\n{actual}"
                )),
                Ok(expected) => {
                    compared += 1;
                    if expected != actual {
                        failures.push(format!(
                            "{shown} does not match (- expected, + actual):\n{}",
                            line_diff(&expected, &actual)
                        ));
                    }
                }
            }
        }
    }

    // Expected files whose case is gone are stale.
    if let Ok(entries) = fs::read_dir(&dir) {
        let mut stale: Vec<String> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "stderr" || x == "json"))
            .filter(|p| !p.with_extension("snn").exists())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        stale.sort();
        for s in stale {
            failures.push(format!(
                "{s} has no matching `.snn` case; delete it or add the case"
            ));
        }
    }

    if bless {
        eprintln!("{} cases, {written} expected files written", cases.len());
    } else {
        eprintln!("{} cases, {compared} expected files compared", cases.len());
    }
    if !failures.is_empty() {
        panic!(
            "{} diagnostic snapshot problem(s):\n\n{}\n\nIf the new output is right, run \
             `SNNC_BLESS=1 cargo test --test diagnostics` and review `git diff tests/diagnostics`.",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

/// A line diff of two texts: unchanged lines prefixed with two spaces,
/// removed (expected) lines with `- `, added (actual) lines with `+ `. Long
/// runs of unchanged lines are shortened to three lines of context.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // Longest common subsequence table, filled from the end.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str, usize)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i], i + 1));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i], i + 1));
            i += 1;
        } else {
            ops.push(('+', b[j], j + 1));
            j += 1;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        ops.push((
            '!',
            "(one text ends with a line break, the other does not)",
            0,
        ));
    }

    const CONTEXT: usize = 3;
    let changed: Vec<bool> = ops.iter().map(|(c, _, _)| *c != ' ').collect();
    let near_change = |k: usize| {
        let lo = k.saturating_sub(CONTEXT);
        let hi = (k + CONTEXT + 1).min(ops.len());
        changed[lo..hi].iter().any(|&c| c)
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, line, n)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            let tag = match c {
                '-' => format!("- {n:>3} | "),
                '+' => format!("+ {n:>3} | "),
                '!' => "!       | ".to_string(),
                _ => "        | ".to_string(),
            };
            out.push_str(&tag);
            out.push_str(line);
            out.push('\n');
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push_str("  ...\n");
    }
    if !changed.iter().any(|&c| c) {
        out.push_str("(the texts differ only in `\\r\\n` versus `\\n` line endings)\n");
    }
    out
}

#[test]
fn line_diff_marks_changes() {
    let diff = line_diff("a\nb\nc\n", "a\nx\nc\n");
    assert!(diff.contains("-   2 | b"), "{diff}");
    assert!(diff.contains("+   2 | x"), "{diff}");
    assert!(diff.contains("        | a"), "{diff}");
}

/// Reads a case and checks it.
fn check_case(name: &str) -> Vec<snnc_compiler::Diagnostic> {
    let path = case_dir().join(format!("{name}.snn"));
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    check_source(&text).diagnostics
}

/// Independent mistakes in different blocks are each reported once, and
/// nothing else is.
#[test]
fn three_mistakes_give_three_diagnostics() {
    let diags = check_case("three_mistakes");
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0102", "E0202", "E0203"], "{diags:#?}");
}

/// Every code the checker can produce has at least one case. (E0502 is
/// for a spec file that cannot be read, tested in cli_run.rs; E0501 is
/// reserved for the runtime: the checker never opens files.)
#[test]
fn every_checker_code_has_a_case() {
    use snnc_compiler::diagnostic::Code;
    let mut seen = std::collections::HashSet::new();
    for path in cases(&case_dir()) {
        let text = fs::read_to_string(&path).unwrap();
        seen.extend(check_source(&text).diagnostics.iter().map(|d| d.code));
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !matches!(c, Code::Runtime | Code::Unreadable) && !seen.contains(*c))
        .map(|c| c.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "no case in tests/diagnostics produces {missing:?}"
    );
}

/// The cases with more than one mistake; every other case is one mistake and
/// must give exactly one diagnostic (no follow-on errors from a broken line,
/// a misspelt key, a broken layer or probe, ...).
const SEVERAL_MISTAKES: [(&str, usize); 3] = [
    ("three_mistakes", 3),
    ("missing_train_settings", 2),
    ("bad_dt_and_present", 2),
];

#[test]
fn one_mistake_gives_one_diagnostic() {
    let mut wrong = Vec::new();
    for path in cases(&case_dir()) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let diags = check_case(&name);
        let want = SEVERAL_MISTAKES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(1, |(_, k)| *k);
        if diags.len() != want {
            let messages: Vec<String> = diags
                .iter()
                .map(|d| format!("{} {}", d.code.as_str(), d.message))
                .collect();
            wrong.push(format!(
                "{name}: {} diagnostics, expected {want}: {messages:#?}",
                diags.len()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The first position the text form shows is the problem's, even when a
/// related place comes earlier in the file.
#[test]
fn text_header_shows_the_primary_place() {
    use snnc_compiler::span::line_col;
    for path in cases(&case_dir()) {
        let text = fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for d in check_source(&text).diagnostics {
            let file = SourceFile {
                name: name.clone(),
                text: text.clone(),
            };
            let rendered = render_text(&file, std::slice::from_ref(&d), false);
            let (line, col) = line_col(&text, d.primary.span.start);
            let header = rendered
                .lines()
                .find(|l| l.contains("╭─["))
                .unwrap_or_else(|| panic!("{name}: no snippet in\n{rendered}"));
            assert!(
                header.contains(&format!("[{name}:{line}:{col}]")),
                "{name}: the first snippet is not at {line}:{col}:\n{rendered}"
            );
        }
    }
}
