//! `snnc check` end to end: what it prints for files it cannot read, and
//! for diagnostics far out on very long lines, and for params files that
//! do not fit their network.

mod common;

use common::{snnc, temp_dir};

/// The JSON lines `snnc check --message-format json` prints for `path`.
fn json_lines(path: &std::path::Path) -> (Vec<serde_json::Value>, std::process::Output) {
    let out = snnc()
        .args(["check", "--message-format", "json"])
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{stdout}"))
        })
        .collect();
    (lines, out)
}

/// A missing, non-UTF-8 or directory spec gives one E0502 JSON line on
/// stdout (not plain text), and exit code 1.
#[test]
fn unreadable_specs_are_reported_as_json() {
    let dir = temp_dir("check", "unreadable");
    let latin1 = dir.join("latin1.snn");
    std::fs::write(&latin1, b"# caf\xe9\nnetwork n {\n}\n").unwrap();
    let subdir = dir.join("specs.snn");
    std::fs::create_dir_all(&subdir).unwrap();
    for (path, says) in [
        (dir.join("missing.snn"), "cannot read"),
        (latin1, "not UTF-8"),
        (subdir, "cannot read"),
    ] {
        let (lines, out) = json_lines(&path);
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        assert_eq!(lines.len(), 1, "{}: {lines:?}", path.display());
        let d = &lines[0];
        assert_eq!(d["code"], "E0502", "{d}");
        assert_eq!(d["severity"], "error", "{d}");
        assert_eq!(d["file"], path.display().to_string(), "{d}");
        assert_eq!(d["span"]["start_line"], 1, "{d}");
        assert!(d["message"].as_str().unwrap().contains(says), "{d}");
    }
}

/// A diagnostic past column 65,536 is rendered (miette's graphical handler
/// panicked on such a column), on a window of the line, with the same
/// line and column in the text header as in JSON.
#[test]
fn a_diagnostic_far_out_on_a_long_line_is_rendered() {
    let dir = temp_dir("check", "long-line");
    let path = dir.join("long.snn");
    let spec = format!(
        "network n {{\n    input x: 4\n    y = dense(x, units=2){}z\n}}\n",
        " ".repeat(70_000)
    );
    std::fs::write(&path, &spec).unwrap();
    let out = snnc().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("E0001"), "{stderr}");
    let (lines, _) = json_lines(&path);
    let col = lines[0]["span"]["start_column"].as_u64().unwrap();
    assert!(col > 70_000, "{lines:?}");
    assert!(
        stderr.contains(&format!("long.snn:3:{col}]")),
        "header not at 3:{col}:\n{stderr}"
    );
    // The shown line is a window of the long one.
    assert!(stderr.contains('…'), "{stderr}");
    assert!(
        stderr.lines().all(|l| l.chars().count() < 400),
        "a line of the report is too long:\n{stderr}"
    );
}

/// `--emit clif` on a layer of 4,294,967,295 units stops with an error
/// naming the layer and the setting (it used to abort allocating
/// placeholder weights), and `--max-memory` sets the budget.
#[test]
fn emit_clif_checks_the_memory_it_needs() {
    let dir = temp_dir("check", "clif-memory");
    let huge = dir.join("huge.snn");
    std::fs::write(
        &huge,
        "network n {\n    input x: 4\n    d = dense(x, units=4294967295)\n    out = dense(d, units=10)\n}\n",
    )
    .unwrap();
    let out = snnc()
        .args(["check", "--emit", "clif"])
        .arg(&huge)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("compiling network `n` needs about"),
        "{stderr}"
    );
    assert!(
        stderr.contains("layer `d` is the largest; lower its `units`"),
        "{stderr}"
    );

    let small = dir.join("small.snn");
    std::fs::write(
        &small,
        "network n {\n    input x: 4\n    out = dense(x, units=10)\n}\n",
    )
    .unwrap();
    let clif = |budget: &str| {
        snnc()
            .args(["check", "--emit", "clif", "--max-memory", budget])
            .arg(&small)
            .output()
            .unwrap()
    };
    assert!(clif("1G").status.success());
    let out = clif("100");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("budget of 100 bytes (--max-memory)"),
        "{stderr}"
    );
    let out = clif("lots");
    assert_eq!(out.status.code(), Some(2), "a bad size is a usage error");
}

/// A params file that exists but does not fit its network is an E0503 at
/// the run block's `params =` value, before anything runs, with the layer
/// that declares the tensors as a related place; one that fits is clean.
#[test]
fn a_params_file_that_does_not_fit_is_reported_by_check() {
    let dir = temp_dir("check", "params");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("examples/mnist_params.npz"), dir.join("p.npz")).unwrap();
    let spec = std::fs::read_to_string(root.join("specs/mnist.snn"))
        .unwrap()
        .replace("\"../examples/mnist_params.npz\"", "\"p.npz\"");
    let path = dir.join("spec.snn");

    std::fs::write(&path, &spec).unwrap();
    let (lines, out) = json_lines(&path);
    assert!(out.status.success(), "{lines:?}");
    assert!(lines.is_empty(), "{lines:?}");

    std::fs::write(&path, spec.replace("filters=32", "filters=16")).unwrap();
    let (lines, out) = json_lines(&path);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines.len(), 1, "{lines:?}");
    let d = &lines[0];
    assert_eq!(d["code"], "E0503", "{d}");
    assert_eq!(d["span"]["start_line"], 38, "the params line: {d}");
    let text = snnc().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.contains("E0503"), "{stderr}");
    assert!(
        stderr.contains("declares `conv1.kernel`, `conv1.bias`"),
        "{stderr}"
    );
}
