//! `--shard K/N`: one of N machines (or processes) runs the K-th part of a
//! run's images or of a sweep's settings, and `snnc merge` joins the parts.
//!
//! The parts are contiguous blocks in a fixed order, so each shard knows
//! its part from K and N alone: the engine that starts the shards (a Slurm
//! job array, a Kubernetes Indexed Job, GNU parallel) does the scheduling
//! and snnc does no networking. Each image's simulation depends on nothing
//! but the image, the params and the run's seed, so the merged results are
//! exactly the unsharded ones (docs/cluster.md).

use std::ops::Range;

use serde::{Deserialize, Serialize};
use snnc_runtime::io::NdArray;
use snnc_runtime::report::LayerFiring;

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// The name of the array a sharded run adds to its `--out` file: `[K, N,
/// first image, images in the whole run]`, what `snnc merge` orders and
/// checks the parts by.
pub const NPZ_KEY: &str = "snnc_shard";

/// Parses `K/N` (`2/3`: the second of three).
pub fn parse(s: &str) -> Result<Shard, String> {
    let usage = "write K/N with 1 <= K <= N, e.g. `--shard 2/3` for the second of three shards";
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not K/N: {usage}"))?;
    let number = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{s}`: `{t}` is not a whole number; {usage}"))
    };
    let (index, count) = (number(k)?, number(n)?);
    if count == 0 || index == 0 || index > count {
        return Err(format!("`{s}`: {usage}"));
    }
    Ok(Shard { index, count })
}

impl Shard {
    /// The block of `len` items (images or settings) this shard takes:
    /// items `(K-1)*len/N .. K*len/N`, so the blocks of shards 1..N cover
    /// every item once, in order, and differ in size by at most one.
    pub fn range(&self, len: usize) -> Range<usize> {
        (self.index - 1) * len / self.count..self.index * len / self.count
    }

    /// [`Shard::range`], refusing more shards than items: some shard
    /// would have nothing to do, a mistake in N.
    pub fn take(&self, len: usize, what: &str) -> Result<Range<usize>, String> {
        let range = self.range(len);
        if self.count > len {
            return Err(format!(
                "--shard {}/{} gets no {what}: there are only {len}; use at most {len} shards",
                self.index, self.count
            ));
        }
        Ok(range)
    }
}

/// What a sharded `run --format json` adds to its report under `shard`:
/// the shard's place and its layers' firing image by image, from which
/// `snnc merge` computes the whole run's rates exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunShard {
    pub index: usize,
    pub count: usize,
    /// The shard's first image, counted in the whole run's data.
    pub first: usize,
    /// Images in the whole run.
    pub of: usize,
    pub layers: Vec<LayerFiring>,
}

/// A sharded run's JSON report: the report's keys, in their order, then
/// `shard`.
#[derive(Serialize)]
pub struct ShardedReport<'a> {
    #[serde(flatten)]
    pub report: &'a snnc_runtime::report::RunReport,
    pub shard: RunShard,
}

/// `[K, N, first image, images in the run]` for a sharded `--out` file.
pub fn npz_record(shard: Shard, first: usize, of: usize) -> NdArray {
    let values = [shard.index, shard.count, first, of].map(|v| v as i64);
    NdArray::I64(ndarray::Array1::from(values.to_vec()).into_dyn())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_item_once_in_order() {
        for len in [0, 1, 7, 10, 1000] {
            for count in 1..=12 {
                let mut next = 0;
                for index in 1..=count {
                    let r = Shard { index, count }.range(len);
                    assert_eq!(r.start, next, "len {len}, {index}/{count}");
                    assert!(r.len() + 1 >= len / count && r.len() <= len / count + 1);
                    next = r.end;
                }
                assert_eq!(next, len);
            }
        }
    }

    #[test]
    fn parses_k_of_n_and_names_the_fix() {
        assert_eq!(parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/3", "1/0", "-1/2"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
        for index in 1..=5 {
            let e = Shard { index, count: 5 }.take(3, "images").unwrap_err();
            assert!(e.contains("only 3; use at most 3 shards"), "{e}");
        }
    }
}
