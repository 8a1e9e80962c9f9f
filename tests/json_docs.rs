//! docs/json.md lists exactly the keys `snnc run --format json`, `snnc
//! train --format json` and `snnc check --message-format json` print, and
//! the `schema` they carry.

mod common;

use std::collections::BTreeSet;

use common::{
    bundled_data, documented_json_keys as documented, json_keys as keys, snnc, stdout_of, temp_dir,
    write_tiny_params, write_tiny_spec,
};
use serde_json::Value;

#[test]
fn run_json_is_as_documented() {
    let dir = temp_dir("json", "run");
    // Two named run blocks: the first runs and says so.
    let spec = write_tiny_spec(
        &dir,
        "tiny.snn",
        "    scale_firing_rates = 5",
        10,
        "    present = 20ms",
    );
    let text = std::fs::read_to_string(&spec).unwrap();
    let second = text[text.find("run {").unwrap()..].replace("run {", "run second {");
    std::fs::write(&spec, text.replacen("run {", "run first {", 1) + &second).unwrap();
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let out = snnc()
        .args(["run", "--format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 run blocks; running the first, `first`"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema"], 1);
    assert_eq!(report["run"], "first");
    let second: Value = serde_json::from_str(&stdout_of(
        snnc()
            .args(["run", "--format", "json", "--run", "second"])
            .arg(&spec),
    ))
    .unwrap();
    assert_eq!(second["run"], "second");
    let mut found = BTreeSet::new();
    keys(&report, "", &mut found);
    assert_eq!(found, documented("`snnc run --format json`"));

    let sharded: Value = serde_json::from_str(&stdout_of(
        snnc()
            .args(["run", "--format", "json", "--shard", "2/3"])
            .arg(&spec),
    ))
    .unwrap();
    let mut found = BTreeSet::new();
    keys(&sharded, "", &mut found);
    let mut wanted = documented("`snnc run --format json`");
    wanted.extend(documented("`snnc run --shard K/N --format json`"));
    assert_eq!(found, wanted);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn train_json_is_as_documented() {
    let dir = temp_dir("json", "train");
    let spec = dir.join("t.snn");
    std::fs::write(
        &spec,
        format!(
            "{}\nprobe pred = out\ntrain {{\n    network = tiny\n    data = mnist_idx(\"{}\", split=test, limit=40)\n    optimizer = sgd(lr=0.1)\n    loss pred = sparse_categorical_crossentropy(from_logits=true)\n    epochs = 2\n    batch = 10\n    validation_split = 0.25\n    save = \"p.npz\"\n}}\n",
            common::TINY_NETWORK,
            bundled_data().display()
        ),
    )
    .unwrap();
    let out = stdout_of(snnc().args(["train", "--format", "json"]).arg(&spec));
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one line per epoch");
    let mut found = BTreeSet::new();
    for line in &lines {
        assert_eq!(line["schema"], 1);
        keys(line, "", &mut found);
    }
    // `test` is null here (no MNIST training split), and holds the same
    // metrics as `val` when present.
    assert!(lines[0]["test"].is_null());
    let mut wanted = documented("`snnc train --format json`");
    wanted.retain(|k| !k.starts_with("val.") && !k.starts_with("test."));
    found.retain(|k| !k.starts_with("val."));
    assert_eq!(found, wanted);
    let mut val = BTreeSet::new();
    keys(&lines[0]["val"], "", &mut val);
    let mut train = BTreeSet::new();
    keys(&lines[0]["train"], "", &mut train);
    assert_eq!(val, train);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn check_json_is_as_documented() {
    // A duplicate layer: a diagnostic with a related place.
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/diagnostics/duplicate_layer.snn");
    let out = snnc()
        .args(["check", "--message-format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut found = BTreeSet::new();
    let mut related = 0;
    for line in text.lines() {
        let diag: Value = serde_json::from_str(line).unwrap();
        assert_eq!(diag["schema"], 1);
        related += diag["related"].as_array().map_or(0, Vec::len);
        keys(&diag, "", &mut found);
    }
    assert!(related > 0, "the test wants a related place: {text}");
    assert_eq!(found, documented("`snnc check --message-format json`"));
}

#[test]
fn diagnose_json_is_as_documented() {
    let dir = temp_dir("json", "diagnose");
    // Scale 1, 20 ms: the hidden layer is slow, a finding with a fix.
    let spec = write_tiny_spec(&dir, "tiny.snn", "", 20, "    present = 20ms");
    write_tiny_params(&dir, 49, |i| 0.5 + i as f32 * 0.2);
    let report: Value = serde_json::from_str(&stdout_of(
        snnc().args(["diagnose", "--format", "json"]).arg(&spec),
    ))
    .unwrap();
    assert_eq!(report["schema"], 1);
    assert!(
        !report["findings"].as_array().unwrap().is_empty(),
        "the test wants a finding: {report}"
    );
    let mut found = BTreeSet::new();
    keys(&report, "", &mut found);
    // A finding's diagnostic is a `check` line, documented there.
    found.retain(|k| !k.starts_with("findings[].diagnostic."));
    let documented = documented("`snnc diagnose --format json`");
    let undocumented: Vec<&String> = found.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/json.md: {undocumented:?}"
    );
    // Every key outside the findings' fixes (which depend on the finding)
    // is printed.
    let missing: Vec<&String> = documented
        .iter()
        .filter(|k| !k.starts_with("findings[].fix."))
        .filter(|k| !found.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "documented but not printed: {missing:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}
