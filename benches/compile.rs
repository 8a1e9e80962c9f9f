//! `cargo bench --bench compile`: the JIT's compile time, and the constants
//! of the cost model that picks the engine of a small `snnc run` job
//! (`runtime/src/cost.rs`).
//!
//! For specs/mnist.snn, specs/deep.snn and bench/specs/conv16.snn (whose
//! params it trains first, with `snnc train`, when they are missing) it
//! reports, over `REPEATS` runs each:
//!
//! - the compile time (lowering included), its median and spread, and the
//!   IR instructions per compiling core; a line fitted through the three
//!   gives the fixed cost and the cost per instruction;
//! - the reference interpreter's time on one image per core for 10 steps,
//!   and the nanoseconds per unit of `cost::reference_work` it gives.
//!
//! The fitted line and the median over the networks are what `cost.rs`
//! uses.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use snnc_compiler::check_source;
use snnc_compiler::ir::Program;
use snnc_runtime::engine::{Engine, InputSeq, NodeParams, SimConfig};
use snnc_runtime::jit::JitModel;
use snnc_runtime::reference::Simulation;
use snnc_runtime::{cost, driver, params};

const REPEATS: usize = 11;
const REFERENCE_STEPS: usize = 10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn program(path: &Path) -> Program {
    let source = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    check_source(&source)
        .program
        .unwrap_or_else(|| panic!("{} has errors", path.display()))
}

/// What one network measured.
struct Measured {
    /// IR instructions per compiling core.
    per_core: f64,
    compile_seconds: f64,
    reference_ns: f64,
}

fn measure(spec: &str, cores: usize) -> Measured {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(spec);
    let dir = path.parent().expect("a spec has a directory");
    let program = program(&path);
    let run = driver::pick_run(&program, None).expect("a run block");
    let loaded = driver::load(&program, &run, dir).expect("data and params load");
    let model = &program.models[run.model];
    let net = program.network_of(model);
    let node_params: Vec<NodeParams<f32>> = params::node_params(loaded.params.as_ref(), net);
    let probes = vec![run.probes[run.report.probe].clone()];

    let cfg = SimConfig::of(&run);
    let (mut walls, mut instructions, mut threads) = (Vec::new(), 0, 1);
    for _ in 0..REPEATS {
        let start = Instant::now();
        let lowering = JitModel::lower(net, model, &node_params, &probes, &cfg).expect("lowers");
        instructions = lowering.instructions();
        threads = lowering.threads();
        let jit = lowering.compile().expect("compiles");
        walls.push(start.elapsed().as_secs_f64());
        drop(jit);
    }
    let compile = median(walls.clone());
    let spread = (
        walls.iter().copied().fold(f64::MAX, f64::min),
        walls.iter().copied().fold(0.0, f64::max),
    );
    let per_core = instructions as f64 / threads as f64;

    let cfg = SimConfig {
        steps: REFERENCE_STEPS,
        ..cfg
    };
    let images = cores;
    let inputs: Vec<Vec<f32>> = (0..images)
        .map(|i| loaded.dataset.example(i).to_vec())
        .collect();
    let examples: Vec<InputSeq<f32>> = inputs.iter().map(|x| InputSeq::Held(x)).collect();
    let sim = Simulation::new(net, model, &node_params, &probes, &cfg).expect("builds");
    let mut runs = Vec::new();
    for _ in 0..REPEATS {
        let start = Instant::now();
        sim.run_batch(&examples, &|_| {}).expect("runs");
        runs.push(start.elapsed().as_secs_f64());
    }
    let reference = median(runs);
    let density = driver::input_density(&loaded.dataset, 0..images);
    let work = cost::reference_work(net, model, density) * (images * REFERENCE_STEPS) as f64;
    let reference_ns = reference * 1e9 * cores.min(images) as f64 / work;
    println!(
        "{spec}: compile {:.1} ms (median of {REPEATS}, {:.1}-{:.1}), {instructions} IR instructions \
         on {threads} thread(s) ({per_core:.0} per thread); reference {images} \
         images x {REFERENCE_STEPS} steps {:.1} ms, {:.0} work units per image-step: {reference_ns:.2} ns per unit",
        compile * 1e3,
        spread.0 * 1e3,
        spread.1 * 1e3,
        reference * 1e3,
        work / (images * REFERENCE_STEPS) as f64,
    );
    Measured {
        per_core,
        compile_seconds: compile,
        reference_ns,
    }
}

/// The least-squares line `y = a + b x`.
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let b = sxy / sxx;
    (my - b * mx, b)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("target/bench/conv16_params.npz").exists() {
        std::fs::create_dir_all(root.join("target/bench")).expect("target/bench");
        let status = Command::new(env!("CARGO_BIN_EXE_snnc"))
            .args(["train", "bench/specs/conv16.snn"])
            .current_dir(root)
            .status()
            .expect("snnc runs");
        assert!(status.success(), "snnc train bench/specs/conv16.snn failed");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let measured: Vec<Measured> = [
        "specs/mnist.snn",
        "specs/deep.snn",
        "bench/specs/conv16.snn",
    ]
    .iter()
    .map(|spec| measure(spec, cores))
    .collect();
    let points: Vec<(f64, f64)> = measured
        .iter()
        .map(|m| (m.per_core, m.compile_seconds * 1e3))
        .collect();
    let (fixed_ms, ms_per_instruction) = fit(&points);
    println!(
        "compile ms = {fixed_ms:.2} + {:.0} ns x IR instructions per core (least squares; \
         cost::COMPILE_FIXED_MS = {}, cost::COMPILE_NS_PER_INSTRUCTION = {})",
        ms_per_instruction * 1e6,
        cost::COMPILE_FIXED_MS,
        cost::COMPILE_NS_PER_INSTRUCTION,
    );
    println!(
        "median over the networks: {:.2} ns per reference work unit (cost::REFERENCE_NS_PER_WORK = {})",
        median(measured.iter().map(|m| m.reference_ns).collect()),
        cost::REFERENCE_NS_PER_WORK,
    );
}
