//! Diagnostics: one type for every problem any pass finds, rendered three
//! ways from the same data (terminal text through miette, JSON lines for
//! scripts and editors, LSP diagnostics), so the forms cannot disagree.

use std::fmt;

use serde::Serialize;

use crate::span::{line_col, Span};

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
    /// Legal but probably not what was meant.
    Suspicious,
}

impl Code {
    pub const ALL: [Code; 15] = [
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
    source: &'a miette::NamedSource<String>,
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
        let text_len = self.source.inner().len();
        let to_miette = move |label: &Label, primary: bool, text: bool| {
            let start = label.span.start.min(text_len);
            let len = label.span.len().min(text_len - start);
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
    let text = lone_cr_to_lf(&file.text);
    let source = miette::NamedSource::new(&file.name, text);
    let render = |view: &MietteView| {
        let mut out = String::new();
        match handler.render_report(&mut out, view) {
            Ok(()) => Some(out),
            // Rendering into a String cannot fail short of a bug in the
            // handler; the caller falls back to the bare message.
            Err(_) => None,
        }
    };
    let mut out = String::new();
    for diag in diags {
        let view = |secondary, note| MietteView {
            diag,
            source: &source,
            secondary,
            note,
        };
        let mut shown: Vec<&Label> = diag.secondary.iter().collect();
        let mut notes: Vec<&Label> = Vec::new();
        let mut text = render(&view(shown.clone(), None));
        // Where the problem's own snippet starts, when a related label could
        // come before it.
        let earlier = shown.iter().any(|l| l.span.start < diag.primary.span.start);
        let want = if earlier {
            render(&view(Vec::new(), None))
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
            text = render(&view(shown.clone(), None));
        }
        match text {
            Some(t) => out.push_str(&t),
            None => out.push_str(&format!("{}: {}\n", diag.code, diag.message)),
        }
        notes.sort_by_key(|l| l.span.start);
        for note in notes {
            match render(&view(Vec::new(), Some(note))) {
                Some(t) => out.push_str(&t),
                None => out.push_str(&format!("  note: {}\n", note.text)),
            }
        }
    }
    out
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
        let (start_line, start_column) = line_col(source, span.start);
        let (end_line, end_column) = line_col(source, span.end);
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

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    severity: Severity,
    code: &'static str,
    message: &'a str,
    help: Option<&'a str>,
    label: &'a str,
    span: JsonSpan,
    related: Vec<JsonLabel>,
}

/// One JSON object per diagnostic, one per line. Columns are 1-based and
/// count characters; byte offsets are exact.
pub fn render_json(file: &SourceFile, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let json = JsonDiagnostic {
            file: &file.name,
            severity: d.severity,
            code: d.code.as_str(),
            message: &d.message,
            help: d.help.as_deref(),
            label: &d.primary.text,
            span: JsonSpan::new(&file.text, d.primary.span),
            related: d
                .secondary
                .iter()
                .map(|l| JsonLabel {
                    span: JsonSpan::new(&file.text, l.span),
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
