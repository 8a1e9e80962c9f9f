//! snnc's one pseudo-random generator, SplitMix64: the trainer's streams,
//! one per purpose (kernel init per tensor, shuffle per epoch), so that the
//! same seed always gives the same init and the same example order, on any
//! machine and with any number of threads; the reference's uniform initial
//! voltages; and the tests' generated inputs.

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast, and good enough for
/// weight init and shuffling.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

/// What a stream is for; keeps the streams of one seed independent.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    /// Kernel init; the index is the param tensor's position.
    Init = 1,
    /// The example order; the index is the 0-based epoch.
    Shuffle = 2,
}

/// SplitMix64's output function (Steele, Lea and Flood 2014).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The stream for `purpose` number `index` of `seed`.
    pub fn stream(seed: u64, purpose: Purpose, index: u64) -> Self {
        let tag = mix((purpose as u64) << 56 ^ index.wrapping_add(1));
        SplitMix64::new(mix(seed ^ tag))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)` (Lemire's multiply-shift; the bias of
    /// at most n/2^64 is irrelevant here). `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<X>(&mut self, xs: &mut [X]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(SplitMix64::stream(7, Purpose::Init, 0), |r, _| {
                Some(r.next_u64())
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(SplitMix64::stream(7, Purpose::Init, 0), |r, _| {
                Some(r.next_u64())
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(SplitMix64::stream(7, Purpose::Shuffle, 0), |r, _| {
                Some(r.next_u64())
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn shuffle_is_a_permutation_and_uniform_is_in_range() {
        let mut r = SplitMix64::new(3);
        let mut xs: Vec<usize> = (0..1000).collect();
        r.shuffle(&mut xs);
        assert_ne!(xs, (0..1000).collect::<Vec<_>>());
        let mut sorted = xs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        for _ in 0..1000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
        }
    }
}
