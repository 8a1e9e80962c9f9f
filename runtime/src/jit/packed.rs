//! The driver's half of a packed spiking ReLU layer (`layout::CompactSlots`):
//! its steps worked out a block at a time, ahead of the generated code.
//!
//! A packed layer's current is constant over the presentation, so its
//! neurons depend on nothing else in the network: each listed entry does
//! the reference's `v += inc; k = floor(v); v -= k` every step, with the
//! increment `inc = max(J, 0) * dt` the driver made. Done here for
//! `STEP_BLOCK` steps with each group's voltages held in registers, the
//! step's own loop (in the generated code) visits only the groups that
//! spiked, in the order the dense loop would: the same operations on the
//! same values, so the results are the reference's bit for bit.

use crate::engine::Real;

/// Where one block's events go: per step `s`, region `s` (of `groups`
/// events) of `groups_at` (each event's first entry) and of `spikes` (its
/// `lanes` spike counts), the number filled in `lens[s]`.
pub struct Events<'a, T> {
    pub groups_at: &'a mut [u32],
    pub spikes: &'a mut [T],
    pub lens: &'a mut [i64],
    pub groups: usize,
}

impl<T: Copy> Events<'_, T> {
    /// Records that the group at entry `first` spiked `k` at step `s`.
    fn push(&mut self, s: usize, first: usize, k: &[T]) {
        let at = s * self.groups + self.lens[s] as usize;
        self.groups_at[at] = first as u32;
        self.spikes[at * k.len()..][..k.len()].copy_from_slice(k);
        self.lens[s] += 1;
    }
}

/// Steps the entries `v` (whole groups of `lanes`; `inc` their increments)
/// `steps` times, recording each step's spiking groups in `events`.
pub fn advance<T: Real>(
    v: &mut [T],
    inc: &[T],
    lanes: usize,
    steps: usize,
    events: &mut Events<T>,
) {
    events.lens[..steps].fill(0);
    for (g, (v, inc)) in v
        .chunks_exact_mut(lanes)
        .zip(inc.chunks_exact(lanes))
        .enumerate()
    {
        group_steps(v, inc, g * lanes, steps, events);
    }
}

/// `advance` for f32 groups of four, on AVX2 where the CPU has it.
pub fn advance_f32(v: &mut [f32], inc: &[f32], steps: usize, events: &mut Events<f32>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        events.lens[..steps].fill(0);
        // SAFETY: the CPU has AVX2.
        unsafe { avx2::advance(v, inc, steps, events) };
        return;
    }
    advance(v, inc, 4, steps, events);
}

/// One group's steps (its entries `v` from entry `first`), recording the
/// steps at which some lane spiked.
fn group_steps<T: Real>(
    v: &mut [T],
    inc: &[T],
    first: usize,
    steps: usize,
    events: &mut Events<T>,
) {
    // A group is one lane (f64) or four (f32).
    let mut counts = [T::zero(); 4];
    let k = &mut counts[..v.len()];
    for s in 0..steps {
        let mut any = false;
        for ((v, &d), k) in v.iter_mut().zip(inc).zip(k.iter_mut()) {
            *v = *v + d;
            *k = v.floor();
            *v = *v - *k;
            // `!=`, as the generated code tests: NaN counts as spiked.
            any |= *k != T::zero();
        }
        if any {
            events.push(s, first, k);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Events;
    use std::arch::x86_64::*;

    /// `super::advance` on f32 groups of four, two groups per 256-bit
    /// vector. A step of one vector is a chain (add, floor, subtract) that
    /// the next step waits for, so four vectors go through the steps side
    /// by side. No branch on whether a group spiked: every group writes its
    /// event at its step's end of list and keeps it by moving the end on
    /// only if some lane spiked (spikes follow the image, so a branch would
    /// mispredict).
    #[target_feature(enable = "avx2")]
    pub(super) fn advance(v: &mut [f32], inc: &[f32], steps: usize, events: &mut Events<f32>) {
        let n = v.len().min(inc.len());
        let mut first = 0;
        while first + 32 <= n {
            vectors::<4>(v, inc, first, steps, events);
            first += 32;
        }
        while first + 8 <= n {
            vectors::<1>(v, inc, first, steps, events);
            first += 8;
        }
        if first < n {
            // The last group alone.
            super::group_steps(&mut v[first..n], &inc[first..n], first, steps, events);
        }
    }

    /// `Q` vectors of eight entries from `first` through the block's steps.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn vectors<const Q: usize>(
        v: &mut [f32],
        inc: &[f32],
        first: usize,
        steps: usize,
        events: &mut Events<f32>,
    ) {
        let (v, inc) = (&mut v[first..first + 8 * Q], &inc[first..first + 8 * Q]);
        // SAFETY (every unaligned load and store below): eight values at
        // `8 * q` for `q < Q` lie in `v` and `inc`, and an event's four
        // counts at `4 * at` lie in `events.spikes` (see `push_unless`).
        let mut vv: [__m256; Q] =
            std::array::from_fn(|q| unsafe { _mm256_loadu_ps(v[8 * q..].as_ptr()) });
        let d: [__m256; Q] =
            std::array::from_fn(|q| unsafe { _mm256_loadu_ps(inc[8 * q..].as_ptr()) });
        let zero = _mm256_setzero_ps();
        // Each step writes at most one event per group into its region.
        let capacity = steps * events.groups;
        assert!(events.groups_at.len() >= capacity && events.spikes.len() >= 4 * capacity);
        let (groups_at, spikes) = (events.groups_at.as_mut_ptr(), events.spikes.as_mut_ptr());
        for s in 0..steps {
            // The step's list length in a register through the vectors.
            let mut len = events.lens[s] as usize;
            let region = s * events.groups;
            for q in 0..Q {
                vv[q] = _mm256_add_ps(vv[q], d[q]);
                let k = _mm256_floor_ps(vv[q]);
                vv[q] = _mm256_sub_ps(vv[q], k);
                // Not equal or unordered, as the generated code's test.
                let spiked = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(k, zero));
                let group = (first + 8 * q) as u32;
                let halves = [
                    (group, _mm256_castps256_ps128(k), spiked & 0xf),
                    (group + 4, _mm256_extractf128_ps::<1>(k), spiked >> 4),
                ];
                for (group, k, lanes) in halves {
                    // Every group writes its event at the list's end and
                    // keeps it only if some lane spiked. Fewer groups came
                    // before it than a region holds, so the event is
                    // inside region `s`, inside the asserted capacity.
                    let at = region + len;
                    unsafe {
                        *groups_at.add(at) = group;
                        _mm_storeu_ps(spikes.add(4 * at), k);
                    }
                    len += usize::from(lanes != 0);
                }
            }
            events.lens[s] = len as i64;
        }
        for (q, x) in vv.iter().enumerate() {
            unsafe { _mm256_storeu_ps(v[8 * q..].as_mut_ptr(), *x) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{advance, advance_f32, Events};

    type Advance = fn(&mut [f32], &[f32], usize, usize, &mut Events<f32>);

    /// The block's events against the step-by-step definition, with
    /// increments that make some groups spike often, some never: the AVX2
    /// loop (where the CPU has it) and the portable one.
    #[test]
    fn a_block_is_its_steps_one_by_one() {
        block_against_steps(|v, inc, _, steps, events| advance_f32(v, inc, steps, events));
        block_against_steps(advance);
    }

    fn block_against_steps(advance: Advance) {
        let n = 4 * 7;
        let inc: Vec<f32> = (0..n)
            .map(|i| {
                if i % 9 == 0 {
                    0.0
                } else {
                    (i as f32 * 0.37).fract() * 0.6
                }
            })
            .collect();
        let v0: Vec<f32> = (0..n).map(|i| (i as f32 * 0.71).fract()).collect();
        let (steps, groups) = (5, n / 4);
        let (mut at, mut spikes, mut lens) = (
            vec![0u32; steps * groups],
            vec![0f32; steps * n],
            vec![0i64; steps],
        );
        let mut v = v0.clone();
        advance(
            &mut v,
            &inc,
            4,
            steps,
            &mut Events {
                groups_at: &mut at,
                spikes: &mut spikes,
                lens: &mut lens,
                groups,
            },
        );
        let mut w = v0;
        for s in 0..steps {
            let mut expected = Vec::new();
            for g in 0..groups {
                let k: Vec<f32> = (0..4)
                    .map(|l| {
                        let i = 4 * g + l;
                        w[i] += inc[i];
                        let k = w[i].floor();
                        w[i] -= k;
                        k
                    })
                    .collect();
                if k.iter().any(|&k| k != 0.0) {
                    expected.push((4 * g as u32, k));
                }
            }
            let got: Vec<(u32, Vec<f32>)> = (0..lens[s] as usize)
                .map(|e| {
                    (
                        at[s * groups + e],
                        spikes[(s * groups + e) * 4..][..4].to_vec(),
                    )
                })
                .collect();
            assert_eq!(got, expected, "step {s}");
            assert!(!expected.is_empty(), "step {s} has spikes to compare");
        }
        assert_eq!(v, w);
    }
}
