//! `snnc run` end to end: a small spec on the bundled MNIST images, with
//! params the test writes, through the real binary.

mod common;

use common::{bundled_data, snnc, stdout_of, temp_dir, write_tiny_params, write_tiny_spec};

use std::path::{Path, PathBuf};

/// A pooled, spiking two-layer network: avg_pool 4x4 -> dense 10 readout.
fn write_spec(dir: &Path, extra_run: &str) -> PathBuf {
    let convert = "    scale_firing_rates = 5\n    synapse = lowpass(5ms)";
    write_tiny_spec(
        dir,
        "tiny.snn",
        convert,
        40,
        &format!("    present = 20ms\n    {extra_run}"),
    )
}

#[test]
fn json_report_has_the_expected_keys_and_ranges() {
    let dir = temp_dir("cli", "json");
    let spec = write_spec(&dir, "");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let out = snnc()
        .args(["run", "--format", "json"])
        .arg(&spec)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "snnc run failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"], 40);
    assert_eq!(report["steps"], 20);
    let acc = report["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(report["seconds"].as_f64().unwrap() >= 0.0);
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "one spiking layer");
    assert_eq!(layers[0]["name"], "hidden");
    let (mean, max) = (
        layers[0]["mean_rate_hz"].as_f64().unwrap(),
        layers[0]["max_rate_hz"].as_f64().unwrap(),
    );
    assert!(
        mean > 0.0 && mean <= max && max <= 1000.0 * 20.0,
        "rates {mean} {max}"
    );
    let silent = layers[0]["silent_fraction"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&silent));

    // The same run in f64 reads the same data and params.
    let out = snnc()
        .args([
            "run",
            "--format",
            "json",
            "--precision",
            "f64",
            "--limit",
            "5",
        ])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["precision"], "f64");
    assert_eq!(report["images"], 5);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn out_writes_probes_shaped_like_nengo_dl_predict() {
    let dir = temp_dir("cli", "out");
    let spec = write_spec(&dir, "");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let probes = dir.join("probes.npz");
    stdout_of(
        snnc()
            .args(["run", "--limit", "3", "--out"])
            .arg(&probes)
            .arg(&spec),
    );
    let arrays = snnc_runtime::io::read_npz(&probes).unwrap();
    let shape = |name: &str| {
        arrays
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.shape().to_vec())
    };
    assert_eq!(shape("rates"), Some(vec![3, 20, 16]));
    assert_eq!(shape("pred"), Some(vec![3, 20, 10]));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_params_and_data_give_clear_errors() {
    let dir = temp_dir("cli", "bad");
    let spec = write_spec(&dir, "");

    // No params file at all.
    let out = snnc().arg("run").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("params.npz"), "{err}");

    // Params for another shape: names the layer, expected and found shapes.
    write_tiny_params(&dir, 50, |i| 5.0 + i as f32 * 2.0);
    let out = snnc().arg("run").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`hidden.kernel` has shape (50, 16), but layer `hidden` needs (49, 16)"),
        "{err}"
    );

    // A truncated data file.
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let images = std::fs::read(bundled_data().join("t10k-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(
        data.join("t10k-images-idx3-ubyte.gz"),
        &images[..images.len() / 2],
    )
    .unwrap();
    std::fs::copy(
        bundled_data().join("t10k-labels-idx1-ubyte.gz"),
        data.join("t10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace(&bundled_data().display().to_string(), "data");
    std::fs::write(&spec, text).unwrap();
    let out = snnc().arg("run").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("t10k-images-idx3-ubyte.gz"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_spec_with_errors_exits_1_and_shows_them() {
    let dir = temp_dir("cli", "errs");
    let spec = write_spec(&dir, "dt = 5Hz");
    let out = snnc().arg("run").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`dt` is a duration, but `Hz` is a frequency"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Labels beyond the reported layer's classes are an error naming the
/// example and the layer, not a silent 0% (`train` refuses them too).
#[test]
fn labels_outside_the_output_classes_are_refused() {
    use snnc_runtime::io::{write_npz, NdArray};
    let dir = temp_dir("cli", "labels");
    write_tiny_params(&dir, 49, |_| 0.0);
    let x = NdArray::from_f32(vec![3, 28, 28, 1], vec![0.5; 3 * 784]);
    let y = NdArray::from_shape_vec::<i64>(vec![3], vec![1, 12, 3]).unwrap();
    write_npz(&dir.join("data.npz"), &[("x", &x), ("y", &y)]).unwrap();
    let spec = dir.join("labels.snn");
    std::fs::write(
        &spec,
        format!(
            "{}\n\nprobe pred = out\n\nrun {{\n    network = tiny\n    params = \"params.npz\"\n    data = npz(\"data.npz\")\n    steps = 5\n}}\n",
            common::TINY_NETWORK
        ),
    )
    .unwrap();
    let out = snnc().arg("run").arg(&spec).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "run accepted label 12: {stderr}");
    // A diagnostic at the `data =` line, naming the example, its label and
    // the output layer (the text wraps at 80 columns: compare unwrapped).
    let unwrapped = stderr.replace("\n  │ ", " ");
    assert!(unwrapped.starts_with("E0504"), "{stderr}");
    assert!(
        unwrapped.contains("example 1 of") && unwrapped.contains("has label 12"),
        "{stderr}"
    );
    assert!(
        unwrapped.contains("`out` has only 10 class scores"),
        "{stderr}"
    );
    assert!(stderr.contains("labels.snn:14:12]"), "{stderr}");
}

/// A firing-rate scale so large that spike counts saturate at 2^32 - 1 is
/// warned about, naming the layer.
#[test]
fn saturated_spike_counts_are_warned_about() {
    let dir = temp_dir("cli", "saturate");
    let spec = write_tiny_spec(
        &dir,
        "tiny.snn",
        "    scale_firing_rates = 1e30",
        5,
        "    present = 20ms",
    );
    write_tiny_params(&dir, 49, |_| 5.0);
    let out = snnc().arg("run").arg(&spec).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: spike counts of `hidden` reached 4294967295 and saturated"),
        "{stderr}"
    );

    // An ordinary scale gives no such warning.
    let spec = write_tiny_spec(
        &dir,
        "tiny.snn",
        "    scale_firing_rates = 5",
        5,
        "    present = 20ms",
    );
    let out = snnc().arg("run").arg(&spec).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("saturated"), "{stderr}");
}

/// `--out` naming a FIFO is refused before the simulation, and the FIFO is
/// left in place (it used to be replaced by a regular file).
#[cfg(unix)]
#[test]
fn out_refuses_anything_but_a_regular_file() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("cli", "out-fifo");
    let spec = write_spec(&dir, "");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let fifo = dir.join("probes.npz");
    // A directory of a recycled pid may hold an earlier run's FIFO.
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let out = snnc()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&fifo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot write --out") && stderr.contains("a FIFO"),
        "{stderr}"
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}

/// A run whose probe record cannot fit the memory budget stops before
/// simulating, naming `present` (it used to abort allocating).
#[test]
fn a_run_too_large_for_the_memory_budget_is_refused() {
    let dir = temp_dir("cli", "budget");
    let spec = write_tiny_spec(
        &dir,
        "tiny.snn",
        "    synapse = lowpass(5ms)",
        5,
        "    steps = 1000000000",
    );
    write_tiny_params(&dir, 49, |_| 0.0);
    let out = snnc()
        .args(["run", "--max-memory", "1G"])
        .arg(&spec)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("this run needs about"), "{stderr}");
    assert!(stderr.contains("lower `present`"), "{stderr}");
}

/// The JSON report of `snnc run --format json SPEC ARGS...`.
fn run_json(spec: &Path, args: &[&str]) -> serde_json::Value {
    let out = snnc()
        .args(["run", "--format", "json"])
        .args(args)
        .arg(spec)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "snnc run {args:?} failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn steps_present_and_seed_override_the_run_block() {
    let dir = temp_dir("cli", "overrides");
    let spec = write_spec(&dir, "seed = 1");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let base = run_json(&spec, &["--limit", "8"]);
    assert_eq!(base["steps"], 20);
    assert_eq!(
        run_json(&spec, &["--limit", "8", "--steps", "7"])["steps"],
        7
    );
    assert_eq!(
        run_json(&spec, &["--limit", "8", "--present", "0.03s"])["steps"],
        30
    );
    // The initial voltages come from the seed: `--seed 1` is the spec's
    // `seed = 1`, another seed starts the neurons elsewhere.
    let rates = |r: &serde_json::Value| r["layers"].to_string();
    assert_eq!(
        rates(&run_json(&spec, &["--limit", "8", "--seed", "1"])),
        rates(&base)
    );
    assert_ne!(
        rates(&run_json(&spec, &["--limit", "8", "--seed", "2"])),
        rates(&base)
    );

    for (args, wanted) in [
        (&["--steps", "0"][..], "--steps must be at least 1"),
        (&["--present", "20"][..], "`20ms`"),
        (
            &["--steps", "5", "--present", "5ms"][..],
            "cannot be used with",
        ),
    ] {
        let out = snnc().arg("run").args(args).arg(&spec).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} ran");
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// The bundled MNIST images as `.npy`/`.npz` files, float32 (N, 28, 28, 1)
/// as a Keras user has them, with labels in NengoDL's (N, 1, 1), Keras'
/// (N, 1) and one-hot shapes: every form runs to the accuracy of the IDX
/// files themselves.
#[test]
fn npy_and_npz_data_with_keras_and_nengo_dl_label_shapes() {
    use snnc_runtime::io::{read_idx, write_npy, write_npz, NdArray};
    let dir = temp_dir("cli", "npy");
    let spec = write_spec(&dir, "");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let n = 40;
    let images = read_idx(&bundled_data().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let labels = read_idx(&bundled_data().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let x = NdArray::from_f32(
        vec![n, 28, 28, 1],
        images.as_slice().unwrap()[..n * 784]
            .iter()
            .map(|&p| (p as f64 / 255.0) as f32)
            .collect(),
    );
    let classes: Vec<u8> = labels.as_slice().unwrap()[..n].to_vec();
    let nengo = NdArray::from_f32(vec![n, 1, 1], classes.iter().map(|&c| c as f32).collect());
    let keras = NdArray::from_f64(vec![n, 1], classes.iter().map(|&c| c as f64).collect());
    let one_hot = NdArray::from_f32(
        vec![n, 10],
        (0..n * 10)
            .map(|k| f32::from(classes[k / 10] as usize == k % 10))
            .collect(),
    );
    write_npy(&dir.join("x.npy"), &x).unwrap();
    write_npy(&dir.join("y.npy"), &nengo).unwrap();
    write_npz(
        &dir.join("d.npz"),
        &[("x", &x), ("keras", &keras), ("one_hot", &one_hot)],
    )
    .unwrap();

    let idx = run_json(&spec, &[]);
    assert_eq!(idx["images"], n);
    let text = std::fs::read_to_string(&spec).unwrap();
    let data_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("data = mnist_idx"))
        .unwrap()
        .to_string();
    for source in [
        "npy(\"x.npy\", labels=\"y.npy\")",
        "npz(\"d.npz\", y=\"keras\")",
        "npz(\"d.npz\", y=\"one_hot\")",
    ] {
        let other = dir.join("other.snn");
        std::fs::write(
            &other,
            text.replace(&data_line, &format!("    data = {source}")),
        )
        .unwrap();
        let report = run_json(&other, &[]);
        assert_eq!(report["images"], n, "{source}");
        assert_eq!(report["correct"], idx["correct"], "{source}");
        assert_eq!(report["layers"], idx["layers"], "{source}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// A rate run reports each rate layer's rates in Hz as a spiking run does:
/// the output at the last step (amplitude 1, scale 1: the output is the
/// rate), as `--out` records it.
#[test]
fn rate_runs_report_rates_per_layer() {
    let dir = temp_dir("cli", "rates");
    let spec = write_spec(&dir, "");
    write_tiny_params(&dir, 49, |i| -20.0 + i as f32 * 6.0);
    let probes = dir.join("probes.npz");
    let report = run_json(
        &spec,
        &[
            "--variant",
            "tiny",
            "--limit",
            "6",
            "--out",
            probes.to_str().unwrap(),
        ],
    );
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert_eq!(layers[0]["name"], "hidden");
    assert_eq!(layers[0]["neuron"], "relu");
    let arrays = snnc_runtime::io::read_npz(&probes).unwrap();
    let rates = &arrays.iter().find(|(n, _)| n == "rates").unwrap().1;
    assert_eq!(arrays.len(), 2, "only the spec's probes are written");
    let (images, steps, size) = (rates.shape()[0], rates.shape()[1], rates.shape()[2]);
    let values = rates.to_f64_vec();
    let last: Vec<f64> = (0..images)
        .flat_map(|i| values[(i * steps + steps - 1) * size..(i * steps + steps) * size].to_vec())
        .collect();
    let mean = last.iter().sum::<f64>() / last.len() as f64;
    let max = last.iter().cloned().fold(0.0, f64::max);
    let silent = last.iter().filter(|&&r| r <= 0.0).count() as f64 / last.len() as f64;
    let close =
        |a: &serde_json::Value, b: f64| (a.as_f64().unwrap() - b).abs() <= 1e-4 * b.max(1.0);
    assert!(
        mean > 0.0 && silent > 0.0 && silent < 1.0,
        "{mean} {silent}"
    );
    assert!(
        close(&layers[0]["mean_rate_hz"], mean),
        "{} vs {mean}",
        layers[0]
    );
    assert!(
        close(&layers[0]["max_rate_hz"], max),
        "{} vs {max}",
        layers[0]
    );
    assert!(
        close(&layers[0]["silent_fraction"], silent),
        "{} vs {silent}",
        layers[0]
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `npy(...)` without labels: `snnc run` predicts (the probes with
/// `--out`) without an accuracy; the checker refuses an accuracy report or
/// a training on it, and the commands that measure accuracy say why.
#[test]
fn unlabelled_data_gives_predictions_without_accuracy() {
    use snnc_runtime::io::{read_idx, read_npz, write_npy, NdArray};
    let dir = temp_dir("cli", "unlabelled");
    let spec = write_spec(&dir, "");
    write_tiny_params(&dir, 49, |i| 5.0 + i as f32 * 2.0);
    let n = 12;
    let images = read_idx(&bundled_data().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let x = NdArray::from_f32(
        vec![n, 28, 28, 1],
        images.as_slice().unwrap()[..n * 784]
            .iter()
            .map(|&p| (p as f64 / 255.0) as f32)
            .collect(),
    );
    write_npy(&dir.join("x.npy"), &x).unwrap();
    let text = std::fs::read_to_string(&spec).unwrap();
    let data_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("data = mnist_idx"))
        .unwrap()
        .to_string();
    let labelled_out = dir.join("labelled.npz");
    run_json(
        &spec,
        &["--limit", "12", "--out", labelled_out.to_str().unwrap()],
    );

    let unlabelled = dir.join("unlabelled.snn");
    std::fs::write(
        &unlabelled,
        text.replace(&data_line, "    data = npy(\"x.npy\")"),
    )
    .unwrap();
    let out = dir.join("predicted.npz");
    let report = run_json(&unlabelled, &["--out", out.to_str().unwrap()]);
    assert_eq!(report["images"], n);
    assert!(
        report["accuracy"].is_null() && report["correct"].is_null(),
        "{report}"
    );
    assert_eq!(read_npz(&out).unwrap(), read_npz(&labelled_out).unwrap());
    let human = stdout_of(snnc().arg("run").arg(&unlabelled));
    assert!(
        human.contains("accuracy  none: the data has no labels"),
        "{human}"
    );

    // The same images in an `.npz` without labels: `y=none` says so, and
    // the checker knows it (no accuracy report on it).
    snnc_runtime::io::write_npz(&dir.join("x.npz"), &[("x", &x)]).unwrap();
    let npz_spec = dir.join("npz.snn");
    let with_data = |data: &str| text.replace(&data_line, &format!("    data = {data}"));
    std::fs::write(&npz_spec, with_data("npz(\"x.npz\", y=none)")).unwrap();
    let npz_out = dir.join("predicted_npz.npz");
    let report = run_json(&npz_spec, &["--out", npz_out.to_str().unwrap()]);
    assert!(report["accuracy"].is_null(), "{report}");
    assert_eq!(
        read_npz(&npz_out).unwrap(),
        read_npz(&labelled_out).unwrap()
    );
    let said = |o: std::process::Output| {
        assert!(!o.status.success());
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    std::fs::write(&npz_spec, with_data("npz(\"x.npz\")")).unwrap();
    let e = said(snnc().arg("run").arg(&npz_spec).output().unwrap());
    assert!(e.contains("no array `y`") && e.contains("y=none"), "{e}");
    std::fs::write(
        &npz_spec,
        with_data("npz(\"x.npz\", y=none)").replace(
            "    present = 20ms",
            "    present = 20ms\n    report = accuracy(pred, at=last)",
        ),
    )
    .unwrap();
    let e = said(snnc().arg("check").arg(&npz_spec).output().unwrap());
    assert!(e.contains("an accuracy needs labels"), "{e}");

    // The commands that measure accuracy refuse it, naming the file.
    let o = snnc()
        .args(["sweep", "--scale", "2"])
        .arg(&unlabelled)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    // An E0504 diagnostic at the `data =` line (its text wraps at 80
    // columns: compare unwrapped).
    let unwrapped = err.replace("\n  │ ", " ");
    assert!(unwrapped.starts_with("E0504"), "{err}");
    assert!(
        unwrapped.contains("x.npy: this data has no labels"),
        "{err}"
    );

    // The checker knows: no accuracy report, no training without labels.
    let with_report = dir.join("report.snn");
    std::fs::write(
        &with_report,
        std::fs::read_to_string(&unlabelled).unwrap().replace(
            "    present = 20ms",
            "    present = 20ms\n    report = accuracy(pred, at=last)",
        ),
    )
    .unwrap();
    let training = dir.join("train.snn");
    std::fs::write(
        &training,
        format!(
            "{}\nprobe pred = out\ntrain {{\n    network = tiny\n    data = npy(\"x.npy\")\n    optimizer = sgd(lr=0.1)\n    loss pred = sparse_categorical_crossentropy(from_logits=true)\n    epochs = 1\n    save = \"p.npz\"\n}}\n",
            common::TINY_NETWORK
        ),
    )
    .unwrap();
    for (file, wanted) in [
        (&with_report, "an accuracy needs labels"),
        (&training, "training needs labels"),
    ] {
        let o = snnc().arg("check").arg(file).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(wanted) && err.contains("labels="), "{err}");
    }
    let o = snnc().arg("check").arg(&unlabelled).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(dir).ok();
}

/// A run block whose params or data do not fit its network: `snnc run`
/// prints the diagnostic of `tests/run_diagnostics` exactly as that
/// snapshot holds it (code, the `params =` / `data =` line, the layer,
/// the fix) and exits with 1; `sweep`, which loads the run block through
/// the same driver, reports the same diagnostic, and so does `snnc train`
/// for a train block's data.
#[test]
fn params_and_data_that_do_not_fit_are_diagnostics_on_the_spec() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for case in ["params_for_another_network", "data_wrong_input_size"] {
        let spec = format!("tests/run_diagnostics/{case}.snn");
        let expected =
            std::fs::read_to_string(root.join(format!("tests/run_diagnostics/{case}.stderr")))
                .unwrap();
        for command in [&["run"][..], &["sweep", "--scale", "2"]] {
            let out = snnc()
                .current_dir(root)
                .args(command)
                .arg(&spec)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{command:?} {case}: {stderr}");
            assert_eq!(stderr, expected, "{command:?} {case}");
        }
    }
    // `snnc train` reports its train block's data the same way, and
    // writes nothing.
    let case = "tests/run_diagnostics/train_data_wrong_input_size";
    let out = snnc()
        .current_dir(root)
        .arg("train")
        .arg(format!("{case}.snn"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = std::fs::read_to_string(root.join(format!("{case}.stderr"))).unwrap();
    assert_eq!(stderr, expected);
    assert!(!root
        .join("tests/run_diagnostics/never_written.npz")
        .exists());
}

/// NengoDL `(N, steps, features)` sequences of another length than the
/// run's steps: E0504 at the `data =` line, with the fix.
#[test]
fn sequences_of_another_length_are_a_diagnostic_at_the_data_line() {
    use snnc_runtime::io::{write_npz, NdArray};
    let dir = temp_dir("cli", "sequence-steps");
    let x = NdArray::from_f32(vec![2, 3, 4], vec![0.5; 24]);
    snnc_runtime::io::write_npy(&dir.join("x.npy"), &x).unwrap();
    let kernel = NdArray::from_f32(vec![4, 2], vec![0.1; 8]);
    let bias = NdArray::from_f32(vec![2], vec![0.0; 2]);
    write_npz(
        &dir.join("p.npz"),
        &[("out.kernel", &kernel), ("out.bias", &bias)],
    )
    .unwrap();
    let spec = dir.join("seq.snn");
    std::fs::write(
        &spec,
        "network seq {\n    input x: 4\n    out = dense(x, units=2)\n}\n\nprobe pred = out\n\n\
         run {\n    network = seq\n    params = \"p.npz\"\n    data = npy(\"x.npy\")\n    steps = 5\n}\n",
    )
    .unwrap();
    let out = snnc().arg("run").arg(&spec).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let unwrapped = stderr.replace("\n  │ ", " ");
    assert!(unwrapped.starts_with("E0504"), "{stderr}");
    assert!(
        unwrapped.contains("each example is a sequence of 3 steps of 4 values"),
        "{stderr}"
    );
    assert!(stderr.contains("seq.snn:11:12]"), "{stderr}");
    assert!(stderr.contains("set `steps = 3`"), "{stderr}");
    // With the steps it asks for, the run goes through.
    stdout_of(snnc().args(["run", "--steps", "3"]).arg(&spec));
    std::fs::remove_dir_all(dir).ok();
}

/// `--engine auto` (the default) runs a tiny job on the reference, which
/// finishes it before the JIT would have compiled, and says so; a big job
/// on the JIT. An explicit `--engine` wins either way. What is tested is
/// the decision (`snnc_runtime::cost`), not the timing: the tiny job is 1
/// image of 2 steps on specs/deep.snn (the reference's estimate a few
/// percent of the JIT's compile), the big one 100 images of 100 steps.
#[test]
fn auto_engine_takes_the_reference_for_a_tiny_job_and_the_jit_for_a_big_one() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/deep.snn");
    let run = |args: &[&str]| {
        let out = snnc()
            .args(["run", "--format", "json"])
            .args(args)
            .arg(&spec)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "snnc run {args:?} failed: {stderr}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (report, stderr)
    };
    let tiny = ["--limit", "1", "--steps", "2"];
    let (report, stderr) = run(&tiny);
    assert_eq!(report["engine"], "reference", "{stderr}");
    assert!(report["compile_seconds"].is_null());
    assert!(
        stderr.contains("note: ran on the reference interpreter")
            && stderr.contains("--engine jit"),
        "{stderr}"
    );
    let (forced, stderr) = run(&[&tiny[..], &["--engine", "jit"]].concat());
    assert_eq!(forced["engine"], "jit");
    assert!(!stderr.contains("note: ran on the reference"), "{stderr}");
    // Both engines give the same report (bit-identical runs).
    assert_eq!(report["layers"], forced["layers"]);
    assert_eq!(report["correct"], forced["correct"]);

    let (big, stderr) = run(&["--limit", "100"]);
    assert_eq!(big["engine"], "jit", "{stderr}");
    assert!(big["compile_seconds"].as_f64().is_some());
    assert!(!stderr.contains("note: ran on the reference"), "{stderr}");
    let (forced, _) = run(&["--limit", "100", "--engine", "reference", "--steps", "5"]);
    assert_eq!(forced["engine"], "reference");
}
