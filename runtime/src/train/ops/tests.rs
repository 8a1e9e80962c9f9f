//! The AVX2 kernels against the portable ones, on shapes that exercise
//! every block width and remainder, strides and padding.
use super::conv::{conv_bwd_k, conv_bwd_x, conv_fwd};
use super::dense::{dense_bwd_w, dense_bwd_x, dense_fwd};
use crate::rng::SplitMix64;
use crate::train::isa::Isa;
use snnc_compiler::ir::Padding;
use snnc_compiler::ir::Window;

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
