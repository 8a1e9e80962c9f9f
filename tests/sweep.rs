//! `snnc sweep`: each row of the table is what `snnc run` reports for a spec
//! written with the same settings.

mod common;

use common::{snnc, stdout_of, temp_dir, write_tiny_params, write_tiny_spec};

use std::path::{Path, PathBuf};

fn write_spec(dir: &Path, name: &str, convert: &str, present: &str) -> PathBuf {
    let convert = format!("    scale hidden = 3\n{convert}");
    let run = format!("    dt = 1ms\n    present = {present}");
    write_tiny_spec(dir, name, &convert, 12, &run)
}

#[test]
fn sweep_rows_match_individual_runs() {
    let dir = temp_dir("sweep", "rows");
    // The base spec has a per-layer scale, which the sweep overrides.
    let spec = write_spec(&dir, "base.snn", "", "20ms");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let csv = dir.join("sweep.csv");
    let plot = dir.join("sweep.svg");
    stdout_of(
        snnc()
            .arg("sweep")
            .arg(&spec)
            .args([
                "--scale",
                "2,10",
                "--synapse",
                "none,5ms",
                "--present",
                "20ms,50ms",
                "--limit",
                "8",
                "--csv",
            ])
            .arg(&csv)
            .arg("--plot")
            .arg(&plot),
    );
    let table = std::fs::read_to_string(&csv).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().any(|r| r[col("pareto")] == "true"));
    assert!(std::fs::read_to_string(&plot).unwrap().contains("<svg"));

    for row in &rows {
        let (scale, synapse, present) = (
            &row[col("scale")],
            &row[col("synapse")],
            &row[col("present_ms")],
        );
        let synapse_stmt = if synapse == "none" {
            "none".to_string()
        } else {
            format!("lowpass({synapse})")
        };
        let convert = format!("    scale_firing_rates = {scale}\n    scale hidden = {scale}\n    synapse = {synapse_stmt}");
        // `scale hidden` appears twice otherwise: drop the base's.
        let one = write_spec(&dir, "one.snn", &convert, &format!("{present}ms"));
        let text = std::fs::read_to_string(&one)
            .unwrap()
            .replacen("    scale hidden = 3\n", "", 1);
        std::fs::write(&one, text).unwrap();
        let o = snnc()
            .args(["run", "--format", "json", "--limit", "8"])
            .arg(&one)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "snnc run failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let at = |c: &str| row[col(c)].parse::<f64>().unwrap();
        assert_eq!(
            report["correct"].as_f64().unwrap(),
            at("correct"),
            "{row:?}"
        );
        assert_eq!(report["images"].as_f64().unwrap(), at("images"));
        assert!((report["accuracy"].as_f64().unwrap() - at("accuracy")).abs() < 1e-12);
        assert_eq!(report["steps"].as_f64().unwrap(), at("steps"));
        // Spikes per image from the run's mean rate.
        let layer = &report["layers"][0];
        let seconds = report["steps"].as_f64().unwrap() * report["dt"].as_f64().unwrap();
        let spikes =
            layer["mean_rate_hz"].as_f64().unwrap() * layer["neurons"].as_f64().unwrap() * seconds;
        assert!(
            (spikes - at("spikes_per_image")).abs() < 1e-6 * spikes.max(1.0),
            "{spikes} vs {row:?}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_sweep_too_large_for_memory_is_refused() {
    let dir = temp_dir("sweep", "memory");
    let spec = write_spec(&dir, "base.snn", "", "20ms");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let out = snnc()
        .arg("sweep")
        .arg(&spec)
        .args(["--present", "20ms,1000000s", "--max-memory", "1G"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--max-memory"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn steps_and_seed_override_the_run_block() {
    let dir = temp_dir("sweep", "overrides");
    let spec = write_spec(&dir, "base.snn", "", "20ms");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let csv = dir.join("sweep.csv");
    stdout_of(
        snnc()
            .arg("sweep")
            .arg(&spec)
            .args([
                "--scale", "2", "--steps", "9", "--seed", "3", "--limit", "8", "--csv",
            ])
            .arg(&csv),
    );
    let table = std::fs::read_to_string(&csv).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("steps"), "9");
    // The same setting through `snnc run` with the same overrides.
    let only = write_spec(&dir, "only.snn", "    scale_firing_rates = 2", "20ms");
    let text = std::fs::read_to_string(&only).unwrap();
    std::fs::write(&only, text.replace("    scale hidden = 3\n", "")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout_of(
        snnc()
            .args([
                "run", "--format", "json", "--limit", "8", "--steps", "9", "--seed", "3",
            ])
            .arg(&only),
    ))
    .unwrap();
    assert_eq!(col("correct"), report["correct"].to_string());
    let layer = &report["layers"][0];
    let spikes = layer["mean_rate_hz"].as_f64().unwrap()
        * layer["neurons"].as_f64().unwrap()
        * 9.0
        * report["dt"].as_f64().unwrap();
    let swept: f64 = col("spikes_per_image").parse().unwrap();
    assert!(
        (spikes - swept).abs() < 1e-6 * spikes.max(1.0),
        "{spikes} vs {swept}"
    );
    std::fs::remove_dir_all(dir).ok();
}
