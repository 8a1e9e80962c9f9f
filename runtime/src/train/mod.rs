//! Rate-mode training: backpropagation through a network's rate model, with
//! Keras' losses, optimizers, init, shuffling and validation split.
//!
//! A train block names a model; every node trains with its rate neuron
//! (`Neuron::rate_equivalent`: spiking ReLU as ReLU, LIF as LIF rate), its
//! `scale_firing_rates` applied as the IR says (`J = scale * (...)`,
//! amplitude / scale) and no synapses. LIF rate trains with a smoothed
//! gradient (see [`LifMode`]).
//!
//! Determinism: the same program, data, seed and options give bit-identical
//! params, whatever the number of threads. Each minibatch is cut into a
//! fixed number of partitions ([`TrainOptions::partitions`]); each partition
//! sums its gradient in example order into its own buffer, and the buffers
//! are added in partition order. Threads only decide who computes which
//! partition.
//!
//! Speed: f32, both cores, no allocation per example or batch (each worker
//! owns its buffers, sized for [`TrainOptions::group`] examples), direct
//! convolution loops with contiguous inner loops over channels, and AVX2 +
//! FMA versions of the hot kernels chosen at run time on x86-64 (the
//! portable kernels are the definition and run everywhere else and in f64).
//!
//! Where things are: `plan` walks the network once (params placed, losses,
//! what needs a gradient), `engine` runs the forward and backward passes
//! of a group of examples, and each op is one module of `ops` (its plan-time
//! checks and param layout, forward pass and gradients); neither `plan`
//! nor `engine` names an op. Each rate neuron is `neuron`.
//!
//! Keras parity: with the same initial params and batch, two steps of
//! RMSprop, Adam or SGD with momentum on the seed network give the params
//! TensorFlow 2.12's Keras gives to within float32 rounding (checked by
//! hand against `model.fit`; the formulas are in `optim`).

mod engine;
mod gemm;
mod isa;
mod kernels;
mod loss;
mod neuron;
mod ops;
mod optim;
mod plan;
#[cfg(target_arch = "x86_64")]
mod simd;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Instant;

use snnc_compiler::ir::{Program, Train};

use crate::engine::Real;
use crate::io::NdArray;
use crate::rng::{Purpose, SplitMix64};
use engine::{Stats, Work};
use isa::Isa;
use optim::OptState;
use plan::Plan;

pub use neuron::LifMode;

/// Named params in Keras layout (`<layer>.kernel` `[in, out]` or HWIO,
/// `<layer>.bias`), float32, in network param order (`Network::params()`).
pub type ParamsOut = Vec<(String, NdArray)>;

/// Labelled examples: `images` holds `labels.len()` rows of the network's
/// input size (flat, channels last), already scaled.
#[derive(Clone, Copy, Debug)]
pub struct EvalData<'a> {
    pub images: &'a [f32],
    pub labels: &'a [u32],
}

/// What to train on.
#[derive(Clone, Copy, Debug)]
pub struct TrainData<'a> {
    /// Training examples; the last `validation_split` fraction becomes the
    /// validation set (as in Keras, before any shuffling).
    pub images: &'a [f32],
    pub labels: &'a [u32],
    /// Evaluated after every epoch when given (e.g. the MNIST test split).
    pub test: Option<EvalData<'a>>,
}

#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Overrides the train block's `epochs`.
    pub epochs: Option<usize>,
    /// Worker threads; `None` uses every core. Never changes the result.
    pub threads: Option<usize>,
    /// Gradient partitions per minibatch (at most this many threads work on
    /// one batch). Changing it changes the rounding of the gradient sums,
    /// hence the bits of the result.
    pub partitions: usize,
    /// Examples a worker pushes through the network at once.
    pub group: usize,
    /// How LIF-rate neurons are trained.
    pub lif: LifMode,
    /// Start from these params instead of Keras' default init.
    pub initial_params: Option<ParamsOut>,
    /// Use the AVX2 + FMA kernels (f32, x86-64) when the CPU has them. The
    /// math is the same but the rounding differs, so bit-identical results
    /// need the same setting (and a CPU with the same features).
    pub simd: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: None,
            threads: None,
            partitions: 4,
            group: 8,
            lif: LifMode::default(),
            initial_params: None,
            simd: true,
        }
    }
}

/// Mean loss and accuracy over a set of examples.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// The total loss (sum of the loss terms), mean over examples.
    pub loss: f64,
    /// Each loss of the train block, in order, mean over examples.
    pub terms: Vec<f64>,
    /// Argmax of the first class-score loss's probe against the labels;
    /// `None` when every loss is a rate loss.
    pub accuracy: Option<f64>,
    pub examples: usize,
}

impl Metrics {
    fn from_stats(s: &Stats, has_accuracy: bool) -> Metrics {
        let n = s.n.max(1) as f64;
        Metrics {
            loss: s.loss / n,
            terms: s.terms.iter().map(|t| t / n).collect(),
            accuracy: has_accuracy.then(|| s.correct as f64 / n),
            examples: s.n,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// Running means over the epoch's batches, as Keras prints them.
    pub train: Metrics,
    pub val: Option<Metrics>,
    pub test: Option<Metrics>,
    /// Wall time of the epoch's training steps.
    pub train_seconds: f64,
    /// Wall time of the validation and test evaluations.
    pub eval_seconds: f64,
}

#[derive(Clone, Debug)]
pub struct TrainReport {
    pub epochs: Vec<EpochReport>,
    pub params: ParamsOut,
}

/// Reported while training. The callback may return `Err` to stop (for
/// example when saving failed); training then ends with
/// [`TrainError::Stopped`].
#[derive(Debug)]
pub enum Progress<'a> {
    /// After every minibatch: running means over the epoch so far.
    Batch {
        /// 1-based.
        epoch: usize,
        epochs: usize,
        /// 1-based.
        batch: usize,
        batches: usize,
        loss: f64,
        accuracy: Option<f64>,
    },
    /// After every completed epoch, with the params at that point: the
    /// place to save them.
    Epoch {
        report: &'a EpochReport,
        params: &'a ParamsOut,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrainError {
    /// The program, options or data do not fit together.
    Invalid(String),
    /// The loss became NaN or infinite.
    Diverged(String),
    /// The progress callback stopped training with this message.
    Stopped(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Invalid(m) | TrainError::Diverged(m) | TrainError::Stopped(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for TrainError {}

/// Trains `train`'s model on `data` (in f32) and returns the final params.
pub fn train(
    program: &Program,
    train: &Train,
    data: TrainData<'_>,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(Progress<'_>) -> Result<(), String>,
) -> Result<TrainReport, TrainError> {
    Trainer::<f32>::new(program, train, opts)?.run(data, progress)
}

/// Loss and accuracy of `params` on `data`, with `train`'s losses and the
/// rate model it trains (forward pass only, f32).
pub fn evaluate(
    program: &Program,
    train: &Train,
    params: &[(String, NdArray)],
    data: EvalData<'_>,
    opts: &TrainOptions,
) -> Result<Metrics, TrainError> {
    let mut t = Trainer::<f32>::new(program, train, opts)?;
    t.params = t.plan.import(params)?;
    t.check(data.images, data.labels, "the evaluation data")?;
    let all: Vec<usize> = (0..data.labels.len()).collect();
    Ok(t.eval(data.images, data.labels, &all))
}

/// Trainer state, generic over the float type so that tests can run in f64.
pub(crate) struct Trainer<'p, T> {
    train: &'p Train,
    plan: Plan,
    params: Vec<T>,
    opt: OptState<T>,
    works: Vec<Work<T>>,
    grads: Vec<Vec<T>>,
    /// What the ops fill from the params once per step (`Plan::fill_scratch`).
    scratch: Vec<T>,
    parts: usize,
    epochs: usize,
    isa: Isa,
}

impl<'p, T: Real> Trainer<'p, T> {
    pub(crate) fn new(
        program: &'p Program,
        train: &'p Train,
        opts: &TrainOptions,
    ) -> Result<Self, TrainError> {
        let invalid = |m: String| TrainError::Invalid(m);
        let model = program.models.get(train.model).ok_or_else(|| {
            invalid(format!(
                "the train block names model #{}, which does not exist",
                train.model
            ))
        })?;
        let net = program.networks.get(model.network).ok_or_else(|| {
            invalid(format!(
                "model '{}' names network #{}, which does not exist",
                model.name, model.network
            ))
        })?;
        if train.losses.is_empty() {
            return Err(invalid("the train block has no loss".into()));
        }
        if train.batch == 0 {
            return Err(invalid("the batch size must be at least 1".into()));
        }
        let plan = Plan::new(net, model, &train.losses, train, opts.lif)?;
        let params = match &opts.initial_params {
            Some(a) => plan.import(a)?,
            None => plan.init(train.seed),
        };
        let parts = opts.partitions.max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = opts.threads.unwrap_or(cores).clamp(1, parts);
        let group = opts.group.max(1);
        Ok(Trainer {
            train,
            opt: OptState::new(train.optimizer, plan.n_params),
            works: (0..threads)
                .map(|_| Work::new(&plan, group, true))
                .collect(),
            grads: vec![vec![T::zero(); plan.n_params]; parts],
            scratch: vec![T::zero(); plan.n_scratch],
            params,
            parts,
            epochs: opts.epochs.unwrap_or(train.epochs),
            isa: if opts.simd {
                Isa::detect()
            } else {
                Isa::Portable
            },
            plan,
        })
    }

    /// Checks that images and labels fit the network and the losses.
    fn check(&self, images: &[f32], labels: &[u32], what: &str) -> Result<(), TrainError> {
        let isz = self.plan.input_size();
        if images.len() != labels.len() * isz {
            return Err(TrainError::Invalid(format!(
                "{what} has {} labels but {} image values ({} per image expected, the network's input size)",
                labels.len(),
                images.len(),
                isz
            )));
        }
        for l in &self.plan.losses {
            if !l.kind.reads_labels() {
                continue;
            }
            if let Some((e, &y)) = labels
                .iter()
                .enumerate()
                .find(|(_, &y)| y as usize >= l.size)
            {
                return Err(TrainError::Invalid(format!(
                    "{what}: example {e} has label {y}, but the loss's layer has only {} class scores",
                    l.size
                )));
            }
        }
        Ok(())
    }

    fn run(
        mut self,
        data: TrainData<'_>,
        progress: &mut dyn FnMut(Progress<'_>) -> Result<(), String>,
    ) -> Result<TrainReport, TrainError> {
        self.check(data.images, data.labels, "the training data")?;
        if let Some(t) = data.test {
            self.check(t.images, t.labels, "the test data")?;
        }
        let n = data.labels.len();
        let vs = self.train.validation_split;
        let n_train = if vs > 0.0 {
            (n as f64 * (1.0 - vs)).floor() as usize
        } else {
            n
        };
        if n_train == 0 || (vs > 0.0 && n_train == n) {
            return Err(TrainError::Invalid(format!(
                "{n} examples are not enough to split into training and validation sets with validation_split = {vs}"
            )));
        }
        let val_idx: Vec<usize> = (n_train..n).collect();
        let test_idx: Vec<usize> = data
            .test
            .map_or(Vec::new(), |t| (0..t.labels.len()).collect());
        let batch = self.train.batch;
        let batches = n_train.div_ceil(batch);
        let has_acc = self.plan.accuracy.is_some();
        let mut order: Vec<usize> = Vec::with_capacity(n_train);
        let mut reports = Vec::new();
        self.opt
            .set_schedule(self.train.schedule, (self.epochs * batches) as u64);
        for epoch in 0..self.epochs {
            let t0 = Instant::now();
            order.clear();
            order.extend(0..n_train);
            SplitMix64::stream(self.train.seed, Purpose::Shuffle, epoch as u64).shuffle(&mut order);
            let mut running = Stats::new(self.plan.losses.len());
            for (b, idx) in order.chunks(batch).enumerate() {
                let stats = self.step(data.images, data.labels, idx);
                running.merge(&stats);
                let loss = running.loss / running.n as f64;
                if !stats.loss.is_finite() {
                    return Err(TrainError::Diverged(format!(
                        "the loss became {} in epoch {}, batch {}; lower the learning rate or check the input scale",
                        stats.loss / stats.n as f64,
                        epoch + 1,
                        b + 1
                    )));
                }
                progress(Progress::Batch {
                    epoch: epoch + 1,
                    epochs: self.epochs,
                    batch: b + 1,
                    batches,
                    loss,
                    accuracy: has_acc.then(|| running.correct as f64 / running.n as f64),
                })
                .map_err(TrainError::Stopped)?;
            }
            let train_seconds = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let val = (!val_idx.is_empty()).then(|| self.eval(data.images, data.labels, &val_idx));
            let test = data.test.map(|t| self.eval(t.images, t.labels, &test_idx));
            let report = EpochReport {
                epoch: epoch + 1,
                epochs: self.epochs,
                train: Metrics::from_stats(&running, has_acc),
                val,
                test,
                train_seconds,
                eval_seconds: t1.elapsed().as_secs_f64(),
            };
            let params = self.plan.export(&self.params);
            progress(Progress::Epoch {
                report: &report,
                params: &params,
            })
            .map_err(TrainError::Stopped)?;
            reports.push(report);
        }
        Ok(TrainReport {
            epochs: reports,
            params: self.plan.export(&self.params),
        })
    }

    /// The summed gradient of the minibatch `idx` (mean loss over it) in
    /// `grads[0]`, and its stats.
    #[cfg(test)]
    pub(crate) fn gradient(&mut self, images: &[f32], labels: &[u32], idx: &[usize]) -> Stats {
        let stats = self.partition_gradients(images, labels, idx);
        let (g0, rest) = self
            .grads
            .split_first_mut()
            .expect("at least one partition");
        add_parts(0..g0.len(), g0, rest);
        stats
    }

    /// Each partition's gradient of the minibatch `idx` in its own buffer
    /// of `grads`, and the minibatch's stats.
    fn partition_gradients(&mut self, images: &[f32], labels: &[u32], idx: &[usize]) -> Stats {
        let Trainer {
            plan,
            params,
            works,
            grads,
            scratch,
            parts,
            isa,
            ..
        } = self;
        let (plan, params, parts, isa) = (&*plan, &*params, *parts, *isa);
        plan.fill_scratch(params, scratch);
        let scratch = &*scratch;
        let bn = idx.len();
        let gscale = T::from_f64(1.0 / bn as f64);
        let n_terms = plan.losses.len();
        let per = run_parts(works, Some(grads), parts, &|p, work, gbuf| {
            let gbuf = gbuf.expect("training partitions have gradient buffers");
            gbuf.fill(T::zero());
            let mut st = Stats::new(n_terms);
            for chunk in idx[p * bn / parts..(p + 1) * bn / parts].chunks(work.cap()) {
                work.load(plan, images, chunk);
                work.forward(plan, params, chunk.len(), isa);
                work.losses(plan, labels, chunk, Some(gscale), &mut st);
                work.backward(plan, params, scratch, chunk.len(), gbuf, isa);
            }
            st
        });
        let mut stats = Stats::new(n_terms);
        for st in &per {
            stats.merge(st);
        }
        stats
    }

    /// One optimizer step on the minibatch `idx`.
    /// The partitions' gradients are added up and the params updated on
    /// every worker at once, each on its own range of the params (both are
    /// per parameter, so the bits are those of doing it on one).
    fn step(&mut self, images: &[f32], labels: &[u32], idx: &[usize]) -> Stats {
        let stats = self.partition_gradients(images, labels, idx);
        let (g0, rest) = self
            .grads
            .split_first_mut()
            .expect("at least one partition");
        let rest = &*rest;
        self.opt
            .step_chunks(&mut self.params, g0, self.works.len(), &|range, g| {
                add_parts(range, g, rest);
            });
        stats
    }

    /// Forward pass over the examples `idx`, in parallel.
    fn eval(&mut self, images: &[f32], labels: &[u32], idx: &[usize]) -> Metrics {
        let Trainer {
            plan,
            params,
            works,
            parts,
            isa,
            ..
        } = self;
        let (plan, params, parts, isa) = (&*plan, &*params, *parts, *isa);
        let n = idx.len();
        let n_terms = plan.losses.len();
        let per = run_parts(works, None, parts, &|p, work, _| {
            let mut st = Stats::new(n_terms);
            for chunk in idx[p * n / parts..(p + 1) * n / parts].chunks(work.cap()) {
                work.load(plan, images, chunk);
                work.forward(plan, params, chunk.len(), isa);
                work.losses(plan, labels, chunk, None, &mut st);
            }
            st
        });
        let mut stats = Stats::new(n_terms);
        for st in &per {
            stats.merge(st);
        }
        Metrics::from_stats(&stats, plan.accuracy.is_some())
    }
}

/// Adds the partitions' gradients `rest` (in partition order) over `range`
/// into `g0`, which holds that range of the first partition's.
fn add_parts<T: Real>(range: std::ops::Range<usize>, g0: &mut [T], rest: &[Vec<T>]) {
    for gp in rest {
        kernels::add(g0, &gp[range.clone()]);
    }
}

type PartFn<'f, T> = dyn Fn(usize, &mut Work<T>, Option<&mut [T]>) -> Stats + Sync + 'f;

/// Runs `f` for partitions `0..parts` on `works.len()` threads (partition p
/// on worker `p % threads`) and returns the results in partition order.
fn run_parts<T: Real>(
    works: &mut [Work<T>],
    grads: Option<&mut Vec<Vec<T>>>,
    parts: usize,
    f: &PartFn<'_, T>,
) -> Vec<Stats> {
    let threads = works.len().max(1);
    type Job<'a, T> = (usize, Option<&'a mut [T]>);
    let mut jobs: Vec<Vec<Job<'_, T>>> = (0..threads).map(|_| Vec::new()).collect();
    match grads {
        Some(gs) => {
            for (p, g) in gs.iter_mut().enumerate().take(parts) {
                jobs[p % threads].push((p, Some(g.as_mut_slice())));
            }
        }
        None => {
            for p in 0..parts {
                jobs[p % threads].push((p, None));
            }
        }
    }
    let mut results: Vec<Option<Stats>> = vec![None; parts];
    std::thread::scope(|s| {
        let mut pairs = works.iter_mut().zip(jobs);
        let first = pairs.next();
        let handles: Vec<_> = pairs
            .map(|(work, jobs)| {
                s.spawn(move || {
                    jobs.into_iter()
                        .map(|(p, g)| (p, f(p, work, g)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        if let Some((work, jobs)) = first {
            for (p, g) in jobs {
                results[p] = Some(f(p, work, g));
            }
        }
        for h in handles {
            match h.join() {
                Ok(done) => {
                    for (p, st) in done {
                        results[p] = Some(st);
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every partition ran"))
        .collect()
}
