//! The stdio transport: `Content-Length` framing read defensively.
//!
//! `lsp-server`'s own stdio reader ends on the first malformed message (bad
//! UTF-8, bad JSON, a `method` that is not a string) and allocates whatever
//! `Content-Length` says before reading it. This one never ends on what a
//! client sends: a malformed message is answered with an error when it has
//! an `id`, and otherwise skipped with a line on stderr; a message longer
//! than [`MAX_MESSAGE`] is read past (not into memory) and skipped.

use std::io::{self, BufRead, Read, Write};
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender};
use lsp_server::{Connection, ErrorCode, Message, RequestId, Response};
use serde_json::Value;

/// The longest message read into memory. Whole documents are synced on
/// every change, so this bounds the spec size an editor can send.
pub const MAX_MESSAGE: usize = 64 << 20;

/// The longest header line kept; the rest of a longer line is skipped.
const MAX_HEADER_LINE: usize = 4 << 10;

/// One framed message, or why there is none.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// The body of a well-framed message.
    Body(Vec<u8>),
    /// A frame that was read past; says why.
    Skipped(String),
    /// The end of the input.
    End,
}

/// Reads one header line, at most [`MAX_HEADER_LINE`] bytes of it kept.
/// `None` at the end of the input.
fn header_line(r: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = Read::take(&mut *r, MAX_HEADER_LINE as u64).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") && n == MAX_HEADER_LINE {
        // Skip the rest of an overlong line without keeping it.
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let m = Read::take(&mut *r, MAX_HEADER_LINE as u64).read_until(b'\n', &mut rest)?;
            if m == 0 || rest.ends_with(b"\n") {
                break;
            }
        }
    }
    Ok(Some(line))
}

/// Reads the next frame: header lines up to an empty one, then the body.
pub fn read_frame(r: &mut impl BufRead) -> io::Result<Frame> {
    let mut length: Option<Result<usize, String>> = None;
    let mut any = false;
    loop {
        let Some(line) = header_line(r)? else {
            return Ok(if any {
                Frame::Skipped("the input ended inside a message's headers".into())
            } else {
                Frame::End
            });
        };
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if any {
                break;
            }
            // Blank lines between messages are harmless.
            continue;
        }
        any = true;
        if let Some((name, value)) = text.split_once(':') {
            if name.trim().eq_ignore_ascii_case("Content-Length") {
                let value = value.trim();
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("Content-Length `{value}` is not a byte count")),
                );
            }
        }
    }
    let length = match length {
        None => return Ok(Frame::Skipped("a message without Content-Length".into())),
        Some(Err(e)) => return Ok(Frame::Skipped(e)),
        Some(Ok(n)) => n,
    };
    if length > MAX_MESSAGE {
        // Read past the body in small pieces: nothing of its size is
        // allocated.
        let skipped = io::copy(&mut Read::take(&mut *r, length as u64), &mut io::sink())?;
        if (skipped as usize) < length {
            return Ok(Frame::End);
        }
        return Ok(Frame::Skipped(format!(
            "a message of {length} bytes, more than the {MAX_MESSAGE} bytes snnc lsp reads"
        )));
    }
    let mut body = vec![0; length];
    match r.read_exact(&mut body) {
        Ok(()) => Ok(Frame::Body(body)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Frame::End),
        Err(e) => Err(e),
    }
}

/// A message that cannot be handled: the error to answer with (when it has
/// an `id`) and what to log.
#[derive(Debug)]
pub struct Malformed {
    pub id: Option<RequestId>,
    pub code: ErrorCode,
    pub message: String,
}

impl Malformed {
    /// The error response, for a message with an `id`.
    pub fn response(&self) -> Option<Response> {
        let id = self.id.clone()?;
        Some(Response::new_err(
            id,
            self.code as i32,
            self.message.clone(),
        ))
    }
}

fn request_id(v: &Value) -> Option<RequestId> {
    serde_json::from_value(v.get("id")?.clone()).ok()
}

/// Decodes a message body.
pub fn decode(body: &[u8]) -> Result<Message, Malformed> {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            // The `id` may still be readable around the bad bytes.
            let lossy = String::from_utf8_lossy(body);
            let id = serde_json::from_str::<Value>(&lossy)
                .ok()
                .and_then(|v| request_id(&v));
            return Err(Malformed {
                id,
                code: ErrorCode::ParseError,
                message: format!(
                    "the message is not UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            });
        }
    };
    let value: Value = serde_json::from_str(text).map_err(|e| Malformed {
        id: None,
        code: ErrorCode::ParseError,
        message: format!("the message is not JSON: {e}"),
    })?;
    let id = request_id(&value);
    let invalid = |message: String| Malformed {
        id: id.clone(),
        code: ErrorCode::InvalidRequest,
        message,
    };
    if !value.is_object() {
        return Err(invalid("the message is not a JSON object".into()));
    }
    if let Some(m) = value.get("method").filter(|m| !m.is_string()) {
        return Err(invalid(format!("`method` must be a string, found {m}")));
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        invalid(format!(
            "not a JSON-RPC request, response or notification: {e}"
        ))
    })
}

/// Reads frames from `input` and forwards the messages to `to_server`,
/// answering malformed requests through `to_client`. Ends at the end of the
/// input, after an `exit` notification, or when the server is gone.
pub fn read_loop(
    input: &mut impl BufRead,
    to_server: &Sender<Message>,
    to_client: &Sender<Message>,
    log: &mut impl Write,
) -> io::Result<()> {
    loop {
        let body = match read_frame(input)? {
            Frame::End => return Ok(()),
            Frame::Skipped(why) => {
                let _ = writeln!(log, "snnc lsp: skipped {why}");
                continue;
            }
            Frame::Body(b) => b,
        };
        match decode(&body) {
            Ok(msg) => {
                let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                if to_server.send(msg).is_err() || exit {
                    return Ok(());
                }
            }
            Err(bad) => {
                let _ = writeln!(log, "snnc lsp: skipped a message: {}", bad.message);
                if let Some(resp) = bad.response() {
                    if to_client.send(resp.into()).is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// A connection over stdin and stdout, read by [`read_loop`]. The threads
/// end when the input ends (or after `exit`) and when the connection's
/// sender is dropped.
pub fn stdio() -> (Connection, thread::JoinHandle<()>, thread::JoinHandle<()>) {
    let (to_client, outgoing): (Sender<Message>, Receiver<Message>) = bounded(16);
    let (to_server, incoming) = bounded::<Message>(0);
    let writer = thread::spawn(move || {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        for msg in outgoing {
            if msg.write(&mut out).is_err() {
                return;
            }
        }
    });
    let answers = to_client.clone();
    let reader = thread::spawn(move || {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        if let Err(e) = read_loop(&mut input, &to_server, &answers, &mut io::stderr()) {
            eprintln!("snnc lsp: cannot read stdin: {e}");
        }
    });
    let connection = Connection {
        sender: to_client,
        receiver: incoming,
    };
    (connection, reader, writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn reads_frames_and_skips_what_it_cannot_use() {
        let mut input = Vec::new();
        input.extend(frame(b"{\"a\":1}"));
        input.extend(b"Content-Length: nope\r\n\r\n");
        input.extend(b"X-Other: 1\r\n\r\n");
        input.extend(frame(b"[]"));
        let mut r = io::Cursor::new(input);
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Frame::Body(b"{\"a\":1}".to_vec())
        );
        assert!(matches!(read_frame(&mut r).unwrap(), Frame::Skipped(w) if w.contains("nope")));
        assert!(matches!(read_frame(&mut r).unwrap(), Frame::Skipped(w) if w.contains("without")));
        assert_eq!(read_frame(&mut r).unwrap(), Frame::Body(b"[]".to_vec()));
        assert_eq!(read_frame(&mut r).unwrap(), Frame::End);
    }

    /// A huge Content-Length is read past, not allocated: the test would
    /// abort if 99,999,999,999 bytes were asked for.
    #[test]
    fn a_huge_content_length_is_skipped_without_allocating() {
        let mut input = b"Content-Length: 99999999999\r\n\r\n{}".to_vec();
        let mut r = io::Cursor::new(std::mem::take(&mut input));
        // The input ends before the claimed body does.
        assert_eq!(read_frame(&mut r).unwrap(), Frame::End);

        // A body just over the limit, followed by a good frame.
        let mut input = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE + 1).into_bytes();
        input.resize(input.len() + MAX_MESSAGE + 1, b' ');
        input.extend(frame(b"{}"));
        let mut r = io::Cursor::new(input);
        assert!(
            matches!(read_frame(&mut r).unwrap(), Frame::Skipped(w) if w.contains("more than"))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Frame::Body(b"{}".to_vec()));
    }

    #[test]
    fn malformed_messages_get_an_error_when_they_have_an_id() {
        let bad_utf8 = b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"x\xff\"}";
        let e = decode(bad_utf8).unwrap_err();
        assert_eq!(e.id, Some(RequestId::from(7)));
        assert!(e.message.contains("not UTF-8"), "{}", e.message);

        let e = decode(b"{\"id\": 3, \"method\": ").unwrap_err();
        assert_eq!(e.id, None);
        assert!(e.message.contains("not JSON"), "{}", e.message);

        let e = decode(b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":5}").unwrap_err();
        assert_eq!(e.id, Some(RequestId::from(4)));
        assert!(e.response().is_some());
        assert!(
            e.message.contains("`method` must be a string"),
            "{}",
            e.message
        );

        let e = decode(b"[1, 2]").unwrap_err();
        assert!(e.response().is_none());

        assert!(matches!(
            decode(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"shutdown\"}"),
            Ok(Message::Request(_))
        ));
    }

    #[test]
    fn the_read_loop_keeps_going_after_garbage() {
        let mut input = Vec::new();
        input.extend(frame(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}"));
        input.extend(frame(b"\xff\xfe"));
        input.extend(frame(
            b"{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}",
        ));
        input.extend(frame(b"{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}"));
        input.extend(frame(b"{\"jsonrpc\":\"2.0\",\"method\":\"after-exit\"}"));
        let (to_server, incoming) = crossbeam_channel::unbounded();
        let (to_client, outgoing) = crossbeam_channel::unbounded();
        let mut log = Vec::new();
        read_loop(
            &mut io::Cursor::new(input),
            &to_server,
            &to_client,
            &mut log,
        )
        .unwrap();
        let got: Vec<String> = incoming
            .try_iter()
            .map(|m| match m {
                Message::Notification(n) => n.method,
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(got, ["initialized", "exit"]);
        let answers: Vec<Message> = outgoing.try_iter().collect();
        assert_eq!(answers.len(), 1, "{answers:?}");
        let log = String::from_utf8(log).unwrap();
        assert_eq!(log.lines().count(), 2, "{log}");
    }
}
