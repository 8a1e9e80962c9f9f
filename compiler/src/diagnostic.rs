//! Diagnostics: one type for every problem any pass finds, rendered three
//! ways from the same data (terminal text through miette, JSON lines for
//! scripts and editors, LSP diagnostics), so the forms cannot disagree.

use std::fmt;

use serde::Serialize;

use crate::span::{floor_char_boundary, LineIndex, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A stable code per class of problem. The numbers never change meaning;
/// `docs/diagnostics.md` lists them with an example each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The text does not parse.
    Syntax,
    /// A `{` that is never closed.
    UnclosedBlock,
    /// An unknown block kind, setting, layer kind, neuron type, ...
    UnknownKeyword,
    /// A name is defined twice.
    Duplicate,
    /// A reference to a name that is not defined.
    UnknownName,
    /// A required setting or argument is missing.
    Missing,
    /// A value of the wrong kind (a string where a number belongs, ...).
    WrongType,
    /// A literal with the wrong unit, or an unknown unit.
    WrongUnit,
    /// A value outside its allowed range.
    OutOfRange,
    /// Tensor shapes that do not fit together.
    ShapeMismatch,
    /// A swap whose source activation or layer appears nowhere.
    UnusedSwap,
    /// A synapse on a connection the network does not have.
    NoSuchConnection,
    /// A loss that does not fit its probe or data.
    BadLoss,
    /// Something the runtime refuses: data, params or paths.
    Runtime,
    /// The spec file itself cannot be read: missing, a directory, not UTF-8.
    Unreadable,
    /// A run's params file cannot be read or does not fit the network.
    BadParams,
    /// A run's data cannot be read or does not fit the network.
    BadData,
    /// Legal but probably not what was meant.
    Suspicious,
}

impl Code {
    pub const ALL: [Code; 18] = [
        Code::Syntax,
        Code::UnclosedBlock,
        Code::UnknownKeyword,
        Code::Duplicate,
        Code::UnknownName,
        Code::Missing,
        Code::WrongType,
        Code::WrongUnit,
        Code::OutOfRange,
        Code::ShapeMismatch,
        Code::UnusedSwap,
        Code::NoSuchConnection,
        Code::BadLoss,
        Code::Runtime,
        Code::Unreadable,
        Code::BadParams,
        Code::BadData,
        Code::Suspicious,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "E0001",
            Code::UnclosedBlock => "E0002",
            Code::UnknownKeyword => "E0101",
            Code::Duplicate => "E0102",
            Code::UnknownName => "E0103",
            Code::Missing => "E0104",
            Code::WrongType => "E0201",
            Code::WrongUnit => "E0202",
            Code::OutOfRange => "E0203",
            Code::ShapeMismatch => "E0301",
            Code::UnusedSwap => "E0401",
            Code::NoSuchConnection => "E0402",
            Code::BadLoss => "E0403",
            Code::Runtime => "E0501",
            Code::Unreadable => "E0502",
            Code::BadParams => "E0503",
            Code::BadData => "E0504",
            Code::Suspicious => "W0001",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The place the problem is; always present so every form has a span.
    pub primary: Label,
    /// Related places (where a name was first defined, ...).
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: if matches!(code, Code::Suspicious) {
                Severity::Warning
            } else {
                Severity::Error
            },
            message: message.into(),
            primary: Label {
                span,
                text: String::new(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic::error(Code::Suspicious, span, message)
    }

    /// The text under the primary underline.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.primary.text = text.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A source file as diagnostics refer to it.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

// ------------------------------------------------------------- text ------

/// One report for miette: a diagnostic with the secondary labels shown in
/// its snippet, or (`note`) one secondary label shown on its own.
struct MietteView<'a> {
    diag: &'a Diagnostic,
    source: &'a Snippets,
    /// The secondary labels shown with the primary.
    secondary: Vec<&'a Label>,
    /// Set for a note: the label it shows, as its only (primary) label.
    note: Option<&'a Label>,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.note {
            Some(l) if l.text.is_empty() => f.write_str("note: related place"),
            Some(l) => write!(f, "note: {}", l.text),
            None => f.write_str(&self.diag.message),
        }
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.note.is_some() {
            return None;
        }
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        if self.note.is_some() {
            return Some(miette::Severity::Advice);
        }
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.note.is_some() {
            return None;
        }
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let source = self.source;
        let to_miette = move |label: &Label, primary: bool, text: bool| {
            let start = source.place(label.span.start);
            let len = source.place(label.span.end.max(label.span.start)) - start;
            let text = (text && !label.text.is_empty()).then(|| label.text.clone());
            if primary {
                miette::LabeledSpan::new_primary_with_span(text, (start, len))
            } else {
                miette::LabeledSpan::new_with_span(text, (start, len))
            }
        };
        if let Some(note) = self.note {
            return Some(Box::new(std::iter::once(to_miette(note, true, false))));
        }
        let primary = std::iter::once(to_miette(&self.diag.primary, true, true));
        let secondary = self
            .secondary
            .iter()
            .map(move |l| to_miette(l, false, true));
        Some(Box::new(primary.chain(secondary)))
    }
}

/// `text` with every `\r` that is not part of a `\r\n` replaced by `\n`.
fn lone_cr_to_lf(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(if c == '\r' && chars.peek() != Some(&'\n') {
            '\n'
        } else {
            c
        });
    }
    out
}

/// The first snippet header of a rendered report: `╭─[file:line:col]`.
fn first_header(rendered: &str) -> Option<&str> {
    rendered.lines().find(|l| l.contains("╭─["))
}

/// Renders diagnostics for a terminal. `color` picks miette's coloured theme;
/// without it the text is stable (fixed 80 columns, no escapes), which is what
/// the snapshot tests compare.
///
/// miette shows snippets in file order and heads each with its position, so
/// a related place earlier in the file than the problem would come first
/// and give the report's first `╭─[file:line:col]`. As rustc and ruff do,
/// the first position shown is the problem's: a related label that shares
/// the problem's snippet stays in it, and one that would come first in a
/// snippet of its own is shown after the report, as a note with its own
/// snippet.
pub fn render_text(file: &SourceFile, diags: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(80);
    // miette breaks lines at `\n` only; a lone `\r` (a line break to the
    // grammar, the JSON positions and the LSP) becomes a `\n` of the same
    // length, so offsets stay put and every form shows the same lines.
    let full = Snippets::new(file.name.clone(), lone_cr_to_lf(&file.text));
    let render = |diag: &Diagnostic, secondary: Vec<&Label>, note: Option<&Label>| {
        // A label on a very long line is shown on a window of that line.
        let spans: Vec<Span> = match note {
            Some(l) => vec![l.span],
            None => std::iter::once(&diag.primary)
                .chain(secondary.iter().copied())
                .map(|l| l.span)
                .collect(),
        };
        let excerpt = full.excerpt(&spans);
        let view = MietteView {
            diag,
            source: excerpt.as_ref().unwrap_or(&full),
            secondary,
            note,
        };
        let mut out = String::new();
        match handler.render_report(&mut out, &view) {
            Ok(()) => Some(out),
            // Rendering into a String cannot fail short of a bug in the
            // handler; the caller falls back to the bare message.
            Err(_) => None,
        }
    };
    let mut out = String::new();
    for diag in diags {
        let mut shown: Vec<&Label> = diag.secondary.iter().collect();
        let mut notes: Vec<&Label> = Vec::new();
        let mut text = render(diag, shown.clone(), None);
        // Where the problem's own snippet starts, when a related label could
        // come before it.
        let earlier = shown.iter().any(|l| l.span.start < diag.primary.span.start);
        let want = if earlier {
            render(diag, Vec::new(), None)
        } else {
            None
        };
        let want = want.as_deref().and_then(first_header).map(str::to_string);
        while let Some(t) = text.as_ref().filter(|_| earlier) {
            if first_header(t).map(str::to_string) == want {
                break;
            }
            // The earliest related label comes first: show it as a note.
            let Some(i) = (0..shown.len())
                .filter(|&i| shown[i].span.start < diag.primary.span.start)
                .min_by_key(|&i| shown[i].span.start)
            else {
                break;
            };
            notes.push(shown.remove(i));
            text = render(diag, shown.clone(), None);
        }
        match text {
            Some(t) => out.push_str(&t),
            None => out.push_str(&format!("{}: {}\n", diag.code, diag.message)),
        }
        notes.sort_by_key(|l| l.span.start);
        for note in notes {
            match render(diag, Vec::new(), Some(note)) {
                Some(t) => out.push_str(&t),
                None => out.push_str(&format!("  note: {}\n", note.text)),
            }
        }
    }
    out
}

/// Lines longer than this many characters are shown on a window around
/// their labels (miette cannot place an underline beyond column 65,535, and
/// a screen of one line shows nothing).
const LONG_LINE: usize = 1000;
/// How many characters of a long line are shown, and how many of them come
/// before the first label on it.
const WINDOW: usize = 120;
const WINDOW_BEFORE: usize = 40;
/// What stands for the characters cut from a long line.
const CUT: &str = "…";

/// The text miette reads snippets from, with its lines indexed once so that
/// placing a snippet costs a binary search, not a scan from the file's
/// start (miette's own `SourceCode` for strings scans). Positions in the
/// header count characters, as the JSON and the LSP do.
///
/// An excerpt holds only some lines of the file, long ones cut to a window;
/// it maps file offsets into itself and shows the file's line numbers and
/// columns.
struct Snippets {
    name: String,
    text: String,
    index: LineIndex,
    /// For an excerpt: the file's 0-based line number of the first line.
    first_line: usize,
    /// For an excerpt: one entry per line, in order.
    lines: Vec<ExcerptLine>,
}

/// One line of an excerpt.
struct ExcerptLine {
    /// Where the line starts and its text (without the break) ends, in the
    /// file.
    file_start: usize,
    file_end: usize,
    /// Where it starts in the excerpt.
    start: usize,
    /// A cut line: the window `a..b` of the file kept, the window's column
    /// in characters, and the bytes of the marker before it.
    cut: Option<Cut>,
}

struct Cut {
    a: usize,
    b: usize,
    col: usize,
    before: usize,
    after: usize,
}

impl Snippets {
    fn new(name: String, text: String) -> Self {
        let index = LineIndex::new(&text);
        Snippets {
            name,
            text,
            index,
            first_line: 0,
            lines: Vec::new(),
        }
    }

    /// The end of line `k`'s text, before its break.
    fn line_end(&self, k: usize) -> usize {
        let starts = self.index.starts();
        let bytes = self.text.as_bytes();
        match starts.get(k + 1) {
            None => self.text.len(),
            Some(&next) => {
                let mut end = next - 1;
                if end > starts[k] && bytes[end - 1] == b'\r' {
                    end -= 1;
                }
                end
            }
        }
    }

    /// An excerpt of this (whole-file) text for a report with these
    /// labels, when a line they touch, or the line around them, is too long
    /// to show; `None` when every such line is short.
    fn excerpt(&self, spans: &[Span]) -> Option<Snippets> {
        let len = self.text.len();
        let last = self.index.starts().len() - 1;
        let lines_of = |s: &Span| {
            let a = self.index.line_of(s.start.min(len));
            let b = self.index.line_of(s.end.max(s.start).min(len));
            (a, b)
        };
        let lo = spans.iter().map(|s| lines_of(s).0).min()?.saturating_sub(1);
        let hi = (spans.iter().map(|s| lines_of(s).1).max()? + 1).min(last);
        let long = |k: usize| {
            let (start, end) = (self.index.starts()[k], self.line_end(k));
            end - start > LONG_LINE && self.text[start..end].chars().count() > LONG_LINE
        };
        let touched = spans.iter().any(|s| {
            let (a, b) = lines_of(s);
            (a.saturating_sub(1)..=(b + 1).min(last)).any(long)
        });
        if !touched {
            return None;
        }
        let mut text = String::new();
        let mut lines = Vec::with_capacity(hi - lo + 1);
        for k in lo..=hi {
            let file_start = self.index.starts()[k];
            let file_end = self.line_end(k);
            let next = self.index.starts().get(k + 1).copied().unwrap_or(len);
            let start = text.len();
            let cut = if long(k) {
                let line = &self.text[file_start..file_end];
                // The window starts a little before the first label that
                // starts on this line (or the first place on it).
                let anchor = spans
                    .iter()
                    .flat_map(|s| [s.start, s.end])
                    .filter(|&o| o >= file_start && o <= file_end)
                    .min()
                    .unwrap_or(file_start);
                let anchor_col = line[..floor_char_boundary(line, anchor - file_start)]
                    .chars()
                    .count();
                let total = line.chars().count();
                let col = anchor_col
                    .saturating_sub(WINDOW_BEFORE)
                    .min(total.saturating_sub(WINDOW));
                let byte_at = |c: usize| line.char_indices().nth(c).map_or(line.len(), |(i, _)| i);
                let (a, b) = (byte_at(col), byte_at(col + WINDOW));
                let before = if a > 0 { CUT.len() } else { 0 };
                let after = if b < line.len() { CUT.len() } else { 0 };
                if before > 0 {
                    text.push_str(CUT);
                }
                text.push_str(&line[a..b]);
                if after > 0 {
                    text.push_str(CUT);
                }
                text.push_str(&self.text[file_end..next]);
                Some(Cut {
                    a: file_start + a,
                    b: file_start + b,
                    col,
                    before,
                    after,
                })
            } else {
                text.push_str(&self.text[file_start..next]);
                None
            };
            lines.push(ExcerptLine {
                file_start,
                file_end,
                start,
                cut,
            });
        }
        let mut excerpt = Snippets::new(self.name.clone(), text);
        excerpt.first_line = lo;
        excerpt.lines = lines;
        Some(excerpt)
    }

    /// Where a file offset is in this text.
    fn place(&self, offset: usize) -> usize {
        let len = self.text.len();
        if self.lines.is_empty() {
            return offset.min(len);
        }
        let i = self
            .lines
            .partition_point(|l| l.file_start <= offset)
            .saturating_sub(1);
        let line = &self.lines[i];
        if offset < line.file_start {
            return 0;
        }
        let at = match &line.cut {
            None => line.start + (offset - line.file_start),
            Some(c) => {
                let kept = line.start + c.before;
                if offset < c.a {
                    line.start
                } else if offset <= c.b {
                    kept + (offset - c.a)
                } else if offset < line.file_end {
                    kept + (c.b - c.a) + c.after
                } else {
                    kept + (c.b - c.a) + c.after + (offset - line.file_end)
                }
            }
        };
        at.min(len)
    }

    /// How many line breaks start at or before byte `x` (miette counts a
    /// `\r\n` at its `\r`).
    fn breaks_upto(&self, x: usize) -> usize {
        let starts = &self.index.starts()[1..];
        let mut n = starts.partition_point(|&st| st <= x + 1);
        if n < starts.len() && starts[n] == x + 2 && self.text.as_bytes().get(x) == Some(&b'\r') {
            n += 1;
        }
        n
    }

    /// The column, in characters from its line's start, of an offset of
    /// this text, counted in the file for a cut line.
    fn column(&self, offset: usize) -> usize {
        let line = self.index.line_of(offset);
        let start = self.index.starts()[line];
        let offset = floor_char_boundary(&self.text, offset).max(start);
        match self.lines.get(line).and_then(|l| l.cut.as_ref()) {
            Some(c) if offset >= start + c.before => {
                c.col + self.text[start + c.before..offset].chars().count()
            }
            Some(c) => c.col,
            None => self.text[start..offset].chars().count(),
        }
    }
}

/// What miette's `SourceCode` for strings returns, from the line index:
/// the same bytes, lines and line counts, with the column in characters.
impl miette::SourceCode for Snippets {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let len = self.text.len();
        let (s, e) = (span.offset(), span.offset() + span.len());
        if s > len || e > len + 1 {
            return Err(miette::MietteError::OutOfBounds);
        }
        let starts = self.index.starts();
        let total = starts.len() - 1;
        // Lines before the span's line; the snippet starts `before` lines up.
        let line = if s == 0 { 0 } else { self.breaks_upto(s - 1) };
        let first = line.saturating_sub(before);
        // The byte after which the lines after the span are counted.
        let t = e.max(1) - 1;
        let ended = self.breaks_upto(t);
        let (data_start, column) = if before == 0 {
            (s, self.column(s))
        } else {
            (starts[first], 0)
        };
        let (data_end, line_count) = if after == 0 {
            ((t + 1).min(len), ended)
        } else if ended + after < total {
            (starts[ended + after + 1], ended + after + 1)
        } else {
            (len, total)
        };
        let data_end = data_end.max(data_start);
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[data_start..data_end],
            (data_start, data_end - data_start).into(),
            self.first_line + if before == 0 { line } else { first },
            column,
            self.first_line + line_count,
        )))
    }
}

// ------------------------------------------------------------- JSON ------

#[derive(Serialize)]
pub struct JsonSpan {
    pub start: usize,
    pub end: usize,
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl JsonSpan {
    pub fn new(source: &str, span: Span) -> Self {
        JsonSpan::at(&LineIndex::new(source), source, span)
    }

    /// As [`JsonSpan::new`], with the text's line index built once.
    pub fn at(index: &LineIndex, source: &str, span: Span) -> Self {
        let (start_line, start_column) = index.line_col(source, span.start);
        let (end_line, end_column) = index.line_col(source, span.end);
        JsonSpan {
            start: span.start,
            end: span.end,
            start_line,
            start_column,
            end_line,
            end_column,
        }
    }
}

#[derive(Serialize)]
struct JsonLabel {
    span: JsonSpan,
    text: String,
}

/// The version of a `--message-format json` line's layout: raised when a
/// key changes meaning or goes away (new keys do not raise it).
/// docs/json.md documents each version.
pub const DIAGNOSTIC_SCHEMA: u32 = 1;

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    schema: u32,
    file: &'a str,
    severity: Severity,
    code: &'static str,
    message: &'a str,
    help: Option<&'a str>,
    label: &'a str,
    span: JsonSpan,
    related: Vec<JsonLabel>,
}

/// The JSON line for a spec that cannot be read at all (missing, a
/// directory, not UTF-8): one E0502 diagnostic at the file's start, so that
/// a script reading `--message-format json` gets JSON for every file.
pub fn render_json_unreadable(name: &str, message: &str) -> String {
    let file = SourceFile {
        name: name.to_string(),
        text: String::new(),
    };
    let diag = Diagnostic::error(Code::Unreadable, Span::default(), message)
        .label("cannot read this file");
    render_json(&file, &[diag])
}

/// One JSON object per diagnostic, one per line. Columns are 1-based and
/// count characters; byte offsets are exact.
pub fn render_json(file: &SourceFile, diags: &[Diagnostic]) -> String {
    let index = LineIndex::new(&file.text);
    let mut out = String::new();
    for d in diags {
        let json = JsonDiagnostic {
            schema: DIAGNOSTIC_SCHEMA,
            file: &file.name,
            severity: d.severity,
            code: d.code.as_str(),
            message: &d.message,
            help: d.help.as_deref(),
            label: &d.primary.text,
            span: JsonSpan::at(&index, &file.text, d.primary.span),
            related: d
                .secondary
                .iter()
                .map(|l| JsonLabel {
                    span: JsonSpan::at(&index, &file.text, l.span),
                    text: l.text.clone(),
                })
                .collect(),
        };
        // Serialising plain strings and numbers cannot fail.
        if let Ok(line) = serde_json::to_string(&json) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}
