//! An open document and what the checker made of it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use gen_lsp_types::{Position, Range, TextDocumentContentChangeEvent};
use snnc_compiler::diagnostic::{Code, Diagnostic};
use snnc_compiler::index::Index;
use snnc_compiler::span::Span;

use crate::position::LineIndex;

pub struct Document {
    pub version: i32,
    pub lines: LineIndex,
    /// Exactly what `snnc check` reports for this text.
    pub diagnostics: Vec<Diagnostic>,
    pub index: Index,
}

impl Document {
    pub fn new(text: String, version: i32) -> Document {
        let (diagnostics, index) = analyse(&text);
        Document { version, lines: LineIndex::new(text), diagnostics, index }
    }

    pub fn text(&self) -> &str {
        self.lines.text()
    }

    /// Applies changes in order: a change without a range replaces the
    /// whole text (what this server asks for), one with a range replaces
    /// that range (accepted too, in case a client sends edits anyway).
    pub fn changed(self, changes: Vec<TextDocumentContentChangeEvent>, version: i32) -> Document {
        let mut lines = self.lines;
        for change in changes {
            lines = match change {
                TextDocumentContentChangeEvent::TextDocumentContentChangeWholeDocument(c) => LineIndex::new(c.text),
                TextDocumentContentChangeEvent::TextDocumentContentChangePartial(c) => {
                    let span = lines.span(c.range);
                    let mut text = lines.into_text();
                    text.replace_range(span.start..span.end, &c.text);
                    LineIndex::new(text)
                }
            };
        }
        Document::new(lines.into_text(), version)
    }

    pub fn offset(&self, position: Position) -> usize {
        self.lines.offset(position)
    }

    pub fn range(&self, span: Span) -> Range {
        self.lines.range(span)
    }
}

/// Checks and indexes `text`. The checker and the index never fail on any
/// text; should either ever panic (a bug), the document still opens, with
/// one diagnostic saying so, instead of taking the server down.
fn analyse(text: &str) -> (Vec<Diagnostic>, Index) {
    let checked = catch_unwind(AssertUnwindSafe(|| {
        let checked = snnc_compiler::check_source(text);
        let index = Index::build(text, checked.program);
        (checked.diagnostics, index)
    }));
    match checked {
        Ok(result) => result,
        Err(_) => {
            let diag = Diagnostic::error(Code::Runtime, Span::new(0, 0), "internal error: the snnc checker crashed on this text")
                .help("please report it with the spec that caused it; `snnc check FILE` shows the same crash");
            (vec![diag], empty_index())
        }
    }
}

fn empty_index() -> Index {
    Index {
        networks: Vec::new(),
        variants: Vec::new(),
        probes: Vec::new(),
        blocks: Vec::new(),
        occurrences: Vec::new(),
        program: None,
        complete: false,
    }
}
