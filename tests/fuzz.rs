//! A mutation fuzzer for the file readers and the language server's message
//! loop (the parser and checker have theirs in `tests/robustness.rs`).
//!
//! Each target starts from valid inputs (npy arrays of every dtype, npz
//! archives, the bundled MNIST IDX files gzipped and raw, the Keras
//! fixtures in both formats, framed LSP messages) and mutates them with a
//! fixed-seed PRNG: flipped, inserted, deleted and duplicated bytes,
//! interesting integers (0, 1, 0x7fffffff, 0xffffffff, ...) written over
//! sizes and offsets, truncation. Every mutated input must give a result or
//! an error: a panic is collected as a failure (with the seed and iteration
//! to replay it), and an abort would end the test process.
//!
//! CI runs a few hundred mutations per target (seconds). For a long run:
//!
//! ```text
//! SNNC_FUZZ_SECONDS=600 cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! gives each target 600 seconds; `SNNC_FUZZ_ITERS=N` sets a count instead,
//! and `SNNC_FUZZ_SEED=N` another seed. Each target prints how many inputs
//! it tried.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use snnc_runtime::io::{encode_npy, parse_npy, read_idx, read_npz, write_npz, NdArray};
use snnc_runtime::rng::SplitMix64;

const DEFAULT_SEED: u64 = 0xF0CC_5EED_2026_0014;
const DEFAULT_ITERS: u64 = 300;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// How long each target runs: a time when `SNNC_FUZZ_SECONDS` is set,
/// otherwise a number of inputs.
enum Budget {
    Iters(u64),
    Time(Duration),
}

impl Budget {
    fn from_env() -> Budget {
        match env_u64("SNNC_FUZZ_SECONDS") {
            Some(s) => Budget::Time(Duration::from_secs(s)),
            None => Budget::Iters(env_u64("SNNC_FUZZ_ITERS").unwrap_or(DEFAULT_ITERS)),
        }
    }

    fn more(&self, done: u64, start: Instant) -> bool {
        match self {
            Budget::Iters(n) => done < *n,
            Budget::Time(d) => start.elapsed() < *d,
        }
    }
}

const INTERESTING: [u32; 9] = [
    0,
    1,
    2,
    0x7f,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// One random mutation of `input` (up to four edits).
fn mutate(rng: &mut SplitMix64, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                b.insert(i, rng.next_u64() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(16.min(len - i));
                b.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(64.min(len - i));
                let piece: Vec<u8> = b[i..i + n].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, piece);
            }
            4 if len >= 4 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let bytes = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let i = rng.below(len - 3);
                b[i..i + 4].copy_from_slice(&bytes);
            }
            5 if len > 0 => b.truncate(rng.below(len)),
            6 if len > 0 => {
                let i = rng.below(len);
                b[i] = [0x00, 0xff, 0x7f, 0x80, b'{', b'"', b'\n'][rng.below(7)];
            }
            _ => {
                let i = rng.below(len + 1);
                b.insert(i, 0);
            }
        }
    }
    b
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snnc-fuzz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn last_panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// Mutates the seeds and feeds each input to `target` until the budget is
/// spent; panics with every collected failure.
fn fuzz(name: &str, seeds: &[Vec<u8>], mut target: impl FnMut(&[u8])) {
    assert!(!seeds.is_empty(), "{name}: no seed inputs");
    let seed = env_u64("SNNC_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let mut rng = SplitMix64::new(
        seed ^ name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31) + u64::from(b)),
    );
    let budget = Budget::from_env();
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut done = 0u64;
    // (The panic hook is left alone: tests run in parallel and share it.
    // A panic's message also goes to the captured stderr.)
    while budget.more(done, start) {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base);
        if let Err(e) = panic::catch_unwind(AssertUnwindSafe(|| target(&input))) {
            if failures.len() < 10 {
                failures.push(format!(
                    "iteration {done}: {} ({} bytes)",
                    last_panic_message(e),
                    input.len()
                ));
            }
        }
        done += 1;
    }
    eprintln!(
        "{name}: {done} mutated inputs in {:.1} s, {} panics",
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{name}: panics (seed {seed:#x}):\n{}",
        failures.join("\n")
    );
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn arrays() -> Vec<NdArray> {
    vec![
        NdArray::from_f32(vec![2, 3], vec![1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]),
        NdArray::from_f64(vec![3], vec![0.5, -1.0, 2.0]),
        NdArray::from_shape_vec::<i64>(vec![2, 2], vec![1, -2, 3, 4]).unwrap(),
        NdArray::from_shape_vec::<i32>(vec![4], vec![7, 8, 9, 10]).unwrap(),
        NdArray::from_shape_vec::<u8>(vec![2, 2, 1], vec![0, 255, 3, 4]).unwrap(),
        NdArray::from_shape_vec::<bool>(vec![3], vec![true, false, true]).unwrap(),
        NdArray::from_f32(vec![], vec![42.0]),
    ]
}

#[test]
fn npy_reader_never_panics() {
    let seeds: Vec<Vec<u8>> = arrays().iter().map(encode_npy).collect();
    fuzz("npy", &seeds, |b| {
        let _ = parse_npy(b);
    });
}

#[test]
fn npz_reader_never_panics() {
    let dir = scratch("npz");
    let mut seeds = Vec::new();
    let all = arrays();
    let named: Vec<(String, &NdArray)> = all
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("a{i}"), a))
        .collect();
    let refs: Vec<(&str, &NdArray)> = named.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let seed_path = dir.join("seed.npz");
    write_npz(&seed_path, &refs).unwrap();
    seeds.push(std::fs::read(&seed_path).unwrap());
    seeds.push(std::fs::read(repo("import/tests/fixtures/tf2_tiny_expected.npz")).unwrap());
    let path = dir.join("mutated.npz");
    fuzz("npz", &seeds, |b| {
        std::fs::write(&path, b).unwrap();
        let _ = read_npz(&path);
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idx_reader_never_panics() {
    let dir = scratch("idx");
    let labels = std::fs::read(repo("examples/data/t10k-labels-idx1-ubyte.gz")).unwrap();
    // Small seeds keep each input fast: 20 raw images, the labels gzipped
    // and raw.
    let mut raw_images = vec![0, 0, 8, 3];
    for d in [20u32, 28, 28] {
        raw_images.extend_from_slice(&d.to_be_bytes());
    }
    raw_images.extend((0..20 * 784).map(|i| (i * 7 % 256) as u8));
    let raw_labels = {
        let mut v = vec![0, 0, 8, 1];
        v.extend_from_slice(&5u32.to_be_bytes());
        v.extend_from_slice(&[7, 2, 1, 0, 4]);
        v
    };
    let seeds = vec![labels, raw_images, raw_labels];
    let path = dir.join("mutated-idx");
    fuzz("idx", &seeds, |b| {
        std::fs::write(&path, b).unwrap();
        let _ = read_idx(&path);
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn keras_reader_never_panics() {
    let dir = scratch("keras");
    for (file, ext) in [
        ("import/tests/fixtures/functional_tiny.keras", "keras"),
        ("import/tests/fixtures/tf2_tiny.h5", "h5"),
    ] {
        let seeds = vec![std::fs::read(repo(file)).unwrap()];
        let path = dir.join(format!("mutated.{ext}"));
        let opts = snnc_import::Options {
            name: Some("fuzzed".into()),
        };
        fuzz(&format!("keras .{ext}"), &seeds, |b| {
            std::fs::write(&path, b).unwrap();
            let _ = snnc_import::import(&path, &opts);
        });
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Framed messages, mutated (framing included), through the server's
/// reader, decoder and handlers: no panic in the reader or decoder, and no
/// handler panic (which the server would answer as an internal error).
#[test]
fn lsp_message_loop_never_panics() {
    use lsp_server::Message;
    use snnc_lsp::transport::{decode, read_frame, Frame};

    let text = std::fs::read_to_string(repo("specs/mnist.snn")).unwrap();
    let uri = "file:///fuzz.snn";
    let messages = [
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "snn", "version": 1, "text": text}}}),
        json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": {"start": {"line": 3, "character": 4}, "end": {"line": 3, "character": 9}}, "text": "conv9 = "}]}}),
        json!({"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover", "params": {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 6}}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "textDocument/completion", "params": {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 12}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "textDocument/references", "params": {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 6}, "context": {"includeDeclaration": true}}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "textDocument/documentSymbol", "params": {"textDocument": {"uri": uri}}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "textDocument/definition", "params": {"textDocument": {"uri": uri}, "position": {"line": 5, "character": 20}}}),
    ];
    // Framed messages (the framing gets mutated too) and bare bodies
    // (framed with their true length after mutation, so that mutated JSON
    // reaches the decoder and the handlers).
    let frame = |body: &[u8]| {
        let mut v = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        v.extend_from_slice(body);
        v
    };
    let bodies: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| m.to_string().into_bytes())
        .collect();
    let mut seeds: Vec<Vec<u8>> = bodies.iter().map(|b| frame(b)).collect();
    seeds.extend(bodies);
    let mut server = snnc_lsp::Server::default();
    // Open the document first, so requests reach the handlers.
    if let Ok(Frame::Body(b)) = read_frame(&mut std::io::Cursor::new(&seeds[0])) {
        if let Ok(Message::Notification(n)) = decode(&b) {
            server.notification(n);
        }
    }
    let mut handled = 0u64;
    // Structured: valid JSON with values replaced by odd ones (positions
    // out of range, wrong types, odd text), so most inputs reach a handler.
    let odd = [
        json!(null),
        json!(-1),
        json!(0),
        json!(4_294_967_295u64),
        json!(1e300),
        json!(""),
        json!("\u{0}é😀\r\n}"),
        json!([]),
        json!({}),
        json!(true),
        json!("x".repeat(10_000)),
        json!("network n {\n  y = dense(y, units=1)\n}\n"),
    ];
    fuzz("lsp json", &seeds, |input| {
        let mut rng = SplitMix64::new(
            input
                .iter()
                .fold(7u64, |h, &b| h.wrapping_mul(131) ^ u64::from(b)),
        );
        let mut v = messages[rng.below(messages.len())].clone();
        for _ in 0..1 + rng.below(3) {
            let mut paths = Vec::new();
            json_paths(&v, String::new(), &mut paths);
            let path = &paths[rng.below(paths.len())];
            if let Some(slot) = v.pointer_mut(path) {
                *slot = odd[rng.below(odd.len())].clone();
            }
        }
        if let Ok(msg) = decode(v.to_string().as_bytes()) {
            handled += 1;
            match msg {
                Message::Request(req) => {
                    if let Err(e) = &server.request(req).response_result {
                        assert!(
                            !e.message.starts_with("internal error"),
                            "{}: {v}",
                            e.message
                        );
                    }
                }
                Message::Notification(n) => {
                    for m in server.notification(n) {
                        if let Message::Notification(n) = m {
                            assert!(n.method != "window/logMessage", "{:?}: {v}", n.params);
                        }
                    }
                }
                Message::Response(_) => {}
            }
        }
    });
    fuzz("lsp", &seeds, |input| {
        let framed;
        let input = if input.starts_with(b"Content-Length") {
            input
        } else {
            framed = frame(input);
            &framed
        };
        let mut r = std::io::Cursor::new(input);
        while let Ok(frame) = read_frame(&mut r) {
            let body = match frame {
                Frame::End => break,
                Frame::Skipped(_) => continue,
                Frame::Body(b) => b,
            };
            match decode(&body) {
                Ok(Message::Request(req)) => {
                    handled += 1;
                    let resp = server.request(req);
                    if let Err(e) = &resp.response_result {
                        assert!(!e.message.starts_with("internal error"), "{}", e.message);
                    }
                }
                Ok(Message::Notification(n)) => {
                    handled += 1;
                    for m in server.notification(n) {
                        if let Message::Notification(n) = m {
                            assert!(n.method != "window/logMessage", "{:?}", n.params);
                        }
                    }
                }
                Ok(Message::Response(_)) | Err(_) => {}
            }
        }
    });
    eprintln!("lsp: {handled} mutated messages reached the server's handlers");
    assert!(handled > 0, "no mutated message reached the handlers");
}

/// Every JSON pointer into `v`, the root's children and below.
fn json_paths(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                json_paths(child, p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                json_paths(child, p, out);
            }
        }
        _ => {}
    }
}
