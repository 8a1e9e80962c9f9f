//! A 2-D convolution (Keras Conv2D, a cross-correlation):
//! `y[oh, ow, f] = bias[f] + sum_{kh, kw, c} x[oh*sh + kh - ph, ow*sw + kw - pw, c] * K[kh, kw, c, f]`.
//!
//! The kernel keeps Keras' HWIO layout. The input gradient's hand kernels
//! read it transposed, `[kh, kw, f, c]`, from the scratch vector, refilled
//! once per step. f32 runs the AVX2 + FMA kernels of `train::simd` and,
//! on inputs of enough channels, the gradients through im2col and a GEMM
//! (`train::gemm`).

use snnc_compiler::ir::Window;

use super::{Connection, Layout, Pass, Site};
use crate::engine::Real;
use crate::train::isa::{f32s, f32s_mut, try_simd, Isa};
use crate::train::TrainError;

/// Kernel at `w` (HWIO); `kt` is where its `[kh, kw, f, c]` transpose
/// lives in the scratch vector when the input needs a gradient.
#[derive(Clone, Debug)]
pub(crate) struct Conv {
    pub w: usize,
    pub kt: Option<usize>,
    pub g: Window,
}

impl Conv {
    /// Checks a `conv2d(filters=...)` node and claims its params.
    pub(super) fn plan(
        site: &mut Site<'_>,
        filters: usize,
        window: Window,
    ) -> Result<(Conv, Option<(usize, usize)>), TrainError> {
        site.window_fits(&window)?;
        let [kh, kw] = window.kernel;
        let ci = window.input[2];
        let layout = Layout {
            transposed: None,
            fans: (kh * kw * ci, kh * kw * filters),
        };
        let w = site.kernel("conv", &[kh, kw, ci, filters], layout)?;
        let bias = site.bias(filters)?;
        Ok((
            Conv {
                w,
                kt: None,
                g: window,
            },
            bias,
        ))
    }

    fn len(&self) -> usize {
        let g = &self.g;
        g.kernel[0] * g.kernel[1] * g.input[2] * g.output[2]
    }
}

impl Connection for Conv {
    fn overwrites(&self) -> bool {
        true
    }

    fn place_scratch(&mut self, at: usize, needs_dx: bool) -> usize {
        if !needs_dx {
            return 0;
        }
        self.kt = Some(at);
        self.len()
    }

    fn fill_scratch<T: Real>(&self, params: &[T], scratch: &mut [T]) {
        let Some(at) = self.kt else {
            return;
        };
        let g = &self.g;
        let (taps, ci, f) = (g.kernel[0] * g.kernel[1], g.input[2], g.output[2]);
        let k = &params[self.w..self.w + taps * ci * f];
        let t = &mut scratch[at..at + taps * ci * f];
        for tap in 0..taps {
            for cc in 0..ci {
                for ff in 0..f {
                    t[(tap * f + ff) * ci + cc] = k[(tap * ci + cc) * f + ff];
                }
            }
        }
    }

    fn forward<T: Real>(&self, cx: &Pass<'_, T>, x: &[T], y: &mut [T], _record: &mut [u32]) {
        let k = &cx.params[self.w..self.w + self.len()];
        conv_fwd(cx.isa, &self.g, x, k, cx.bias, cx.g, y);
    }

    fn backward<T: Real>(
        &self,
        cx: &Pass<'_, T>,
        x: &[T],
        dy: &[T],
        _record: &[u32],
        dparams: &mut [T],
        dx: Option<&mut [T]>,
    ) {
        let (w, len) = (self.w, self.len());
        conv_bwd_k(cx.isa, &self.g, x, dy, cx.g, &mut dparams[w..w + len]);
        if let (Some(dx), Some(at)) = (dx, self.kt) {
            let (k, kt) = (&cx.params[w..w + len], &cx.scratch[at..at + len]);
            conv_bwd_x(cx.isa, &self.g, dy, k, kt, cx.g, dx);
        }
    }
}

pub(super) fn conv_fwd<T: Real>(
    isa: Isa,
    geom: &Window,
    x: &[T],
    k: &[T],
    bias: Option<&[T]>,
    g: usize,
    y: &mut [T],
) {
    let n_in = geom.input.iter().product::<usize>();
    let n_out = geom.output.iter().product::<usize>();
    for b in 0..g {
        let (xb, yb) = (
            &x[b * n_in..(b + 1) * n_in],
            &mut y[b * n_out..(b + 1) * n_out],
        );
        let mut end = 0;
        let b32 = bias.map(|b| f32s(b));
        if !matches!(b32, Some(None)) {
            try_simd!(
                isa,
                [xb, k],
                [yb],
                end = crate::train::simd::conv_fwd(geom, xb, k, b32.flatten(), yb)
            );
        }
        if end < geom.output[2] {
            portable::conv_fwd_example(geom, xb, k, bias, yb, end);
        }
    }
}

pub(super) fn conv_bwd_k<T: Real>(
    isa: Isa,
    geom: &Window,
    x: &[T],
    dy: &[T],
    g: usize,
    dk: &mut [T],
) {
    // f32 goes through im2col and a GEMM (see `train::gemm`), except on
    // inputs of few channels (pixels, mostly zeros), where the hand kernel,
    // which skips zero inputs, keeps up.
    if isa == Isa::Avx2Fma && geom.input[2] >= crate::train::gemm::MIN_CHANNELS {
        if let (Some(x), Some(dy), Some(dk)) = (f32s(x), f32s(dy), f32s_mut(dk)) {
            crate::train::gemm::conv_bwd_k(geom, x, dy, g, dk);
            return;
        }
    }
    let mut end = 0;
    try_simd!(
        isa,
        [x, dy],
        [dk],
        end = crate::train::simd::conv_bwd_k(geom, x, dy, g, dk)
    );
    if end < geom.output[2] {
        portable::conv_bwd_k(geom, x, dy, g, dk, end);
    }
}

/// The input gradient; `k` is the kernel `[kh, kw, c, f]` and `kt` the same
/// kernel transposed to `[kh, kw, f, c]` (what the hand kernels read).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_bwd_x<T: Real>(
    isa: Isa,
    geom: &Window,
    dy: &[T],
    k: &[T],
    kt: &[T],
    g: usize,
    dx: &mut [T],
) {
    // As the kernel gradient: f32 through a GEMM (then col2im) when the
    // input has enough channels.
    if isa == Isa::Avx2Fma && geom.input[2] >= crate::train::gemm::MIN_CHANNELS {
        if let (Some(dy), Some(k), Some(dx)) = (f32s(dy), f32s(k), f32s_mut(dx)) {
            crate::train::gemm::conv_bwd_x(geom, dy, k, g, dx);
            return;
        }
    }
    let n_in = geom.input.iter().product::<usize>();
    let n_out = geom.output.iter().product::<usize>();
    let mut end = 0;
    for b in 0..g {
        let (dyb, dxb) = (
            &dy[b * n_out..(b + 1) * n_out],
            &mut dx[b * n_in..(b + 1) * n_in],
        );
        try_simd!(
            isa,
            [dyb, kt],
            [dxb],
            end = crate::train::simd::conv_bwd_x(geom, dyb, kt, dxb)
        );
    }
    if end < geom.input[2] {
        portable::conv_bwd_x(geom, dy, kt, g, dx, end);
    }
}

/// The portable kernels (the definition; `simd` has the f32 AVX2 versions).
mod portable {
    use snnc_compiler::ir::Window;

    use crate::engine::Real;
    use crate::train::kernels::{axpy, blocks, valid};

    /// Keras Conv2D (cross-correlation) of one example, filters `start..`:
    /// `y[oh, ow, f] = bias[f] + sum_{kh, kw, c} x[oh*sh + kh - ph, ow*sw + kw - pw, c] * K[kh, kw, c, f]`
    /// with taps in the zero padding skipped. Overwrites those filters of `y`.
    #[inline(always)]
    pub(super) fn conv_fwd_example<T: Real>(
        geom: &Window,
        x: &[T],
        k: &[T],
        bias: Option<&[T]>,
        y: &mut [T],
        start: usize,
    ) {
        blocks!(
            geom.output[2],
            start,
            f0,
            conv_fwd_block,
            geom,
            x,
            k,
            bias,
            &mut *y
        );
    }

    #[inline(always)]
    fn conv_fwd_block<T: Real, const FB: usize>(
        geom: &Window,
        x: &[T],
        k: &[T],
        bias: Option<&[T]>,
        y: &mut [T],
        f0: usize,
    ) {
        let [h, w, c] = geom.input;
        let [oh_n, ow_n, f] = geom.output;
        let [kh_n, kw_n] = geom.kernel;
        let [sh, sw] = geom.strides;
        let [ph, pw] = geom.pad_before;
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let yo = &mut y[(oh * ow_n + ow) * f + f0..][..FB];
                let mut acc = [T::zero(); FB];
                if let Some(bias) = bias {
                    acc.copy_from_slice(&bias[f0..f0 + FB]);
                }
                for kh in 0..kh_n {
                    let ih = (oh * sh + kh).wrapping_sub(ph);
                    if ih >= h {
                        continue;
                    }
                    for kw in 0..kw_n {
                        let iw = (ow * sw + kw).wrapping_sub(pw);
                        if iw >= w {
                            continue;
                        }
                        let xs = &x[(ih * w + iw) * c..][..c];
                        let kb = &k[(kh * kw_n + kw) * c * f..][..c * f];
                        for (ci, &xv) in xs.iter().enumerate() {
                            if xv == T::zero() {
                                continue;
                            }
                            let kr = &kb[ci * f + f0..][..FB];
                            for t in 0..FB {
                                acc[t] = acc[t] + xv * kr[t];
                            }
                        }
                    }
                }
                yo.copy_from_slice(&acc);
            }
        }
    }

    /// `dK[kh, kw, c, f] += sum_{b, oh, ow} x_b[ih, iw, c] * dy_b[oh, ow, f]`.
    #[inline(always)]
    pub(super) fn conv_bwd_k<T: Real>(
        geom: &Window,
        x: &[T],
        dy: &[T],
        g: usize,
        dk: &mut [T],
        start: usize,
    ) {
        blocks!(
            geom.output[2],
            start,
            f0,
            conv_bwd_k_block,
            geom,
            x,
            dy,
            g,
            &mut *dk
        );
    }

    #[inline(always)]
    fn conv_bwd_k_block<T: Real, const FB: usize>(
        geom: &Window,
        x: &[T],
        dy: &[T],
        g: usize,
        dk: &mut [T],
        f0: usize,
    ) {
        let [h, w, c] = geom.input;
        let [oh_n, ow_n, f] = geom.output;
        let [kh_n, kw_n] = geom.kernel;
        let [sh, sw] = geom.strides;
        let [ph, pw] = geom.pad_before;
        let (n_in, n_out) = (h * w * c, oh_n * ow_n * f);
        for kh in 0..kh_n {
            let (oh_lo, oh_hi) = valid(oh_n, h, sh, ph, kh);
            for kw in 0..kw_n {
                let (ow_lo, ow_hi) = valid(ow_n, w, sw, pw, kw);
                for ci in 0..c {
                    let dkr = &mut dk[((kh * kw_n + kw) * c + ci) * f + f0..][..FB];
                    let mut acc = [T::zero(); FB];
                    acc.copy_from_slice(dkr);
                    for b in 0..g {
                        let xb = &x[b * n_in..(b + 1) * n_in];
                        let dyb = &dy[b * n_out..(b + 1) * n_out];
                        for oh in oh_lo..oh_hi {
                            let ih = oh * sh + kh - ph;
                            for ow in ow_lo..ow_hi {
                                let iw = ow * sw + kw - pw;
                                let xv = xb[(ih * w + iw) * c + ci];
                                if xv == T::zero() {
                                    continue;
                                }
                                let d = &dyb[(oh * ow_n + ow) * f + f0..][..FB];
                                for t in 0..FB {
                                    acc[t] = acc[t] + xv * d[t];
                                }
                            }
                        }
                    }
                    dkr.copy_from_slice(&acc);
                }
            }
        }
    }

    /// `dx_b[ih, iw, c] += sum_{kh, kw, f} dy_b[oh, ow, f] * K[kh, kw, c, f]`, with
    /// `kt` the kernel transposed to `[kh, kw, f, c]`, for input channels
    /// `start..`.
    #[inline(always)]
    pub(super) fn conv_bwd_x<T: Real>(
        geom: &Window,
        dy: &[T],
        kt: &[T],
        g: usize,
        dx: &mut [T],
        start: usize,
    ) {
        let [h, w, c] = geom.input;
        let [oh_n, ow_n, f] = geom.output;
        let [kh_n, kw_n] = geom.kernel;
        let [sh, sw] = geom.strides;
        let [ph, pw] = geom.pad_before;
        let (n_in, n_out) = (h * w * c, oh_n * ow_n * f);
        for b in 0..g {
            let dyb = &dy[b * n_out..(b + 1) * n_out];
            let dxb = &mut dx[b * n_in..(b + 1) * n_in];
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    let dyr = &dyb[(oh * ow_n + ow) * f..][..f];
                    for kh in 0..kh_n {
                        let ih = (oh * sh + kh).wrapping_sub(ph);
                        if ih >= h {
                            continue;
                        }
                        for kw in 0..kw_n {
                            let iw = (ow * sw + kw).wrapping_sub(pw);
                            if iw >= w {
                                continue;
                            }
                            let dxr = &mut dxb[(ih * w + iw) * c + start..][..c - start];
                            let kb = &kt[(kh * kw_n + kw) * f * c..][..f * c];
                            for (ff, &d) in dyr.iter().enumerate() {
                                if d != T::zero() {
                                    axpy(dxr, d, &kb[ff * c + start..][..c - start]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
