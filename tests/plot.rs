//! `snnc plot`: valid PNG and SVG files of the requested size, and a raster
//! whose marks are exactly the spikes in the probe data.

mod common;

use common::{snnc, stdout_of, temp_dir, write_tiny_params, write_tiny_spec};

use std::path::{Path, PathBuf};

use snnc_runtime::io::read_npz;

fn write_spec(dir: &Path) -> PathBuf {
    let convert = "    scale_firing_rates = 5\n    synapse = lowpass(5ms)";
    let path = write_tiny_spec(
        dir,
        "tiny.snn",
        convert,
        10,
        "    dt = 1ms\n    present = 40ms",
    );
    // Some units silent (negative bias), some fast.
    write_tiny_params(dir, 49, |i| -20.0 + i as f32 * 6.0);
    path
}

fn plot(spec: &Path, args: &[&str], out: &Path) -> String {
    stdout_of(snnc().arg("plot").arg(spec).args(args).arg("-o").arg(out))
}

fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

fn svg_size(text: &str) -> (u32, u32) {
    let head = &text[text.find("<svg").expect("no <svg")..];
    let attr = |name: &str| -> u32 {
        let at = head.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        head[at..].split('"').next().unwrap().parse().unwrap()
    };
    (attr("width"), attr("height"))
}

#[test]
fn every_kind_draws_a_valid_picture_of_the_requested_size() {
    let dir = temp_dir("plot", "kinds");
    let spec = write_spec(&dir);
    for (kind, probe) in [
        ("raster", "rates"),
        ("activity", "rates"),
        ("output", "pred"),
        ("predictions", "pred"),
    ] {
        let png = dir.join(format!("{kind}.png"));
        plot(
            &spec,
            &["--kind", kind, "--probe", probe, "--limit", "5"],
            &png,
        );
        assert_eq!(png_size(&png), (1000, 600), "{kind}");
        let svg = dir.join(format!("{kind}.svg"));
        plot(
            &spec,
            &["--kind", kind, "--probe", probe, "--size", "640x480"],
            &svg,
        );
        let text = std::fs::read_to_string(&svg).unwrap();
        assert_eq!(svg_size(&text), (640, 480), "{kind}");
        assert!(text.trim_end().ends_with("</svg>"), "{kind}");
    }
    let png = dir.join("small.png");
    plot(
        &spec,
        &["--kind", "output", "--probe", "pred", "--size", "300x200"],
        &png,
    );
    assert_eq!(png_size(&png), (300, 200));
    // Bad requests are refused with a reason.
    let o = snnc()
        .arg("plot")
        .arg(&spec)
        .args(["--kind", "raster", "--probe", "pred", "-o"])
        .arg(dir.join("x.png"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("spiking"));
    let o = snnc()
        .arg("plot")
        .arg(&spec)
        .args(["--kind", "raster", "--probe", "rates", "-o"])
        .arg(dir.join("x.gif"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn raster_marks_are_the_probed_spikes() {
    let dir = temp_dir("plot", "raster");
    let spec = write_spec(&dir);
    let image = 2;
    let n_shown = 6;
    let svg = dir.join("raster.svg");
    let stdout = plot(
        &spec,
        &[
            "--kind",
            "raster",
            "--probe",
            "rates",
            "--image",
            "2",
            "--neurons",
            "6",
        ],
        &svg,
    );

    // The same image's probe data from `snnc run --out`.
    let probes = dir.join("probes.npz");
    let o = snnc()
        .args(["run", "--limit", "3", "--out"])
        .arg(&probes)
        .arg(&spec)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let arrays = read_npz(&probes).unwrap();
    let rates = &arrays.iter().find(|(n, _)| n == "rates").unwrap().1;
    let (steps, size) = (rates.shape[1], rates.shape[2]);
    let values = rates.to_f64_vec();
    let at = |k: usize, i: usize| values[(image * steps + k) * size + i];
    // First N neurons that spike at all; a mark per step with a spike.
    let shown: Vec<usize> = (0..size)
        .filter(|&i| (0..steps).any(|k| at(k, i) > 0.0))
        .take(n_shown)
        .collect();
    assert!(
        shown.len() == n_shown,
        "the test wants {n_shown} spiking neurons, has {shown:?}"
    );
    assert!(
        shown.len()
            < (0..size)
                .filter(|&i| (0..steps).any(|k| at(k, i) > 0.0))
                .count()
                + 1
    );
    let expected_marks: usize = shown
        .iter()
        .map(|&i| (0..steps).filter(|&k| at(k, i) > 0.0).count())
        .sum();
    // scale 5, dt 1ms: one spike reads 200.
    let expected_spikes: f64 = shown
        .iter()
        .map(|&i| (0..steps).map(|k| (at(k, i) / 200.0).round()).sum::<f64>())
        .sum();
    assert!(expected_marks > 0);

    let text = std::fs::read_to_string(&svg).unwrap();
    let marks = text.matches("<rect").count();
    let mark_rects = text
        .split("<rect")
        .skip(1)
        .filter(|r| r.split("/>").next().unwrap().contains("fill=\"#141478\""))
        .count();
    assert!(marks > mark_rects, "the background is a rect too");
    assert_eq!(mark_rects, expected_marks, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{n_shown} neurons, {expected_marks} marks, {expected_spikes} spikes"
        )),
        "{stdout}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A probe that records nothing within the run (`sample_every` longer
/// than the run) is a clear error, as is a plot too large for the memory
/// budget.
#[test]
fn a_probe_without_records_or_too_much_memory_is_an_error() {
    let dir = temp_dir("plot", "no-records");
    let spec = write_spec(&dir);
    let mut text = std::fs::read_to_string(&spec).unwrap();
    text.push_str("\nprobe slow = hidden, sample_every=100\n");
    std::fs::write(&spec, text).unwrap();
    let out = snnc()
        .arg("plot")
        .arg(&spec)
        .args(["--probe", "slow", "--kind", "activity", "-o"])
        .arg(dir.join("slow.png"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("probe `slow` records every 100 steps, but the run has only 40"),
        "{stderr}"
    );
    assert!(!dir.join("slow.png").exists());

    // 100,000 steps of 16 values: 6 MiB of record, over a budget of 1 MiB
    // (which the bundled images, 766 KiB, fit).
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("present = 40ms", "present = 100000ms");
    std::fs::write(&spec, text).unwrap();
    let out = snnc()
        .arg("plot")
        .arg(&spec)
        .args([
            "--probe",
            "rates",
            "--kind",
            "activity",
            "--max-memory",
            "1M",
            "-o",
        ])
        .arg(dir.join("rates.png"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("this run needs about"), "{stderr}");
    assert!(stderr.contains("lower `present`"), "{stderr}");
}

#[test]
fn steps_and_present_override_the_run_block() {
    let dir = temp_dir("plot", "overrides");
    let spec = write_spec(&dir);
    let spikes = |args: &[&str]| -> u64 {
        let mut all = vec!["--kind", "raster", "--probe", "rates", "--image", "1"];
        all.extend_from_slice(args);
        let out = plot(&spec, &all, &dir.join("r.svg"));
        let words: Vec<&str> = out.split_whitespace().collect();
        let at = words.iter().position(|w| w.starts_with("spikes")).unwrap();
        words[at - 1].parse().unwrap()
    };
    let full = spikes(&[]);
    let short = spikes(&["--steps", "10"]);
    assert!(
        full > short && short > 0,
        "40 steps {full}, 10 steps {short}"
    );
    assert_eq!(spikes(&["--present", "10ms"]), short);
    assert_eq!(spikes(&["--seed", "0"]), full, "the run block's seed is 0");
    std::fs::remove_dir_all(dir).ok();
}

/// What cannot be drawn well is said, not drawn: a raster where nothing
/// spiked, an output plot of a probe with more values than classes; fewer
/// spiking neurons than `--neurons` asks for is named; the predicted class
/// prints as a number.
#[test]
fn empty_oversized_and_short_plots_say_so() {
    let dir = temp_dir("plot", "messages");
    let spec = write_spec(&dir);
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("{text}\nprobe pooled = pool\n")).unwrap();
    let out = dir.join("p.svg");
    let fails = |args: &[&str]| -> String {
        let o = snnc()
            .arg("plot")
            .arg(&spec)
            .args(args)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?} drew");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = fails(&["--kind", "output", "--probe", "pooled"]);
    assert!(
        e.contains("records 49 values") && e.contains("at most 20"),
        "{e}"
    );

    let stdout = plot(&spec, &["--kind", "output", "--probe", "pred"], &out);
    assert!(!stdout.contains("Some("), "{stdout}");
    let predicted = stdout.split("predicted ").nth(1).unwrap().trim();
    assert!(
        predicted.parse::<usize>().is_ok() || predicted == "-",
        "{stdout}"
    );

    let stdout = plot(
        &spec,
        &["--kind", "raster", "--probe", "rates", "--neurons", "5000"],
        &out,
    );
    assert!(
        stdout.contains("of the layer's 16 neurons spike; --neurons asked for 5000"),
        "{stdout}"
    );

    // Every bias far below threshold: nothing spikes.
    write_tiny_params(&dir, 49, |_| -1000.0);
    let e = fails(&["--kind", "raster", "--probe", "rates"]);
    assert!(e.contains("no neuron of `hidden` spiked on image 0"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}
