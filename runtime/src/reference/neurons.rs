//! Nengo's neuron types, each a step function over a slice of neurons
//! (semantics.md §4, `nengo/neurons.py` of Nengo 4.1).
//!
//! Every step takes this step's input current `J` and writes this step's
//! output; spiking types also update their state and add to per-neuron spike
//! counts. The operation order and the functions used (`expm1`, `log1p`,
//! `floor`) are Nengo's, because the golden vectors demand identical spikes.
//!
//! The amplitude a population uses is its neuron's amplitude divided by the
//! node's `scale_firing_rates` (NengoDL's converter divides `amplitude` by
//! the scale). Sigmoid and Tanh have no amplitude in Nengo, so the scale does
//! not touch their output (it only multiplies their current).

use snnc_compiler::ir::Neuron;

use crate::engine::Real;
use crate::rng::{mix, SplitMix64};

/// `out = amplitude * max(0, J)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RectifiedLinear<T> {
    pub amplitude: T,
}

impl<T: Real> RectifiedLinear<T> {
    pub fn step(&self, j: &[T], out: &mut [T]) {
        for (out, &j) in out.iter_mut().zip(j) {
            *out = self.amplitude * j.max(T::zero());
        }
    }
}

/// An integrate-and-fire ReLU that may spike several times per step:
/// `v += max(J, 0)*dt; n = floor(v); out = (amplitude/dt)*n; v -= n`.
/// No leak, and negative current does not discharge, so v stays in [0, 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpikingRectifiedLinear<T> {
    pub dt: T,
    /// `amplitude/dt`, computed in f64: the output of one spike.
    pub spike: T,
}

impl<T: Real> SpikingRectifiedLinear<T> {
    pub fn step(&self, j: &[T], v: &mut [T], out: &mut [T], counts: &mut [u32]) {
        let neurons = j.iter().zip(v).zip(out).zip(counts);
        for (((&j, v), out), count) in neurons {
            *v = *v + j.max(T::zero()) * self.dt;
            let n = v.floor();
            *out = self.spike * n;
            *v = *v - n;
            // `as` saturates, so an absurd current cannot wrap the count.
            *count = count.saturating_add(Real::to_f64(n) as u32);
        }
    }
}

/// Leaky integrate-and-fire with a refractory period, at most one spike per
/// step. State: voltage `v` and remaining refractory time `r` (both start at
/// 0; `r` keeps going negative while idle, which the clip makes harmless).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lif<T> {
    pub dt: T,
    pub tau_rc: T,
    pub tau_ref: T,
    pub min_voltage: T,
    /// `amplitude/dt`, computed in f64.
    pub spike: T,
}

impl<T: Real> Lif<T> {
    pub fn step(&self, j: &[T], v: &mut [T], r: &mut [T], out: &mut [T], counts: &mut [u32]) {
        let (dt, tau_rc, one, zero) = (self.dt, self.tau_rc, T::one(), T::zero());
        let neurons = j.iter().zip(v).zip(r).zip(out).zip(counts);
        for ((((&j, v), r), out), count) in neurons {
            // 1. Count down the refractory period.
            *r = *r - dt;
            // 2. Integrate only over the part of the step after it ended
            //    (np.clip(dt - r, 0, dt) = min(max(x, 0), dt)).
            let delta_t = (dt - *r).max(zero).min(dt);
            // 3. Exact exponential decay toward J over delta_t.
            *v = *v - (j - *v) * (-delta_t / tau_rc).exp_m1();
            // 4. Threshold.
            let spiked = *v > one;
            *out = if spiked { self.spike } else { zero };
            // 5. Interpolated threshold-crossing time, for the refractory
            //    period (computed from v before the floor and the reset).
            let t_spike = if spiked {
                dt + tau_rc * (-(*v - one) / (j - one)).ln_1p()
            } else {
                zero
            };
            // 6. Floor, then reset spiking neurons.
            if *v < self.min_voltage {
                *v = self.min_voltage;
            }
            if spiked {
                *v = zero;
                *r = self.tau_ref + t_spike;
                *count = count.saturating_add(1);
            }
        }
    }
}

/// The steady-state LIF rate:
/// `out = amplitude / (tau_ref + tau_rc*log1p(1/(J-1)))` for J > 1, else 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LifRate<T> {
    pub tau_rc: T,
    pub tau_ref: T,
    pub amplitude: T,
}

impl<T: Real> LifRate<T> {
    pub fn step(&self, j: &[T], out: &mut [T]) {
        for (out, &j) in out.iter_mut().zip(j) {
            let j = j - T::one();
            *out = if j > T::zero() {
                self.amplitude / (self.tau_ref + self.tau_rc * (T::one() / j).ln_1p())
            } else {
                T::zero()
            };
        }
    }
}

/// `out = (1/tau_ref) / (1 + exp(-J))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sigmoid<T> {
    /// `1/tau_ref`, computed in f64.
    pub max_rate: T,
}

impl<T: Real> Sigmoid<T> {
    pub fn step(&self, j: &[T], out: &mut [T]) {
        for (out, &j) in out.iter_mut().zip(j) {
            *out = self.max_rate / (T::one() + (-j).exp());
        }
    }
}

/// `out = (1/tau_ref) * tanh(J)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tanh<T> {
    /// `1/tau_ref`, computed in f64.
    pub max_rate: T,
}

impl<T: Real> Tanh<T> {
    pub fn step(&self, j: &[T], out: &mut [T]) {
        for (out, &j) in out.iter_mut().zip(j) {
            *out = self.max_rate * j.tanh();
        }
    }
}

/// A neuron type with its coefficients in `T`, ready to step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Neurons<T> {
    RectifiedLinear(RectifiedLinear<T>),
    SpikingRectifiedLinear(SpikingRectifiedLinear<T>),
    Lif(Lif<T>),
    LifRate(LifRate<T>),
    Sigmoid(Sigmoid<T>),
    Tanh(Tanh<T>),
}

impl<T: Real> Neurons<T> {
    /// The coefficients of `neuron` in a node with `scale_firing_rates =
    /// scale`, at step `dt`. Every derived constant is computed in f64 and
    /// then cast, as Nengo computes `amplitude / dt` with Python floats.
    pub fn new(neuron: Neuron, scale: f64, dt: f64) -> Self {
        let c = T::from_f64;
        match neuron {
            Neuron::RectifiedLinear { amplitude } => Neurons::RectifiedLinear(RectifiedLinear {
                amplitude: c(amplitude / scale),
            }),
            Neuron::SpikingRectifiedLinear { amplitude } => {
                Neurons::SpikingRectifiedLinear(SpikingRectifiedLinear {
                    dt: c(dt),
                    spike: c(amplitude / scale / dt),
                })
            }
            Neuron::Lif {
                tau_rc,
                tau_ref,
                min_voltage,
                amplitude,
            } => Neurons::Lif(Lif {
                dt: c(dt),
                tau_rc: c(tau_rc),
                tau_ref: c(tau_ref),
                min_voltage: c(min_voltage),
                spike: c(amplitude / scale / dt),
            }),
            Neuron::LifRate {
                tau_rc,
                tau_ref,
                amplitude,
            } => Neurons::LifRate(LifRate {
                tau_rc: c(tau_rc),
                tau_ref: c(tau_ref),
                amplitude: c(amplitude / scale),
            }),
            Neuron::Sigmoid { tau_ref } => Neurons::Sigmoid(Sigmoid {
                max_rate: c(1.0 / tau_ref),
            }),
            Neuron::Tanh { tau_ref } => Neurons::Tanh(Tanh {
                max_rate: c(1.0 / tau_ref),
            }),
        }
    }

    pub fn is_spiking(&self) -> bool {
        matches!(self, Neurons::SpikingRectifiedLinear(_) | Neurons::Lif(_))
    }

    /// Steps `j.len()` neurons. `state` must have been made by
    /// [`NeuronState::new`] for this type and size.
    pub fn step(&self, j: &[T], state: &mut NeuronState<T>, out: &mut [T]) {
        let NeuronState { v, r, counts } = state;
        match self {
            Neurons::RectifiedLinear(n) => n.step(j, out),
            Neurons::SpikingRectifiedLinear(n) => n.step(j, v, out, counts),
            Neurons::Lif(n) => n.step(j, v, r, out, counts),
            Neurons::LifRate(n) => n.step(j, out),
            Neurons::Sigmoid(n) => n.step(j, out),
            Neurons::Tanh(n) => n.step(j, out),
        }
    }
}

/// The mutable state of a population; vectors a type does not use are empty.
#[derive(Clone, Debug, Default)]
pub struct NeuronState<T> {
    /// Voltage (spiking types).
    pub v: Vec<T>,
    /// Remaining refractory time (LIF).
    pub r: Vec<T>,
    /// Spikes per neuron since the last reset (spiking types).
    pub counts: Vec<u32>,
}

impl<T: Real> NeuronState<T> {
    /// State for `n` neurons of type `neurons`, all zero.
    pub fn new(neurons: &Neurons<T>, n: usize) -> Self {
        let (v, r) = match neurons {
            Neurons::SpikingRectifiedLinear(_) => (n, 0),
            Neurons::Lif(_) => (n, n),
            Neurons::RectifiedLinear(_)
            | Neurons::LifRate(_)
            | Neurons::Sigmoid(_)
            | Neurons::Tanh(_) => (0, 0),
        };
        NeuronState {
            v: vec![T::zero(); v],
            r: vec![T::zero(); r],
            counts: vec![0; v],
        }
    }

    /// Back to the initial state: voltages from `initial_v` (or 0 when it is
    /// empty), refractory time and counts 0.
    pub fn reset(&mut self, initial_v: &[T]) {
        if initial_v.len() == self.v.len() {
            self.v.copy_from_slice(initial_v);
        } else {
            self.v.fill(T::zero());
        }
        self.r.fill(T::zero());
        self.counts.fill(0);
    }
}

/// Initial voltages `Uniform[0, 1)` for the `n` neurons of node `node`, from
/// `seed`: deterministic and the same for every example and precision.
///
/// The generator is SplitMix64 seeded with `mix(seed ^ mix(node + 1))`;
/// each draw keeps the top 24 bits (`(x >> 40) * 2^-24`), so every value is
/// exactly representable in f32 and in f64 and strictly below 1 in both
/// (casting a 53-bit value to f32 could round up to 1.0).
pub fn uniform_voltages(seed: u64, node: usize, n: usize) -> Vec<f64> {
    let mut rng = SplitMix64::new(mix(seed ^ mix(node as u64 + 1)));
    (0..n)
        .map(|_| (rng.next_u64() >> 40) as f64 * (1.0 / (1u64 << 24) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f64 = 0.001;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn relu_rectifies_and_scales() {
        let n = Neurons::<f64>::new(Neuron::RectifiedLinear { amplitude: 1.0 }, 2.0, DT);
        let mut st = NeuronState::new(&n, 3);
        let mut out = [9.0; 3];
        n.step(&[-1.0, 0.0, 3.0], &mut st, &mut out);
        assert_eq!(out, [0.0, 0.0, 1.5]);
        assert!(st.v.is_empty() && st.counts.is_empty());
    }

    #[test]
    fn spiking_relu_several_spikes_per_step() {
        // Hand: J=2500: v=2.5 -> 2 spikes, v=.5; v=3.0 -> 3 spikes, v=0;
        // v=2.5 -> 2. J=1300: one spike a step, v = .3, .6, .9.
        // J=-40: never charges.
        let n = Neurons::<f64>::new(Neuron::SpikingRectifiedLinear { amplitude: 1.0 }, 1.0, DT);
        let mut st = NeuronState::new(&n, 3);
        let j = [2500.0, 1300.0, -40.0];
        let mut out = [0.0; 3];
        let want_out = [
            [2000.0, 1000.0, 0.0],
            [3000.0, 1000.0, 0.0],
            [2000.0, 1000.0, 0.0],
        ];
        let want_v = [
            [0.5, 0.30000000000000004, 0.0],
            [0.0, 0.6000000000000001, 0.0],
            [0.5, 0.9000000000000001, 0.0],
        ];
        for k in 0..3 {
            n.step(&j, &mut st, &mut out);
            assert_eq!(out, want_out[k], "step {}", k + 1);
            assert_eq!(st.v, want_v[k], "step {}", k + 1);
        }
        assert_eq!(st.counts, vec![7, 3, 0]);
    }

    #[test]
    fn spiking_relu_amplitude_is_divided_by_scale() {
        // scale 2: spike height amplitude/(scale*dt) = 500.
        let n = Neurons::<f64>::new(Neuron::SpikingRectifiedLinear { amplitude: 1.0 }, 2.0, DT);
        let mut st = NeuronState::new(&n, 1);
        let mut out = [0.0];
        n.step(&[1500.0], &mut st, &mut out);
        assert_eq!(out, [500.0]);
    }

    /// First step (1-based) at which a neuron of constant current `j` spikes.
    fn first_spikes<T: Real>(j: &[f64], steps: usize) -> Vec<Vec<usize>> {
        let n = Neurons::<T>::new(Neuron::SpikingRectifiedLinear { amplitude: 1.0 }, 1.0, DT);
        let mut st = NeuronState::new(&n, j.len());
        let j: Vec<T> = j.iter().map(|&x| T::from_f64(x)).collect();
        let mut out = vec![T::zero(); j.len()];
        let mut spikes = vec![Vec::new(); j.len()];
        for k in 1..=steps {
            n.step(&j, &mut st, &mut out);
            for (i, o) in out.iter().enumerate() {
                if *o > T::zero() {
                    spikes[i].push(k);
                }
            }
        }
        spikes
    }

    #[test]
    fn round_current_tie_differs_between_f64_and_f32() {
        // semantics.md §7: J=100 first fires at step 11 in f64 (ten additions
        // of 0.1 give 0.9999999999999999) but at step 10 in f32; J=300's
        // third spike is at step 11 in f64 and step 10 in f32.
        let f64_spikes = first_spikes::<f64>(&[100.0, 300.0, 250.0], 12);
        assert_eq!(f64_spikes[0], vec![11]);
        assert_eq!(f64_spikes[1], vec![4, 7, 11]);
        assert_eq!(f64_spikes[2], vec![4, 8, 12]);
        let f32_spikes = first_spikes::<f32>(&[100.0, 300.0, 250.0], 12);
        assert_eq!(f32_spikes[0], vec![10]);
        assert_eq!(f32_spikes[1], vec![4, 7, 10]);
        assert_eq!(f32_spikes[2], vec![4, 8, 12]);
    }

    #[test]
    fn lif_refractory_period_ends_mid_step() {
        // Values from Nengo 4.1's LIF.step run in NumPy float64 (J = 60,
        // 0.5, -2). Step 1 spikes at t = 0.336 ms, so r = 2.336 ms; step 2
        // is fully refractory (v stays 0); in step 3 only the last 0.664 ms
        // integrate, and it spikes again. Step 5 integrates 0.328 ms and
        // stops just short of threshold; step 6 spikes.
        let n = Neurons::<f64>::new(
            Neuron::Lif {
                tau_rc: 0.02,
                tau_ref: 0.002,
                min_voltage: 0.0,
                amplitude: 1.0,
            },
            1.0,
            DT,
        );
        let mut st = NeuronState::new(&n, 3);
        let j = [60.0, 0.5, -2.0];
        let mut out = [0.0; 3];
        let want: [(f64, f64, f64, bool); 8] = [
            (0.0, 0.0023361423663276247, 0.024385287749642996, true),
            (0.0, 0.0013361423663276247, 0.04758129098202021, false),
            (0.0, 0.0026722847326552494, 0.0696460117874711, true),
            (0.0, 0.0016722847326552494, 0.09063462346100906, false),
            (
                0.9751348198350399,
                0.0006722847326552494,
                0.11059960846429756,
                false,
            ),
            (0.0, 0.002008427098982874, 0.12959088965914106, true),
            (0.0, 0.001008427098982874, 0.14765595514064328, false),
            (0.0, 0.002344569465310499, 0.16483997698218034, true),
        ];
        for (k, &(v0, r0, v1, spiked)) in want.iter().enumerate() {
            n.step(&j, &mut st, &mut out);
            let step = k + 1;
            assert!(
                close(st.v[0], v0, 1e-14),
                "step {step}: v {} vs {v0}",
                st.v[0]
            );
            assert!(
                close(st.r[0], r0, 1e-12),
                "step {step}: r {} vs {r0}",
                st.r[0]
            );
            assert!(
                close(st.v[1], v1, 1e-14),
                "step {step}: v {} vs {v1}",
                st.v[1]
            );
            // Negative current is held at the min_voltage floor.
            assert_eq!(st.v[2], 0.0);
            assert_eq!(out[0], if spiked { 1000.0 } else { 0.0 }, "step {step}");
            assert_eq!(out[1..], [0.0, 0.0]);
        }
        assert_eq!(st.counts, vec![4, 0, 0]);
        // Idle refractory time keeps decreasing (harmless: clipped).
        assert!(close(st.r[1], -0.008, 1e-12));
    }

    #[test]
    fn lif_min_voltage_floor() {
        let n = Neurons::<f64>::new(
            Neuron::Lif {
                tau_rc: 0.02,
                tau_ref: 0.002,
                min_voltage: -0.5,
                amplitude: 1.0,
            },
            1.0,
            DT,
        );
        let mut st = NeuronState::new(&n, 1);
        let mut out = [0.0];
        for _ in 0..200 {
            n.step(&[-10.0], &mut st, &mut out);
        }
        assert_eq!(st.v[0], -0.5);
    }

    #[test]
    fn lif_rate_matches_formula() {
        let n = Neurons::<f64>::new(
            Neuron::LifRate {
                tau_rc: 0.02,
                tau_ref: 0.002,
                amplitude: 1.0,
            },
            1.0,
            DT,
        );
        let mut st = NeuronState::new(&n, 4);
        let mut out = [9.0; 4];
        n.step(&[2.0, 3.5, 1.0, -4.0], &mut st, &mut out);
        // NumPy: 1/(0.002 + 0.02*log1p(1/1)), 1/(0.002 + 0.02*log1p(1/2.5)).
        assert!(close(out[0], 63.04000219064139, 1e-15));
        assert!(close(out[1], 114.5548234340318, 1e-15));
        assert_eq!(out[2..], [0.0, 0.0]);
    }

    #[test]
    fn sigmoid_and_tanh() {
        let s = Neurons::<f64>::new(Neuron::Sigmoid { tau_ref: 2.0 }, 1.0, DT);
        let t = Neurons::<f64>::new(Neuron::Tanh { tau_ref: 2.0 }, 1.0, DT);
        let mut st = NeuronState::default();
        let mut out = [0.0; 2];
        s.step(&[0.7, 0.0], &mut st, &mut out);
        assert!(close(out[0], 0.3340938860840831, 1e-15));
        assert_eq!(out[1], 0.25);
        t.step(&[-0.3, 0.0], &mut st, &mut out);
        assert!(close(out[0], -0.14565630622579545, 1e-15));
        assert_eq!(out[1], 0.0);
    }

    #[test]
    fn f32_spike_height_is_the_f64_quotient_cast() {
        let n = Neurons::<f32>::new(Neuron::SpikingRectifiedLinear { amplitude: 1.0 }, 1.0, DT);
        let Neurons::SpikingRectifiedLinear(p) = n else {
            panic!("wrong type");
        };
        assert_eq!(p.spike, 1000.0_f32);
        assert_eq!(p.dt, 0.001_f32);
    }

    #[test]
    fn uniform_voltages_are_deterministic_and_in_range() {
        let a = uniform_voltages(7, 3, 1000);
        assert_eq!(a, uniform_voltages(7, 3, 1000));
        assert_ne!(a, uniform_voltages(7, 4, 1000));
        assert_ne!(a, uniform_voltages(8, 3, 1000));
        assert!(a
            .iter()
            .all(|&v| (0.0..1.0).contains(&v) && v as f32 as f64 == v));
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
    }
}
