//! Snapshot tests of the checker's diagnostics, one test per case.
//!
//! Every `tests/diagnostics/NAME.snn` is a small spec with one or more
//! mistakes, and becomes the test `case::NAME`, which checks it and compares
//!
//! - the plain-text rendering (`render_text`, no colour, 80 columns) with
//!   `tests/diagnostics/NAME.stderr`, which must exist;
//! - the JSON rendering (`render_json`) with `tests/diagnostics/NAME.json`,
//!   when that file exists;
//! - the number of diagnostics with what the case is about (one, unless
//!   [`SEVERAL_MISTAKES`] says otherwise), and the first place the text form
//!   shows with the primary span of each diagnostic.
//!
//! A mismatch fails that case's test with a line diff, so a failure names
//! its case; `cargo test --test diagnostics NAME` runs one case.
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
//!
//! Every `tests/run_diagnostics/NAME.snn` is a clean spec whose run block's
//! (or, without one, train block's) data or params do not fit its network:
//! `run_case::NAME` loads them as `snnc run` (`snnc train`) does and compares the diagnostic with `NAME.stderr` (and
//! `NAME.json` when it exists), which `tests/cli_run.rs` also holds the
//! command's stderr to. The paths in these specs are relative to that
//! directory, so the files they name are the repository's examples.
//!
//! The harness is `libtest-mimic` (`harness = false` in Cargo.toml): the
//! cases are files, and each still shows up, filters and fails as a test.

use std::fs;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use snnc_compiler::diagnostic::{render_json, render_text, Code};
use snnc_compiler::{check_source, Diagnostic, SourceFile};
use snnc_runtime::driver;

/// The directory must hold at least this many cases.
const MIN_CASES: usize = 25;

/// The cases with more than one mistake; every other case is one mistake and
/// must give exactly one diagnostic (no follow-on errors from a broken line,
/// a misspelt key, a broken layer or probe, ...).
const SEVERAL_MISTAKES: [(&str, usize); 3] = [
    ("three_mistakes", 3),
    ("missing_train_settings", 2),
    ("bad_dt_and_present", 2),
];

fn main() {
    let args = Arguments::from_args();
    let dir = case_dir();
    let checker_cases = cases(&dir);
    let run_cases = cases(&run_case_dir());
    let mut trials: Vec<Trial> = checker_cases
        .iter()
        .map(|path| {
            let name = stem(path);
            let path = path.clone();
            Trial::test(format!("case::{name}"), move || check_case_file(&path))
        })
        .collect();
    for path in run_cases {
        let name = stem(&path);
        trials.push(Trial::test(format!("run_case::{name}"), move || {
            check_run_case(&path)
        }));
    }
    trials.extend([
        Trial::test("enough_cases", move || enough_cases(checker_cases.len())),
        Trial::test("no_stale_snapshots", no_stale_snapshots),
        Trial::test("line_diff_marks_changes", line_diff_marks_changes),
        Trial::test(
            "three_mistakes_give_three_diagnostics",
            three_mistakes_give_three_diagnostics,
        ),
        Trial::test(
            "every_checker_code_has_a_case",
            every_checker_code_has_a_case,
        ),
    ]);
    libtest_mimic::run(&args, trials).exit();
}

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("diagnostics")
}

fn run_case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("run_diagnostics")
}

fn blessing() -> bool {
    std::env::var_os("SNNC_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
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

/// Everything one case is held to; every problem is collected before the
/// test fails.
fn check_case_file(path: &Path) -> Result<(), Failed> {
    let name = stem(path);
    let file_name = format!("{name}.snn");
    let text = fs::read_to_string(path).map_err(|e| format!("{file_name}: cannot read: {e}"))?;
    let diagnostics = check_source(&text).diagnostics;
    let source = SourceFile {
        name: format!("tests/diagnostics/{file_name}"),
        text,
    };
    let mut failures: Vec<String> = Vec::new();

    let want = SEVERAL_MISTAKES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(1, |(_, k)| *k);
    if diagnostics.len() != want {
        let messages: Vec<String> = diagnostics
            .iter()
            .map(|d| format!("{} {}", d.code.as_str(), d.message))
            .collect();
        failures.push(format!(
            "{} diagnostics, expected {want} (every case in this directory is reported, \
             one diagnostic per mistake): {messages:#?}",
            diagnostics.len()
        ));
    }
    failures.extend(header_problems(&source, &diagnostics));

    let json_path = path.with_extension("json");
    let outputs = [
        (
            path.with_extension("stderr"),
            render_text(&source, &diagnostics, false),
            true,
        ),
        (
            json_path.clone(),
            render_json(&source, &diagnostics),
            json_path.exists(),
        ),
    ];
    for (expected_path, actual, wanted) in outputs {
        if wanted {
            failures.extend(compare_snapshot(&expected_path, &actual));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n\nIf the new output is right, run `SNNC_BLESS=1 cargo test --test diagnostics` \
             and review `git diff tests/diagnostics`.",
            failures.join("\n\n")
        )
        .into())
    }
}

/// A runtime case: the spec is clean, and loading its run block's data and
/// params gives one diagnostic, rendered as `snnc run` prints it.
fn check_run_case(path: &Path) -> Result<(), Failed> {
    let name = stem(path);
    let file_name = format!("{name}.snn");
    let text = fs::read_to_string(path).map_err(|e| format!("{file_name}: cannot read: {e}"))?;
    let checked = check_source(&text);
    if !checked.diagnostics.is_empty() {
        return Err(format!(
            "the spec itself has diagnostics; a runtime case must check clean: {:#?}",
            checked.diagnostics
        )
        .into());
    }
    let program = checked.program.ok_or("no program from a clean spec")?;
    // Relative to the working directory (the package root), as a user
    // running `snnc run tests/run_diagnostics/NAME.snn` there would see it.
    let dir = Path::new("tests/run_diagnostics");
    let diagnostic = match (program.runs.first(), program.trains.first()) {
        (Some(run), _) => match driver::load_predicting(&program, run, dir) {
            Err(d) => *d,
            Ok(loaded) => match driver::labels_fit(&program, run, &loaded.dataset) {
                Err(d) => *d,
                Ok(()) => return Err("the data and params load without a problem".into()),
            },
        },
        // A spec with only a train block: its data, as `snnc train` loads it.
        (None, Some(train)) => match driver::load_training_data(&program, train, dir) {
            Err(d) => *d,
            Ok(_) => return Err("the training data loads without a problem".into()),
        },
        (None, None) => return Err("the spec has neither a run nor a train block".into()),
    };
    let source = SourceFile {
        name: format!("tests/run_diagnostics/{file_name}"),
        text,
    };
    let diagnostics = [diagnostic];
    let mut failures = header_problems(&source, &diagnostics);
    failures.extend(compare_snapshot(
        &path.with_extension("stderr"),
        &render_text(&source, &diagnostics, false),
    ));
    let json_path = path.with_extension("json");
    if json_path.exists() {
        failures.extend(compare_snapshot(
            &json_path,
            &render_json(&source, &diagnostics),
        ));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n").into())
    }
}

/// Compares `actual` with the expected file (or writes it when blessing).
fn compare_snapshot(expected_path: &Path, actual: &str) -> Option<String> {
    let shown = expected_path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if blessing() {
        let unchanged = fs::read_to_string(expected_path).is_ok_and(|old| old == actual);
        if !unchanged {
            if let Err(e) = fs::write(expected_path, actual) {
                return Some(format!("cannot write {}: {e}", expected_path.display()));
            }
            eprintln!("blessed {shown}");
        }
        return None;
    }
    match fs::read_to_string(expected_path) {
        Err(_) => Some(format!(
            "no expected file {shown}; run with SNNC_BLESS=1 to write it\n\
             --- actual output ---\n{actual}"
        )),
        Ok(expected) if expected != actual => Some(format!(
            "{shown} does not match (- expected, + actual):\n{}",
            line_diff(&expected, actual)
        )),
        Ok(_) => None,
    }
}

/// The first position the text form shows is the problem's, even when a
/// related place comes earlier in the file.
fn header_problems(source: &SourceFile, diagnostics: &[Diagnostic]) -> Vec<String> {
    use snnc_compiler::span::line_col;
    let mut out = Vec::new();
    for d in diagnostics {
        let rendered = render_text(source, std::slice::from_ref(d), false);
        let (line, col) = line_col(&source.text, d.primary.span.start);
        let place = format!("[{}:{line}:{col}]", source.name);
        match rendered.lines().find(|l| l.contains("╭─[")) {
            None => out.push(format!("no snippet in\n{rendered}")),
            Some(header) if !header.contains(&place) => out.push(format!(
                "the first snippet is not at {line}:{col}:\n{rendered}"
            )),
            Some(_) => {}
        }
    }
    out
}

fn enough_cases(found: usize) -> Result<(), Failed> {
    if found < MIN_CASES {
        return Err(format!(
            "{} holds {found} `.snn` cases; at least {MIN_CASES} are expected",
            case_dir().display()
        )
        .into());
    }
    Ok(())
}

/// Expected files whose case is gone are stale.
fn no_stale_snapshots() -> Result<(), Failed> {
    let dir = case_dir();
    let entries = fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut stale: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "stderr" || x == "json"))
        .filter(|p| !p.with_extension("snn").exists())
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    stale.sort();
    if stale.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} have no matching `.snn` case; delete them or add the cases",
        stale.join(", ")
    )
    .into())
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

fn line_diff_marks_changes() -> Result<(), Failed> {
    let diff = line_diff("a\nb\nc\n", "a\nx\nc\n");
    for want in ["-   2 | b", "+   2 | x", "        | a"] {
        if !diff.contains(want) {
            return Err(format!("no `{want}` in\n{diff}").into());
        }
    }
    Ok(())
}

/// Reads a case and checks it.
fn check_case(name: &str) -> Result<Vec<Diagnostic>, Failed> {
    let path = case_dir().join(format!("{name}.snn"));
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(check_source(&text).diagnostics)
}

/// Independent mistakes in different blocks are each reported once, and
/// nothing else is.
fn three_mistakes_give_three_diagnostics() -> Result<(), Failed> {
    let diags = check_case("three_mistakes")?;
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
    if codes != ["E0102", "E0202", "E0203"] {
        return Err(format!("codes {codes:?}: {diags:#?}").into());
    }
    Ok(())
}

/// Every code the checker can produce has at least one case. (E0502 is
/// for a spec file that cannot be read, tested in cli_run.rs; E0501 is
/// reserved for the runtime, and E0503 and E0504 are the runtime's, with
/// the cases of tests/run_diagnostics: the checker never opens files.)
fn every_checker_code_has_a_case() -> Result<(), Failed> {
    let mut seen = std::collections::HashSet::new();
    for path in cases(&case_dir()) {
        seen.extend(check_case(&stem(&path))?.iter().map(|d| d.code));
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| {
            !matches!(
                c,
                Code::Runtime | Code::Unreadable | Code::BadParams | Code::BadData
            ) && !seen.contains(*c)
        })
        .map(|c| c.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("no case in tests/diagnostics produces {missing:?}").into())
    }
}
