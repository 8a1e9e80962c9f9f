//! A dense connection: `y_b = bias + x_b @ W` for each example.
//!
//! The kernel is stored transposed, `[out, in]`, so that both the forward
//! pass and the input gradient read contiguous rows; it is converted from
//! and to Keras' `[in, out]` only at the boundary (`Plan::import`,
//! `Plan::export`). The AVX2 + FMA versions of the three kernels are in
//! `train::simd`.

use super::{Connection, Layout, Pass, Site};
use crate::engine::Real;
use crate::train::isa::{try_simd, Isa};
use crate::train::TrainError;

/// Kernel at `w` in the flat params, stored `[n_out, n_in]`.
#[derive(Clone, Debug)]
pub(crate) struct Dense {
    pub w: usize,
    pub n_in: usize,
    pub n_out: usize,
}

impl Dense {
    /// Checks a `dense(units=...)` node and claims its params.
    pub(super) fn plan(
        site: &mut Site<'_>,
        units: usize,
    ) -> Result<(Dense, Option<(usize, usize)>), TrainError> {
        site.want_inputs(1)?;
        let n_in = site.in_size(0);
        if units != site.node.size() {
            return Err(site.err(format!("a dense kernel must be [{n_in}, {units}]")));
        }
        let layout = Layout {
            transposed: Some((n_in, units)),
            fans: (n_in, units),
        };
        let w = site.kernel("dense", &[n_in, units], layout)?;
        let bias = site.bias(units)?;
        Ok((
            Dense {
                w,
                n_in,
                n_out: units,
            },
            bias,
        ))
    }

    fn len(&self) -> usize {
        self.n_in * self.n_out
    }
}

impl Connection for Dense {
    fn overwrites(&self) -> bool {
        true
    }

    fn forward<T: Real>(&self, cx: &Pass<'_, T>, x: &[T], y: &mut [T], _record: &mut [u32]) {
        let wt = &cx.params[self.w..self.w + self.len()];
        dense_fwd(cx.isa, x, wt, cx.bias, self.n_in, self.n_out, cx.g, y);
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
        dense_bwd_w(
            cx.isa,
            x,
            dy,
            self.n_in,
            self.n_out,
            cx.g,
            &mut dparams[w..w + len],
        );
        if let Some(dx) = dx {
            let wt = &cx.params[w..w + len];
            dense_bwd_x(cx.isa, dy, wt, self.n_in, self.n_out, cx.g, dx);
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn dense_fwd<T: Real>(
    isa: Isa,
    x: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    n_in: usize,
    n_out: usize,
    g: usize,
    y: &mut [T],
) {
    let b32 = bias.map(|b| crate::train::isa::f32s(b));
    if !matches!(b32, Some(None))
        && try_simd!(
            isa,
            [x, wt],
            [y],
            crate::train::simd::dense_fwd(x, wt, b32.flatten(), n_in, n_out, g, y)
        )
    {
        return;
    }
    portable::dense_fwd(x, wt, bias, n_in, n_out, g, y);
}

pub(super) fn dense_bwd_w<T: Real>(
    isa: Isa,
    x: &[T],
    dy: &[T],
    n_in: usize,
    n_out: usize,
    g: usize,
    dwt: &mut [T],
) {
    if !try_simd!(
        isa,
        [x, dy],
        [dwt],
        crate::train::simd::dense_bwd_w(x, dy, n_in, n_out, g, dwt)
    ) {
        portable::dense_bwd_w(x, dy, n_in, n_out, g, dwt);
    }
}

pub(super) fn dense_bwd_x<T: Real>(
    isa: Isa,
    dy: &[T],
    wt: &[T],
    n_in: usize,
    n_out: usize,
    g: usize,
    dx: &mut [T],
) {
    if !try_simd!(
        isa,
        [dy, wt],
        [dx],
        crate::train::simd::dense_bwd_x(dy, wt, n_in, n_out, g, dx)
    ) {
        portable::dense_bwd_x(dy, wt, n_in, n_out, g, dx);
    }
}

/// The portable kernels (the definition; `simd` has the f32 AVX2 versions).
mod portable {
    use crate::engine::Real;
    use crate::train::kernels::{dot, dot4};

    /// `y_b = bias + x_b @ W` (or without bias) for `g` examples; `wt` is `W`
    /// transposed, `[n_out, n_in]`. Overwrites `y`.
    #[inline(always)]
    pub(super) fn dense_fwd<T: Real>(
        x: &[T],
        wt: &[T],
        bias: Option<&[T]>,
        n_in: usize,
        n_out: usize,
        g: usize,
        y: &mut [T],
    ) {
        let xs = |b: usize| &x[b * n_in..(b + 1) * n_in];
        let row = |o: usize| &wt[o * n_in..(o + 1) * n_in];
        let b0 = |o: usize| bias.map_or(T::zero(), |b| b[o]);
        // Output rows outermost, examples inside (each block of kernel rows is
        // read once per group).
        let mut o = 0;
        while o + 4 <= n_out {
            for b in 0..g {
                let r = dot4(xs(b), [row(o), row(o + 1), row(o + 2), row(o + 3)]);
                for k in 0..4 {
                    y[b * n_out + o + k] = b0(o + k) + r[k];
                }
            }
            o += 4;
        }
        while o < n_out {
            for b in 0..g {
                y[b * n_out + o] = b0(o) + dot(xs(b), row(o));
            }
            o += 1;
        }
    }

    /// Width of the column blocks the dense backward kernels keep in registers.
    const DB: usize = 32;

    /// `dWt[o, :] += sum_b dy[b, o] * x_b`, summed over the examples in order
    /// for each block of `DB` inputs.
    #[inline(always)]
    pub(super) fn dense_bwd_w<T: Real>(
        x: &[T],
        dy: &[T],
        n_in: usize,
        n_out: usize,
        g: usize,
        dwt: &mut [T],
    ) {
        let full = n_in - n_in % DB;
        for o in 0..n_out {
            let d = &mut dwt[o * n_in..(o + 1) * n_in];
            let mut i0 = 0;
            while i0 < full {
                let dr = &mut d[i0..i0 + DB];
                let mut acc = [T::zero(); DB];
                acc.copy_from_slice(dr);
                for b in 0..g {
                    let a = dy[b * n_out + o];
                    let xr = &x[b * n_in + i0..b * n_in + i0 + DB];
                    for t in 0..DB {
                        acc[t] = acc[t] + a * xr[t];
                    }
                }
                dr.copy_from_slice(&acc);
                i0 += DB;
            }
            for i in full..n_in {
                let mut acc = d[i];
                for b in 0..g {
                    acc = acc + dy[b * n_out + o] * x[b * n_in + i];
                }
                d[i] = acc;
            }
        }
    }

    /// `dx_b += dy_b @ W^T`, i.e. `dx_b[i] += sum_o dy[b, o] * wt[o, i]`, summed
    /// over the outputs in order for each block of `DB` inputs.
    #[inline(always)]
    pub(super) fn dense_bwd_x<T: Real>(
        dy: &[T],
        wt: &[T],
        n_in: usize,
        n_out: usize,
        g: usize,
        dx: &mut [T],
    ) {
        let full = n_in - n_in % DB;
        for b in 0..g {
            let dyb = &dy[b * n_out..(b + 1) * n_out];
            let dxb = &mut dx[b * n_in..(b + 1) * n_in];
            let mut i0 = 0;
            while i0 < full {
                let dr = &mut dxb[i0..i0 + DB];
                let mut acc = [T::zero(); DB];
                acc.copy_from_slice(dr);
                for (o, &a) in dyb.iter().enumerate() {
                    let wr = &wt[o * n_in + i0..o * n_in + i0 + DB];
                    for t in 0..DB {
                        acc[t] = acc[t] + a * wr[t];
                    }
                }
                dr.copy_from_slice(&acc);
                i0 += DB;
            }
            for i in full..n_in {
                let mut acc = dxb[i];
                for (o, &a) in dyb.iter().enumerate() {
                    acc = acc + a * wt[o * n_in + i];
                }
                dxb[i] = acc;
            }
        }
    }
}
