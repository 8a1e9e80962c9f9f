//! AVX2 + FMA versions of the hot f32 kernels (x86-64 only), with the same
//! meaning and the same loop structure as the portable ones in `ops`:
//! accumulators live in vector registers across the inner loops, and every
//! sum runs in an order fixed by the code, so results are deterministic
//! (they differ from the portable kernels only in rounding: FMA rounds once).
//!
//! Every function is `unsafe` because it must only run on a CPU with AVX2
//! and FMA (`Isa::Avx2Fma`); slice lengths are checked on entry, so the
//! pointer arithmetic inside stays within them.

// Indexed loops over the vector blocks read better than iterator chains here.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use snnc_compiler::ir::Window;

const V: usize = 8;

/// Horizontal sum of the 8 lanes, in a fixed order.
#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps(v, 1);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// The output rows `lo..hi` whose tap `k` lands inside an input of `n`.
#[inline(always)]
fn valid(n_out: usize, n: usize, s: usize, p: usize, k: usize) -> (usize, usize) {
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    let hi = if n + p > k {
        (n + p - k).div_ceil(s)
    } else {
        0
    };
    (lo.min(n_out), hi.min(n_out).max(lo.min(n_out)))
}

// -------------------------------------------------------------- dense ----

/// Examples per block of the dense kernels (their partial sums stay in a
/// small stack array).
const GB: usize = 16;
/// Kernel rows per pass of the dense forward over the inputs: the inputs
/// are read once per `SB` outputs (all of them on a 10-class layer).
const SB: usize = 16;
/// Inputs per chunk of the dense forward pass: a chunk of the examples'
/// inputs and of `SB` kernel rows stays in L1 while every output uses it.
const CHUNK: usize = 256;

/// Partial sums of the dense forward: two vectors per example and output.
type Parts = [[[__m256; 2]; SB]; GB];

/// `y_b = bias + x_b @ W`, `wt` = `W` transposed `[n_out, n_in]`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dense_fwd(
    x: &[f32],
    wt: &[f32],
    bias: Option<&[f32]>,
    n_in: usize,
    n_out: usize,
    g: usize,
    y: &mut [f32],
) {
    assert!(x.len() >= g * n_in && wt.len() >= n_in * n_out && y.len() >= g * n_out);
    assert!(bias.is_none_or(|b| b.len() >= n_out));
    let mut b0 = 0;
    while b0 < g {
        let gb = (g - b0).min(GB);
        let (xp, yp) = (x.as_ptr().add(b0 * n_in), y.as_mut_ptr().add(b0 * n_out));
        let mut s0 = 0;
        while s0 < n_out {
            let s1 = (s0 + SB).min(n_out);
            dense_outputs(xp, wt.as_ptr(), bias, n_in, n_out, s0..s1, gb, yp);
            s0 = s1;
        }
        b0 += gb;
    }
}

/// Outputs `rows` (at most `SB`) of `gb <= GB` examples: per chunk of the
/// inputs, every block of kernel rows, every example; each output's two
/// vectors of partial sums run over the inputs in order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dense_outputs(
    xp: *const f32,
    wp: *const f32,
    bias: Option<&[f32]>,
    n_in: usize,
    n_out: usize,
    rows: std::ops::Range<usize>,
    gb: usize,
    y: *mut f32,
) {
    let full = n_in - n_in % (2 * V);
    let mut part: Parts = [[[_mm256_setzero_ps(); 2]; SB]; GB];
    let mut c0 = 0;
    while c0 < full {
        let c1 = (c0 + CHUNK).min(full);
        let mut o = rows.start;
        while o < rows.end {
            let r = if rows.end - o >= 2 { 2 } else { 1 };
            let at = o - rows.start;
            match r {
                2 => dense_rows_pairs(xp, wp, n_in, o, at, c0..c1, gb, &mut part),
                _ => dense_rows::<1>(xp, wp, n_in, o, at, c0..c1, gb, &mut part[..]),
            }
            o += r;
        }
        c0 = c1;
    }
    for (b, part) in part.iter().enumerate().take(gb) {
        let xb = xp.add(b * n_in);
        for o in rows.clone() {
            let row = wp.add(o * n_in);
            let p = &part[o - rows.start];
            let mut s = hsum(_mm256_add_ps(p[0], p[1]));
            for i in full..n_in {
                s = (*xb.add(i)).mul_add(*row.add(i), s);
            }
            *y.add(b * n_out + o) = bias.map_or(0.0, |bv| bv[o]) + s;
        }
    }
}

/// Kernel rows `o`, `o+1` over the inputs `span`, two examples at a time:
/// the kernel's and both examples' vectors are loaded once for 8 FMAs.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dense_rows_pairs(
    xp: *const f32,
    wp: *const f32,
    n_in: usize,
    o: usize,
    at: usize,
    span: std::ops::Range<usize>,
    gb: usize,
    part: &mut Parts,
) {
    let (r0, r1) = (wp.add(o * n_in), wp.add((o + 1) * n_in));
    let mut b = 0;
    while b + 2 <= gb {
        let (xa, xb) = (xp.add(b * n_in), xp.add((b + 1) * n_in));
        let [mut a0, mut a1] = [part[b][at], part[b][at + 1]];
        let [mut c0, mut c1] = [part[b + 1][at], part[b + 1][at + 1]];
        let mut i = span.start;
        while i < span.end {
            let (w00, w01) = (_mm256_loadu_ps(r0.add(i)), _mm256_loadu_ps(r0.add(i + V)));
            let (w10, w11) = (_mm256_loadu_ps(r1.add(i)), _mm256_loadu_ps(r1.add(i + V)));
            let (x0, x1) = (_mm256_loadu_ps(xa.add(i)), _mm256_loadu_ps(xa.add(i + V)));
            a0[0] = _mm256_fmadd_ps(x0, w00, a0[0]);
            a0[1] = _mm256_fmadd_ps(x1, w01, a0[1]);
            a1[0] = _mm256_fmadd_ps(x0, w10, a1[0]);
            a1[1] = _mm256_fmadd_ps(x1, w11, a1[1]);
            let (y0, y1) = (_mm256_loadu_ps(xb.add(i)), _mm256_loadu_ps(xb.add(i + V)));
            c0[0] = _mm256_fmadd_ps(y0, w00, c0[0]);
            c0[1] = _mm256_fmadd_ps(y1, w01, c0[1]);
            c1[0] = _mm256_fmadd_ps(y0, w10, c1[0]);
            c1[1] = _mm256_fmadd_ps(y1, w11, c1[1]);
            i += 2 * V;
        }
        part[b][at] = a0;
        part[b][at + 1] = a1;
        part[b + 1][at] = c0;
        part[b + 1][at + 1] = c1;
        b += 2;
    }
    if b < gb {
        dense_rows::<2>(xp.add(b * n_in), wp, n_in, o, at, span, 1, &mut part[b..]);
    }
}

/// Kernel rows `o..o+R` (partial sums at `at..at+R` of `part`) over the
/// inputs `span` of `gb` examples, sharing the loads of `x`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dense_rows<const R: usize>(
    xp: *const f32,
    wp: *const f32,
    n_in: usize,
    o: usize,
    at: usize,
    span: std::ops::Range<usize>,
    gb: usize,
    part: &mut [[[__m256; 2]; SB]],
) {
    let rows: [*const f32; R] = std::array::from_fn(|r| wp.add((o + r) * n_in));
    for (b, part) in part.iter_mut().enumerate().take(gb) {
        let xb = xp.add(b * n_in);
        let mut acc: [[__m256; 2]; R] = std::array::from_fn(|r| part[at + r]);
        let mut i = span.start;
        while i < span.end {
            let x0 = _mm256_loadu_ps(xb.add(i));
            let x1 = _mm256_loadu_ps(xb.add(i + V));
            for r in 0..R {
                acc[r][0] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(rows[r].add(i)), acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(rows[r].add(i + V)), acc[r][1]);
            }
            i += 2 * V;
        }
        part[at..at + R].copy_from_slice(&acc);
    }
}

/// `dWt[o, :] += sum_b dy[b, o] * x_b`, examples in order per column block;
/// blocks of `R` kernel rows share the loads of `x`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dense_bwd_w(
    x: &[f32],
    dy: &[f32],
    n_in: usize,
    n_out: usize,
    g: usize,
    dwt: &mut [f32],
) {
    assert!(x.len() >= g * n_in && dy.len() >= g * n_out && dwt.len() >= n_in * n_out);
    let mut o = 0;
    while o < n_out {
        let r = match n_out - o {
            1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
        match r {
            4 => dense_w_rows::<4>(x.as_ptr(), dy, n_in, n_out, o, g, dwt.as_mut_ptr()),
            2 => dense_w_rows::<2>(x.as_ptr(), dy, n_in, n_out, o, g, dwt.as_mut_ptr()),
            _ => dense_w_rows::<1>(x.as_ptr(), dy, n_in, n_out, o, g, dwt.as_mut_ptr()),
        }
        o += r;
    }
}

#[inline(always)]
unsafe fn dense_w_rows<const R: usize>(
    xp: *const f32,
    dy: &[f32],
    n_in: usize,
    n_out: usize,
    o: usize,
    g: usize,
    dp: *mut f32,
) {
    const NV: usize = 2;
    let full = n_in - n_in % (NV * V);
    let rows: [*mut f32; R] = std::array::from_fn(|r| dp.add((o + r) * n_in));
    let mut i = 0;
    while i < full {
        let mut acc: [[__m256; NV]; R] = std::array::from_fn(|r| {
            std::array::from_fn(|v| _mm256_loadu_ps(rows[r].add(i + v * V)))
        });
        for b in 0..g {
            let xr = xp.add(b * n_in + i);
            let xv: [__m256; NV] = std::array::from_fn(|v| _mm256_loadu_ps(xr.add(v * V)));
            for r in 0..R {
                let a = _mm256_set1_ps(dy[b * n_out + o + r]);
                for v in 0..NV {
                    acc[r][v] = _mm256_fmadd_ps(a, xv[v], acc[r][v]);
                }
            }
        }
        for r in 0..R {
            for v in 0..NV {
                _mm256_storeu_ps(rows[r].add(i + v * V), acc[r][v]);
            }
        }
        i += NV * V;
    }
    for r in 0..R {
        for i in full..n_in {
            let mut acc = *rows[r].add(i);
            for b in 0..g {
                acc = dy[b * n_out + o + r].mul_add(*xp.add(b * n_in + i), acc);
            }
            *rows[r].add(i) = acc;
        }
    }
}

/// `dx_b[i] += sum_o dy[b, o] * wt[o, i]`, outputs in order per column block.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dense_bwd_x(
    dy: &[f32],
    wt: &[f32],
    n_in: usize,
    n_out: usize,
    g: usize,
    dx: &mut [f32],
) {
    assert!(dy.len() >= g * n_out && wt.len() >= n_in * n_out && dx.len() >= g * n_in);
    const NV: usize = 4;
    let full = n_in - n_in % (NV * V);
    let (wp, dxp) = (wt.as_ptr(), dx.as_mut_ptr());
    // Column blocks outermost, examples inside: each block of the kernel
    // is read once per group.
    let mut i = 0;
    while i < full {
        for b in 0..g {
            let dyb = &dy[b * n_out..(b + 1) * n_out];
            let dxr = dxp.add(b * n_in + i);
            let mut acc: [__m256; NV] = std::array::from_fn(|v| _mm256_loadu_ps(dxr.add(v * V)));
            for (o, &d) in dyb.iter().enumerate() {
                let a = _mm256_set1_ps(d);
                let wr = wp.add(o * n_in + i);
                for v in 0..NV {
                    acc[v] = _mm256_fmadd_ps(a, _mm256_loadu_ps(wr.add(v * V)), acc[v]);
                }
            }
            for v in 0..NV {
                _mm256_storeu_ps(dxr.add(v * V), acc[v]);
            }
        }
        i += NV * V;
    }
    for b in 0..g {
        let dyb = &dy[b * n_out..(b + 1) * n_out];
        for i in full..n_in {
            let at = dxp.add(b * n_in + i);
            let mut acc = *at;
            for (o, &d) in dyb.iter().enumerate() {
                acc = d.mul_add(*wp.add(o * n_in + i), acc);
            }
            *at = acc;
        }
    }
}

// --------------------------------------------------------------- conv ----

/// Runs `$f::<NV>` over the column blocks of `n` (32, 16, 8 wide) and
/// returns where the vector blocks end; the rest (< 8) is for the caller.
macro_rules! vector_blocks {
    ($n:expr, $f:ident, $($arg:expr),*) => {{
        let n = $n;
        let mut c0 = 0;
        while n - c0 >= 4 * V {
            $f::<4>($($arg),*, c0);
            c0 += 4 * V;
        }
        if n - c0 >= 2 * V {
            $f::<2>($($arg),*, c0);
            c0 += 2 * V;
        }
        if n - c0 >= V {
            $f::<1>($($arg),*, c0);
            c0 += V;
        }
        c0
    }};
}

fn conv_lens(g: &Window) -> (usize, usize, usize) {
    let n_in = g.input.iter().product::<usize>();
    let n_out = g.output.iter().product::<usize>();
    (
        n_in,
        n_out,
        g.kernel[0] * g.kernel[1] * g.input[2] * g.output[2],
    )
}

/// Conv2D forward of one example, filters `0..end` of `y` (vector blocks);
/// returns `end`. The caller computes the filters from `end` on.
///
/// A window whose inputs are all `+0.0` (most of an MNIST image's, 63% of
/// the seed network's) gets the value the tap loop gives on zeros, computed
/// once per filter block, instead of its taps: the same bits, since
/// `fma(+0, k, acc)` depends on `k` and `acc` only. Windows that reach into
/// the padding always run their taps (they have fewer of them).
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn conv_fwd(
    geom: &Window,
    x: &[f32],
    k: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> usize {
    let (n_in, n_out, n_k) = conv_lens(geom);
    assert!(x.len() >= n_in && k.len() >= n_k && y.len() >= n_out);
    assert!(bias.is_none_or(|b| b.len() >= geom.output[2]));
    let (xp, kp, yp) = (x.as_ptr(), k.as_ptr(), y.as_mut_ptr());
    // One input channel (pixels): the channel loops compiled away.
    if geom.input[2] == 1 {
        let live = live_inputs::<true>(geom, xp);
        let live = live.as_ref();
        vector_blocks!(geom.output[2], conv_fwd_c1, geom, xp, kp, bias, live, yp)
    } else {
        let live = live_inputs::<false>(geom, xp);
        let live = live.as_ref();
        vector_blocks!(geom.output[2], conv_fwd_cn, geom, xp, kp, bias, live, yp)
    }
}

#[inline(always)]
unsafe fn conv_fwd_c1<const NV: usize>(
    geom: &Window,
    x: *const f32,
    k: *const f32,
    bias: Option<&[f32]>,
    live: Option<&LiveInputs>,
    y: *mut f32,
    f0: usize,
) {
    conv_fwd_block::<NV, true>(geom, x, k, bias, live, y, f0);
}

#[inline(always)]
unsafe fn conv_fwd_cn<const NV: usize>(
    geom: &Window,
    x: *const f32,
    k: *const f32,
    bias: Option<&[f32]>,
    live: Option<&LiveInputs>,
    y: *mut f32,
    f0: usize,
) {
    conv_fwd_block::<NV, false>(geom, x, k, bias, live, y, f0);
}

/// Per input row, the columns holding a value other than `+0.0` in any
/// channel, as bits (column `iw` is bit `iw`).
type LiveInputs = [u64; 64];

/// The live inputs of one example; `None` when the input is larger than
/// 64x64 (then every window runs its taps).
#[inline(always)]
unsafe fn live_inputs<const ONE_CHANNEL: bool>(geom: &Window, x: *const f32) -> Option<LiveInputs> {
    let [h, w, c] = geom.input;
    let c = if ONE_CHANNEL { 1 } else { c };
    if h > 64 || w > 64 {
        return None;
    }
    let mut rows = [0u64; 64];
    for (ih, row) in rows.iter_mut().enumerate().take(h) {
        let at = x.add(ih * w * c);
        let mut m = 0u64;
        for iw in 0..w {
            let mut bits = 0u32;
            for ci in 0..c {
                bits |= (*at.add(iw * c + ci)).to_bits();
            }
            m |= u64::from(bits != 0) << iw;
        }
        *row = m;
    }
    Some(rows)
}

/// The live columns of output row `oh`'s windows (the union over its
/// kernel rows); `None` when they reach into the padding.
#[inline(always)]
fn row_columns(geom: &Window, live: Option<&LiveInputs>, oh: usize) -> Option<u64> {
    let live = live?;
    let top = (oh * geom.strides[0]).checked_sub(geom.pad_before[0])?;
    let rows = live.get(top..top + geom.kernel[0])?;
    (top + geom.kernel[0] <= geom.input[0]).then(|| rows.iter().fold(0, |m, r| m | r))
}

/// Where output column `ow`'s window starts in its input row; `None` when
/// the window reaches into the padding.
#[inline(always)]
fn window_left(geom: &Window, ow: usize) -> Option<usize> {
    let left = (ow * geom.strides[1]).checked_sub(geom.pad_before[1])?;
    (left + geom.kernel[1] <= geom.input[1]).then_some(left)
}

/// Whether the window starting at input column `left` has a live column.
#[inline(always)]
fn window_live(geom: &Window, cols: u64, left: usize) -> bool {
    let kw_n = geom.kernel[1];
    let span = if kw_n >= 64 { !0 } else { (1u64 << kw_n) - 1 };
    (cols >> left) & span != 0
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_fwd_block<const NV: usize, const ONE_CHANNEL: bool>(
    geom: &Window,
    x: *const f32,
    k: *const f32,
    bias: Option<&[f32]>,
    live: Option<&LiveInputs>,
    y: *mut f32,
    f0: usize,
) {
    let [h, w, c] = geom.input;
    let c = if ONE_CHANNEL { 1 } else { c };
    let [oh_n, ow_n, f] = geom.output;
    let [kh_n, kw_n] = geom.kernel;
    let [sh, sw] = geom.strides;
    let [ph, pw] = geom.pad_before;
    let init: [__m256; NV] = match bias {
        Some(b) => std::array::from_fn(|v| _mm256_loadu_ps(b.as_ptr().add(f0 + v * V))),
        None => [_mm256_setzero_ps(); NV],
    };
    // What every tap of an all-zero window gives, in the taps' order.
    let mut zero = init;
    for t in 0..kh_n * kw_n * c {
        let kr = k.add(t * f + f0);
        for v in 0..NV {
            zero[v] = _mm256_fmadd_ps(_mm256_setzero_ps(), _mm256_loadu_ps(kr.add(v * V)), zero[v]);
        }
    }
    for oh in 0..oh_n {
        let cols = row_columns(geom, live, oh);
        // Two neighbouring output positions at a time share the kernel loads.
        let mut ow = 0;
        while ow < ow_n {
            let two = ow + 1 < ow_n;
            let yo = y.add((oh * ow_n + ow) * f + f0);
            // Both windows inside the input (rows and columns), with where
            // they start.
            let inside = match (cols, window_left(geom, ow), window_left(geom, ow + 1)) {
                (Some(m), Some(l0), Some(l1)) if two => Some((m, l0, l1)),
                _ => None,
            };
            if let Some((m, l0, l1)) = inside {
                if !window_live(geom, m, l0) && !window_live(geom, m, l1) {
                    for v in 0..NV {
                        _mm256_storeu_ps(yo.add(v * V), zero[v]);
                        _mm256_storeu_ps(yo.add(f + v * V), zero[v]);
                    }
                    ow += 2;
                    continue;
                }
                // Every tap inside: no bounds checks.
                let top = oh * sh - ph;
                let (x0, x1) = (x.add((top * w + l0) * c), x.add((top * w + l1) * c));
                let (mut acc0, mut acc1) = (init, init);
                for kh in 0..kh_n {
                    for kw in 0..kw_n {
                        let at = (kh * w + kw) * c;
                        let kb = k.add((kh * kw_n + kw) * c * f + f0);
                        for ci in 0..c {
                            let kr = kb.add(ci * f);
                            let kv: [__m256; NV] =
                                std::array::from_fn(|v| _mm256_loadu_ps(kr.add(v * V)));
                            let (xa, xb) = (
                                _mm256_set1_ps(*x0.add(at + ci)),
                                _mm256_set1_ps(*x1.add(at + ci)),
                            );
                            for v in 0..NV {
                                acc0[v] = _mm256_fmadd_ps(xa, kv[v], acc0[v]);
                                acc1[v] = _mm256_fmadd_ps(xb, kv[v], acc1[v]);
                            }
                        }
                    }
                }
                for v in 0..NV {
                    _mm256_storeu_ps(yo.add(v * V), acc0[v]);
                    _mm256_storeu_ps(yo.add(f + v * V), acc1[v]);
                }
                ow += 2;
                continue;
            }
            let (mut acc0, mut acc1) = (init, init);
            for kh in 0..kh_n {
                let ih = (oh * sh + kh).wrapping_sub(ph);
                if ih >= h {
                    continue;
                }
                for kw in 0..kw_n {
                    let iw0 = (ow * sw + kw).wrapping_sub(pw);
                    let iw1 = iw0.wrapping_add(sw);
                    let (in0, in1) = (iw0 < w, two && iw1 < w);
                    if !in0 && !in1 {
                        continue;
                    }
                    let x0 = x.add((ih * w + iw0.min(w - 1)) * c);
                    let x1 = x.add((ih * w + iw1.min(w - 1)) * c);
                    let kb = k.add((kh * kw_n + kw) * c * f + f0);
                    for ci in 0..c {
                        let kr = kb.add(ci * f);
                        let kv: [__m256; NV] =
                            std::array::from_fn(|v| _mm256_loadu_ps(kr.add(v * V)));
                        if in0 {
                            let xb = _mm256_set1_ps(*x0.add(ci));
                            for v in 0..NV {
                                acc0[v] = _mm256_fmadd_ps(xb, kv[v], acc0[v]);
                            }
                        }
                        if in1 {
                            let xb = _mm256_set1_ps(*x1.add(ci));
                            for v in 0..NV {
                                acc1[v] = _mm256_fmadd_ps(xb, kv[v], acc1[v]);
                            }
                        }
                    }
                }
            }
            for v in 0..NV {
                _mm256_storeu_ps(yo.add(v * V), acc0[v]);
            }
            if two {
                for v in 0..NV {
                    _mm256_storeu_ps(yo.add(f + v * V), acc1[v]);
                }
            }
            ow += 2;
        }
    }
}

/// `dK[kh, kw, c, f] += sum_{b, oh, ow} x_b[ih, iw, c] * dy_b[oh, ow, f]` for
/// filters `0..end` (returned); the caller does the rest.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn conv_bwd_k(
    geom: &Window,
    x: &[f32],
    dy: &[f32],
    g: usize,
    dk: &mut [f32],
) -> usize {
    let (n_in, n_out, n_k) = conv_lens(geom);
    assert!(x.len() >= g * n_in && dy.len() >= g * n_out && dk.len() >= n_k);
    vector_blocks!(
        geom.output[2],
        conv_bwd_k_block,
        geom,
        x.as_ptr(),
        dy.as_ptr(),
        g,
        dk.as_mut_ptr()
    )
}

#[inline(always)]
unsafe fn conv_bwd_k_block<const NV: usize>(
    geom: &Window,
    x: *const f32,
    dy: *const f32,
    g: usize,
    dk: *mut f32,
    f0: usize,
) {
    let [h, w, c] = geom.input;
    let [oh_n, ow_n, f] = geom.output;
    let [kh_n, kw_n] = geom.kernel;
    let [sh, sw] = geom.strides;
    let [ph, pw] = geom.pad_before;
    let (n_in, n_out) = (h * w * c, oh_n * ow_n * f);
    if h <= 64 && w <= 64 {
        for b in 0..g {
            let xb = x.add(b * n_in);
            if let Some(rows) = live_inputs::<false>(geom, xb) {
                conv_bwd_k_sparse::<NV>(geom, &rows, xb, dy.add(b * n_out), dk, f0);
            }
        }
        return;
    }
    for kh in 0..kh_n {
        let (oh_lo, oh_hi) = valid(oh_n, h, sh, ph, kh);
        for kw in 0..kw_n {
            let (ow_lo, ow_hi) = valid(ow_n, w, sw, pw, kw);
            for ci in 0..c {
                let dkr = dk.add(((kh * kw_n + kw) * c + ci) * f + f0);
                let mut acc: [__m256; NV] =
                    std::array::from_fn(|v| _mm256_loadu_ps(dkr.add(v * V)));
                for b in 0..g {
                    let xb = x.add(b * n_in);
                    let dyb = dy.add(b * n_out);
                    for oh in oh_lo..oh_hi {
                        let ih = oh * sh + kh - ph;
                        for ow in ow_lo..ow_hi {
                            let iw = ow * sw + kw - pw;
                            let xv = *xb.add((ih * w + iw) * c + ci);
                            if xv == 0.0 {
                                continue;
                            }
                            let xs = _mm256_set1_ps(xv);
                            let d = dyb.add((oh * ow_n + ow) * f + f0);
                            for v in 0..NV {
                                acc[v] = _mm256_fmadd_ps(xs, _mm256_loadu_ps(d.add(v * V)), acc[v]);
                            }
                        }
                    }
                }
                for v in 0..NV {
                    _mm256_storeu_ps(dkr.add(v * V), acc[v]);
                }
            }
        }
    }
}

/// The kernel gradient of one example (inputs at most 64x64), visiting
/// only the columns `rows` ([`live_inputs`]) marks, in column order; a
/// zero input there (`-0.0` counts as live) is still skipped. Each `dK` row sums
/// the same products in the same order as the dense loop (examples, then
/// output rows, then columns; zero inputs skipped in both), so the bits
/// are the same; the branch per input is gone.
#[inline(always)]
unsafe fn conv_bwd_k_sparse<const NV: usize>(
    geom: &Window,
    rows: &LiveInputs,
    x: *const f32,
    dy: *const f32,
    dk: *mut f32,
    f0: usize,
) {
    let [h, w, c] = geom.input;
    let [oh_n, ow_n, f] = geom.output;
    let [kh_n, kw_n] = geom.kernel;
    let [sh, sw] = geom.strides;
    let [ph, pw] = geom.pad_before;
    for kh in 0..kh_n {
        let (oh_lo, oh_hi) = valid(oh_n, h, sh, ph, kh);
        for kw in 0..kw_n {
            let (ow_lo, ow_hi) = valid(ow_n, w, sw, pw, kw);
            if ow_lo >= ow_hi {
                continue;
            }
            // The input columns of output columns ow_lo..ow_hi.
            let (lo, hi) = (ow_lo * sw + kw - pw, (ow_hi - 1) * sw + kw - pw);
            let span = (!0u64 >> (63 - hi)) & (!0u64 << lo);
            for ci in 0..c {
                let dkr = dk.add(((kh * kw_n + kw) * c + ci) * f + f0);
                let mut acc: [__m256; NV] =
                    std::array::from_fn(|v| _mm256_loadu_ps(dkr.add(v * V)));
                for oh in oh_lo..oh_hi {
                    let ih = oh * sh + kh - ph;
                    let mut m = rows[ih] & span;
                    while m != 0 {
                        let iw = m.trailing_zeros() as usize;
                        m &= m - 1;
                        let xv = *x.add((ih * w + iw) * c + ci);
                        let o = iw + pw - kw;
                        if xv == 0.0 || !o.is_multiple_of(sw) {
                            continue;
                        }
                        let xs = _mm256_set1_ps(xv);
                        let d = dy.add((oh * ow_n + o / sw) * f + f0);
                        for v in 0..NV {
                            acc[v] = _mm256_fmadd_ps(xs, _mm256_loadu_ps(d.add(v * V)), acc[v]);
                        }
                    }
                }
                for v in 0..NV {
                    _mm256_storeu_ps(dkr.add(v * V), acc[v]);
                }
            }
        }
    }
}

/// `dx[ih, iw, c] += sum_{kh, kw, f} dy[oh, ow, f] * K[kh, kw, c, f]` of one
/// example for input channels `0..end` (returned), with `kt` the kernel as
/// `[kh, kw, f, c]`; the caller does the remaining channels.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn conv_bwd_x(geom: &Window, dy: &[f32], kt: &[f32], dx: &mut [f32]) -> usize {
    let (n_in, n_out, n_k) = conv_lens(geom);
    assert!(dy.len() >= n_out && kt.len() >= n_k && dx.len() >= n_in);
    vector_blocks!(
        geom.input[2],
        conv_bwd_x_block,
        geom,
        dy.as_ptr(),
        kt.as_ptr(),
        dx.as_mut_ptr()
    )
}

#[inline(always)]
unsafe fn conv_bwd_x_block<const NV: usize>(
    geom: &Window,
    dy: *const f32,
    kt: *const f32,
    dx: *mut f32,
    c0: usize,
) {
    let [h, w, c] = geom.input;
    let [oh_n, ow_n, f] = geom.output;
    let [kh_n, kw_n] = geom.kernel;
    let [sh, sw] = geom.strides;
    let [ph, pw] = geom.pad_before;
    for oh in 0..oh_n {
        for ow in 0..ow_n {
            let dyr = dy.add((oh * ow_n + ow) * f);
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
                    let dxr = dx.add((ih * w + iw) * c + c0);
                    let kb = kt.add((kh * kw_n + kw) * f * c + c0);
                    let mut acc: [__m256; NV] =
                        std::array::from_fn(|v| _mm256_loadu_ps(dxr.add(v * V)));
                    for ff in 0..f {
                        let d = *dyr.add(ff);
                        if d == 0.0 {
                            continue;
                        }
                        let db = _mm256_set1_ps(d);
                        let kr = kb.add(ff * c);
                        for v in 0..NV {
                            acc[v] = _mm256_fmadd_ps(db, _mm256_loadu_ps(kr.add(v * V)), acc[v]);
                        }
                    }
                    for v in 0..NV {
                        _mm256_storeu_ps(dxr.add(v * V), acc[v]);
                    }
                }
            }
        }
    }
}
