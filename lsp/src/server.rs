//! The message loop: requests in, responses and diagnostics out.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use gen_lsp_types as lsp;
use lsp::{
    CompletionOptions, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentSymbol, DocumentSymbolParams, Hover, InitializeResult,
    Location, MarkupContent, MarkupKind, PositionEncodingKind, ServerCapabilities, ServerInfo,
    SymbolKind, TextDocumentPositionParams, TextDocumentSyncKind, TextDocumentSyncOptions, Uri,
};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use snnc_compiler::diagnostic::Diagnostic;
use snnc_compiler::span::Span;

use crate::completion::complete;
use crate::diagnostics::publish;
use crate::document::Document;
use crate::files::{document_dir, ParamsFiles};
use crate::hover::hover;

/// Serves one client over stdin and stdout until it says `exit`. Returns
/// whether the client shut the server down properly first (the exit code
/// the protocol asks for is 0 then, 1 otherwise). Nothing the client sends
/// ends the server early: see [`crate::transport`].
pub fn run_stdio() -> Result<bool, String> {
    let (connection, reader, writer) = crate::transport::stdio();
    let result = serve(&connection);
    // Dropping the connection ends the writer once it has sent what is
    // queued.
    drop(connection);
    let _ = writer.join();
    match result {
        // After `exit` or the end of stdin the reader thread has ended.
        Ok(clean) => {
            reader
                .join()
                .map_err(|_| "the LSP reader thread panicked".to_string())?;
            Ok(clean)
        }
        // After a handshake error the reader may still be blocked on stdin.
        Err(e) => Err(e),
    }
}

/// What the server can do, as sent in the `initialize` response.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::Full),
                ..Default::default()
            }
            .into(),
        ),
        hover_provider: Some(true.into()),
        definition_provider: Some(true.into()),
        references_provider: Some(true.into()),
        document_symbol_provider: Some(true.into()),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(["(", ",", "=", ">"].iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Runs the protocol on `connection`: the initialize handshake, then
/// messages until `exit`.
pub fn serve(connection: &Connection) -> Result<bool, String> {
    let handshake = |e: lsp_server::ProtocolError| format!("LSP handshake failed: {e}");
    let (id, _params) = connection.initialize_start().map_err(handshake)?;
    let result = InitializeResult {
        capabilities: capabilities(),
        server_info: Some(ServerInfo {
            name: "snnc".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    let result = serde_json::to_value(result).map_err(|e| e.to_string())?;
    connection
        .initialize_finish(id, result)
        .map_err(handshake)?;

    let mut server = Server::default();
    for msg in &connection.receiver {
        let out = match msg {
            Message::Request(req) => vec![Message::Response(server.request(req))],
            Message::Notification(n) if n.method == "exit" => return Ok(server.shut_down),
            Message::Notification(n) => server.notification(n),
            Message::Response(_) => Vec::new(),
        };
        for m in out {
            connection
                .sender
                .send(m)
                .map_err(|e| format!("cannot send to the client: {e}"))?;
        }
    }
    // stdin closed without `exit`.
    Ok(false)
}

struct Failure {
    code: ErrorCode,
    message: String,
}

fn params<P: DeserializeOwned>(value: Value) -> Result<P, Failure> {
    serde_json::from_value(value).map_err(|e| Failure {
        code: ErrorCode::InvalidParams,
        message: format!("invalid params: {e}"),
    })
}

fn json<T: serde::Serialize>(value: T) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|e| Failure {
        code: ErrorCode::InternalError,
        message: e.to_string(),
    })
}

#[derive(Default)]
pub struct Server {
    documents: HashMap<Uri, Document>,
    /// Problems of the params files each document names (E0503), besides
    /// the checker's.
    file_diagnostics: HashMap<Uri, Vec<Diagnostic>>,
    params_files: ParamsFiles,
    shut_down: bool,
}

impl Server {
    /// Answers a request. A handler that panics (a bug) answers with an
    /// error instead of ending the server.
    pub fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        if self.shut_down {
            return Response::new_err(
                id,
                ErrorCode::InvalidRequest as i32,
                "the server is shut down".into(),
            );
        }
        let method = req.method.clone();
        match catch_unwind(AssertUnwindSafe(|| self.dispatch(req))) {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err(f)) => Response::new_err(id, f.code as i32, f.message),
            Err(_) => Response::new_err(
                id,
                ErrorCode::InternalError as i32,
                format!("internal error in snnc lsp while answering {method}"),
            ),
        }
    }

    fn dispatch(&mut self, req: Request) -> Result<Value, Failure> {
        match req.method.as_str() {
            "shutdown" => {
                self.shut_down = true;
                Ok(Value::Null)
            }
            "textDocument/hover" => {
                let tdp: TextDocumentPositionParams = params(req.params)?;
                let Some(doc) = self.documents.get(&tdp.text_document.uri) else {
                    return Ok(Value::Null);
                };
                let offset = doc.offset(tdp.position);
                let answer = hover(&doc.index, doc.text(), offset).map(|(text, span)| Hover {
                    contents: MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: text,
                    }
                    .into(),
                    range: Some(doc.range(span)),
                });
                json(answer)
            }
            "textDocument/definition" => {
                let tdp: TextDocumentPositionParams = params(req.params)?;
                let uri = tdp.text_document.uri;
                let Some(doc) = self.documents.get(&uri) else {
                    return Ok(Value::Null);
                };
                let offset = doc.offset(tdp.position);
                let spans: Vec<Span> = doc
                    .index
                    .symbols_at(offset)
                    .iter()
                    .flat_map(|s| doc.index.definitions(s))
                    .collect();
                json(locations(doc, &uri, spans))
            }
            "textDocument/references" => {
                // Only the position and `includeDeclaration` are read, so
                // a client's odd extra fields do not matter.
                let include_declaration = req.params["context"]["includeDeclaration"]
                    .as_bool()
                    .unwrap_or(true);
                let tdp: TextDocumentPositionParams = params(req.params)?;
                let uri = tdp.text_document.uri;
                let Some(doc) = self.documents.get(&uri) else {
                    return Ok(Value::Null);
                };
                let offset = doc.offset(tdp.position);
                let mut spans: Vec<Span> = doc
                    .index
                    .symbols_at(offset)
                    .iter()
                    .flat_map(|s| doc.index.references(s, include_declaration))
                    .collect();
                spans.sort_by_key(|s| (s.start, s.end));
                spans.dedup();
                json(locations(doc, &uri, spans).unwrap_or_default())
            }
            "textDocument/completion" => {
                let tdp: TextDocumentPositionParams = params(req.params)?;
                let Some(doc) = self.documents.get(&tdp.text_document.uri) else {
                    return Ok(Value::Null);
                };
                let offset = doc.offset(tdp.position);
                json(complete(&doc.index, doc.text(), offset))
            }
            "textDocument/documentSymbol" => {
                let p: DocumentSymbolParams = params(req.params)?;
                let Some(doc) = self.documents.get(&p.text_document.uri) else {
                    return Ok(Value::Null);
                };
                json(document_symbols(doc))
            }
            other => Err(Failure {
                code: ErrorCode::MethodNotFound,
                message: format!("snnc lsp does not handle {other}"),
            }),
        }
    }

    /// Handles a notification; returns the messages to send (diagnostics).
    pub fn notification(&mut self, n: Notification) -> Vec<Message> {
        let method = n.method.clone();
        let result = catch_unwind(AssertUnwindSafe(|| self.notify(n)));
        match result {
            Ok(Some(uri)) => self.diagnostics(&uri).into_iter().collect(),
            Ok(None) => Vec::new(),
            Err(_) => {
                let text = format!("internal error in snnc lsp while handling {method}");
                vec![Message::Notification(Notification::new(
                    "window/logMessage".into(),
                    serde_json::json!({ "type": 1, "message": text }),
                ))]
            }
        }
    }

    /// Applies a notification; returns the document whose diagnostics must
    /// be published again.
    fn notify(&mut self, n: Notification) -> Option<Uri> {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let p: DidOpenTextDocumentParams = serde_json::from_value(n.params).ok()?;
                let doc = Document::new(p.text_document.text, p.text_document.version);
                self.documents.insert(p.text_document.uri.clone(), doc);
                self.check_files(&p.text_document.uri);
                Some(p.text_document.uri)
            }
            "textDocument/didChange" => {
                let p: DidChangeTextDocumentParams = serde_json::from_value(n.params).ok()?;
                let uri = p.text_document.text_document_identifier.uri;
                // A change to a document the server does not have (it was
                // never opened, or lost) can still be taken whole.
                let doc = self
                    .documents
                    .remove(&uri)
                    .unwrap_or_else(|| Document::new(String::new(), 0));
                let doc = doc.changed(p.content_changes, p.text_document.version);
                self.documents.insert(uri.clone(), doc);
                self.check_files(&uri);
                Some(uri)
            }
            "textDocument/didClose" => {
                let p: DidCloseTextDocumentParams = serde_json::from_value(n.params).ok()?;
                self.documents.remove(&p.text_document.uri);
                self.file_diagnostics.remove(&p.text_document.uri);
                // Clear what was published for it.
                Some(p.text_document.uri)
            }
            _ => None,
        }
    }

    /// Checks the params files the document's run blocks name (see
    /// [`crate::files`]); a document that is not a saved file names none.
    fn check_files(&mut self, uri: &Uri) {
        let found = match (self.documents.get(uri), document_dir(uri.as_ref())) {
            (Some(doc), Some(dir)) => match &doc.index.program {
                Some(program) => self.params_files.diagnostics(program, &dir),
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        self.file_diagnostics.insert(uri.clone(), found);
    }

    fn diagnostics(&self, uri: &Uri) -> Option<Message> {
        let params = match self.documents.get(uri) {
            Some(doc) => {
                let mut all = doc.diagnostics.clone();
                all.extend(
                    self.file_diagnostics
                        .get(uri)
                        .into_iter()
                        .flatten()
                        .cloned(),
                );
                publish(uri, Some(doc.version), &doc.lines, &all)
            }
            None => lsp::PublishDiagnosticsParams {
                uri: uri.clone(),
                version: None,
                diagnostics: Vec::new(),
            },
        };
        Some(Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".into(),
            params,
        )))
    }
}

fn locations(doc: &Document, uri: &Uri, spans: Vec<Span>) -> Option<Vec<Location>> {
    if spans.is_empty() {
        return None;
    }
    Some(
        spans
            .into_iter()
            .map(|s| Location::new(uri.clone(), doc.range(s)))
            .collect(),
    )
}

/// The outline: networks with their layers, convert variants, probes and
/// the other blocks.
fn document_symbols(doc: &Document) -> Vec<DocumentSymbol> {
    let idx = &doc.index;
    let symbol = |name: &str,
                  detail: Option<String>,
                  kind: SymbolKind,
                  range: Span,
                  selection: Span,
                  children: Option<Vec<DocumentSymbol>>| {
        DocumentSymbol::new(
            name.to_string(),
            detail,
            kind,
            None,
            None,
            doc.range(range),
            doc.range(selection),
            children,
        )
    };
    let mut out: Vec<(usize, DocumentSymbol)> = Vec::new();
    for n in &idx.networks {
        let layers = n
            .layers
            .iter()
            .map(|l| {
                let shape = idx
                    .layer(&n.name, &l.name)
                    .and_then(|i| i.shape)
                    .map(|s| crate::hover::shape_text(&s));
                let detail = match (l.kind.as_str(), shape) {
                    ("", None) => None,
                    (k, None) => Some(k.to_string()),
                    (k, Some(s)) => Some(format!("{k} {s}")),
                };
                symbol(
                    &l.name,
                    detail,
                    SymbolKind::Field,
                    l.stmt.to(l.span),
                    l.span,
                    None,
                )
            })
            .collect();
        out.push((
            n.block.start,
            symbol(
                &n.name,
                Some("network".into()),
                SymbolKind::Module,
                n.block,
                n.span,
                Some(layers),
            ),
        ));
    }
    for v in &idx.variants {
        let detail = v.base.as_ref().map(|b| format!("convert from {b}"));
        out.push((
            v.block.start,
            symbol(&v.name, detail, SymbolKind::Class, v.block, v.span, None),
        ));
    }
    for p in &idx.probes {
        let detail = p.target.as_ref().map(|t| format!("probe on {t}"));
        out.push((
            p.stmt.start,
            symbol(
                &p.name,
                detail,
                SymbolKind::Event,
                p.stmt.to(p.span),
                p.span,
                None,
            ),
        ));
    }
    for b in idx
        .blocks
        .iter()
        .filter(|b| b.kind == "train" || b.kind == "run")
    {
        let name = match &b.name {
            Some(n) => format!("{} {n}", b.kind),
            None => b.kind.clone(),
        };
        out.push((
            b.span.start,
            symbol(&name, None, SymbolKind::Function, b.span, b.header, None),
        ));
    }
    out.sort_by_key(|(start, _)| *start);
    out.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_server::RequestId;
    use std::thread;
    use std::time::Duration;

    fn request(id: i32, method: &str, params: Value) -> Message {
        Message::Request(Request::new(RequestId::from(id), method.into(), params))
    }

    fn notification(method: &str, params: Value) -> Message {
        Message::Notification(Notification::new(method.into(), params))
    }

    /// The whole protocol in memory, including handlers fed garbage.
    #[test]
    fn serves_in_memory_and_survives_bad_input() {
        let (server, client) = Connection::memory();
        let handle = thread::spawn(move || serve(&server));
        let recv = |c: &Connection| {
            c.receiver
                .recv_timeout(Duration::from_secs(10))
                .expect("a message in time")
        };
        client
            .sender
            .send(request(
                1,
                "initialize",
                serde_json::json!({ "capabilities": {} }),
            ))
            .unwrap();
        let Message::Response(init) = recv(&client) else {
            panic!("initialize response")
        };
        let caps = &init.response_result.expect("result")["capabilities"];
        assert_eq!(caps["textDocumentSync"]["change"], 1);
        assert_eq!(caps["positionEncoding"], "utf-16");
        client
            .sender
            .send(notification("initialized", serde_json::json!({})))
            .unwrap();
        let uri = "file:///x.snn";
        for text in [
            "network n {\n  x = \n",
            "}}}{{(",
            "\u{0}\u{feff}",
            "probe p = q\nnetwork n { input q: 3 }\n",
        ] {
            client
                .sender
                .send(notification(
                    "textDocument/didOpen",
                    serde_json::json!({ "textDocument": { "uri": uri, "languageId": "snn", "version": 1, "text": text } }),
                ))
                .unwrap();
            let Message::Notification(n) = recv(&client) else {
                panic!("diagnostics")
            };
            assert_eq!(n.method, "textDocument/publishDiagnostics");
            for (i, method) in [
                "textDocument/hover",
                "textDocument/definition",
                "textDocument/references",
                "textDocument/completion",
            ]
            .iter()
            .enumerate()
            {
                for (line, character) in [(0, 0), (0, 3), (1, 2), (99, 99)] {
                    let params = serde_json::json!({
                        "textDocument": { "uri": uri },
                        "position": { "line": line, "character": character },
                        "context": { "includeDeclaration": true },
                    });
                    client
                        .sender
                        .send(request(10 + i as i32, method, params))
                        .unwrap();
                    let Message::Response(r) = recv(&client) else {
                        panic!("response")
                    };
                    assert!(
                        r.response_result.is_ok(),
                        "{method}: {:?}",
                        r.response_result
                    );
                }
            }
        }
        // Bad params get an error, not a crash.
        client
            .sender
            .send(request(
                50,
                "textDocument/hover",
                serde_json::json!({ "nonsense": true }),
            ))
            .unwrap();
        let Message::Response(r) = recv(&client) else {
            panic!("response")
        };
        assert_eq!(
            r.response_result.expect_err("error").code,
            ErrorCode::InvalidParams as i32
        );
        client
            .sender
            .send(request(51, "shutdown", Value::Null))
            .unwrap();
        let Message::Response(r) = recv(&client) else {
            panic!("response")
        };
        assert!(r.response_result.is_ok());
        client
            .sender
            .send(notification("exit", Value::Null))
            .unwrap();
        assert_eq!(handle.join().expect("server thread"), Ok(true));
    }
}
