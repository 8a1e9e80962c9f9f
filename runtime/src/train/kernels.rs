//! The building blocks the ops' portable kernels (`ops`) share: `axpy`,
//! sums, dot products, the valid range of a window's tap and fixed-width
//! accumulator blocks.
//!
//! Inner loops run over contiguous memory (output channels, input
//! features) with fixed-size accumulator blocks so that the compiler keeps
//! them in vector registers; the order of every floating-point sum is
//! fixed by the code, never by threads.

use crate::engine::Real;

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
pub(crate) fn dot4<T: Real>(x: &[T], w: [&[T]; 4]) -> [T; 4] {
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
pub(crate) fn valid(n_out: usize, n: usize, s: usize, p: usize, k: usize) -> (usize, usize) {
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

pub(crate) use blocks;

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
