//! Spikes recovered from a spiking layer's probe. A spiking neuron's output
//! in a step is `count * amplitude / (scale * dt)`, so the count is the
//! probe value times `scale * dt / amplitude`, rounded.

use ndarray::ArrayView2;
use snnc_compiler::ir::Neuron;

/// Spikes in one step from the probed output value (unfiltered probe).
pub fn step_count(value: f64, neuron: Neuron, scale: f64, dt: f64) -> u32 {
    let c = value * scale * dt / neuron.amplitude();
    if c > 0.5 {
        c.round() as u32
    } else {
        0
    }
}

/// The marks of a raster plot: one per (step, neuron) with at least one
/// spike, for the first `max_neurons` neurons that spike at all.
#[derive(Clone, Debug, PartialEq)]
pub struct Raster {
    /// The neurons shown, in order (row 0 is `neurons[0]`).
    pub neurons: Vec<usize>,
    /// `(step, row, spikes)`, step 1-based, sorted by row then step.
    pub marks: Vec<(usize, usize, u32)>,
    pub steps: usize,
}

/// `rows` is one image's probe data, a row per step.
pub fn raster(
    rows: ArrayView2<f64>,
    neuron: Neuron,
    scale: f64,
    dt: f64,
    max_neurons: usize,
) -> Raster {
    let (steps, size) = rows.dim();
    let count = |k: usize, i: usize| step_count(rows[[k, i]], neuron, scale, dt);
    let neurons: Vec<usize> = (0..size)
        .filter(|&i| (0..steps).any(|k| count(k, i) > 0))
        .take(max_neurons)
        .collect();
    let mut marks = Vec::new();
    for (row, &i) in neurons.iter().enumerate() {
        for k in 0..steps {
            let c = count(k, i);
            if c > 0 {
                marks.push((k + 1, row, c));
            }
        }
    }
    Raster {
        neurons,
        marks,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_invert_the_output_scaling() {
        let n = Neuron::SpikingRectifiedLinear { amplitude: 1.0 };
        // scale 20, dt 1ms: one spike reads 1 / (20 * 0.001) = 50.
        assert_eq!(step_count(50.0, n, 20.0, 0.001), 1);
        assert_eq!(step_count(100.0, n, 20.0, 0.001), 2);
        assert_eq!(step_count(0.0, n, 20.0, 0.001), 0);
    }

    #[test]
    fn raster_keeps_spiking_neurons() {
        let n = Neuron::SpikingRectifiedLinear { amplitude: 1.0 };
        // 3 steps x 3 neurons; neuron 1 never spikes.
        let rows = ndarray::arr2(&[[1000.0, 0.0, 0.0], [0.0, 0.0, 2000.0], [1000.0, 0.0, 0.0]]);
        let r = raster(rows.view(), n, 1.0, 0.001, 10);
        assert_eq!(r.neurons, vec![0, 2]);
        assert_eq!(r.marks, vec![(1, 0, 1), (3, 0, 1), (2, 1, 2)]);
    }
}
