//! `snnc tune`: a network trained here on bundled images is tuned on its
//! held-out examples; the written spec checks clean and `snnc run`
//! reproduces the reported test accuracy; no degenerate setting is chosen
//! or on the Pareto front.

mod common;

use common::{bundled_data, snnc, stdout_of, temp_dir, TINY_NETWORK};

use std::path::{Path, PathBuf};

/// The tiny network trained on bundled test images 400..1000 (the last
/// quarter held out), run on images 0..300.
fn write_spec(dir: &Path) -> PathBuf {
    let data = bundled_data().display().to_string();
    let spec = format!(
        r#"{TINY_NETWORK}

convert spiking from tiny {{
    swap relu -> spiking_relu
}}

probe pred = out

train {{
    network   = tiny
    data      = mnist_idx("{data}", split=test, offset=400)
    optimizer = adam(lr=0.01)
    loss pred = sparse_categorical_crossentropy(from_logits=true)
    epochs    = 8
    batch     = 20
    validation_split = 0.25
    save      = "params.npz"
}}

run {{
    network = spiking
    params  = "params.npz"
    data    = mnist_idx("{data}", split=test, limit=300)
    dt      = 1ms
    steps   = 20
}}
"#
    );
    let path = dir.join("tiny.snn");
    std::fs::write(&path, spec).unwrap();
    path
}

fn degenerate(t: &serde_json::Value) -> bool {
    t["eval"]["spikes_per_image"].as_f64().unwrap() == 0.0
        || t["eval"]["classes_predicted"].as_u64().unwrap() <= 1
}

/// Asserts that no trial on the report's Pareto front is degenerate, and
/// returns the trials.
fn front_without_degenerate_settings(report: &serde_json::Value) -> &Vec<serde_json::Value> {
    let trials = report["outcome"]["trials"].as_array().unwrap();
    let pareto = report["outcome"]["pareto"].as_array().unwrap();
    assert_eq!(trials.len(), pareto.len());
    for (t, on) in trials.iter().zip(pareto) {
        if on.as_bool().unwrap() {
            assert!(!degenerate(t), "degenerate setting on the front: {t}");
        }
    }
    trials
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn tuned_spec_checks_and_reproduces_its_test_accuracy() {
    let dir = temp_dir("tune", "round-trip");
    let spec = write_spec(&dir);
    stdout_of(snnc().arg("train").arg(&spec));
    let report = json(&stdout_of(snnc().arg("tune").arg(&spec).args([
        "--max-steps",
        "20",
        "--format",
        "json",
    ])));
    assert_eq!(report["schema"], 1);
    // Every key printed is documented in docs/json.md (a synapse's inner
    // keys name its kind, documented with it), and every documented key is
    // printed.
    let mut found = std::collections::BTreeSet::new();
    common::json_keys(&report, "", &mut found);
    found.retain(|k| !k.contains(".synapse."));
    assert_eq!(
        found,
        common::documented_json_keys("`snnc tune --format json`")
    );
    assert_eq!(report["validation"]["images"], 150);
    let trials = front_without_degenerate_settings(&report);
    let chosen = &trials[report["outcome"]["chosen"].as_u64().unwrap() as usize];
    assert!(!degenerate(chosen));
    let test = &report["chosen"]["test"];
    let rate = &report["chosen"]["rate_test"];
    assert_eq!(test["images"], 300);
    // The trained rate network classifies well above chance, and the tuned
    // spiking network nearly as well.
    let (rate_right, right) = (
        rate["correct"].as_u64().unwrap(),
        test["correct"].as_u64().unwrap(),
    );
    assert!(rate_right >= 180, "rate model: {rate_right}/300");
    assert!(
        right + 15 >= rate_right,
        "spiking {right} vs rate {rate_right}"
    );

    let tuned = PathBuf::from(report["written"].as_str().unwrap());
    assert_eq!(tuned, dir.join("tiny.tuned.snn"));
    let check = snnc().arg("check").arg(&tuned).output().unwrap();
    assert!(check.status.success(), "{check:?}");
    assert!(
        check.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let run = json(&stdout_of(
        snnc()
            .arg("run")
            .arg(&tuned)
            .args(["--run", "tuned", "--format", "json"]),
    ));
    assert_eq!(run["correct"], test["correct"]);
    assert_eq!(run["steps"], test["steps"]);
}

/// Calibrated to 0.5 Hz and shown 6 steps, most settings never spike or
/// answer one class for every image; none of them reaches the front.
#[test]
fn silent_and_constant_settings_stay_off_the_front() {
    let dir = temp_dir("tune", "silent");
    let spec = write_spec(&dir);
    common::write_tiny_params(&dir, 49, |i| i as f32 * 0.01);
    let out = snnc()
        .arg("tune")
        .arg(&spec)
        .args([
            "--max-steps",
            "6",
            "--target-rate",
            "0.5",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let report = json(&String::from_utf8_lossy(&out.stdout));
    let trials = front_without_degenerate_settings(&report);
    assert!(
        trials.iter().filter(|t| degenerate(t)).count() > trials.len() / 2,
        "expected mostly silent settings"
    );
}

#[test]
fn validation_examples_may_not_be_the_test_examples() {
    let dir = temp_dir("tune", "overlap");
    let spec = write_spec(&dir);
    common::write_tiny_params(&dir, 49, |_| 0.5);
    let data = bundled_data().display().to_string();
    let out = snnc()
        .arg("tune")
        .arg(&spec)
        .arg("--validation")
        .arg(format!("mnist_idx(\"{data}\", split=test, offset=200)"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("include the run's test examples 0..300"),
        "{err}"
    );
    let out = snnc()
        .arg("tune")
        .arg(&spec)
        .args(["--validation", "mnist(\"x\")"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--validation: unknown data source `mnist`"),
        "{err}"
    );
    // A search that would not fit the memory budget stops before it starts.
    let out = snnc()
        .arg("tune")
        .arg(&spec)
        .args(["--max-steps", "1000000000", "--max-memory", "1G"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--max-memory"), "{err}");
}
