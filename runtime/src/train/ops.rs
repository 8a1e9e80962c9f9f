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

pub(crate) fn conv_bwd_x<T: Real>(
    isa: Isa,
    geom: &Window,
    dy: &[T],
    kt: &[T],
    g: usize,
    dx: &mut [T],
) {
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
            let run = |isa: Isa| {
                let mut y = vec![0.0f32; g * n_out];
                conv_fwd(isa, &geom, &x, &k, Some(&bias), g, &mut y);
                let mut dk = rand(&mut SplitMix64::new(3), n_k, false);
                conv_bwd_k(isa, &geom, &x, &dy, g, &mut dk);
                let mut dx = rand(&mut SplitMix64::new(4), g * n_in, false);
                conv_bwd_x(isa, &geom, &dy, &k, g, &mut dx);
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
}
