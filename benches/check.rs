//! `cargo bench --bench check`: how long checking a large spec takes.
//!
//! Generates a 1,000-layer spec (conv and dense stages, every layer reading
//! the one before) and reports the median of repeated `check_source` runs,
//! and the median wall time of the `snnc check` binary on the same file.
//!
//! Then the scaling cases, each against its goal (checking must stay
//! linear in the size of the file and the number of diagnostics):
//!
//! - a clean chain of 32,000 layers, checked: goal < 1 s;
//! - 8,000 diagnostics (one broken line each), checked and rendered as
//!   text and as JSON: goal < 0.5 s;
//! - 50,000 lines of `network a {`, checked and rendered.

use std::time::{Duration, Instant};

use snnc_compiler::check_source;
use snnc_compiler::diagnostic::{render_json, render_text, SourceFile};

fn deep_spec(layers: usize) -> String {
    let mut s = String::from("network deep {\n    input image: 28x28x1\n");
    let mut prev = "image".to_string();
    let convs = layers / 4;
    for i in 0..convs {
        s.push_str(&format!(
            "    c{i} = conv2d({prev}, filters=4, kernel=3x3, padding=same, activation=relu)\n"
        ));
        prev = format!("c{i}");
    }
    s.push_str(&format!("    flat = flatten({prev})\n"));
    prev = "flat".into();
    for i in 0..layers - convs - 2 {
        s.push_str(&format!(
            "    d{i} = dense({prev}, units=16, activation=relu)\n"
        ));
        prev = format!("d{i}");
    }
    s.push_str(&format!("    out = dense({prev}, units=10)\n}}\n\n"));
    s.push_str("convert spiking from deep {\n    swap relu -> spiking_relu\n    scale_firing_rates = 20\n    synapse = lowpass(5ms)\n}\n\n");
    s.push_str("probe pred = out\n\nrun {\n    network = spiking\n    params = \"p.npz\"\n    data = mnist_idx(\"data\", split=test)\n    present = 100ms\n}\n");
    s
}

/// A network of `n` layers where every line after the input has a syntax
/// error (a missing comma): `n` diagnostics.
fn broken_lines(n: usize) -> String {
    let mut s = String::from("network many {\n    input x: 4\n");
    for i in 0..n {
        s.push_str(&format!("    d{i} = dense(x units=2)\n"));
    }
    s.push_str("}\n");
    s
}

/// Median time of `runs` calls of `f`.
fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn scaling() {
    let spec = deep_spec(32_000);
    assert!(
        check_source(&spec).program.is_some(),
        "the chain must check clean"
    );
    let t = time(5, || {
        std::hint::black_box(check_source(std::hint::black_box(&spec)));
    });
    println!(
        "clean chain, 32,000 layers ({} lines):    check median {:>8.1} ms over 5 runs (goal < 1000 ms)",
        spec.lines().count(),
        t.as_secs_f64() * 1e3
    );

    let text = broken_lines(8_000);
    let n = check_source(&text).diagnostics.len();
    assert_eq!(n, 8_000, "one diagnostic per broken line");
    let file = SourceFile {
        name: "many.snn".into(),
        text: text.clone(),
    };
    let t = time(5, || {
        let checked = check_source(&file.text);
        std::hint::black_box(render_text(&file, &checked.diagnostics, false));
    });
    println!(
        "{n} diagnostics:                    check + text median {:>8.1} ms over 5 runs (goal < 500 ms)",
        t.as_secs_f64() * 1e3
    );
    let t = time(5, || {
        let checked = check_source(&file.text);
        std::hint::black_box(render_json(&file, &checked.diagnostics));
    });
    println!(
        "{n} diagnostics:                    check + JSON median {:>8.1} ms over 5 runs (goal < 500 ms)",
        t.as_secs_f64() * 1e3
    );

    let file = SourceFile {
        name: "open.snn".into(),
        text: "network a {\n".repeat(50_000),
    };
    let mut count = 0;
    let t = time(3, || {
        let checked = check_source(&file.text);
        count = checked.diagnostics.len();
        std::hint::black_box(render_text(&file, &checked.diagnostics, false));
    });
    println!(
        "50,000 lines of `network a {{` ({count} diagnostics): check + text median {:>8.1} ms over 3 runs",
        t.as_secs_f64() * 1e3
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--scaling-only") {
        scaling();
        return;
    }
    let spec = deep_spec(1000);
    let layers = spec.matches(" = conv2d(").count()
        + spec.matches(" = dense(").count()
        + spec.matches(" = flatten(").count();
    let checked = check_source(&spec);
    assert!(
        checked.program.is_some(),
        "the generated spec must check clean"
    );

    let runs: Vec<Duration> = (0..30)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(check_source(std::hint::black_box(&spec)));
            t.elapsed()
        })
        .collect();
    println!(
        "spec: {layers} layers, {} lines, {} bytes",
        spec.lines().count(),
        spec.len()
    );
    println!(
        "check_source (in process)  median {:>8.2} ms over 30 runs",
        median(runs).as_secs_f64() * 1e3
    );

    let exe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/snnc");
    if exe.is_file() {
        let path = std::env::temp_dir().join(format!("snnc-deep-{}.snn", std::process::id()));
        std::fs::write(&path, &spec).expect("write temp spec");
        let runs: Vec<Duration> = (0..15)
            .map(|_| {
                let t = Instant::now();
                let status = std::process::Command::new(&exe)
                    .arg("check")
                    .arg(&path)
                    .status()
                    .expect("run snnc");
                assert!(status.success());
                t.elapsed()
            })
            .collect();
        println!(
            "`snnc check` (process)     median {:>8.2} ms over 15 runs",
            median(runs).as_secs_f64() * 1e3
        );
        std::fs::remove_file(path).ok();
    } else {
        println!("(build `cargo build --release` to also time the `snnc check` process)");
    }
    scaling();
}
