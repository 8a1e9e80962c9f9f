//! `--shard K/N` and `snnc merge`: the merged outputs of N shards are the
//! unsharded outputs, exactly (accuracy, rates, probe arrays, sweep rows).

mod common;

use common::{snnc, stdout_of, temp_dir, write_tiny_params, write_tiny_spec};

use std::path::{Path, PathBuf};

/// The tiny network's spiking variant (hidden fires), 23 images.
fn setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir("shard", name);
    let spec = write_tiny_spec(
        &dir,
        "tiny.snn",
        "    scale hidden = 3",
        23,
        "    steps = 12",
    );
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    (dir, spec)
}

/// `snnc run` with `args`, its JSON report and its probes in `out`.
fn run_json(spec: &Path, args: &[&str], out: &Path) -> serde_json::Value {
    let text = stdout_of(
        snnc()
            .arg("run")
            .arg(spec)
            .args(["--format", "json", "--out"])
            .arg(out)
            .args(args),
    );
    serde_json::from_str(&text).unwrap()
}

/// A report without its wall times, which differ from run to run.
fn without_times(mut report: serde_json::Value) -> serde_json::Value {
    let map = report.as_object_mut().unwrap();
    for key in ["seconds", "images_steps_per_second", "compile_seconds"] {
        map.remove(key);
    }
    report
}

fn merge(files: &[PathBuf], out: Option<&Path>) -> std::process::Output {
    let mut cmd = snnc();
    cmd.arg("merge").args(files);
    if let Some(out) = out {
        cmd.arg("--out").arg(out);
    }
    cmd.output().unwrap()
}

#[test]
fn merged_run_shards_equal_the_unsharded_run() {
    let (dir, spec) = setup("run");
    // The spiking variant and the rate network (rates from the last step).
    for variant in ["spiking", "tiny"] {
        let whole = run_json(
            &spec,
            &["--variant", variant],
            &dir.join(format!("{variant}.npz")),
        );
        // Reports and probe files, handed to merge out of order.
        let mut reports = Vec::new();
        let mut probes = Vec::new();
        for k in [3, 1, 2] {
            let report = dir.join(format!("{variant}-{k}.json"));
            let npz = dir.join(format!("{variant}-{k}.npz"));
            let json = run_json(
                &spec,
                &["--variant", variant, "--shard", &format!("{k}/3")],
                &npz,
            );
            // Shards of 23 images: 7, 8 and 8, in order.
            assert_eq!(json["images"], [7, 8, 8][k - 1], "{json}");
            assert_eq!(json["shard"]["first"], [0, 7, 15][k - 1]);
            std::fs::write(&report, json.to_string()).unwrap();
            reports.push(report);
            probes.push(npz);
        }
        let out = merge(&reports, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let merged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            without_times(merged),
            without_times(whole.clone()),
            "{variant}"
        );
        assert!(
            whole["layers"][0]["mean_rate_hz"].as_f64().unwrap() > 0.0,
            "{whole}"
        );

        let merged_npz = dir.join(format!("{variant}-merged.npz"));
        let out = merge(&probes, Some(&merged_npz));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = |p: &Path| snnc_runtime::io::read_npz(p).unwrap();
        assert_eq!(
            read(&merged_npz),
            read(&dir.join(format!("{variant}.npz"))),
            "{variant}: the merged probe arrays are the unsharded ones"
        );
    }
}

#[test]
fn merge_names_a_missing_repeated_or_unsharded_part() {
    let (dir, spec) = setup("errors");
    let part = |k: usize| {
        let path = dir.join(format!("r{k}.json"));
        let json = run_json(&spec, &["--shard", &format!("{k}/3")], &dir.join("p.npz"));
        std::fs::write(&path, json.to_string()).unwrap();
        path
    };
    let (one, two, three) = (part(1), part(2), part(3));
    let error = |files: &[PathBuf]| {
        let out = merge(files, None);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = error(&[one.clone(), three.clone()]);
    assert!(e.contains("shard 2/3 is missing"), "{e}");
    let e = error(&[one.clone(), two.clone()]);
    assert!(e.contains("shard 3/3 is missing"), "{e}");
    let e = error(&[one.clone(), two.clone(), two.clone(), three.clone()]);
    assert!(e.contains("shard 2/3 is repeated"), "{e}");
    let whole = dir.join("whole.json");
    let json = run_json(&spec, &[], &dir.join("p.npz"));
    std::fs::write(&whole, json.to_string()).unwrap();
    let e = error(&[whole]);
    assert!(e.contains("not the report of a sharded run"), "{e}");
    // Too many shards for the images.
    let out = snnc()
        .arg("run")
        .arg(&spec)
        .args(["--shard", "24/24"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("use at most 23 shards"), "{e}");
}

#[test]
fn merged_sweep_shards_equal_the_unsharded_table() {
    let (dir, spec) = setup("sweep");
    let sweep = |csv: &Path, shard: Option<&str>| {
        let mut cmd = snnc();
        cmd.arg("sweep").arg(&spec).args([
            "--scale",
            "2,10",
            "--synapse",
            "none,5ms",
            "--present",
            "5ms,12ms",
            "--limit",
            "9",
            "--csv",
        ]);
        cmd.arg(csv);
        if let Some(s) = shard {
            cmd.args(["--shard", s]);
        }
        stdout_of(&mut cmd);
        std::fs::read_to_string(csv).unwrap()
    };
    let whole = sweep(&dir.join("whole.csv"), None);
    let parts: Vec<PathBuf> = [2, 3, 1]
        .iter()
        .map(|k| {
            let csv = dir.join(format!("s{k}.csv"));
            sweep(&csv, Some(&format!("{k}/3")));
            csv
        })
        .collect();
    let merged = dir.join("merged.csv");
    let out = merge(&parts, Some(&merged));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = std::fs::read_to_string(&merged).unwrap();
    assert_eq!(merged, whole);
    assert_eq!(whole.lines().count(), 9, "{whole}");
    // The front is marked over every setting, not each shard's.
    assert!(whole.lines().any(|l| l.contains(",true,")), "{whole}");
}
