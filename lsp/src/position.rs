//! Byte offsets to LSP positions and back.
//!
//! The compiler's spans are byte offsets into the UTF-8 text. LSP positions
//! are a 0-based line and a column counted in UTF-16 code units (the
//! encoding every client must support), so `µ` counts one column, and a
//! character outside the Basic Multilingual Plane, such as an emoji, two.
//! Lines end at `\n`, `\r\n` or a lone `\r`, as the protocol says.

use gen_lsp_types::{Position, Range};
use snnc_compiler::span::Span;

/// A text with the byte offset of each line start.
#[derive(Clone, Debug)]
pub struct LineIndex {
    text: String,
    /// `line_starts[i]` is the byte offset where line `i` starts.
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: String) -> Self {
        // The compiler's own line breaks, so LSP lines are the lines of the
        // JSON diagnostics.
        let line_starts = snnc_compiler::span::line_starts(&text);
        LineIndex { text, line_starts }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }

    /// Where line `line`'s content ends (before its line terminator).
    fn content_end(&self, line: usize) -> usize {
        let Some(&next) = self.line_starts.get(line + 1) else {
            return self.text.len();
        };
        let bytes = self.text.as_bytes();
        let mut end = next;
        if end > 0 && bytes[end - 1] == b'\n' {
            end -= 1;
        }
        if end > 0 && bytes[end - 1] == b'\r' && end > self.line_starts[line] {
            end -= 1;
        }
        end
    }

    /// The LSP position of a byte offset. Offsets past the end, or inside a
    /// character or a line terminator, are moved back to the nearest place
    /// a cursor can be.
    pub fn position(&self, offset: usize) -> Position {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let end = offset.min(self.content_end(line));
        let character: usize = self.text[start..end].chars().map(char::len_utf16).sum();
        Position::new(to_u32(line), to_u32(character))
    }

    /// The byte offset of an LSP position. A column past the end of its
    /// line means the end of the line, and a line past the end of the text
    /// the end of the text (as the protocol asks); a column inside a
    /// surrogate pair is moved back to the start of its character.
    pub fn offset(&self, position: Position) -> usize {
        let line = position.line as usize;
        let Some(&start) = self.line_starts.get(line) else {
            return self.text.len();
        };
        let end = self.content_end(line);
        let want = position.character as usize;
        let mut units = 0usize;
        for (i, c) in self.text[start..end].char_indices() {
            if units + c.len_utf16() > want {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }

    pub fn range(&self, span: Span) -> Range {
        Range::new(
            self.position(span.start),
            self.position(span.end.max(span.start)),
        )
    }

    pub fn span(&self, range: Range) -> Span {
        let (a, b) = (self.offset(range.start), self.offset(range.end));
        Span::new(a.min(b), a.max(b))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position::new(line, character)
    }

    #[test]
    fn columns_count_utf16_code_units() {
        // µ: 2 bytes, 1 unit; ö: 2 bytes, 1 unit; 😀: 4 bytes, 2 units.
        let text = "a\n# µö 😀 x\n";
        let idx = LineIndex::new(text.to_string());
        let x = text.find('x').unwrap();
        assert_eq!(idx.position(x), pos(1, 8));
        assert_eq!(idx.offset(pos(1, 8)), x);
        let emoji = text.find('😀').unwrap();
        assert_eq!(idx.position(emoji), pos(1, 5));
        // Inside the surrogate pair: back to the emoji's start.
        assert_eq!(idx.offset(pos(1, 6)), emoji);
        // Inside a multi-byte character: back to its start.
        assert_eq!(idx.position(text.find('µ').unwrap() + 1), pos(1, 2));
    }

    #[test]
    fn every_char_boundary_round_trips() {
        let text = "network µ {\r\n  ä = 😀\r\n\r\n}\rend\nΩ";
        let idx = LineIndex::new(text.to_string());
        for (i, _) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')))
        {
            let p = idx.position(i);
            let back = idx.offset(p);
            let at_terminator = matches!(text.as_bytes().get(i), Some(b'\n') if i > 0 && text.as_bytes()[i - 1] == b'\r');
            if at_terminator {
                // The `\n` of a `\r\n` is not a cursor position: it maps to
                // the end of the line content, before the `\r`.
                assert_eq!(back, i - 1);
            } else {
                assert_eq!(back, i, "offset {i} -> {p:?}");
            }
        }
    }

    #[test]
    fn line_terminators_and_clamping() {
        let text = "ab\r\ncd\ref\n";
        let idx = LineIndex::new(text.to_string());
        assert_eq!(idx.position(4), pos(1, 0));
        assert_eq!(idx.position(7), pos(2, 0));
        assert_eq!(idx.position(text.len()), pos(3, 0));
        assert_eq!(idx.position(text.len() + 10), pos(3, 0));
        assert_eq!(idx.offset(pos(0, 99)), 2);
        assert_eq!(idx.offset(pos(99, 0)), text.len());
        assert_eq!(idx.offset(pos(2, 1)), 8);
    }
}
