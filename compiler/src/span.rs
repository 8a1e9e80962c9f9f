//! Byte spans into the source text.
//!
//! Every AST node and every IR entity a user wrote keeps the span of the text
//! it came from, so a diagnostic raised by any pass (parser, checker, runtime
//! loading params) can point at the exact place in the spec.

use serde::Serialize;

/// A half-open byte range `start..end` into one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn len(self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

impl From<pest::Span<'_>> for Span {
    fn from(s: pest::Span<'_>) -> Self {
        Span::new(s.start(), s.end())
    }
}

/// A value with the span of the text it was read from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// Whether the byte at `i` ends a line: `\n`, or a `\r` not followed by
/// `\n` (so `\r\n`, `\n` and a lone `\r` are each one line break, as
/// the grammar's `NEWLINE` and the LSP read them).
fn ends_line(bytes: &[u8], i: usize) -> bool {
    match bytes[i] {
        b'\n' => true,
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        _ => false,
    }
}

/// The byte offset where each line starts; the first is 0.
pub fn line_starts(source: &str) -> Vec<usize> {
    let bytes = source.as_bytes();
    let mut starts = vec![0];
    starts.extend(
        (0..bytes.len())
            .filter(|&i| ends_line(bytes, i))
            .map(|i| i + 1),
    );
    starts
}

/// 1-based line and column (in characters) of a byte offset, as editors and
/// the JSON diagnostics show them. Lines end at `\r\n`, `\n` or a lone
/// `\r`; an offset inside a `\r\n` is the end of its line.
///
/// This builds a [`LineIndex`] each call; to place many offsets in one
/// text, build the index once.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(source).line_col(source, offset)
}

/// Where each line of one text starts, built once so that placing an offset
/// costs a binary search and a walk over its own line, not a scan from the
/// start of the file.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> Self {
        LineIndex {
            starts: line_starts(source),
        }
    }

    /// The byte offset where each line starts; the first is 0.
    pub fn starts(&self) -> &[usize] {
        &self.starts
    }

    /// The 0-based line holding byte `offset` (the line a break ends, for
    /// the break's own bytes).
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }

    /// As [`line_col`], for the text this index was built from.
    pub fn line_col(&self, source: &str, offset: usize) -> (usize, usize) {
        let mut offset = floor_char_boundary(source, offset.min(source.len()));
        let bytes = source.as_bytes();
        if offset > 0 && bytes.get(offset) == Some(&b'\n') && bytes[offset - 1] == b'\r' {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let line_start = self.starts.get(line).copied().unwrap_or(0).min(offset);
        let col = source[line_start..offset].chars().count() + 1;
        (line + 1, col)
    }
}

/// The largest char boundary at or below `offset`.
pub fn floor_char_boundary(source: &str, mut offset: usize) -> usize {
    while offset > 0 && !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let src = "ab\nµx = 1\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 3), (2, 1));
        // 'x' sits after the two-byte 'µ'.
        assert_eq!(line_col(src, 5), (2, 2));
        assert_eq!(line_col(src, src.len()), (3, 1));
    }

    #[test]
    fn every_line_break_counts_once() {
        let src = "a\r\nb\rc\nd";
        assert_eq!(line_starts(src), vec![0, 3, 5, 7]);
        assert_eq!(line_col(src, 3), (2, 1)); // b
        assert_eq!(line_col(src, 5), (3, 1)); // c, after a lone \r
        assert_eq!(line_col(src, 7), (4, 1)); // d
                                              // The end of the first line, at its `\r` or inside its `\r\n`.
        assert_eq!(line_col(src, 1), (1, 2));
        assert_eq!(line_col(src, 2), (1, 2));
    }

    /// The index agrees with a scan from the start at every offset,
    /// including offsets inside a character and inside a `\r\n`.
    #[test]
    fn line_index_agrees_with_a_scan() {
        fn scan(source: &str, offset: usize) -> (usize, usize) {
            let mut offset = floor_char_boundary(source, offset.min(source.len()));
            let bytes = source.as_bytes();
            if offset > 0 && bytes.get(offset) == Some(&b'\n') && bytes[offset - 1] == b'\r' {
                offset -= 1;
            }
            let breaks = (0..offset).filter(|&i| ends_line(bytes, i));
            let (line, start) = breaks.fold((1, 0), |(n, _), i| (n + 1, i + 1));
            (line, source[start..offset].chars().count() + 1)
        }
        let src = "a\r\nµb\rc\n\n é}\r\n";
        let index = LineIndex::new(src);
        for offset in 0..=src.len() + 2 {
            assert_eq!(
                index.line_col(src, offset),
                scan(src, offset),
                "offset {offset}"
            );
        }
    }
}
