//! The linear and pooling transforms a connection applies to its source's
//! output before any synapse (semantics.md §5, converter.md "Layers").
//!
//! Tensors are flat vectors in C order of the channels-last shape, so image
//! element `(h, w, c)` of an `H x W x C` image is at `(h*W + w)*C + c`, the
//! order Keras' Flatten uses. Kernels are in Keras layout: dense `[in, out]`
//! row-major, conv HWIO `[kh, kw, c_in, c_out]`. Every function overwrites
//! its whole `out`.
//!
//! Accumulation skips exact-zero inputs: adding `0*w` to a sum that started
//! at +0 changes nothing, and spiking layers are mostly zeros.

use snnc_compiler::ir::{Op, Window};

use crate::engine::Real;

/// `out = kernel^T x` with `kernel` `[x.len(), out.len()]` row-major (Keras
/// `x @ kernel`). Each output sums over inputs in index order.
pub fn dense<T: Real>(x: &[T], kernel: &[T], out: &mut [T]) {
    out.fill(T::zero());
    let n_out = out.len();
    if n_out == 0 {
        return;
    }
    for (&xi, row) in x.iter().zip(kernel.chunks_exact(n_out)) {
        if xi == T::zero() {
            continue;
        }
        for (o, &w) in out.iter_mut().zip(row) {
            *o = *o + xi * w;
        }
    }
}

/// Keras `Conv2D` (cross-correlation, not flipped):
/// `out[oh, ow, f] = sum_{kh, kw, c} x[oh*sh + kh - pad_h, ow*sw + kw - pad_w, c] * K[kh, kw, c, f]`,
/// summed in (kh, kw, c) order like Nengo's im2col. `x.len()` must be
/// `H*W*C_in`, `kernel.len()` `kh*kw*C_in*filters`, `out.len()`
/// `H_out*W_out*filters`. Taps that fall in the padding read zero.
pub fn conv2d<T: Real>(g: &Window, x: &[T], kernel: &[T], out: &mut [T]) {
    let (c, f) = (g.input[2], g.output[2]);
    for_each_tap(g, x, out, |o, xs, tap| {
        let Some(ks) = kernel.get(tap * c * f..(tap + 1) * c * f) else {
            return;
        };
        for (&xv, krow) in xs.iter().zip(ks.chunks_exact(f)) {
            if xv == T::zero() {
                continue;
            }
            for (o, &k) in o.iter_mut().zip(krow) {
                *o = *o + xv * k;
            }
        }
    });
}

/// Keras `DepthwiseConv2D`: each input channel `c` has its own `m =
/// depth_multiplier` filters,
/// `out[oh, ow, c*m + j] = sum_{kh, kw} x[oh*sh + kh - pad_h, ow*sw + kw - pad_w, c] * K[kh, kw, c, j]`,
/// summed in (kh, kw) order. The kernel `[kh, kw, c_in, m]` flattened puts
/// tap `(kh, kw)`'s values in output-channel order, so each tap is one
/// row as long as an output position. `out.len()` is `H_out*W_out*c_in*m`.
pub fn depthwise_conv2d<T: Real>(g: &Window, x: &[T], kernel: &[T], out: &mut [T]) {
    let (c, f) = (g.input[2], g.output[2]);
    let m = f / c.max(1);
    for_each_tap(g, x, out, |o, xs, tap| {
        let Some(ks) = kernel.get(tap * f..(tap + 1) * f) else {
            return;
        };
        for ((&xv, krow), orow) in xs.iter().zip(ks.chunks_exact(m)).zip(o.chunks_exact_mut(m)) {
            if xv == T::zero() {
                continue;
            }
            for (o, &k) in orow.iter_mut().zip(krow) {
                *o = *o + xv * k;
            }
        }
    });
}

/// The convolutions' loop nest: `out` zeroed, then for every output
/// position and every kernel tap that lands inside the input (taps in the
/// padding read zero, so they add nothing), `add` gets the position's
/// output channels, the input channels under the tap and the tap's index
/// `kh * kernel_w + kw`.
fn for_each_tap<T: Real>(
    g: &Window,
    x: &[T],
    out: &mut [T],
    mut add: impl FnMut(&mut [T], &[T], usize),
) {
    out.fill(T::zero());
    let [_, w, c] = g.input;
    let [oh_n, ow_n, f] = g.output;
    let [kh_n, kw_n] = g.kernel;
    if ow_n * f == 0 || c == 0 {
        return;
    }
    for (oh, out_row) in out.chunks_exact_mut(ow_n * f).take(oh_n).enumerate() {
        for (ow, o) in out_row.chunks_exact_mut(f).enumerate() {
            for kh in 0..kh_n {
                let Some(ih) = g.tap(0, oh, kh) else {
                    continue;
                };
                for kw in 0..kw_n {
                    let Some(iw) = g.tap(1, ow, kw) else {
                        continue;
                    };
                    let base = (ih * w + iw) * c;
                    if let Some(xs) = x.get(base..base + c) {
                        add(o, xs, kh * kw_n + kw);
                    }
                }
            }
        }
    }
}

/// One connection's weighted value: `op`'s transform (with `kernel`, empty
/// for an op without one) of its source's output `x`. The one place the
/// semantics name each op's kernel; the reference's connections and the
/// JIT driver's precomputed edges both come here.
pub fn apply<T: Real>(op: &Op, kernel: &[T], x: &[T], out: &mut [T]) {
    match *op {
        Op::Dense { .. } => dense(x, kernel, out),
        Op::Conv2d { window, .. } => conv2d(&window, x, kernel, out),
        Op::DepthwiseConv2d { window, .. } => depthwise_conv2d(&window, x, kernel, out),
        Op::AvgPool { window } => avg_pool(&window, x, out),
        Op::MaxPool { window } => max_pool(&window, x, out),
        // An input or a flatten has no connection to transform; an
        // activation's and each of an add's connections pass values on.
        Op::Input | Op::Flatten | Op::Activation | Op::Add => identity(x, out),
    }
}

/// A bias of one value per channel (the last axis) expanded to every one
/// of `positions` positions: element `(p, c)` is `bias[c]`. A dense
/// layer's bias is its one position; a conv's has `H_out*W_out`.
pub fn channel_bias<T: Real>(bias: &[T], positions: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(positions * bias.len());
    for _ in 0..positions {
        out.extend_from_slice(bias);
    }
    out
}

/// How many positions a node of `size` outputs has for a bias of
/// `channels` values (0 for no bias).
pub fn bias_positions(size: usize, channels: usize) -> usize {
    size.checked_div(channels).unwrap_or(0)
}

/// Average pooling, channel by channel. NengoDL builds it as a convolution
/// whose kernel is `identity / n` (`n = pool_h*pool_w`), so each output is
/// `sum over the window of x * (1/n)` with `1/n` computed in f64, not
/// `(sum x)/n`; the two differ in the last bit.
pub fn avg_pool<T: Real>(g: &Window, x: &[T], out: &mut [T]) {
    let inv_n = T::from_f64(1.0 / (g.kernel[0] * g.kernel[1]) as f64);
    pool(g, x, out, T::zero(), |acc, v| acc + v * inv_n);
}

/// Max pooling, channel by channel (snnc's extension: NengoDL only offers
/// average pooling in its place).
pub fn max_pool<T: Real>(g: &Window, x: &[T], out: &mut [T]) {
    pool(
        g,
        x,
        out,
        T::neg_infinity(),
        |acc, v| if v > acc { v } else { acc },
    );
}

/// Folds `step` over each window, in (row, column) order, from `init`.
fn pool<T: Real>(g: &Window, x: &[T], out: &mut [T], init: T, step: impl Fn(T, T) -> T) {
    let [h, w, c] = g.input;
    let [oh_n, ow_n, _] = g.output;
    let [ph, pw] = g.kernel;
    let [sh, sw] = g.strides;
    out.fill(init);
    if ow_n * c == 0 {
        return;
    }
    for (oh, out_row) in out.chunks_exact_mut(ow_n * c).take(oh_n).enumerate() {
        for (ow, o) in out_row.chunks_exact_mut(c).enumerate() {
            for ih in (oh * sh..oh * sh + ph).filter(|&i| i < h) {
                for iw in (ow * sw..ow * sw + pw).filter(|&i| i < w) {
                    let base = (ih * w + iw) * c;
                    let Some(xs) = x.get(base..base + c) else {
                        continue;
                    };
                    for (o, &v) in o.iter_mut().zip(xs) {
                        *o = step(*o, v);
                    }
                }
            }
        }
    }
}

/// `out = x` (activation layers, the inputs of an add, flatten views).
pub fn identity<T: Real>(x: &[T], out: &mut [T]) {
    out.copy_from_slice(x);
}

#[cfg(test)]
mod tests {
    use super::*;
    use snnc_compiler::ir::Padding;

    #[test]
    fn dense_is_keras_x_at_kernel() {
        // kernel [in=2, out=3] = [[1,2,3],[4,5,6]]; x = [1, 2].
        let kernel = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [7.0; 3];
        dense(&[1.0, 2.0], &kernel, &mut out);
        assert_eq!(out, [9.0, 12.0, 15.0]);
        dense(&[0.0, 0.0], &kernel, &mut out);
        assert_eq!(out, [0.0; 3]);
    }

    #[test]
    fn conv_same_stride2_uneven_padding_by_hand() {
        // 4x4 image 1..16, 3x3 kernel, stride 2, 'same': 2x2 output, pad 0
        // before and 1 after. Hand (and NumPy on the explicitly padded
        // image): [[8.5, 34.5], [-6, 41]]. The kernel is not symmetric, so
        // a flipped (true) convolution would give other numbers.
        let x: Vec<f64> = (1..=16).map(f64::from).collect();
        let k = [1.0, 0.0, -1.0, 2.0, 0.0, -2.0, 0.5, 1.0, 0.0];
        let g = Window::resolve([4, 4, 1], [3, 3], [2, 2], Padding::Same, 1).unwrap();
        let mut out = [0.0; 4];
        conv2d(&g, &x, &k, &mut out);
        assert_eq!(out, [8.5, 34.5, -6.0, 41.0]);
    }

    /// A straightforward conv over an explicitly zero-padded image.
    fn naive_conv(g: &Window, x: &[f64], k: &[f64]) -> Vec<f64> {
        let [h, w, c] = g.input;
        let [oh, ow, f] = g.output;
        let (ph, pw) = (g.pad_before[0], g.pad_before[1]);
        let (hp, wp) = (h + 2 * ph + 4, w + 2 * pw + 4);
        let mut xp = vec![0.0; hp * wp * c];
        for i in 0..h {
            for j in 0..w {
                for ch in 0..c {
                    xp[((i + ph) * wp + j + pw) * c + ch] = x[(i * w + j) * c + ch];
                }
            }
        }
        let mut out = vec![0.0; oh * ow * f];
        for i in 0..oh {
            for j in 0..ow {
                for fi in 0..f {
                    let mut s = 0.0;
                    for a in 0..g.kernel[0] {
                        for b in 0..g.kernel[1] {
                            for ch in 0..c {
                                let xi = i * g.strides[0] + a;
                                let xj = j * g.strides[1] + b;
                                s += xp[(xi * wp + xj) * c + ch]
                                    * k[((a * g.kernel[1] + b) * c + ch) * f + fi];
                            }
                        }
                    }
                    out[(i * ow + j) * f + fi] = s;
                }
            }
        }
        out
    }

    #[test]
    fn conv_multichannel_matches_naive_padded_conv() {
        // 5x6x2 image, 4x3 kernel, strides (2, 1), 'same': H pads 1 before
        // and 2 after, W pads 1 and 1; 3 filters.
        let (h, w, c, f) = (5, 6, 2, 3);
        let g = Window::resolve([h, w, c], [4, 3], [2, 1], Padding::Same, f).unwrap();
        let [oh, ow, _] = g.output;
        assert_eq!((oh, g.pad_before[0], ow, g.pad_before[1]), (3, 1, 6, 1));
        let x: Vec<f64> = (0..h * w * c)
            .map(|i| ((i * 7) % 11) as f64 - 3.0)
            .collect();
        let k: Vec<f64> = (0..4 * 3 * c * f)
            .map(|i| ((i * 5) % 13) as f64 * 0.25 - 1.0)
            .collect();
        let mut out = vec![0.0; oh * ow * f];
        conv2d(&g, &x, &k, &mut out);
        assert_eq!(out, naive_conv(&g, &x, &k));
    }

    #[test]
    fn depthwise_is_a_conv_with_a_block_diagonal_kernel() {
        // 5x4x3 image, 3x2 kernel, strides (2, 1), 'same', multiplier 2:
        // the same as a full conv whose kernel K'[kh, kw, c, c*m + j] is
        // K[kh, kw, c, j] and zero elsewhere (exact: the extra terms are
        // skipped zeros... or exact zeros added, which change nothing).
        let (h, w, c, m) = (5, 4, 3, 2);
        let g = Window::resolve([h, w, c], [3, 2], [2, 1], Padding::Same, c * m).unwrap();
        let x: Vec<f64> = (0..h * w * c)
            .map(|i| ((i * 7) % 11) as f64 - 4.0)
            .collect();
        let k: Vec<f64> = (0..3 * 2 * c * m)
            .map(|i| ((i * 5) % 13) as f64 * 0.25 - 1.5)
            .collect();
        let mut full = vec![0.0; 3 * 2 * c * c * m];
        for tap in 0..6 {
            for ci in 0..c {
                for j in 0..m {
                    full[(tap * c + ci) * c * m + ci * m + j] = k[(tap * c + ci) * m + j];
                }
            }
        }
        let mut out = vec![0.0; g.output.iter().product()];
        depthwise_conv2d(&g, &x, &k, &mut out);
        assert_eq!(out, naive_conv(&g, &x, &full));
    }

    #[test]
    fn channel_bias_is_per_channel_at_every_position() {
        assert_eq!(
            channel_bias(&[1.0, -2.0], 3),
            vec![1.0, -2.0, 1.0, -2.0, 1.0, -2.0]
        );
    }

    #[test]
    fn pooling_drops_the_last_row_and_column() {
        // 5x5x2 image with values 0..50 (channel fastest), 2x2 windows,
        // stride 2: rows/cols 4 are dropped. Hand (NumPy) values.
        let x: Vec<f64> = (0..50).map(f64::from).collect();
        let g = Window::resolve([5, 5, 2], [2, 2], [2, 2], Padding::Valid, 2).unwrap();
        assert_eq!(g.output, [2, 2, 2]);
        let mut out = [0.0; 8];
        avg_pool(&g, &x, &mut out);
        assert_eq!(out, [6.0, 7.0, 10.0, 11.0, 26.0, 27.0, 30.0, 31.0]);
        max_pool(&g, &x, &mut out);
        assert_eq!(out, [12.0, 13.0, 16.0, 17.0, 32.0, 33.0, 36.0, 37.0]);
    }

    #[test]
    fn overlapping_pool_windows() {
        // 3x3x1, 2x2 windows, stride 1: 2x2 output.
        let x = [1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0, 9.0];
        let g = Window::resolve([3, 3, 1], [2, 2], [1, 1], Padding::Valid, 1).unwrap();
        assert_eq!(g.output, [2, 2, 1]);
        let mut out = [0.0; 4];
        max_pool(&g, &x, &mut out);
        assert_eq!(out, [5.0, 5.0, 7.0, 9.0]);
        avg_pool(&g, &x, &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn identity_copies() {
        let mut out = [0.0_f32; 2];
        identity(&[1.5, -2.0], &mut out);
        assert_eq!(out, [1.5, -2.0]);
    }
}
