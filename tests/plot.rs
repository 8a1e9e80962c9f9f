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
    let (steps, size) = (rates.shape()[1], rates.shape()[2]);
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

/// What cannot be drawn well is said: a raster where nothing spiked (in
/// the figure and on the terminal), an output plot of a probe with more
/// values than classes (refused); fewer spiking neurons than `--neurons`
/// asks for is named; the predicted class prints as a number.
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
        e.contains("records 49 values, not class scores") && e.contains("at most 20"),
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

    // Every bias far below threshold: nothing spikes. The figure says so
    // in its frame, and the terminal too.
    write_tiny_params(&dir, 49, |_| -1000.0);
    let o = snnc()
        .arg("plot")
        .arg(&spec)
        .args(["--kind", "raster", "--probe", "rates", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("no neuron of `hidden` spiked on image 0"), "{e}");
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(
        svg.contains("no neuron of `hidden` spiked on image 0"),
        "{svg}"
    );
    assert!(!svg.contains("fill=\"#141478\""), "no marks");
    std::fs::remove_dir_all(dir).ok();
}

/// The texts of an SVG figure with their x positions.
fn texts(svg: &str) -> Vec<(f64, String)> {
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let x = t.split("x=\"").nth(1).unwrap().split('"').next().unwrap();
            let body = t.split('>').nth(1).unwrap().split("</text").next().unwrap();
            (x.parse().unwrap(), body.trim().to_string())
        })
        .collect()
}

/// The x of every point of the SVG's lines in `color` with more than two
/// points (data, not a key's sample line).
fn line_xs(svg: &str, color: &str) -> Vec<f64> {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| p.contains(&format!("stroke=\"{color}\"")))
        .filter_map(|p| p.split("points=\"").nth(1)?.split('"').next())
        .map(|pts| pts.split_whitespace().collect::<Vec<_>>())
        .filter(|pts| pts.len() > 2)
        .flat_map(|pts| {
            pts.into_iter()
                .map(|xy| xy.split(',').next().unwrap().parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Ticks read as integers when they are, the last one inside the figure;
/// the key sits right of the data; the y axis names the probe once.
#[test]
fn ticks_keys_and_labels_read_cleanly() {
    let dir = temp_dir("plot", "readable");
    let spec = write_spec(&dir);
    let out = dir.join("output.svg");
    plot(&spec, &["--kind", "output", "--probe", "pred"], &out);
    let svg = std::fs::read_to_string(&out).unwrap();
    let texts = texts(&svg);
    let bodies: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        !bodies.iter().any(|t| t.ends_with(".0")),
        "integer ticks carry no decimals: {bodies:?}"
    );
    // 40 ms shown: the last tick, 40, is drawn inside the 1000-pixel figure.
    let last = texts.iter().find(|(_, t)| t == "40").expect("a 40 ms tick");
    assert!(last.0 < 1000.0 - 15.0, "{last:?}");
    assert!(bodies.contains(&"class score (probe `pred`)"), "{bodies:?}");
    assert!(!bodies.iter().any(|t| t.contains("out output")));
    // The key of class 0 (#1F77B4) starts right of its line's last point.
    let key = texts.iter().find(|(_, t)| t == "class 0").unwrap().0;
    let data = line_xs(&svg, "#1F77B4");
    assert!(!data.is_empty());
    assert!(
        data.iter().all(|&x| x < key - 20.0),
        "key at {key}, data to {data:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Activity is in Hz over the requested images, one after another, each
/// captioned; a figure compares variants in rows.
#[test]
fn activity_spans_images_in_hz_and_variants_compare_in_rows() {
    let dir = temp_dir("plot", "activity");
    let spec = write_spec(&dir);
    let out = dir.join("activity.svg");
    let stdout = plot(
        &spec,
        &[
            "--kind", "activity", "--probe", "rates", "--image", "1", "--images", "3",
        ],
        &out,
    );
    assert!(stdout.contains("images 1-3"), "{stdout}");
    let svg = std::fs::read_to_string(&out).unwrap();
    let bodies: Vec<String> = texts(&svg).into_iter().map(|(_, t)| t).collect();
    assert!(bodies.iter().any(|t| t == "firing rate (Hz)"), "{bodies:?}");
    for i in 1..=3 {
        assert!(
            bodies
                .iter()
                .any(|t| t.starts_with(&format!("image {i} (label "))),
            "{bodies:?}"
        );
    }
    let title = bodies
        .iter()
        .find(|t| t.starts_with("Firing rates of hidden"))
        .unwrap();
    assert!(
        title.contains("images 1-3") && title.contains(" Hz"),
        "{title}"
    );
    // Three presentations of 40 ms: the time axis runs to 120.
    assert!(bodies.iter().any(|t| t == "120"), "{bodies:?}");

    let out = dir.join("compare.svg");
    let stdout = plot(
        &spec,
        &[
            "--kind",
            "output",
            "--probe",
            "pred",
            "--compare",
            "spiking,tiny",
        ],
        &out,
    );
    assert!(stdout.contains("one row per variant"), "{stdout}");
    let svg = std::fs::read_to_string(&out).unwrap();
    let bodies: Vec<String> = texts(&svg).into_iter().map(|(_, t)| t).collect();
    for variant in ["spiking", "tiny"] {
        assert!(
            bodies
                .iter()
                .any(|t| t.starts_with(&format!("out of `{variant}` over time"))),
            "{bodies:?}"
        );
        assert!(stdout.contains(&format!("in `{variant}`")), "{stdout}");
    }
    assert_eq!(
        svg_size(&svg),
        (1000, 900),
        "300 pixels more for the second row"
    );
    let o = snnc()
        .arg("plot")
        .arg(&spec)
        .args([
            "--kind",
            "output",
            "--probe",
            "pred",
            "--compare",
            "spiking,nope",
            "-o",
        ])
        .arg(dir.join("x.svg"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    std::fs::remove_dir_all(dir).ok();
}
