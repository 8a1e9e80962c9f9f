//! The values that go into and come out of a simulation, whichever engine
//! runs it.

use std::fmt;

use ndarray::Array2;

/// The parameter tensors of one network node, flat in Keras layout (dense
/// kernel `[in, out]`, conv kernel HWIO, bias per unit or per filter). An
/// empty `Vec` means the node has no such tensor (a dense layer without
/// bias, or any op without weights).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeParams<T> {
    pub kernel: Vec<T>,
    pub bias: Vec<T>,
}

/// The values of one input node over a run (flat, in the node's C order).
#[derive(Clone, Copy, Debug)]
pub enum InputSeq<'a, T> {
    /// The node's `n` values, the same in every step (an image presented
    /// for the whole run).
    Held(&'a [T]),
    /// `steps * n` values: row k-1 is used in step k (NengoDL's
    /// `(batch, steps, features)` inputs).
    PerStep(&'a [T]),
}

impl<'a, T> InputSeq<'a, T> {
    /// `values` held (`per_step` false) or a row per step.
    pub fn new(values: &'a [T], per_step: bool) -> Self {
        if per_step {
            InputSeq::PerStep(values)
        } else {
            InputSeq::Held(values)
        }
    }

    /// The row used in 0-based step `k`; lengths are checked up front
    /// ([`super::check_inputs`]).
    pub fn row(&self, k: usize, n: usize) -> &'a [T] {
        match *self {
            InputSeq::Held(x) => x,
            InputSeq::PerStep(x) => &x[k * n..(k + 1) * n],
        }
    }

    pub fn is_held(&self) -> bool {
        matches!(self, InputSeq::Held(_))
    }
}

/// Time step and run length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimConfig {
    /// Seconds per step.
    pub dt: f64,
    /// Number of steps simulated.
    pub steps: usize,
    /// The run's seed: uniform initial voltages without their own seed are
    /// drawn from it.
    pub seed: u64,
}

impl SimConfig {
    /// What a run block asks for.
    pub fn of(run: &snnc_compiler::ir::Run) -> Self {
        SimConfig {
            dt: run.dt,
            steps: run.steps,
            seed: run.seed,
        }
    }
}

/// What one run recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOutput<T> {
    /// One per [`BoundProbe`](snnc_compiler::ir::BoundProbe), in order:
    /// `rows x size`, where `size` is the probed node's size and `rows =
    /// steps / every` (row r is step `(r+1)*every`), in standard layout.
    pub probes: Vec<Array2<T>>,
    /// One per network node: the total number of spikes of each neuron over
    /// the run; empty for nodes without spiking neurons, and for every node
    /// when the run kept [`Counts::PerNode`] only.
    pub spike_counts: Vec<Vec<u32>>,
    /// One per network node: its neurons' spike counts summed up (zero for
    /// nodes without spiking neurons).
    pub spike_summaries: Vec<SpikeSummary>,
}

/// How much of its neurons' spike counts a run hands back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// Every neuron's count ([`SimOutput::spike_counts`]) and each node's
    /// [`SpikeSummary`].
    PerNeuron,
    /// Each node's [`SpikeSummary`] only: all a run's report reads. The
    /// summary is taken on the worker that ran the image, where the counts
    /// are still in the cache, instead of copying them (136 KiB an image
    /// on the deep network) into fresh memory for the report to read back.
    PerNode,
}

/// One node's spike counts over a run, summed over its neurons.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpikeSummary {
    /// Every neuron's spikes added up.
    pub total: u64,
    /// The most spikes of any one neuron (`u32::MAX`: counting saturated).
    pub most: u32,
    /// The neurons that never fired.
    pub silent: usize,
}

impl SpikeSummary {
    /// The summary of the neurons' `counts`. Taken once per image and node
    /// over every neuron; with AVX2, where the CPU has it, the loop runs on
    /// eight lanes with an unsigned maximum, which the baseline x86-64
    /// build emulates (`perf`, a one-core 10-step run at scale 1000: 7% of
    /// the samples -> 1%).
    pub fn of(counts: &[u32]) -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { Self::of_avx2(counts) };
        }
        Self::of_any(counts)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn of_avx2(counts: &[u32]) -> Self {
        Self::of_any(counts)
    }

    #[inline(always)]
    fn of_any(counts: &[u32]) -> Self {
        let mut s = SpikeSummary::default();
        for &c in counts {
            s.total += u64::from(c);
            s.most = s.most.max(c);
            s.silent += usize::from(c == 0);
        }
        s
    }
}

/// A probe's record from the values an engine appended, `size` per row,
/// one row after the other (whole rows: a partial last row is dropped).
/// The engines record into flat buffers in their step loops; this is where
/// a record becomes an array, without copying.
pub fn probe_rows<T>(mut values: Vec<T>, size: usize) -> Array2<T> {
    let rows = values.len().checked_div(size).unwrap_or(0);
    values.truncate(rows * size);
    match Array2::from_shape_vec((rows, size), values) {
        Ok(a) => a,
        Err(e) => unreachable!("{rows} x {size} values were kept: {e}"),
    }
}

/// An IR, params, inputs or probes that do not fit together. The checker
/// and the params loader should make these impossible; the engines still
/// refuse them ([`super::validate`]) instead of indexing out of bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    pub message: String,
}

impl SimError {
    pub fn new(message: impl Into<String>) -> Self {
        SimError {
            message: message.into(),
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SimError {}

#[cfg(test)]
mod tests {
    use super::SpikeSummary;

    /// The summary the CPU's fastest loop takes is the plain loop's, on
    /// lengths around the vector widths and on counts up to saturation
    /// (totals past `u32::MAX`); `of_any` is the definition.
    #[test]
    fn spike_summaries_are_the_plain_loops() {
        let mut rng = crate::rng::SplitMix64::new(11);
        for n in [0, 1, 7, 8, 9, 31, 64, 1000, 21_632] {
            for top in [1.0, 40.0, u32::MAX as f64] {
                let counts: Vec<u32> = (0..n)
                    .map(|_| (rng.uniform() * top) as u32 * u32::from(rng.uniform() < 0.3))
                    .chain((n > 8).then_some(u32::MAX))
                    .collect();
                let want = SpikeSummary {
                    total: counts.iter().map(|&c| u64::from(c)).sum(),
                    most: counts.iter().copied().max().unwrap_or(0),
                    silent: counts.iter().filter(|&&c| c == 0).count(),
                };
                assert_eq!(SpikeSummary::of(&counts), want, "{n} counts up to {top}");
                assert_eq!(
                    SpikeSummary::of_any(&counts),
                    want,
                    "{n} counts up to {top}"
                );
            }
        }
    }
}
