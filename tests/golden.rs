//! The golden vectors of `../shared/golden/` (Nengo 4.1 outputs), each run
//! from its `.snn` spec in `tests/golden/` with the case's weights, through
//! the reference interpreter in f64 and f32, compared with the tolerances
//! of the golden README.

use std::path::{Path, PathBuf};

use snnc_compiler::check_source;
use snnc_compiler::ir::{Neuron, ParamRole};
use snnc_runtime::engine::{InputSeq, NodeParams, Real, SimConfig};
use snnc_runtime::io::{read_npz, NdArray};
use snnc_runtime::reference::simulate;

fn golden_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden");
    dir.is_dir().then_some(dir)
}

struct Case {
    arrays: Vec<(String, NdArray)>,
}

impl Case {
    fn get(&self, key: &str) -> &NdArray {
        &self
            .arrays
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("golden file lacks `{key}`"))
            .1
    }
    fn f64s(&self, key: &str) -> Vec<f64> {
        self.get(key).to_f64_vec()
    }
}

/// Worst deviation found in one case, for the printed summary.
#[derive(Default, Debug)]
struct Outcome {
    max_abs_diff: f64,
    spike_mismatches: usize,
    spikes: u64,
}

fn run_case<T: Real>(name: &str, case: &Case, tol: f64) -> Outcome {
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}.snn")),
    )
    .unwrap();
    let checked = check_source(&spec);
    let program = checked
        .program
        .unwrap_or_else(|| panic!("{name}.snn has errors: {:#?}", checked.diagnostics));
    let model = program.model("golden").expect("a `golden` variant");
    let net = program.network_of(model);

    // Golden keys are `<layer>_kernel`; params files say `<layer>.kernel`.
    let params: Vec<NodeParams<T>> = net
        .nodes
        .iter()
        .map(|node| {
            let mut p = NodeParams::default();
            for spec in &node.params {
                let key = spec.name.replace('.', "_");
                let array = case.get(&key);
                assert_eq!(
                    array.shape(),
                    spec.shape.as_slice(),
                    "{name}: shape of {key}"
                );
                let values: Vec<T> = array.to_f64_vec().into_iter().map(T::from_f64).collect();
                match spec.role {
                    ParamRole::Kernel => p.kernel = values,
                    ParamRole::Bias => p.bias = values,
                }
            }
            p
        })
        .collect();
    let dt = case.f64s("dt")[0];
    let steps = case.f64s("n_steps")[0] as usize;
    let input: Vec<T> = case.f64s("input").into_iter().map(T::from_f64).collect();
    let cfg = SimConfig { dt, steps, seed: 0 };
    let run = program.runs.first();
    assert!(run.is_none(), "golden specs carry no run block");
    let probes: Vec<_> = ["hidden_out", "output_out"]
        .iter()
        .map(|p| {
            let probe = program.probes.iter().position(|x| x.name == *p).unwrap();
            snnc_compiler::ir::BoundProbe {
                probe,
                name: p.to_string(),
                node: net.node(&program.probes[probe].target).unwrap(),
                synapse: snnc_compiler::ir::Synapse::None,
                every: 1,
            }
        })
        .collect();
    let out = simulate(
        net,
        model,
        &params,
        &[InputSeq::PerStep(&input)],
        &probes,
        &cfg,
    )
    .unwrap();

    let mut outcome = Outcome::default();
    let hidden_key = if name.contains("conv") {
        "expected_conv"
    } else {
        "expected_hidden"
    };
    let hidden_node = probes[0].node;
    let expected_hidden = case.f64s(hidden_key);
    let got_hidden: Vec<f64> = out.probes[0].iter().map(|&x| Real::to_f64(x)).collect();
    assert_eq!(
        got_hidden.len(),
        expected_hidden.len(),
        "{name}: hidden length"
    );
    match model.nodes[hidden_node].neuron {
        Some(neuron) if neuron.is_spiking() => {
            let height = neuron.amplitude() / dt;
            for (g, e) in got_hidden.iter().zip(&expected_hidden) {
                let (gc, ec) = ((g / height).round(), (e / height).round());
                outcome.spikes += ec as u64;
                if gc != ec {
                    outcome.spike_mismatches += 1;
                }
            }
        }
        Some(Neuron::RectifiedLinear { .. }) | Some(_) | None => {
            let scale = expected_hidden.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            for (g, e) in got_hidden.iter().zip(&expected_hidden) {
                let d = (g - e).abs();
                outcome.max_abs_diff = outcome.max_abs_diff.max(d);
                assert!(
                    d <= tol * scale,
                    "{name}: hidden differs by {d} (> {tol} * {scale})"
                );
            }
        }
    }
    assert_eq!(outcome.spike_mismatches, 0, "{name}: spike counts differ");
    if model.nodes[hidden_node]
        .neuron
        .is_some_and(|n| n.is_spiking())
    {
        let counted: u64 = out.spike_counts[hidden_node]
            .iter()
            .map(|&c| c as u64)
            .sum();
        assert_eq!(
            counted, outcome.spikes,
            "{name}: spike_counts disagree with the probed spike train"
        );
    }
    let expected_out = case.f64s("expected_output");
    let scale = expected_out.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    for (g, e) in out.probes[1].iter().zip(&expected_out) {
        let d = (Real::to_f64(*g) - e).abs();
        outcome.max_abs_diff = outcome.max_abs_diff.max(d);
        assert!(
            d <= tol * scale,
            "{name}: output differs by {d} (> {tol} * {scale})"
        );
    }
    outcome
}

#[test]
fn golden_cases_match_nengo_in_f64_and_f32() {
    let Some(dir) = golden_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "../shared/golden is missing: CI must have it"
        );
        eprintln!("note: ../shared/golden not found beside the repo; golden cases skipped");
        return;
    };
    let names = [
        "rate_relu_dense",
        "spiking_relu_dense",
        "spiking_relu_dense_lowpass",
        "spiking_relu_dense_alpha",
        "lif_dense",
        "spiking_relu_conv",
    ];
    for name in names {
        let case = Case {
            arrays: read_npz(&dir.join(format!("{name}.npz"))).unwrap(),
        };
        let o64 = run_case::<f64>(name, &case, 1e-9);
        let o32 = run_case::<f32>(name, &case, 1e-5);
        println!(
            "{name:<28} f64: max abs diff {:.2e}, {} spikes identical | f32: max abs diff {:.2e}, {} spikes identical",
            o64.max_abs_diff, o64.spikes, o32.max_abs_diff, o32.spikes
        );
    }
}

/// The golden cases from the command line: each case's input, a row per
/// step, as a NengoDL-shaped `(1, steps, features)` `.npy` without labels,
/// run by `snnc run --out` on both engines in f64, matches Nengo's output.
/// `spiking_relu_dense_lowpass` feeds a time-varying input.
#[test]
fn golden_sequences_run_from_the_cli() {
    let Some(dir) = golden_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "../shared/golden is missing beside the repo: CI must have it"
        );
        eprintln!("note: ../shared/golden not found beside the repo; golden CLI cases skipped");
        return;
    };
    let scratch = std::env::temp_dir().join(format!("snnc-golden-cli-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    for name in [
        "spiking_relu_dense_lowpass",
        "spiking_relu_dense",
        "lif_dense",
    ] {
        let case = Case {
            arrays: read_npz(&dir.join(format!("{name}.npz"))).unwrap(),
        };
        let spec_text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}.snn")),
        )
        .unwrap();
        let dt = case.f64s("dt")[0];
        let steps = case.f64s("n_steps")[0] as usize;
        let input = case.get("input");
        let features = input.len() / steps;
        let seq = NdArray::from_f64(vec![1, steps, features], input.to_f64_vec());
        snnc_runtime::io::write_npy(&scratch.join("input.npy"), &seq).unwrap();
        // Golden keys are `<layer>_kernel`; params files say `<layer>.kernel`.
        let params: Vec<(String, NdArray)> = ["hidden", "output"]
            .iter()
            .flat_map(|l| ["kernel", "bias"].map(|k| (l.to_string(), k)))
            .map(|(l, k)| {
                let a = case.get(&format!("{l}_{k}"));
                (
                    format!("{l}.{k}"),
                    NdArray::from_f64(a.shape().to_vec(), a.to_f64_vec()),
                )
            })
            .collect();
        let refs: Vec<(&str, &NdArray)> = params.iter().map(|(n, a)| (n.as_str(), a)).collect();
        snnc_runtime::io::write_npz(&scratch.join("params.npz"), &refs).unwrap();
        let spec = scratch.join("case.snn");
        std::fs::write(
            &spec,
            format!(
                "{spec_text}\nrun {{\n    network = golden\n    params = \"params.npz\"\n    data = npy(\"input.npy\")\n    dt = {}ms\n    steps = {steps}\n    precision = f64\n}}\n",
                dt * 1e3
            ),
        )
        .unwrap();
        let expected = case.f64s("expected_output");
        let scale = expected.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        for engine in ["reference", "jit"] {
            let out = scratch.join(format!("{engine}.npz"));
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_snnc"))
                .args(["run", "--engine", engine, "--out"])
                .arg(&out)
                .arg(&spec)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{name} on {engine}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let probes = read_npz(&out).unwrap();
            let got = &probes.iter().find(|(n, _)| n == "output_out").unwrap().1;
            assert_eq!(got.shape()[..2], [1, steps], "{name}");
            let got = got.to_f64_vec();
            assert_eq!(got.len(), expected.len(), "{name}");
            let worst = got
                .iter()
                .zip(&expected)
                .map(|(g, e)| (g - e).abs())
                .fold(0.0, f64::max);
            assert!(
                worst <= 1e-9 * scale,
                "{name} on {engine}: output differs by {worst}"
            );
            println!("{name:<28} {engine:<9} from the CLI: max abs diff {worst:.2e}");
        }
    }
    // A sequence whose length is not the run's steps is refused.
    let spec = scratch.join("case.snn");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_snnc"))
        .args(["run", "--steps", "7"])
        .arg(&spec)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("input.npy") && err.contains("set `steps ="),
        "{err}"
    );
    std::fs::remove_dir_all(scratch).ok();
}
