//! A symbol index of one spec, for editors and other tools: where every
//! network, convert variant, layer and probe is defined and referenced, with
//! spans, and what the checker inferred about it (shapes, parameters, the
//! neuron type each variant gives a layer).
//!
//! The index is built from the syntax tree, so names and references are
//! known even in a file with errors (a line that did not parse still
//! declares the layer or probe it names). The inferred facts come from the
//! checker's [`Checked::partial`] program, which holds everything that
//! checked even when the file has errors: a typo in one layer leaves the
//! shapes of all the others known.

use crate::check::{check_source, Checked, ACTIVATIONS};
use crate::ir::{Activation, Neuron, Op, ParamSpec, Program};
use crate::span::Span;
use crate::syntax::ast::{ExprKind, File, Item, Stmt};

/// Something a name can refer to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Symbol {
    /// `network NAME { ... }`
    Network(String),
    /// `convert NAME from NETWORK { ... }`
    Variant(String),
    /// A layer or input of a network. Layer names are scoped by network.
    Layer { network: String, name: String },
    /// `probe NAME = LAYER`
    Probe(String),
}

impl Symbol {
    /// The name as written in the spec.
    pub fn name(&self) -> &str {
        match self {
            Symbol::Network(n) | Symbol::Variant(n) | Symbol::Probe(n) => n,
            Symbol::Layer { name, .. } => name,
        }
    }
}

/// One place a symbol's name is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    pub symbol: Symbol,
    /// The span of the name itself.
    pub span: Span,
    /// True where the name is defined, false where it is used.
    pub definition: bool,
}

/// A layer as written, known even when it has errors.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerDecl {
    pub name: String,
    /// The span of the layer's name where it is defined.
    pub span: Span,
    /// `input`, or the layer kind called (`conv2d`, ...), as written; empty
    /// when the value is not a call.
    pub kind: String,
    /// The whole statement.
    pub stmt: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkDecl {
    pub name: String,
    pub span: Span,
    pub block: Span,
    pub layers: Vec<LayerDecl>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VariantDecl {
    pub name: String,
    pub span: Span,
    pub block: Span,
    /// The network named after `from`.
    pub base: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProbeDecl {
    pub name: String,
    pub span: Span,
    /// The layer name the probe records, when it is a plain name.
    pub target: Option<String>,
    pub stmt: Span,
}

/// Any block, including `train` and `run` blocks and blocks of unknown kinds.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDecl {
    pub kind: String,
    pub name: Option<String>,
    pub from: Option<String>,
    pub span: Span,
    pub header: Span,
}

/// What one model (a network's own rate model or a convert variant) makes
/// of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNeuron {
    pub model: String,
    /// False for the network's own rate model.
    pub converted: bool,
    /// `None` for a layer without neurons (linear, flatten, input).
    pub neuron: Option<Neuron>,
    pub scale: f64,
}

/// Everything known about one layer.
#[derive(Clone, Debug)]
pub struct LayerInfo {
    pub network: String,
    pub name: String,
    /// `input`, `dense`, `conv2d`, ... (from the IR when checked, else as
    /// written).
    pub kind: String,
    /// Missing when the layer has errors.
    pub shape: Option<Vec<usize>>,
    pub activation: Option<Activation>,
    /// The layers it reads.
    pub inputs: Vec<String>,
    pub params: Vec<ParamSpec>,
    pub neurons: Vec<LayerNeuron>,
}

impl LayerInfo {
    /// Number of trainable values (kernels and biases).
    pub fn param_count(&self) -> usize {
        self.params
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }
}

/// The index of one source text.
#[derive(Clone, Debug)]
pub struct Index {
    pub networks: Vec<NetworkDecl>,
    pub variants: Vec<VariantDecl>,
    pub probes: Vec<ProbeDecl>,
    pub blocks: Vec<BlockDecl>,
    /// Sorted by position.
    pub occurrences: Vec<Occurrence>,
    /// What the checker could build ([`Checked::partial`]): the whole
    /// program when the file has no errors, else everything that checked.
    /// `None` only for an index built without checking.
    pub program: Option<Program>,
    /// True when `program` is the checker's result for the whole file.
    pub complete: bool,
}

impl Index {
    /// Parses and checks `source` and indexes it.
    pub fn new(source: &str) -> Index {
        Index::build(&check_source(source))
    }

    /// Indexes what [`check_source`] returned for a text (so a caller that
    /// has already checked the text does not check it, or parse it, twice).
    pub fn build(checked: &Checked) -> Index {
        let file = &checked.file;
        let mut index = Index {
            networks: Vec::new(),
            variants: Vec::new(),
            probes: Vec::new(),
            blocks: Vec::new(),
            occurrences: Vec::new(),
            complete: checked.program.is_some(),
            program: Some(checked.partial.clone()),
        };
        index.collect_declarations(file);
        index.collect_references(file);
        index
            .occurrences
            .sort_by_key(|o| (o.span.start, o.span.end));
        index
    }

    /// The occurrences whose name covers `offset` (a cursor just after the
    /// last character of a name still counts as on it).
    pub fn at(&self, offset: usize) -> Vec<&Occurrence> {
        self.occurrences
            .iter()
            .filter(|o| o.span.start <= offset && offset <= o.span.end)
            .collect()
    }

    /// The symbols named at `offset`, without repeats. A probe's target may
    /// name layers of several networks, so there can be more than one.
    pub fn symbols_at(&self, offset: usize) -> Vec<Symbol> {
        let mut out: Vec<Symbol> = Vec::new();
        // Prefer a name the cursor is inside over one it merely touches.
        let mut hits = self.at(offset);
        if hits
            .iter()
            .any(|o| o.span.start <= offset && offset < o.span.end)
        {
            hits.retain(|o| offset < o.span.end);
        }
        for o in hits {
            if !out.contains(&o.symbol) {
                out.push(o.symbol.clone());
            }
        }
        out
    }

    /// Where `symbol` is defined (more than one place when it is defined
    /// twice, which the checker reports).
    pub fn definitions(&self, symbol: &Symbol) -> Vec<Span> {
        self.occurrences
            .iter()
            .filter(|o| o.definition && &o.symbol == symbol)
            .map(|o| o.span)
            .collect()
    }

    /// Where `symbol` is used, and defined when `include_definitions`.
    pub fn references(&self, symbol: &Symbol, include_definitions: bool) -> Vec<Span> {
        self.occurrences
            .iter()
            .filter(|o| &o.symbol == symbol && (include_definitions || !o.definition))
            .map(|o| o.span)
            .collect()
    }

    pub fn network(&self, name: &str) -> Option<&NetworkDecl> {
        self.networks.iter().find(|n| n.name == name)
    }

    pub fn variant(&self, name: &str) -> Option<&VariantDecl> {
        self.variants.iter().find(|v| v.name == name)
    }

    pub fn probe(&self, name: &str) -> Option<&ProbeDecl> {
        self.probes.iter().find(|p| p.name == name)
    }

    /// The innermost block whose span (from its kind to its closing brace)
    /// contains `offset`.
    pub fn block_at(&self, offset: usize) -> Option<&BlockDecl> {
        self.blocks
            .iter()
            .filter(|b| b.span.start <= offset && offset < b.span.end)
            .min_by_key(|b| b.span.len())
    }

    /// Everything known about layer `name` of `network`.
    pub fn layer(&self, network: &str, name: &str) -> Option<LayerInfo> {
        let decl = self
            .network(network)?
            .layers
            .iter()
            .find(|l| l.name == name)?;
        let mut info = LayerInfo {
            network: network.to_string(),
            name: name.to_string(),
            kind: decl.kind.clone(),
            shape: None,
            activation: None,
            inputs: Vec::new(),
            params: Vec::new(),
            neurons: Vec::new(),
        };
        let Some(program) = &self.program else {
            return Some(info);
        };
        let Some(net_id) = program.networks.iter().position(|n| n.name == network) else {
            return Some(info);
        };
        let net = &program.networks[net_id];
        let Some(id) = net.node(name) else {
            return Some(info);
        };
        let node = &net.nodes[id];
        info.kind = op_kind(&node.op).to_string();
        info.shape = Some(node.shape.clone());
        info.activation = Some(node.activation);
        info.inputs = node
            .inputs
            .iter()
            .map(|&i| net.nodes[i].name.clone())
            .collect();
        info.params = node.params.clone();
        info.neurons = program
            .models
            .iter()
            .filter(|m| m.network == net_id)
            .filter_map(|m| {
                let s = m.nodes.get(id)?;
                Some(LayerNeuron {
                    model: m.name.clone(),
                    converted: m.converted,
                    neuron: s.neuron,
                    scale: s.scale,
                })
            })
            .collect();
        Some(info)
    }

    /// The layers a probe named `target` would record: one per network that
    /// has a layer of that name.
    pub fn probe_targets(&self, target: &str) -> Vec<Symbol> {
        self.networks
            .iter()
            .filter(|n| n.layers.iter().any(|l| l.name == target))
            .map(|n| Symbol::Layer {
                network: n.name.clone(),
                name: target.to_string(),
            })
            .collect()
    }

    // ------------------------------------------------------------ walk ----

    fn def(&mut self, symbol: Symbol, span: Span) {
        self.occurrences.push(Occurrence {
            symbol,
            span,
            definition: true,
        });
    }

    fn use_(&mut self, symbol: Symbol, span: Span) {
        self.occurrences.push(Occurrence {
            symbol,
            span,
            definition: false,
        });
    }

    fn collect_declarations(&mut self, file: &File) {
        for item in &file.items {
            match item {
                Item::Block(b) => {
                    self.blocks.push(BlockDecl {
                        kind: b.kind.node.clone(),
                        name: b.name.as_ref().map(|n| n.node.clone()),
                        from: b.from.as_ref().map(|n| n.node.clone()),
                        span: b.span,
                        header: b.header,
                    });
                    let Some(name) = &b.name else { continue };
                    match b.kind.node.as_str() {
                        "network" => {
                            let mut layers = Vec::new();
                            for stmt in &b.body {
                                match stmt {
                                    Stmt::Input { name, span, .. } => layers.push(LayerDecl {
                                        name: name.node.clone(),
                                        span: name.span,
                                        kind: "input".into(),
                                        stmt: *span,
                                    }),
                                    Stmt::Assign {
                                        key,
                                        target: None,
                                        value,
                                        span,
                                        ..
                                    } => layers.push(LayerDecl {
                                        name: key.node.clone(),
                                        span: key.span,
                                        kind: match &value.kind {
                                            ExprKind::Call { name, .. } => name.node.clone(),
                                            _ => String::new(),
                                        },
                                        stmt: *span,
                                    }),
                                    // A line that did not parse still
                                    // declares the layer it names.
                                    Stmt::Broken {
                                        key: Some(key),
                                        target,
                                        span,
                                    } => {
                                        let name = match target {
                                            Some(t) if key.node == "input" => t,
                                            _ => key,
                                        };
                                        if !layers.iter().any(|l: &LayerDecl| l.name == name.node) {
                                            layers.push(LayerDecl {
                                                name: name.node.clone(),
                                                span: name.span,
                                                kind: String::new(),
                                                stmt: *span,
                                            });
                                        }
                                    }
                                    _ => {}
                                }
                            }
                            self.def(Symbol::Network(name.node.clone()), name.span);
                            for l in &layers {
                                self.def(
                                    Symbol::Layer {
                                        network: name.node.clone(),
                                        name: l.name.clone(),
                                    },
                                    l.span,
                                );
                            }
                            self.networks.push(NetworkDecl {
                                name: name.node.clone(),
                                span: name.span,
                                block: b.span,
                                layers,
                            });
                        }
                        "convert" => {
                            self.def(Symbol::Variant(name.node.clone()), name.span);
                            self.variants.push(VariantDecl {
                                name: name.node.clone(),
                                span: name.span,
                                block: b.span,
                                base: b.from.as_ref().map(|f| f.node.clone()),
                            });
                        }
                        _ => {}
                    }
                }
                Item::Stmt(Stmt::Assign {
                    key,
                    target: Some(name),
                    value,
                    span,
                    ..
                }) if key.node == "probe" => {
                    self.def(Symbol::Probe(name.node.clone()), name.span);
                    self.probes.push(ProbeDecl {
                        name: name.node.clone(),
                        span: name.span,
                        target: match &value.kind {
                            ExprKind::Ident(t) => Some(t.clone()),
                            _ => None,
                        },
                        stmt: *span,
                    });
                }
                Item::Stmt(Stmt::Broken {
                    key: Some(key),
                    target: Some(name),
                    span,
                }) if key.node == "probe" => {
                    self.def(Symbol::Probe(name.node.clone()), name.span);
                    self.probes.push(ProbeDecl {
                        name: name.node.clone(),
                        span: name.span,
                        target: None,
                        stmt: *span,
                    });
                }
                Item::Stmt(_) => {}
            }
        }
    }

    fn has_layer(&self, network: &str, name: &str) -> bool {
        self.network(network)
            .is_some_and(|n| n.layers.iter().any(|l| l.name == name))
    }

    /// A use of `name` as a layer of `network`, if it is one.
    fn layer_use(&mut self, network: &str, name: &str, span: Span) {
        if self.has_layer(network, name) {
            self.use_(
                Symbol::Layer {
                    network: network.to_string(),
                    name: name.to_string(),
                },
                span,
            );
        }
    }

    /// A use of a network or convert variant name (`network = NAME`).
    fn model_use(&mut self, name: &str, span: Span) {
        if self.network(name).is_some() {
            self.use_(Symbol::Network(name.to_string()), span);
        } else if self.variant(name).is_some() {
            self.use_(Symbol::Variant(name.to_string()), span);
        }
    }

    fn probe_use(&mut self, name: &str, span: Span) {
        if self.probe(name).is_some() {
            self.use_(Symbol::Probe(name.to_string()), span);
        }
    }

    fn collect_references(&mut self, file: &File) {
        for item in &file.items {
            match item {
                Item::Block(b) => {
                    match b.kind.node.as_str() {
                        "network" => {
                            let Some(net) = &b.name else { continue };
                            for stmt in &b.body {
                                let Stmt::Assign {
                                    target: None,
                                    value,
                                    ..
                                } = stmt
                                else {
                                    continue;
                                };
                                let ExprKind::Call { name: call, args } = &value.kind else {
                                    continue;
                                };
                                // `activation(x, relu)`: only the first
                                // positional argument is a layer.
                                let max = if call.node == "activation" {
                                    1
                                } else {
                                    usize::MAX
                                };
                                for arg in args.iter().filter(|a| a.name.is_none()).take(max) {
                                    if let ExprKind::Ident(w) = &arg.value.kind {
                                        self.layer_use(&net.node, w, arg.value.span);
                                    }
                                }
                            }
                        }
                        "convert" => {
                            let Some(base) = &b.from else { continue };
                            if self.network(&base.node).is_some() {
                                self.use_(Symbol::Network(base.node.clone()), base.span);
                            }
                            let net = base.node.clone();
                            for stmt in &b.body {
                                match stmt {
                                    Stmt::Arrow { key, from, to, .. } => {
                                        if let ExprKind::Ident(w) = &from.kind {
                                            let is_activation = key.node == "swap"
                                                && ACTIVATIONS.contains(&w.as_str());
                                            if !is_activation {
                                                self.layer_use(&net, w, from.span);
                                            }
                                        }
                                        if key.node == "synapse" {
                                            if let ExprKind::Ident(w) = &to.kind {
                                                self.layer_use(&net, w, to.span);
                                            }
                                        }
                                    }
                                    Stmt::Assign {
                                        key,
                                        target: Some(t),
                                        ..
                                    } if key.node == "scale" => {
                                        self.layer_use(&net, &t.node, t.span);
                                    }
                                    _ => {}
                                }
                            }
                        }
                        "train" | "run" => {
                            for stmt in &b.body {
                                let Stmt::Assign {
                                    key, target, value, ..
                                } = stmt
                                else {
                                    continue;
                                };
                                match (key.node.as_str(), target) {
                                    ("network", None) => {
                                        if let ExprKind::Ident(w) = &value.kind {
                                            self.model_use(w, value.span);
                                        }
                                    }
                                    ("loss", Some(t)) => self.probe_use(&t.node, t.span),
                                    ("report", None) => {
                                        if let ExprKind::Call { name, args } = &value.kind {
                                            if name.node == "accuracy" {
                                                if let Some(arg) =
                                                    args.iter().find(|a| a.name.is_none())
                                                {
                                                    if let ExprKind::Ident(w) = &arg.value.kind {
                                                        self.probe_use(w, arg.value.span);
                                                    }
                                                }
                                            }
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Item::Stmt(Stmt::Assign {
                    key,
                    target: Some(_),
                    value,
                    ..
                }) if key.node == "probe" => {
                    if let ExprKind::Ident(w) = &value.kind {
                        for sym in self.probe_targets(w) {
                            self.use_(sym, value.span);
                        }
                    }
                }
                Item::Stmt(_) => {}
            }
        }
    }
}

/// The name of a layer's kind, as written in a spec.
pub fn op_kind(op: &Op) -> &'static str {
    crate::ops::LayerKind::of(op).map_or("input", |k| k.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "\
network mnist {
    input image: 28x28x1
    conv1 = conv2d(image, filters=32, kernel=3x3, activation=relu)
    flat  = flatten(conv1)
    out   = dense(flat, units=10)
}

convert spiking from mnist {
    swap relu -> spiking_relu
    scale_firing_rates = 50
    synapse conv1 -> out = lowpass(5ms)
}

probe rates = conv1
probe pred  = out

run {
    network = spiking
    params  = \"p.npz\"
    data    = mnist_idx(\"data\", split=test)
    present = 100ms
    report  = accuracy(pred, at=last)
}
";

    fn offset(src: &str, needle: &str, nth: usize) -> usize {
        src.match_indices(needle)
            .nth(nth)
            .map(|(i, _)| i)
            .expect("needle")
    }

    fn conv1() -> Symbol {
        Symbol::Layer {
            network: "mnist".into(),
            name: "conv1".into(),
        }
    }

    #[test]
    fn finds_definitions_and_references() {
        let idx = Index::new(SPEC);
        assert!(idx.complete);
        // `conv1` in `flatten(conv1)`.
        let at = offset(SPEC, "conv1", 1) + 2;
        assert_eq!(idx.symbols_at(at), vec![conv1()]);
        let def = idx.definitions(&conv1());
        assert_eq!(
            def,
            vec![Span::new(
                offset(SPEC, "conv1", 0),
                offset(SPEC, "conv1", 0) + 5
            )]
        );
        // flatten(conv1), synapse conv1 -> out, probe rates = conv1.
        assert_eq!(idx.references(&conv1(), false).len(), 3);
        assert_eq!(idx.references(&conv1(), true).len(), 4);
        let pred = Symbol::Probe("pred".into());
        assert_eq!(
            idx.references(&pred, false),
            vec![Span::new(
                offset(SPEC, "pred", 1),
                offset(SPEC, "pred", 1) + 4
            )]
        );
        let spiking = Symbol::Variant("spiking".into());
        assert_eq!(idx.references(&spiking, false).len(), 1);
        assert_eq!(
            idx.references(&Symbol::Network("mnist".into()), false)
                .len(),
            1
        );
    }

    #[test]
    fn layer_info_has_shape_params_and_neurons() {
        let idx = Index::new(SPEC);
        let info = idx.layer("mnist", "conv1").expect("conv1");
        assert_eq!(info.kind, "conv2d");
        assert_eq!(info.shape, Some(vec![26, 26, 32]));
        assert_eq!(info.param_count(), 3 * 3 * 32 + 32);
        let spiking = info
            .neurons
            .iter()
            .find(|n| n.model == "spiking")
            .expect("variant");
        assert_eq!(spiking.neuron.map(|n| n.name()), Some("spiking_relu"));
        assert_eq!(spiking.scale, 50.0);
    }

    #[test]
    fn a_broken_line_leaves_the_other_shapes_known() {
        let broken = SPEC
            .replace(
                "out   = dense(flat, units=10)",
                "out   = dense(flat, units=10)\n    bad = conv3d(flat)",
            )
            .replace("network = spiking", "network = spikng");
        let idx = Index::new(&broken);
        assert!(!idx.complete);
        let info = idx.layer("mnist", "conv1").expect("conv1");
        assert_eq!(info.shape, Some(vec![26, 26, 32]));
        let bad = idx.layer("mnist", "bad").expect("declared");
        assert_eq!(bad.kind, "conv3d");
        assert_eq!(bad.shape, None);
        let out = idx.layer("mnist", "out").expect("out");
        assert_eq!(out.shape, Some(vec![10]));
        assert!(out.neurons.iter().any(|n| n.model == "spiking"));
    }

    #[test]
    fn a_layer_reading_a_broken_layer_is_left_out_too() {
        let broken = SPEC.replace("kernel=3x3", "kernel=3x3x3");
        let idx = Index::new(&broken);
        assert_eq!(
            idx.layer("mnist", "image").and_then(|l| l.shape),
            Some(vec![28, 28, 1])
        );
        assert_eq!(idx.layer("mnist", "conv1").and_then(|l| l.shape), None);
        assert_eq!(idx.layer("mnist", "out").and_then(|l| l.shape), None);
    }

    #[test]
    fn a_line_that_does_not_parse_still_declares_its_layer() {
        let broken = SPEC.replace("flat  = flatten(conv1)", "flat  = flatten(conv1))");
        let idx = Index::new(&broken);
        assert!(!idx.complete);
        let flat = idx.layer("mnist", "flat").expect("declared");
        assert_eq!(flat.shape, None);
        let symbol = Symbol::Layer {
            network: "mnist".into(),
            name: "flat".into(),
        };
        // `dense(flat, units=10)` reads it.
        assert_eq!(idx.references(&symbol, false).len(), 1);
        assert_eq!(
            idx.layer("mnist", "conv1").and_then(|l| l.shape),
            Some(vec![26, 26, 32])
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in [
            "",
            "{",
            "}",
            "network {",
            "network n { x = }",
            "probe = ",
            "convert a from { swap -> }",
            "\u{feff}é",
        ] {
            let idx = Index::new(text);
            for i in 0..=text.len() {
                let _ = idx.symbols_at(i);
            }
        }
    }
}
