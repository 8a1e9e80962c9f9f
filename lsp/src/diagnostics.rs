//! Checker diagnostics in LSP form.
//!
//! `snnc check --message-format json` prints `render_json` of the checker's
//! diagnostics; the server publishes [`to_lsp`] of the very same list, from
//! the same `check_source` call. The two differ only in how a place is
//! written: JSON gives byte offsets and 1-based lines and character columns,
//! LSP 0-based lines and UTF-16 columns (see [`crate::position`]). The tests
//! here and in `tests/lsp.rs` check that they describe the same places.

use gen_lsp_types as lsp;
use lsp::{DiagnosticRelatedInformation, DiagnosticSeverity, Location, Uri};
use snnc_compiler::diagnostic::{Diagnostic, Severity};

use crate::position::LineIndex;

/// The `source` every diagnostic carries, so users can tell them apart from
/// other tools' in one list.
pub const SOURCE: &str = "snnc";

/// The message an editor shows: the checker's message, the primary label
/// (what is wrong at the underlined place) on its own line when it adds
/// something, and the help last, as `help: ...`, the way the terminal form
/// shows it.
pub fn message_text(d: &Diagnostic) -> String {
    let mut text = d.message.clone();
    let label = d.primary.text.trim();
    if !label.is_empty() && label != d.message.trim() {
        text.push('\n');
        text.push_str(label);
    }
    if let Some(help) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    text
}

/// One checker diagnostic as an LSP diagnostic. Secondary labels (where a
/// name was first defined, ...) become related information at their own
/// places.
pub fn to_lsp(lines: &LineIndex, uri: &Uri, d: &Diagnostic) -> lsp::Diagnostic {
    let related: Vec<DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .map(|l| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), lines.range(l.span)),
            message: if l.text.is_empty() {
                "related".to_string()
            } else {
                l.text.clone()
            },
        })
        .collect();
    let data = serde_json::json!({
        "label": d.primary.text,
        "help": d.help,
    });
    lsp::Diagnostic {
        range: lines.range(d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::Error,
            Severity::Warning => DiagnosticSeverity::Warning,
        }),
        code: Some(d.code.as_str().into()),
        code_description: None,
        source: Some(SOURCE.to_string()),
        message: message_text(d).into(),
        tags: None,
        related_information: (!related.is_empty()).then_some(related),
        data: Some(data),
    }
}

/// All of a document's diagnostics, ready to publish.
pub fn publish(
    uri: &Uri,
    version: Option<i32>,
    lines: &LineIndex,
    diags: &[Diagnostic],
) -> lsp::PublishDiagnosticsParams {
    lsp::PublishDiagnosticsParams {
        uri: uri.clone(),
        version,
        diagnostics: diags.iter().map(|d| to_lsp(lines, uri, d)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_compiler::diagnostic::render_json;
    use snnc_compiler::{check_source, SourceFile};

    /// Non-ASCII text before each error on the same line (and a character
    /// that takes two UTF-16 units), CRLF line ends, a duplicate (with a
    /// secondary label) and a warning.
    const SPEC: &str = "# Größe 😀\r\n\
network mnist {\r\n\
    input image: 28x28x1 # µ-Größe\r\n\
    c1 = conv2d(image, filters=32, kernel=3x3, activation=relu)\r\n\
    c1 = flatten(c1)  \r\n\
    flat = flatten(c1)\r\n\
    out = dense(flat, units=10)\r\n\
    # µ-Größe 😀 x\r\n\
    z = dense(flat, units=10, activation=relux) # µ\r\n\
}\r\n\
convert s from mnist {\r\n\
    swap relu -> lif\r\n\
    scale_firing_rates = 50\r\n\
}\r\n\
probe 😀p = out\r\n";

    fn field(v: &serde_json::Value, k: &str) -> usize {
        v[k].as_u64().expect("number") as usize
    }

    /// Byte offset of a JSON 1-based (line, character column).
    fn json_offset(text: &str, line: usize, col: usize) -> usize {
        let start: usize = text
            .split_inclusive('\n')
            .take(line - 1)
            .map(str::len)
            .sum();
        let rest = &text[start..];
        rest.char_indices()
            .nth(col - 1)
            .map_or(text.len(), |(i, _)| start + i)
    }

    #[test]
    fn lsp_and_json_describe_the_same_places() {
        let checked = check_source(SPEC);
        assert!(checked.diagnostics.len() >= 4, "{:#?}", checked.diagnostics);
        assert!(checked.diagnostics.iter().any(|d| !d.is_error()));
        assert!(checked.diagnostics.iter().any(|d| !d.secondary.is_empty()));
        let file = SourceFile {
            name: "t.snn".into(),
            text: SPEC.into(),
        };
        let json: Vec<serde_json::Value> = render_json(&file, &checked.diagnostics)
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        let lines = LineIndex::new(SPEC.to_string());
        let uri = Uri::from("file:///t.snn");
        let lsp: Vec<lsp::Diagnostic> = checked
            .diagnostics
            .iter()
            .map(|d| to_lsp(&lines, &uri, d))
            .collect();
        assert_eq!(json.len(), lsp.len());
        for (j, l) in json.iter().zip(&lsp) {
            assert_eq!(
                j["code"].as_str(),
                match &l.code {
                    Some(lsp::Code::String(s)) => Some(s.as_str()),
                    _ => None,
                }
            );
            let msg = match &l.message {
                lsp::Message::String(s) => s.clone(),
                lsp::Message::MarkupContent(m) => m.value.clone(),
            };
            assert!(msg.starts_with(j["message"].as_str().unwrap()));
            if let Some(help) = j["help"].as_str() {
                assert!(msg.ends_with(&format!("help: {help}")));
            }
            let severity = if j["severity"] == "error" {
                DiagnosticSeverity::Error
            } else {
                DiagnosticSeverity::Warning
            };
            assert_eq!(l.severity, Some(severity));
            let mut places = vec![(&j["span"], l.range)];
            let related = l.related_information.clone().unwrap_or_default();
            let json_related = j["related"].as_array().cloned().unwrap_or_default();
            assert_eq!(related.len(), json_related.len());
            for (jr, lr) in json_related.iter().zip(&related) {
                assert_eq!(jr["text"].as_str(), Some(lr.message.as_str()));
                places.push((&jr["span"], lr.location.range));
            }
            for (span, range) in places {
                // Same lines (JSON is 1-based) ...
                assert_eq!(field(span, "start_line"), range.start.line as usize + 1);
                assert_eq!(field(span, "end_line"), range.end.line as usize + 1);
                // ... and the same bytes: both columns lead to the byte
                // offset JSON gives.
                let start =
                    json_offset(SPEC, field(span, "start_line"), field(span, "start_column"));
                let end = json_offset(SPEC, field(span, "end_line"), field(span, "end_column"));
                assert_eq!(start, field(span, "start"));
                assert_eq!(end, field(span, "end"));
                assert_eq!(lines.offset(range.start), start, "{span} vs {range:?}");
                assert_eq!(lines.offset(range.end), end, "{span} vs {range:?}");
            }
        }
    }

    #[test]
    fn utf16_columns_after_non_bmp_text_on_the_same_line() {
        let text = "# 😀µ\nnetwork n {\n    input x: 4\n}\nrun {\n    network = n\n    data = npz(\"😀µ-Größe.npz\", x=\"x\", y=\"y\", limit=tset) # µ\n    steps = 1\n}\n";
        let checked = check_source(text);
        let d = checked
            .diagnostics
            .iter()
            .find(|d| d.primary.span.start == text.find("tset").unwrap())
            .expect("diagnostic at `tset`");
        let lines = LineIndex::new(text.to_string());
        let l = to_lsp(&lines, &Uri::from("file:///x.snn"), d);
        // 😀 is two UTF-16 units, µ, ö and ß one each.
        let col = "    data = npz(\"😀µ-Größe.npz\", x=\"x\", y=\"y\", limit="
            .encode_utf16()
            .count() as u32;
        assert_eq!(
            col,
            "    data = npz(\"".len() as u32
                + 2
                + "µ-Größe.npz\", x=\"x\", y=\"y\", limit=".chars().count() as u32
        );
        assert_eq!(l.range.start, lsp::Position::new(6, col));
        assert_eq!(l.range.end, lsp::Position::new(6, col + 4));
    }
}
