//! Optimizers, following Keras 3's `update_step` formulas operation by
//! operation (in the parameters' dtype, with Python-float constants such
//! as `1 - rho` computed in f64 and then cast, as TensorFlow does):
//!
//! - RMSprop: `v = rho*v + (1-rho)*g^2; p -= lr*g / sqrt(v + eps)`
//!   (Keras 3 puts epsilon inside the square root; Keras 2 / tf.keras
//!   `optimizer_v2` did too);
//! - Adam: `m += (g - m)*(1-b1); v += (g^2 - v)*(1-b2);
//!   p -= m*alpha / (sqrt(v) + eps)` with
//!   `alpha = lr*sqrt(1 - b2^t)/(1 - b1^t)`, t = step number from 1;
//! - SGD: `m = momentum*m - lr*g; p += m` (plain `p -= lr*g` without
//!   momentum).

use snnc_compiler::ir::{Optimizer, Schedule};

use crate::engine::Real;

pub(crate) struct OptState<T> {
    opt: Optimizer,
    /// Adam's first moment, SGD's momentum.
    m: Vec<T>,
    /// RMSprop's and Adam's second moment.
    v: Vec<T>,
    /// Steps taken (Keras' `iterations`).
    iterations: u64,
    schedule: Schedule,
    /// Steps the schedule spans (the whole run).
    total_steps: u64,
}

impl<T: Real> OptState<T> {
    pub(crate) fn new(opt: Optimizer, n: usize) -> Self {
        let (m, v) = match opt {
            Optimizer::Rmsprop { .. } => (0, n),
            Optimizer::Adam { .. } => (n, n),
            Optimizer::Sgd { momentum, .. } => (if momentum != 0.0 { n } else { 0 }, 0),
        };
        OptState {
            opt,
            m: vec![T::zero(); m],
            v: vec![T::zero(); v],
            iterations: 0,
            schedule: Schedule::Constant,
            total_steps: 1,
        }
    }

    /// Makes the learning rate follow `schedule` over `total_steps` steps.
    pub(crate) fn set_schedule(&mut self, schedule: Schedule, total_steps: u64) {
        self.schedule = schedule;
        self.total_steps = total_steps.max(1);
    }

    /// The learning rate's multiplier at the current step (Keras evaluates
    /// a schedule at `iterations`, the number of steps already taken).
    fn lr_factor(&self) -> f64 {
        match self.schedule {
            Schedule::Constant => 1.0,
            Schedule::Cosine => {
                let t = self.iterations.min(self.total_steps) as f64 / self.total_steps as f64;
                0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    /// One update of `params` with the minibatch gradient `grads`.
    #[cfg(test)]
    pub(crate) fn step(&mut self, params: &mut [T], grads: &[T]) {
        self.step_chunks(params, &mut grads.to_vec(), 1, &|_, _| {});
    }

    /// One update, with the params cut into `chunks` pieces updated on as
    /// many threads (the update is per parameter, so the bits do not depend
    /// on the cut). `prepare(range, grads)` runs on each piece's thread
    /// first, with write access to its gradients: where the partition sums
    /// are added up, in parallel too.
    pub(crate) fn step_chunks(
        &mut self,
        params: &mut [T],
        grads: &mut [T],
        chunks: usize,
        prepare: &(dyn Fn(std::ops::Range<usize>, &mut [T]) + Sync),
    ) {
        let update = self.update();
        let n = params.len();
        // Pieces a multiple of 64 values (no cache line shared).
        let per = n.div_ceil(chunks.max(1)).div_ceil(64) * 64;
        let per = per.max(64);
        let (m_all, v_all) = (&mut self.m[..], &mut self.v[..]);
        let mut pieces = Vec::new();
        let (mut p, mut g, mut m, mut v) = (params, grads, m_all, v_all);
        let mut at = 0;
        while at < n {
            let len = per.min(n - at);
            let (p0, p1) = p.split_at_mut(len);
            let (g0, g1) = g.split_at_mut(len);
            let (m0, m1) = m.split_at_mut(len.min(m.len()));
            let (v0, v1) = v.split_at_mut(len.min(v.len()));
            pieces.push((at..at + len, p0, g0, m0, v0));
            (p, g, m, v) = (p1, g1, m1, v1);
            at += len;
        }
        let run = &|(range, p, g, m, v): Piece<'_, T>| {
            prepare(range, &mut *g);
            update.apply(p, g, m, v);
        };
        std::thread::scope(|s| {
            let mut pieces = pieces.into_iter();
            let first = pieces.next();
            for piece in pieces {
                s.spawn(move || run(piece));
            }
            if let Some(piece) = first {
                run(piece);
            }
        });
        self.iterations += 1;
    }

    /// This step's update rule, with its constants.
    fn update(&self) -> Update<T> {
        let c = T::from_f64;
        let factor = self.lr_factor();
        match self.opt {
            Optimizer::Rmsprop { lr, rho, epsilon } => Update::Rmsprop {
                lr: c(lr * factor),
                rho: c(rho),
                one_m_rho: c(1.0 - rho),
                eps: c(epsilon),
            },
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
            } => {
                let t = c((self.iterations + 1) as f64);
                let b1p = c(beta1).powf(t);
                let b2p = c(beta2).powf(t);
                Update::Adam {
                    alpha: c(lr * factor) * (T::one() - b2p).sqrt() / (T::one() - b1p),
                    one_m_b1: c(1.0 - beta1),
                    one_m_b2: c(1.0 - beta2),
                    eps: c(epsilon),
                }
            }
            Optimizer::Sgd { lr, momentum } => Update::Sgd {
                lr: c(lr * factor),
                momentum: (momentum != 0.0).then(|| c(momentum)),
            },
        }
    }
}

/// A piece of the params: its range, params, gradients and optimizer
/// state (empty where the optimizer keeps none).
type Piece<'a, T> = (
    std::ops::Range<usize>,
    &'a mut [T],
    &'a mut [T],
    &'a mut [T],
    &'a mut [T],
);

/// One step's update rule with its constants (Keras' formulas).
#[derive(Clone, Copy)]
enum Update<T> {
    Rmsprop {
        lr: T,
        rho: T,
        one_m_rho: T,
        eps: T,
    },
    Adam {
        alpha: T,
        one_m_b1: T,
        one_m_b2: T,
        eps: T,
    },
    Sgd {
        lr: T,
        momentum: Option<T>,
    },
}

impl<T: Real> Update<T> {
    /// Updates `params` from `grads`; `m` and `v` are the optimizer's
    /// first and second moments for them (empty when it keeps none).
    fn apply(self, params: &mut [T], grads: &[T], m: &mut [T], v: &mut [T]) {
        match self {
            Update::Rmsprop {
                lr,
                rho,
                one_m_rho,
                eps,
            } => {
                for ((p, v), &g) in params.iter_mut().zip(v).zip(grads) {
                    *v = rho * *v + one_m_rho * (g * g);
                    *p = *p - (lr * g) / (*v + eps).sqrt();
                }
            }
            Update::Adam {
                alpha,
                one_m_b1,
                one_m_b2,
                eps,
            } => {
                for (((p, m), v), &g) in params.iter_mut().zip(m).zip(v).zip(grads) {
                    *m = *m + (g - *m) * one_m_b1;
                    *v = *v + (g * g - *v) * one_m_b2;
                    *p = *p - (*m * alpha) / (v.sqrt() + eps);
                }
            }
            Update::Sgd {
                lr,
                momentum: Some(mom),
            } => {
                for ((p, m), &g) in params.iter_mut().zip(m).zip(grads) {
                    *m = *m * mom - g * lr;
                    *p = *p + *m;
                }
            }
            Update::Sgd { lr, momentum: None } => {
                for (p, &g) in params.iter_mut().zip(grads) {
                    *p = *p - g * lr;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_cut_into_pieces_give_the_same_bits() {
        // Three steps of each optimizer on 1000 params, on 1 to 4 threads,
        // with the gradients doubled in `prepare` (where the trainer adds
        // its partitions): the same params, moments and bits.
        let opts = [
            Optimizer::Rmsprop {
                lr: 0.01,
                rho: 0.9,
                epsilon: 1e-7,
            },
            Optimizer::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7,
            },
            Optimizer::Sgd {
                lr: 0.05,
                momentum: 0.9,
            },
            Optimizer::Sgd {
                lr: 0.05,
                momentum: 0.0,
            },
        ];
        let n = 1000;
        for opt in opts {
            let run = |chunks: usize| {
                let mut st = OptState::<f32>::new(opt, n);
                st.set_schedule(Schedule::Cosine, 5);
                let mut p: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
                for step in 0..3 {
                    let mut g: Vec<f32> = (0..n)
                        .map(|i| ((i * 7 + step) as f32 * 0.11).cos())
                        .collect();
                    st.step_chunks(&mut p, &mut g, chunks, &|range, g| {
                        assert_eq!(range.len(), g.len());
                        for v in g.iter_mut() {
                            *v = *v + *v;
                        }
                    });
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                (bits(&p), bits(&st.m), bits(&st.v))
            };
            let one = run(1);
            assert!(one
                .0
                .iter()
                .zip(0..n)
                .any(|(&b, i)| b != ((i as f32 * 0.37).sin()).to_bits()));
            for chunks in 2..=4 {
                assert!(run(chunks) == one, "{opt:?} on {chunks} threads");
            }
        }
    }

    #[test]
    fn cosine_schedule_follows_keras_cosine_decay() {
        // SGD moves by lr * g, so each step shows the scheduled rate:
        // 0.1 * (1 + cos(pi * t / 4)) / 2 for t = 0..4, then 0.
        let mut st = OptState::<f64>::new(
            Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.0,
            },
            1,
        );
        st.set_schedule(Schedule::Cosine, 4);
        let mut p = [0.0];
        let mut moved = Vec::new();
        for _ in 0..5 {
            let before = p[0];
            st.step(&mut p, &[-1.0]);
            moved.push(p[0] - before);
        }
        let half = std::f64::consts::FRAC_1_SQRT_2;
        let want = [0.1, 0.05 * (1.0 + half), 0.05, 0.05 * (1.0 - half), 0.0];
        for (got, want) in moved.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{moved:?}");
        }
    }

    #[test]
    fn rmsprop_two_steps_by_hand() {
        let mut st = OptState::<f64>::new(
            Optimizer::Rmsprop {
                lr: 0.1,
                rho: 0.9,
                epsilon: 1e-7,
            },
            1,
        );
        let mut p = [1.0];
        st.step(&mut p, &[2.0]);
        // v = 0.1*4 = 0.4; p = 1 - 0.1*2/sqrt(0.4 + 1e-7)
        let v1: f64 = 0.4;
        let p1 = 1.0 - 0.2 / (v1 + 1e-7).sqrt();
        assert!((p[0] - p1).abs() < 1e-15);
        st.step(&mut p, &[-1.0]);
        let v2 = 0.9 * v1 + 0.1 * 1.0;
        assert!((p[0] - (p1 + 0.1 / (v2 + 1e-7).sqrt())).abs() < 1e-15);
    }

    #[test]
    fn adam_steps_by_hand() {
        let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-7);
        let mut st = OptState::<f64>::new(
            Optimizer::Adam {
                lr,
                beta1: b1,
                beta2: b2,
                epsilon: eps,
            },
            1,
        );
        let mut p = [0.5];
        let (mut m, mut v, mut want) = (0.0f64, 0.0f64, 0.5f64);
        for (t, g) in [0.3, -0.2, 0.1].into_iter().enumerate() {
            st.step(&mut p, &[g]);
            let t = (t + 1) as f64;
            m += (g - m) * (1.0 - b1);
            v += (g * g - v) * (1.0 - b2);
            let alpha = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
            want -= m * alpha / (v.sqrt() + eps);
            assert!((p[0] - want).abs() < 1e-15, "step {t}: {} vs {want}", p[0]);
        }
        // The first Adam step moves by about lr whatever the gradient's size.
        let mut st = OptState::<f64>::new(
            Optimizer::Adam {
                lr,
                beta1: b1,
                beta2: b2,
                epsilon: eps,
            },
            1,
        );
        let mut p = [0.0];
        st.step(&mut p, &[0.5]);
        assert!((p[0] + lr).abs() < 1e-5);
    }

    #[test]
    fn sgd_with_and_without_momentum() {
        let mut st = OptState::<f64>::new(
            Optimizer::Sgd {
                lr: 0.5,
                momentum: 0.9,
            },
            1,
        );
        let mut p = [1.0];
        st.step(&mut p, &[1.0]); // m = -0.5, p = 0.5
        st.step(&mut p, &[1.0]); // m = -0.45 - 0.5 = -0.95, p = -0.45
        assert!((p[0] + 0.45).abs() < 1e-15);
        let mut st = OptState::<f64>::new(
            Optimizer::Sgd {
                lr: 0.5,
                momentum: 0.0,
            },
            1,
        );
        let mut p = [1.0];
        st.step(&mut p, &[1.0]);
        assert_eq!(p, [0.5]);
    }
}
