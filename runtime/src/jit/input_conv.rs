//! The weighted value of a connection out of an input node, which the
//! driver computes once per image (see `EdgeSlots::precomputed`).
//!
//! Every op goes through the reference's own layer code except `conv2d`,
//! which is computed here input position by input position: each nonzero
//! input value adds its kernel rows to the outputs its taps reach. That
//! gives the reference's sums bit for bit. For one output, the inputs its
//! taps read come in input order exactly when the taps come in `(kh, kw)`
//! order (`ih = oh*sh + kh - pad` grows with `kh`, `iw` with `kw`), and each
//! position's channels come in channel order, so every output adds the
//! same products in the same order as the reference's `(kh, kw, c)` loop,
//! skipping the same zero inputs. The reference walks every tap of every
//! output and tests its input for zero; here a zero input is skipped once,
//! not once per tap that reads it, and each add is a whole row of output
//! channels. On the seed network at 10 steps this computation was an
//! eighth of the run (docs/architecture.md).

use snnc_compiler::ir::{Op, Window};

use crate::engine::Real;
use crate::reference::layers;

/// `op`'s transform of the input `x` into `out`, as `layers::apply`
/// computes it.
pub fn apply<T: Real>(op: &Op, kernel: &[T], x: &[T], out: &mut [T]) {
    match op {
        Op::Conv2d { window, .. } => conv2d_by_input(window, x, kernel, out),
        Op::Input
        | Op::Dense { .. }
        | Op::DepthwiseConv2d { .. }
        | Op::AvgPool { .. }
        | Op::MaxPool { .. }
        | Op::Flatten
        | Op::Activation
        | Op::Add => layers::apply(op, kernel, x, out),
    }
}

/// The reference's `layers::conv2d`, scattered from the input positions.
fn conv2d_by_input<T: Real>(g: &Window, x: &[T], kernel: &[T], out: &mut [T]) {
    out.fill(T::zero());
    let [h, w, c] = g.input;
    let [_, ow_n, f] = g.output;
    if ow_n * f == 0 || c == 0 {
        return;
    }
    for ih in 0..h {
        for iw in 0..w {
            let Some(xs) = x.get((ih * w + iw) * c..(ih * w + iw + 1) * c) else {
                return;
            };
            if xs.iter().all(|&v| v == T::zero()) {
                continue;
            }
            for kh in 0..g.kernel[0] {
                let Some(oh) = output_of(g, 0, ih, kh) else {
                    continue;
                };
                for kw in 0..g.kernel[1] {
                    let Some(ow) = output_of(g, 1, iw, kw) else {
                        continue;
                    };
                    let tap = kh * g.kernel[1] + kw;
                    let at = (oh * ow_n + ow) * f;
                    let (Some(o), Some(ks)) = (
                        out.get_mut(at..at + f),
                        kernel.get(tap * c * f..(tap + 1) * c * f),
                    ) else {
                        continue;
                    };
                    for (&xv, krow) in xs.iter().zip(ks.chunks_exact(f)) {
                        if xv == T::zero() {
                            continue;
                        }
                        for (o, &k) in o.iter_mut().zip(krow) {
                            *o = *o + xv * k;
                        }
                    }
                }
            }
        }
    }
}

/// The output that reads input `i` through tap `k` on `axis` (the inverse
/// of `Window::tap`), or `None` when no output does.
fn output_of(g: &Window, axis: usize, i: usize, k: usize) -> Option<usize> {
    let t = (i + g.pad_before[axis]).checked_sub(k)?;
    let stride = g.strides[axis].max(1);
    let o = t / stride;
    (t.is_multiple_of(stride) && o < g.output[axis]).then_some(o)
}

#[cfg(test)]
mod tests {
    use snnc_compiler::ir::Padding;

    use super::*;

    /// Every geometry (strides, 'same' padding, several input channels,
    /// zeros among the inputs) gives the reference's bits.
    #[test]
    fn equals_the_reference_bit_for_bit() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) as f32 - 0.5
        };
        for (input, kernel, strides, padding, filters) in [
            ([9, 7, 1], [3, 3], [1, 1], Padding::Valid, 5),
            ([9, 7, 3], [3, 2], [2, 1], Padding::Same, 4),
            ([8, 8, 2], [4, 4], [2, 2], Padding::Same, 3),
            ([6, 5, 2], [1, 1], [3, 2], Padding::Valid, 2),
        ] {
            let g = Window::resolve(input, kernel, strides, padding, filters)
                .unwrap_or_else(|| panic!("no window for {input:?}"));
            let x: Vec<f32> = (0..input.iter().product::<usize>())
                .map(|i| if i % 3 == 0 { 0.0 } else { next() * 10.0 })
                .collect();
            let k: Vec<f32> = (0..kernel[0] * kernel[1] * input[2] * filters)
                .map(|_| next())
                .collect();
            let n = g.output.iter().product::<usize>();
            let (mut want, mut got) = (vec![1.0f32; n], vec![1.0f32; n]);
            layers::conv2d(&g, &x, &k, &mut want);
            conv2d_by_input(&g, &x, &k, &mut got);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{input:?} {kernel:?} {strides:?}");
        }
    }
}
