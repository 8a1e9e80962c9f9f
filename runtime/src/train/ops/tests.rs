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

/// Mostly `+0.0`, with a few values and a few `-0.0` (which count as live).
fn sparse(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.below(10) {
            0 => -0.0,
            1 | 2 => (rng.uniform() * 2.0 - 1.0) as f32,
            _ => 0.0,
        })
        .collect()
}

#[test]
fn simd_conv_fwd_is_the_tap_chain_bit_for_bit() {
    // The AVX2 forward skips windows of `+0.0` inputs; every output must
    // still be the chain `bias, then fma(x, k, acc)` over the taps inside
    // the input in (kh, kw, c) order, bit for bit, -0.0 biases included.
    if Isa::detect() != Isa::Avx2Fma {
        eprintln!("no AVX2/FMA here; nothing to compare");
        return;
    }
    let mut rng = SplitMix64::new(11);
    let g = 3;
    let geoms = [
        ([12, 11, 1], [3, 3], [1, 1], false, 32),
        ([9, 10, 1], [3, 3], [1, 1], true, 40),
        ([9, 9, 3], [3, 2], [2, 1], true, 16),
        ([8, 8, 2], [2, 3], [1, 2], false, 8),
        ([70, 5, 1], [3, 3], [1, 1], false, 8),
    ];
    for &(input, kernel, strides, same, filters) in &geoms {
        let padding = if same { Padding::Same } else { Padding::Valid };
        let geom = Window::resolve(input, kernel, strides, padding, filters).unwrap();
        let [oh_n, ow_n, _] = geom.output;
        let [h, w, c] = input;
        let n_in = h * w * c;
        let x = sparse(&mut rng, g * n_in);
        let k = rand(&mut rng, kernel[0] * kernel[1] * c * filters, false);
        let mut bias = rand(&mut rng, filters, false);
        bias[0] = -0.0;
        bias[1] = 0.0;
        let mut y = vec![f32::NAN; g * oh_n * ow_n * filters];
        conv_fwd(Isa::Avx2Fma, &geom, &x, &k, Some(&bias), g, &mut y);
        for b in 0..g {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    for fo in 0..filters {
                        let mut acc = bias[fo];
                        for kh in 0..kernel[0] {
                            let ih = (oh * strides[0] + kh).wrapping_sub(geom.pad_before[0]);
                            for kw in 0..kernel[1] {
                                let iw = (ow * strides[1] + kw).wrapping_sub(geom.pad_before[1]);
                                if ih >= h || iw >= w {
                                    continue;
                                }
                                for ci in 0..c {
                                    let xv = x[b * n_in + (ih * w + iw) * c + ci];
                                    let kv = k[((kh * kernel[1] + kw) * c + ci) * filters + fo];
                                    acc = xv.mul_add(kv, acc);
                                }
                            }
                        }
                        let got = y[((b * oh_n + oh) * ow_n + ow) * filters + fo];
                        assert_eq!(
                            got.to_bits(),
                            acc.to_bits(),
                            "{input:?} {kernel:?}: example {b}, output ({oh}, {ow}, {fo}): {got} vs {acc}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn simd_dense_fwd_is_its_lane_sums_bit_for_bit() {
    // Per example and output: two 8-lane partial sums over the inputs in
    // order (16 at a time), added and summed across lanes in a fixed order,
    // then the inputs left over, then the bias; whatever the number of
    // examples, outputs and inputs (the loops are blocked over all three).
    if Isa::detect() != Isa::Avx2Fma {
        eprintln!("no AVX2/FMA here; nothing to compare");
        return;
    }
    let mut rng = SplitMix64::new(12);
    for &(g, n_in, n_out) in &[(3, 37, 10), (17, 600, 5), (2, 2000, 19), (20, 16, 1)] {
        let x = rand(&mut rng, g * n_in, true);
        let wt = rand(&mut rng, n_in * n_out, false);
        let bias = rand(&mut rng, n_out, false);
        let mut y = vec![f32::NAN; g * n_out];
        dense_fwd(Isa::Avx2Fma, &x, &wt, Some(&bias), n_in, n_out, g, &mut y);
        let full = n_in - n_in % 16;
        for b in 0..g {
            for o in 0..n_out {
                let (xb, row) = (&x[b * n_in..][..n_in], &wt[o * n_in..][..n_in]);
                let mut lanes = [0.0f32; 16];
                for i in 0..full {
                    lanes[i % 16] = xb[i].mul_add(row[i], lanes[i % 16]);
                }
                let v: Vec<f32> = (0..8).map(|l| lanes[l] + lanes[8 + l]).collect();
                let q: Vec<f32> = (0..4).map(|l| v[l] + v[l + 4]).collect();
                let mut s = (q[0] + q[2]) + (q[1] + q[3]);
                for i in full..n_in {
                    s = xb[i].mul_add(row[i], s);
                }
                let want = bias[o] + s;
                let got = y[b * n_out + o];
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "g {g}, {n_in}x{n_out}: example {b}, output {o}"
                );
            }
        }
    }
}

#[test]
fn simd_conv_bwd_k_is_the_example_chain_bit_for_bit() {
    // The AVX2 kernel gradient walks only nonzero inputs; every `dK` entry
    // must still be its start value, then `fma(x, dy, acc)` over the
    // examples, output rows and columns in order, zero inputs skipped.
    if Isa::detect() != Isa::Avx2Fma {
        eprintln!("no AVX2/FMA here; nothing to compare");
        return;
    }
    let mut rng = SplitMix64::new(13);
    let g = 3;
    let geoms = [
        ([12, 11, 1], [3, 3], [1, 1], false, 32),
        ([9, 10, 1], [3, 3], [1, 1], true, 40),
        ([9, 9, 3], [3, 2], [2, 1], true, 16),
        ([8, 8, 2], [2, 3], [1, 2], false, 8),
        ([11, 7, 1], [3, 3], [2, 3], true, 8),
        ([70, 5, 1], [3, 3], [1, 1], false, 8),
    ];
    for &(input, kernel, strides, same, filters) in &geoms {
        let padding = if same { Padding::Same } else { Padding::Valid };
        let geom = Window::resolve(input, kernel, strides, padding, filters).unwrap();
        let [oh_n, ow_n, _] = geom.output;
        let [h, w, c] = input;
        let (n_in, n_out) = (h * w * c, oh_n * ow_n * filters);
        let x = sparse(&mut rng, g * n_in);
        let dy = rand(&mut rng, g * n_out, true);
        let dk0 = rand(&mut rng, kernel[0] * kernel[1] * c * filters, false);
        let mut dk = dk0.clone();
        conv_bwd_k(Isa::Avx2Fma, &geom, &x, &dy, g, &mut dk);
        for kh in 0..kernel[0] {
            for kw in 0..kernel[1] {
                for ci in 0..c {
                    for fo in 0..filters {
                        let at = ((kh * kernel[1] + kw) * c + ci) * filters + fo;
                        let mut acc = dk0[at];
                        for b in 0..g {
                            for oh in 0..oh_n {
                                let ih = (oh * strides[0] + kh).wrapping_sub(geom.pad_before[0]);
                                for ow in 0..ow_n {
                                    let iw =
                                        (ow * strides[1] + kw).wrapping_sub(geom.pad_before[1]);
                                    if ih >= h || iw >= w {
                                        continue;
                                    }
                                    let xv = x[b * n_in + (ih * w + iw) * c + ci];
                                    if xv != 0.0 {
                                        let d = dy[b * n_out + (oh * ow_n + ow) * filters + fo];
                                        acc = xv.mul_add(d, acc);
                                    }
                                }
                            }
                        }
                        assert_eq!(
                            dk[at].to_bits(),
                            acc.to_bits(),
                            "{input:?} {kernel:?} {strides:?}: dK ({kh}, {kw}, {ci}, {fo})"
                        );
                    }
                }
            }
        }
    }
}
