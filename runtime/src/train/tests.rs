//! Whole-trainer tests: gradient checks of every layer through the full
//! engine (partitions, groups, threads) in f64 against central differences,
//! a small training run, determinism, and params round trips.

use snnc_compiler::ir::{ParamRole, ParamSpec, Program, Train};

use super::*;
use crate::rng::SplitMix64;

/// Checks a spec that must be clean.
pub(crate) fn compile(spec: &str) -> Program {
    let checked = snnc_compiler::check_source(spec);
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{d:?}"))
        .collect();
    checked
        .program
        .unwrap_or_else(|| panic!("spec has errors: {errors:#?}\n{spec}"))
}

/// A spec with network body `body`, extra top-level text `extra`, and one
/// train block training `model` with `losses`.
fn spec(body: &str, extra: &str, model: &str, losses: &str) -> String {
    format!(
        "network net {{\n{body}\n}}\n{extra}\nprobe pred = out\n\
         train {{\n    network = {model}\n    data = npz(\"d.npz\")\n    optimizer = sgd(lr=0.1)\n{losses}\n    epochs = 1\n    batch = 5\n    save = \"p.npz\"\n}}\n"
    )
}

fn scce() -> &'static str {
    "    loss pred = sparse_categorical_crossentropy(from_logits=true)"
}

fn random_vec(rng: &mut SplitMix64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect()
}

/// Compares the engine's gradient with central differences of the mean
/// loss over 7 random examples, for every param, in f64. Returns the
/// largest error relative to `max(|analytic|, |numeric|, 1e-3)`.
fn grad_check(spec: &str, opts: TrainOptions, input_range: (f64, f64)) -> f64 {
    let program = compile(spec);
    let train: &Train = &program.trains[0];
    let mut t = Trainer::<f64>::new(&program, train, &opts).unwrap();
    let mut rng = SplitMix64::new(11);
    // Random params (biases too, so that their gradients are not trivial).
    t.params = random_vec(&mut rng, t.plan.n_params, -0.6, 0.6);
    let n = 7;
    let images: Vec<f32> = random_vec(
        &mut rng,
        n * t.plan.input_size(),
        input_range.0,
        input_range.1,
    )
    .iter()
    .map(|&x| x as f32)
    .collect();
    let classes = t.plan.losses.iter().map(|l| l.size).min().unwrap();
    let labels: Vec<u32> = (0..n).map(|_| rng.below(classes) as u32).collect();
    let idx: Vec<usize> = (0..n).collect();
    t.gradient(&images, &labels, &idx);
    let analytic = t.grads[0].clone();
    assert!(analytic.iter().any(|&g| g != 0.0));
    let mut worst = 0.0f64;
    for (p, &a) in analytic.iter().enumerate() {
        let p0 = t.params[p];
        let h = 1e-6;
        t.params[p] = p0 + h;
        let lp = t.gradient(&images, &labels, &idx).loss / n as f64;
        t.params[p] = p0 - h;
        let lm = t.gradient(&images, &labels, &idx).loss / n as f64;
        t.params[p] = p0;
        let numeric = (lp - lm) / (2.0 * h);
        let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(1e-3);
        worst = worst.max(err);
        assert!(
            err < 1e-5,
            "param #{p}: analytic {a} vs numeric {numeric}\n{spec}"
        );
    }
    worst
}

fn opts() -> TrainOptions {
    // Two partitions of a 7-example batch in groups of 2, on two threads:
    // exercises ragged groups and the partition reduction.
    TrainOptions {
        partitions: 2,
        group: 2,
        threads: Some(2),
        ..TrainOptions::default()
    }
}

fn check(name: &str, spec: &str) {
    let worst = grad_check(spec, opts(), (-1.0, 1.0));
    eprintln!("gradient check {name}: max relative error {worst:.1e}");
}

#[test]
fn gradcheck_dense_relu_and_linear() {
    let body = "input x: 5\nh = dense(x, units=4, activation=relu)\nout = dense(h, units=3)";
    check("dense (relu, linear)", &spec(body, "", "net", scce()));
}

#[test]
fn gradcheck_dense_without_bias_sigmoid_tanh() {
    let body = "input x: 5\na = dense(x, units=4, activation=sigmoid, bias=false)\nb = dense(a, units=4, activation=tanh)\nout = dense(b, units=3)";
    check(
        "dense (sigmoid, tanh, no bias)",
        &spec(body, "", "net", scce()),
    );
}

#[test]
fn gradcheck_conv_valid() {
    let body = "input x: 6x6x2\nc1 = conv2d(x, filters=3, kernel=3x3, activation=tanh)\nc2 = conv2d(c1, filters=5, kernel=2x3, activation=relu)\nf = flatten(c2)\nout = dense(f, units=3)";
    check("conv valid", &spec(body, "", "net", scce()));
}

#[test]
fn gradcheck_conv_same() {
    let body = "input x: 5x6x2\nc1 = conv2d(x, filters=3, kernel=1x1, activation=tanh)\nc2 = conv2d(c1, filters=4, kernel=3x3, padding=same, activation=sigmoid)\nf = flatten(c2)\nout = dense(f, units=3)";
    check("conv same", &spec(body, "", "net", scce()));
}

#[test]
fn gradcheck_conv_strided() {
    // 7x7 'same' with stride 2 and a 4x4 kernel pads unevenly (1 before,
    // 2 after); the second conv is 'valid' with strides (2, 1).
    let body = "input x: 7x7x2\nc1 = conv2d(x, filters=3, kernel=4x4, strides=2x2, padding=same, activation=tanh)\nc2 = conv2d(c1, filters=2, kernel=2x2, strides=2x1)\nf = flatten(c2)\nout = dense(f, units=3)";
    check("conv strided", &spec(body, "", "net", scce()));
}

#[test]
fn gradcheck_depthwise_conv() {
    // The conv before them makes the depthwise layers pass a gradient back;
    // the second one is strided, 'same' padded and without a bias.
    let body = "input x: 6x5x2\nc = conv2d(x, filters=3, kernel=1x1, activation=tanh)\nd1 = depthwise_conv2d(c, kernel=3x2, depth_multiplier=2, activation=tanh)\nd2 = depthwise_conv2d(d1, kernel=3x3, strides=2x2, padding=same, bias=false)\nf = flatten(d2)\nout = dense(f, units=3)";
    check("depthwise conv", &spec(body, "", "net", scce()));
}

#[test]
fn gradcheck_avg_pool() {
    let body = "input x: 7x6x2\nc = conv2d(x, filters=3, kernel=2x2, activation=tanh)\np = avg_pool(c, pool=2x2)\nf = flatten(p)\nout = dense(f, units=3)";
    check("avg pool", &spec(body, "", "net", scce()));
}

#[test]
fn gradcheck_max_pool() {
    let body = "input x: 6x6x2\nc = conv2d(x, filters=3, kernel=2x2)\np = max_pool(c, pool=3x2, strides=1x2)\nf = flatten(p)\nout = dense(f, units=3)";
    check(
        "max pool (overlapping windows)",
        &spec(body, "", "net", scce()),
    );
}

#[test]
fn gradcheck_add_activation_flatten() {
    // Two branches summed, the same node added twice, an activation layer.
    let body = "input x: 4x4x2\na = conv2d(x, filters=3, kernel=3x3, padding=same)\nb = conv2d(x, filters=3, kernel=1x1, activation=tanh)\ns = add(a, b, b)\nr = activation(s, tanh)\nf = flatten(r)\nout = dense(f, units=3)";
    check("add + activation + flatten", &spec(body, "", "net", scce()));
}

#[test]
fn gradcheck_mse_and_rate_in_range_together() {
    // Rates of `h` (ReLU outputs spread over [0, ~2]) pushed into [0.3, 0.9].
    let body = "input x: 5\nh = dense(x, units=6, activation=relu)\nout = dense(h, units=3)";
    let losses =
        "    loss pred = mse()\n    loss rates = rate_in_range(min=0.3Hz, max=0.9Hz, weight=2)";
    check(
        "mse + rate_in_range",
        &spec(body, "probe rates = h", "net", losses),
    );
}

#[test]
fn gradcheck_rate_in_range_on_a_conv_before_flatten() {
    // The rate loss's gradient must reach the conv through the flatten view
    // that the dense layer's gradient also flows back through.
    let body = "input x: 5x5x1\nc = conv2d(x, filters=3, kernel=3x3, activation=relu)\nf = flatten(c)\nout = dense(f, units=3)";
    let losses = "    loss pred = sparse_categorical_crossentropy(from_logits=true)\n    loss rates = rate_in_range(min=0.3Hz, max=0.9Hz, weight=2)";
    check(
        "rate_in_range on a conv before flatten",
        &spec(body, "probe rates = c", "net", losses),
    );
}

#[test]
fn gradcheck_rate_mse_through_an_amplitude() {
    // NengoDL's recipe on a conv whose spiking variant has amplitude 0.5:
    // the target in Hz is restated in output units.
    let body = "input x: 5x5x1\nc = conv2d(x, filters=3, kernel=3x3, activation=relu)\nf = flatten(c)\nout = dense(f, units=3)";
    let convert =
        "probe rates = c\nconvert v from net {\n    swap relu -> spiking_relu(amplitude=0.5)\n}";
    let losses = "    loss pred = sparse_categorical_crossentropy(from_logits=true)\n    loss rates = rate_mse(target=1.5Hz, weight=0.3)";
    check(
        "rate_mse through an amplitude",
        &spec(body, convert, "v", losses),
    );
}

#[test]
fn gradcheck_lif_rate_smoothed_with_scale() {
    // LIF rate trained with SoftLIFRate forward and backward, so the
    // analytic gradient must match differences of the smooth function;
    // scale 3 multiplies J and divides the amplitude.
    let body = "input x: 6\nh = dense(x, units=5, activation=relu)\nout = dense(h, units=3)";
    let convert = "convert lifnet from net {\n    swap relu -> lif_rate(amplitude=0.01)\n    scale_firing_rates = 3\n}";
    let o = TrainOptions {
        lif: LifMode::Smoothed { sigma: 1.0 },
        ..opts()
    };
    let worst = grad_check(&spec(body, convert, "lifnet", scce()), o, (-3.0, 3.0));
    eprintln!("gradient check lif_rate (smoothed, scale 3): max relative error {worst:.1e}");
}

#[test]
fn spiking_relu_trains_as_rate_relu_and_lif_gradient_is_smoothed() {
    let body = "input x: 6\nh = dense(x, units=5, activation=relu)\nout = dense(h, units=3)";
    let convert = "convert sp from net {\n    swap relu -> spiking_relu\n    scale_firing_rates = 7\n}\nconvert lif from net {\n    swap relu -> lif\n}";
    let s = spec(body, convert, "sp", scce());
    let program = compile(&s);
    let mut rate_train = program.trains[0].clone();
    rate_train.model = program.models.iter().position(|m| m.name == "net").unwrap();
    let mut lif_train = program.trains[0].clone();
    lif_train.model = program.models.iter().position(|m| m.name == "lif").unwrap();
    let data_rng = &mut SplitMix64::new(5);
    let images: Vec<f32> = random_vec(data_rng, 10 * 6, -1.0, 1.0)
        .iter()
        .map(|&x| x as f32)
        .collect();
    let labels: Vec<u32> = (0..10).map(|i| i % 3).collect();
    let idx: Vec<usize> = (0..10).collect();
    let grads = |train: &Train| {
        let mut t = Trainer::<f64>::new(&program, train, &opts()).unwrap();
        let loss = t.gradient(&images, &labels, &idx).loss;
        (loss, t.grads[0].clone())
    };
    // Spiking ReLU with scale 7 trains exactly as the rate ReLU network
    // (J = 7*pre, amplitude 1/7), up to rounding of the scaling.
    let (l1, g1) = grads(&program.trains[0]);
    let (l2, g2) = grads(&rate_train);
    assert!((l1 - l2).abs() < 1e-12);
    for (a, b) in g1.iter().zip(&g2) {
        assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()));
    }
    // LIF (default mode): exact LIF-rate forward, so units below threshold
    // output 0, yet the smoothed gradient reaches the first layer anyway.
    let (_, gl) = grads(&lif_train);
    assert!(
        gl[..30].iter().all(|g| g.is_finite())
            && gl[..30].iter().filter(|&&g| g != 0.0).count() > 20
    );
}

#[test]
fn gradient_bits_do_not_depend_on_threads() {
    // Every op, in f32 with the AVX2 kernels where the CPU has them, and a
    // conv on 8 channels (the GEMM path): the summed gradient of a ragged
    // 37-example batch is the same bits on 1, 2, 3 or 4 threads (each
    // partition sums its examples in order into its own buffer; the
    // buffers are added in partition order).
    let body = "input x: 9x9x2\nc = conv2d(x, filters=8, kernel=3x3, activation=relu)\nw = conv2d(c, filters=8, kernel=3x3, padding=same, activation=relu)\nm = max_pool(w, pool=2x2, strides=1x1)\nd = depthwise_conv2d(m, kernel=2x2, depth_multiplier=2, activation=tanh)\na = avg_pool(d, pool=2x2)\nb = conv2d(a, filters=16, kernel=1x1)\ns = add(a, b)\nr = activation(s, relu)\nf = flatten(r)\nout = dense(f, units=3)";
    let program = compile(&spec(body, "", "net", scce()));
    let mut rng = SplitMix64::new(5);
    let n = 37;
    let trainer = |threads: usize| {
        let o = TrainOptions {
            threads: Some(threads),
            ..TrainOptions::default()
        };
        let mut t = Trainer::<f32>::new(&program, &program.trains[0], &o).unwrap();
        t.params = random_vec(&mut SplitMix64::new(9), t.plan.n_params, -0.5, 0.5)
            .iter()
            .map(|&v| v as f32)
            .collect();
        t
    };
    let t0 = trainer(1);
    let images: Vec<f32> = random_vec(&mut rng, n * t0.plan.input_size(), 0.0, 1.0)
        .iter()
        .map(|&x| x as f32)
        .collect();
    let labels: Vec<u32> = (0..n).map(|_| rng.below(3) as u32).collect();
    let idx: Vec<usize> = (0..n).rev().collect();
    let mut first: Option<(Vec<u32>, f64)> = None;
    for threads in 1..=4 {
        let mut t = trainer(threads);
        assert_eq!(t.works.len(), threads);
        let stats = t.gradient(&images, &labels, &idx);
        let bits: Vec<u32> = t.grads[0].iter().map(|g| g.to_bits()).collect();
        assert!(bits.iter().any(|&b| b != 0));
        match &first {
            None => first = Some((bits, stats.loss)),
            Some((b1, l1)) => {
                assert!(bits == *b1, "{threads} threads: other gradient bits");
                assert_eq!(stats.loss.to_bits(), l1.to_bits());
            }
        }
    }
}

// ------------------------------------------------------------ training ----

/// 8x8 images of four classes (a bar at the top, bottom, left or right)
/// with uniform noise.
fn bars(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = SplitMix64::new(seed);
    let mut images = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let class = rng.below(4);
        let pos = 1 + rng.below(2);
        for r in 0..8 {
            for c in 0..8 {
                let on = match class {
                    0 => r == pos,
                    1 => r == 7 - pos,
                    2 => c == pos,
                    _ => c == 7 - pos,
                };
                images.push((if on { 0.6 } else { 0.0 } + 0.6 * rng.uniform()) as f32);
            }
        }
        labels.push(class as u32);
    }
    (images, labels)
}

fn bars_spec(optimizer: &str, extra_train: &str) -> String {
    format!(
        "network net {{\n    input x: 8x8x1\n    c = conv2d(x, filters=4, kernel=3x3, activation=relu)\n    f = flatten(c)\n    out = dense(f, units=4)\n}}\n\
         probe pred = out\n\
         train {{\n    network = net\n    data = npz(\"d.npz\")\n    optimizer = {optimizer}\n    loss pred = sparse_categorical_crossentropy(from_logits=true)\n    epochs = 3\n    batch = 50\n    seed = 3\n{extra_train}    save = \"p.npz\"\n}}\n"
    )
}

fn run(
    program: &Program,
    images: &[f32],
    labels: &[u32],
    test: Option<EvalData<'_>>,
    opts: &TrainOptions,
) -> (TrainReport, Vec<(usize, usize, f64)>) {
    let mut batches = Vec::new();
    let mut saved = 0;
    let report = train(
        program,
        &program.trains[0],
        TrainData {
            images,
            labels,
            test,
        },
        opts,
        &mut |p| {
            match p {
                Progress::Batch {
                    epoch, batch, loss, ..
                } => batches.push((epoch, batch, loss)),
                Progress::Epoch { report, params } => {
                    assert_eq!(report.epoch, saved + 1);
                    assert_eq!(params.len(), 4);
                    saved += 1;
                }
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(saved, report.epochs.len());
    (report, batches)
}

#[test]
fn small_training_run_learns_and_is_deterministic() {
    let (images, labels) = bars(2000, 1);
    let (timg, tlab) = bars(400, 2);
    let test_set = EvalData {
        images: &timg,
        labels: &tlab,
    };
    let test = Some(test_set);
    let program = compile(&bars_spec(
        "rmsprop(lr=0.003)",
        "    validation_split = 0.1\n",
    ));
    let o = TrainOptions {
        threads: Some(2),
        ..TrainOptions::default()
    };
    let (report, batches) = run(&program, &images, &labels, test, &o);
    // 1800 training examples in batches of 50: 36 per epoch.
    assert_eq!(batches.len(), 3 * 36);
    let first = &report.epochs[0];
    let last = report.epochs.last().unwrap();
    for e in &report.epochs {
        eprintln!(
            "bars epoch {}: train loss {:.4} acc {:.3}, val acc {:.3}, test acc {:.3}",
            e.epoch,
            e.train.loss,
            e.train.accuracy.unwrap(),
            e.val.as_ref().unwrap().accuracy.unwrap(),
            e.test.as_ref().unwrap().accuracy.unwrap()
        );
    }
    assert_eq!(first.val.as_ref().unwrap().examples, 200);
    assert!(batches[0].2 > 1.0, "starts near ln 4: {}", batches[0].2);
    assert!(
        last.train.loss < 0.5 * batches[0].2,
        "the loss falls: {} -> {}",
        batches[0].2,
        last.train.loss
    );
    assert!(
        last.test.as_ref().unwrap().accuracy.unwrap() > 0.8,
        "chance is 0.25"
    );
    // Same seed: bit-identical params, also with one thread.
    let (again, _) = run(
        &program,
        &images,
        &labels,
        test,
        &TrainOptions {
            threads: Some(1),
            ..o.clone()
        },
    );
    assert_eq!(again.params, report.params);
    assert_eq!(again.epochs[2].test, report.epochs[2].test);
    // Another seed gives other params.
    let mut other = program.clone();
    other.trains[0].seed = 4;
    let (third, _) = run(
        &other,
        &images,
        &labels,
        test,
        &TrainOptions {
            epochs: Some(1),
            ..o.clone()
        },
    );
    assert_ne!(third.params, report.params);
    // `evaluate` agrees with the last epoch's test metrics.
    let m = evaluate(&program, &program.trains[0], &report.params, test_set, &o).unwrap();
    assert_eq!(Some(m), last.test);
}

#[test]
fn adam_and_sgd_momentum_train_too() {
    let (images, labels) = bars(600, 7);
    for opt in ["adam(lr=0.01)", "sgd(lr=0.05, momentum=0.9)"] {
        let program = compile(&bars_spec(opt, ""));
        let (report, batches) = run(&program, &images, &labels, None, &TrainOptions::default());
        let last = report.epochs.last().unwrap();
        assert!(
            last.train.loss < 0.6 * batches[0].2,
            "{opt}: {} -> {}",
            batches[0].2,
            last.train.loss
        );
    }
}

// ------------------------------------------------------ params and data ----

#[test]
fn seed_network_params_init_export_import() {
    let program = compile(include_str!("../../../specs/mnist.snn"));
    let train = &program.trains[0];
    let t = Trainer::<f32>::new(&program, train, &TrainOptions::default()).unwrap();
    let out = t.plan.export(&t.params);
    let names: Vec<(&str, Vec<usize>)> = out
        .iter()
        .map(|(n, a)| (n.as_str(), a.shape().to_vec()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("conv1.kernel", vec![3, 3, 1, 32]),
            ("conv1.bias", vec![32]),
            ("out.kernel", vec![21632, 10]),
            ("out.bias", vec![10])
        ]
    );
    // Glorot-uniform: conv limit sqrt(6/(9 + 288)), dense sqrt(6/(21632 + 10)); zero biases.
    let check = |a: &NdArray, limit: f64| {
        let v = a.to_f64_vec();
        assert!(v.iter().all(|x| x.abs() <= limit));
        let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(max > 0.95 * limit, "uses the whole range");
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.1 * limit);
    };
    check(&out[0].1, (6.0f64 / 297.0).sqrt());
    check(&out[2].1, (6.0f64 / 21642.0).sqrt());
    assert!(out[1].1.to_f64_vec().iter().all(|&x| x == 0.0));
    // Import is the inverse of export (the dense kernel is transposed inside).
    let back: Vec<f32> = t.plan.import(&out).unwrap();
    assert_eq!(back, t.params);
    let mut missing = out.clone();
    missing.pop();
    assert!(
        matches!(t.plan.import::<f32>(&missing), Err(TrainError::Invalid(m)) if m.contains("out.bias"))
    );
    // The same seed gives the same init; another seed another one.
    let again = Trainer::<f32>::new(&program, train, &TrainOptions::default()).unwrap();
    assert_eq!(again.params, t.params);
    let mut other = train.clone();
    other.seed = 1;
    assert_ne!(
        Trainer::<f32>::new(&program, &other, &TrainOptions::default())
            .unwrap()
            .params,
        t.params
    );
}

#[test]
fn params_that_do_not_fit_their_op_are_refused() {
    // Each op claims its params (`ops::Site`); what the IR's ops would
    // never produce must still be an error naming the layer, not a panic.
    let body = "input x: 6x6x1\nc = conv2d(x, filters=2, kernel=3x3)\np = max_pool(c, pool=2x2)\nf = flatten(p)\nout = dense(f, units=3)";
    let program = compile(&spec(body, "", "net", scce()));
    let refused = |edit: &dyn Fn(&mut Vec<ParamSpec>, usize)| {
        let mut p = program.clone();
        let nodes = &mut p.networks[0].nodes;
        let at = |name: &str| nodes.iter().position(|n| n.name == name).unwrap();
        let (c, pool, out) = (at("c"), at("p"), at("out"));
        edit(&mut nodes[c].params, 0);
        edit(&mut nodes[pool].params, 1);
        edit(&mut nodes[out].params, 2);
        match Trainer::<f32>::new(&p, &p.trains[0], &TrainOptions::default()) {
            Err(TrainError::Invalid(m)) => m,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
    };
    let param = |role, shape: &[usize]| ParamSpec {
        name: "extra".into(),
        role,
        shape: shape.to_vec(),
    };
    // A bias on a pooling layer.
    let m = refused(&|ps, k| {
        if k == 1 {
            ps.push(param(ParamRole::Bias, &[2]))
        }
    });
    assert!(m.contains("layer 'p'") && m.contains("does not fit"), "{m}");
    // A dense kernel of the wrong shape; a conv bias of the wrong length.
    let m = refused(&|ps, k| {
        if k == 2 {
            ps[0].shape = vec![3, 8];
        }
    });
    assert!(
        m.contains("layer 'out'") && m.contains("must be [8, 3]"),
        "{m}"
    );
    let m = refused(&|ps, k| {
        if k == 0 {
            ps[1].shape = vec![3];
        }
    });
    assert!(
        m.contains("layer 'c'") && m.contains("2 values, not 3"),
        "{m}"
    );
    // Two kernels; no kernel.
    let m = refused(&|ps, k| {
        if k == 0 {
            ps.push(param(ParamRole::Kernel, &[3, 3, 1, 2]))
        }
    });
    assert!(m.contains("two Kernel params"), "{m}");
    let m = refused(&|ps, k| {
        if k == 2 {
            ps.remove(0);
        }
    });
    assert!(m.contains("a dense layer needs a kernel"), "{m}");
}

#[test]
fn bad_data_is_refused_with_a_reason() {
    let program = compile(&bars_spec("sgd(lr=0.1)", "    validation_split = 0.5\n"));
    let (images, labels) = bars(10, 1);
    let call = |images: &[f32], labels: &[u32]| {
        train(
            &program,
            &program.trains[0],
            TrainData {
                images,
                labels,
                test: None,
            },
            &TrainOptions::default(),
            &mut |_| Ok(()),
        )
    };
    let e = call(&images[..64 * 9], &labels).unwrap_err();
    assert!(e.to_string().contains("64 per image"), "{e}");
    let mut bad = labels.clone();
    bad[3] = 4;
    let e = call(&images, &bad).unwrap_err();
    assert!(e.to_string().contains("example 3 has label 4"), "{e}");
    let e = call(&images[..64], &labels[..1]).unwrap_err();
    assert!(e.to_string().contains("validation_split"), "{e}");
    // The callback can stop training.
    let e = train(
        &program,
        &program.trains[0],
        TrainData {
            images: &images,
            labels: &labels,
            test: None,
        },
        &TrainOptions::default(),
        &mut |p| match p {
            Progress::Epoch { .. } => Err("disk full".into()),
            _ => Ok(()),
        },
    )
    .unwrap_err();
    assert_eq!(e, TrainError::Stopped("disk full".into()));
}

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// The seed network on all of MNIST, as `snnc train specs/mnist.snn` does.
/// Run with `cargo test --release -p snnc-runtime --lib train::tests::mnist_seed_network -- --ignored --nocapture`
/// (`SNNC_EPOCHS`, `SNNC_LIMIT`, `SNNC_THREADS` override epochs, training
/// examples and threads).
#[test]
#[ignore = "a measurement: trains on all 60k MNIST images (release mode, about a minute)"]
fn mnist_seed_network() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let program = compile(&std::fs::read_to_string(root.join("mnist.snn")).unwrap());
    let mut tr = program.trains[0].clone();
    let env = |k: &str| std::env::var(k).ok().and_then(|e| e.parse::<usize>().ok());
    tr.data.limit = env("SNNC_LIMIT");
    let tr = &tr;
    let data = crate::data::load(&tr.data, &root).unwrap();
    let mut test_src = tr.data.clone();
    if let snnc_compiler::ir::DataKind::MnistIdx { split, .. } = &mut test_src.kind {
        *split = snnc_compiler::ir::Split::Test;
    }
    let test = crate::data::load(&test_src, &root).unwrap();
    let o = TrainOptions {
        epochs: env("SNNC_EPOCHS"),
        threads: env("SNNC_THREADS"),
        ..TrainOptions::default()
    };
    let t0 = Instant::now();
    let mut cpu0 = cpu_seconds();
    let report = train(
        &program,
        tr,
        TrainData { images: data.images(), labels: data.labels(), test: Some(EvalData { images: test.images(), labels: test.labels() }) },
        &o,
        &mut |p| {
            if let Progress::Epoch { report: e, .. } = p {
                let cpu = cpu_seconds();
                eprintln!(
                    "epoch {}: loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.2} s train + {:.2} s eval | {:.2} CPU s",
                    e.epoch,
                    e.train.loss,
                    e.train.accuracy.unwrap(),
                    e.test.as_ref().unwrap().loss,
                    e.test.as_ref().unwrap().accuracy.unwrap(),
                    e.train_seconds,
                    e.eval_seconds,
                    cpu - cpu0
                );
                cpu0 = cpu;
            }
            Ok(())
        },
    )
    .unwrap();
    eprintln!("total {:.1} s", t0.elapsed().as_secs_f64());
    if o.epochs.is_none() && tr.data.limit.is_none() {
        assert!(
            report
                .epochs
                .last()
                .unwrap()
                .test
                .as_ref()
                .unwrap()
                .accuracy
                .unwrap()
                >= 0.98
        );
    }
}
