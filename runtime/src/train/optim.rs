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
    pub(crate) fn step(&mut self, params: &mut [T], grads: &[T]) {
        let c = T::from_f64;
        let factor = self.lr_factor();
        let opt = match self.opt {
            Optimizer::Rmsprop { lr, rho, epsilon } => Optimizer::Rmsprop {
                lr: lr * factor,
                rho,
                epsilon,
            },
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
            } => Optimizer::Adam {
                lr: lr * factor,
                beta1,
                beta2,
                epsilon,
            },
            Optimizer::Sgd { lr, momentum } => Optimizer::Sgd {
                lr: lr * factor,
                momentum,
            },
        };
        match opt {
            Optimizer::Rmsprop { lr, rho, epsilon } => {
                let (lr, rho, one_m_rho, eps) = (c(lr), c(rho), c(1.0 - rho), c(epsilon));
                for ((p, v), &g) in params.iter_mut().zip(&mut self.v).zip(grads) {
                    *v = rho * *v + one_m_rho * (g * g);
                    *p = *p - (lr * g) / (*v + eps).sqrt();
                }
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
            } => {
                let t = c((self.iterations + 1) as f64);
                let b1p = c(beta1).powf(t);
                let b2p = c(beta2).powf(t);
                let alpha = c(lr) * (T::one() - b2p).sqrt() / (T::one() - b1p);
                let (one_m_b1, one_m_b2, eps) = (c(1.0 - beta1), c(1.0 - beta2), c(epsilon));
                for (((p, m), v), &g) in params
                    .iter_mut()
                    .zip(&mut self.m)
                    .zip(&mut self.v)
                    .zip(grads)
                {
                    *m = *m + (g - *m) * one_m_b1;
                    *v = *v + (g * g - *v) * one_m_b2;
                    *p = *p - (*m * alpha) / (v.sqrt() + eps);
                }
            }
            Optimizer::Sgd { lr, momentum } => {
                let lr = c(lr);
                if momentum != 0.0 {
                    let mom = c(momentum);
                    for ((p, m), &g) in params.iter_mut().zip(&mut self.m).zip(grads) {
                        *m = *m * mom - g * lr;
                        *p = *p + *m;
                    }
                } else {
                    for (p, &g) in params.iter_mut().zip(grads) {
                        *p = *p - g * lr;
                    }
                }
            }
        }
        self.iterations += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
