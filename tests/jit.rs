//! The JIT against the reference interpreter: equal outputs and spike
//! counts, bit for bit, on the golden cases, on random networks that use
//! every op, neuron type and synapse, and on edge cases.

use std::path::Path;

use snnc_compiler::check_source;
use snnc_compiler::ir::{
    BoundProbe, DataKind, InitialVoltage, Network, ParamRole, Program, Split, Synapse,
};
use snnc_runtime::engine::{
    Counts, Engine, InputSeq, NodeParams, Real, SimConfig, SimOutput, SpikeSummary,
};
use snnc_runtime::io::read_npz;
use snnc_runtime::jit::{self, JitModel};
use snnc_runtime::reference::{self, simulate};
use snnc_runtime::rng::SplitMix64;

fn program(src: &str) -> Program {
    let checked = check_source(src);
    checked
        .program
        .unwrap_or_else(|| panic!("spec has errors: {:#?}", checked.diagnostics))
}

fn random_params<T: Real>(net: &Network, rng: &mut SplitMix64, scale: f64) -> Vec<NodeParams<T>> {
    net.nodes
        .iter()
        .map(|node| {
            let mut p = NodeParams::default();
            for spec in &node.params {
                let n: usize = spec.shape.iter().product();
                let values: Vec<T> = (0..n)
                    .map(|_| T::from_f64(((rng.uniform() - 0.3) * scale) as f32 as f64))
                    .collect();
                match spec.role {
                    ParamRole::Kernel => p.kernel = values,
                    ParamRole::Bias => p.bias = values,
                }
            }
            p
        })
        .collect()
}

/// Probes on the nodes named `names` (see `all_probes`).
fn probes_on(net: &Network, names: &[&str]) -> Vec<BoundProbe> {
    all_probes(net)
        .into_iter()
        .filter(|p| names.contains(&p.name.as_str()))
        .collect()
}

fn all_probes(net: &Network) -> Vec<BoundProbe> {
    net.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| BoundProbe {
            probe: i,
            name: n.name.clone(),
            node: i,
            synapse: Synapse::None,
            every: 1,
        })
        .collect()
}

fn assert_same<T: Real>(what: &str, a: &SimOutput<T>, b: &SimOutput<T>) {
    for (p, (x, y)) in a.probes.iter().zip(&b.probes).enumerate() {
        assert_eq!(x.len(), y.len(), "{what}: probe {p} length");
        for (i, (u, v)) in x.iter().zip(y).enumerate() {
            assert!(
                u == v || (u.is_nan() && v.is_nan()),
                "{what}: probe {p} element {i}: jit {u:?} vs reference {v:?}"
            );
        }
    }
    for (node, (x, y)) in a.spike_counts.iter().zip(&b.spike_counts).enumerate() {
        assert_eq!(x, y, "{what}: spike counts of node {node} differ");
    }
    assert_eq!(
        a.spike_summaries, b.spike_summaries,
        "{what}: spike summaries"
    );
    for (node, (counts, summary)) in a.spike_counts.iter().zip(&a.spike_summaries).enumerate() {
        assert_eq!(
            &SpikeSummary::of(counts),
            summary,
            "{what}: node {node}'s summary"
        );
    }
}

/// [`compare`] on `model` holding `image`, with the same random params
/// (drawn from `params_seed` at `scale`) in f64 and then in f32.
fn compare_in_both_precisions(
    prog: &Program,
    model: &str,
    params_seed: u64,
    scale: f64,
    image: &[f64],
    cfg: &SimConfig,
) {
    let net = prog.network_of(prog.model(model).expect("model"));
    let probes = all_probes(net);
    let params64 = random_params::<f64>(net, &mut SplitMix64::new(params_seed), scale);
    compare(
        model,
        prog,
        model,
        &params64,
        &[InputSeq::Held(image)],
        &probes,
        cfg,
    );
    let params32 = random_params::<f32>(net, &mut SplitMix64::new(params_seed), scale);
    let image32: Vec<f32> = image.iter().map(|&x| x as f32).collect();
    compare(
        model,
        prog,
        model,
        &params32,
        &[InputSeq::Held(&image32)],
        &probes,
        cfg,
    );
}

/// Both engines on one model with per-step or held inputs.
fn compare<T: Real>(
    what: &str,
    prog: &Program,
    model: &str,
    params: &[NodeParams<T>],
    inputs: &[InputSeq<T>],
    probes: &[BoundProbe],
    cfg: &SimConfig,
) {
    let model = prog.model(model).expect("model");
    let net = prog.network_of(model);
    let reference = simulate(net, model, params, inputs, probes, cfg).unwrap();
    let compiled = JitModel::compile(net, model, params, probes, cfg).unwrap();
    let fast = compiled.run(inputs).unwrap();
    assert_same(what, &fast, &reference);
    if model.has_spiking() {
        let spikes: u64 = reference
            .spike_counts
            .iter()
            .flatten()
            .map(|&c| c as u64)
            .sum();
        assert!(
            spikes > 0,
            "{what}: the comparison is vacuous without spikes"
        );
    }
}

#[test]
fn golden_cases_agree_bit_for_bit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "../shared/golden is missing: CI must have it"
        );
        eprintln!("note: ../shared/golden not found; golden JIT comparison skipped");
        return;
    }
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "snn") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let prog = program(&std::fs::read_to_string(&path).unwrap());
        let arrays = read_npz(&dir.join(format!("{name}.npz"))).unwrap();
        let get = |k: &str| arrays.iter().find(|(n, _)| n == k).unwrap().1.to_f64_vec();
        let model = prog.model("golden").unwrap();
        let net = prog.network_of(model);
        let cfg = SimConfig {
            dt: get("dt")[0],
            steps: get("n_steps")[0] as usize,
            seed: 0,
        };
        fn run<T: Real>(
            name: &str,
            prog: &Program,
            net: &Network,
            get: &dyn Fn(&str) -> Vec<f64>,
            cfg: &SimConfig,
        ) {
            let params: Vec<NodeParams<T>> = net
                .nodes
                .iter()
                .map(|node| {
                    let mut p = NodeParams::default();
                    for spec in &node.params {
                        let v: Vec<T> = get(&spec.name.replace('.', "_"))
                            .into_iter()
                            .map(T::from_f64)
                            .collect();
                        match spec.role {
                            ParamRole::Kernel => p.kernel = v,
                            ParamRole::Bias => p.bias = v,
                        }
                    }
                    p
                })
                .collect();
            let input: Vec<T> = get("input").into_iter().map(T::from_f64).collect();
            compare(
                name,
                prog,
                "golden",
                &params,
                &[InputSeq::PerStep(&input)],
                &all_probes(net),
                cfg,
            );
        }
        run::<f64>(&name, &prog, net, &get, &cfg);
        run::<f32>(&name, &prog, net, &get, &cfg);
    }
}

const EVERYTHING: &str = r#"
network wide {
    input image: 9x9x2
    c1 = conv2d(image, filters=3, kernel=3x3, strides=2, padding=same, activation=relu)
    c2 = conv2d(c1, filters=4, kernel=2x2, activation=tanh)
    c3 = conv2d(c1, filters=5, kernel=3x3, strides=2, padding=same, activation=relu)
    dw1 = depthwise_conv2d(image, kernel=3x3, padding=same, depth_multiplier=2, activation=relu)
    dw2 = depthwise_conv2d(c1, kernel=2x3, strides=2x1, depth_multiplier=3, activation=relu)
    dw3 = depthwise_conv2d(dw1, kernel=3x3, strides=2, padding=same, bias=false)
    fw2 = flatten(dw2)
    fw3 = flatten(dw3)
    dw = dense(fw2, units=6, activation=relu)
    dwl = dense(fw3, units=6)
    f3 = flatten(c3)
    d3 = dense(f3, units=6, activation=relu)
    p1 = avg_pool(c1, pool=2x2)
    p2 = max_pool(c2, pool=2x2, strides=1x1)
    a1 = activation(p1, sigmoid)
    f1 = flatten(a1)
    f2 = flatten(p2)
    d1 = dense(f1, units=6, activation=relu)
    d2 = dense(f2, units=6, activation=relu, bias=false)
    s = add(d1, d2, d3, dw, dwl)
    h = dense(s, units=5, activation=relu)
    one = dense(h, units=1, activation=relu)
    out = dense(h, units=3)
}

convert spiking from wide {
    swap relu -> spiking_relu
    swap d2 -> lif(tau_rc=20ms, tau_ref=2ms)
    swap h -> lif_rate
    scale_firing_rates = 3
    scale d1 = 7
    synapse = lowpass(4ms)
    synapse image -> c1 = alpha(3ms)
    synapse bias -> d1 = lowpass(2ms)
    synapse h -> out = alpha(5ms)
    initial_voltage = uniform(seed=7)
}

convert plain from wide {
    swap relu -> spiking_relu
}

convert relayed from wide {
    swap relu -> spiking_relu
    scale_firing_rates = 3
    synapse all = lowpass(3ms)
    synapse relay -> c3 = lowpass(0ms)
    synapse bias -> c1 = none
}
"#;

#[test]
fn every_op_neuron_and_synapse_agrees() {
    let prog = program(EVERYTHING);
    for (seed, model) in [(1u64, "spiking"), (2, "plain"), (3, "wide"), (4, "relayed")] {
        let m = prog.model(model).unwrap();
        let net = prog.network_of(m);
        let cfg = SimConfig {
            dt: 0.001,
            steps: 40,
            seed: 0,
        };
        let mut rng = SplitMix64::new(seed);
        let image: Vec<f64> = (0..net.nodes[0].size())
            .map(|_| rng.uniform() * 2.0)
            .collect();
        compare_in_both_precisions(&prog, model, seed + 100, 60.0, &image, &cfg);
    }
}

/// A first layer with a constant current that only feeds event-driven
/// connections is stepped as a packed list of its active neurons (see
/// `jit::layout::CompactSlots`), and a conv layer fed only by spikes whose
/// biases keep idle neurons quiet is stepped only where spikes arrived
/// (`LazySlots`). Zero-mean weights make about half of `c1` inactive;
/// per-step inputs relist it every step; in `calm`, one channel of `c2`
/// has a bias that charges idle neurons to 0.9 over the run, so a position
/// woken late must start from that voltage.
#[test]
fn packed_and_lazy_layers_agree_with_held_and_per_step_inputs() {
    let src = r#"
network packed {
    input image: 7x7x2
    c1 = conv2d(image, filters=5, kernel=3x3, activation=relu)
    c2 = conv2d(c1, filters=4, kernel=2x2, strides=2, activation=relu)
    f1 = flatten(c1)
    d1 = dense(f1, units=4, activation=relu)
    f2 = flatten(c2)
    d2 = dense(f2, units=4, activation=relu)
    s = add(d1, d2)
    out = dense(s, units=3)
}
convert spiking from packed {
    swap relu -> spiking_relu
    scale_firing_rates = 5
    synapse = lowpass(3ms)
    initial_voltage = uniform(seed=3)
}
convert calm from packed {
    swap relu -> spiking_relu
    scale_firing_rates = 5
    synapse = lowpass(3ms)
    initial_voltage = zero
}
"#;
    let prog = program(src);
    let cfg = SimConfig {
        dt: 0.001,
        steps: 30,
        seed: 0,
    };
    fn run<T: Real>(prog: &Program, model_name: &str, lazy: &[&str], cfg: &SimConfig) {
        let model = prog.model(model_name).unwrap();
        let net = prog.network_of(model);
        let probes = probes_on(net, &["out"]);
        let mut params = random_params::<T>(net, &mut SplitMix64::new(12), 20.0);
        // Zero-mean first-layer weights: about half of c1 gets J <= 0.
        let mut rng = SplitMix64::new(13);
        for w in &mut params[1].kernel {
            *w = T::from_f64(((rng.uniform() - 0.5) * 20.0) as f32 as f64);
        }
        // c2: idle neurons quiet, one channel charging (J = 5 * 6 = 30 Hz).
        params[2].bias = [-3.0, 6.0, -1.0, 0.0].map(T::from_f64).to_vec();
        let compiled = JitModel::compile(net, model, &params, &probes, cfg).unwrap();
        assert_eq!(compiled.compacted_nodes(), ["c1"], "{model_name}");
        assert_eq!(compiled.lazy_nodes(), lazy, "{model_name}");
        let mut rng = SplitMix64::new(11);
        let x: Vec<T> = (0..cfg.steps * net.nodes[0].size())
            .map(|_| T::from_f64(rng.uniform() * 2.0))
            .collect();
        let n = net.nodes[0].size();
        let held = format!("{model_name} held");
        compare(
            &held,
            prog,
            model_name,
            &params,
            &[InputSeq::Held(&x[..n])],
            &probes,
            cfg,
        );
        let per_step = format!("{model_name} per step");
        compare(
            &per_step,
            prog,
            model_name,
            &params,
            &[InputSeq::PerStep(&x)],
            &probes,
            cfg,
        );
        // Several images on one worker's arena, which is zeroed between
        // images only where the driver does not write it whole (the packed
        // list, the start voltages, the constant currents): each image
        // still agrees with the reference's run of it alone.
        let images: Vec<Vec<T>> = (0..3)
            .map(|k| {
                let mut rng = SplitMix64::new(20 + k);
                (0..cfg.steps * n)
                    .map(|_| T::from_f64(rng.uniform() * (1.0 + k as f64)))
                    .collect()
            })
            .collect();
        for per_step in [false, true] {
            let images: Vec<&[T]> = images
                .iter()
                .map(|x| if per_step { &x[..] } else { &x[..n] })
                .collect();
            let fast = jit::simulate_batch_seq(&compiled, &images, per_step, &|_| {}).unwrap();
            let slow = reference::simulate_batch_seq(
                net,
                model,
                &params,
                &images,
                per_step,
                &probes,
                cfg,
                &|_| {},
            )
            .unwrap();
            for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert_same(
                    &format!("{model_name} batch per_step={per_step} image {i}"),
                    a,
                    b,
                );
            }
        }
    }
    run::<f64>(&prog, "spiking", &[], &cfg);
    run::<f32>(&prog, "spiking", &[], &cfg);
    run::<f64>(&prog, "calm", &["c2"], &cfg);
    run::<f32>(&prog, "calm", &["c2"], &cfg);
}

/// A packed layer where most neurons spike every step (scale 1000, large
/// inputs, uniform starts) feeding narrow dense layers: its spikes are
/// summed in registers, every lane of a group added, zeros included
/// (`compact_into_registers`). The linear layer's output shows the sums
/// themselves, compared bit for bit (sign of zero included); a weight of
/// -0.0 and negative weights make zero products of both signs. With an
/// infinite weight (`0 * inf` is NaN) the node takes the branching path
/// and still agrees.
#[test]
fn hot_packed_layer_sums_in_registers_bit_for_bit() {
    let src = r#"
network hot {
    input image: 6x6x2
    c1 = conv2d(image, filters=5, kernel=3x3, activation=relu)
    f = flatten(c1)
    lin = dense(f, units=6)
    spk = dense(f, units=3, activation=relu)
}
convert spiking from hot {
    swap relu -> spiking_relu
    scale_firing_rates = 1000
    initial_voltage = uniform(seed=2)
}
"#;
    let prog = program(src);
    let cfg = SimConfig {
        dt: 0.001,
        steps: 25,
        seed: 0,
    };
    fn run<T: Real>(prog: &Program, infinite: bool, cfg: &SimConfig) {
        let model = prog.model("spiking").unwrap();
        let net = prog.network_of(model);
        let probes = probes_on(net, &["lin", "spk"]);
        let mut params = random_params::<T>(net, &mut SplitMix64::new(21), 2.0);
        params[3].kernel[7] = T::from_f64(-0.0);
        if infinite {
            params[4].kernel[2] = T::infinity();
        }
        let compiled = JitModel::compile(net, model, &params, &probes, cfg).unwrap();
        assert_eq!(compiled.compacted_nodes(), ["c1"]);
        let expected: &[&str] = if infinite { &[] } else { &["c1"] };
        assert_eq!(compiled.register_summed_nodes(), expected);
        let mut rng = SplitMix64::new(22);
        let x: Vec<T> = (0..net.nodes[0].size())
            .map(|_| T::from_f64(rng.uniform() * 4.0))
            .collect();
        let inputs = [InputSeq::Held(&x)];
        let fast = compiled.run(&inputs).unwrap();
        let slow = simulate(net, model, &params, &inputs, &probes, cfg).unwrap();
        assert_same("hot", &fast, &slow);
        for (p, (a, b)) in fast.probes.iter().zip(&slow.probes).enumerate() {
            for (i, (u, v)) in a.iter().zip(b).enumerate() {
                assert!(
                    Real::to_f64(*u).to_bits() == Real::to_f64(*v).to_bits()
                        || (u.is_nan() && v.is_nan()),
                    "probe {p} element {i}: jit {u:?} vs reference {v:?}"
                );
            }
        }
        // Hot: most neurons of c1 spike in most steps.
        let c1 = net.nodes.iter().position(|n| n.name == "c1").unwrap();
        let spikes: u64 = slow.spike_counts[c1].iter().map(|&c| u64::from(c)).sum();
        let n = net.nodes[c1].size() as u64;
        assert!(
            spikes * 2 > n * cfg.steps as u64,
            "not hot: {spikes} spikes from {n} neurons in {} steps",
            cfg.steps
        );
    }
    for infinite in [false, true] {
        run::<f32>(&prog, infinite, &cfg);
        run::<f64>(&prog, infinite, &cfg);
    }
}

/// Hot conv layers feeding conv layers: most neurons spike in most steps,
/// so an input position has many spiking channels, and their spikes are
/// added into each output row they reach all at once, the row held in
/// registers (`PositionBatch`). From the packed `c1` (its list of neurons)
/// and from `c2`'s own update, whose groups of four lanes straddle
/// positions (39 channels); into four conv layers at once, with output
/// rows of whole register groups, a leftover block and single elements
/// (70, 39 and 5 filters), and rows the precompiled AVX2 sum takes (`wide`:
/// 72 filters, a block of 64 and one of 8; 16 filters, blocks of 8), each
/// run with and without it. The linear `lin`, `wide` and `narrow` show the
/// sums themselves, compared bit for bit (sign of zero included).
#[test]
fn hot_conv_positions_sum_in_registers_bit_for_bit() {
    let src = r#"
network hotconv {
    input image: 9x9x3
    c1 = conv2d(image, filters=6, kernel=3x3, activation=relu)
    p8 = conv2d(image, filters=8, kernel=3x3, activation=relu)
    c2 = conv2d(c1, filters=39, kernel=3x3, strides=2, padding=same, activation=relu)
    c4 = conv2d(c1, filters=12, kernel=3x3, padding=same, activation=relu)
    q = conv2d(p8, filters=8, kernel=3x3)
    r = conv2d(c4, filters=16, kernel=3x3, strides=2)
    lin = conv2d(c2, filters=70, kernel=2x2, padding=same)
    wide = conv2d(c2, filters=72, kernel=3x3, padding=same)
    narrow = conv2d(c2, filters=16, kernel=2x2, strides=2)
    c3 = conv2d(c2, filters=5, kernel=3x3, strides=2, activation=relu)
    f = flatten(c3)
    out = dense(f, units=3)
}
convert spiking from hotconv {
    swap relu -> spiking_relu
    scale_firing_rates = 1000
    initial_voltage = uniform(seed=4)
}
"#;
    let prog = program(src);
    let cfg = SimConfig {
        dt: 0.001,
        steps: 20,
        seed: 0,
    };
    fn run<T: Real>(prog: &Program, cfg: &SimConfig, kernels: jit::Kernels) {
        let model = prog.model("spiking").unwrap();
        let net = prog.network_of(model);
        let probes = probes_on(net, &["lin", "wide", "narrow", "c3", "out", "q", "r"]);
        let params = random_params::<T>(net, &mut SplitMix64::new(31), 2.0);
        let compiled = JitModel::lower_with(net, model, &params, &probes, cfg, kernels)
            .unwrap()
            .compile()
            .unwrap();
        // Spikes queued for conv layers a group of four lanes at a time
        // (`Emitter::queue_group`) from packed layers (c1, p8: a group's
        // entries may span positions) and unpacked ones (c4, whose depth
        // is whole groups; c2, whose groups may span positions).
        assert_eq!(compiled.compacted_nodes(), ["c1", "p8"]);
        // The AVX2 sum runs f32 rows of whole blocks of eight: p8's into
        // `q`, c2's into `wide` and `narrow`, c4's into `r`.
        let f32_avx2 = kernels == jit::Kernels::Avx2 && std::mem::size_of::<T>() == 4;
        let expected: &[&str] = if f32_avx2 { &["p8", "c2", "c4"] } else { &[] };
        assert_eq!(compiled.precompiled_nodes(), expected);
        let mut rng = SplitMix64::new(32);
        let x: Vec<T> = (0..net.nodes[0].size())
            .map(|_| T::from_f64(rng.uniform() * 4.0))
            .collect();
        let inputs = [InputSeq::Held(&x)];
        let fast = compiled.run(&inputs).unwrap();
        let slow = simulate(net, model, &params, &inputs, &probes, cfg).unwrap();
        assert_same("hot conv", &fast, &slow);
        for (p, (a, b)) in fast.probes.iter().zip(&slow.probes).enumerate() {
            for (i, (u, v)) in a.iter().zip(b).enumerate() {
                assert!(
                    Real::to_f64(*u).to_bits() == Real::to_f64(*v).to_bits(),
                    "probe {p} element {i}: jit {u:?} vs reference {v:?}"
                );
            }
        }
        // Hot: at least a third of the spiking layers' neurons spike per
        // step.
        for name in ["c1", "p8", "c2", "c4"] {
            let id = net.nodes.iter().position(|n| n.name == name).unwrap();
            let spikes: u64 = slow.spike_counts[id].iter().map(|&c| u64::from(c)).sum();
            let n = net.nodes[id].size() as u64;
            assert!(
                spikes * 3 > n * cfg.steps as u64,
                "{name} not hot: {spikes} spikes from {n} neurons in {} steps",
                cfg.steps
            );
        }
    }
    // Every CPU we run on has AVX2 (CI included): a machine without it
    // would not test the precompiled sum, so it fails here instead.
    assert_eq!(
        jit::Kernels::detect(),
        jit::Kernels::Avx2,
        "no AVX2 on this CPU"
    );
    for kernels in [jit::Kernels::Emitted, jit::Kernels::Avx2] {
        run::<f32>(&prog, &cfg, kernels);
        run::<f64>(&prog, &cfg, kernels);
    }
}

/// The spike lists (`layout::SpikeListSlots`): a spiking ReLU loop lists,
/// without a branch, the groups of lanes in which some neuron spiked, and
/// counts and propagates them after the loop. From every group listed
/// every step (all weights positive: each neuron fires several spikes a
/// step) to sparse lists with silent neurons, in a packed layer and in
/// spike-fed conv and dense layers whose sizes are not whole groups of four.
#[test]
fn spike_lists_from_full_to_sparse_bit_for_bit() {
    let src = r#"
network lists {
    input image: 6x6x2
    c1 = conv2d(image, filters=3, kernel=3x3, activation=relu)
    c2 = conv2d(c1, filters=5, kernel=2x2, strides=2, activation=relu)
    f = flatten(c2)
    d = dense(f, units=13, activation=relu)
    out = dense(d, units=3)
}
convert spiking from lists {
    swap relu -> spiking_relu
    scale_firing_rates = 2000
    initial_voltage = uniform(seed=4)
}
"#;
    let prog = program(src);
    let cfg = SimConfig {
        dt: 0.001,
        steps: 12,
        seed: 0,
    };
    fn run<T: Real>(prog: &Program, cfg: &SimConfig, full: bool) {
        let model = prog.model("spiking").unwrap();
        let net = prog.network_of(model);
        let probes = probes_on(net, &["out"]);
        let mut params = random_params::<T>(net, &mut SplitMix64::new(41), 2.0);
        if full {
            for p in &mut params {
                for w in p.kernel.iter_mut().chain(p.bias.iter_mut()) {
                    *w = T::from_f64(Real::to_f64(*w).abs());
                }
            }
        }
        let compiled = JitModel::compile(net, model, &params, &probes, cfg).unwrap();
        assert_eq!(compiled.compacted_nodes(), ["c1"]);
        let mut rng = SplitMix64::new(42);
        let x: Vec<T> = (0..net.nodes[0].size())
            .map(|_| T::from_f64(0.5 + rng.uniform()))
            .collect();
        let inputs = [InputSeq::Held(&x)];
        let fast = compiled.run(&inputs).unwrap();
        let slow = simulate(net, model, &params, &inputs, &probes, cfg).unwrap();
        assert_same("spike lists", &fast, &slow);
        let counts = |name: &str| {
            let id = net.nodes.iter().position(|n| n.name == name).unwrap();
            slow.spike_counts[id].clone()
        };
        let spiking = ["c1", "c2", "d"].map(counts);
        if full {
            // Every neuron spiked at least once every step.
            for c in &spiking {
                assert!(c.iter().all(|&k| k as usize >= cfg.steps), "{c:?}");
            }
        } else {
            let all: Vec<u32> = spiking.concat();
            assert!(all.contains(&0), "no silent neuron");
            assert!(all.iter().any(|&k| k > 0), "no spike");
        }
    }
    for full in [true, false] {
        run::<f32>(&prog, &cfg, full);
        run::<f64>(&prog, &cfg, full);
    }
}

/// Spike counts of every size, from a few per run to counts past u32::MAX
/// within one step (which saturate), agree with the reference's, in a
/// packed layer and in a layer its spikes feed, at both precisions (in f64
/// the JIT's counts of 2^32 and up used to wrap around instead).
#[test]
fn spike_counts_of_every_size_agree() {
    let src = r#"
network counts {
    input x: 8
    d = dense(x, units=14, activation=relu)
    e = dense(d, units=14, activation=relu)
    out = dense(e, units=2)
}
convert spiking from counts {
    swap relu -> spiking_relu
}
"#;
    let prog = program(src);
    fn run<T: Real>(prog: &Program) {
        let cfg = SimConfig {
            dt: 0.001,
            steps: 2,
            seed: 0,
        };
        let model = prog.model("spiking").unwrap();
        let net = prog.network_of(model);
        let probes = probes_on(net, &["out"]);
        let mut params = random_params::<T>(net, &mut SplitMix64::new(51), 2.0);
        // Unit u of `d` gets about 0.75 * 10^u spikes per step, and unit u
        // of `e` 10^u each time `d`'s first unit spikes (it alone feeds `e`).
        let units = 14;
        for (i, w) in params[1].kernel.iter_mut().enumerate() {
            *w = T::from_f64(10f64.powi((i % units) as i32 + 2));
        }
        for (i, w) in params[2].kernel.iter_mut().enumerate() {
            *w = T::from_f64(if i < units { 10f64.powi(i as i32) } else { 0.0 });
        }
        let compiled = JitModel::compile(net, model, &params, &probes, &cfg).unwrap();
        assert_eq!(compiled.compacted_nodes(), ["d"]);
        let x: Vec<T> = (0..8)
            .map(|i| T::from_f64(0.5 + 0.125 * i as f64))
            .collect();
        let inputs = [InputSeq::Held(&x)];
        let fast = compiled.run(&inputs).unwrap();
        let slow = simulate(net, model, &params, &inputs, &probes, &cfg).unwrap();
        assert_same("spike counts", &fast, &slow);
        for node in [1, 2] {
            let counts = &slow.spike_counts[node];
            assert!(counts.iter().any(|k| (1..100).contains(k)), "{counts:?}");
            assert!(
                counts.iter().any(|k| (1 << 23..u32::MAX).contains(k)),
                "{counts:?}"
            );
            assert!(counts.contains(&u32::MAX), "{counts:?}");
            assert!(slow.spike_summaries[node].total > u64::from(u32::MAX));
        }
        // A run that keeps each node's summary only (what `snnc run`
        // asks for) hands back the same summaries and no counts.
        let reference = reference::Simulation::new(net, model, &params, &probes, &cfg).unwrap();
        let engines: [&dyn Engine<T>; 2] = [&compiled, &reference];
        for engine in engines {
            let outs = engine
                .run_batch_counting(&inputs, Counts::PerNode, &|_| {})
                .unwrap();
            assert!(outs[0].spike_counts.is_empty());
            assert_eq!(outs[0].spike_summaries, slow.spike_summaries);
            assert_eq!(outs[0].probes, slow.probes);
        }
    }
    run::<f32>(&prog);
    run::<f64>(&prog);
}

#[test]
fn edge_cases_batch_sizes_steps_and_tiny_layers() {
    let src = r#"
network tiny {
    input x: 3
    h = dense(x, units=1, activation=relu)
    out = dense(h, units=2)
}
convert spiking from tiny {
    swap relu -> spiking_relu
    synapse = lowpass(5ms)
}
"#;
    let prog = program(src);
    for model_name in ["spiking", "tiny"] {
        let model = prog.model(model_name).unwrap();
        let net = prog.network_of(model);
        let params = random_params::<f32>(net, &mut SplitMix64::new(9), 400.0);
        let probes = all_probes(net);
        for steps in [1, 2, 17] {
            let cfg = SimConfig {
                dt: 0.001,
                steps,
                seed: 0,
            };
            let compiled = JitModel::compile(net, model, &params, &probes, &cfg).unwrap();
            for batch in [1, 3, 5] {
                let inputs: Vec<Vec<f32>> = (0..batch)
                    .map(|b| vec![0.5 + b as f32, 1.0, 2.0 - b as f32 * 0.25])
                    .collect();
                let fast = jit::simulate_batch(&compiled, &inputs, &|_| {}).unwrap();
                let slow =
                    reference::simulate_batch(net, model, &params, &inputs, &probes, &cfg, &|_| {})
                        .unwrap();
                assert_eq!(fast.len(), batch);
                for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                    assert_same(
                        &format!("{model_name} steps {steps} batch {batch} example {i}"),
                        a,
                        b,
                    );
                }
            }
        }
    }
}

/// Both engines on the first `images` bundled MNIST test images through a
/// shipped spec's run block (its network, params, pixel scale, steps):
/// identical outputs and spike counts for every image, from the spec's
/// initial voltages or, with `zero_start`, from zero. Returns how many the
/// JIT classified right, and which layers it ran packed and lazily.
fn shipped_spec_agrees(
    spec: &str,
    images: usize,
    zero_start: bool,
) -> (usize, Vec<String>, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prog = program(&std::fs::read_to_string(root.join("specs").join(spec)).unwrap());
    let run = &prog.runs[0];
    let mut model = prog.models[run.model].clone();
    if zero_start {
        model.initial_voltage = InitialVoltage::Zero;
    }
    let model = &model;
    let net = prog.network_of(model);
    let params_path = root.join("specs").join(run.params.as_ref().unwrap());
    let params = snnc_runtime::params::load(&params_path, net).unwrap();
    let params: Vec<NodeParams<f32>> = snnc_runtime::params::node_params(Some(&params), net);
    // The bundled images, whatever directory the run block reads.
    let mut data = run.data.clone();
    data.kind = DataKind::MnistIdx {
        dir: root.join("examples/data").display().to_string(),
        split: Split::Test,
    };
    data.limit = Some(images);
    let dataset = snnc_runtime::data::load(&data, root).unwrap();
    let inputs: Vec<Vec<f32>> = (0..dataset.len())
        .map(|i| dataset.example(i).to_vec())
        .collect();
    let probes = vec![run.probes[run.report.probe].clone()];
    let cfg = SimConfig::of(run);
    let compiled = JitModel::compile(net, model, &params, &probes, &cfg).unwrap();
    let fast = jit::simulate_batch(&compiled, &inputs, &|_| {}).unwrap();
    let slow =
        reference::simulate_batch(net, model, &params, &inputs, &probes, &cfg, &|_| {}).unwrap();
    let last = |out: &SimOutput<f32>| {
        let row = out.probes[0].row(run.steps - 1);
        (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap()
    };
    let mut correct = 0;
    for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
        assert_eq!(last(a), last(b), "{spec}, image {i}: predictions differ");
        assert_same(&format!("{spec}, image {i}"), a, b);
        correct += usize::from(last(a) == dataset.labels()[i] as usize);
    }
    let names = |v: Vec<&str>| v.into_iter().map(String::from).collect();
    (
        correct,
        names(compiled.compacted_nodes()),
        names(compiled.lazy_nodes()),
    )
}

/// The shipped seed network and params on 500 bundled MNIST test images:
/// both engines predict the same class for every image (and here, since the
/// JIT is exact, the same output values).
#[test]
fn mnist_500_images_same_predictions() {
    let (correct, packed, _) = shipped_spec_agrees("mnist.snn", 500, false);
    assert_eq!(packed, ["conv1"]);
    assert!(
        correct >= 475,
        "the shipped params should classify well: {correct}/500"
    );
}

/// Every other spec in `specs/` with its shipped params, on fewer images
/// (the deep network's reference run is the slow part), from uniform and
/// from zero start voltages: from zero, `deep.snn` runs its conv2 and
/// conv3 lazily; `mnist_rates.snn` has an amplitude swap.
#[test]
fn every_shipped_spec_agrees() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".snn") && name != "mnist.snn" {
            for zero_start in [false, true] {
                let (correct, packed, lazy) = shipped_spec_agrees(&name, 40, zero_start);
                assert!(correct >= 36, "{name}: {correct}/40 right");
                assert_eq!(packed, ["conv1"], "{name}");
                if name == "deep.snn" && zero_start {
                    assert_eq!(lazy, ["conv2", "conv3"]);
                }
            }
        }
    }
}

/// LIF layers run four lanes at a time, calling `expm1` only for lanes
/// that end a refractory period and `log1p` only for lanes that spike
/// (`lower::lif_lanes`): a conv layer with a constant current and a dense
/// layer fed by spikes, widths that leave padding lanes, zero and uniform
/// starts, a refractory period that is not a whole number of steps, and a
/// minimum voltage that clamps. Every lane state (outside, inside and at
/// the end of the refractory period) occurs, and every probe must agree.
#[test]
fn lif_lanes_agree_bit_for_bit() {
    let src = r#"
network lifnet {
    input image: 6x6x1
    c1 = conv2d(image, filters=3, kernel=3x3, activation=relu)
    f1 = flatten(c1)
    d1 = dense(f1, units=7, activation=relu)
    out = dense(d1, units=2)
}
convert uniform from lifnet {
    swap relu -> lif(tau_rc=20ms, tau_ref=2.5ms, min_voltage=-0.5)
    scale_firing_rates = 4
    synapse = lowpass(2ms)
    initial_voltage = uniform(seed=5)
}
convert zero from lifnet {
    swap relu -> lif(tau_rc=10ms, tau_ref=1ms)
    scale_firing_rates = 2
    initial_voltage = zero
}
"#;
    let prog = program(src);
    let cfg = SimConfig {
        dt: 0.001,
        steps: 60,
        seed: 0,
    };
    for (seed, model) in [(11u64, "uniform"), (12, "zero")] {
        let net = prog.network_of(prog.model(model).unwrap());
        let mut rng = SplitMix64::new(seed);
        let image: Vec<f64> = (0..net.nodes[0].size())
            .map(|_| rng.uniform() * 3.0)
            .collect();
        compare_in_both_precisions(&prog, model, seed + 100, 40.0, &image, &cfg);
    }
}

/// A LIF layer with a constant current whose output only feeds a dense
/// layer is stepped as a packed list of the neurons that may spike
/// (`layout::LifList`); the rest provably never spike and are left out.
/// Zero-mean weights put about half of `c1` below threshold; uniform and
/// zero starts, a refractory period that is not a whole number of steps
/// (lanes ending it mid-step), a clamping minimum voltage, list lengths
/// that leave padding entries, and per-step inputs (every neuron listed,
/// relisted every step) must all agree, spike counts included.
#[test]
fn packed_lif_layer_agrees_with_held_and_per_step_inputs() {
    let src = r#"
network liflist {
    input image: 7x7x2
    c1 = conv2d(image, filters=5, kernel=3x3, activation=relu)
    f1 = flatten(c1)
    out = dense(f1, units=3)
}
convert uniform from liflist {
    swap relu -> lif(tau_rc=20ms, tau_ref=2.5ms, min_voltage=-0.5)
    scale_firing_rates = 5
    synapse = lowpass(3ms)
    initial_voltage = uniform(seed=3)
}
convert zero from liflist {
    swap relu -> lif(tau_rc=10ms, tau_ref=1ms)
    scale_firing_rates = 5
    initial_voltage = zero
}
"#;
    let prog = program(src);
    let cfg = SimConfig {
        dt: 0.001,
        steps: 40,
        seed: 0,
    };
    fn run<T: Real>(prog: &Program, model_name: &str, cfg: &SimConfig) {
        let model = prog.model(model_name).unwrap();
        let net = prog.network_of(model);
        let probes = probes_on(net, &["out"]);
        let mut params = random_params::<T>(net, &mut SplitMix64::new(21), 20.0);
        let mut rng = SplitMix64::new(22);
        for w in &mut params[1].kernel {
            *w = T::from_f64(((rng.uniform() - 0.5) * 20.0) as f32 as f64);
        }
        let compiled = JitModel::compile(net, model, &params, &probes, cfg).unwrap();
        assert_eq!(compiled.lif_listed_nodes(), ["c1"], "{model_name}");
        let mut rng = SplitMix64::new(23);
        let x: Vec<T> = (0..cfg.steps * net.nodes[0].size())
            .map(|_| T::from_f64(rng.uniform() * 2.0))
            .collect();
        let n = net.nodes[0].size();
        let held = [InputSeq::Held(&x[..n])];
        // Both kinds of neuron occur: some never spike, some often.
        let reference = simulate(net, model, &params, &held, &probes, cfg).unwrap();
        let c1 = &reference.spike_counts[1];
        assert!(c1.contains(&0), "{model_name}: none silent");
        assert!(c1.iter().any(|&c| c > 2), "{model_name}: none spiking");
        let what = format!("{model_name} held");
        compare(&what, prog, model_name, &params, &held, &probes, cfg);
        let what = format!("{model_name} per step");
        let per_step = [InputSeq::PerStep(&x)];
        compare(&what, prog, model_name, &params, &per_step, &probes, cfg);
    }
    run::<f64>(&prog, "uniform", &cfg);
    run::<f32>(&prog, "uniform", &cfg);
    run::<f64>(&prog, "zero", &cfg);
    run::<f32>(&prog, "zero", &cfg);
}

/// An infinite current makes a LIF neuron spike with a NaN crossing time,
/// so its refractory time turns NaN; the reference's clamp of the step's
/// integration time (Rust's `max`, which returns the other operand when
/// one is NaN) then integrates over nothing, every step after. The JIT's
/// comparisons must do the same, in lanes (f32) and scalar (f64).
#[test]
fn lif_with_infinite_current_agrees() {
    let src = r#"
network infnet {
    input image: 2x3x1
    f = flatten(image)
    h = dense(f, units=9, activation=relu)
    out = dense(h, units=2)
}
convert lif from infnet {
    swap relu -> lif(tau_rc=20ms, tau_ref=2.5ms)
    scale_firing_rates = 2
}
"#;
    let prog = program(src);
    let cfg = SimConfig {
        dt: 0.001,
        steps: 20,
        seed: 0,
    };
    let image = [0.5, f64::INFINITY, 1.0, 0.25, 2.0, 0.75];
    compare_in_both_precisions(&prog, "lif", 31, 2.0, &image, &cfg);
}
