//! Which engine finishes a job first: the JIT, which must compile before it
//! runs, or the reference interpreter, which starts at once but runs each
//! step 5-20 times slower. For most jobs the JIT wins by far; for a tiny
//! job on a big network (a few images of a few steps) compiling the
//! network costs more than the reference spends on the whole job.
//!
//! The model compares two estimates, each a measured constant times a
//! count known before anything runs (docs/architecture.md has the measurements):
//!
//! - compile: [`COMPILE_FIXED_MS`], plus the Cranelift IR instructions the
//!   network lowers to (the JIT lowers it first, which costs a few percent
//!   of the compile) times [`COMPILE_NS_PER_INSTRUCTION`], over the cores
//!   that compile (one function per node, in parallel);
//! - reference: its work per image and step ([`reference_work`]: every
//!   neuron's update and filters, and the multiply-adds its layers do for
//!   the nonzero values they read) times images and steps, times
//!   [`REFERENCE_NS_PER_WORK`], over the cores that run images.
//!
//! The JIT's own run time is left out: it is small next to either on a
//! job where the choice is close, and leaving it out favours the JIT,
//! whose speed is what a user expects from `snnc run`.

use snnc_compiler::ir::{Model, Network, Op, Role};

/// Milliseconds a compile costs whatever the network (the ISA, the module,
/// the threads) and nanoseconds per Cranelift IR instruction on one core:
/// the line `cargo bench --bench compile` fits through the compile times
/// of specs/mnist.snn, specs/deep.snn and bench/specs/conv16.snn.
pub const COMPILE_FIXED_MS: f64 = 0.0;
pub const COMPILE_NS_PER_INSTRUCTION: f64 = 2_000.0;

/// Nanoseconds per unit of [`reference_work`] on one core: the median over
/// the same networks, measured by the same bench.
pub const REFERENCE_NS_PER_WORK: f64 = 1.8;

/// The fraction of a spiking layer's neurons that spike in a step, for the
/// multiply-adds the reference spends on them: the shipped networks'
/// measured mean rates are 3-6 Hz at dt = 1 ms (0.3-0.6%). For a hotter
/// network the reference is slower than estimated, so a job at the edge
/// of the choice can go to the reference when the JIT would have been
/// faster; the choice is close only for jobs of a few images, where both
/// take milliseconds.
pub const SPIKE_FRACTION: f64 = 0.005;

/// Both estimates for one job.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub compile_seconds: f64,
    pub reference_seconds: f64,
}

impl Estimate {
    /// Whether the reference is expected to finish the whole job before
    /// the JIT has compiled.
    pub fn reference_is_faster(&self) -> bool {
        self.reference_seconds < self.compile_seconds
    }
}

/// What a job is: its size and the machine's cores.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    pub images: usize,
    pub steps: usize,
    /// The fraction of the input values that are not zero (the reference
    /// skips zeros).
    pub input_density: f64,
    pub cores: usize,
}

/// The estimates for `job` on `net` and `model`, whose JIT lowering has
/// `instructions` IR instructions that compile on `compile_threads`.
pub fn estimate(
    net: &Network,
    model: &Model,
    instructions: usize,
    compile_threads: usize,
    job: &Job,
) -> Estimate {
    let compile_cores = compile_threads.max(1) as f64;
    let run_cores = job.cores.min(job.images).max(1) as f64;
    let work = reference_work(net, model, job.input_density);
    Estimate {
        compile_seconds: COMPILE_FIXED_MS * 1e-3
            + instructions as f64 * COMPILE_NS_PER_INSTRUCTION * 1e-9 / compile_cores,
        reference_seconds: (job.images * job.steps) as f64 * work * REFERENCE_NS_PER_WORK * 1e-9
            / run_cores,
    }
}

/// The reference's work for one image and step: per compute node, its
/// neurons once per term of its current (each input and the bias) and once
/// for the neuron update; per connection, the multiply-adds for the
/// nonzero values it reads (the input's measured density, spiking
/// sources' [`SPIKE_FRACTION`], every value of any other source).
pub fn reference_work(net: &Network, model: &Model, input_density: f64) -> f64 {
    let mut work = 0.0;
    for node in &net.nodes {
        let n = node.size() as f64;
        let terms = node.inputs.len() + usize::from(node.has_bias()) + 1;
        let macs_per_value = |src_size: usize| -> f64 {
            let src_size = src_size.max(1) as f64;
            match node.op {
                Op::Dense { units } => units as f64,
                Op::Conv2d { window, .. } | Op::DepthwiseConv2d { window, .. } => {
                    let [kh, kw] = window.kernel;
                    let [sh, sw] = window.strides;
                    let channels = window.input[2].max(1);
                    // Each input value reaches kh*kw/(sh*sw) positions,
                    // and at each every output channel it feeds.
                    let fed = node.size() / (window.output[0] * window.output[1]).max(1);
                    let fed = match node.op {
                        Op::DepthwiseConv2d { .. } => fed / channels,
                        _ => fed,
                    };
                    (kh * kw * fed) as f64 / (sh * sw) as f64
                }
                Op::AvgPool { .. } | Op::MaxPool { .. } | Op::Activation | Op::Add => n / src_size,
                Op::Input | Op::Flatten => 0.0,
            }
        };
        match node.op {
            Op::Input | Op::Flatten => continue,
            Op::Dense { .. }
            | Op::Conv2d { .. }
            | Op::DepthwiseConv2d { .. }
            | Op::AvgPool { .. }
            | Op::MaxPool { .. }
            | Op::Activation
            | Op::Add => {}
        }
        work += n * terms as f64;
        for &src in &node.inputs {
            let owner = net.storage_of(src);
            let src_size = net.nodes[owner].size();
            let density = if net.nodes[owner].op.role() == Role::Input {
                input_density
            } else if model.nodes[owner]
                .neuron
                .is_some_and(|neuron| neuron.is_spiking())
            {
                SPIKE_FRACTION
            } else {
                1.0
            };
            work += src_size as f64 * density * macs_per_value(src_size);
        }
    }
    work
}
