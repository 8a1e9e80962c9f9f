//! Average pooling: `y = sum over the window of x * (1/n)` (NengoDL's
//! average-pool kernel `identity/n`).

use snnc_compiler::ir::Window;

use super::{Connection, Pass};
use crate::engine::Real;
use crate::train::kernels::axpy;

/// The pooling window the checker resolved.
#[derive(Clone, Debug)]
pub(crate) struct AvgPool(pub Window);

impl Connection for AvgPool {
    fn overwrites(&self) -> bool {
        false
    }

    fn forward<T: Real>(&self, cx: &Pass<'_, T>, x: &[T], y: &mut [T], _record: &mut [u32]) {
        avg_pool_fwd(&self.0, x, cx.g, y);
    }

    fn backward<T: Real>(
        &self,
        cx: &Pass<'_, T>,
        _x: &[T],
        dy: &[T],
        _record: &[u32],
        _dparams: &mut [T],
        dx: Option<&mut [T]>,
    ) {
        if let Some(dx) = dx {
            avg_pool_bwd(&self.0, dy, cx.g, dx);
        }
    }
}

/// `y += sum over the window of x * (1/n)`.
#[inline(always)]
fn avg_pool_fwd<T: Real>(geom: &Window, x: &[T], g: usize, y: &mut [T]) {
    let inv_n = T::from_f64(1.0 / (geom.kernel[0] * geom.kernel[1]) as f64);
    pool_windows(geom, g, |b, out_at, in_at, c| {
        let (xs, ys) = (&x[b.0 + in_at..][..c], &mut y[b.1 + out_at..][..c]);
        axpy(ys, inv_n, xs);
    });
}

#[inline(always)]
fn avg_pool_bwd<T: Real>(geom: &Window, dy: &[T], g: usize, dx: &mut [T]) {
    let inv_n = T::from_f64(1.0 / (geom.kernel[0] * geom.kernel[1]) as f64);
    pool_windows(geom, g, |b, out_at, in_at, c| {
        let (ds, dxs) = (&dy[b.1 + out_at..][..c], &mut dx[b.0 + in_at..][..c]);
        axpy(dxs, inv_n, ds);
    });
}

/// Calls `f((in_base, out_base), out_at, in_at, c)` for every example,
/// output position and window tap, in (example, oh, ow, row, column) order.
#[inline(always)]
fn pool_windows(geom: &Window, g: usize, mut f: impl FnMut((usize, usize), usize, usize, usize)) {
    let [h, w, c] = geom.input;
    let [oh_n, ow_n, _] = geom.output;
    let [ph, pw] = geom.kernel;
    let [sh, sw] = geom.strides;
    let (n_in, n_out) = (h * w * c, oh_n * ow_n * c);
    for b in 0..g {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                for ih in oh * sh..oh * sh + ph {
                    for iw in ow * sw..ow * sw + pw {
                        f(
                            (b * n_in, b * n_out),
                            (oh * ow_n + ow) * c,
                            (ih * w + iw) * c,
                            c,
                        );
                    }
                }
            }
        }
    }
}
