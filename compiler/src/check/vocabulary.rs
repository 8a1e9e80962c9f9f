//! The words the checker accepts, in one place: block kinds, the keys of
//! each block, activations and the named arguments of every call. Layer
//! kinds and neuron types come from their definitions in [`crate::ops`].
//! The checker reads its lists from here, and so can tools (the language
//! server completes from these tables), so the two cannot drift apart.

use crate::ir::Neuron;
use crate::ops::{LayerKind, ACTIVATION_NAMES, LAYER_NAMES, NEURON_NAMES};

/// The kinds of top-level blocks.
pub const BLOCK_KINDS: [&str; 4] = ["network", "convert", "train", "run"];

/// The layer kinds of a `network` block (`name = KIND(...)`).
pub const LAYER_KINDS: [&str; LAYER_NAMES.len()] = LAYER_NAMES;

/// The activations a network layer may have.
pub const ACTIVATIONS: [&str; ACTIVATION_NAMES.len()] = ACTIVATION_NAMES;

/// The neuron types a `swap` may give.
pub const NEURONS: [&str; NEURON_NAMES.len()] = NEURON_NAMES;

/// Synapses: `none`, `lowpass(tau)`, `alpha(tau)`.
pub const SYNAPSES: [&str; 3] = ["none", "lowpass", "alpha"];

/// Data sources of `data = ...`.
pub const DATA_SOURCES: [&str; 4] = ["mnist_idx", "idx", "npz", "npy"];

/// Optimizers of `optimizer = ...`.
pub const OPTIMIZERS: [&str; 3] = ["rmsprop", "adam", "sgd"];

/// Losses of `loss PROBE = ...`.
pub const LOSSES: [&str; 4] = [
    "sparse_categorical_crossentropy",
    "mse",
    "rate_in_range",
    "rate_mse",
];

/// The bare words a value may be, by the setting or argument that takes
/// them (besides neuron types, activations and `none` for synapses).
pub const VALUE_WORDS: [(&str, &[&str]); 8] = [
    ("schedule", &["constant", "cosine"]),
    ("keep", &["last", "best"]),
    ("precision", &["f32", "f64"]),
    ("split", &["train", "test"]),
    ("padding", &["valid", "same"]),
    ("initial_voltage", &["zero", "uniform"]),
    ("at", &["last"]),
    ("from_logits", &["true", "false"]),
];

/// The words `setting` (or argument) takes, from [`VALUE_WORDS`]; empty
/// for one that takes none.
pub fn value_words(setting: &str) -> &'static [&'static str] {
    VALUE_WORDS
        .iter()
        .find(|(s, _)| *s == setting)
        .map_or(&[], |(_, w)| w)
}

/// The keys a settings block (`convert`, `train`, `run`) accepts.
#[derive(Clone, Copy, Debug)]
pub struct BlockKeys {
    /// `key = value`, each at most once.
    pub plain: &'static [&'static str],
    /// `key NAME = value`, repeatable (`loss pred = ...`, `scale conv1 = 2`).
    pub targeted: &'static [&'static str],
    /// `key a -> b [= value]` (`swap relu -> lif`).
    pub arrows: &'static [&'static str],
}

impl BlockKeys {
    /// Every key, each once: arrows, then plain keys, then targeted ones.
    pub fn all(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for k in self.arrows.iter().chain(self.plain).chain(self.targeted) {
            if !out.contains(k) {
                out.push(k);
            }
        }
        out
    }
}

/// `convert NAME from NETWORK { ... }`
pub const CONVERT: BlockKeys = BlockKeys {
    plain: &["scale_firing_rates", "synapse", "initial_voltage"],
    // `synapse all = ...`: every connection (see convert.rs).
    targeted: &["scale", "synapse"],
    arrows: &["swap", "synapse"],
};

/// `train [NAME] { ... }`
pub const TRAIN: BlockKeys = BlockKeys {
    plain: &[
        "network",
        "data",
        "optimizer",
        "schedule",
        "epochs",
        "batch",
        "validation_split",
        "keep",
        "seed",
        "init",
        "save",
    ],
    targeted: &["loss"],
    arrows: &[],
};

/// `run [NAME] { ... }`
pub const RUN: BlockKeys = BlockKeys {
    plain: &[
        "network",
        "params",
        "data",
        "dt",
        "present",
        "steps",
        "precision",
        "batch",
        "seed",
        "report",
    ],
    targeted: &[],
    arrows: &[],
};

/// The keys of a settings block, by block kind (`None` for `network`,
/// whose statements are layers, and for unknown kinds).
pub fn block(kind: &str) -> Option<&'static BlockKeys> {
    match kind {
        "convert" => Some(&CONVERT),
        "train" => Some(&TRAIN),
        "run" => Some(&RUN),
        _ => None,
    }
}

/// The arguments after a probe: `probe NAME = LAYER, synapse=..., sample_every=...`.
pub const PROBE_ARGS: [&str; 2] = ["synapse", "sample_every"];

/// Arguments every data source takes besides its own.
pub const DATA_COMMON_ARGS: [&str; 3] = ["limit", "offset", "pixel_max"];

/// The named arguments of every call besides layers and neuron types (in
/// [`crate::ops`]), by the name called. Callee names do not repeat across
/// kinds (`relu(...)` is a neuron type; the activation `relu` is a bare
/// name), so one table serves every place a call appears.
pub const CALLS: &[(&str, &[&str])] = &[
    // Synapses, initial voltage.
    ("lowpass", &["tau"]),
    ("alpha", &["tau"]),
    ("uniform", &["seed"]),
    // Data sources (their own arguments; all take `DATA_COMMON_ARGS` too).
    ("mnist_idx", &["split"]),
    ("idx", &["images", "labels"]),
    ("npz", &["x", "y"]),
    ("npy", &["labels"]),
    // Optimizers.
    ("rmsprop", &["lr", "rho", "epsilon"]),
    ("adam", &["lr", "beta1", "beta2", "epsilon"]),
    ("sgd", &["lr", "momentum"]),
    // Losses and the report.
    ("sparse_categorical_crossentropy", &["from_logits"]),
    ("mse", &[]),
    ("rate_in_range", &["min", "max", "weight"]),
    ("rate_mse", &["target", "weight"]),
    ("accuracy", &["at"]),
];

/// Every call of the language with its own named arguments: layers, neuron
/// types, then [`CALLS`].
pub fn all_calls() -> impl Iterator<Item = (&'static str, Vec<&'static str>)> {
    let layers = LayerKind::ALL
        .into_iter()
        .map(|k| (k.name(), k.arg_names()));
    let neurons = Neuron::DEFAULTS.into_iter().map(|n| (n.name(), n.args()));
    let others = CALLS.iter().map(|&(n, args)| (n, args.to_vec()));
    layers.chain(neurons).chain(others)
}

/// The named arguments `name(...)` accepts, data sources' common ones
/// included; `None` for a name that is not a call of the language.
pub fn call_args(name: &str) -> Option<Vec<&'static str>> {
    let own = all_calls()
        .find(|(n, _)| *n == name)
        .map(|(_, args)| args)?;
    let mut out = own;
    if DATA_SOURCES.contains(&name) {
        out.extend(DATA_COMMON_ARGS);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_arguments() {
        for name in LAYER_KINDS
            .iter()
            .chain(&NEURONS)
            .chain(&DATA_SOURCES)
            .chain(&OPTIMIZERS)
            .chain(&LOSSES)
            .chain(&["lowpass", "alpha", "uniform", "accuracy"])
        {
            assert!(call_args(name).is_some(), "{name}");
        }
        assert_eq!(
            call_args("mnist_idx").unwrap(),
            ["split", "limit", "offset", "pixel_max"]
        );
        assert!(call_args("conv3d").is_none());
    }

    #[test]
    fn value_words_by_setting() {
        assert_eq!(value_words("keep"), ["last", "best"]);
        assert!(value_words("network").is_empty());
    }

    #[test]
    fn block_keys_are_listed_once() {
        assert_eq!(
            CONVERT.all(),
            [
                "swap",
                "synapse",
                "scale_firing_rates",
                "initial_voltage",
                "scale"
            ]
        );
        assert!(block("train").unwrap().all().contains(&"loss"));
        assert!(block("network").is_none());
    }
}
