//! Max pooling: `y = max over the window` (the first maximum on ties). The
//! forward pass records where each maximum came from; the gradient flows
//! back to that input only.

use snnc_compiler::ir::Window;

use super::{Connection, Pass};
use crate::engine::Real;

/// The pooling window the checker resolved.
#[derive(Clone, Debug)]
pub(crate) struct MaxPool(pub Window);

impl Connection for MaxPool {
    fn overwrites(&self) -> bool {
        true
    }

    /// The argmax of every output value.
    fn record_len(&self) -> usize {
        self.0.output.iter().product()
    }

    fn forward<T: Real>(&self, cx: &Pass<'_, T>, x: &[T], y: &mut [T], record: &mut [u32]) {
        max_pool_fwd(&self.0, x, cx.g, y, record);
    }

    fn backward<T: Real>(
        &self,
        cx: &Pass<'_, T>,
        _x: &[T],
        dy: &[T],
        record: &[u32],
        _dparams: &mut [T],
        dx: Option<&mut [T]>,
    ) {
        if let Some(dx) = dx {
            max_pool_bwd(&self.0, dy, record, cx.g, dx);
        }
    }
}

/// Max pooling: `y = max over the window` (the first maximum on ties);
/// `argmax` records, per output value, the input index (within its
/// example) the maximum came from. Overwrites `y`.
#[inline(always)]
fn max_pool_fwd<T: Real>(geom: &Window, x: &[T], g: usize, y: &mut [T], argmax: &mut [u32]) {
    let [h, w, c] = geom.input;
    let [oh_n, ow_n, _] = geom.output;
    let [ph, pw] = geom.kernel;
    let [sh, sw] = geom.strides;
    let (n_in, n_out) = (h * w * c, oh_n * ow_n * c);
    for b in 0..g {
        let xb = &x[b * n_in..(b + 1) * n_in];
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let o = b * n_out + (oh * ow_n + ow) * c;
                let first = ((oh * sh) * w + ow * sw) * c;
                let best = &mut y[o..o + c];
                best.copy_from_slice(&xb[first..first + c]);
                let idx = &mut argmax[o..o + c];
                for (ch, i) in idx.iter_mut().enumerate() {
                    *i = (first + ch) as u32;
                }
                for ih in oh * sh..oh * sh + ph {
                    for iw in ow * sw..ow * sw + pw {
                        let at = (ih * w + iw) * c;
                        for ch in 0..c {
                            let v = xb[at + ch];
                            if v > best[ch] {
                                best[ch] = v;
                                idx[ch] = (at + ch) as u32;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[inline(always)]
fn max_pool_bwd<T: Real>(geom: &Window, dy: &[T], argmax: &[u32], g: usize, dx: &mut [T]) {
    let n_in = geom.input.iter().product::<usize>();
    let n_out = geom.output.iter().product::<usize>();
    for b in 0..g {
        let dxb = &mut dx[b * n_in..(b + 1) * n_in];
        for (&d, &i) in dy[b * n_out..(b + 1) * n_out]
            .iter()
            .zip(&argmax[b * n_out..(b + 1) * n_out])
        {
            dxb[i as usize] = dxb[i as usize] + d;
        }
    }
}
