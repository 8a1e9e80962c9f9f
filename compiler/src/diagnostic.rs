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

struct MietteView<'a> {
    diag: &'a Diagnostic,
    source: miette::NamedSource<String>,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let text_len = self.source.inner().len();
        let to_miette = move |label: &Label, primary: bool| {
            let start = label.span.start.min(text_len);
            let len = label.span.len().min(text_len - start);
            let text = (!label.text.is_empty()).then(|| label.text.clone());
            if primary {
                miette::LabeledSpan::new_primary_with_span(text, (start, len))
            } else {
                miette::LabeledSpan::new_with_span(text, (start, len))
            }
        };
        let primary = std::iter::once(to_miette(&self.diag.primary, true));
        let secondary = self.diag.secondary.iter().map(move |l| to_miette(l, false));
        Some(Box::new(primary.chain(secondary)))
    }
}

/// Renders diagnostics for a terminal. `color` picks miette's coloured theme;
/// without it the text is stable (fixed 80 columns, no escapes), which is what
/// the snapshot tests compare.
pub fn render_text(file: &SourceFile, diags: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(80);
    let mut out = String::new();
    for diag in diags {
        let view = MietteView {
            diag,
            source: miette::NamedSource::new(&file.name, file.text.clone()),
        };
        if handler.render_report(&mut out, &view).is_err() {
            // Rendering into a String cannot fail short of a bug in the
            // handler; fall back to the bare message rather than lose it.
            out.push_str(&format!("{}: {}\n", diag.code, diag.message));
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
