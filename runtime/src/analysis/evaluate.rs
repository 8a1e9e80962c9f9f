//! What one conversion setting achieves on labelled examples, and which
//! settings no other beats: the measure `snnc sweep` and `snnc tune` share.

use serde::Serialize;

use crate::engine::SimOutput;

use super::latency::argmax;

/// One setting's result over a set of examples, read at the last step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Steps each example was presented for.
    pub steps: usize,
    pub correct: usize,
    pub images: usize,
    /// Mean over examples of the first step (1-based) from which the
    /// prediction no longer changes: how long the network takes to settle.
    pub settle_steps: f64,
    /// Spikes of every spiking neuron, per example.
    pub spikes_per_image: f64,
    /// How many different classes were predicted at the last step.
    pub classes_predicted: usize,
    /// Examples whose prediction equals a reference model's (the rate
    /// model's, in `snnc tune`), when one was given.
    pub agreement: Option<usize>,
}

/// The class predicted at the last of `steps` rows of probe `index`, per
/// example (`None` when every value is NaN).
pub fn predictions(outputs: &[SimOutput<f64>], index: usize, steps: usize) -> Vec<Option<usize>> {
    outputs
        .iter()
        .map(|o| o.probes[index].outer_iter().nth(steps - 1).and_then(argmax))
        .collect()
}

impl Evaluation {
    /// Measures outputs whose probe `index` records a row every
    /// step, against `labels` and, when given, a reference's predictions.
    pub fn of(
        outputs: &[SimOutput<f64>],
        index: usize,
        steps: usize,
        labels: &[u32],
        reference: Option<&[Option<usize>]>,
    ) -> Evaluation {
        let mut correct = 0;
        let mut settle = 0usize;
        let mut spikes = 0u64;
        let mut predicted = Vec::new();
        for (out, &label) in outputs.iter().zip(labels) {
            let rows = &out.probes[index];
            let row = |r: usize| rows.outer_iter().nth(r).and_then(argmax);
            let last = row(steps - 1);
            correct += usize::from(last == Some(label as usize));
            let first_settled = (0..steps).rev().take_while(|&r| row(r) == last).last();
            settle += first_settled.map_or(steps, |r| r + 1);
            spikes += out.spike_summaries.iter().map(|s| s.total).sum::<u64>();
            if let Some(class) = last {
                if !predicted.contains(&class) {
                    predicted.push(class);
                }
            }
        }
        let images = outputs.len().min(labels.len());
        let agreement = reference.map(|r| {
            predictions(outputs, index, steps)
                .iter()
                .zip(r)
                .filter(|(a, b)| a == b)
                .count()
        });
        Evaluation {
            steps,
            correct,
            images,
            settle_steps: settle as f64 / images.max(1) as f64,
            spikes_per_image: spikes as f64 / images.max(1) as f64,
            classes_predicted: predicted.len(),
            agreement,
        }
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.images.max(1) as f64
    }

    /// A setting whose network never spiked, or that predicts one class for
    /// every example: its accuracy and latency say nothing about how well
    /// spikes carry the answer (a constant output is "settled" at step 1).
    pub fn is_degenerate(&self) -> bool {
        self.spikes_per_image == 0.0 || (self.images > 1 && self.classes_predicted <= 1)
    }

    /// At least as good on accuracy, steps and spikes, and better on one.
    fn dominates(&self, other: &Evaluation) -> bool {
        let at_least = self.correct >= other.correct
            && self.steps <= other.steps
            && self.spikes_per_image <= other.spikes_per_image;
        let better = self.correct > other.correct
            || self.steps < other.steps
            || self.spikes_per_image < other.spikes_per_image;
        at_least && better
    }
}

/// For each evaluation, whether it is on the Pareto front over (accuracy,
/// steps, spikes per image): not degenerate, dominated by no other
/// non-degenerate evaluation, and not a tie of an earlier front member.
/// Accuracy compares exact counts and steps are whole presentation
/// lengths, so nothing is decided on rounding.
pub fn pareto_front(evals: &[Evaluation]) -> Vec<bool> {
    let key = |e: &Evaluation| (e.correct, e.steps, e.spikes_per_image);
    let mut front = vec![false; evals.len()];
    for (i, e) in evals.iter().enumerate() {
        front[i] = !e.is_degenerate()
            && !evals.iter().any(|o| !o.is_degenerate() && o.dominates(e))
            && !(0..i).any(|j| front[j] && key(&evals[j]) == key(e));
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SpikeSummary;

    fn eval(correct: usize, steps: usize, spikes: f64, classes: usize) -> Evaluation {
        Evaluation {
            steps,
            correct,
            images: 100,
            settle_steps: 1.0,
            spikes_per_image: spikes,
            classes_predicted: classes,
            agreement: None,
        }
    }

    #[test]
    fn front_keeps_every_trade_off_and_drops_degenerate_settings() {
        let evals = [
            eval(98, 30, 25_000.0, 10),  // most accurate
            eval(98, 30, 850_000.0, 10), // as accurate, more spikes: dominated
            eval(90, 10, 90_000.0, 10),  // fastest
            eval(95, 20, 20_000.0, 10),  // fewest spikes
            eval(80, 20, 30_000.0, 10),  // dominated by the one above
            eval(14, 5, 0.0, 1),         // never spiked
            eval(14, 5, 10.0, 1),        // constant output
            eval(95, 20, 20_000.0, 10),  // a tie of a front member
        ];
        assert_eq!(
            pareto_front(&evals),
            [true, false, true, true, false, false, false, false]
        );
    }

    #[test]
    fn settle_latency_and_classes_from_the_probe_rows() {
        // Two examples, 3 steps, 2 classes per row.
        let out = |rows: [f64; 6], spikes: u32| SimOutput {
            probes: vec![crate::engine::probe_rows(rows.to_vec(), 2)],
            spike_counts: vec![vec![spikes]],
            spike_summaries: vec![SpikeSummary::of(&[spikes])],
        };
        let outputs = [
            out([1.0, 0.0, 0.0, 1.0, 0.0, 1.0], 3), // settles on 1 at step 2
            out([1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 1), // class 0 from step 1
        ];
        let e = Evaluation::of(&outputs, 0, 3, &[1, 1], Some(&[Some(1), Some(1)]));
        assert_eq!((e.correct, e.images, e.classes_predicted), (1, 2, 2));
        assert_eq!(e.agreement, Some(1));
        assert_eq!(e.settle_steps, 1.5);
        assert_eq!(e.spikes_per_image, 2.0);
        assert!(!e.is_degenerate());
    }
}
