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
        Document {
            version,
            lines: LineIndex::new(text),
            diagnostics,
            index,
        }
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
                TextDocumentContentChangeEvent::TextDocumentContentChangeWholeDocument(c) => {
                    LineIndex::new(c.text)
                }
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
        let index = Index::build(&checked);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{complete, hover::hover};

    /// Every prefix of a real spec (what a file looks like while it is being
    /// typed) and every line deleted in turn: analysis, hover, navigation
    /// and completion must answer without panicking.
    #[test]
    fn every_partial_spec_is_handled() {
        let spec = include_str!("../../specs/mnist.snn");
        let mut texts: Vec<String> = Vec::new();
        let bounds: Vec<usize> = spec
            .char_indices()
            .map(|(i, _)| i)
            .filter(|i| i % 5 == 0)
            .collect();
        texts.extend(bounds.iter().map(|&i| spec[..i].to_string()));
        let lines: Vec<&str> = spec.lines().collect();
        for skip in 0..lines.len() {
            let mut t: Vec<&str> = lines.clone();
            t.remove(skip);
            texts.push(t.join("\n"));
        }
        for text in texts {
            let doc = Document::new(text, 1);
            let len = doc.text().len();
            for offset in [0, len / 3, len / 2, len.saturating_sub(1), len] {
                let _ = hover(&doc.index, doc.text(), offset);
                let _ = complete(&doc.index, doc.text(), offset);
                for s in doc.index.symbols_at(offset) {
                    let _ = doc.index.definitions(&s);
                    let _ = doc.index.references(&s, true);
                }
                let _ = doc.range(Span::new(offset, len));
            }
        }
    }
}
