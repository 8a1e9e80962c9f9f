//! Losses, per example: the value and the gradient with respect to the
//! probed node's output.
//!
//! Keras averages a loss over the minibatch ("sum over batch size"), so the
//! gradient of one example is scaled by `1/B` (`gscale`). Several losses add
//! up (Keras' total loss with unit loss weights).

use snnc_compiler::ir::LossKind;

use crate::engine::Real;

/// The loss of one example whose probed output is `y` (label `label`), and
/// `grad += gscale * dloss/dy`.
pub(crate) fn example<T: Real>(
    kind: LossKind,
    y: &[T],
    label: usize,
    gscale: T,
    grad: Option<&mut [T]>,
) -> f64 {
    match kind {
        LossKind::SparseCategoricalCrossentropy => scce(y, label, gscale, grad),
        LossKind::MeanSquaredError => mse(y, label, gscale, grad),
        LossKind::RateInRange { min, max, weight } => {
            rate_in_range(y, min, max, weight, gscale, grad)
        }
        LossKind::RateMse { target, weight } => rate_mse(y, target, weight, gscale, grad),
    }
}

/// Sparse categorical cross-entropy from logits:
/// `logsumexp(z) - z[label]`; gradient `softmax(z) - onehot(label)`.
fn scce<T: Real>(z: &[T], label: usize, gscale: T, grad: Option<&mut [T]>) -> f64 {
    let m = z
        .iter()
        .fold(T::neg_infinity(), |a, &b| if b > a { b } else { a });
    let mut sum = T::zero();
    for &v in z {
        sum = sum + (v - m).exp();
    }
    let lse = m + sum.ln();
    if let Some(grad) = grad {
        let inv = gscale / sum;
        for (k, (g, &v)) in grad.iter_mut().zip(z).enumerate() {
            let p = (v - m).exp() * inv;
            *g = *g + if k == label { p - gscale } else { p };
        }
    }
    Real::to_f64(lse - z[label])
}

/// Mean squared error against the one-hot label, averaged over units
/// (Keras' `MeanSquaredError`).
fn mse<T: Real>(y: &[T], label: usize, gscale: T, grad: Option<&mut [T]>) -> f64 {
    let n = y.len();
    let mut sum = 0.0;
    for (k, &v) in y.iter().enumerate() {
        let d = Real::to_f64(v) - if k == label { 1.0 } else { 0.0 };
        sum += d * d;
    }
    if let Some(grad) = grad {
        let c = gscale * T::from_f64(2.0 / n as f64);
        for (k, (g, &v)) in grad.iter_mut().zip(y).enumerate() {
            let t = if k == label { T::one() } else { T::zero() };
            *g = *g + c * (v - t);
        }
    }
    sum / n as f64
}

/// `weight * mean over neurons of the distance (Hz) outside [min, max]`;
/// the mean over images comes from the batch averaging. The gradient is
/// `-weight/n` below `min`, `+weight/n` above `max`, 0 inside.
fn rate_in_range<T: Real>(
    r: &[T],
    min: f64,
    max: f64,
    weight: f64,
    gscale: T,
    grad: Option<&mut [T]>,
) -> f64 {
    let n = r.len();
    let (lo, hi) = (T::from_f64(min), T::from_f64(max));
    let mut sum = 0.0;
    for &v in r {
        if v < lo {
            sum += Real::to_f64(lo - v);
        } else if v > hi {
            sum += Real::to_f64(v - hi);
        }
    }
    if let Some(grad) = grad {
        let c = gscale * T::from_f64(weight / n as f64);
        for (g, &v) in grad.iter_mut().zip(r) {
            if v < lo {
                *g = *g - c;
            } else if v > hi {
                *g = *g + c;
            }
        }
    }
    weight * sum / n as f64
}

/// `weight * mean over neurons of (r - target)^2` (NengoDL's keras-to-snn
/// rate regulariser: Keras' `mse` against a constant target with a loss
/// weight); the mean over images comes from the batch averaging. The
/// gradient is `2 * weight/n * (r - target)`.
fn rate_mse<T: Real>(r: &[T], target: f64, weight: f64, gscale: T, grad: Option<&mut [T]>) -> f64 {
    let n = r.len();
    let sum: f64 = r
        .iter()
        .map(|&v| {
            let d = Real::to_f64(v) - target;
            d * d
        })
        .sum();
    if let Some(grad) = grad {
        let c = gscale * T::from_f64(2.0 * weight / n as f64);
        let t = T::from_f64(target);
        for (g, &v) in grad.iter_mut().zip(r) {
            *g = *g + c * (v - t);
        }
    }
    weight * sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_grad(kind: LossKind, y: &[f64], label: usize) {
        let mut g = vec![0.0; y.len()];
        example(kind, y, label, 0.5, Some(&mut g));
        for k in 0..y.len() {
            let h = 1e-6;
            let mut yp = y.to_vec();
            yp[k] += h;
            let mut ym = y.to_vec();
            ym[k] -= h;
            let fd = 0.5
                * (example(kind, &yp, label, 1.0, None) - example(kind, &ym, label, 1.0, None))
                / (2.0 * h);
            assert!(
                (g[k] - fd).abs() <= 1e-8 * (1.0 + fd.abs()),
                "{kind:?} unit {k}: {} vs {fd}",
                g[k]
            );
        }
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        let y = [0.3, -1.2, 2.5, 0.0, 0.7];
        check_grad(LossKind::SparseCategoricalCrossentropy, &y, 2);
        check_grad(LossKind::SparseCategoricalCrossentropy, &y, 1);
        check_grad(LossKind::MeanSquaredError, &y, 0);
        // Rates in Hz: some below, some inside, some above [0.5, 2].
        check_grad(
            LossKind::RateInRange {
                min: 0.5,
                max: 2.0,
                weight: 3.0,
            },
            &y,
            0,
        );
        check_grad(
            LossKind::RateMse {
                target: 0.4,
                weight: 3.0,
            },
            &y,
            0,
        );
    }

    #[test]
    fn loss_values_by_hand() {
        // log(e^1 + e^2 + e^3) - 2
        let v = example(
            LossKind::SparseCategoricalCrossentropy,
            &[1.0f64, 2.0, 3.0],
            1,
            1.0,
            None,
        );
        assert!((v - ((1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 2.0)).abs() < 1e-12);
        // Huge logits do not overflow.
        let v = example(
            LossKind::SparseCategoricalCrossentropy,
            &[1000.0f32, 0.0],
            1,
            1.0,
            None,
        );
        assert_eq!(v, 1000.0);
        // ((0.5-1)^2 + 0.5^2 + 0) / 3
        let v = example(
            LossKind::MeanSquaredError,
            &[0.5f64, 0.5, 0.0],
            0,
            1.0,
            None,
        );
        assert!((v - 0.5 / 3.0).abs() < 1e-15);
        // Rates 10 Hz (40 below), 100 (inside), 400 (100 above) in [50, 300]:
        // weight 2 * mean(40, 0, 100) = 2 * 140/3.
        let v = example(
            LossKind::RateInRange {
                min: 50.0,
                max: 300.0,
                weight: 2.0,
            },
            &[10.0f64, 100.0, 400.0],
            0,
            1.0,
            None,
        );
        assert!((v - 280.0 / 3.0).abs() < 1e-12);
        // Rates 150 and 350 Hz against 250: 1e-3 * mean(100^2, 100^2) = 10.
        let v = example(
            LossKind::RateMse {
                target: 250.0,
                weight: 1e-3,
            },
            &[150.0f64, 350.0],
            0,
            1.0,
            None,
        );
        assert!((v - 10.0).abs() < 1e-12);
    }
}
