//! `cargo test --release -p snnc-runtime --lib train::ops::bench -- --ignored --nocapture`
use super::conv::{conv_bwd_k, conv_fwd};
use super::dense::{dense_bwd_w, dense_bwd_x, dense_fwd};
use crate::rng::SplitMix64;
use crate::train::isa::Isa;
use snnc_compiler::ir::Padding;
use snnc_compiler::ir::Window;
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
                crate::train::simd::conv_bwd_x(&geom, &dy[b * n_out..], &kt, &mut dx[b * n_in..]);
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
