//! `snnc diagnose`: a layer that fires too slowly for its presentation time
//! is reported at the line that gives it its scale, with a concrete fix; a
//! healthy spec has no finding; following the fixes (`--fix`) converges.

mod common;

use common::{snnc, stdout_of, temp_dir, write_tiny_params, write_tiny_spec};

use std::path::{Path, PathBuf};

/// avg_pool 4x4 -> dense 16 (spiking) -> dense 10, with `convert` and `run`
/// settings filled in.
fn write_spec(dir: &Path, convert: &str, present: &str) -> PathBuf {
    let run = format!("    dt = 1ms\n    present = {present}");
    write_tiny_spec(dir, "tiny.snn", convert, 40, &run)
}

fn diagnose_json(spec: &Path) -> serde_json::Value {
    let out = stdout_of(
        snnc()
            .args(["diagnose", "--limit", "20", "--format", "json"])
            .arg(spec),
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn a_slow_layer_is_reported_at_its_scale_line_with_a_fix() {
    let dir = temp_dir("diagnose", "slow");
    let spec = write_spec(&dir, "    scale_firing_rates = 1", "30ms");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let report = diagnose_json(&spec);
    assert_eq!(report["variant"], "spiking");
    assert_eq!(report["rate_model"], "spiking in rate mode");
    assert_eq!(report["images"], 20);
    let layer = &report["layers"][0];
    assert_eq!(layer["name"], "hidden");
    assert!(
        layer["spikes_per_active_neuron"].as_f64().unwrap() < 2.0,
        "{layer}"
    );
    let findings = report["findings"].as_array().unwrap();
    let slow = findings
        .iter()
        .find(|f| f["kind"] == "slow" && f["layer"] == "hidden")
        .unwrap_or_else(|| panic!("no slow finding: {report:#}"));
    // The fix: this layer's own scale, raised; a longer presentation as
    // the alternative.
    assert_eq!(slow["fix"]["change"], "scale");
    let scale = slow["fix"]["scale"].as_f64().unwrap();
    assert!(scale > 1.0);
    assert!(slow["fix"]["present"].as_f64().unwrap() > 0.03);
    let help = slow["help"].as_str().unwrap();
    assert!(
        help.contains(&format!("set `scale hidden = {scale}`"))
            && help.contains("or raise `present` to >= "),
        "{help}"
    );
    // Pointing at the line that gives `hidden` its scale.
    let text = std::fs::read_to_string(&spec).unwrap();
    let scale_line = text
        .lines()
        .position(|l| l.trim_start().starts_with("scale_firing_rates"))
        .unwrap()
        + 1;
    assert_eq!(slow["diagnostic"]["code"], "W0001", "{slow:#}");
    let line = slow["diagnostic"]["span"]["start_line"].as_u64();
    assert_eq!(line, Some(scale_line as u64), "{slow:#}");

    // The human form renders the same finding against the source.
    let out = snnc()
        .args(["diagnose", "--limit", "20"])
        .arg(&spec)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("hidden: active neurons spike"), "{stdout}");
    assert!(stdout.contains("scale_firing_rates = 1"), "{stdout}");
    assert!(stdout.contains("or present >= "), "{stdout}");
    std::fs::remove_dir_all(dir).ok();
}

/// From an unscaled, unfiltered variant shown for 30 ms, applying the
/// findings literally reaches a spec with none within three rounds, never
/// returning to an earlier spec, and the spiking accuracy gets closer to
/// the rate model's.
#[test]
fn following_the_fixes_converges() {
    let dir = temp_dir("diagnose", "converge");
    let spec = write_spec(&dir, "    scale_firing_rates = 1", "30ms");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let first = diagnose_json(&spec);
    let gap = |r: &serde_json::Value| {
        r["output"]["rate_accuracy"].as_f64().unwrap()
            - r["output"]["spiking_accuracy"].as_f64().unwrap()
    };
    let mut seen = vec![std::fs::read_to_string(&spec).unwrap()];
    for round in 1..=3 {
        stdout_of(
            snnc()
                .args(["diagnose", "--fix", "--limit", "20"])
                .arg(&spec),
        );
        let text = std::fs::read_to_string(&spec).unwrap();
        assert!(
            !seen.contains(&text),
            "round {round} returned to an earlier spec:\n{text}"
        );
        seen.push(text);
        let report = diagnose_json(&spec);
        if report["findings"].as_array().unwrap().is_empty() {
            assert!(gap(&report) <= gap(&first).max(0.0), "{report:#}");
            let text = seen.last().unwrap();
            assert!(text.contains("scale hidden = "), "{text}");
            assert!(text.contains("synapse hidden -> out = lowpass("), "{text}");
            std::fs::remove_dir_all(dir).ok();
            return;
        }
    }
    panic!("findings remain after 3 rounds:\n{}", seen.last().unwrap());
}

#[test]
fn a_healthy_spec_has_no_findings() {
    let dir = temp_dir("diagnose", "healthy");
    let spec = write_spec(
        &dir,
        "    scale_firing_rates = 10\n    synapse = lowpass(5ms)",
        "100ms",
    );
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let report = diagnose_json(&spec);
    let findings = report["findings"].as_array().unwrap();
    assert!(findings.is_empty(), "{report:#}");
    let layer = &report["layers"][0];
    assert!(
        layer["spikes_per_active_neuron"].as_f64().unwrap() >= 10.0,
        "{layer}"
    );
    assert_eq!(report["output"]["filtered"], true);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_unfiltered_noisy_output_asks_for_a_synapse() {
    let dir = temp_dir("diagnose", "noisy");
    let spec = write_spec(&dir, "    scale_firing_rates = 10", "100ms");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let report = diagnose_json(&spec);
    let findings = report["findings"].as_array().unwrap();
    let noisy = findings
        .iter()
        .find(|f| f["kind"] == "noisy_output")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(noisy["layer"], "out");
    assert!(noisy["help"]
        .as_str()
        .unwrap()
        .contains("synapse hidden -> out = lowpass(5ms)"));
    assert!(!findings.iter().any(|f| f["kind"] == "slow"), "{report:#}");
    std::fs::remove_dir_all(dir).ok();
}

/// A swap that changes a neuron's amplitude changes the network: the
/// variant is compared with itself in rate mode, so its output distance and
/// its layer's rates in Hz are what they are at amplitude 1 (not 100x off,
/// as against the network's own rate model).
#[test]
fn an_amplitude_swap_is_compared_with_its_own_rate_mode() {
    let dir = temp_dir("diagnose", "amplitude");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let settings = "    scale_firing_rates = 10\n    synapse = lowpass(5ms)";
    let plain = diagnose_json(&write_spec(&dir, settings, "100ms"));
    let amplitude = format!("    swap hidden -> spiking_relu(amplitude=0.01)\n{settings}");
    let scaled = diagnose_json(&write_spec(&dir, &amplitude, "100ms"));
    let hz = |r: &serde_json::Value| r["layers"][0]["rate_mean_hz"].as_f64().unwrap();
    let distance = |r: &serde_json::Value| r["output"]["relative_distance"].as_f64().unwrap();
    assert!(
        (hz(&plain) - hz(&scaled)).abs() <= 1e-6 * hz(&plain),
        "{plain:#}\n{scaled:#}"
    );
    // The output bias is zero, so the output scales with the amplitude and
    // its relative distance does not change (against the network's own
    // rate model it would read about 99%).
    assert!(
        (distance(&plain) - distance(&scaled)).abs() < 0.01,
        "{plain:#}\n{scaled:#}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Per-step probes on every spiking layer for a 10^6-second presentation
/// do not fit: a named error before anything is simulated.
#[test]
fn a_presentation_too_long_for_memory_is_refused() {
    let dir = temp_dir("diagnose", "memory");
    let spec = write_spec(&dir, "    scale_firing_rates = 10", "1000000s");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let out = snnc()
        .args(["diagnose", "--max-memory", "1G"])
        .arg(&spec)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--max-memory") && err.contains("`present`"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn steps_and_seed_override_the_run_block() {
    let dir = temp_dir("diagnose", "overrides");
    let spec = write_spec(&dir, "    scale_firing_rates = 5", "30ms");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let json = |args: &[&str]| -> serde_json::Value {
        let out = stdout_of(
            snnc()
                .args(["diagnose", "--limit", "10", "--format", "json"])
                .args(args)
                .arg(&spec),
        );
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(json(&[])["steps"], 30);
    assert_eq!(json(&["--steps", "12", "--seed", "4"])["steps"], 12);
    assert_eq!(json(&["--present", "0.05s"])["steps"], 50);
    std::fs::remove_dir_all(dir).ok();
}
