//! The portable layer kernels (the definition; `simd` has faster f32
//! versions of the hot ones): forward and backward of dense, conv2d,
//! pooling and identity connections, on a group of `g` examples stored one after the
//! other (example `b` of a node with `n` values is `[b*n .. (b+1)*n]`),
//! channels last.
//!
//! Every kernel *adds* into its output, so a node sums its connections and
//! gradients from several consumers sum up. Inner loops run over contiguous
//! memory (output channels, input features) with fixed-size accumulator
//! blocks so that the compiler keeps them in vector registers; the order of
//! every floating-point sum is fixed by the code, never by threads.

use crate::engine::Real;
use snnc_compiler::ir::Window;

// ------------------------------------------------------------ helpers ----

/// `y += a * x`.
#[inline(always)]
pub(crate) fn axpy<T: Real>(y: &mut [T], a: T, x: &[T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = *y + a * x;
    }
}

/// `y += x`.
#[inline(always)]
pub(crate) fn add<T: Real>(y: &mut [T], x: &[T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = *y + x;
    }
}

const LANES: usize = 32;

/// `sum_i a[i]*b[i]` with `LANES` independent partial sums (so that it
/// vectorises), added up in a fixed order.
#[inline(always)]
pub(crate) fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::zero(); LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..LANES {
            acc[k] = acc[k] + x[k] * y[k];
        }
    }
    let mut s = T::zero();
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        s = s + x * y;
    }
    // Pairwise, fixed order.
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for k in 0..w {
            acc[k] = acc[k] + acc[k + w];
        }
    }
    acc[0] + s
}

/// `[sum_i x[i]*w0[i], ..., sum_i x[i]*w3[i]]`: four dot products sharing
/// one pass over `x`.
#[inline(always)]
fn dot4<T: Real>(x: &[T], w: [&[T]; 4]) -> [T; 4] {
    const L: usize = 16;
    let n = x.len();
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let mut acc = [[T::zero(); L]; 4];
    let full = n - n % L;
    let mut i = 0;
    while i < full {
        let xs = &x[i..i + L];
        let (a0, a1, a2, a3) = (&w0[i..i + L], &w1[i..i + L], &w2[i..i + L], &w3[i..i + L]);
        for k in 0..L {
            acc[0][k] = acc[0][k] + xs[k] * a0[k];
            acc[1][k] = acc[1][k] + xs[k] * a1[k];
            acc[2][k] = acc[2][k] + xs[k] * a2[k];
            acc[3][k] = acc[3][k] + xs[k] * a3[k];
        }
        i += L;
    }
    let mut out = [T::zero(); 4];
    for (r, acc) in out.iter_mut().zip(&mut acc) {
        let mut w = L;
        while w > 1 {
            w /= 2;
            for k in 0..w {
                acc[k] = acc[k] + acc[k + w];
            }
        }
        *r = acc[0];
    }
    for i in full..n {
        out[0] = out[0] + x[i] * w0[i];
        out[1] = out[1] + x[i] * w1[i];
        out[2] = out[2] + x[i] * w2[i];
        out[3] = out[3] + x[i] * w3[i];
    }
    out
}

/// The output rows `lo..hi` whose tap `k` lands inside an input of `n`
/// (`i = o*s + k - p`), clipped to `n_out`.
#[inline]
fn valid(n_out: usize, n: usize, s: usize, p: usize, k: usize) -> (usize, usize) {
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    let hi = if n + p > k {
        (n + p - k).div_ceil(s)
    } else {
        0
    };
    (lo.min(n_out), hi.min(n_out).max(lo.min(n_out)))
}

/// Calls `body::<T, WIDTH>(args, f0)` over `start..n` in blocks of 32, 16, 8, 4 and 1 so that
/// each block can use a fixed-size accumulator.
macro_rules! blocks {
    ($n:expr, $start:expr, $f0:ident, $body:ident, $($arg:expr),*) => {{
        let n = $n;
        let mut $f0 = $start;
        while $f0 < n {
            let rem = n - $f0;
            if rem >= 32 {
                $body::<T, 32>($($arg),*, $f0);
                $f0 += 32;
            } else if rem >= 16 {
                $body::<T, 16>($($arg),*, $f0);
                $f0 += 16;
            } else if rem >= 8 {
                $body::<T, 8>($($arg),*, $f0);
                $f0 += 8;
            } else if rem >= 4 {
                $body::<T, 4>($($arg),*, $f0);
                $f0 += 4;
            } else {
                $body::<T, 1>($($arg),*, $f0);
                $f0 += 1;
            }
        }
    }};
}

// -------------------------------------------------------------- dense ----

/// `y_b = bias + x_b @ W` (or without bias) for `g` examples; `wt` is `W`
/// transposed, `[n_out, n_in]`. Overwrites `y`.
#[inline(always)]
pub(crate) fn dense_fwd<T: Real>(
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
pub(crate) fn dense_bwd_w<T: Real>(
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
pub(crate) fn dense_bwd_x<T: Real>(
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

// --------------------------------------------------------------- conv ----

/// Keras Conv2D (cross-correlation) of one example, filters `start..`:
/// `y[oh, ow, f] = bias[f] + sum_{kh, kw, c} x[oh*sh + kh - ph, ow*sw + kw - pw, c] * K[kh, kw, c, f]`
/// with taps in the zero padding skipped. Overwrites those filters of `y`.
#[inline(always)]
pub(crate) fn conv_fwd_example<T: Real>(
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
pub(crate) fn conv_bwd_k<T: Real>(
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
pub(crate) fn conv_bwd_x<T: Real>(
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

// ---------------------------------------------------------- depthwise ----

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
pub(crate) fn depthwise_fwd<T: Real>(
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
pub(crate) fn depthwise_bwd_k<T: Real>(geom: &Window, x: &[T], dy: &[T], g: usize, dk: &mut [T]) {
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
pub(crate) fn depthwise_bwd_x<T: Real>(geom: &Window, dy: &[T], k: &[T], g: usize, dx: &mut [T]) {
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

// ------------------------------------------------------------ pooling ----

/// Average pooling: `y += sum over the window of x * (1/n)` (NengoDL's
/// average-pool kernel `identity/n`).
#[inline(always)]
pub(crate) fn avg_pool_fwd<T: Real>(geom: &Window, x: &[T], g: usize, y: &mut [T]) {
    let inv_n = T::from_f64(1.0 / (geom.kernel[0] * geom.kernel[1]) as f64);
    pool_windows(geom, g, |b, out_at, in_at, c| {
        let (xs, ys) = (&x[b.0 + in_at..][..c], &mut y[b.1 + out_at..][..c]);
        axpy(ys, inv_n, xs);
    });
}

#[inline(always)]
pub(crate) fn avg_pool_bwd<T: Real>(geom: &Window, dy: &[T], g: usize, dx: &mut [T]) {
    let inv_n = T::from_f64(1.0 / (geom.kernel[0] * geom.kernel[1]) as f64);
    pool_windows(geom, g, |b, out_at, in_at, c| {
        let (ds, dxs) = (&dy[b.1 + out_at..][..c], &mut dx[b.0 + in_at..][..c]);
        axpy(dxs, inv_n, ds);
    });
}

/// Max pooling: `y = max over the window` (the first maximum on ties);
/// `argmax` records, per output value, the input index (within its
/// example) the maximum came from. Overwrites `y`.
#[inline(always)]
pub(crate) fn max_pool_fwd<T: Real>(
    geom: &Window,
    x: &[T],
    g: usize,
    y: &mut [T],
    argmax: &mut [u32],
) {
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
pub(crate) fn max_pool_bwd<T: Real>(
    geom: &Window,
    dy: &[T],
    argmax: &[u32],
    g: usize,
    dx: &mut [T],
) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges() {
        // 'valid': every output row is valid for every tap.
        assert_eq!(valid(4, 6, 1, 0, 2), (0, 4));
        // 'same' 3x3 on 5, pad 1: tap 0 misses row 0, tap 2 misses row 4.
        assert_eq!(valid(5, 5, 1, 1, 0), (1, 5));
        assert_eq!(valid(5, 5, 1, 1, 2), (0, 4));
        // stride 2, 'same' with pad 1 on 5 (3 outputs): i = 2o + k - 1.
        assert_eq!(valid(3, 5, 2, 1, 0), (1, 3));
        assert_eq!(valid(3, 5, 2, 1, 2), (0, 2));
    }

    #[test]
    fn dot_and_dot4_match_plain_sums() {
        let a: Vec<f64> = (0..75).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..75).map(|i| (i as f64 * 0.11).cos()).collect();
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-12);
        let r = dot4(&a, [&b, &a, &b, &a]);
        assert!((r[0] - plain).abs() < 1e-12);
        assert!((r[1] - a.iter().map(|x| x * x).sum::<f64>()).abs() < 1e-12);
    }
}
