//! A conv layer's gradients as one matrix product per example through
//! `matrixmultiply`'s sgemm: the kernel's, `dK += im2col(x)^T dy`, and the
//! input's, `dx += col2im(dy K^T)`. On the keras-to-snn network's wide
//! layer with half its inputs zero, as after a ReLU
//! (`train::ops::bench::wide_conv_against_gemm`, six runs), the kernel
//! gradient ran at 43-96 GFLOP/s against the hand-written AVX2 kernel's
//! 5.5-11, the input gradient at 43-81 against 27-54; the forward pass
//! through im2col and sgemm ran at 43-76 against the hand kernel's 47-73,
//! no clear win, so the forward pass stays hand-written.

use snnc_compiler::ir::Window;

/// Input channels from which the product is used: a first layer on one
/// channel of pixels (mostly zeros) gains nothing from it.
pub(crate) const MIN_CHANNELS: usize = 8;

/// The rows of `im2col(x)` for one example: row `p` holds the input values
/// output position `p` (row-major over `(oh, ow)`) reads, in the kernel's
/// row order `(kh, kw, c)`; taps in the zero padding are zeros.
fn im2col(geom: &Window, x: &[f32], a: &mut [f32]) {
    let [h, w, c] = geom.input;
    let [oh_n, ow_n, _] = geom.output;
    let [kh_n, kw_n] = geom.kernel;
    let [sh, sw] = geom.strides;
    let [ph, pw] = geom.pad_before;
    let taps = kh_n * kw_n * c;
    for oh in 0..oh_n {
        for ow in 0..ow_n {
            let row = &mut a[(oh * ow_n + ow) * taps..][..taps];
            for kh in 0..kh_n {
                let ih = (oh * sh + kh).checked_sub(ph).filter(|&i| i < h);
                for kw in 0..kw_n {
                    let iw = (ow * sw + kw).checked_sub(pw).filter(|&i| i < w);
                    let dst = &mut row[(kh * kw_n + kw) * c..][..c];
                    match (ih, iw) {
                        (Some(ih), Some(iw)) => {
                            let src = (ih * w + iw) * c;
                            dst.copy_from_slice(&x[src..src + c]);
                        }
                        _ => dst.fill(0.0),
                    }
                }
            }
        }
    }
}

/// `dK[kh, kw, c, f] += sum_{b, oh, ow} x_b[ih, iw, c] * dy_b[oh, ow, f]`
/// for the `g` examples of `x` and `dy`, summed example by example.
pub(crate) fn conv_bwd_k(geom: &Window, x: &[f32], dy: &[f32], g: usize, dk: &mut [f32]) {
    let n_in: usize = geom.input.iter().product();
    let [oh_n, ow_n, f] = geom.output;
    let positions = oh_n * ow_n;
    let n_out = positions * f;
    let taps = geom.kernel[0] * geom.kernel[1] * geom.input[2];
    assert!(x.len() >= g * n_in && dy.len() >= g * n_out && dk.len() >= taps * f);
    let mut a = vec![0.0f32; positions * taps];
    for b in 0..g {
        im2col(geom, &x[b * n_in..(b + 1) * n_in], &mut a);
        // dK (taps x f) += A^T (taps x positions) dY (positions x f), A
        // read transposed through its strides.
        // SAFETY: `a` holds positions x taps values, `dy` from example b on
        // at least positions x f, `dk` taps x f (asserted above), with the
        // row and column strides given.
        unsafe {
            matrixmultiply::sgemm(
                taps,
                positions,
                f,
                1.0,
                a.as_ptr(),
                1,
                taps as isize,
                dy[b * n_out..].as_ptr(),
                f as isize,
                1,
                1.0,
                dk.as_mut_ptr(),
                f as isize,
                1,
            );
        }
    }
}

/// Adds the columns of `cols` (one row per output position, in the
/// kernel's `(kh, kw, c)` order) back onto the input positions they were
/// read from: the transpose of [`im2col`]. Taps in the padding are dropped.
fn col2im_add(geom: &Window, cols: &[f32], dx: &mut [f32]) {
    let [h, w, c] = geom.input;
    let [oh_n, ow_n, _] = geom.output;
    let [kh_n, kw_n] = geom.kernel;
    let [sh, sw] = geom.strides;
    let [ph, pw] = geom.pad_before;
    let taps = kh_n * kw_n * c;
    for oh in 0..oh_n {
        for ow in 0..ow_n {
            let row = &cols[(oh * ow_n + ow) * taps..][..taps];
            for kh in 0..kh_n {
                let Some(ih) = (oh * sh + kh).checked_sub(ph).filter(|&i| i < h) else {
                    continue;
                };
                for kw in 0..kw_n {
                    let Some(iw) = (ow * sw + kw).checked_sub(pw).filter(|&i| i < w) else {
                        continue;
                    };
                    let src = &row[(kh * kw_n + kw) * c..][..c];
                    let dst = &mut dx[(ih * w + iw) * c..][..c];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += s;
                    }
                }
            }
        }
    }
}

/// `dx_b[ih, iw, c] += sum_{kh, kw, f} dy_b[oh, ow, f] * K[kh, kw, c, f]`
/// for the `g` examples: `dy_b K^T` through sgemm, then [`col2im_add`].
pub(crate) fn conv_bwd_x(geom: &Window, dy: &[f32], k: &[f32], g: usize, dx: &mut [f32]) {
    let n_in: usize = geom.input.iter().product();
    let [oh_n, ow_n, f] = geom.output;
    let positions = oh_n * ow_n;
    let n_out = positions * f;
    let taps = geom.kernel[0] * geom.kernel[1] * geom.input[2];
    assert!(dy.len() >= g * n_out && k.len() >= taps * f && dx.len() >= g * n_in);
    let mut cols = vec![0.0f32; positions * taps];
    for b in 0..g {
        // cols (positions x taps) = dY (positions x f) K^T (f x taps), K
        // (taps x f) read transposed through its strides.
        // SAFETY: `dy` from example b on holds positions x f values, `k`
        // taps x f, `cols` positions x taps (asserted above).
        unsafe {
            matrixmultiply::sgemm(
                positions,
                f,
                taps,
                1.0,
                dy[b * n_out..].as_ptr(),
                f as isize,
                1,
                k.as_ptr(),
                1,
                f as isize,
                0.0,
                cols.as_mut_ptr(),
                taps as isize,
                1,
            );
        }
        col2im_add(geom, &cols, &mut dx[b * n_in..(b + 1) * n_in]);
    }
}
