//! Reading and checking a spec for the commands that then act on it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use snnc_compiler::diagnostic::{render_text, Diagnostic};
use snnc_compiler::ir::Program;
use snnc_compiler::{check_source, SourceFile};

pub struct Spec {
    pub path: PathBuf,
    /// Paths in the spec are relative to this directory.
    pub dir: PathBuf,
    /// The spec's text, as checked.
    pub text: String,
    pub program: Program,
}

/// Reads a spec, or explains why it cannot.
pub fn read_source(path: &Path) -> Result<SourceFile, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let text = String::from_utf8(text).map_err(|e| {
        format!(
            "`{}` is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(SourceFile {
        name: path.display().to_string(),
        text,
    })
}

pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Reads and checks a spec, printing its diagnostics to stderr. `None` when
/// it has errors (already printed).
pub fn load_spec(path: &Path) -> Result<Option<Spec>, String> {
    let file = read_source(path)?;
    let checked = check_source(&file.text);
    eprint!(
        "{}",
        render_text(&file, &checked.diagnostics, stderr_color())
    );
    let dir = path.parent().map_or_else(
        || PathBuf::from("."),
        |p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        },
    );
    Ok(checked.program.map(|program| Spec {
        path: path.to_path_buf(),
        dir,
        text: file.text,
        program,
    }))
}

impl Spec {
    /// Prints a problem found while running the spec (its data or params
    /// do not fit) to stderr, rendered as `snnc check` renders the spec's
    /// own problems; returns the exit status for it.
    pub fn fail(&self, diagnostic: &Diagnostic) -> ExitCode {
        let file = SourceFile {
            name: self.path.display().to_string(),
            text: self.text.clone(),
        };
        eprint!(
            "{}",
            render_text(&file, std::slice::from_ref(diagnostic), stderr_color())
        );
        ExitCode::from(1)
    }
}
