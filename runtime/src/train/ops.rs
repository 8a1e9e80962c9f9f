//! The kernels the engine calls: the AVX2 + FMA f32 versions (`simd`) when
//! the run uses them and the scalar type is f32, the portable ones
//! (`kernels`) otherwise.

use std::any::TypeId;

use snnc_compiler::ir::Window;

use super::kernels as portable;
use crate::engine::Real;

/// The instruction set of the hot kernels, chosen once per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The portable kernels (separate multiply and add).
    Portable,
    /// AVX2 vectors and fused multiply-adds for f32 (x86-64 only).
    Avx2Fma,
}

impl Isa {
    /// The best the CPU offers.
    pub(crate) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Isa::Avx2Fma;
        }
        Isa::Portable
    }
}

/// `x` as f32 when `T` is f32.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn f32s<T: 'static>(x: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32, so the slice is a slice of f32.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<f32>(), x.len()) })
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn f32s_mut<T: 'static>(x: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: T is f32, so the slice is a slice of f32.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<f32>(), x.len()) })
}

/// Runs `$simd` (an expression using the f32 views of the listed slices)
/// when the run uses AVX2 and `T` is f32; evaluates to whether it did.
macro_rules! try_simd {
    ($isa:expr, [$($s:ident),*], [$($m:ident),*], $simd:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            let mut done = false;
            if $isa == Isa::Avx2Fma {
                if let ($(Some($s),)* $(Some($m),)*) = ($(f32s($s),)* $(f32s_mut($m),)*) {
                    // SAFETY: `Isa::Avx2Fma` is only chosen on CPUs with AVX2 and FMA.
                    #[allow(unused_unsafe)]
                    unsafe {
                        $simd;
                    }
                    done = true;
                }
            }
            done
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $isa;
            false
        }
    }};
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_fwd<T: Real>(
    isa: Isa,
    x: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    n_in: usize,
    n_out: usize,
    g: usize,
    y: &mut [T],
) {
    let b32 = bias.map(|b| f32s(b));
    if !matches!(b32, Some(None))
        && try_simd!(
            isa,
            [x, wt],
            [y],
            super::simd::dense_fwd(x, wt, b32.flatten(), n_in, n_out, g, y)
        )
    {
        return;
    }
    portable::dense_fwd(x, wt, bias, n_in, n_out, g, y);
}

pub(crate) fn dense_bwd_w<T: Real>(
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
        super::simd::dense_bwd_w(x, dy, n_in, n_out, g, dwt)
    ) {
        portable::dense_bwd_w(x, dy, n_in, n_out, g, dwt);
    }
}

pub(crate) fn dense_bwd_x<T: Real>(
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
        super::simd::dense_bwd_x(dy, wt, n_in, n_out, g, dx)
    ) {
        portable::dense_bwd_x(dy, wt, n_in, n_out, g, dx);
    }
}

pub(crate) fn conv_fwd<T: Real>(
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
                end = super::simd::conv_fwd(geom, xb, k, b32.flatten(), yb)
            );
        }
        if end < geom.output[2] {
            portable::conv_fwd_example(geom, xb, k, bias, yb, end);
        }
    }
}

pub(crate) fn conv_bwd_k<T: Real>(
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
    if isa == Isa::Avx2Fma && geom.input[2] >= super::gemm::MIN_CHANNELS {
        if let (Some(x), Some(dy), Some(dk)) = (f32s(x), f32s(dy), f32s_mut(dk)) {
            super::gemm::conv_bwd_k(geom, x, dy, g, dk);
            return;
        }
    }
    let mut end = 0;
    try_simd!(
        isa,
        [x, dy],
        [dk],
        end = super::simd::conv_bwd_k(geom, x, dy, g, dk)
    );
    if end < geom.output[2] {
        portable::conv_bwd_k(geom, x, dy, g, dk, end);
    }
}

/// The input gradient; `k` is the kernel `[kh, kw, c, f]` and `kt` the same
/// kernel transposed to `[kh, kw, f, c]` (what the hand kernels read).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_bwd_x<T: Real>(
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
    if isa == Isa::Avx2Fma && geom.input[2] >= super::gemm::MIN_CHANNELS {
        if let (Some(dy), Some(k), Some(dx)) = (f32s(dy), f32s(k), f32s_mut(dx)) {
            super::gemm::conv_bwd_x(geom, dy, k, g, dx);
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
            end = super::simd::conv_bwd_x(geom, dyb, kt, dxb)
        );
    }
    if end < geom.input[2] {
        portable::conv_bwd_x(geom, dy, kt, g, dx, end);
    }
}

#[cfg(test)]
mod tests {
    //! The AVX2 kernels against the portable ones, on shapes that exercise
    //! every block width and remainder, strides and padding.
    use super::*;
    use crate::rng::SplitMix64;
    use snnc_compiler::ir::Padding;

    fn rand(rng: &mut SplitMix64, n: usize, zeros: bool) -> Vec<f32> {
        (0..n)
            .map(|_| {
                if zeros && rng.below(3) == 0 {
                    0.0
                } else {
                    (rng.uniform() * 2.0 - 1.0) as f32
                }
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "element {i}: {x} vs {y}"
            );
        }
    }

    #[test]
    fn simd_kernels_match_portable() {
        if Isa::detect() != Isa::Avx2Fma {
            eprintln!("no AVX2/FMA here; nothing to compare");
            return;
        }
        let mut rng = SplitMix64::new(9);
        let g = 3;
        for &(n_in, n_out) in &[(37, 10), (64, 7), (5, 1), (100, 33)] {
            let x = rand(&mut rng, g * n_in, true);
            let wt = rand(&mut rng, n_in * n_out, false);
            let bias = rand(&mut rng, n_out, false);
            let dy = rand(&mut rng, g * n_out, false);
            let run = |isa: Isa| {
                let mut y = vec![0.0f32; g * n_out];
                dense_fwd(isa, &x, &wt, Some(&bias), n_in, n_out, g, &mut y);
                let mut dw = rand(&mut SplitMix64::new(1), n_in * n_out, false);
                dense_bwd_w(isa, &x, &dy, n_in, n_out, g, &mut dw);
                let mut dx = rand(&mut SplitMix64::new(2), g * n_in, false);
                dense_bwd_x(isa, &dy, &wt, n_in, n_out, g, &mut dx);
                (y, dw, dx)
            };
            let (a, b) = (run(Isa::Avx2Fma), run(Isa::Portable));
            close(&a.0, &b.0);
            close(&a.1, &b.1);
            close(&a.2, &b.2);
        }
        let geoms = [
            // (input, kernel, strides, padding 'same'?, filters)
            ([6, 7, 1], [3, 3], [1, 1], false, 32),
            ([6, 7, 3], [3, 2], [2, 1], true, 45),
            ([5, 5, 20], [2, 2], [1, 2], false, 12),
            ([7, 7, 9], [4, 4], [2, 2], true, 3),
        ];
        for &(input, kernel, strides, same, filters) in &geoms {
            let padding = if same { Padding::Same } else { Padding::Valid };
            let geom = Window::resolve(input, kernel, strides, padding, filters).unwrap();
            let [oh, ow, _] = geom.output;
            let (n_in, n_out) = (input.iter().product::<usize>(), oh * ow * filters);
            let n_k = kernel[0] * kernel[1] * input[2] * filters;
            let x = rand(&mut rng, g * n_in, true);
            let k = rand(&mut rng, n_k, false);
            let bias = rand(&mut rng, filters, false);
            let dy = rand(&mut rng, g * n_out, true);
            let (c, taps) = (input[2], kernel[0] * kernel[1]);
            let mut kt = vec![0.0f32; n_k];
            for tap in 0..taps {
                for ci in 0..c {
                    for o in 0..filters {
                        kt[(tap * filters + o) * c + ci] = k[(tap * c + ci) * filters + o];
                    }
                }
            }
            let run = |isa: Isa| {
                let mut y = vec![0.0f32; g * n_out];
                conv_fwd(isa, &geom, &x, &k, Some(&bias), g, &mut y);
                let mut dk = rand(&mut SplitMix64::new(3), n_k, false);
                conv_bwd_k(isa, &geom, &x, &dy, g, &mut dk);
                let mut dx = rand(&mut SplitMix64::new(4), g * n_in, false);
                conv_bwd_x(isa, &geom, &dy, &k, &kt, g, &mut dx);
                (y, dk, dx)
            };
            let (a, b) = (run(Isa::Avx2Fma), run(Isa::Portable));
            close(&a.0, &b.0);
            close(&a.1, &b.1);
            close(&a.2, &b.2);
        }
    }
}

#[cfg(test)]
mod bench {
    //! `cargo test --release -p snnc-runtime --lib train::ops::bench -- --ignored --nocapture`
    use super::*;
    use crate::rng::SplitMix64;
    use snnc_compiler::ir::Padding;
    use std::time::Instant;

    fn time(name: &str, macs_per_example: f64, g: usize, mut f: impl FnMut()) {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..20 {
                f();
            }
            best = best.min(t.elapsed().as_secs_f64() / 20.0);
        }
        let per = best / g as f64;
        eprintln!(
            "{name:<12} {:8.2} us/example  {:6.1} GFLOP/s",
            per * 1e6,
            2.0 * macs_per_example / per / 1e9
        );
    }

    #[test]
    #[ignore = "a micro-benchmark of the training kernels, run by hand in release mode"]
    fn seed_kernels() {
        let isa = Isa::detect();
        let g = 8;
        let mut rng = SplitMix64::new(1);
        let mut r = |n: usize, zeros: bool| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    if zeros && rng.below(2) == 0 {
                        0.0
                    } else {
                        rng.uniform() as f32
                    }
                })
                .collect()
        };
        let geom = Window::resolve([28, 28, 1], [3, 3], [1, 1], Padding::Valid, 32).unwrap();
        let (n_in, n_hid, n_out) = (784, 21632, 10);
        let img = r(g * n_in, true);
        let k = r(288, false);
        let bias = r(32, false);
        let mut hid = r(g * n_hid, true);
        let wt = r(n_hid * n_out, false);
        let dy = r(g * n_out, false);
        let mut dk = vec![0.0f32; 288];
        let mut dw = vec![0.0f32; n_hid * n_out];
        let mut dx = vec![0.0f32; g * n_hid];
        let mut y = vec![0.0f32; g * n_out];
        let conv_macs = (26 * 26 * 32 * 9) as f64;
        let dense_macs = (n_hid * n_out) as f64;
        time("conv_fwd", conv_macs, g, || {
            conv_fwd(isa, &geom, &img, &k, Some(&bias), g, &mut hid)
        });
        time("conv_bwd_k", conv_macs, g, || {
            conv_bwd_k(isa, &geom, &img, &hid, g, &mut dk)
        });
        time("dense_fwd", dense_macs, g, || {
            dense_fwd(isa, &hid, &wt, Some(&bias[..10]), n_hid, n_out, g, &mut y)
        });
        time("dense_bwd_w", dense_macs, g, || {
            dense_bwd_w(isa, &hid, &dy, n_hid, n_out, g, &mut dw)
        });
        time("dense_bwd_x", dense_macs, g, || {
            dense_bwd_x(isa, &dy, &wt, n_hid, n_out, g, &mut dx)
        });
    }

    /// The hand-written conv kernels against im2col + `matrixmultiply`'s
    /// sgemm on the keras-to-snn network's wide layer (26x26x32 -> 3x3
    /// stride 2 -> 12x12x64), forward and kernel gradient, im2col included
    /// in the GEMM's time. Both must give the same values (up to rounding).
    #[test]
    #[ignore = "a micro-benchmark of the training kernels, run by hand in release mode"]
    fn wide_conv_against_gemm() {
        let isa = Isa::detect();
        let g = 8;
        let mut rng = SplitMix64::new(2);
        // Half the inputs zero, as after a ReLU (the hand kernels skip them).
        let mut r = |n: usize, zeros: bool| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    if zeros && rng.below(2) == 0 {
                        0.0
                    } else {
                        rng.uniform() as f32 - 0.5
                    }
                })
                .collect()
        };
        let geom = Window::resolve([26, 26, 32], [3, 3], [2, 2], Padding::Valid, 64).unwrap();
        assert_eq!(geom.output, [12, 12, 64]);
        let (n_in, n_out, taps, f) = (26 * 26 * 32, 12 * 12 * 64, 3 * 3 * 32, 64);
        let positions = 144;
        let x = r(g * n_in, true);
        let k = r(taps * f, false);
        let bias = r(f, false);
        let dy = r(g * n_out, false);
        let macs = (positions * taps * f) as f64;
        // im2col: row p = output position, column (kh, kw, c) like K's rows.
        let im2col = |xb: &[f32], a: &mut [f32]| {
            for oh in 0..12 {
                for ow in 0..12 {
                    let row = &mut a[(oh * 12 + ow) * taps..][..taps];
                    for kh in 0..3 {
                        let src = ((oh * 2 + kh) * 26 + ow * 2) * 32;
                        row[kh * 96..kh * 96 + 96].copy_from_slice(&xb[src..src + 96]);
                    }
                }
            }
        };
        let mut a = vec![0.0f32; positions * taps];
        let mut y_hand = vec![0.0f32; g * n_out];
        let mut y_gemm = vec![0.0f32; g * n_out];
        let gemm_fwd = |a: &mut [f32], y: &mut [f32]| {
            for b in 0..g {
                im2col(&x[b * n_in..(b + 1) * n_in], a);
                let yb = &mut y[b * n_out..(b + 1) * n_out];
                for p in 0..positions {
                    yb[p * f..(p + 1) * f].copy_from_slice(&bias);
                }
                // SAFETY: the slices hold m*k, k*n and m*n values with these strides.
                unsafe {
                    matrixmultiply::sgemm(
                        positions,
                        taps,
                        f,
                        1.0,
                        a.as_ptr(),
                        taps as isize,
                        1,
                        k.as_ptr(),
                        f as isize,
                        1,
                        1.0,
                        yb.as_mut_ptr(),
                        f as isize,
                        1,
                    );
                }
            }
        };
        conv_fwd(isa, &geom, &x, &k, Some(&bias), g, &mut y_hand);
        gemm_fwd(&mut a, &mut y_gemm);
        let worst = y_hand
            .iter()
            .zip(&y_gemm)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-3, "forward differs by {worst}");
        time("conv_fwd", macs, g, || {
            conv_fwd(isa, &geom, &x, &k, Some(&bias), g, &mut y_hand)
        });
        time("gemm_fwd", macs, g, || gemm_fwd(&mut a, &mut y_gemm));

        let mut dk_hand = vec![0.0f32; taps * f];
        let mut dk_gemm = vec![0.0f32; taps * f];
        let gemm_bwd_k = |a: &mut [f32], dk: &mut [f32]| {
            for b in 0..g {
                im2col(&x[b * n_in..(b + 1) * n_in], a);
                // dK += A^T dY: A read transposed through its strides.
                // SAFETY: as above.
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
        };
        // SAFETY: this machine has AVX2 and FMA (the benchmark is run by hand).
        let hand_bwd_k =
            |dk: &mut [f32]| unsafe { crate::train::simd::conv_bwd_k(&geom, &x, &dy, g, dk) };
        hand_bwd_k(&mut dk_hand);
        gemm_bwd_k(&mut a, &mut dk_gemm);
        let worst = dk_hand
            .iter()
            .zip(&dk_gemm)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-2, "kernel gradient differs by {worst}");
        time("conv_bwd_k", macs, g, || {
            hand_bwd_k(&mut dk_hand);
        });
        time("gemm_bwd_k", macs, g, || gemm_bwd_k(&mut a, &mut dk_gemm));

        // The input gradient: the hand kernel takes K transposed to [kh, kw, f, c].
        let mut kt = vec![0.0f32; taps * f];
        for tap in 0..9 {
            for c in 0..32 {
                for o in 0..f {
                    kt[(tap * f + o) * 32 + c] = k[(tap * 32 + c) * f + o];
                }
            }
        }
        let mut dx_hand = vec![0.0f32; g * n_in];
        let mut dx_gemm = vec![0.0f32; g * n_in];
        // SAFETY: as above.
        let hand_bwd_x = |dx: &mut [f32]| {
            for b in 0..g {
                unsafe {
                    crate::train::simd::conv_bwd_x(
                        &geom,
                        &dy[b * n_out..],
                        &kt,
                        &mut dx[b * n_in..],
                    );
                }
            }
        };
        hand_bwd_x(&mut dx_hand);
        crate::train::gemm::conv_bwd_x(&geom, &dy, &k, g, &mut dx_gemm);
        let worst = dx_hand
            .iter()
            .zip(&dx_gemm)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-3, "input gradient differs by {worst}");
        time("conv_bwd_x", macs, g, || hand_bwd_x(&mut dx_hand));
        time("gemm_bwd_x", macs, g, || {
            crate::train::gemm::conv_bwd_x(&geom, &dy, &k, g, &mut dx_gemm)
        });
    }
}
