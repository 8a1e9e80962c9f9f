//! Keras layers to `.snn` layers: the mapping of `docs/import.md`, shape
//! inference, weight checks and BatchNormalization folding.
//!
//! Every layer is looked at even after a refusal, so that one run lists
//! every layer that cannot be imported (a layer reading a refused one is
//! only checked for its own class and arguments).

use std::collections::{HashMap, HashSet};

use ndarray::{ArrayD, IxDyn};
use serde_json::{Map, Value as Json};

use snnc_compiler::check::{ACTIVATIONS, NEURONS};
use snnc_compiler::ir::{Padding, Window};
use snnc_compiler::ops::LayerKind;

/// A layer's activation: the language's own.
pub use snnc_compiler::ir::Activation as Act;

use crate::hdf5::Data;
use crate::keras::{Graph, KerasFile, Layer};
use snnc_io::shape_repr;

/// The Keras classes that can be imported, for messages and docs.
pub const SUPPORTED: &str = "InputLayer, Dense, Conv2D, DepthwiseConv2D, AveragePooling2D, MaxPooling2D, GlobalAveragePooling2D, \
GlobalMaxPooling2D, Flatten, Reshape (to a flat vector), Activation, ReLU, Add, BatchNormalization (folded into \
the Dense/Conv2D before it), Dropout and other inference-time identities (SpatialDropout1D/2D/3D, GaussianNoise, \
GaussianDropout, AlphaDropout, ActivityRegularization, Identity), Softmax (on the output only, dropped)";

const ACTIVATIONS_SUPPORTED: &str =
    "relu, sigmoid, tanh and linear (softmax only on the model output, where it is dropped)";

const IDENTITIES: [&str; 9] = [
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
];

/// Words a layer must not be called in a spec: reserved (`bias`), the
/// activation and neuron names that `swap` statements read as such (from
/// the language's vocabulary), and keywords.
fn reserved() -> impl Iterator<Item = &'static str> {
    ["bias", "input", "from", "none", "softlif"]
        .into_iter()
        .chain(ACTIVATIONS)
        .chain(NEURONS)
}

fn is_reserved(word: &str) -> bool {
    reserved().any(|r| r == word)
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Input,
    Dense {
        units: usize,
        act: Act,
    },
    Conv2d {
        filters: usize,
        kernel: [usize; 2],
        strides: [usize; 2],
        same: bool,
        act: Act,
    },
    DepthwiseConv2d {
        depth_multiplier: usize,
        kernel: [usize; 2],
        strides: [usize; 2],
        same: bool,
        act: Act,
    },
    AvgPool {
        pool: [usize; 2],
        strides: [usize; 2],
    },
    MaxPool {
        pool: [usize; 2],
        strides: [usize; 2],
    },
    Flatten,
    Activation(Act),
    Add,
}

impl Op {
    pub fn act(&self) -> Act {
        match self {
            Op::Dense { act, .. }
            | Op::Conv2d { act, .. }
            | Op::DepthwiseConv2d { act, .. }
            | Op::Activation(act) => *act,
            Op::Input | Op::AvgPool { .. } | Op::MaxPool { .. } | Op::Flatten | Op::Add => {
                Act::Linear
            }
        }
    }
}

impl Node {
    /// The layer kind the spec writes it as; `None` for an input (declared,
    /// not called).
    pub fn kind(&self) -> Option<LayerKind> {
        Some(match self.op {
            Op::Input => return None,
            Op::Dense { .. } => LayerKind::Dense,
            Op::Conv2d { .. } => LayerKind::Conv2d,
            Op::DepthwiseConv2d { .. } => LayerKind::DepthwiseConv2d,
            Op::AvgPool { .. } => LayerKind::AvgPool,
            Op::MaxPool { .. } => LayerKind::MaxPool,
            Op::Flatten => LayerKind::Flatten,
            Op::Activation(_) => LayerKind::Activation,
            Op::Add => LayerKind::Add,
        })
    }

    /// Every argument of its call as it is written in a spec, named as in
    /// the ops table ([`LayerKind::args`]), which says the order, the
    /// defaults and which are left out.
    pub fn arg_values(&self) -> Vec<(&'static str, String)> {
        let pair = |p: [usize; 2]| format!("{}x{}", p[0], p[1]);
        // A conv's square strides are written as one number (`strides=2`).
        let strides = |s: [usize; 2]| {
            if s[0] == s[1] {
                s[0].to_string()
            } else {
                pair(s)
            }
        };
        let padding = |same: bool| if same { "same" } else { "valid" }.to_string();
        let activation = |a: Act| ("activation", a.name().to_string());
        let bias = ("bias", self.bias.is_some().to_string());
        match self.op {
            Op::Input | Op::Flatten | Op::Add => Vec::new(),
            Op::Dense { units, act } => vec![("units", units.to_string()), activation(act), bias],
            Op::Conv2d {
                filters,
                kernel,
                strides: s,
                same,
                act,
            } => vec![
                ("filters", filters.to_string()),
                ("kernel", pair(kernel)),
                ("strides", strides(s)),
                ("padding", padding(same)),
                activation(act),
                bias,
            ],
            Op::DepthwiseConv2d {
                depth_multiplier,
                kernel,
                strides: s,
                same,
                act,
            } => vec![
                ("kernel", pair(kernel)),
                ("strides", strides(s)),
                ("padding", padding(same)),
                ("depth_multiplier", depth_multiplier.to_string()),
                activation(act),
                bias,
            ],
            Op::AvgPool { pool, strides: s } | Op::MaxPool { pool, strides: s } => {
                vec![("pool", pair(pool)), ("strides", pair(s))]
            }
            Op::Activation(act) => vec![activation(act)],
        }
    }
}

/// A weight tensor in its Keras shape (a kernel `[in, out]` or HWIO, a
/// bias `[out]`), in f64 until the params file is written.
pub type Tensor = ArrayD<f64>;

/// One layer of the generated spec.
#[derive(Clone, Debug)]
pub struct Node {
    /// The name in the spec (the Keras name, made a valid identifier).
    pub name: String,
    /// The Keras layer it comes from and its class.
    pub keras: String,
    pub class: String,
    pub op: Op,
    pub inputs: Vec<usize>,
    pub shape: Vec<usize>,
    pub kernel: Option<Tensor>,
    pub bias: Option<Tensor>,
    /// A short remark printed after the shape comment.
    pub note: Option<String>,
    /// The BatchNormalization folded into this layer, if any.
    pub folded: Option<String>,
}

/// A line of the network block: a layer, or a comment where a Keras layer
/// left nothing behind.
#[derive(Clone, Debug)]
pub enum Line {
    Node(usize),
    Comment(String),
}

/// What became of one Keras layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerOutcome {
    pub keras: String,
    pub class: String,
    /// The spec layer whose output equals this Keras layer's output, if any.
    pub node: Option<String>,
    /// False when the spec layer computes something else on purpose (a
    /// dropped softmax: the spec reads the logits).
    pub exact: bool,
}

pub struct Converted {
    pub nodes: Vec<Node>,
    pub lines: Vec<Line>,
    /// Spec node of each model output.
    pub outputs: Vec<usize>,
    pub layers: Vec<LayerOutcome>,
    /// Remarks for the user (softmax dropped, names changed, ...).
    pub notes: Vec<String>,
    /// True when some output had a softmax that was dropped.
    pub softmax_dropped: bool,
}

/// Converts a parsed model; `Err` lists every layer that cannot be
/// imported, one per line.
pub fn convert(graph: &Graph, file: &KerasFile) -> Result<Converted, Vec<String>> {
    let mut c = Converter {
        graph,
        file,
        nodes: Vec::new(),
        lines: Vec::new(),
        value: HashMap::new(),
        outcome: HashMap::new(),
        problems: Vec::new(),
        notes: Vec::new(),
        used: reserved().map(str::to_string).collect(),
        softmax_dropped: false,
    };
    for layer in &graph.layers {
        c.layer(layer);
    }
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let mut outputs = Vec::new();
    for o in &graph.outputs {
        match c.value.get(o) {
            Some(Some(n)) => outputs.push(*n),
            _ => {
                return Err(vec![format!(
                    "model output `{o}` has no value (this is a bug in snnc import)"
                )])
            }
        }
    }
    let layers = graph
        .layers
        .iter()
        .map(|l| {
            let (node, exact) = c.outcome.get(&l.name).cloned().unwrap_or((None, true));
            LayerOutcome {
                keras: l.name.clone(),
                class: l.class.clone(),
                node: node.map(|n| c.nodes[n].name.clone()),
                exact,
            }
        })
        .collect();
    Ok(Converted {
        nodes: c.nodes,
        lines: c.lines,
        outputs,
        layers,
        notes: c.notes,
        softmax_dropped: c.softmax_dropped,
    })
}

struct Converter<'a> {
    graph: &'a Graph,
    file: &'a KerasFile,
    nodes: Vec<Node>,
    lines: Vec<Line>,
    /// Keras layer name -> the spec node holding its output (`None`: the
    /// layer was refused, so layers reading it skip shape checks).
    value: HashMap<String, Option<usize>>,
    /// Keras layer name -> (spec node with exactly its output, exact).
    outcome: HashMap<String, (Option<usize>, bool)>,
    problems: Vec<String>,
    notes: Vec<String>,
    used: HashSet<String>,
    softmax_dropped: bool,
}

/// Keras' activation as read from a config, before deciding about softmax.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KAct {
    Act(Act),
    Softmax,
}

impl Converter<'_> {
    fn refuse(&mut self, layer: &Layer, why: impl AsRef<str>) {
        self.problems.push(format!(
            "layer `{}` ({}): {}",
            layer.name,
            layer.class,
            why.as_ref()
        ));
        self.value.insert(layer.name.clone(), None);
    }

    /// The spec name for a Keras name: a valid identifier, not reserved,
    /// not taken.
    fn spec_name(&mut self, keras: &str) -> String {
        let s = self.fresh_name(keras);
        if s != keras {
            self.notes.push(format!(
                "Keras layer `{keras}` is called `{s}` in the spec (and in the params file)"
            ));
        }
        s
    }

    /// A valid, unused identifier made from `keras`.
    fn fresh_name(&mut self, keras: &str) -> String {
        let mut s: String = keras
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
            s.insert_str(0, "layer_");
        }
        if self.used.contains(&s) {
            let base = if is_reserved(&s) {
                format!("{s}_layer")
            } else {
                s.clone()
            };
            s = base.clone();
            let mut i = 2;
            while self.used.contains(&s) {
                s = format!("{base}_{i}");
                i += 1;
            }
        }
        self.used.insert(s.clone());
        s
    }

    fn push(&mut self, layer: &Layer, op: Op, inputs: Vec<usize>, shape: Vec<usize>) -> usize {
        let name = self.spec_name(&layer.name);
        self.push_named(name, layer, op, inputs, shape)
    }

    fn push_named(
        &mut self,
        name: String,
        layer: &Layer,
        op: Op,
        inputs: Vec<usize>,
        shape: Vec<usize>,
    ) -> usize {
        self.nodes.push(Node {
            name,
            keras: layer.name.clone(),
            class: layer.class.clone(),
            op,
            inputs,
            shape,
            kernel: None,
            bias: None,
            note: None,
            folded: None,
        });
        let id = self.nodes.len() - 1;
        self.lines.push(Line::Node(id));
        id
    }

    /// Sets the layer's output (and that it is exactly the Keras output).
    fn define(&mut self, layer: &Layer, node: usize, exact: bool) {
        self.value.insert(layer.name.clone(), Some(node));
        self.outcome.insert(layer.name.clone(), (Some(node), exact));
    }

    /// The nodes of the layer's inputs; `None` if an input was refused.
    fn inputs(&self, layer: &Layer) -> Option<Vec<usize>> {
        layer
            .inputs
            .iter()
            .map(|i| self.value.get(i).copied().flatten())
            .collect()
    }

    fn is_output(&self, layer: &Layer) -> bool {
        self.graph.outputs.contains(&layer.name)
    }

    fn layer(&mut self, layer: &Layer) {
        if let Some(how) = &layer.custom {
            let why = format!("a custom layer ({how}); only built-in Keras layers can be imported");
            return self.refuse(layer, why);
        }
        let cfg = Cfg { map: &layer.config };
        if let Err(e) = self.check_dtype(&cfg) {
            return self.refuse(layer, e);
        }
        let result = match layer.class.as_str() {
            "InputLayer" => self.input(layer, &cfg),
            "Dense" => self.dense(layer, &cfg),
            "Conv2D" | "Convolution2D" => self.conv2d(layer, &cfg, false),
            "DepthwiseConv2D" => self.conv2d(layer, &cfg, true),
            "AveragePooling2D" | "AvgPool2D" => self.pool(layer, &cfg, false),
            "MaxPooling2D" | "MaxPool2D" => self.pool(layer, &cfg, true),
            "GlobalAveragePooling2D" | "GlobalAvgPool2D" => self.global_pool(layer, &cfg, false),
            "GlobalMaxPooling2D" | "GlobalMaxPool2D" => self.global_pool(layer, &cfg, true),
            "Flatten" => self.flatten(layer, &cfg),
            "Reshape" => self.reshape(layer, &cfg),
            "Activation" => self.activation_layer(layer, &cfg),
            "ReLU" => self.relu_layer(layer, &cfg),
            "Softmax" => self.softmax_layer(layer),
            "Add" => self.add(layer),
            "BatchNormalization" => self.batch_norm(layer, &cfg),
            c if IDENTITIES.contains(&c) => self.identity(layer, &cfg),
            "LeakyReLU" | "PReLU" | "ELU" | "ThresholdedReLU" => Err(format!(
                "the .snn language has no {} activation (activations: relu, sigmoid, tanh, linear); retrain with ReLU to import this model",
                if layer.class == "LeakyReLU" { "leaky ReLU".to_string() } else { layer.class.clone() }
            )),
            "Concatenate" => Err(
                "the .snn language has no concatenate layer (its only merge layer is `add`); a model that concatenates branches cannot be imported".into(),
            ),
            "Subtract" | "Multiply" | "Average" | "Maximum" | "Minimum" | "Dot" => {
                Err("the .snn language's only merge layer is `add` (Keras' Add)".into())
            }
            "Sequential" | "Functional" | "Model" => {
                Err("a nested model; build the model from the inner model's layers directly (one level) and save it again".into())
            }
            "Conv1D" | "Conv3D" | "SeparableConv2D" | "Conv2DTranspose" => {
                Err("not supported: the .snn language's convolutions are conv2d and depthwise_conv2d (Keras' Conv2D and DepthwiseConv2D)".into())
            }
            _ => Err("not a layer snnc can import".into()),
        };
        if let Err(why) = result {
            self.refuse(layer, why);
        }
    }

    fn check_dtype(&self, cfg: &Cfg) -> Result<(), String> {
        let policy = match cfg.map.get("dtype") {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Object(o)) => o
                .get("config")
                .and_then(|c| c.get("name"))
                .and_then(Json::as_str)
                .unwrap_or("float32")
                .to_string(),
            _ => "float32".into(),
        };
        if policy.starts_with("int") || policy.starts_with("float8") || policy.contains("quant") {
            return Err(format!("a quantized layer (dtype policy `{policy}`), which cannot be imported; save the float model"));
        }
        Ok(())
    }

    fn one_input(&self, layer: &Layer) -> Result<Option<usize>, String> {
        if layer.inputs.len() != 1 {
            return Err(format!("expected one input, found {}", layer.inputs.len()));
        }
        Ok(self.inputs(layer).map(|v| v[0]))
    }

    fn input(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(), String> {
        for key in ["sparse", "ragged"] {
            if cfg.bool(key, false)? {
                return Err(format!("a {key} input, which cannot be imported"));
            }
        }
        let shape = cfg
            .map
            .get("batch_shape")
            .or_else(|| cfg.map.get("batch_input_shape"))
            .and_then(Json::as_array)
            .ok_or("an input without `batch_shape` (or `batch_input_shape`)")?;
        let dims: Vec<Option<usize>> = shape
            .iter()
            .skip(1)
            .map(|d| d.as_u64().map(|x| x as usize))
            .collect();
        if dims.iter().any(|d| d.is_none_or(|x| x == 0)) || dims.is_empty() {
            return Err(format!(
                "the input shape {} has unknown or zero dimensions; the spec needs a fixed shape (give keras.Input a full `shape`)",
                json_shape(shape)
            ));
        }
        let dims: Vec<usize> = dims.into_iter().map(|d| d.unwrap_or(0)).collect();
        if dims.len() > 3 {
            return Err(format!("a {}-dimensional input; the spec's inputs are vectors or height x width x channels images", dims.len()));
        }
        let id = self.push(layer, Op::Input, vec![], dims);
        self.define(layer, id, true);
        Ok(())
    }

    /// Dense and Conv2D activation; softmax only on a model output.
    fn main_activation(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(Act, bool), String> {
        match activation(cfg.map.get("activation"))? {
            KAct::Act(a) => Ok((a, false)),
            KAct::Softmax if self.is_output(layer) => Ok((Act::Linear, true)),
            KAct::Softmax => Err(softmax_inside()),
        }
    }

    fn weights(&self, layer: &Layer, roles: &[&str]) -> Result<Vec<Tensor>, String> {
        let ws = self
            .file
            .layer_weights(&layer.name)
            .map_err(|e| e.to_string())?;
        let found = || {
            ws.iter()
                .map(|w| w.name.clone().unwrap_or_else(|| "?".into()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if ws.len() != roles.len() {
            return Err(format!(
                "the file holds {} weight tensor(s) for it{}, but its config needs {} ({})",
                ws.len(),
                if ws.iter().all(|w| w.name.is_some()) && !ws.is_empty() {
                    format!(" ({})", found())
                } else {
                    String::new()
                },
                roles.len(),
                roles.join(", ")
            ));
        }
        let mut out = Vec::new();
        for (w, role) in ws.iter().zip(roles) {
            if let Some(name) = &w.name {
                let name = name.trim_start_matches('_');
                if name != *role {
                    return Err(format!(
                        "expected its weights to be {}, found {}",
                        roles.join(", "),
                        found()
                    ));
                }
            }
            let values = match &w.value.data {
                Data::Float { values, .. } => values.clone(),
                _ => {
                    return Err(format!(
                        "weight `{}` is {}, not floating point",
                        w.place,
                        w.value.describe()
                    ))
                }
            };
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(format!(
                    "weight `{}` holds {} at flat index {i}",
                    w.place, values[i]
                ));
            }
            let tensor = Tensor::from_shape_vec(IxDyn(&w.value.shape), values).map_err(|e| {
                format!(
                    "weight `{}` does not fill its shape {}: {e}",
                    w.place,
                    shape_repr(&w.value.shape)
                )
            })?;
            out.push(tensor);
        }
        Ok(out)
    }

    fn check_weight_shape(t: &Tensor, role: &str, want: &[usize]) -> Result<(), String> {
        if t.shape() != want {
            return Err(format!(
                "its {role} has shape {} but the layer needs {}",
                shape_repr(t.shape()),
                shape_repr(want)
            ));
        }
        Ok(())
    }

    fn dense(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(), String> {
        let units = cfg.usize("units")?;
        let use_bias = cfg.bool("use_bias", true)?;
        let (act, softmax) = self.main_activation(layer, cfg)?;
        for key in ["lora_rank", "quantization_config"] {
            if cfg
                .map
                .get(key)
                .is_some_and(|v| !v.is_null() && v.as_u64() != Some(0))
            {
                return Err(format!(
                    "`{key}` is set; only plain float Dense layers can be imported"
                ));
            }
        }
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let in_shape = self.nodes[src].shape.clone();
        if in_shape.len() != 1 {
            return Err(format!(
                "its input has shape {} and Keras' Dense then acts on the last axis at every position; the spec's dense needs a flat input: add a Flatten before it",
                dims(&in_shape)
            ));
        }
        let roles: &[&str] = if use_bias {
            &["kernel", "bias"]
        } else {
            &["kernel"]
        };
        let mut w = self.weights(layer, roles)?.into_iter();
        let kernel = w.next().ok_or("no kernel")?;
        Self::check_weight_shape(&kernel, "kernel", &[in_shape[0], units])?;
        let bias = w.next();
        if let Some(b) = &bias {
            Self::check_weight_shape(b, "bias", &[units])?;
        }
        let id = self.push(layer, Op::Dense { units, act }, vec![src], vec![units]);
        self.nodes[id].kernel = Some(kernel);
        self.nodes[id].bias = bias;
        if softmax {
            self.softmax_note(id);
        }
        self.define(layer, id, !softmax);
        Ok(())
    }

    fn softmax_note(&mut self, id: usize) {
        self.softmax_dropped = true;
        self.nodes[id].note = Some("logits: Keras' softmax left out".into());
        self.notes.push(format!(
            "`{}` ends in a softmax in Keras; the spec reads its logits instead (same argmax, so the same accuracy)",
            self.nodes[id].name
        ));
    }

    /// A Conv2D, or with `depthwise` a DepthwiseConv2D (kernel
    /// `[kh, kw, c, depth_multiplier]`, `c * depth_multiplier` outputs).
    fn conv2d(&mut self, layer: &Layer, cfg: &Cfg, depthwise: bool) -> Result<(), String> {
        let (class, spec_kind) = if depthwise {
            ("DepthwiseConv2D", "depthwise_conv2d")
        } else {
            ("Conv2D", "conv2d")
        };
        let filters = if depthwise {
            cfg.usize_or("depth_multiplier", 1)?
        } else {
            cfg.usize("filters")?
        };
        let kernel = cfg.pair("kernel_size", None)?;
        let strides = cfg.pair("strides", Some([1, 1]))?;
        let dilation = cfg.pair("dilation_rate", Some([1, 1]))?;
        if dilation != [1, 1] {
            return Err(format!(
                "dilation_rate {:?} is not supported: the spec's {spec_kind} has no dilation (only dilation_rate 1 can be imported)",
                dilation
            ));
        }
        if !depthwise {
            let groups = cfg.usize_or("groups", 1)?;
            if groups != 1 {
                return Err(format!("groups={groups} is not supported: the spec's conv2d is a full convolution (only groups 1 can be imported)"));
            }
        }
        channels_last(cfg)?;
        let same = padding(cfg)?;
        let use_bias = cfg.bool("use_bias", true)?;
        let (act, softmax) = self.main_activation(layer, cfg)?;
        if softmax {
            return Err(softmax_inside());
        }
        if kernel.contains(&0) || strides.contains(&0) || filters == 0 {
            return Err("kernel_size, strides and depth_multiplier must be positive".into());
        }
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let s = self.nodes[src].shape.clone();
        if s.len() != 3 {
            return Err(format!(
                "{class} needs a height x width x channels input, but its input has shape {}",
                dims(&s)
            ));
        }
        let outputs = if depthwise {
            s[2].saturating_mul(filters)
        } else {
            filters
        };
        let padding = if same { Padding::Same } else { Padding::Valid };
        let Some(window) = Window::resolve([s[0], s[1], s[2]], kernel, strides, padding, outputs)
        else {
            return Err(format!(
                "its {}x{} kernel is larger than its {}x{} input",
                kernel[0], kernel[1], s[0], s[1]
            ));
        };
        let kernel_role = if depthwise {
            "depthwise_kernel"
        } else {
            "kernel"
        };
        let roles: &[&str] = if use_bias {
            &[kernel_role, "bias"]
        } else {
            &[kernel_role]
        };
        let mut w = self.weights(layer, roles)?.into_iter();
        let k = w.next().ok_or("no kernel")?;
        Self::check_weight_shape(&k, kernel_role, &[kernel[0], kernel[1], s[2], filters])?;
        let bias = w.next();
        if let Some(b) = &bias {
            Self::check_weight_shape(b, "bias", &[outputs])?;
        }
        let op = if depthwise {
            Op::DepthwiseConv2d {
                depth_multiplier: filters,
                kernel,
                strides,
                same,
                act,
            }
        } else {
            Op::Conv2d {
                filters,
                kernel,
                strides,
                same,
                act,
            }
        };
        let id = self.push(layer, op, vec![src], window.output.to_vec());
        self.nodes[id].kernel = Some(k);
        self.nodes[id].bias = bias;
        self.define(layer, id, true);
        Ok(())
    }

    fn pool(&mut self, layer: &Layer, cfg: &Cfg, max: bool) -> Result<(), String> {
        let pool = cfg.pair("pool_size", Some([2, 2]))?;
        let strides = cfg.pair("strides", Some(pool))?;
        channels_last(cfg)?;
        let same = padding(cfg)?;
        if pool.contains(&0) || strides.contains(&0) {
            return Err("pool_size and strides must be positive".into());
        }
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let s = self.nodes[src].shape.clone();
        if s.len() != 3 {
            return Err(format!(
                "pooling needs a height x width x channels input, but its input has shape {}",
                dims(&s)
            ));
        }
        if pool[0] > s[0] || pool[1] > s[1] {
            return Err(format!(
                "its {}x{} pool is larger than its {}x{} input",
                pool[0], pool[1], s[0], s[1]
            ));
        }
        let input = [s[0], s[1], s[2]];
        let valid = Window::resolve(input, pool, strides, Padding::Valid, s[2])
            .ok_or("the pool does not fit its input")?;
        // 'same' equals 'valid' when TensorFlow would pad nothing.
        if same
            && Window::resolve(input, pool, strides, Padding::Same, s[2]).is_none_or(|w| {
                w.pad_before != [0, 0] || w.pad_after != [0, 0] || w.output != valid.output
            })
        {
            return Err(format!(
                "padding=\"same\" pads this {}x{} input, but the spec's pooling has 'valid' padding only; use padding=\"valid\" (or an input size the pool divides)",
                s[0], s[1]
            ));
        }
        let out = valid.output;
        let op = if max {
            Op::MaxPool { pool, strides }
        } else {
            Op::AvgPool { pool, strides }
        };
        let id = self.push(layer, op, vec![src], vec![out[0], out[1], s[2]]);
        self.define(layer, id, true);
        Ok(())
    }

    fn global_pool(&mut self, layer: &Layer, cfg: &Cfg, max: bool) -> Result<(), String> {
        channels_last(cfg)?;
        let keepdims = cfg.bool("keepdims", false)?;
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let s = self.nodes[src].shape.clone();
        if s.len() != 3 {
            return Err(format!("global pooling needs a height x width x channels input, but its input has shape {}", dims(&s)));
        }
        let pool = [s[0], s[1]];
        let op = if max {
            Op::MaxPool {
                pool,
                strides: pool,
            }
        } else {
            Op::AvgPool {
                pool,
                strides: pool,
            }
        };
        let what = if max { "max" } else { "mean" };
        if keepdims {
            let id = self.push(layer, op, vec![src], vec![1, 1, s[2]]);
            self.nodes[id].note =
                Some(format!("the {what} over the whole {}x{} image", s[0], s[1]));
            self.define(layer, id, true);
        } else {
            let base = self.spec_name(&layer.name);
            let pool_name = self.fresh_name(&format!("{base}_pool"));
            self.lines.push(Line::Comment(format!(
                "{} ({}): the {what} over the whole {}x{} image, then flatten",
                layer.name, layer.class, s[0], s[1]
            )));
            let p = self.push_named(pool_name, layer, op, vec![src], vec![1, 1, s[2]]);
            let id = self.push_named(base, layer, Op::Flatten, vec![p], vec![s[2]]);
            self.define(layer, id, true);
        }
        Ok(())
    }

    fn flatten(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(), String> {
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let s = self.nodes[src].shape.clone();
        if s.len() == 3 {
            channels_last(cfg)?;
        }
        let id = self.push(layer, Op::Flatten, vec![src], vec![s.iter().product()]);
        self.define(layer, id, true);
        Ok(())
    }

    fn reshape(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(), String> {
        let target = cfg
            .map
            .get("target_shape")
            .and_then(Json::as_array)
            .ok_or("a Reshape without `target_shape`")?;
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let s = self.nodes[src].shape.clone();
        let n: usize = s.iter().product();
        let flat = match target.as_slice() {
            [d] => d.as_i64() == Some(-1) || d.as_u64() == Some(n as u64),
            _ => false,
        };
        if !flat {
            return Err(format!(
                "a reshape of {} to {}; the spec has no reshape, only flatten, so only a reshape to a flat vector ({n},) can be imported",
                dims(&s),
                json_shape(target)
            ));
        }
        let id = self.push(layer, Op::Flatten, vec![src], vec![n]);
        self.nodes[id].note = Some(format!("Keras Reshape to ({n},)"));
        self.define(layer, id, true);
        Ok(())
    }

    /// Layers that pass their input through at inference.
    fn identity(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(), String> {
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let detail = match cfg.map.get("rate").and_then(Json::as_f64) {
            Some(r) => format!(", rate {r}"),
            None => String::new(),
        };
        self.lines.push(Line::Comment(format!(
            "{} ({}{detail}): the identity at inference, left out",
            layer.name, layer.class
        )));
        self.define(layer, src, true);
        Ok(())
    }

    fn activation_layer(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(), String> {
        match activation(cfg.map.get("activation"))? {
            KAct::Softmax => self.softmax_layer(layer),
            KAct::Act(Act::Linear) => self.identity(layer, cfg),
            KAct::Act(a) => self.activation_node(layer, a),
        }
    }

    fn activation_node(&mut self, layer: &Layer, act: Act) -> Result<(), String> {
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let s = self.nodes[src].shape.clone();
        let id = self.push(layer, Op::Activation(act), vec![src], s);
        self.define(layer, id, true);
        Ok(())
    }

    fn relu_layer(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(), String> {
        if cfg.map.get("max_value").is_some_and(|v| !v.is_null()) {
            return Err("a ReLU with max_value (a capped ReLU such as ReLU6) is not supported: the .snn relu is not capped".into());
        }
        if cfg.f64_or("negative_slope", 0.0)? != 0.0 {
            return Err("a ReLU with negative_slope (a leaky ReLU) is not supported: the .snn language has no leaky ReLU".into());
        }
        if cfg.f64_or("threshold", 0.0)? != 0.0 {
            return Err(
                "a ReLU with a threshold is not supported: the .snn relu is max(0, x)".into(),
            );
        }
        self.activation_node(layer, Act::Relu)
    }

    fn softmax_layer(&mut self, layer: &Layer) -> Result<(), String> {
        if !self.is_output(layer) {
            return Err(softmax_inside());
        }
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        self.softmax_dropped = true;
        self.lines.push(Line::Comment(format!(
            "{} ({}): Keras' softmax on the output is left out; the spec reads the logits",
            layer.name, layer.class
        )));
        self.notes.push(format!(
            "the model ends in a softmax (`{}`); the spec reads the logits instead (same argmax, so the same accuracy)",
            layer.name
        ));
        self.value.insert(layer.name.clone(), Some(src));
        self.outcome.insert(layer.name.clone(), (Some(src), false));
        Ok(())
    }

    fn add(&mut self, layer: &Layer) -> Result<(), String> {
        if layer.inputs.len() < 2 {
            return Err(format!(
                "an Add of {} input(s); it needs two or more",
                layer.inputs.len()
            ));
        }
        let Some(srcs) = self.inputs(layer) else {
            return Ok(());
        };
        let s = self.nodes[srcs[0]].shape.clone();
        for (i, &n) in srcs.iter().enumerate().skip(1) {
            if self.nodes[n].shape != s {
                return Err(format!(
                    "its inputs have different shapes ({} is {}, {} is {}); Keras broadcasts them but the spec's add needs equal shapes",
                    layer.inputs[0],
                    dims(&s),
                    layer.inputs[i],
                    dims(&self.nodes[n].shape)
                ));
            }
        }
        let id = self.push(layer, Op::Add, srcs, s);
        self.define(layer, id, true);
        Ok(())
    }

    fn batch_norm(&mut self, layer: &Layer, cfg: &Cfg) -> Result<(), String> {
        let epsilon = cfg.f64_or("epsilon", 1e-3)?;
        let center = cfg.bool("center", true)?;
        let scale = cfg.bool("scale", true)?;
        if cfg.bool("renorm", false)? {
            return Err("renorm=True is not supported".into());
        }
        let Some(src) = self.one_input(layer)? else {
            return Ok(());
        };
        let source = self
            .graph
            .layer(&layer.inputs[0])
            .map(|l| (l.name.clone(), l.class.clone()));
        let node = &self.nodes[src];
        let foldable = matches!(
            node.op,
            Op::Dense {
                act: Act::Linear,
                ..
            } | Op::Conv2d {
                act: Act::Linear,
                ..
            }
        ) && node.folded.is_none()
            && source.as_ref().is_some_and(|(n, _)| *n == node.keras)
            && self.graph.uses(&layer.inputs[0]) == 1;
        if !foldable {
            let (name, class) = source.unwrap_or_default();
            let why = match &node.op {
                Op::Dense { act, .. } | Op::Conv2d { act, .. }
                    if *act != Act::Linear && name == node.keras =>
                {
                    format!("it follows `{name}` ({class}), whose {} activation comes before the normalization", act.name())
                }
                _ if self.graph.uses(&name) > 1 && name == node.keras => {
                    format!("the output of `{name}` is also read elsewhere")
                }
                _ => format!("it follows `{name}` ({class})"),
            };
            return Err(format!(
                "BatchNormalization can only be imported folded into a directly preceding Dense or Conv2D with linear activation whose output nothing else reads; {why}"
            ));
        }
        let rank = node.shape.len() as i64;
        let axis_ok = match cfg.map.get("axis") {
            None => true,
            Some(Json::Array(a)) => {
                a.len() == 1 && matches!(a[0].as_i64(), Some(x) if x == -1 || x == rank)
            }
            Some(v) => matches!(v.as_i64(), Some(x) if x == -1 || x == rank),
        };
        if !axis_ok {
            return Err(format!(
                "it normalizes axis {} but only the last (channel) axis can be folded",
                cfg.map
                    .get("axis")
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            ));
        }
        let channels = *node.shape.last().unwrap_or(&0);
        let mut roles = Vec::new();
        if scale {
            roles.push("gamma");
        }
        if center {
            roles.push("beta");
        }
        roles.extend(["moving_mean", "moving_variance"]);
        let w = self.weights(layer, &roles)?;
        for (t, role) in w.iter().zip(&roles) {
            Self::check_weight_shape(t, role, &[channels])?;
        }
        let mut it = w.into_iter();
        let mut next = |given: bool, absent: f64| match if given { it.next() } else { None } {
            Some(t) => t,
            None => Tensor::from_elem(IxDyn(&[channels]), absent),
        };
        let gamma = next(scale, 1.0);
        let beta = next(center, 0.0);
        let mean = next(true, 0.0);
        let var = next(true, 0.0);
        if let Some((i, v)) = var.iter().enumerate().find(|&(_, &v)| v + epsilon <= 0.0) {
            return Err(format!(
                "moving_variance[{i}] + epsilon = {} is not positive",
                v + epsilon
            ));
        }
        // y = gamma * (x - mean) / sqrt(var + eps) + beta, x = k.u + b
        //   = (k * s).u + (b - mean) * s + beta with s = gamma / sqrt(var + eps)
        let s = gamma / var.mapv(|v| (v + epsilon).sqrt());
        let node = &mut self.nodes[src];
        if let Some(k) = &mut node.kernel {
            // Output channels vary fastest in a Keras kernel (in C order):
            // element i belongs to channel i % channels.
            for (v, f) in k.iter_mut().zip(s.iter().cycle()) {
                *v *= f;
            }
        }
        let b = node
            .bias
            .take()
            .unwrap_or_else(|| Tensor::zeros(IxDyn(&[channels])));
        node.bias = Some((b - mean) * &s + beta);
        node.folded = Some(layer.name.clone());
        node.note = Some(format!("{} folded in", layer.name));
        let conv = node.keras.clone();
        let conv_name = node.name.clone();
        self.lines.push(Line::Comment(format!(
            "{} (BatchNormalization): folded into {conv_name} (kernel, bias scaled by gamma / sqrt(var + {epsilon}))",
            layer.name
        )));
        self.notes.push(format!(
            "BatchNormalization `{}` is folded into `{conv_name}`: `{conv_name}` outputs the normalized values",
            layer.name
        ));
        self.outcome.insert(conv, (None, true));
        self.define(layer, src, true);
        Ok(())
    }
}

fn softmax_inside() -> String {
    "softmax is only supported on the model output (where it is dropped and the spec reads logits); it has no spiking counterpart inside a network".into()
}

fn activation(v: Option<&Json>) -> Result<KAct, String> {
    let name = match v {
        None | Some(Json::Null) => "linear".to_string(),
        Some(Json::String(s)) => s.clone(),
        // Keras 3 may serialize a built-in activation as an object.
        Some(Json::Object(o)) => {
            match (o.get("class_name").and_then(Json::as_str), o.get("config")) {
                (Some("function"), Some(Json::String(s))) => s.clone(),
                (Some(c), _) => {
                    return Err(format!(
                    "activation `{c}` is not supported: activations are {ACTIVATIONS_SUPPORTED}"
                ))
                }
                _ => return Err("an activation the importer cannot read".into()),
            }
        }
        Some(other) => return Err(format!("an activation the importer cannot read: {other}")),
    };
    let short = name.rsplit('.').next().unwrap_or(&name);
    Ok(match short {
        "linear" | "" => KAct::Act(Act::Linear),
        "relu" => KAct::Act(Act::Relu),
        "sigmoid" => KAct::Act(Act::Sigmoid),
        "tanh" => KAct::Act(Act::Tanh),
        "softmax" => KAct::Softmax,
        "leaky_relu" => return Err(format!("activation `{short}` is not supported: the .snn language has no leaky ReLU; activations are {ACTIVATIONS_SUPPORTED}")),
        other => return Err(format!("activation `{other}` is not supported: activations are {ACTIVATIONS_SUPPORTED}")),
    })
}

fn channels_last(cfg: &Cfg) -> Result<(), String> {
    match cfg.map.get("data_format") {
        None | Some(Json::Null) => Ok(()),
        Some(Json::String(s)) if s == "channels_last" => Ok(()),
        Some(v) => Err(format!(
            "data_format {v} is not supported: the spec is channels-last (height x width x channels) like Keras' default"
        )),
    }
}

/// True for 'same', false for 'valid'.
fn padding(cfg: &Cfg) -> Result<bool, String> {
    match cfg
        .map
        .get("padding")
        .and_then(Json::as_str)
        .unwrap_or("valid")
    {
        "valid" => Ok(false),
        "same" => Ok(true),
        other => Err(format!(
            "padding \"{other}\" is not supported (only \"valid\" and \"same\")"
        )),
    }
}

fn dims(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn json_shape(a: &[Json]) -> String {
    let parts: Vec<String> = a
        .iter()
        .map(|d| {
            if d.is_null() {
                "None".into()
            } else {
                d.to_string()
            }
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// Typed access to a layer config.
struct Cfg<'a> {
    map: &'a Map<String, Json>,
}

impl Cfg<'_> {
    fn usize(&self, key: &str) -> Result<usize, String> {
        match self.map.get(key) {
            Some(v) => v
                .as_u64()
                .filter(|&x| x > 0)
                .map(|x| x as usize)
                .ok_or(format!("`{key}` should be a positive integer, found {v}")),
            None => Err(format!("its config has no `{key}`")),
        }
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize, String> {
        match self.map.get(key) {
            None | Some(Json::Null) => Ok(default),
            Some(_) => self.usize(key),
        }
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.map.get(key) {
            None | Some(Json::Null) => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or(format!("`{key}` should be true or false, found {v}")),
        }
    }

    fn f64_or(&self, key: &str, default: f64) -> Result<f64, String> {
        match self.map.get(key) {
            None | Some(Json::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or(format!("`{key}` should be a number, found {v}")),
        }
    }

    /// An int or a pair `[a, b]`; `default` when absent or null.
    fn pair(&self, key: &str, default: Option<[usize; 2]>) -> Result<[usize; 2], String> {
        let bad =
            |v: &Json| format!("`{key}` should be a positive integer or a pair of them, found {v}");
        match self.map.get(key) {
            None | Some(Json::Null) => default.ok_or(format!("its config has no `{key}`")),
            Some(v @ Json::Array(a)) => match a.as_slice() {
                [x] => x.as_u64().map(|x| [x as usize; 2]).ok_or_else(|| bad(v)),
                [x, y] => match (x.as_u64(), y.as_u64()) {
                    (Some(x), Some(y)) => Ok([x as usize, y as usize]),
                    _ => Err(bad(v)),
                },
                _ => Err(bad(v)),
            },
            Some(v) => v.as_u64().map(|x| [x as usize; 2]).ok_or_else(|| bad(v)),
        }
    }
}
