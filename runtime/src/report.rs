//! What a run reports: accuracy read from a probe, firing statistics per
//! spiking layer, and the probes written as `.npz` like NengoDL's predict.

use std::path::Path;

use serde::{Deserialize, Serialize};
use snnc_compiler::ir::{BoundProbe, Model, Network, Neuron, ReadAt, Synapse};

use crate::analysis::latency::argmax;
use crate::engine::{Real, SimOutput};
use crate::io::{write_npz, IoError, NdArray};

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
    size: usize,
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
            let values = out
                .probes
                .get(index)
                .and_then(|p| p.get(row * size..(row + 1) * size));
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
    fn new(name: &str, neuron: Neuron, neurons: usize) -> Self {
        LayerFiring {
            name: name.to_string(),
            neuron: neuron.name().to_string(),
            neurons,
            rate_sum_hz: Vec::new(),
            max_rate_hz: Vec::new(),
            silent: Vec::new(),
        }
    }

    /// Adds one image, from the rates (Hz) of its neurons.
    fn push_image(&mut self, rates: impl Iterator<Item = f64>) {
        let (mut sum, mut max, mut silent) = (0.0f64, 0.0f64, 0usize);
        for rate in rates {
            sum += rate;
            max = max.max(rate);
            silent += usize::from(rate <= 0.0);
        }
        self.rate_sum_hz.push(sum);
        self.max_rate_hz.push(max);
        self.silent.push(silent);
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
        let images = self.rate_sum_hz.len();
        let sum: f64 = self.rate_sum_hz.iter().fold(0.0, |a, &x| a + x);
        let max = self.max_rate_hz.iter().fold(0.0f64, |a, &x| a.max(x));
        let silent: usize = self.silent.iter().sum();
        let total = (self.neurons * images).max(1) as f64;
        LayerStats {
            name: self.name.clone(),
            neuron: self.neuron.clone(),
            neurons: self.neurons,
            mean_rate_hz: sum / total,
            max_rate_hz: max,
            silent_fraction: silent as f64 / total,
        }
    }
}

/// Firing of every spiking node, image by image, from the spike counts.
pub fn layer_firing<T>(
    net: &Network,
    model: &Model,
    outputs: &[SimOutput<T>],
    steps: usize,
    dt: f64,
) -> Vec<LayerFiring> {
    let seconds = steps as f64 * dt;
    let mut layers = Vec::new();
    for (id, node) in net.nodes.iter().enumerate() {
        let Some(neuron) = model.nodes[id].neuron.filter(|n| n.is_spiking()) else {
            continue;
        };
        let mut layer = LayerFiring::new(&node.name, neuron, node.size());
        for out in outputs {
            layer.push_image(out.spike_counts[id].iter().map(|&c| c as f64 / seconds));
        }
        layers.push(layer);
    }
    layers
}

/// Firing statistics of every spiking node, from the spike counts.
pub fn layer_stats<T>(
    net: &Network,
    model: &Model,
    outputs: &[SimOutput<T>],
    steps: usize,
    dt: f64,
) -> Vec<LayerStats> {
    layer_firing(net, model, outputs, steps, dt)
        .iter()
        .map(LayerFiring::stats)
        .collect()
}

/// Probes on every layer of rate (non-spiking) neurons, recording only the
/// last step: one row per image, what [`rate_layer_stats`] reads.
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

/// Firing of the rate layers probed by `probes` (from [`rate_probes`];
/// `first` is the index of the first of them among the run's probes),
/// image by image, from each neuron's output at the last step: a ReLU or
/// LIF-rate output is `amplitude / scale` times its rate, a sigmoid or tanh
/// output is the rate itself. A neuron is silent when its rate is 0.
pub fn rate_layer_firing<T: Real>(
    net: &Network,
    model: &Model,
    outputs: &[SimOutput<T>],
    probes: &[BoundProbe],
    first: usize,
) -> Vec<LayerFiring> {
    let mut layers = Vec::new();
    for (k, p) in probes.iter().enumerate() {
        let Some(neuron) = model.nodes[p.node].neuron else {
            continue;
        };
        let hz_per_output = neuron.hz_per_output(model.nodes[p.node].scale);
        let node = &net.nodes[p.node];
        let n = node.size();
        let mut layer = LayerFiring::new(&node.name, neuron, n);
        for out in outputs {
            let row = out.probes.get(first + k).map_or(&[][..], Vec::as_slice);
            layer.push_image(row.iter().take(n).map(|&x| Real::to_f64(x) * hz_per_output));
        }
        layers.push(layer);
    }
    layers
}

/// Firing statistics of the rate layers (see [`rate_layer_firing`]).
pub fn rate_layer_stats<T: Real>(
    net: &Network,
    model: &Model,
    outputs: &[SimOutput<T>],
    probes: &[BoundProbe],
    first: usize,
) -> Vec<LayerStats> {
    rate_layer_firing(net, model, outputs, probes, first)
        .iter()
        .map(LayerFiring::stats)
        .collect()
}

/// The spiking layers where some neuron's spike count reached `u32::MAX`
/// (counts saturate there): their rates are wrong, usually because
/// `scale_firing_rates` is far too large.
pub fn saturated_layers<T>(net: &Network, outputs: &[SimOutput<T>]) -> Vec<String> {
    net.nodes
        .iter()
        .enumerate()
        .filter(|(id, _)| {
            outputs.iter().any(|o| {
                o.spike_counts
                    .get(*id)
                    .is_some_and(|c| c.contains(&u32::MAX))
            })
        })
        .map(|(_, n)| n.name.clone())
        .collect()
}

/// Writes every probe as an array of shape (images, rows, neurons), named by
/// the probe, as NengoDL's `sim.predict` returns them, then the `extra`
/// arrays (a shard's place in its run, for `snnc merge`).
pub fn write_probes<T: Real>(
    path: &Path,
    net: &Network,
    probes: &[BoundProbe],
    outputs: &[SimOutput<T>],
    steps: usize,
    f64_out: bool,
    extra: &[(&str, &NdArray)],
) -> Result<(), IoError> {
    let mut arrays = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let size = net.nodes[p.node].size();
        let rows = steps / p.every;
        let shape = vec![outputs.len(), rows, size];
        let array = if f64_out {
            NdArray::from_f64(
                shape,
                outputs
                    .iter()
                    .flat_map(|o| o.probes[i].iter().map(|&x| Real::to_f64(x)))
                    .collect(),
            )
        } else {
            NdArray::from_f32(
                shape,
                outputs
                    .iter()
                    .flat_map(|o| o.probes[i].iter().map(|&x| Real::to_f64(x) as f32))
                    .collect(),
            )
        };
        arrays.push((p.name.clone(), array));
    }
    let mut refs: Vec<(&str, &NdArray)> = arrays.iter().map(|(n, a)| (n.as_str(), a)).collect();
    refs.extend_from_slice(extra);
    write_npz(path, &refs)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            probes: vec![rows.iter().flatten().copied().collect()],
            spike_counts: Vec::new(),
        }
    }

    /// A probe that records less often than the run has steps recorded
    /// nothing: no panic, nothing counted.
    #[test]
    fn a_probe_with_no_record_reads_nothing() {
        let out = vec![output(&[])];
        assert_eq!(
            accuracy(&out, &probe(200), 0, 2, ReadAt::Last, 100, &[1]),
            (0, 0)
        );
        assert_eq!(
            accuracy(&out, &probe(200), 0, 2, ReadAt::Step(50), 100, &[1]),
            (0, 0)
        );
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
        assert_eq!(
            accuracy(&out, &probe(2), 0, 2, ReadAt::Last, 5, &[1]),
            (1, 4)
        );
        assert_eq!(
            accuracy(&out, &probe(2), 0, 2, ReadAt::Step(3), 5, &[0]),
            (1, 2)
        );
        // Fewer rows than the steps say (a short output): not counted.
        assert_eq!(
            accuracy(&out, &probe(1), 0, 2, ReadAt::Last, 5, &[1]),
            (0, 5)
        );
    }
}
