//! `network NAME { ... }`: layers, name resolution and shape inference.

use std::collections::HashMap;

use super::suggest::{did_you_mean, hint};
use super::values::{self as v, Call, Diags};
use super::vocabulary::{call_args, ACTIVATIONS, LAYER_KINDS};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{Activation, Network, Node, NodeId, Op, Padding, ParamRole, ParamSpec};
use crate::span::Span;
use crate::syntax::ast::{Block, Expr, ExprKind, Ident, Stmt};

const SPIKING_WORDS: [&str; 4] = ["spiking_relu", "lif", "lif_rate", "softlif"];

/// A network as far as it could be checked. Layers that had errors are left
/// out of `network` but remembered in `broken`, so that a layer reading a
/// broken one is not reported a second time.
pub struct Checked {
    pub network: Network,
    pub broken: HashMap<String, Span>,
    /// Whether some layer had errors, or some line did not parse (even one
    /// whose layer name could not be read): what the network lacks may be
    /// on that line.
    pub incomplete: bool,
}

/// The name a layer statement defines, when one can be read.
fn layer_name(stmt: &Stmt) -> Option<&Ident> {
    match stmt {
        Stmt::Input { name, .. } => Some(name),
        Stmt::Assign {
            key, target: None, ..
        } => Some(key),
        Stmt::Broken {
            key: Some(k),
            target: Some(t),
            ..
        } if k.node == "input" => Some(t),
        Stmt::Broken { key: Some(k), .. } => Some(k),
        _ => None,
    }
}

pub fn check_network(block: &Block, name: &Ident, d: &mut Diags) -> Checked {
    let mut net = Network {
        name: name.node.clone(),
        nodes: Vec::new(),
        span: name.span,
    };
    let mut broken: HashMap<String, Span> = HashMap::new();
    let mut defined: HashMap<String, Span> = HashMap::new();
    let mut incomplete = false;
    // Every layer name of the block, where it is first defined, so that a
    // layer read before its definition is told apart from an unknown one.
    let mut all: HashMap<String, Span> = HashMap::new();
    // The id of every node built so far, by name: a layer finds its inputs
    // in constant time, so a long chain checks in linear time.
    let mut ids: HashMap<String, NodeId> = HashMap::new();
    for stmt in &block.body {
        if let Some(n) = layer_name(stmt) {
            all.entry(n.node.clone()).or_insert(n.span);
        }
    }

    for stmt in &block.body {
        let (layer_name, built) = match stmt {
            Stmt::Broken { .. } => {
                // Reported where the line failed to parse: the name it
                // defines is known, but not what it is.
                incomplete = true;
                if let Some(n) = layer_name(stmt) {
                    if !defined.contains_key(&n.node) {
                        defined.insert(n.node.clone(), n.span);
                        broken.insert(n.node.clone(), n.span);
                    }
                }
                continue;
            }
            Stmt::Input { name, shape, .. } => (
                name,
                v::shape(shape, "an input shape", d).map(|shape| input_node(name, shape)),
            ),
            Stmt::Assign {
                key,
                target: None,
                value,
                extra,
                ..
            } => {
                for arg in extra {
                    d.push(
                        Diagnostic::error(
                            Code::Syntax,
                            arg.span(),
                            "layer arguments go inside the call",
                        )
                        .label("outside the parentheses")
                        .help("write `name = kind(input, arg=value, ...)`"),
                    );
                }
                (key, layer(key, value, &net, &ids, &broken, &all, d))
            }
            Stmt::Assign {
                key,
                target: Some(t),
                ..
            } => {
                d.push(
                    Diagnostic::error(
                        Code::Syntax,
                        t.span,
                        format!("unexpected name `{}` after `{}`", t.node, key.node),
                    )
                    .label("a layer is `name = kind(...)`")
                    .help(format!(
                        "write `{} = dense({}, units=10)` or similar",
                        key.node, t.node
                    )),
                );
                continue;
            }
            Stmt::Arrow { key, .. } => {
                d.push(
                    Diagnostic::error(
                        Code::UnknownKeyword,
                        key.span,
                        format!("`{}` does not belong in a network block", key.node),
                    )
                    .label("not a layer")
                    .help("swaps and synapses go in a `convert NAME from NETWORK { ... }` block"),
                );
                continue;
            }
        };
        if let Some(first) = defined.get(&layer_name.node) {
            d.push(
                Diagnostic::error(
                    Code::Duplicate,
                    layer_name.span,
                    format!("layer `{}` is defined twice", layer_name.node),
                )
                .label("defined again here")
                .with_secondary(*first, "first defined here")
                .help("give every layer its own name"),
            );
            continue;
        }
        if ["bias"].contains(&layer_name.node.as_str()) {
            d.push(
                Diagnostic::error(
                    Code::Duplicate,
                    layer_name.span,
                    "`bias` is a reserved name",
                )
                .label("reserved for bias connections")
                .help("`synapse bias -> LAYER` refers to a layer's bias; pick another name"),
            );
        }
        defined.insert(layer_name.node.clone(), layer_name.span);
        match built {
            Some(node) => {
                ids.entry(node.name.clone()).or_insert(net.nodes.len());
                net.nodes.push(node);
            }
            None => {
                broken.insert(layer_name.node.clone(), layer_name.span);
            }
        }
    }
    incomplete |= !broken.is_empty();
    if net.inputs().next().is_none() && !incomplete {
        d.push(
            Diagnostic::error(
                Code::Missing,
                block.header,
                format!("network `{}` has no input", name.node),
            )
            .label("no `input` in this block")
            .help("declare one, for example `input image: 28x28x1`"),
        );
    }
    Checked {
        network: net,
        broken,
        incomplete,
    }
}

fn input_node(name: &Ident, shape: Vec<usize>) -> Node {
    Node {
        name: name.node.clone(),
        op: Op::Input,
        inputs: Vec::new(),
        shape,
        activation: Activation::Linear,
        params: Vec::new(),
        span: name.span,
    }
}

fn layer(
    name: &Ident,
    value: &Expr,
    net: &Network,
    ids: &HashMap<String, NodeId>,
    broken: &HashMap<String, Span>,
    all: &HashMap<String, Span>,
    d: &mut Diags,
) -> Option<Node> {
    let ExprKind::Call { name: kind, .. } = &value.kind else {
        d.push(
            Diagnostic::error(
                Code::WrongType,
                value.span,
                format!(
                    "layer `{}` must be a call such as `dense(x, units=10)`",
                    name.node
                ),
            )
            .label(format!("found {}", value.kind.describe()))
            .help(format!(
                "layer kinds: {}",
                super::suggest::one_of(&LAYER_KINDS)
            )),
        );
        return None;
    };
    let allowed = match kind.node.as_str() {
        k if LAYER_KINDS.contains(&k) => call_args(k).unwrap_or_default(),
        other => {
            let mut diag = Diagnostic::error(
                Code::UnknownKeyword,
                kind.span,
                format!("unknown layer kind `{other}`"),
            )
            .label("not a layer kind");
            diag = match other {
                "input" => diag.help("inputs are declared as `input NAME: SHAPE`"),
                "conv" | "conv2D" | "Conv2D" => diag.help("did you mean `conv2d`?"),
                "avgpool" | "average_pooling2d" | "avg_pool2d" | "AveragePooling2D" => {
                    diag.help("did you mean `avg_pool`?")
                }
                "maxpool" | "max_pooling2d" | "max_pool2d" | "MaxPooling2D" => {
                    diag.help("did you mean `max_pool`?")
                }
                _ => diag.help(hint(other, &LAYER_KINDS)),
            };
            d.push(diag);
            return None;
        }
    };
    let call = Call::new(value, &allowed, d)?;

    // Resolve the positional inputs.
    let max_inputs = match kind.node.as_str() {
        "add" => usize::MAX,
        "activation" => 2,
        _ => 1,
    };
    let input_exprs: Vec<&Expr> = call
        .positional
        .iter()
        .copied()
        .take(if kind.node == "activation" {
            1
        } else {
            max_inputs
        })
        .collect();
    if max_inputs != usize::MAX {
        call.at_most_positional(max_inputs, d);
    }
    if input_exprs.is_empty() {
        if call.misplaced {
            return None; // the input was given after a named argument
        }
        d.push(
            Diagnostic::error(
                Code::Missing,
                call.span,
                format!("`{}` needs an input layer", kind.node),
            )
            .label("no input given")
            .help(format!(
                "pass the layer it reads first: `{}(x, ...)`",
                kind.node
            )),
        );
        return None;
    }
    let mut inputs = Vec::new();
    let mut ok = true;
    for e in &input_exprs {
        let Some(input_name) = v::name(e, "a layer input", d) else {
            ok = false;
            continue;
        };
        if let Some(&id) = ids.get(input_name) {
            inputs.push(id);
        } else if broken.contains_key(input_name) {
            ok = false; // already reported where it was defined
        } else if let Some(later) = all.get(input_name).filter(|_| input_name != name.node) {
            ok = false;
            d.push(
                Diagnostic::error(
                    Code::UnknownName,
                    e.span,
                    format!("layer `{input_name}` is used before it is defined"),
                )
                .label("used here")
                .with_secondary(*later, "defined here, further down")
                .help("define layers before the layers that read them"),
            );
        } else {
            ok = false;
            let mut diag = Diagnostic::error(
                Code::UnknownName,
                e.span,
                format!("unknown layer `{input_name}`"),
            )
            .label("not defined before this line");
            if input_name == name.node {
                diag = diag.help("a layer cannot read itself");
            } else {
                let names = net.nodes.iter().map(|n| n.name.as_str());
                if let Some(s) = did_you_mean(input_name, names) {
                    diag = diag.help(format!("did you mean `{s}`?"));
                } else {
                    diag = diag
                        .help("declare it with `input NAME: SHAPE` or define it as a layer above");
                }
            }
            d.push(diag);
        }
    }

    // Read the arguments even when an input is broken, to report all errors.
    let activation = match kind.node.as_str() {
        "activation" => {
            let e = call
                .positional
                .get(1)
                .copied()
                .or_else(|| call.get("activation"));
            match e {
                Some(e) => activation(e, d),
                None if call.misplaced || call.misspelt("activation") => None,
                None => {
                    d.push(
                        Diagnostic::error(
                            Code::Missing,
                            call.span,
                            "`activation` needs the activation to apply",
                        )
                        .label("which activation?")
                        .help(format!(
                            "write `activation({}, relu)`",
                            input_exprs.first().map_or("x".into(), |e| span_text(e))
                        )),
                    );
                    None
                }
            }
        }
        _ => match call.get("activation") {
            Some(e) => activation(e, d),
            None => Some(Activation::Linear),
        },
    };
    let bias = match call.get("bias") {
        Some(e) => v::boolean(e, "`bias`", d),
        None => Some(true),
    };

    let op = match kind.node.as_str() {
        "dense" => call
            .require("units", "units=10", d)
            .and_then(|e| v::count(e, "`units`", 1, d))
            .map(|units| Op::Dense { units }),
        "conv2d" => {
            let filters = call
                .require("filters", "filters=32", d)
                .and_then(|e| v::count(e, "`filters`", 1, d));
            let kernel = call
                .require("kernel", "kernel=3x3", d)
                .and_then(|e| v::pair(e, "`kernel`", d));
            let strides = call
                .get("strides")
                .map_or(Some([1, 1]), |e| v::pair(e, "`strides`", d));
            let padding = match call.get("padding") {
                None => Some(Padding::Valid),
                Some(e) => v::keyword(e, "padding", super::vocabulary::value_words("padding"), d)
                    .map(|p| {
                        if p == "same" {
                            Padding::Same
                        } else {
                            Padding::Valid
                        }
                    }),
            };
            match (filters, kernel, strides, padding) {
                (Some(filters), Some(kernel), Some(strides), Some(padding)) => Some(Op::Conv2d {
                    filters,
                    kernel,
                    strides,
                    padding,
                    pad: [0, 0],
                }),
                _ => None,
            }
        }
        "avg_pool" | "max_pool" => {
            let pool = call
                .require("pool", "pool=2x2", d)
                .and_then(|e| v::pair(e, "`pool`", d));
            let strides = match (call.get("strides"), pool) {
                (Some(e), _) => v::pair(e, "`strides`", d),
                (None, p) => p,
            };
            match (pool, strides) {
                (Some(pool), Some(strides)) if kind.node == "avg_pool" => {
                    Some(Op::AvgPool { pool, strides })
                }
                (Some(pool), Some(strides)) => Some(Op::MaxPool { pool, strides }),
                _ => None,
            }
        }
        "flatten" => Some(Op::Flatten),
        "activation" => Some(Op::Activation),
        _ => Some(Op::Add),
    };
    if !ok || call.misplaced {
        return None;
    }
    let (mut op, activation, bias) = (op?, activation?, bias?);
    let input_shapes: Vec<&[usize]> = inputs
        .iter()
        .map(|&i| net.nodes[i].shape.as_slice())
        .collect();
    let shape = infer_shape(
        &mut op,
        &input_shapes,
        &input_exprs,
        net,
        &inputs,
        call.span,
        d,
    )?;

    let mut params = Vec::new();
    match op {
        Op::Dense { units } => {
            params.push(ParamSpec {
                name: format!("{}.kernel", name.node),
                role: ParamRole::Kernel,
                shape: vec![input_shapes[0][0], units],
            });
            if bias {
                params.push(ParamSpec {
                    name: format!("{}.bias", name.node),
                    role: ParamRole::Bias,
                    shape: vec![units],
                });
            }
        }
        Op::Conv2d {
            filters, kernel, ..
        } => {
            params.push(ParamSpec {
                name: format!("{}.kernel", name.node),
                role: ParamRole::Kernel,
                shape: vec![kernel[0], kernel[1], input_shapes[0][2], filters],
            });
            if bias {
                params.push(ParamSpec {
                    name: format!("{}.bias", name.node),
                    role: ParamRole::Bias,
                    shape: vec![filters],
                });
            }
        }
        _ => {}
    }
    Some(Node {
        name: name.node.clone(),
        op,
        inputs,
        shape,
        activation,
        params,
        span: name.span,
    })
}

fn span_text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Ident(s) => s.clone(),
        _ => "x".into(),
    }
}

fn activation(e: &Expr, d: &mut Diags) -> Option<Activation> {
    if let ExprKind::Ident(word) = &e.kind {
        if SPIKING_WORDS.contains(&word.as_str()) {
            d.push(
                Diagnostic::error(
                    Code::UnknownKeyword,
                    e.span,
                    format!("`{word}` is a neuron type, not a network activation"),
                )
                .label("networks are written with rate activations")
                .help(format!(
                    "write `activation=relu` here and `swap relu -> {word}` in a `convert` block"
                )),
            );
            return None;
        }
    }
    Some(match v::keyword(e, "activation", &ACTIVATIONS, d)? {
        "relu" => Activation::Relu,
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        _ => Activation::Linear,
    })
}

fn fmt_shape(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

#[allow(clippy::too_many_arguments)]
fn infer_shape(
    op: &mut Op,
    shapes: &[&[usize]],
    exprs: &[&Expr],
    net: &Network,
    inputs: &[usize],
    call_span: Span,
    d: &mut Diags,
) -> Option<Vec<usize>> {
    let first = shapes[0];
    let first_name = &net.nodes[inputs[0]].name;
    let need_image = |what: &str, d: &mut Diags| {
        d.push(
            Diagnostic::error(
                Code::ShapeMismatch,
                exprs[0].span,
                format!("{what} needs an image input (height x width x channels), but `{first_name}` has shape {}", fmt_shape(first)),
            )
            .label(format!("shape {}", fmt_shape(first)))
            .help("images have three dimensions, for example `input image: 28x28x1`"),
        );
    };
    match op {
        Op::Dense { units } => {
            if first.len() != 1 {
                d.push(
                    Diagnostic::error(
                        Code::ShapeMismatch,
                        exprs[0].span,
                        format!(
                            "dense needs a flat input, but `{first_name}` has shape {}",
                            fmt_shape(first)
                        ),
                    )
                    .label(format!("shape {}", fmt_shape(first)))
                    .help(format!(
                        "insert `flat = flatten({first_name})` and pass `flat` to the dense layer"
                    )),
                );
                return None;
            }
            Some(vec![*units])
        }
        Op::Conv2d {
            filters,
            kernel,
            strides,
            padding,
            pad,
        } => {
            if first.len() != 3 {
                need_image("conv2d", d);
                return None;
            }
            let mut out = [0usize; 2];
            for axis in 0..2 {
                let (n, k, s) = (first[axis], kernel[axis], strides[axis]);
                if k == 0 || s == 0 {
                    return None; // reported by the argument readers
                }
                match padding {
                    Padding::Valid => {
                        if k > n {
                            d.push(
                                Diagnostic::error(
                                    Code::ShapeMismatch,
                                    call_span,
                                    format!("kernel {}x{} is larger than the {}x{} input `{first_name}`", kernel[0], kernel[1], first[0], first[1]),
                                )
                                .label("kernel does not fit")
                                .help("use a smaller kernel or `padding=same`"),
                            );
                            return None;
                        }
                        out[axis] = (n - k) / s + 1;
                    }
                    Padding::Same => {
                        out[axis] = n.div_ceil(s);
                        let total = ((out[axis] - 1) * s + k).saturating_sub(n);
                        pad[axis] = total / 2;
                    }
                }
            }
            Some(vec![out[0], out[1], *filters])
        }
        Op::AvgPool { pool, strides } | Op::MaxPool { pool, strides } => {
            if first.len() != 3 {
                need_image("pooling", d);
                return None;
            }
            if pool[0] > first[0] || pool[1] > first[1] {
                d.push(
                    Diagnostic::error(
                        Code::ShapeMismatch,
                        call_span,
                        format!(
                            "pool {}x{} is larger than the {}x{} input `{first_name}`",
                            pool[0], pool[1], first[0], first[1]
                        ),
                    )
                    .label("window does not fit")
                    .help("use a smaller pool"),
                );
                return None;
            }
            Some(vec![
                (first[0] - pool[0]) / strides[0] + 1,
                (first[1] - pool[1]) / strides[1] + 1,
                first[2],
            ])
        }
        Op::Flatten => Some(vec![first.iter().product()]),
        Op::Activation => Some(first.to_vec()),
        Op::Add => {
            if shapes.len() < 2 {
                d.push(
                    Diagnostic::error(Code::Missing, call_span, "`add` needs at least two inputs")
                        .label("only one input")
                        .help("write `add(a, b)`"),
                );
                return None;
            }
            let mut ok = true;
            for (i, s) in shapes.iter().enumerate().skip(1) {
                if *s != first {
                    ok = false;
                    d.push(
                        Diagnostic::error(
                            Code::ShapeMismatch,
                            exprs[i].span,
                            format!(
                                "`add` inputs must have the same shape: `{}` is {}, `{first_name}` is {}",
                                net.nodes[inputs[i]].name,
                                fmt_shape(s),
                                fmt_shape(first)
                            ),
                        )
                        .label(format!("shape {}", fmt_shape(s)))
                        .with_secondary(exprs[0].span, format!("shape {}", fmt_shape(first))),
                    );
                }
            }
            ok.then(|| first.to_vec())
        }
        Op::Input => Some(first.to_vec()),
    }
}
