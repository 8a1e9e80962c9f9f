//! Synapses (Nengo's `Lowpass` and `Alpha`) and the one-step delay rule.
//!
//! Nengo builds every connection filter in "update" mode: during step k the
//! receiver reads the filter's output as it was at the end of step k-1, and
//! only after every read does the filter take in this step's weighted value.
//! So any synapse, even `Lowpass(0)`, delays by exactly one step, while a
//! connection without a synapse delivers in the same step (semantics.md §2).
//! [`deliver`] is that rule; [`Filter`] is the per-element state.
//!
//! Coefficients are the closed forms of semantics.md §3, computed in f64 and
//! cast to `T`. They can differ from Nengo's `cont2discrete` values by an
//! ulp, which the golden tolerances allow (≤ 6.4e-14 measured, no spike moves).

use snnc_compiler::ir::Synapse;

use crate::engine::Real;

/// Discretised filter coefficients (zero-order hold, step `dt`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coefs<T> {
    /// `y_k = a*y_{k-1} + b*u_k`, `a = exp(-dt/tau)`, `b = -expm1(-dt/tau)`.
    Lowpass { a: T, b: T },
    /// Nengo's state-space form (`LinearFilter.NoD`): `X = A X + B u`,
    /// `y = c1 * X[1]` (C = [0, c1]). Mathematically the same as the
    /// second-order difference equation of semantics.md §3, but with fewer
    /// rounding steps: in f32 it stays within 2e-5 of Nengo's f64 output
    /// where the difference form drifts to 1.2e-4.
    Alpha { a: [[T; 2]; 2], b: [T; 2], c1: T },
}

impl<T: Real> Coefs<T> {
    /// The coefficients of `synapse` at step `dt`; `None` for no synapse.
    pub fn new(synapse: Synapse, dt: f64) -> Option<Self> {
        match synapse {
            Synapse::None => None,
            Synapse::Lowpass { tau } => {
                // tau = 0 gives a = exp(-inf) = 0, b = 1: a pure one-step
                // delay, which is what Nengo's Lowpass(0) does.
                let x = -dt / tau;
                Some(Coefs::Lowpass {
                    a: T::from_f64(x.exp()),
                    b: T::from_f64(-x.exp_m1()),
                })
            }
            Synapse::Alpha { tau } if tau > 0.0 => {
                let a = (-dt / tau).exp();
                let r = dt / tau;
                let f = T::from_f64;
                Some(Coefs::Alpha {
                    a: [
                        [f(a * (1.0 - r)), f(-a * dt / (tau * tau))],
                        [f(a * dt), f(a * (1.0 + r))],
                    ],
                    b: [f(dt * a), f(tau * tau * (1.0 - a * (1.0 + r)))],
                    c1: f(1.0 / (tau * tau)),
                })
            }
            // The limit tau -> 0 is a pure one-step delay, like Lowpass(0);
            // the state-space form itself would divide by zero.
            Synapse::Alpha { .. } => Some(Coefs::Lowpass {
                a: T::zero(),
                b: T::one(),
            }),
        }
    }
}

impl<T: Real> Coefs<T> {
    /// The coefficients of `first` then `then` in series, each in update
    /// mode (the bias path through NengoDL's conv bias relay node: `first`
    /// into the relay, `then` out of it); `None` when neither filters.
    ///
    /// Two low-passes in series are exactly the state-space form with
    /// `X0 = a1 X0 + b1 u` (the relay's filter), `X1 = b2 X0 + a2 X1` (the
    /// second reads the relay's value of the previous step) and `y = X1`:
    /// the same products and sums as two filters run one after the other.
    /// An alpha synapse in a pair would need four states; the checker
    /// refuses it, and this returns an error naming it.
    pub fn chain(first: Synapse, then: Synapse, dt: f64) -> Result<Option<Self>, String> {
        match (Coefs::<f64>::new(first, dt), Coefs::<f64>::new(then, dt)) {
            (None, _) => Ok(Coefs::new(then, dt)),
            (Some(_), None) => Ok(Coefs::new(first, dt)),
            (Some(Coefs::Lowpass { a: a1, b: b1 }), Some(Coefs::Lowpass { a: a2, b: b2 })) => {
                let f = T::from_f64;
                Ok(Some(Coefs::Alpha {
                    a: [[f(a1), T::zero()], [f(b2), f(a2)]],
                    b: [f(b1), T::zero()],
                    c1: T::one(),
                }))
            }
            (Some(Coefs::Lowpass { .. } | Coefs::Alpha { .. }), Some(Coefs::Alpha { .. }))
            | (Some(Coefs::Alpha { .. }), Some(Coefs::Lowpass { .. })) => Err(
                "an alpha synapse in series with another synapse (a conv2d bias through its relay) \
                 is not supported; use low-pass synapses there"
                    .into(),
            ),
        }
    }
}

/// A filter over `n` independent elements, with its state.
#[derive(Clone, Debug)]
pub struct Filter<T> {
    coefs: Coefs<T>,
    /// y_{k-1}: the output as of the end of the last step.
    y1: Vec<T>,
    /// Alpha only (empty for Lowpass): the two state rows X[0], X[1].
    x0: Vec<T>,
    x1: Vec<T>,
}

impl<T: Real> Filter<T> {
    /// A filter of `n` elements with all state at 0 (as Nengo starts it), or
    /// `None` when `synapse` is `Synapse::None`.
    pub fn new(synapse: Synapse, dt: f64, n: usize) -> Option<Self> {
        Self::with_coefs(Coefs::new(synapse, dt)?, n)
    }

    /// A filter of `n` elements with these coefficients, state at 0.
    pub fn with_coefs(coefs: Coefs<T>, n: usize) -> Option<Self> {
        let extra = match coefs {
            Coefs::Lowpass { .. } => 0,
            Coefs::Alpha { .. } => n,
        };
        Some(Filter {
            coefs,
            y1: vec![T::zero(); n],
            x0: vec![T::zero(); extra],
            x1: vec![T::zero(); extra],
        })
    }

    pub fn coefs(&self) -> Coefs<T> {
        self.coefs
    }

    pub fn len(&self) -> usize {
        self.y1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y1.is_empty()
    }

    /// The output as of the end of the previous step: what a reader sees
    /// during this step.
    pub fn output(&self) -> &[T] {
        &self.y1
    }

    /// Takes in this step's input `u` (same length as the filter); call
    /// after every read of [`Filter::output`] for this step.
    pub fn update(&mut self, u: &[T]) {
        match self.coefs {
            Coefs::Lowpass { a, b } => {
                for (y, &u) in self.y1.iter_mut().zip(u) {
                    // Nengo's LinearFilter.OneX: X *= a; X += b*u.
                    *y = a * *y + b * u;
                }
            }
            Coefs::Alpha { a, b, c1 } => {
                let state = self.y1.iter_mut().zip(&mut self.x0).zip(&mut self.x1);
                for (((y, x0), x1), &u) in state.zip(u) {
                    let n0 = a[0][0] * *x0 + a[0][1] * *x1 + b[0] * u;
                    let n1 = a[1][0] * *x0 + a[1][1] * *x1 + b[1] * u;
                    *x0 = n0;
                    *x1 = n1;
                    *y = c1 * n1;
                }
            }
        }
    }

    /// Back to the initial (all-zero) state.
    pub fn reset(&mut self) {
        self.y1.fill(T::zero());
        self.x0.fill(T::zero());
        self.x1.fill(T::zero());
    }
}

/// Adds what a connection delivers this step to `acc`, given its weighted
/// value `u` of this step: `u` itself without a synapse; with one, the filter
/// output as of the end of the last step, after which the filter takes in `u`.
///
/// `gain` multiplies what is delivered, as Nengo's `ElementwiseInc(gains,
/// value, neuron_in)` does for each connection into neurons (the firing-rate
/// scale); it is 1 for connections into linear nodes.
pub fn deliver<T: Real>(filter: Option<&mut Filter<T>>, u: &[T], acc: &mut [T], gain: T) {
    match filter {
        None => {
            for (acc, &u) in acc.iter_mut().zip(u) {
                *acc = *acc + gain * u;
            }
        }
        Some(filter) => {
            for (acc, &y) in acc.iter_mut().zip(filter.output()) {
                *acc = *acc + gain * y;
            }
            filter.update(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f64 = 0.001;

    /// What a receiver sees over `n` steps of the ramp u_k = k (k = 1..=n).
    fn ramp(synapse: Synapse, n: usize) -> Vec<f64> {
        let mut filter = Filter::<f64>::new(synapse, DT, 1);
        (1..=n)
            .map(|k| {
                let mut acc = [0.0];
                deliver(filter.as_mut(), &[k as f64], &mut acc, 1.0);
                acc[0]
            })
            .collect()
    }

    #[test]
    fn no_synapse_delivers_in_the_same_step() {
        assert_eq!(ramp(Synapse::None, 4), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn lowpass_zero_is_a_pure_one_step_delay() {
        assert_eq!(
            ramp(Synapse::Lowpass { tau: 0.0 }, 4),
            vec![0.0, 1.0, 2.0, 3.0]
        );
    }

    #[test]
    fn lowpass_ramp_matches_nengo() {
        // semantics.md §2: Lowpass(0.005) gives 0, 0.18127, 0.51095, ...
        let z = ramp(Synapse::Lowpass { tau: 0.005 }, 4);
        let a = 0.8187307530779818_f64;
        let b = 0.18126924692201812_f64;
        assert_eq!(z[0], 0.0);
        assert!((z[1] - 0.18127).abs() < 1e-5);
        assert!((z[2] - 0.51095).abs() < 1e-5);
        // Hand recursion with Nengo's own coefficients (≤ 1 ulp apart).
        let y1 = b * 1.0;
        let y2 = a * y1 + b * 2.0;
        let y3 = a * y2 + b * 3.0;
        for (got, want) in z[1..].iter().zip([y1, y2, y3]) {
            assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        }
    }

    #[test]
    fn lowpass_coefficients_match_nengo_table() {
        for (tau, a, b) in [
            (0.001, 0.36787944117144233, 0.6321205588285577),
            (0.002, 0.6065306597126334, 0.39346934028736663),
            (0.005, 0.8187307530779818, 0.18126924692201812),
        ] {
            let Some(Coefs::Lowpass { a: ga, b: gb }) =
                Coefs::<f64>::new(Synapse::Lowpass { tau }, DT)
            else {
                panic!("expected lowpass coefficients");
            };
            assert_eq!(ga, a, "a bit for bit (tau {tau})");
            assert!((gb - b).abs() <= 1e-16, "b within an ulp (tau {tau})");
        }
    }

    #[test]
    fn alpha_coefficients_match_semantics_doc() {
        // Nengo's values for tau = 5 ms (semantics.md §3), to an ulp or two.
        let Some(Coefs::Alpha { a, b, c1 }) = Coefs::<f64>::new(Synapse::Alpha { tau: 0.005 }, DT)
        else {
            panic!("expected alpha coefficients");
        };
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-14 * y.abs().max(1.0);
        assert!(close(a[0][0], 0.6549846024623853));
        assert!(close(a[0][1], -32.74923012311927));
        assert!(close(a[1][0], 0.000818730753077982));
        assert!(close(a[1][1], 0.9824769036935781));
        assert!(close(b[0], 8.187307530779817e-4));
        assert!(close(b[1], 4.380774076605443e-7));
        assert!(close(c1, 40000.0));
    }

    #[test]
    fn alpha_ramp_matches_state_space_form() {
        // Nengo's LinearFilter.NoD: X = A X + B u; y = C X, with the closed
        // forms of semantics.md §3, then the one-step delay on top.
        let tau = 0.005_f64;
        let a = (-DT / tau).exp();
        let r = DT / tau;
        let am = [
            [a * (1.0 - r), -a * DT / (tau * tau)],
            [a * DT, a * (1.0 + r)],
        ];
        let bm = [DT * a, tau * tau * (1.0 - a * (1.0 + r))];
        let cm = [0.0, 1.0 / (tau * tau)];
        let mut x = [0.0_f64; 2];
        let mut want = vec![0.0];
        for k in 1..=20 {
            let u = k as f64;
            x = [
                am[0][0] * x[0] + am[0][1] * x[1] + bm[0] * u,
                am[1][0] * x[0] + am[1][1] * x[1] + bm[1] * u,
            ];
            want.push(cm[0] * x[0] + cm[1] * x[1]);
        }
        let got = ramp(Synapse::Alpha { tau }, 21);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-12, "step {}: {g} vs {w}", k + 1);
        }
        assert_eq!(got[0], 0.0);
    }

    #[test]
    fn alpha_has_unit_dc_gain() {
        let mut f = Filter::<f64>::new(Synapse::Alpha { tau: 0.002 }, DT, 2).unwrap();
        for _ in 0..200 {
            f.update(&[1.0, -3.0]);
        }
        assert!((f.output()[0] - 1.0).abs() < 1e-12);
        assert!((f.output()[1] + 3.0).abs() < 1e-12);
        f.reset();
        assert_eq!(f.output(), &[0.0, 0.0]);
    }

    #[test]
    fn alpha_zero_tau_is_a_pure_delay() {
        assert_eq!(
            ramp(Synapse::Alpha { tau: 0.0 }, 4),
            vec![0.0, 1.0, 2.0, 3.0]
        );
    }

    #[test]
    fn f32_filter_runs_in_f32() {
        let mut f = Filter::<f32>::new(Synapse::Lowpass { tau: 0.005 }, DT, 1).unwrap();
        f.update(&[1.0]);
        assert_eq!(f.output()[0], 0.18126924692201812_f64 as f32);
    }
}
