//! A depthwise 2-D convolution (Keras DepthwiseConv2D): every input
//! channel `c` convolved with its own `depth_multiplier` filters,
//! `y[oh, ow, c*m + j] = bias[c*m + j] + sum_{kh, kw} x[ih, iw, c] * K[kh, kw, c, j]`.
//! The kernel keeps Keras' layout `[kh, kw, c, m]`.

use snnc_compiler::ir::Window;

use super::{Connection, Layout, Pass, Site};
use crate::engine::Real;
use crate::train::kernels::axpy;
use crate::train::TrainError;

/// Kernel at `w`, Keras layout `[kh, kw, c, m]`.
#[derive(Clone, Debug)]
pub(crate) struct Depthwise {
    pub w: usize,
    pub g: Window,
}

impl Depthwise {
    /// Checks a `depthwise_conv2d(depth_multiplier=...)` node and claims
    /// its params.
    pub(super) fn plan(
        site: &mut Site<'_>,
        depth_multiplier: usize,
        window: Window,
    ) -> Result<(Depthwise, Option<(usize, usize)>), TrainError> {
        site.window_fits(&window)?;
        let [kh, kw] = window.kernel;
        let c = window.input[2];
        let want = [kh, kw, c, depth_multiplier];
        if window.output[2] != c * depth_multiplier {
            return Err(site.err(format!("a depthwise conv kernel must be {want:?}")));
        }
        let layout = Layout {
            transposed: None,
            fans: (kh * kw * c, kh * kw * depth_multiplier),
        };
        let w = site.kernel("depthwise conv", &want, layout)?;
        let bias = site.bias(window.output[2])?;
        Ok((Depthwise { w, g: window }, bias))
    }

    fn len(&self) -> usize {
        self.g.kernel[0] * self.g.kernel[1] * self.g.output[2]
    }
}

impl Connection for Depthwise {
    fn overwrites(&self) -> bool {
        true
    }

    fn forward<T: Real>(&self, cx: &Pass<'_, T>, x: &[T], y: &mut [T], _record: &mut [u32]) {
        let k = &cx.params[self.w..self.w + self.len()];
        depthwise_fwd(&self.g, x, k, cx.bias, cx.g, y);
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
        depthwise_bwd_k(&self.g, x, dy, cx.g, &mut dparams[w..w + len]);
        if let Some(dx) = dx {
            depthwise_bwd_x(&self.g, dy, &cx.params[w..w + len], cx.g, dx);
        }
    }
}

/// Calls `f(b, out_at, in_at, tap)` for every example `b < g`, output
/// position and tap of `geom` that reads the input (not the padding):
/// `out_at` and `in_at` are the first channel's index of that output and
/// input position within the batch, `tap` is `kh * kw_n + kw`.
fn depthwise_taps(geom: &Window, g: usize, mut f: impl FnMut(usize, usize, usize)) {
    let [h, w, c] = geom.input;
    let [oh_n, ow_n, ch] = geom.output;
    let [kh_n, kw_n] = geom.kernel;
    let (n_in, n_out) = (h * w * c, oh_n * ow_n * ch);
    for b in 0..g {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let out_at = b * n_out + (oh * ow_n + ow) * ch;
                for kh in 0..kh_n {
                    let Some(ih) = geom.tap(0, oh, kh) else {
                        continue;
                    };
                    for kw in 0..kw_n {
                        let Some(iw) = geom.tap(1, ow, kw) else {
                            continue;
                        };
                        f(out_at, b * n_in + (ih * w + iw) * c, kh * kw_n + kw);
                    }
                }
            }
        }
    }
}

/// Keras DepthwiseConv2D of `g` examples:
/// `y[oh, ow, c*m + j] = bias[c*m + j] + sum_{kh, kw} x[ih, iw, c] * K[kh, kw, c, j]`,
/// the kernel `[kh, kw, c, m]` read one tap (a row of `c*m`) at a time.
/// Overwrites `y`.
fn depthwise_fwd<T: Real>(
    geom: &Window,
    x: &[T],
    k: &[T],
    bias: Option<&[T]>,
    g: usize,
    y: &mut [T],
) {
    let (c, ch) = (geom.input[2], geom.output[2]);
    if c == 0 || ch == 0 {
        return;
    }
    let m = ch / c;
    for pos in y.chunks_exact_mut(ch) {
        match bias {
            Some(b) => pos.copy_from_slice(&b[..ch]),
            None => pos.fill(T::zero()),
        }
    }
    depthwise_taps(geom, g, |out_at, in_at, tap| {
        let (xs, kt) = (&x[in_at..][..c], &k[tap * ch..][..ch]);
        let ys = &mut y[out_at..][..ch];
        for ((&xv, kr), yr) in xs
            .iter()
            .zip(kt.chunks_exact(m))
            .zip(ys.chunks_exact_mut(m))
        {
            if xv != T::zero() {
                axpy(yr, xv, kr);
            }
        }
    });
}

/// `dK[kh, kw, c, j] += sum_{b, oh, ow} x_b[ih, iw, c] * dy_b[oh, ow, c*m + j]`.
fn depthwise_bwd_k<T: Real>(geom: &Window, x: &[T], dy: &[T], g: usize, dk: &mut [T]) {
    let (c, ch) = (geom.input[2], geom.output[2]);
    if c == 0 || ch == 0 {
        return;
    }
    let m = ch / c;
    depthwise_taps(geom, g, |out_at, in_at, tap| {
        let (xs, ds) = (&x[in_at..][..c], &dy[out_at..][..ch]);
        let dkt = &mut dk[tap * ch..][..ch];
        for ((&xv, dr), dkr) in xs
            .iter()
            .zip(ds.chunks_exact(m))
            .zip(dkt.chunks_exact_mut(m))
        {
            if xv != T::zero() {
                axpy(dkr, xv, dr);
            }
        }
    });
}

/// `dx_b[ih, iw, c] += sum_{kh, kw, j} dy_b[oh, ow, c*m + j] * K[kh, kw, c, j]`.
fn depthwise_bwd_x<T: Real>(geom: &Window, dy: &[T], k: &[T], g: usize, dx: &mut [T]) {
    let (c, ch) = (geom.input[2], geom.output[2]);
    if c == 0 || ch == 0 {
        return;
    }
    let m = ch / c;
    depthwise_taps(geom, g, |out_at, in_at, tap| {
        let (ds, kt) = (&dy[out_at..][..ch], &k[tap * ch..][..ch]);
        let dxs = &mut dx[in_at..][..c];
        for ((d, dr), kr) in dxs
            .iter_mut()
            .zip(ds.chunks_exact(m))
            .zip(kt.chunks_exact(m))
        {
            *d = dr.iter().zip(kr).fold(*d, |acc, (&a, &b)| acc + a * b);
        }
    });
}
