//! Precompiled AVX2 loops that the generated code calls where 128-bit
//! lanes (all Cranelift 0.135 emits on x86-64) leave half the machine idle.
//!
//! One loop so far: summing a conv input position's queued channels into
//! an output row (`Emitter::run_into_row`). When most neurons fire (the
//! `hot` case: 19-27% of them every step) those sums are most of the run,
//! bound by the multiplies and adds themselves, so eight lanes do them in
//! half the instructions of four (docs/architecture.md has the
//! measurements). The multiply and the add stay two operations, as in the
//! reference: fusing them would change the rounding. AVX-512 measured no
//! faster than AVX2 on the Zen 4 machines we run on (which split 512-bit
//! operations in two), so AVX2 it is.
//!
//! Each output element receives the same operations in the same order as
//! in the emitted loop (queue order, `acc + x * w`), so the results are the
//! reference's bit for bit; `tests/jit.rs` runs both against it.

/// Which loops the generated code may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// Only the loops Cranelift emits.
    Emitted,
    /// The precompiled AVX2 loops where they apply.
    Avx2,
}

impl Kernels {
    /// The best the CPU runs.
    pub fn detect() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Kernels::Avx2;
        }
        Kernels::Emitted
    }
}

/// `(row, kernel, channels, values, n, f)`: adds the `n` queued inputs of
/// one position (a run of `lower::SpikeQueue`: their channels and values)
/// into the output row `row`, `row[..f] += values[j] *
/// kernel[channels[j] * f..][..f]` in queue order. `f` is a multiple of 8.
pub type AddRows = unsafe extern "C" fn(*mut f32, *const f32, *const u32, *const f32, u64, u64);

/// The precompiled row sum, if `kernels` allows one and the CPU runs it.
pub fn add_rows(kernels: Kernels) -> Option<AddRows> {
    match kernels {
        Kernels::Emitted => None,
        #[cfg(target_arch = "x86_64")]
        Kernels::Avx2 if std::arch::is_x86_feature_detected!("avx2") => Some(avx2::add_rows),
        Kernels::Avx2 => None,
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// See [`super::AddRows`]. Blocks of 64 elements are summed in eight
    /// registers through the whole queue, then single blocks of eight.
    ///
    /// # Safety
    /// The CPU has AVX2; `row` holds `f` elements, each queued channel's
    /// kernel row `f` elements, and `channels` and `values` `n` each.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe extern "C" fn add_rows(
        row: *mut f32,
        kernel: *const f32,
        channels: *const u32,
        values: *const f32,
        n: u64,
        f: u64,
    ) {
        let (n, f) = (n as usize, f as usize);
        let term = |j: usize, at: usize| {
            let x = _mm256_set1_ps(*values.add(j));
            (x, kernel.add(*channels.add(j) as usize * f + at))
        };
        let mut at = 0;
        while at + 64 <= f {
            let out = row.add(at);
            let mut acc: [__m256; 8] = std::array::from_fn(|k| _mm256_loadu_ps(out.add(8 * k)));
            for j in 0..n {
                let (x, w) = term(j, at);
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(x, _mm256_loadu_ps(w.add(8 * k))));
                }
            }
            for (k, a) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.add(8 * k), *a);
            }
            at += 64;
        }
        while at < f {
            let out = row.add(at);
            let mut a = _mm256_loadu_ps(out);
            for j in 0..n {
                let (x, w) = term(j, at);
                a = _mm256_add_ps(a, _mm256_mul_ps(x, _mm256_loadu_ps(w)));
            }
            _mm256_storeu_ps(out, a);
            at += 8;
        }
    }
}
