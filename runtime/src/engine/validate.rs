//! The checks every engine makes before it runs: that a network, its
//! model, params and probes fit together, and that a batch's inputs fit the
//! network. The checker and the params loader should make a failure here
//! impossible; the engines still refuse instead of indexing out of bounds
//! (the JIT's generated code indexes without bounds checks, so a model that
//! passes here is one it can run safely).

use snnc_compiler::ir::{BoundProbe, Model, Network, Node, Role, Window};
use snnc_compiler::ops::{Inputs, LayerKind};

use super::{InputSeq, NodeParams, SimConfig, SimError};

/// Checks that `model` of `net`, its `params` (one entry per network node)
/// and `probes` fit together under `cfg`.
pub fn validate<T>(
    net: &Network,
    model: &Model,
    params: &[NodeParams<T>],
    probes: &[BoundProbe],
    cfg: &SimConfig,
) -> Result<(), SimError> {
    if !(cfg.dt.is_finite() && cfg.dt > 0.0) {
        return Err(SimError::new(format!(
            "dt must be positive, got {}",
            cfg.dt
        )));
    }
    let n_nodes = net.nodes.len();
    if model.nodes.len() != n_nodes {
        return Err(SimError::new(format!(
            "model '{}' has settings for {} nodes but network '{}' has {n_nodes}",
            model.name,
            model.nodes.len(),
            net.name
        )));
    }
    if params.len() != n_nodes {
        return Err(SimError::new(format!(
            "got params for {} nodes but network '{}' has {n_nodes}",
            params.len(),
            net.name
        )));
    }
    for (i, ((node, settings), p)) in net.nodes.iter().zip(&model.nodes).zip(params).enumerate() {
        let err = |msg: String| node_error(node, msg);
        // A bias path through two synapses runs only as two low-passes.
        crate::reference::synapses::Coefs::<f64>::chain(
            settings.bias_relay_synapse,
            settings.bias_synapse,
            cfg.dt,
        )
        .map_err(err)?;
        if let Some(&bad) = node.inputs.iter().find(|&&s| s >= i) {
            return Err(err(format!(
                "reads node #{bad}, which does not come before it (nodes must be in topological order)"
            )));
        }
        let no_neuron = || match settings.neuron {
            Some(nr) => Err(err(format!(
                "a {:?} node cannot have a neuron ({})",
                node.op,
                nr.name()
            ))),
            None => Ok(()),
        };
        expect_arity(node)?;
        match node.op.role() {
            Role::Input => {
                no_neuron()?;
                expect_no_params(node, p)?;
                continue;
            }
            Role::View => {
                no_neuron()?;
                expect_no_params(node, p)?;
                let src = net.nodes[node.inputs[0]].size();
                if src != node.size() {
                    return Err(err(format!("flattens {src} values into {}", node.size())));
                }
                continue;
            }
            Role::Compute => {}
        }
        let n_in = node.inputs.len();
        if settings.input_synapses.len() != n_in {
            return Err(err(format!(
                "has {n_in} inputs but {} input synapses",
                settings.input_synapses.len()
            )));
        }
        if settings.neuron.is_some() && !(settings.scale.is_finite() && settings.scale > 0.0) {
            return Err(err(format!(
                "scale_firing_rates must be positive, got {}",
                settings.scale
            )));
        }
        check_op(net, node, p)?;
    }
    for p in probes {
        if p.node >= n_nodes {
            return Err(SimError::new(format!(
                "probe '{}' targets node #{}, which does not exist",
                p.name, p.node
            )));
        }
        if p.every == 0 {
            return Err(SimError::new(format!(
                "probe '{}' samples every 0 steps",
                p.name
            )));
        }
    }
    Ok(())
}

/// Checks one example's `inputs` (one per input node, in node order)
/// against the input node sizes `input_sizes` over `steps` steps.
pub fn check_inputs<T>(
    input_sizes: &[usize],
    steps: usize,
    inputs: &[InputSeq<T>],
) -> Result<(), SimError> {
    if inputs.len() != input_sizes.len() {
        return Err(SimError::new(format!(
            "the network has {} input node(s) but {} input(s) were given",
            input_sizes.len(),
            inputs.len()
        )));
    }
    for (e, (input, &n)) in inputs.iter().zip(input_sizes).enumerate() {
        let (got, want) = match input {
            InputSeq::Held(x) => (x.len(), Some(n)),
            InputSeq::PerStep(x) => (x.len(), n.checked_mul(steps)),
        };
        if Some(got) != want {
            return Err(SimError::new(format!(
                "input {e} has {got} values, expected {} ({} per step)",
                want.map_or("too many".to_string(), |w| w.to_string()),
                n
            )));
        }
    }
    Ok(())
}

/// Checks a batch of examples of a single-input network whose input node
/// takes `input_sizes[0]` values per step: each example is that node's
/// values over `steps` steps.
pub fn check_batch<T>(
    input_sizes: &[usize],
    steps: usize,
    examples: &[InputSeq<T>],
) -> Result<(), SimError> {
    if input_sizes.len() != 1 {
        return Err(SimError::new(format!(
            "a batch needs a network with exactly one input node, this one has {}",
            input_sizes.len()
        )));
    }
    for (e, x) in examples.iter().enumerate() {
        check_inputs(input_sizes, steps, std::slice::from_ref(x))
            .map_err(|err| SimError::new(format!("example {e}: {err}")))?;
    }
    Ok(())
}

/// The shapes and params of a computing node (not an input or flatten),
/// whose inputs are known to come before it and to be as many as its kind
/// reads. What each op needs comes from the IR ([`Op::output_shape`],
/// [`Op::kernel_shape`], [`Op::window`]), so nothing here names an op.
///
/// [`Op::output_shape`]: snnc_compiler::ir::Op::output_shape
/// [`Op::kernel_shape`]: snnc_compiler::ir::Op::kernel_shape
/// [`Op::window`]: snnc_compiler::ir::Op::window
fn check_op<T>(net: &Network, node: &Node, p: &NodeParams<T>) -> Result<(), SimError> {
    let err = |msg: String| node_error(node, msg);
    let input = &net.nodes[node.inputs[0]].shape;
    if let Some(window) = node.op.window() {
        expect_window(net, node, &window)?;
    }
    let want = node.op.output_shape(input);
    if want.as_deref() != Some(node.shape.as_slice()) {
        return Err(err(format!(
            "its op makes {want:?} of an input of shape {input:?}, but its shape is {:?}",
            node.shape
        )));
    }
    let in_size = |e: usize| net.nodes[node.inputs[e]].size();
    if let Some(e) = (1..node.inputs.len()).find(|&e| in_size(e) != in_size(0)) {
        return Err(err(format!(
            "input {e} has {} values, input 0 {}",
            in_size(e),
            in_size(0)
        )));
    }
    let Some((kernel_shape, outputs)) = node.op.kernel_shape(input) else {
        return expect_no_params(node, p);
    };
    let kernel_len: usize = kernel_shape.iter().product();
    if p.kernel.len() != kernel_len {
        return Err(err(format!(
            "kernel needs {kernel_len} values ({kernel_shape:?}), got {}",
            p.kernel.len()
        )));
    }
    if !p.bias.is_empty() && p.bias.len() != outputs {
        return Err(err(format!(
            "bias needs {outputs} values, got {}",
            p.bias.len()
        )));
    }
    Ok(())
}

/// Checks that the window the checker resolved reads the node's input and
/// fills the node: what makes the engines' indexing safe for a hand-built
/// IR too (the checker makes a failure here impossible).
fn expect_window(net: &Network, node: &Node, window: &Window) -> Result<(), SimError> {
    let input = image_shape(&net.nodes[node.inputs[0]].shape);
    let output = image_shape(&node.shape);
    if input != Some(window.input) || output != Some(window.output) {
        return Err(node_error(
            node,
            format!(
                "its window reads {:?} into {:?}, but the node reads {:?} into {:?}",
                window.input, window.output, net.nodes[node.inputs[0]].shape, node.shape
            ),
        ));
    }
    Ok(())
}

/// `[h, w, c]` of an image shape.
pub fn image_shape(shape: &[usize]) -> Option<[usize; 3]> {
    match *shape {
        [h, w, c] => Some([h, w, c]),
        _ => None,
    }
}

/// `node '<name>': message`.
fn node_error(node: &Node, msg: impl std::fmt::Display) -> SimError {
    SimError::new(format!("node '{}': {msg}", node.name))
}

/// As many inputs as the node's kind reads (none for an input).
fn expect_arity(node: &Node) -> Result<(), SimError> {
    let n = node.inputs.len();
    let (ok, want) = match LayerKind::of(&node.op).map(LayerKind::inputs) {
        None => (n == 0, "no input"),
        Some(Inputs::One) => (n == 1, "1 input"),
        Some(Inputs::Many) => (n >= 1, "at least 1 input"),
    };
    if ok {
        Ok(())
    } else {
        Err(node_error(node, format!("expects {want}, has {n}")))
    }
}

fn expect_no_params<T>(node: &Node, p: &NodeParams<T>) -> Result<(), SimError> {
    if p.kernel.is_empty() && p.bias.is_empty() {
        Ok(())
    } else {
        Err(node_error(
            node,
            format!("a {:?} node has no params, but some were given", node.op),
        ))
    }
}
