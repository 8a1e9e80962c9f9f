//! `network NAME { ... }`: layers, name resolution and shape inference.

use std::collections::HashMap;

use super::suggest::{did_you_mean, hint};
use super::values::{self as v, Call, Diags};
use super::vocabulary::{ACTIVATIONS, LAYER_KINDS, NEURONS};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{Activation, Network, Node, NodeId, Op, Padding, ParamRole, ParamSpec, Window};
use crate::ops::{Inputs, LayerKind};
use crate::span::Span;
use crate::syntax::ast::{Block, Expr, ExprKind, Ident, Stmt};

/// A neuron type written where an activation belongs: the language's
/// neuron types that are not activations, and NengoDL's `softlif`.
fn neuron_not_activation(word: &str) -> bool {
    word == "softlif" || (NEURONS.contains(&word) && Activation::named(word).is_none())
}

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
    let Some(layer_kind) = LayerKind::named(&kind.node) else {
        let other = kind.node.as_str();
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
    };
    let call = Call::new(value, &layer_kind.arg_names(), d)?;

    // Resolve the positional inputs (`activation(x, relu)` may name its
    // activation second).
    let max_inputs = match layer_kind.inputs() {
        Inputs::Many => usize::MAX,
        Inputs::One if layer_kind == LayerKind::Activation => 2,
        Inputs::One => 1,
    };
    let input_exprs: Vec<&Expr> = call
        .positional
        .iter()
        .copied()
        .take(if layer_kind == LayerKind::Activation {
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
    let activation = match layer_kind {
        LayerKind::Activation => {
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
        LayerKind::Dense
        | LayerKind::Conv2d
        | LayerKind::DepthwiseConv2d
        | LayerKind::AvgPool
        | LayerKind::MaxPool
        | LayerKind::Flatten
        | LayerKind::Add => match call.get("activation") {
            Some(e) => activation(e, d),
            None => Some(Activation::Linear),
        },
    };
    let bias = match call.get("bias") {
        Some(e) => v::boolean(e, "`bias`", d),
        None => Some(true),
    };

    // The window geometry is resolved by `infer_shape` once the input's
    // shape is known.
    let op = match layer_kind {
        LayerKind::Dense => call
            .require("units", "units=10", d)
            .and_then(|e| v::count(e, "`units`", 1, d))
            .map(|units| Op::Dense { units }),
        LayerKind::Conv2d => {
            let filters = call
                .require("filters", "filters=32", d)
                .and_then(|e| v::count(e, "`filters`", 1, d));
            let kernel = call
                .require("kernel", "kernel=3x3", d)
                .and_then(|e| v::pair(e, "`kernel`", d));
            let strides = call
                .get("strides")
                .map_or(Some([1, 1]), |e| v::pair(e, "`strides`", d));
            let padding = padding(&call, d);
            match (filters, kernel, strides, padding) {
                (Some(filters), Some(kernel), Some(strides), Some(padding)) => Some(Op::Conv2d {
                    filters,
                    padding,
                    window: unresolved(kernel, strides),
                }),
                _ => None,
            }
        }
        LayerKind::DepthwiseConv2d => {
            let kernel = call
                .require("kernel", "kernel=3x3", d)
                .and_then(|e| v::pair(e, "`kernel`", d));
            let strides = call
                .get("strides")
                .map_or(Some([1, 1]), |e| v::pair(e, "`strides`", d));
            let depth_multiplier = call
                .get("depth_multiplier")
                .map_or(Some(1), |e| v::count(e, "`depth_multiplier`", 1, d));
            let padding = padding(&call, d);
            match (kernel, strides, depth_multiplier, padding) {
                (Some(kernel), Some(strides), Some(depth_multiplier), Some(padding)) => {
                    Some(Op::DepthwiseConv2d {
                        depth_multiplier,
                        padding,
                        window: unresolved(kernel, strides),
                    })
                }
                _ => None,
            }
        }
        LayerKind::AvgPool | LayerKind::MaxPool => {
            let pool = call
                .require("pool", "pool=2x2", d)
                .and_then(|e| v::pair(e, "`pool`", d));
            let strides = match (call.get("strides"), pool) {
                (Some(e), _) => v::pair(e, "`strides`", d),
                (None, p) => p,
            };
            match (pool, strides) {
                (Some(pool), Some(strides)) => {
                    let window = unresolved(pool, strides);
                    Some(if layer_kind == LayerKind::AvgPool {
                        Op::AvgPool { window }
                    } else {
                        Op::MaxPool { window }
                    })
                }
                _ => None,
            }
        }
        LayerKind::Flatten => Some(Op::Flatten),
        LayerKind::Activation => Some(Op::Activation),
        LayerKind::Add => Some(Op::Add),
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

    let kernel_and_bias = |kernel: Vec<usize>, outputs: usize| {
        let mut params = vec![ParamSpec {
            name: format!("{}.kernel", name.node),
            role: ParamRole::Kernel,
            shape: kernel,
        }];
        if bias {
            params.push(ParamSpec {
                name: format!("{}.bias", name.node),
                role: ParamRole::Bias,
                shape: vec![outputs],
            });
        }
        params
    };
    let params = match op.kernel_shape(input_shapes[0]) {
        Some((kernel, outputs)) => kernel_and_bias(kernel, outputs),
        None => Vec::new(),
    };
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
        if neuron_not_activation(word) {
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
    Activation::named(v::keyword(e, "activation", &ACTIVATIONS, d)?)
}

/// `padding=valid|same`, 'valid' when left out.
fn padding(call: &Call, d: &mut Diags) -> Option<Padding> {
    match call.get("padding") {
        None => Some(Padding::Valid),
        Some(e) => {
            v::keyword(e, "padding", super::vocabulary::value_words("padding"), d).map(|p| {
                if p == "same" {
                    Padding::Same
                } else {
                    Padding::Valid
                }
            })
        }
    }
}

/// A window whose kernel and strides are read; the rest is filled in by
/// [`Window::resolve`] once the input shape is known.
fn unresolved(kernel: [usize; 2], strides: [usize; 2]) -> Window {
    Window {
        input: [0; 3],
        output: [0; 3],
        kernel,
        strides,
        pad_before: [0; 2],
        pad_after: [0; 2],
    }
}

fn image(shape: &[usize]) -> Option<[usize; 3]> {
    match *shape {
        [h, w, c] => Some([h, w, c]),
        _ => None,
    }
}

/// The window of a conv or pooling over an `input` image, resolved; `None`
/// after reporting a window that does not fit (a zero size was reported by
/// the argument readers).
#[allow(clippy::too_many_arguments)]
fn fit_window(
    input: [usize; 3],
    window: &Window,
    padding: Padding,
    out_channels: usize,
    what: &str,
    call_span: Span,
    first_name: &str,
    d: &mut Diags,
) -> Option<Window> {
    let [k, s] = [window.kernel, window.strides];
    if k.contains(&0) || s.contains(&0) {
        return None;
    }
    let resolved = Window::resolve(input, k, s, padding, out_channels);
    if resolved.is_none() {
        let help = if what == "pool" {
            "use a smaller pool".to_string()
        } else {
            "use a smaller kernel or `padding=same`".to_string()
        };
        let label = if what == "pool" {
            "window does not fit"
        } else {
            "kernel does not fit"
        };
        d.push(
            Diagnostic::error(
                Code::ShapeMismatch,
                call_span,
                format!(
                    "{what} {}x{} is larger than the {}x{} input `{first_name}`",
                    k[0], k[1], input[0], input[1]
                ),
            )
            .label(label)
            .help(help),
        );
    }
    resolved
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
            padding,
            window,
        } => {
            let [h, w, c] = image(first).or_else(|| {
                need_image("conv2d", d);
                None
            })?;
            *window = fit_window(
                [h, w, c],
                window,
                *padding,
                *filters,
                "kernel",
                call_span,
                first_name,
                d,
            )?;
            Some(window.output.to_vec())
        }
        Op::DepthwiseConv2d {
            depth_multiplier,
            padding,
            window,
        } => {
            let [h, w, c] = image(first).or_else(|| {
                need_image("depthwise_conv2d", d);
                None
            })?;
            *window = fit_window(
                [h, w, c],
                window,
                *padding,
                c.saturating_mul(*depth_multiplier),
                "kernel",
                call_span,
                first_name,
                d,
            )?;
            Some(window.output.to_vec())
        }
        Op::AvgPool { window } | Op::MaxPool { window } => {
            let [h, w, c] = image(first).or_else(|| {
                need_image("pooling", d);
                None
            })?;
            *window = fit_window(
                [h, w, c],
                window,
                Padding::Valid,
                c,
                "pool",
                call_span,
                first_name,
                d,
            )?;
            Some(window.output.to_vec())
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
