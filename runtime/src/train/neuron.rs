//! Rate neurons in training: the forward function of each node's rate
//! neuron and its derivative with respect to the input current `J`.
//!
//! A node's current is `J = scale * pre` and its output `neuron(J)` with the
//! neuron's amplitude divided by `scale` (Sigmoid and Tanh have no
//! amplitude: `(1/tau_ref) * f(J)`). The caller multiplies the derivative
//! returned here by `scale` to get `d out / d pre`.
//!
//! LIF rate has no useful gradient below threshold, so it trains with the
//! derivative of NengoDL's `SoftLIFRate` (Hunsberger & Eliasmith 2015): the
//! threshold is smoothed with `softplus`, `z = sigma*log(1 + exp((J-1)/sigma))`,
//! `rate = amplitude / (tau_ref + tau_rc*log1p(1/z))`. By default the forward
//! pass stays the exact LIF rate (what the rate model computes when run) and
//! only the gradient is smoothed; [`LifMode::Smoothed`] also uses the smooth
//! function forward, as NengoDL's `lif_smoothing` setting does.

use snnc_compiler::ir::Neuron;

use crate::engine::Real;

/// How LIF-rate neurons are trained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LifMode {
    /// Forward: the exact LIF rate. Backward: the derivative of SoftLIFRate
    /// with this `sigma` (a straight-through smoothed gradient).
    SmoothedGradient { sigma: f64 },
    /// Forward and backward: SoftLIFRate with this `sigma`.
    Smoothed { sigma: f64 },
}

impl Default for LifMode {
    fn default() -> Self {
        LifMode::SmoothedGradient { sigma: 1.0 }
    }
}

/// A node's rate neuron with the node's scale folded in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Act {
    /// `amp * max(J, 0)`, `amp = amplitude / scale`.
    Relu { amp: f64 },
    /// `max_rate / (1 + exp(-J))`.
    Sigmoid { max_rate: f64 },
    /// `max_rate * tanh(J)`.
    Tanh { max_rate: f64 },
    /// LIF rate, `amp = amplitude / scale`.
    Lif {
        tau_rc: f64,
        tau_ref: f64,
        amp: f64,
        sigma: f64,
        soft_forward: bool,
    },
}

impl Act {
    /// The rate neuron that trains in place of `neuron` in a node with
    /// `scale_firing_rates = scale`.
    pub(crate) fn new(neuron: Neuron, scale: f64, lif: LifMode) -> Act {
        match neuron.rate_equivalent() {
            Neuron::RectifiedLinear { amplitude }
            | Neuron::SpikingRectifiedLinear { amplitude } => Act::Relu {
                amp: amplitude / scale,
            },
            Neuron::Sigmoid { tau_ref } => Act::Sigmoid {
                max_rate: 1.0 / tau_ref,
            },
            Neuron::Tanh { tau_ref } => Act::Tanh {
                max_rate: 1.0 / tau_ref,
            },
            Neuron::LifRate {
                tau_rc,
                tau_ref,
                amplitude,
            }
            | Neuron::Lif {
                tau_rc,
                tau_ref,
                amplitude,
                ..
            } => {
                let (sigma, soft_forward) = match lif {
                    LifMode::SmoothedGradient { sigma } => (sigma, false),
                    LifMode::Smoothed { sigma } => (sigma, true),
                };
                Act::Lif {
                    tau_rc,
                    tau_ref,
                    amp: amplitude / scale,
                    sigma,
                    soft_forward,
                }
            }
        }
    }

    /// Firing rate (Hz) per unit of output: `1 / amp` for ReLU and LIF,
    /// whose output is `amp` times the rate; sigmoid and tanh output the
    /// rate itself.
    pub(crate) fn hz_per_output(&self) -> f64 {
        match *self {
            Act::Relu { amp } | Act::Lif { amp, .. } if amp > 0.0 => 1.0 / amp,
            Act::Relu { .. } | Act::Lif { .. } | Act::Sigmoid { .. } | Act::Tanh { .. } => 1.0,
        }
    }

    /// Whether the backward pass needs the current `J` (LIF), or can work
    /// from the output alone (so `J` need not be kept).
    pub(crate) fn needs_current(&self) -> bool {
        match *self {
            Act::Relu { amp } => amp <= 0.0,
            Act::Sigmoid { .. } | Act::Tanh { .. } => false,
            Act::Lif { .. } => true,
        }
    }

    /// `buf = f(scale * buf)`: the forward pass in place, for a neuron that
    /// does not need `J` later.
    #[inline(always)]
    pub(crate) fn forward_in_place<T: Real>(&self, scale: f64, buf: &mut [T]) {
        let (c, s) = (T::from_f64, T::from_f64(scale));
        match *self {
            Act::Relu { amp } if scale == 1.0 && amp == 1.0 => {
                for v in buf.iter_mut() {
                    *v = v.max(T::zero());
                }
            }
            Act::Relu { amp } => {
                let a = c(amp);
                for v in buf.iter_mut() {
                    *v = a * (s * *v).max(T::zero());
                }
            }
            Act::Sigmoid { max_rate } => {
                let m = c(max_rate);
                for v in buf.iter_mut() {
                    *v = m / (T::one() + (-(s * *v)).exp());
                }
            }
            Act::Tanh { max_rate } => {
                let m = c(max_rate);
                for v in buf.iter_mut() {
                    *v = m * (s * *v).tanh();
                }
            }
            Act::Lif {
                tau_rc,
                tau_ref,
                amp,
                sigma,
                soft_forward,
            } => {
                let p = LifT::new(tau_rc, tau_ref, amp, sigma);
                for v in buf.iter_mut() {
                    let j = s * *v;
                    *v = if soft_forward {
                        p.soft(j).0
                    } else {
                        p.exact(j)
                    };
                }
            }
        }
    }

    /// `out = f(j)`.
    #[inline(always)]
    pub(crate) fn forward<T: Real>(&self, j: &[T], out: &mut [T]) {
        let c = T::from_f64;
        match *self {
            Act::Relu { amp } => {
                let amp = c(amp);
                for (o, &x) in out.iter_mut().zip(j) {
                    *o = amp * x.max(T::zero());
                }
            }
            Act::Sigmoid { max_rate } => {
                let m = c(max_rate);
                for (o, &x) in out.iter_mut().zip(j) {
                    *o = m / (T::one() + (-x).exp());
                }
            }
            Act::Tanh { max_rate } => {
                let m = c(max_rate);
                for (o, &x) in out.iter_mut().zip(j) {
                    *o = m * x.tanh();
                }
            }
            Act::Lif {
                tau_rc,
                tau_ref,
                amp,
                sigma,
                soft_forward,
            } => {
                let p = LifT::new(tau_rc, tau_ref, amp, sigma);
                for (o, &x) in out.iter_mut().zip(j) {
                    *o = if soft_forward {
                        p.soft(x).0
                    } else {
                        p.exact(x)
                    };
                }
            }
        }
    }

    /// `g *= f'(j)` (the smoothed derivative for LIF), where `out = f(j)`
    /// is the forward output; `j` is only read when [`Act::needs_current`].
    #[inline(always)]
    pub(crate) fn backward<T: Real>(&self, j: &[T], out: &[T], g: &mut [T]) {
        let c = T::from_f64;
        match *self {
            Act::Relu { amp } if amp > 0.0 => {
                // out > 0 exactly when J > 0.
                let amp = c(amp);
                for (g, &y) in g.iter_mut().zip(out) {
                    *g = if y > T::zero() { *g * amp } else { T::zero() };
                }
            }
            Act::Relu { amp } => {
                let amp = c(amp);
                for (g, &x) in g.iter_mut().zip(j) {
                    *g = if x > T::zero() { *g * amp } else { T::zero() };
                }
            }
            Act::Sigmoid { max_rate } => {
                // out = m*s, f' = m*s*(1-s) = out*(1 - out/m).
                let inv_m = c(1.0 / max_rate);
                for (g, &y) in g.iter_mut().zip(out) {
                    *g = *g * (y * (T::one() - y * inv_m));
                }
            }
            Act::Tanh { max_rate } => {
                // out = m*t, f' = m*(1-t^2) = m - out^2/m.
                let (m, inv_m) = (c(max_rate), c(1.0 / max_rate));
                for (g, &y) in g.iter_mut().zip(out) {
                    *g = *g * (m - y * y * inv_m);
                }
            }
            Act::Lif {
                tau_rc,
                tau_ref,
                amp,
                sigma,
                ..
            } => {
                let p = LifT::new(tau_rc, tau_ref, amp, sigma);
                for (g, &x) in g.iter_mut().zip(j) {
                    *g = *g * p.soft(x).1;
                }
            }
        }
    }
}

/// LIF coefficients in `T`.
struct LifT<T> {
    tau_rc: T,
    tau_ref: T,
    amp: T,
    sigma: T,
    inv_sigma: T,
    ln_sigma: T,
}

impl<T: Real> LifT<T> {
    fn new(tau_rc: f64, tau_ref: f64, amp: f64, sigma: f64) -> Self {
        let c = T::from_f64;
        LifT {
            tau_rc: c(tau_rc),
            tau_ref: c(tau_ref),
            amp: c(amp),
            sigma: c(sigma),
            inv_sigma: c(1.0 / sigma),
            ln_sigma: c(sigma.ln()),
        }
    }

    /// Nengo's LIF rate: `amp / (tau_ref + tau_rc*log1p(1/(J-1)))` above
    /// threshold, else 0.
    #[inline]
    fn exact(&self, j: T) -> T {
        let x = j - T::one();
        if x > T::zero() {
            self.amp / (self.tau_ref + self.tau_rc * (T::one() / x).ln_1p())
        } else {
            T::zero()
        }
    }

    /// SoftLIFRate and its derivative with respect to `J`, following
    /// NengoDL's `SoftLIFRateBuilder` (including its `js > -20` branch, where
    /// `log1p(1/z)` is replaced by its asymptote `-js - log(sigma)`).
    #[inline]
    fn soft(&self, j: T) -> (T, T) {
        let one = T::one();
        let x = j - one;
        let y = x * self.inv_sigma;
        let (q, dq) = if y > T::from_f64(-20.0) {
            // z = sigma*softplus(y); dz/dx = sigmoid(y).
            let (z, s) = if y > T::from_f64(20.0) {
                (x, one)
            } else {
                (self.sigma * y.exp().ln_1p(), one / (one + (-y).exp()))
            };
            // q = log1p(1/z), dq/dz = -1/(z(z+1)).
            ((one / z).ln_1p(), -s / (z * (z + one)))
        } else {
            (-y - self.ln_sigma, -self.inv_sigma)
        };
        let den = self.tau_ref + self.tau_rc * q;
        let rate = self.amp / den;
        // d rate/dJ = -amp*tau_rc/den^2 * dq/dx.
        (rate, -(rate / den) * self.tau_rc * dq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(act: Act, j: f64) -> (f64, f64) {
        let mut out = [0.0];
        act.forward(&[j], &mut out);
        let mut g = [1.0];
        act.backward(&[j], &out, &mut g);
        (out[0], g[0])
    }

    /// Central difference of the forward function.
    fn fd(act: Act, j: f64) -> f64 {
        let h = 1e-6 * j.abs().max(1.0);
        (eval(act, j + h).0 - eval(act, j - h).0) / (2.0 * h)
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (a.abs().max(b.abs()).max(1e-3))
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        let acts = [
            Act::new(
                Neuron::RectifiedLinear { amplitude: 1.0 },
                1.0,
                LifMode::default(),
            ),
            Act::new(
                Neuron::SpikingRectifiedLinear { amplitude: 0.5 },
                4.0,
                LifMode::default(),
            ),
            Act::new(Neuron::Sigmoid { tau_ref: 1.0 }, 1.0, LifMode::default()),
            Act::new(Neuron::Sigmoid { tau_ref: 0.002 }, 3.0, LifMode::default()),
            Act::new(Neuron::Tanh { tau_ref: 1.0 }, 1.0, LifMode::default()),
            Act::new(Neuron::Tanh { tau_ref: 0.01 }, 1.0, LifMode::default()),
        ];
        for act in acts {
            for &j in &[-3.0, -0.7, -0.01, 0.013, 0.4, 1.0, 2.5, 7.0] {
                let (_, d) = eval(act, j);
                assert!(
                    close(d, fd(act, j), 1e-5),
                    "{act:?} at {j}: {d} vs {}",
                    fd(act, j)
                );
            }
        }
    }

    #[test]
    fn relu_rate_is_identity_for_any_scale() {
        let act = Act::new(
            Neuron::SpikingRectifiedLinear { amplitude: 1.0 },
            50.0,
            LifMode::default(),
        );
        // J = 50*pre, out = (1/50)*max(J, 0) = max(pre, 0).
        let pre = [-1.0, 0.5, 2.0];
        let j: Vec<f64> = pre.iter().map(|p| 50.0 * p).collect();
        let mut out = [0.0; 3];
        act.forward(&j, &mut out);
        assert_eq!(out, [0.0, 0.5, 2.0]);
    }

    #[test]
    fn lif_exact_forward_matches_nengo_and_gradient_is_soft() {
        let lif = Neuron::Lif {
            tau_rc: 0.02,
            tau_ref: 0.002,
            min_voltage: 0.0,
            amplitude: 1.0,
        };
        let act = Act::new(lif, 1.0, LifMode::default());
        let soft = Act::new(lif, 1.0, LifMode::Smoothed { sigma: 1.0 });
        // Nengo LIFRate at J = 2: 1/(0.002 + 0.02*log(2)).
        let (r, _) = eval(act, 2.0);
        assert!(close(r, 1.0 / (0.002 + 0.02 * 2f64.ln()), 1e-14));
        assert_eq!(eval(act, 0.5).0, 0.0);
        for &j in &[
            -30.0, -19.5, -5.0, 0.0, 0.5, 0.99, 1.0, 1.01, 1.5, 3.0, 10.0, 25.0, 100.0,
        ] {
            // The gradient is the soft function's own derivative.
            let (_, d) = eval(act, j);
            let (_, d_soft) = eval(soft, j);
            assert_eq!(d, d_soft);
            let want = fd(soft, j);
            assert!(close(d, want, 1e-6), "lif at {j}: {d} vs {want}");
            assert!(
                d > 0.0,
                "the smoothed gradient is positive everywhere ({j}: {d})"
            );
        }
        // Far above threshold the soft and exact rates agree.
        assert!(close(eval(soft, 50.0).0, eval(act, 50.0).0, 1e-6));
    }

    #[test]
    fn lif_amplitude_and_scale() {
        // scale 10: J = 10*pre, amplitude 1/10.
        let lif = Neuron::LifRate {
            tau_rc: 0.02,
            tau_ref: 0.002,
            amplitude: 2.0,
        };
        let act = Act::new(lif, 10.0, LifMode::default());
        let (r, _) = eval(act, 3.0);
        assert!(close(r, 0.2 / (0.002 + 0.02 * 0.5f64.ln_1p()), 1e-14));
        for &j in &[0.3, 1.2, 4.0] {
            let soft = Act::new(lif, 10.0, LifMode::Smoothed { sigma: 0.5 });
            assert!(close(eval(soft, j).1, fd(soft, j), 1e-6));
        }
    }

    #[test]
    fn lif_gradient_is_finite_in_f32() {
        let act = Act::new(
            Neuron::LifRate {
                tau_rc: 0.02,
                tau_ref: 0.002,
                amplitude: 1.0,
            },
            1.0,
            LifMode::default(),
        );
        let j: Vec<f32> = vec![
            -1e30,
            -200.0,
            -21.0,
            -19.0,
            0.0,
            1.0,
            1.0 + 1e-7,
            30.0,
            1e10,
            1e30,
        ];
        let mut out = vec![0.0f32; j.len()];
        act.forward(&j, &mut out);
        let mut g = vec![1.0f32; j.len()];
        act.backward(&j, &out, &mut g);
        assert!(
            out.iter().chain(&g).all(|x| x.is_finite() && *x >= 0.0),
            "{out:?} {g:?}"
        );
    }
}
