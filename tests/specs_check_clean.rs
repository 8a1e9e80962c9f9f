//! Every spec the project ships must check clean: `specs/`, `examples/`
//! (recursively) and `tests/golden/` (when it exists). Warnings are allowed
//! and printed; any error fails the test, with the rendered diagnostics.

use std::fs;
use std::path::{Path, PathBuf};

use snnc_compiler::diagnostic::render_text;
use snnc_compiler::{check_source, SourceFile};

/// `.snn` files under `dir`, recursively, sorted. A missing directory has none.
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

#[test]
fn shipped_specs_check_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let specs = snn_files(&root.join("specs"));
    assert!(
        !specs.is_empty(),
        "specs/ holds no `.snn` file; at least the seed spec is expected"
    );

    let mut files = specs;
    files.extend(snn_files(&root.join("examples")));
    files.extend(snn_files(&root.join("bench")));
    files.extend(snn_files(&root.join("tests").join("golden")));

    let mut failures = Vec::new();
    let mut warnings = 0usize;
    for path in &files {
        let shown = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{shown}: cannot read: {e}"));
                continue;
            }
        };
        let checked = check_source(&text);
        let source = SourceFile {
            name: shown.clone(),
            text,
        };
        let rendered = render_text(&source, &checked.diagnostics, false);
        let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
        if errors > 0 {
            failures.push(format!("{shown}: {errors} error(s)\n{rendered}"));
        } else if checked.program.is_none() {
            failures.push(format!(
                "{shown}: no errors, but the checker built no program"
            ));
        } else if !checked.diagnostics.is_empty() {
            warnings += checked.diagnostics.len();
            eprintln!(
                "{shown}: {} warning(s)\n{rendered}",
                checked.diagnostics.len()
            );
        }
    }
    eprintln!("{} specs checked, {warnings} warning(s)", files.len());
    assert!(
        failures.is_empty(),
        "{} spec(s) do not check clean:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
