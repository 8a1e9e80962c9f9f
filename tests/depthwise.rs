//! `depthwise_conv2d` against NumPy: the reference interpreter and the JIT,
//! in f64 and f32, reproduce `tests/depthwise/expected.npz`, which
//! `tests/depthwise/make_expected.py` computes with NumPy from Keras'
//! definition of `DepthwiseConv2D` (regenerate: `pip install numpy`, then
//! `python3 tests/depthwise/make_expected.py`).

use std::path::Path;

use snnc_compiler::check_source;
use snnc_compiler::ir::{BoundProbe, Synapse};
use snnc_runtime::engine::{InputSeq, NodeParams, Real, SimConfig};
use snnc_runtime::io::read_npz;
use snnc_runtime::jit::JitModel;
use snnc_runtime::reference::simulate;

/// Each case of make_expected.py's CASES as a layer call.
const CASES: [(&str, &str, &str); 3] = [
    (
        "same_strided",
        "5x6x3",
        "kernel=3x2, strides=2x1, padding=same, depth_multiplier=2",
    ),
    ("valid", "4x5x2", "kernel=2x3, depth_multiplier=3"),
    (
        "same_even_kernel",
        "6x4x1",
        "kernel=4x4, strides=2x3, padding=same",
    ),
];

/// The layer's output after one step of the rate model (a linear layer
/// without synapses outputs its current at once), from both engines.
fn outputs<T: Real>(spec: &str, x: &[f64], kernel: &[f64], bias: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let checked = check_source(spec);
    let program = checked
        .program
        .unwrap_or_else(|| panic!("{spec}: {:#?}", checked.diagnostics));
    let model = program.model("n").expect("the network's rate model");
    let net = program.network_of(model);
    let cast = |v: &[f64]| v.iter().map(|&a| T::from_f64(a)).collect::<Vec<T>>();
    let params = vec![
        NodeParams::default(),
        NodeParams {
            kernel: cast(kernel),
            bias: cast(bias),
        },
    ];
    let probes = [BoundProbe {
        probe: 0,
        name: "d".into(),
        node: 1,
        synapse: Synapse::None,
        every: 1,
    }];
    let cfg = SimConfig {
        dt: 0.001,
        steps: 1,
        seed: 0,
    };
    let input = cast(x);
    let inputs = [InputSeq::Held(&input)];
    let reference = simulate(net, model, &params, &inputs, &probes, &cfg).unwrap();
    let jit = JitModel::compile(net, model, &params, &probes, &cfg)
        .unwrap()
        .run(&inputs)
        .unwrap();
    let f64s = |v: &ndarray::Array2<T>| v.iter().map(|&a| Real::to_f64(a)).collect();
    (f64s(&reference.probes[0]), f64s(&jit.probes[0]))
}

#[test]
fn depthwise_conv2d_matches_numpy() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/depthwise/expected.npz");
    let arrays = read_npz(&path).unwrap();
    let get = |k: &str| {
        arrays
            .iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("{k} missing from {}", path.display()))
            .1
            .to_f64_vec()
    };
    for (name, shape, args) in CASES {
        let spec = format!(
            "network n {{\n    input x: {shape}\n    d = depthwise_conv2d(x, {args})\n}}\n"
        );
        let (x, k, b) = (
            get(&format!("{name}_x")),
            get(&format!("{name}_kernel")),
            get(&format!("{name}_bias")),
        );
        let want = get(&format!("{name}_y"));
        for (precision, tolerance, (reference, jit)) in [
            ("f64", 1e-12, outputs::<f64>(&spec, &x, &k, &b)),
            ("f32", 1e-5, outputs::<f32>(&spec, &x, &k, &b)),
        ] {
            assert_eq!(reference.len(), want.len(), "{name} {precision}: length");
            for (i, (got, w)) in reference.iter().zip(&want).enumerate() {
                assert!(
                    (got - w).abs() <= tolerance * (1.0 + w.abs()),
                    "{name} {precision}: element {i}: {got} vs NumPy {w}"
                );
            }
            assert_eq!(jit, reference, "{name} {precision}: the JIT differs");
        }
    }
}
