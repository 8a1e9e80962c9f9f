//! Every layer kind and neuron type of the language, defined once: its
//! name, its named arguments, its defaults and the line of docs the editor
//! shows on hover. The checker's word lists (`check::vocabulary`), the
//! checker itself, the language server and the TextMate grammar test read
//! these tables, so adding a kind here is what makes the language know it.
//!
//! What a kind *computes* lives with each engine (reference, JIT, trainer),
//! reached through exhaustive `match`es on [`Op`] and [`Neuron`]: a new
//! variant is a list of compile errors at exactly the places that must
//! learn it. The geometry those engines need is resolved by the checker
//! into [`crate::ir::Window`].

use crate::ir::{Activation, Neuron, Op};

/// A neuron type's named argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeuronArg {
    pub name: &'static str,
    pub rule: ArgRule,
}

impl NeuronArg {
    const fn new(name: &'static str, rule: ArgRule) -> NeuronArg {
        NeuronArg { name, rule }
    }
}

/// What a neuron type keeps per neuron across steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeuronState {
    /// A membrane voltage.
    pub voltage: bool,
    /// The time left in its refractory period.
    pub refractory: bool,
    /// Its spikes so far (for rates and reports).
    pub spike_count: bool,
}

/// What a neuron argument's value may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgRule {
    /// A duration above zero.
    Duration,
    /// A duration of zero or more.
    DurationOrZero,
    /// A number above zero.
    Positive,
    /// Any number.
    Number,
}

impl ArgRule {
    pub const fn is_duration(self) -> bool {
        match self {
            ArgRule::Duration | ArgRule::DurationOrZero => true,
            ArgRule::Positive | ArgRule::Number => false,
        }
    }
}

/// A layer kind of a `network` block (`name = KIND(input, ...)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    Dense,
    Conv2d,
    DepthwiseConv2d,
    AvgPool,
    MaxPool,
    Flatten,
    Activation,
    Add,
}

/// A named argument of a layer kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: &'static str,
    /// What leaving it out means.
    pub default: ArgDefault,
    /// Written after the inputs without its name, as in `activation(x,
    /// relu)` (the checker accepts it named too).
    pub positional: bool,
}

/// What an argument left out of a call means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgDefault {
    /// It cannot be left out.
    Required,
    /// This value, as it is written in a spec (`strides=1`).
    Value(&'static str),
    /// The value of another argument of the call (a pooling's `strides`
    /// default to its `pool`).
    SameAs(&'static str),
}

impl Arg {
    const fn required(name: &'static str) -> Arg {
        Arg {
            name,
            default: ArgDefault::Required,
            positional: false,
        }
    }

    const fn with_default(name: &'static str, value: &'static str) -> Arg {
        Arg {
            name,
            default: ArgDefault::Value(value),
            positional: false,
        }
    }
}

/// How many layers a kind reads (its positional arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inputs {
    One,
    /// `add(a, b, ...)`: two or more of one shape.
    Many,
}

impl LayerKind {
    pub const ALL: [LayerKind; 8] = [
        LayerKind::Dense,
        LayerKind::Conv2d,
        LayerKind::DepthwiseConv2d,
        LayerKind::AvgPool,
        LayerKind::MaxPool,
        LayerKind::Flatten,
        LayerKind::Activation,
        LayerKind::Add,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            LayerKind::Dense => "dense",
            LayerKind::Conv2d => "conv2d",
            LayerKind::DepthwiseConv2d => "depthwise_conv2d",
            LayerKind::AvgPool => "avg_pool",
            LayerKind::MaxPool => "max_pool",
            LayerKind::Flatten => "flatten",
            LayerKind::Activation => "activation",
            LayerKind::Add => "add",
        }
    }

    /// Its named arguments with their defaults, in the order the docs list
    /// them and a call is written (`snnc import` writes calls from this,
    /// leaving out what equals its default).
    pub const fn args(self) -> &'static [Arg] {
        const UNITS: Arg = Arg::required("units");
        const FILTERS: Arg = Arg::required("filters");
        const KERNEL: Arg = Arg::required("kernel");
        const STRIDES: Arg = Arg::with_default("strides", "1");
        const PADDING: Arg = Arg::with_default("padding", "valid");
        const ACTIVATION: Arg = Arg::with_default("activation", "linear");
        const BIAS: Arg = Arg::with_default("bias", "true");
        const DEPTH_MULTIPLIER: Arg = Arg::with_default("depth_multiplier", "1");
        const POOL: Arg = Arg::required("pool");
        const POOL_STRIDES: Arg = Arg {
            name: "strides",
            default: ArgDefault::SameAs("pool"),
            positional: false,
        };
        const APPLIED: Arg = Arg {
            name: "activation",
            default: ArgDefault::Required,
            positional: true,
        };
        match self {
            LayerKind::Dense => &[UNITS, ACTIVATION, BIAS],
            LayerKind::Conv2d => &[FILTERS, KERNEL, STRIDES, PADDING, ACTIVATION, BIAS],
            LayerKind::DepthwiseConv2d => {
                &[KERNEL, STRIDES, PADDING, DEPTH_MULTIPLIER, ACTIVATION, BIAS]
            }
            LayerKind::AvgPool | LayerKind::MaxPool => &[POOL, POOL_STRIDES],
            LayerKind::Flatten | LayerKind::Add => &[],
            LayerKind::Activation => &[APPLIED],
        }
    }

    /// The names of [`LayerKind::args`], in order.
    pub fn arg_names(self) -> Vec<&'static str> {
        self.args().iter().map(|a| a.name).collect()
    }

    pub const fn inputs(self) -> Inputs {
        match self {
            LayerKind::Add => Inputs::Many,
            LayerKind::Dense
            | LayerKind::Conv2d
            | LayerKind::DepthwiseConv2d
            | LayerKind::AvgPool
            | LayerKind::MaxPool
            | LayerKind::Flatten
            | LayerKind::Activation => Inputs::One,
        }
    }

    /// What sizes the layer, as a memory error tells the user to lower it
    /// when this is the largest layer (`None`: only its input's size does).
    /// It starts with the argument's name in backticks.
    pub const fn size_setting(self) -> Option<&'static str> {
        match self {
            LayerKind::Dense => Some("`units`"),
            LayerKind::Conv2d => Some("`filters` (or the input size)"),
            LayerKind::DepthwiseConv2d => Some("`depth_multiplier` (or the input size)"),
            LayerKind::AvgPool
            | LayerKind::MaxPool
            | LayerKind::Flatten
            | LayerKind::Activation
            | LayerKind::Add => None,
        }
    }

    /// The call with every argument at its default (required ones as a
    /// placeholder), and what it computes: the editor's hover text.
    pub const fn doc(self) -> &'static str {
        match self {
            LayerKind::Dense => "**dense**`(x, units=N, activation=linear, bias=true)`: fully connected; input must be flat. Kernel `[in, out]`.",
            LayerKind::Conv2d => "**conv2d**`(x, filters=N, kernel=KxK, strides=1, padding=valid, activation=linear, bias=true)`: 2-D convolution, kernel HWIO.",
            LayerKind::DepthwiseConv2d => "**depthwise_conv2d**`(x, kernel=KxK, strides=1, padding=valid, depth_multiplier=1, activation=linear, bias=true)`: each input channel convolved with its own `depth_multiplier` filters (Keras `DepthwiseConv2D`); kernel `[kh, kw, c_in, depth_multiplier]`, `c_in * depth_multiplier` output channels.",
            LayerKind::AvgPool => "**avg_pool**`(x, pool=PxP, strides=pool)`: average pooling, 'valid' padding.",
            LayerKind::MaxPool => "**max_pool**`(x, pool=PxP, strides=pool)`: max pooling, 'valid' padding.",
            LayerKind::Flatten => "**flatten**`(x)`: a flat view in C order; creates nothing.",
            LayerKind::Activation => "**activation**`(x, relu)`: applies an activation.",
            LayerKind::Add => "**add**`(a, b, ...)`: element-wise sum of inputs of one shape.",
        }
    }

    pub fn named(name: &str) -> Option<LayerKind> {
        LayerKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind a node was written as; `None` for an input.
    pub const fn of(op: &Op) -> Option<LayerKind> {
        Some(match op {
            Op::Input => return None,
            Op::Dense { .. } => LayerKind::Dense,
            Op::Conv2d { .. } => LayerKind::Conv2d,
            Op::DepthwiseConv2d { .. } => LayerKind::DepthwiseConv2d,
            Op::AvgPool { .. } => LayerKind::AvgPool,
            Op::MaxPool { .. } => LayerKind::MaxPool,
            Op::Flatten => LayerKind::Flatten,
            Op::Activation => LayerKind::Activation,
            Op::Add => LayerKind::Add,
        })
    }
}

/// The names of [`LayerKind::ALL`], in order.
pub const LAYER_NAMES: [&str; LayerKind::ALL.len()] = {
    let mut out = [""; LayerKind::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = LayerKind::ALL[i].name();
        i += 1;
    }
    out
};

impl Neuron {
    /// Every neuron type with Nengo's default parameters: what a bare name
    /// in a `swap` means, and what an argument left out takes.
    pub const DEFAULTS: [Neuron; 6] = [
        Neuron::RectifiedLinear { amplitude: 1.0 },
        Neuron::SpikingRectifiedLinear { amplitude: 1.0 },
        Neuron::Lif {
            tau_rc: 0.02,
            tau_ref: 0.002,
            min_voltage: 0.0,
            amplitude: 1.0,
        },
        Neuron::LifRate {
            tau_rc: 0.02,
            tau_ref: 0.002,
            amplitude: 1.0,
        },
        Neuron::Sigmoid { tau_ref: 1.0 },
        Neuron::Tanh { tau_ref: 1.0 },
    ];

    /// The type named `name` with Nengo's defaults.
    pub fn default_named(name: &str) -> Option<Neuron> {
        Neuron::DEFAULTS.into_iter().find(|n| n.name() == name)
    }

    /// Its named arguments (Nengo's parameter names), with what each may
    /// be: the checker reads an argument by its rule, and a model is
    /// written back as a spec by it.
    pub const fn arg_rules(self) -> &'static [NeuronArg] {
        const AMPLITUDE: NeuronArg = NeuronArg::new("amplitude", ArgRule::Positive);
        const TAU_RC: NeuronArg = NeuronArg::new("tau_rc", ArgRule::Duration);
        const TAU_REF: NeuronArg = NeuronArg::new("tau_ref", ArgRule::DurationOrZero);
        const MIN_VOLTAGE: NeuronArg = NeuronArg::new("min_voltage", ArgRule::Number);
        // A sigmoid's or tanh's `tau_ref` divides its output: zero is refused.
        const RATE_TAU_REF: NeuronArg = NeuronArg::new("tau_ref", ArgRule::Duration);
        const RELU: &[NeuronArg] = &[AMPLITUDE];
        const LIF: &[NeuronArg] = &[TAU_RC, TAU_REF, MIN_VOLTAGE, AMPLITUDE];
        const LIF_RATE: &[NeuronArg] = &[TAU_RC, TAU_REF, AMPLITUDE];
        const RATE: &[NeuronArg] = &[RATE_TAU_REF];
        match self {
            Neuron::RectifiedLinear { .. } | Neuron::SpikingRectifiedLinear { .. } => RELU,
            Neuron::Lif { .. } => LIF,
            Neuron::LifRate { .. } => LIF_RATE,
            Neuron::Sigmoid { .. } | Neuron::Tanh { .. } => RATE,
        }
    }

    /// The values each neuron of this type carries from one step to the
    /// next, which an engine keeps per neuron.
    pub const fn state(self) -> NeuronState {
        const NONE: NeuronState = NeuronState {
            voltage: false,
            refractory: false,
            spike_count: false,
        };
        match self {
            Neuron::SpikingRectifiedLinear { .. } => NeuronState {
                voltage: true,
                spike_count: true,
                ..NONE
            },
            Neuron::Lif { .. } => NeuronState {
                voltage: true,
                refractory: true,
                spike_count: true,
            },
            Neuron::RectifiedLinear { .. }
            | Neuron::LifRate { .. }
            | Neuron::Sigmoid { .. }
            | Neuron::Tanh { .. } => NONE,
        }
    }

    /// Its named arguments' names, in [`Neuron::arg_rules`] order.
    pub fn args(self) -> Vec<&'static str> {
        self.arg_rules().iter().map(|a| a.name).collect()
    }

    /// This type with its parameters set to `values`, given in
    /// [`Neuron::arg_rules`] order (the inverse of [`Neuron::values`]);
    /// `None` when their number is not the type's.
    pub fn with_values(self, values: &[f64]) -> Option<Neuron> {
        Some(match (self, values) {
            (Neuron::RectifiedLinear { .. }, &[amplitude]) => Neuron::RectifiedLinear { amplitude },
            (Neuron::SpikingRectifiedLinear { .. }, &[amplitude]) => {
                Neuron::SpikingRectifiedLinear { amplitude }
            }
            (Neuron::Lif { .. }, &[tau_rc, tau_ref, min_voltage, amplitude]) => Neuron::Lif {
                tau_rc,
                tau_ref,
                min_voltage,
                amplitude,
            },
            (Neuron::LifRate { .. }, &[tau_rc, tau_ref, amplitude]) => Neuron::LifRate {
                tau_rc,
                tau_ref,
                amplitude,
            },
            (Neuron::Sigmoid { .. }, &[tau_ref]) => Neuron::Sigmoid { tau_ref },
            (Neuron::Tanh { .. }, &[tau_ref]) => Neuron::Tanh { tau_ref },
            (
                Neuron::RectifiedLinear { .. }
                | Neuron::SpikingRectifiedLinear { .. }
                | Neuron::Lif { .. }
                | Neuron::LifRate { .. }
                | Neuron::Sigmoid { .. }
                | Neuron::Tanh { .. },
                _,
            ) => return None,
        })
    }

    /// Its parameters as `(argument, value)`, in [`Neuron::arg_rules`]
    /// order (times in seconds).
    pub fn values(self) -> Vec<(&'static str, f64)> {
        let values = match self {
            Neuron::RectifiedLinear { amplitude }
            | Neuron::SpikingRectifiedLinear { amplitude } => vec![amplitude],
            Neuron::Lif {
                tau_rc,
                tau_ref,
                min_voltage,
                amplitude,
            } => vec![tau_rc, tau_ref, min_voltage, amplitude],
            Neuron::LifRate {
                tau_rc,
                tau_ref,
                amplitude,
            } => vec![tau_rc, tau_ref, amplitude],
            Neuron::Sigmoid { tau_ref } | Neuron::Tanh { tau_ref } => vec![tau_ref],
        };
        self.args().into_iter().zip(values).collect()
    }

    /// The editor's hover text for the type's name (defaults as in
    /// [`Neuron::DEFAULTS`]).
    pub const fn doc(self) -> &'static str {
        match self {
            Neuron::RectifiedLinear { .. } => "**relu**: rectified linear activation; as a neuron type, Nengo's RectifiedLinear (`amplitude` 1).",
            Neuron::SpikingRectifiedLinear { .. } => "**spiking_relu**: Nengo's SpikingRectifiedLinear (`amplitude` 1).",
            Neuron::Lif { .. } => "**lif**: Nengo's LIF (`tau_rc` 20ms, `tau_ref` 2ms, `min_voltage` 0, `amplitude` 1).",
            Neuron::LifRate { .. } => "**lif_rate**: Nengo's LIFRate (`tau_rc` 20ms, `tau_ref` 2ms, `amplitude` 1).",
            Neuron::Sigmoid { .. } => "**sigmoid**: sigmoid activation; as a neuron type, Nengo's Sigmoid (`tau_ref` 1s).",
            Neuron::Tanh { .. } => "**tanh**: tanh activation; as a neuron type, Nengo's Tanh (`tau_ref` 1s).",
        }
    }
}

/// The names of [`Neuron::DEFAULTS`], in order.
pub const NEURON_NAMES: [&str; Neuron::DEFAULTS.len()] = {
    let mut out = [""; Neuron::DEFAULTS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Neuron::DEFAULTS[i].name();
        i += 1;
    }
    out
};

impl Activation {
    /// Every activation, in the order messages list them.
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Linear,
    ];

    pub fn named(name: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The names of [`Activation::ALL`], in order.
pub const ACTIVATION_NAMES: [&str; Activation::ALL.len()] = {
    let mut out = [""; Activation::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Activation::ALL[i].name();
        i += 1;
    }
    out
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in LayerKind::ALL {
            assert_eq!(LayerKind::named(k.name()), Some(k));
            assert!(k.doc().starts_with(&format!("**{}**", k.name())));
            if let Some(setting) = k.size_setting() {
                let arg = setting.split('`').nth(1);
                assert!(
                    arg.is_some_and(|a| k.arg_names().contains(&a)),
                    "{}",
                    k.name()
                );
            }
        }
        for n in Neuron::DEFAULTS {
            assert_eq!(Neuron::default_named(n.name()), Some(n));
            assert_eq!(n.values().len(), n.args().len());
            let values: Vec<f64> = n.values().into_iter().map(|(_, v)| v).collect();
            assert_eq!(n.with_values(&values), Some(n));
            assert_eq!(n.with_values(&[]), None);
            assert!(n.doc().starts_with(&format!("**{}**", n.name())));
        }
        assert_eq!(LayerKind::named("conv3d"), None);
    }

    /// The table's defaults are what the checker does with an argument left
    /// out: writing each default explicitly checks to the same layer.
    #[test]
    fn defaults_are_the_checkers() {
        let layer = |kind: LayerKind, extra: Option<String>| {
            let mut args = vec!["x".to_string()];
            for a in kind.args() {
                let value = match a.name {
                    "units" => "4",
                    "filters" => "2",
                    "kernel" => "3x3",
                    "pool" => "2x2",
                    "activation" if a.positional => "relu",
                    _ => continue,
                };
                args.push(if a.positional {
                    value.to_string()
                } else {
                    format!("{}={value}", a.name)
                });
            }
            args.extend(extra);
            let input = if kind == LayerKind::Dense {
                "8"
            } else {
                "8x8x2"
            };
            let spec = format!(
                "network n {{\n    input x: {input}\n    y = {}({})\n}}\n",
                kind.name(),
                args.join(", ")
            );
            let checked = crate::check_source(&spec);
            let program = checked
                .program
                .unwrap_or_else(|| panic!("{spec}: {:?}", checked.diagnostics));
            let y = program.networks[0].nodes[1].clone();
            format!("{:?} {:?} {:?} {:?}", y.op, y.activation, y.shape, y.params)
        };
        let mut explicit = 0;
        for kind in LayerKind::ALL {
            if kind == LayerKind::Add {
                continue; // no named arguments, and two inputs
            }
            let bare = layer(kind, None);
            for a in kind.args() {
                let value = match a.default {
                    ArgDefault::Required => continue,
                    ArgDefault::Value(v) => v,
                    ArgDefault::SameAs("pool") => "2x2",
                    ArgDefault::SameAs(other) => panic!("no test value for `{other}`"),
                };
                let written = layer(kind, Some(format!("{}={value}", a.name)));
                assert_eq!(written, bare, "{}: {}={value}", kind.name(), a.name);
                explicit += 1;
            }
        }
        assert_eq!(explicit, 13);
    }
}
