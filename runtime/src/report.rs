//! What a run reports: accuracy read from a probe, firing statistics per
//! spiking layer, and the probes written as `.npz` like NengoDL's predict.

use std::path::Path;

use serde::{Deserialize, Serialize};
use snnc_compiler::ir::{BoundProbe, Model, Network, Neuron, ReadAt, Synapse};

use crate::analysis::latency::argmax;
use crate::engine::{Real, SimOutput, SpikeSummary};
use crate::io::{IoError, NdArray, NpzStream};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    pub name: String,
    pub neuron: String,
    pub neurons: usize,
    /// Mean over neurons and images of each neuron's rate over the run, Hz
    /// (a rate neuron's rate at the last step).
    pub mean_rate_hz: f64,
    /// The highest single neuron's rate on any image, Hz.
    pub max_rate_hz: f64,
    /// Fraction of neurons that never spiked, averaged over images.
    pub silent_fraction: f64,
}

/// The version of [`RunReport`]'s JSON layout: raised when a key changes
/// meaning or goes away (new keys do not raise it). docs/json.md documents
/// each version.
pub const RUN_SCHEMA: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The version of this report's layout ([`RUN_SCHEMA`]).
    pub schema: u32,
    pub spec: String,
    /// The run block's name (`None` for an unnamed block).
    pub run: Option<String>,
    pub model: String,
    pub engine: String,
    pub precision: String,
    /// `None` when the data has no labels (predictions only).
    pub accuracy: Option<f64>,
    pub correct: Option<usize>,
    pub images: usize,
    pub steps: usize,
    pub dt: f64,
    /// The probe the accuracy was read from, and at which step (1-based).
    pub report_probe: String,
    pub read_step: usize,
    pub layers: Vec<LayerStats>,
    /// Wall time of the simulation (JIT compilation included).
    pub seconds: f64,
    pub images_steps_per_second: f64,
    /// JIT code generation and compilation, when the JIT ran.
    pub compile_seconds: Option<f64>,
}

/// Argmax of the reported probe at the chosen step against the labels.
/// Returns (correct, step read).
pub fn accuracy<T: Real>(
    outputs: &[SimOutput<T>],
    probe: &BoundProbe,
    index: usize,
    at: ReadAt,
    steps: usize,
    labels: &[u32],
) -> (usize, usize) {
    let every = probe.every.max(1);
    let rows = steps / every;
    if rows == 0 {
        // The probe recorded nothing (the checker refuses such a report):
        // nothing is read, nothing is right.
        return (0, 0);
    }
    let step = match at {
        ReadAt::Last => rows * every,
        ReadAt::Step(k) => k.min(steps),
    };
    // Row r holds step (r+1)*every; read the last recorded row at or before `step`.
    let row = (step / every).max(1) - 1;
    let correct = outputs
        .iter()
        .zip(labels)
        .filter(|(out, &label)| {
            let values = out.probes.get(index).and_then(|p| p.outer_iter().nth(row));
            values.is_some_and(|v| argmax(v) == Some(label as usize))
        })
        .count();
    (correct, (row + 1) * every)
}

/// Checks that every label names one of the reported layer's `classes`
/// class scores: a label beyond them can never be read right, so a run
/// with one reports a meaningless accuracy. `first` is the index of the
/// first label in its data file (the data's `offset`), for the message.
pub fn labels_fit(
    labels: &[u32],
    classes: usize,
    layer: &str,
    origin: &str,
    first: usize,
) -> Result<(), String> {
    match labels
        .iter()
        .enumerate()
        .find(|(_, &y)| y as usize >= classes)
    {
        None => Ok(()),
        Some((i, &y)) => Err(format!(
            "example {} of `{origin}` has label {y}, but `{layer}` has only {classes} class scores \
             (labels 0 to {}); check that the data and the network's output belong together",
            first + i,
            classes.saturating_sub(1)
        )),
    }
}

/// One layer's firing, image by image: the unit its statistics are folded
/// from, in image order, so the reports of a run's shards (`--shard`)
/// merge into exactly the report of the whole run (`snnc merge`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerFiring {
    pub name: String,
    pub neuron: String,
    pub neurons: usize,
    /// Per image: the sum of its neurons' rates, Hz.
    pub rate_sum_hz: Vec<f64>,
    /// Per image: the highest single neuron's rate, Hz.
    pub max_rate_hz: Vec<f64>,
    /// Per image: the neurons that never fired.
    pub silent: Vec<usize>,
}

impl LayerFiring {
    fn new(name: &str, neuron: &str, neurons: usize) -> Self {
        LayerFiring {
            name: name.to_string(),
            neuron: neuron.to_string(),
            neurons,
            rate_sum_hz: Vec::new(),
            max_rate_hz: Vec::new(),
            silent: Vec::new(),
        }
    }

    /// Adds one image's firing.
    fn push(&mut self, image: ImageFiring) {
        self.rate_sum_hz.push(image.rate_sum_hz);
        self.max_rate_hz.push(image.max_rate_hz);
        self.silent.push(image.silent);
    }

    /// Appends the images of `later`, the same layer on the images after
    /// these.
    pub fn append(&mut self, later: &LayerFiring) {
        self.rate_sum_hz.extend_from_slice(&later.rate_sum_hz);
        self.max_rate_hz.extend_from_slice(&later.max_rate_hz);
        self.silent.extend_from_slice(&later.silent);
    }

    /// The layer's mean and largest rate and its silent fraction over all
    /// its images.
    pub fn stats(&self) -> LayerStats {
        let mut totals = FiringTotals::default();
        for ((&rate_sum_hz, &max_rate_hz), &silent) in self
            .rate_sum_hz
            .iter()
            .zip(&self.max_rate_hz)
            .zip(&self.silent)
        {
            totals.add(ImageFiring {
                rate_sum_hz,
                max_rate_hz,
                silent,
            });
        }
        totals.stats(&self.name, &self.neuron, self.neurons)
    }
}

/// One image's firing in one layer: the sum of its neurons' rates, the
/// highest rate and the neurons that never fired.
#[derive(Clone, Copy, Debug)]
struct ImageFiring {
    rate_sum_hz: f64,
    max_rate_hz: f64,
    silent: usize,
}

impl ImageFiring {
    /// From the rates (Hz) of the image's neurons, summed in neuron order.
    fn of(rates: impl Iterator<Item = f64>) -> Self {
        let mut image = ImageFiring {
            rate_sum_hz: 0.0,
            max_rate_hz: 0.0,
            silent: 0,
        };
        for rate in rates {
            image.rate_sum_hz += rate;
            image.max_rate_hz = image.max_rate_hz.max(rate);
            image.silent += usize::from(rate <= 0.0);
        }
        image
    }

    /// From one image's spike summary, each neuron's rate being its count
    /// over `seconds`: the rates' sum is the total over `seconds`, one
    /// rounding instead of one per neuron (and bit for bit the sum in
    /// neuron order at the usual durations: `rates_from_a_summary_...`),
    /// the largest rate the largest count's, and a neuron is silent exactly
    /// when its count is 0.
    fn of_spikes(spikes: SpikeSummary, seconds: f64) -> Self {
        ImageFiring {
            rate_sum_hz: spikes.total as f64 / seconds,
            max_rate_hz: f64::from(spikes.most) / seconds,
            silent: spikes.silent,
        }
    }
}

/// A layer's images folded in image order: the one definition of how
/// [`LayerStats`] is summed, shared by a run that keeps no image
/// ([`RunTally`]) and by [`LayerFiring::stats`] over a shard's or merged
/// images, so both give the same bits.
#[derive(Clone, Copy, Debug, Default)]
struct FiringTotals {
    images: usize,
    rate_sum_hz: f64,
    max_rate_hz: f64,
    silent: usize,
}

impl FiringTotals {
    fn add(&mut self, image: ImageFiring) {
        self.images += 1;
        self.rate_sum_hz += image.rate_sum_hz;
        self.max_rate_hz = self.max_rate_hz.max(image.max_rate_hz);
        self.silent += image.silent;
    }

    fn stats(&self, name: &str, neuron: &str, neurons: usize) -> LayerStats {
        let total = (neurons * self.images).max(1) as f64;
        LayerStats {
            name: name.to_string(),
            neuron: neuron.to_string(),
            neurons,
            mean_rate_hz: self.rate_sum_hz / total,
            max_rate_hz: self.max_rate_hz,
            silent_fraction: self.silent as f64 / total,
        }
    }
}

/// What a run reports, folded in a batch of images at a time, so that a
/// run's memory does not grow with its number of images: the accuracy
/// count, each layer's rate statistics and which layers' spike counts
/// saturated. Folding the images in order gives the same sums as a pass
/// over all of them, and the same bits as [`LayerFiring::stats`]; a
/// shard's tally also keeps its layers' [`LayerFiring`] (three numbers per
/// layer and image), which `snnc merge` needs to fold the shards exactly.
#[derive(Clone, Debug)]
pub struct RunTally {
    read: AccuracyRead,
    correct: usize,
    read_step: usize,
    layers: Vec<LayerTally>,
    saturated: Vec<bool>,
}

/// Which probe the accuracy is read from, and where (see [`accuracy`]).
#[derive(Clone, Debug)]
pub struct AccuracyRead {
    pub probe: BoundProbe,
    /// The probe's index among the run's probes.
    pub index: usize,
    pub at: ReadAt,
    pub steps: usize,
}

impl RunTally {
    /// `rate_probes` are the run's probes from [`rate_probes`], the first at
    /// index `rate_first` among its probes. With `keep_images`, each
    /// layer's firing is also kept image by image ([`RunTally::firing`]).
    pub fn new(
        net: &Network,
        model: &Model,
        read: AccuracyRead,
        dt: f64,
        rate_probes: &[BoundProbe],
        rate_first: usize,
        keep_images: bool,
    ) -> Self {
        let mut layers = spiking_layers(net, model, read.steps, dt);
        layers.extend(probed_rate_layers(net, model, rate_probes, rate_first));
        if keep_images {
            for layer in &mut layers {
                layer.images = Some(LayerFiring::new(
                    &layer.name,
                    layer.neuron.name(),
                    layer.neurons,
                ));
            }
        }
        layers.sort_by_key(|l| l.node);
        RunTally {
            read_step: 0,
            read,
            correct: 0,
            layers,
            saturated: vec![false; net.nodes.len()],
        }
    }

    /// Folds in the outputs of consecutive images and their labels.
    pub fn add<T: Real>(&mut self, outputs: &[SimOutput<T>], labels: &[u32]) {
        let r = &self.read;
        let (correct, read_step) = accuracy(outputs, &r.probe, r.index, r.at, r.steps, labels);
        self.correct += correct;
        self.read_step = read_step;
        for out in outputs {
            for layer in &mut self.layers {
                layer.add(out);
            }
            for (seen, spikes) in self.saturated.iter_mut().zip(&out.spike_summaries) {
                *seen |= spikes.most == u32::MAX;
            }
        }
    }

    /// Images whose reported class was right.
    pub fn correct(&self) -> usize {
        self.correct
    }

    /// The step the accuracy was read at (1-based; 0 when nothing was read).
    pub fn read_step(&self) -> usize {
        self.read_step
    }

    /// Every spiking and probed rate layer's statistics, in network order.
    pub fn layers(&self) -> Vec<LayerStats> {
        self.layers.iter().map(LayerTally::stats).collect()
    }

    /// Every layer's firing image by image, in network order, when the
    /// tally was made `keep_images` (empty otherwise).
    pub fn firing(&self) -> Vec<LayerFiring> {
        self.layers
            .iter()
            .filter_map(|l| l.images.clone())
            .collect()
    }

    /// The layers where some neuron's spike count reached `u32::MAX`
    /// (counts saturate there): their rates are wrong, usually because
    /// `scale_firing_rates` is far too large.
    pub fn saturated(&self, net: &Network) -> Vec<String> {
        net.nodes
            .iter()
            .zip(&self.saturated)
            .filter(|(_, &s)| s)
            .map(|(n, _)| n.name.clone())
            .collect()
    }
}

/// One layer's rates folded in image by image: what [`LayerStats`]
/// reports, without keeping any image's rates (only, for a shard, the
/// three numbers per image of its [`LayerFiring`]).
#[derive(Clone, Debug)]
struct LayerTally {
    node: usize,
    name: String,
    neuron: Neuron,
    neurons: usize,
    /// Where the rates come from: the spike counts (over `seconds`), or the
    /// last row of a rate probe (times `hz_per_output`).
    source: RateSource,
    totals: FiringTotals,
    images: Option<LayerFiring>,
}

#[derive(Clone, Copy, Debug)]
enum RateSource {
    Spikes { seconds: f64 },
    Probe { index: usize, hz_per_output: f64 },
}

impl LayerTally {
    fn new(net: &Network, node: usize, neuron: Neuron, source: RateSource) -> Self {
        LayerTally {
            node,
            name: net.nodes[node].name.clone(),
            neuron,
            neurons: net.nodes[node].size(),
            source,
            totals: FiringTotals::default(),
            images: None,
        }
    }

    /// Folds in one image's output.
    fn add<T: Real>(&mut self, out: &SimOutput<T>) {
        let image = match self.source {
            RateSource::Spikes { seconds } => {
                let spikes = out.spike_summaries.get(self.node).copied();
                ImageFiring::of_spikes(spikes.unwrap_or_default(), seconds)
            }
            RateSource::Probe {
                index,
                hz_per_output,
            } => {
                let rows = out.probes.get(index).into_iter().flatten();
                ImageFiring::of(
                    rows.take(self.neurons)
                        .map(|&x| Real::to_f64(x) * hz_per_output),
                )
            }
        };
        self.totals.add(image);
        if let Some(images) = &mut self.images {
            images.push(image);
        }
    }

    /// A layer's mean and largest rate and its silent fraction.
    fn stats(&self) -> LayerStats {
        self.totals
            .stats(&self.name, self.neuron.name(), self.neurons)
    }
}

/// A tally of every spiking node, reading its spike counts.
fn spiking_layers(net: &Network, model: &Model, steps: usize, dt: f64) -> Vec<LayerTally> {
    let seconds = steps as f64 * dt;
    (0..net.nodes.len())
        .filter_map(|id| {
            let neuron = model.nodes[id].neuron.filter(|n| n.is_spiking())?;
            Some(LayerTally::new(
                net,
                id,
                neuron,
                RateSource::Spikes { seconds },
            ))
        })
        .collect()
}

/// A tally of every rate layer probed by `probes` (from [`rate_probes`];
/// `first` is the index of the first of them among the run's probes).
fn probed_rate_layers(
    net: &Network,
    model: &Model,
    probes: &[BoundProbe],
    first: usize,
) -> Vec<LayerTally> {
    probes
        .iter()
        .enumerate()
        .filter_map(|(k, p)| {
            let neuron = model.nodes[p.node].neuron?;
            let hz_per_output = neuron.hz_per_output(model.nodes[p.node].scale);
            Some(LayerTally::new(
                net,
                p.node,
                neuron,
                RateSource::Probe {
                    index: first + k,
                    hz_per_output,
                },
            ))
        })
        .collect()
}

/// Probes on every layer of rate (non-spiking) neurons, recording only the
/// last step: one row per image, what [`RunTally`] reads their rates from.
pub fn rate_probes(net: &Network, model: &Model, steps: usize) -> Vec<BoundProbe> {
    (0..net.nodes.len())
        .filter(|&id| model.nodes[id].neuron.is_some_and(|n| !n.is_spiking()))
        .map(|id| BoundProbe {
            probe: usize::MAX,
            name: net.nodes[id].name.clone(),
            node: id,
            synapse: Synapse::None,
            every: steps.max(1),
        })
        .collect()
}

/// Writes every probe as an array of shape (images, rows, neurons), named by
/// the probe, as NengoDL's `sim.predict` returns them, streamed: each batch
/// of images goes to disk as it comes ([`NpzStream`]), so the run's memory
/// does not grow with its number of images.
pub struct ProbeWriter {
    stream: NpzStream,
    probes: usize,
}

impl ProbeWriter {
    pub fn create(
        path: &Path,
        net: &Network,
        probes: &[BoundProbe],
        images: usize,
        steps: usize,
        f64_out: bool,
    ) -> Result<Self, IoError> {
        let members: Vec<(&str, Vec<usize>)> = probes
            .iter()
            .map(|p| {
                let rows = steps / p.every.max(1);
                (
                    p.name.as_str(),
                    vec![images, rows, net.nodes[p.node].size()],
                )
            })
            .collect();
        Ok(ProbeWriter {
            stream: NpzStream::create(path, &members, f64_out)?,
            probes: probes.len(),
        })
    }

    /// Appends the next images' probes (the first `probes` of each output).
    pub fn add<T: Real>(&mut self, outputs: &[SimOutput<T>]) -> Result<(), IoError> {
        for i in 0..self.probes {
            self.stream.append(
                i,
                outputs
                    .iter()
                    .flat_map(|o| o.probes[i].iter().map(|&x| Real::to_f64(x))),
            )?;
        }
        Ok(())
    }

    /// Writes the archive, with the `extra` arrays (a shard's place in its
    /// run, for `snnc merge`) after the probes.
    pub fn finish(self, extra: &[(&str, &NdArray)]) -> Result<(), IoError> {
        self.stream.finish(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::probe_rows;

    fn probe(every: usize) -> BoundProbe {
        BoundProbe {
            probe: 0,
            name: "pred".into(),
            node: 0,
            synapse: Synapse::None,
            every,
        }
    }

    fn output(rows: &[[f32; 2]]) -> SimOutput<f32> {
        SimOutput {
            probes: vec![ndarray::arr2(rows)],
            spike_counts: Vec::new(),
            spike_summaries: Vec::new(),
        }
    }

    /// A probe that records less often than the run has steps recorded
    /// nothing: no panic, nothing counted.
    #[test]
    fn a_probe_with_no_record_reads_nothing() {
        let out = vec![output(&[])];
        assert_eq!(
            accuracy(&out, &probe(200), 0, ReadAt::Last, 100, &[1]),
            (0, 0)
        );
        assert_eq!(
            accuracy(&out, &probe(200), 0, ReadAt::Step(50), 100, &[1]),
            (0, 0)
        );
    }

    /// A layer's rates from its spike summary: bit for bit the rates
    /// summed one by one in neuron order where one spike over the run is a
    /// whole number of Hz (the usual durations: every partial sum is then
    /// a whole number, exact below 2^53), the correctly rounded total
    /// elsewhere, where the sum one by one rounds at every neuron (the two
    /// then differ in the last bits).
    #[test]
    fn rates_from_a_summary_are_the_sum_in_neuron_order() {
        let mut rng = crate::rng::SplitMix64::new(5);
        let bits = |i: ImageFiring| (i.rate_sum_hz.to_bits(), i.max_rate_hz.to_bits(), i.silent);
        for (steps, dt, whole) in [
            (10, 0.001, true),
            (100, 0.001, true),
            (20, 0.0005, true),
            (1, 0.001, true),
            (500, 0.001, true),
            (7, 0.001, false),
            (30, 0.001, false),
        ] {
            let seconds = steps as f64 * dt;
            for top in [0u32, 1, 3, 60, 5000, 4_000_000] {
                let counts: Vec<u32> = (0..2000)
                    .map(|_| {
                        (rng.uniform() * (top as f64 + 1.0)) as u32 * u32::from(rng.uniform() < 0.4)
                    })
                    .collect();
                let one_by_one = ImageFiring::of(counts.iter().map(|&c| c as f64 / seconds));
                let summed = ImageFiring::of_spikes(SpikeSummary::of(&counts), seconds);
                if whole {
                    assert_eq!(bits(summed), bits(one_by_one), "{steps} x {dt}, top {top}");
                } else {
                    let off = (summed.rate_sum_hz - one_by_one.rate_sum_hz).abs();
                    assert!(
                        off <= 1e-12 * one_by_one.rate_sum_hz,
                        "{steps} x {dt}, top {top}: {off}"
                    );
                    assert_eq!(summed.max_rate_hz, one_by_one.max_rate_hz);
                    assert_eq!(summed.silent, one_by_one.silent);
                }
            }
        }
    }

    #[test]
    fn labels_beyond_the_classes_are_named() {
        assert_eq!(labels_fit(&[0, 9, 3], 10, "out", "d.npz", 0), Ok(()));
        let e = labels_fit(&[0, 3, 10], 10, "out", "d.npz", 100).unwrap_err();
        assert!(e.contains("example 102 of `d.npz` has label 10"), "{e}");
        assert!(
            e.contains("`out` has only 10 class scores (labels 0 to 9)"),
            "{e}"
        );
    }

    #[test]
    fn reads_the_last_record_at_or_before_the_step() {
        // Records at steps 2 and 4: class 0 then class 1.
        let out = vec![output(&[[1.0, 0.0], [0.0, 1.0]])];
        assert_eq!(accuracy(&out, &probe(2), 0, ReadAt::Last, 5, &[1]), (1, 4));
        assert_eq!(
            accuracy(&out, &probe(2), 0, ReadAt::Step(3), 5, &[0]),
            (1, 2)
        );
        // Fewer rows than the steps say (a short output): not counted.
        assert_eq!(accuracy(&out, &probe(1), 0, ReadAt::Last, 5, &[1]), (0, 5));
    }

    /// Folding images in batches gives what one pass over all of them
    /// gives: the report does not depend on how a run is cut up.
    #[test]
    fn a_tally_in_batches_equals_one_in_a_single_pass() {
        let src = "network n {\n    input x: 3\n    h = dense(x, units=4, activation=relu)\n    \
                   y = dense(h, units=2)\n}\nconvert s from n {\n    swap relu -> spiking_relu\n}\n\
                   probe p = y\nrun {\n    network = s\n    params = \"p.npz\"\n    \
                   data = npz(\"d.npz\")\n    steps = 10\n}\n";
        let checked = snnc_compiler::check_source(src);
        let program = checked
            .program
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        let run = &program.runs[0];
        let model = &program.models[run.model];
        let net = program.network_of(model);
        let h = net.nodes.iter().position(|n| n.name == "h").unwrap();
        let y = net.nodes.iter().position(|n| n.name == "y").unwrap();
        let outputs: Vec<SimOutput<f32>> = (0..7u32)
            .map(|i| {
                let mut counts = vec![Vec::new(); net.nodes.len()];
                counts[h] = vec![i, 0, 3 * i + 1, if i == 5 { u32::MAX } else { 2 }];
                SimOutput {
                    probes: vec![probe_rows(
                        vec![0.0; 18].into_iter().chain([i as f32, 1.5]).collect(),
                        2,
                    )],
                    spike_summaries: counts.iter().map(|c| SpikeSummary::of(c)).collect(),
                    spike_counts: counts,
                }
            })
            .collect();
        // Class 1 is read for images 0 and 1, class 0 after; image 6 is wrong.
        let labels = [1, 1, 0, 0, 0, 0, 1];
        let read = AccuracyRead {
            probe: BoundProbe {
                probe: 0,
                name: "p".into(),
                node: y,
                synapse: Synapse::None,
                every: 1,
            },
            index: 0,
            at: ReadAt::Last,
            steps: 10,
        };
        let tally = |cuts: &[usize]| {
            let mut t = RunTally::new(net, model, read.clone(), 0.001, &[], 1, true);
            let mut first = 0;
            for &end in cuts {
                t.add(&outputs[first..end], &labels[first..end]);
                first = end;
            }
            t
        };
        let whole = tally(&[7]);
        let cut = tally(&[2, 3, 7]);
        assert_eq!(whole.correct(), 6);
        assert_eq!((cut.correct(), cut.read_step()), (6, 10));
        assert_eq!(
            format!("{:?}", whole.layers()),
            format!("{:?}", cut.layers())
        );
        assert_eq!(cut.layers().len(), 1);
        assert_eq!(cut.layers()[0].silent_fraction, 8.0 / 28.0);
        assert_eq!(cut.saturated(net), ["h"]);
        // Shards: the first two images and the other five, their firing
        // appended as `snnc merge` does, give the whole run's bits.
        let (mut head, tail) = (tally(&[2]).firing(), {
            let mut t = RunTally::new(net, model, read.clone(), 0.001, &[], 1, true);
            t.add(&outputs[2..], &labels[2..]);
            t.firing()
        });
        head[0].append(&tail[0]);
        assert_eq!(head[0].stats(), whole.layers()[0]);
        assert_eq!(head[0].rate_sum_hz.len(), 7);
        // A tally that keeps no image reports the same.
        let mut flat = RunTally::new(net, model, read.clone(), 0.001, &[], 1, false);
        flat.add(&outputs, &labels);
        assert!(flat.firing().is_empty());
        assert_eq!(flat.layers(), whole.layers());
    }
}
