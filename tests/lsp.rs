//! `snnc lsp` end to end: the test spawns the binary and speaks JSON-RPC
//! with Content-Length framing over its stdin and stdout, as an editor
//! does. Every read has a timeout, so a hung server fails the test instead
//! of blocking it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(20);
const URI: &str = "file:///work/specs/test.snn";

fn mnist_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("specs")
        .join("mnist.snn");
    std::fs::read_to_string(path).expect("specs/mnist.snn")
}

struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    /// Notifications read while waiting for something else.
    pending: VecDeque<Value>,
    next_id: i64,
}

impl Client {
    /// Spawns `snnc lsp` and does the initialize handshake.
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_snnc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn snnc lsp");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return; // end of output
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length:") {
                        length = v.trim().parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let msg: Value = serde_json::from_slice(&body).expect("JSON body");
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        let mut client = Client {
            child,
            stdin,
            incoming: rx,
            pending: VecDeque::new(),
            next_id: 1,
        };
        let init = client.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": null,
                "capabilities": { "general": { "positionEncodings": ["utf-16"] } },
            }),
        );
        assert_eq!(
            init["capabilities"]["textDocumentSync"]["change"], 1,
            "full sync: {init}"
        );
        assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, msg: Value) {
        let body = serde_json::to_string(&msg).expect("serialise");
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to server");
        stdin.flush().expect("flush");
    }

    /// Writes raw bytes to the server, framing and all.
    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to server");
        stdin.flush().expect("flush");
    }

    /// A framed message with this body.
    fn send_body(&mut self, body: &[u8]) {
        let mut msg = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        msg.extend_from_slice(body);
        self.send_raw(&msg);
    }

    /// The next response to request `id` (a result or an error).
    fn response(&mut self, id: i64) -> Value {
        loop {
            let msg = self.recv();
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return msg;
            }
            self.pending.push_back(msg);
        }
    }

    fn recv(&mut self) -> Value {
        match self.incoming.recv_timeout(TIMEOUT) {
            Ok(v) => v,
            Err(e) => panic!("no message from the server within {TIMEOUT:?}: {e}"),
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns its result (panics on an error answer).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let msg = self.recv();
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                assert!(msg.get("error").is_none(), "{method} failed: {msg}");
                return msg["result"].clone();
            }
            self.pending.push_back(msg);
        }
    }

    /// The next diagnostics published for `URI` at `version`.
    fn diagnostics(&mut self, version: i64) -> Vec<Value> {
        self.diagnostics_of(URI, version)
    }

    /// The next diagnostics published for `uri` at `version`.
    fn diagnostics_of(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "no diagnostics for version {version}"
            );
            let msg = match self.pending.pop_front() {
                Some(m) => m,
                None => self.recv(),
            };
            if msg["method"] == "textDocument/publishDiagnostics"
                && msg["params"]["uri"] == uri
                && msg["params"]["version"] == json!(version)
            {
                return msg["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }

    fn open(&mut self, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": URI, "languageId": "snn", "version": 1, "text": text } }),
        );
        self.diagnostics(1)
    }

    fn change(&mut self, version: i64, changes: Value) -> Vec<Value> {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": version }, "contentChanges": changes }),
        );
        self.diagnostics(version)
    }

    fn at(&mut self, method: &str, pos: (usize, usize)) -> Value {
        self.request(
            method,
            json!({
                "textDocument": { "uri": URI },
                "position": { "line": pos.0, "character": pos.1 },
                "context": { "includeDeclaration": true, "triggerKind": 1 },
            }),
        )
    }

    /// `shutdown`, `exit`, and the exit status (0 after a shutdown).
    fn finish(mut self) {
        let result = self.request("shutdown", Value::Null);
        assert_eq!(result, Value::Null);
        self.notify("exit", Value::Null);
        drop(self.stdin.take());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit status {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// 0-based line and UTF-16 column of the first `needle` (after `after`).
fn lsp_pos(text: &str, after: &str, needle: &str) -> (usize, usize) {
    let start = text.find(after).expect("anchor");
    let offset = start + text[start..].find(needle).expect("needle");
    let line = text[..offset].matches('\n').count();
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].encode_utf16().count())
}

fn range_start(d: &Value) -> (usize, usize) {
    let s = &d["range"]["start"];
    (
        s["line"].as_u64().unwrap() as usize,
        s["character"].as_u64().unwrap() as usize,
    )
}

fn range_end(d: &Value) -> (usize, usize) {
    let s = &d["range"]["end"];
    (
        s["line"].as_u64().unwrap() as usize,
        s["character"].as_u64().unwrap() as usize,
    )
}

const BROKEN_DATA: &str =
    "    data      = mnist_idx(\"µ-Größe/😀\", split=tset, limit=1000, pixel_max=10) # µ-Größe";

fn with_broken_data(text: &str) -> String {
    let good =
        "    data      = mnist_idx(\"../examples/data\", split=test, limit=1000, pixel_max=10)";
    assert!(text.contains(good));
    text.replace(
        good,
        &format!("    # µ-Größe: the split below is misspelt\n{BROKEN_DATA}"),
    )
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snnc-lsp-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn diagnostics_appear_when_typed_and_disappear_when_fixed() {
    let clean = mnist_text();
    let mut c = Client::start();
    assert_eq!(
        c.open(&clean),
        Vec::<Value>::new(),
        "specs/mnist.snn is clean"
    );

    // Type an error, after non-ASCII text on the same line.
    let broken = with_broken_data(&clean);
    let diags = c.change(2, json!([{ "text": broken }]));
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d["severity"], 1);
    assert_eq!(d["source"], "snnc");
    assert!(
        d["code"].as_str().is_some_and(|c| c.starts_with('E')),
        "{d}"
    );
    assert!(d["message"].as_str().unwrap().contains("tset"), "{d}");
    assert!(
        d["message"].as_str().unwrap().contains("help: "),
        "help in the message: {d}"
    );
    let want = lsp_pos(&broken, BROKEN_DATA, "tset");
    assert_eq!(range_start(d), want);
    assert_eq!(range_end(d), (want.0, want.1 + 4));
    // `😀` is one character but two UTF-16 units: the LSP column is one
    // more than the character column.
    let line = broken.lines().nth(want.0).unwrap();
    let chars = line[..line.find("tset").unwrap()].chars().count();
    assert_eq!(want.1, chars + 1);

    // `snnc check --message-format json` reports the same place.
    let path = temp_dir().join("broken.snn");
    std::fs::write(&path, &broken).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_snnc"))
        .args(["check", "--message-format", "json"])
        .arg(&path)
        .output()
        .expect("snnc check");
    let json_lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(json_lines.len(), 1);
    let j = &json_lines[0];
    assert_eq!(j["code"], d["code"]);
    assert!(d["message"]
        .as_str()
        .unwrap()
        .starts_with(j["message"].as_str().unwrap()));
    assert!(d["message"]
        .as_str()
        .unwrap()
        .ends_with(&format!("help: {}", j["help"].as_str().unwrap())));
    let span = &j["span"];
    assert_eq!(span["start_line"].as_u64().unwrap() as usize, want.0 + 1);
    let json_col = span["start_column"].as_u64().unwrap() as usize; // 1-based characters
    let prefix: String = line.chars().take(json_col - 1).collect();
    assert_eq!(
        prefix.encode_utf16().count(),
        want.1,
        "JSON column {json_col} and LSP column {} are the same place",
        want.1
    );
    let _ = std::fs::remove_dir_all(temp_dir());

    // Fix it with a ranged edit (UTF-16 positions from the client).
    let diags = c.change(
        3,
        json!([{
            "range": { "start": { "line": want.0, "character": want.1 }, "end": { "line": want.0, "character": want.1 + 4 } },
            "text": "test",
        }]),
    );
    assert_eq!(diags, Vec::<Value>::new());

    // A second error, typed as a whole-text change.
    let typo = clean.replace("swap relu -> spiking_relu", "swap relu -> spiking_relux");
    let diags = c.change(4, json!([{ "text": typo }]));
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(
        range_start(&diags[0]),
        lsp_pos(&typo, "swap relu -> ", "spiking_relux")
    );
    let diags = c.change(5, json!([{ "text": clean }]));
    assert!(diags.is_empty());
    c.finish();
}

/// A spec whose run block names the shipped seed params, in a directory of
/// its own, with `filters` in its conv layer: at 32 the params fit.
fn spec_with_params(filters: usize) -> String {
    mnist_text()
        .replace("filters=32", &format!("filters={filters}"))
        .replace("\"../examples/mnist_params.npz\"", "\"p.npz\"")
}

#[test]
fn a_params_file_that_does_not_fit_shows_at_its_params_line() {
    let dir = temp_dir().join("params");
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mnist_params.npz");
    std::fs::copy(shipped, dir.join("p.npz")).unwrap();
    let uri = format!("file://{}", dir.join("spec.snn").display());
    let mut c = Client::start();

    let narrow = spec_with_params(16);
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "snn", "version": 1, "text": narrow } }),
    );
    let diags = c.diagnostics_of(&uri, 1);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d["code"], "E0503");
    assert_eq!(
        range_start(d),
        lsp_pos(&narrow, "params    = ", "\"p.npz\"")
    );
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains(
            "`conv1.kernel` has shape (3, 3, 1, 32), but layer `conv1` needs (3, 3, 1, 16)"
        ),
        "{message}"
    );
    let related = d["relatedInformation"]
        .as_array()
        .expect("the declaring layers");
    assert_eq!(
        related[0]["message"],
        "declares `conv1.kernel`, `conv1.bias`"
    );
    assert_eq!(related[1]["message"], "declares `out.kernel`");

    // Back to 32 filters: the same file fits, and the problem is gone.
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": spec_with_params(32) }] }),
    );
    assert_eq!(c.diagnostics_of(&uri, 2), Vec::<Value>::new());
    c.finish();
}

#[test]
fn hover_definition_and_references_on_mnist() {
    let text = mnist_text();
    let mut c = Client::start();
    assert!(c.open(&text).is_empty());

    // Hover over `conv1` where `flatten` reads it.
    let use_pos = lsp_pos(&text, "flatten(", "conv1");
    let hover = c.at("textDocument/hover", use_pos);
    let value = hover["contents"]["value"].as_str().expect("markdown hover");
    assert_eq!(hover["contents"]["kind"], "markdown");
    for want in [
        "26x26x32",
        "conv2d",
        "relu",
        "spiking_relu, scale 50",
        "parameters: 320",
    ] {
        assert!(value.contains(want), "hover lacks {want:?}:\n{value}");
    }
    assert_eq!(range_start(&hover), use_pos);

    // The same at the definition.
    let def_pos = lsp_pos(&text, "network mnist", "conv1");
    let hover = c.at("textDocument/hover", (def_pos.0, def_pos.1 + 2));
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap()
        .contains("26x26x32"));

    // Go to definition from the use, and from the probe target.
    let def = c.at("textDocument/definition", (use_pos.0, use_pos.1 + 3));
    let locs = def.as_array().expect("locations");
    assert_eq!(locs.len(), 1);
    assert_eq!(locs[0]["uri"], URI);
    assert_eq!(range_start(&locs[0]), def_pos);
    assert_eq!(range_end(&locs[0]), (def_pos.0, def_pos.1 + 5));
    let probe_target = lsp_pos(&text, "probe rates", "conv1");
    let def = c.at("textDocument/definition", probe_target);
    assert_eq!(range_start(&def[0]), def_pos);

    // Network and probe names.
    let def = c.at(
        "textDocument/definition",
        lsp_pos(&text, "convert spiking from", "mnist"),
    );
    assert_eq!(
        range_start(&def[0]),
        lsp_pos(&text, "network mnist {", "mnist")
    );
    let def = c.at(
        "textDocument/definition",
        lsp_pos(&text, "accuracy(", "pred"),
    );
    assert_eq!(range_start(&def[0]), lsp_pos(&text, "probe pred", "pred"));
    let def = c.at(
        "textDocument/definition",
        lsp_pos(&text, "run {", "spiking"),
    );
    assert_eq!(range_start(&def[0]), lsp_pos(&text, "convert ", "spiking"));

    // References: the definition, `flatten(conv1)`, `synapse conv1 -> out`
    // and `probe rates = conv1`.
    let refs = c.at("textDocument/references", use_pos);
    let mut starts: Vec<(usize, usize)> = refs
        .as_array()
        .expect("locations")
        .iter()
        .map(range_start)
        .collect();
    starts.sort();
    let mut want = vec![
        def_pos,
        use_pos,
        lsp_pos(&text, "synapse ", "conv1"),
        probe_target,
    ];
    want.sort();
    assert_eq!(starts, want);

    // Hover on a probe and a keyword; nothing on blank space.
    let hover = c.at("textDocument/hover", lsp_pos(&text, "accuracy(", "pred"));
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap()
        .contains("probe on `out`"));
    let hover = c.at("textDocument/hover", lsp_pos(&text, "flat  = ", "flatten"));
    assert!(hover["contents"]["value"]
        .as_str()
        .unwrap()
        .contains("flatten"));
    assert_eq!(c.at("textDocument/hover", (5, 0)), Value::Null);
    c.finish();
}

#[test]
fn completion_offers_layer_kinds_names_and_neurons() {
    let text = mnist_text();
    let mut c = Client::start();
    assert!(c.open(&text).is_empty());
    let line = lsp_pos(&text, "network mnist", "    out").0 + 1;
    // Start a new layer below `out`.
    let diags = c.change(
        2,
        json!([{ "range": { "start": { "line": line, "character": 0 }, "end": { "line": line, "character": 0 } }, "text": "    h = \n" }]),
    );
    assert!(!diags.is_empty(), "an unfinished line is an error");
    let items = c.at("textDocument/completion", (line, 8));
    let labels: Vec<&str> = items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for want in ["conv2d", "dense", "max_pool", "avg_pool", "flatten", "add"] {
        assert!(labels.contains(&want), "{want} in {labels:?}");
    }
    // Inside the call: the layers defined above, and the arguments.
    let text = text.replacen(
        "    out   = dense(flat, units=10)\n",
        "    out   = dense(flat, units=10)\n    h = dense(\n",
        1,
    );
    c.change(3, json!([{ "range": { "start": { "line": line, "character": 8 }, "end": { "line": line, "character": 8 } }, "text": "dense(" }]));
    let items = c.at("textDocument/completion", (line, 14));
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for want in ["image", "conv1", "flat", "out", "units="] {
        assert!(labels.contains(&want), "{want} in {labels:?}");
    }
    // Neuron types after `swap relu -> `.
    let swap = lsp_pos(&text, "swap relu -> ", "spiking_relu");
    let items = c.at("textDocument/completion", swap);
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"lif") && labels.contains(&"spiking_relu"),
        "{labels:?}"
    );
    c.finish();
}

#[test]
fn broken_text_never_takes_the_server_down() {
    let mut c = Client::start();
    let texts = [
        "network {",
        "network n {\n  input x: 2x\n  y = dense(x, units=)\n",
        "}}}}{{{{((((\"",
        "convert s from nowhere {\n  swap -> lif(\n}\nprobe = \nrun { network = s }\n",
        "network µ { input é: 3 }\n# 😀\n\r\r\n\u{0}",
    ];
    let mut version = 1;
    c.open(texts[0]);
    for text in texts {
        version += 1;
        c.change(version, json!([{ "text": text }]));
        for line in 0..4 {
            for character in [0, 1, 3, 7, 40] {
                for method in [
                    "textDocument/hover",
                    "textDocument/definition",
                    "textDocument/references",
                    "textDocument/completion",
                ] {
                    c.at(method, (line, character));
                }
            }
        }
    }
    // Hover still works on what can be derived from a broken file: the
    // layer `y` reads an unknown layer, `x` is fine.
    let text =
        "network n {\n    input x: 4\n    y = dense(x, units=3)\n    z = dense(nope, units=2)\n}\n";
    version += 1;
    let diags = c.change(version, json!([{ "text": text }]));
    assert_eq!(diags.len(), 1);
    let hover = c.at("textDocument/hover", lsp_pos(text, "y = ", "y"));
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("shape: `3`"),
        "{hover}"
    );
    c.finish();
}

/// Malformed messages are answered with an error (when they carry an `id`)
/// or skipped; the server keeps serving, and a huge Content-Length is read
/// past rather than allocated.
#[test]
fn malformed_messages_never_take_the_server_down() {
    let mut c = Client::start();
    c.open("network n {\n    input x: 4\n}\n");
    // Invalid UTF-8 inside a request with an id: a parse error answer.
    c.send_body(b"{\"jsonrpc\":\"2.0\",\"id\":900,\"method\":\"textDocument/hover\xff\"}");
    let r = c.response(900);
    assert_eq!(r["error"]["code"], json!(-32700), "{r}");
    // Invalid UTF-8 in a notification: skipped.
    c.send_body(b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"\xc3\x28\"}");
    // Not JSON at all: skipped (there is no id to answer).
    c.send_body(b"{\"jsonrpc\": \"2.0\", \"id\": 901, \"method\": ");
    // A method that is not a string: an invalid-request answer.
    c.send_body(b"{\"jsonrpc\":\"2.0\",\"id\":902,\"method\":17}");
    let r = c.response(902);
    assert_eq!(r["error"]["code"], json!(-32600), "{r}");
    // JSON that is not an object, and a frame without Content-Length.
    c.send_body(b"[1, 2, 3]");
    c.send_raw(b"Content-Type: text/plain\r\n\r\n");
    // A message over the size limit is read past, not into memory.
    let big = snnc_lsp::transport::MAX_MESSAGE + 1;
    c.send_raw(format!("Content-Length: {big}\r\n\r\n").as_bytes());
    c.send_raw(&vec![b' '; big]);
    // Still serving: a change is checked and a request answered.
    let diags = c.change(
        2,
        json!([{ "text": "network n {\n    y = dense(nope, units=2)\n}\n" }]),
    );
    assert_eq!(diags.len(), 1, "{diags:?}");
    c.at("textDocument/hover", (1, 4));
    c.finish();

    // A Content-Length of 99,999,999,999 with the input ending early: the
    // server ends normally (exit code 1: no shutdown), it does not abort.
    let mut c = Client::start();
    c.send_raw(b"Content-Length: 99999999999\r\n\r\n{}");
    drop(c.stdin.take());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = c.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(1), "{status}");
}

/// Every regex (`match`, `begin`) in a TextMate grammar.
fn regexes(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("match" | "begin", Value::String(s)) => out.push(s.clone()),
                    _ => regexes(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| regexes(x, out)),
        _ => {}
    }
}

#[test]
fn grammar_and_vscode_extension_match_the_language() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("editors");
    let grammar: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("snn.tmLanguage.json")).unwrap())
            .expect("grammar is JSON");
    assert_eq!(grammar["scopeName"], "source.snn");
    let mut res = Vec::new();
    regexes(&grammar, &mut res);
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let covered = |word: &str| {
        res.iter().any(|re| {
            re.match_indices(word).any(|(i, _)| {
                !is_word(re[..i].chars().next_back())
                    && !is_word(re[i + word.len()..].chars().next())
            })
        })
    };
    use snnc_compiler::check::{ACTIVATIONS, BLOCK_KINDS, LAYER_KINDS, NEURONS};
    for word in LAYER_KINDS
        .iter()
        .chain(&NEURONS)
        .chain(&ACTIVATIONS)
        .chain(&BLOCK_KINDS)
        .chain(&["probe", "input", "from"])
    {
        assert!(covered(word), "the grammar does not highlight `{word}`");
    }
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("vscode").join("package.json")).unwrap(),
    )
    .expect("package.json");
    let lang = &package["contributes"]["languages"][0];
    assert_eq!(lang["id"], "snn");
    assert_eq!(lang["extensions"][0], ".snn");
    let g = &package["contributes"]["grammars"][0];
    assert_eq!(g["scopeName"], grammar["scopeName"]);
    assert_eq!(g["path"], "./syntaxes/snn.tmLanguage.json");
    assert!(package["scripts"]["sync-grammar"]
        .as_str()
        .unwrap()
        .contains("../snn.tmLanguage.json"));
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("vscode").join("language-configuration.json")).unwrap(),
    )
    .expect("language configuration");
    assert_eq!(config["comments"]["lineComment"], "#");
}
