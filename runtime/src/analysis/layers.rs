//! Per-layer firing diagnostics of a spiking model next to its rate model,
//! and the rules that turn them into findings (`snnc diagnose`).
//!
//! The rules and their thresholds:
//!
//! - **too slow** ([`SLOW_SPIKES`]): the neurons that are active in the rate
//!   model spike fewer than 2 times on average during one presentation. A
//!   rate read from n spikes is off by up to one spike, 1/n of it, so below
//!   2 spikes most of the layer's signal is lost to quantisation. The fix
//!   is this layer's own scale (`scale LAYER = ...`, one value per layer,
//!   since layers need different ones) times `10 / spikes`, aiming at
//!   [`TARGET_SPIKES`]; scale rather than time, because a longer
//!   presentation costs latency, and the longer `present` that would do the
//!   same is mentioned only up to [`MAX_PRESENT`].
//! - **saturated** ([`SATURATED_FRACTION`]), LIF only: more than 10% of the
//!   neurons spike in every step. A LIF neuron spikes at most once a step
//!   and its refractory period caps its rate, so spikes are really lost; the
//!   fix lowers the scale so that 95% of the spiking neurons spike in at
//!   most half of the steps. A spiking ReLU that spikes several times in a
//!   step loses nothing (that is Nengo's exact semantics: at scale 1000 it
//!   matches the rate network), so it is never "saturated".
//! - **noisy output** ([`NOISY_OUTPUT`]): over the second half of the
//!   presentation the output changes from step to step by more than 25% of
//!   its mean absolute value, and no connection from a spiking layer into it
//!   has a synapse. The fix is a low-pass synapse on that connection.
//!
//! Every fix moves its measure past its threshold (a scaled layer spikes
//! about 10 times, a filtered output is no longer unfiltered), and no fix
//! undoes another's, so applying the findings converges.

use ndarray::ArrayView2;
use serde::Serialize;
use snnc_compiler::ir::Neuron;

use super::spikes::step_count;

pub const SLOW_SPIKES: f64 = 2.0;
pub const TARGET_SPIKES: f64 = 10.0;
pub const SATURATED_FRACTION: f64 = 0.10;
pub const NOISY_OUTPUT: f64 = 0.25;
/// The longest presentation a finding proposes, seconds.
pub const MAX_PRESENT: f64 = 1.0;

/// One spiking layer, in the rate model and in the spiking model.
#[derive(Clone, Debug, Serialize)]
pub struct LayerDiag {
    pub name: String,
    pub neuron: String,
    /// Spikes at most once a step (LIF), so a neuron spiking every step
    /// has lost spikes.
    pub capped: bool,
    pub neurons: usize,
    pub scale: f64,
    /// The rate model's output averaged over the run, over the neuron's
    /// amplitude: its firing rate at scale 1 (Hz).
    pub rate_mean_hz: f64,
    pub rate_max_hz: f64,
    /// Fraction of neurons whose rate-model output is 0.
    pub rate_silent_fraction: f64,
    /// Spikes per second in the spiking model.
    pub spike_mean_hz: f64,
    pub spike_max_hz: f64,
    /// Fraction of neurons that never spike.
    pub silent_fraction: f64,
    /// Fraction of neurons that spike more than once in some step.
    pub multi_spike_fraction: f64,
    /// Fraction of neurons that spike in every step.
    pub every_step_fraction: f64,
    /// Mean time to the first spike over neurons that spike, ms.
    pub first_spike_ms: Option<f64>,
    /// Mean spikes in one presentation of the neurons active in the rate
    /// model.
    pub spikes_per_active_neuron: f64,
    /// Mean of the rate model's rate times the scale over active neurons:
    /// the spiking rate the conversion aims at, Hz.
    pub expected_active_hz: f64,
    /// The largest number of spikes per step of any neuron, averaged over
    /// the run.
    pub max_spikes_per_step: f64,
    /// The 95th percentile over spiking neurons of spikes per step.
    pub p95_spikes_per_step: f64,
}

/// Accumulates [`LayerDiag`] over images.
#[derive(Clone, Debug)]
pub struct LayerAccum {
    name: String,
    neuron: Neuron,
    scale: f64,
    size: usize,
    dt: f64,
    images: usize,
    neurons_total: usize,
    rate_sum: f64,
    rate_max: f64,
    rate_silent: usize,
    spike_sum: f64,
    spike_max: f64,
    silent: usize,
    multi: usize,
    every_step: usize,
    first_sum: f64,
    first_n: usize,
    active: usize,
    active_spikes: f64,
    active_expected_hz: f64,
    max_per_step: f64,
    per_step: Vec<f32>,
    steps: usize,
}

impl LayerAccum {
    pub fn new(name: &str, neuron: Neuron, scale: f64, size: usize, dt: f64) -> Self {
        LayerAccum {
            name: name.to_string(),
            neuron,
            scale,
            size,
            dt,
            images: 0,
            neurons_total: 0,
            rate_sum: 0.0,
            rate_max: 0.0,
            rate_silent: 0,
            spike_sum: 0.0,
            spike_max: 0.0,
            silent: 0,
            multi: 0,
            every_step: 0,
            first_sum: 0.0,
            first_n: 0,
            active: 0,
            active_spikes: 0.0,
            active_expected_hz: 0.0,
            max_per_step: 0.0,
            per_step: Vec::new(),
            steps: 0,
        }
    }

    /// One image: the rate model's and the spiking model's probe rows of
    /// this layer (`steps x size` each, every step), and the spike counts.
    /// Rows of another width than the layer's are not this layer's: ignored.
    pub fn add(&mut self, rate_rows: ArrayView2<f64>, spike_rows: ArrayView2<f64>) {
        let n = self.size;
        if rate_rows.ncols() != n || spike_rows.ncols() != n {
            return;
        }
        let steps = spike_rows.nrows();
        let rate_steps = rate_rows.nrows();
        self.steps = steps;
        let seconds = steps as f64 * self.dt;
        self.images += 1;
        // The rate model outputs its rate times the amplitude.
        let amplitude = Some(self.neuron.amplitude())
            .filter(|&a| a > 0.0)
            .unwrap_or(1.0);
        for i in 0..n {
            let rate =
                rate_rows.column(i).iter().sum::<f64>() / rate_steps.max(1) as f64 / amplitude;
            self.rate_sum += rate;
            self.rate_max = self.rate_max.max(rate);
            self.rate_silent += usize::from(rate <= 0.0);
            let (mut total, mut first, mut multi, mut every) = (0u64, None, false, true);
            for k in 0..steps {
                let c = step_count(spike_rows[[k, i]], self.neuron, self.scale, self.dt);
                total += c as u64;
                if c > 0 && first.is_none() {
                    first = Some(k + 1);
                }
                multi |= c > 1;
                every &= c > 0;
            }
            let hz = total as f64 / seconds.max(1e-12);
            self.spike_sum += hz;
            self.spike_max = self.spike_max.max(hz);
            self.silent += usize::from(total == 0);
            self.multi += usize::from(multi);
            self.every_step += usize::from(every && steps > 0);
            if let Some(f) = first {
                self.first_sum += f as f64 * self.dt * 1e3;
                self.first_n += 1;
            }
            if rate > 0.0 {
                self.active += 1;
                self.active_spikes += total as f64;
                self.active_expected_hz += rate * self.scale;
            }
            self.max_per_step = self.max_per_step.max(total as f64 / steps.max(1) as f64);
            if total > 0 {
                self.per_step
                    .push((total as f64 / steps.max(1) as f64) as f32);
            }
        }
        self.neurons_total += n;
    }

    pub fn finish(&self) -> LayerDiag {
        let total = self.neurons_total.max(1) as f64;
        let mut per_step = self.per_step.clone();
        per_step.sort_by(f32::total_cmp);
        let p95 = per_step
            .get((per_step.len() * 95 / 100).min(per_step.len().saturating_sub(1)))
            .map_or(0.0, |&x| x as f64);
        LayerDiag {
            name: self.name.clone(),
            neuron: self.neuron.name().to_string(),
            capped: self.neuron.spikes_at_most_once_per_step(),
            neurons: self.size,
            scale: self.scale,
            rate_mean_hz: self.rate_sum / total,
            rate_max_hz: self.rate_max,
            rate_silent_fraction: self.rate_silent as f64 / total,
            spike_mean_hz: self.spike_sum / total,
            spike_max_hz: self.spike_max,
            silent_fraction: self.silent as f64 / total,
            multi_spike_fraction: self.multi as f64 / total,
            every_step_fraction: self.every_step as f64 / total,
            first_spike_ms: (self.first_n > 0).then(|| self.first_sum / self.first_n as f64),
            spikes_per_active_neuron: self.active_spikes / self.active.max(1) as f64,
            expected_active_hz: self.active_expected_hz / self.active.max(1) as f64,
            max_spikes_per_step: self.max_per_step,
            p95_spikes_per_step: p95,
        }
    }
}

/// How far the spiking output is from the rate output, and how noisy it is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OutputDiag {
    pub name: String,
    /// Mean |spiking - rate| of the output at the last step over mean |rate|.
    pub relative_distance: f64,
    /// Mean |out[t] - out[t-1]| over mean |out[t]|, second half of the run.
    pub step_variation: f64,
    pub rate_accuracy: f64,
    pub spiking_accuracy: f64,
    /// Whether some connection from a spiking layer into the output has a
    /// synapse.
    pub filtered: bool,
}

/// Accumulates [`OutputDiag`]'s distance and variation over images.
#[derive(Clone, Debug, Default)]
pub struct OutputAccum {
    diff: f64,
    rate_abs: f64,
    var: f64,
    abs: f64,
}

impl OutputAccum {
    /// One image's output rows (`rows x size` each).
    pub fn add(&mut self, rate_rows: ArrayView2<f64>, spike_rows: ArrayView2<f64>) {
        let size = spike_rows.ncols();
        let (Some(last_s), Some(last_r)) = (
            spike_rows.outer_iter().last(),
            rate_rows.outer_iter().last(),
        ) else {
            return;
        };
        if size == 0 || last_r.len() != size {
            return;
        }
        self.diff += last_s
            .iter()
            .zip(last_r)
            .map(|(s, r)| (s - r).abs())
            .sum::<f64>();
        self.rate_abs += last_r.iter().map(|r| r.abs()).sum::<f64>();
        let rows = spike_rows.nrows();
        for k in (rows / 2).max(1)..rows {
            for j in 0..size {
                self.var += (spike_rows[[k, j]] - spike_rows[[k - 1, j]]).abs();
                self.abs += spike_rows[[k, j]].abs();
            }
        }
    }

    pub fn relative_distance(&self) -> f64 {
        self.diff / self.rate_abs.max(1e-12)
    }

    pub fn step_variation(&self) -> f64 {
        self.var / self.abs.max(1e-12)
    }
}

/// What a finding asks to change.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Fix {
    /// Set the layer's own scale (`scale LAYER = scale`); a presentation
    /// of `present` seconds would do the same, when that is practical.
    Scale {
        layer: String,
        scale: f64,
        present: Option<f64>,
    },
    /// Lower the layer's scale to at most this.
    LowerScale { layer: String, scale: f64 },
    /// Add a low-pass synapse with this time constant on `from -> to`.
    Synapse { from: String, to: String, tau: f64 },
    /// Nothing in the spec: the params or inputs are at fault.
    None,
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub kind: String,
    pub layer: String,
    pub message: String,
    pub help: String,
    pub fix: Fix,
}

/// Rounds up to 1, 2 or 5 times a power of ten.
pub fn nice_up(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return x;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= x * (1.0 - 1e-9) {
            return m * p;
        }
    }
    10.0 * p
}

/// Rounds down to 1, 2 or 5 times a power of ten.
pub fn nice_down(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return x;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [5.0, 2.0, 1.0] {
        if m * p <= x * (1.0 + 1e-9) {
            return m * p;
        }
    }
    p
}

fn fmt_ms(seconds: f64) -> String {
    format!("{}ms", (seconds * 1e3).round())
}

/// Applies the rules to the layers and the output. `present` is the run's
/// presentation time (s), `dt` its step; `output_sources` are the spiking
/// layers that feed the output node.
pub fn findings(
    layers: &[LayerDiag],
    output: &OutputDiag,
    output_sources: &[String],
    present: f64,
    dt: f64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for l in layers {
        let spikes = l.spikes_per_active_neuron;
        let active = l.rate_silent_fraction < 1.0;
        if active && spikes < SLOW_SPIKES {
            // Aim at TARGET_SPIKES; when nothing spiked, use the rate the
            // conversion aims at.
            let per_run = if spikes > 0.0 {
                spikes
            } else {
                l.expected_active_hz * present
            };
            let factor = if per_run > 0.0 {
                TARGET_SPIKES / per_run
            } else {
                f64::INFINITY
            };
            let new_scale = nice_up(l.scale * factor);
            let new_present = ((present * factor) / 0.01).ceil() * 0.01;
            let practical = (new_present <= MAX_PRESENT).then_some(new_present);
            let message = format!(
                "{}: active neurons spike {:.1} times on average in the {} presentation (mean {:.1} Hz, max {:.1} Hz at scale {}), so most of its signal is lost to rounding",
                l.name,
                spikes,
                fmt_ms(present),
                l.spike_mean_hz,
                l.spike_max_hz,
                l.scale
            );
            if !factor.is_finite() {
                out.push(Finding {
                    kind: "silent".into(),
                    layer: l.name.clone(),
                    message,
                    help: "no neuron of this layer is driven: check its params and inputs"
                        .to_string(),
                    fix: Fix::None,
                });
                continue;
            }
            let mut help = format!(
                "set `scale {} = {new_scale}` (about {TARGET_SPIKES} spikes per active neuron)",
                l.name
            );
            if let Some(p) = practical {
                help.push_str(&format!(", or raise `present` to >= {}", fmt_ms(p)));
            }
            out.push(Finding {
                kind: "slow".into(),
                layer: l.name.clone(),
                message,
                help,
                fix: Fix::Scale {
                    layer: l.name.clone(),
                    scale: new_scale,
                    present: practical,
                },
            });
        }
        if l.capped && l.every_step_fraction > SATURATED_FRACTION {
            let target = nice_down(l.scale * 0.5 / l.p95_spikes_per_step.max(1e-12));
            out.push(Finding {
                kind: "saturated".into(),
                layer: l.name.clone(),
                message: format!(
                    "{} saturates: {:.0}% of its LIF neurons spike in every step (max {:.1} Hz at dt {}), and a LIF neuron spikes at most once a step",
                    l.name,
                    l.every_step_fraction * 100.0,
                    l.spike_max_hz,
                    fmt_ms(dt)
                ),
                help: format!(
                    "set `scale {} = {target}` so that 95% of the spiking neurons spike in at most half of the steps",
                    l.name
                ),
                fix: Fix::LowerScale { layer: l.name.clone(), scale: target },
            });
        }
    }
    if !output.filtered && output.step_variation > NOISY_OUTPUT {
        if let Some(from) = output_sources.first() {
            let tau = if present >= 0.025 {
                0.005
            } else {
                (present / 5.0).max(dt)
            };
            out.push(Finding {
                kind: "noisy_output".into(),
                layer: output.name.clone(),
                message: format!(
                    "{} is noisy: it changes by {:.0}% of its size from step to step, and no synapse filters the spikes into it",
                    output.name,
                    output.step_variation * 100.0
                ),
                help: format!("add a low-pass synapse: `synapse {from} -> {} = lowpass({})`", output.name, fmt_ms(tau)),
                fix: Fix::Synapse { from: from.clone(), to: output.name.clone(), tau },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_rounding() {
        assert_eq!(nice_up(13.0), 20.0);
        assert_eq!(nice_up(20.0), 20.0);
        assert_eq!(nice_up(0.27), 0.5);
        assert_eq!(nice_down(13.0), 10.0);
        assert_eq!(nice_down(0.7), 0.5);
    }
}
