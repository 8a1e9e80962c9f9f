//! Memory estimates of what a command is about to allocate, checked
//! against the budget (`--max-memory`, by default the memory available)
//! before allocating, so that a huge setting is a named error and not an
//! abort. The estimates are rough (within a small factor) on purpose: they
//! only need to tell a plausible size from an impossible one, and to name
//! the setting that makes it so.

use snnc_compiler::ir::{BoundProbe, Network, Node};
use snnc_compiler::ops::LayerKind;
use snnc_runtime::budget::{self, human, product};

/// Per-neuron buffers a simulator keeps per image in flight (input,
/// voltage, refractory time, synapse state, output, ...), generously.
const STATE_BUFFERS: u64 = 8;

fn size(node: &Node) -> u64 {
    product(&node.shape.iter().map(|&d| d as u64).collect::<Vec<_>>())
}

fn weights_of(node: &Node) -> u64 {
    node.params
        .iter()
        .map(|p| product(&p.shape.iter().map(|&d| d as u64).collect::<Vec<_>>()))
        .fold(0u64, u64::saturating_add)
}

fn workers() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// The first layer with the most of `measure` (a conv rather than the
/// flatten after it), and that amount.
fn largest(net: &Network, measure: impl Fn(&Node) -> u64) -> (&str, u64) {
    net.nodes
        .iter()
        .map(|n| (n.name.as_str(), measure(n)))
        .fold(("", 0), |best, x| if x.1 > best.1 { x } else { best })
}

fn layer_driver(net: &Network, name: &str) -> String {
    let kind = net
        .nodes
        .iter()
        .find(|n| n.name == name)
        .and_then(|n| LayerKind::of(&n.op));
    let setting = kind.and_then(LayerKind::size_setting).unwrap_or("size");
    format!("layer `{name}` is the largest; lower its {setting}")
}

/// The neuron state of one image in flight, times the workers, plus the
/// weights in the simulator's precision.
fn network_bytes(net: &Network, elem: u64) -> (u64, u64) {
    let neurons = net.nodes.iter().map(size).fold(0u64, u64::saturating_add);
    let state = product(&[neurons, elem, STATE_BUFFERS, workers()]);
    let w = net
        .nodes
        .iter()
        .map(weights_of)
        .fold(0u64, u64::saturating_add);
    (state, product(&[w, elem]))
}

/// A run of `images` inputs for `steps` steps recording `probes`, with
/// values of `elem` bytes.
pub fn check_run(
    net: &Network,
    probes: &[BoundProbe],
    images: usize,
    steps: usize,
    elem: u64,
) -> Result<(), String> {
    let per_image: u64 = probes
        .iter()
        .map(|p| {
            let rows = (steps / p.every.max(1)) as u64;
            product(&[rows, size(&net.nodes[p.node]), elem])
        })
        .fold(0u64, u64::saturating_add);
    let recording = product(&[per_image, images as u64]);
    let inputs = product(&[
        net.inputs().map(|i| size(&net.nodes[i])).sum::<u64>(),
        images as u64,
        elem,
    ]);
    let (state, weights) = network_bytes(net, elem);
    let total = [recording, inputs, state, weights]
        .into_iter()
        .fold(0u64, u64::saturating_add);
    let driver = if recording >= state.saturating_add(weights) {
        format!(
            "most of it is the probes' record of {} for each of {images} inputs; lower `present` \
             (or `steps`) or `limit`, or record less often with `sample_every`",
            human(per_image)
        )
    } else if state >= weights {
        layer_driver(net, largest(net, size).0)
    } else {
        layer_driver(net, largest(net, weights_of).0)
    };
    budget::check(total, "this run", &driver)
}

/// Compiling the network with placeholder weights (`--emit clif`).
pub fn check_compile(net: &Network, elem: u64) -> Result<(), String> {
    let (state, weights) = network_bytes(net, elem);
    let driver = if weights >= state {
        layer_driver(net, largest(net, weights_of).0)
    } else {
        layer_driver(net, largest(net, size).0)
    };
    budget::check(
        state.saturating_add(weights),
        &format!("compiling network `{}`", net.name),
        &driver,
    )
}

/// Training with batches of `batch`: weights with their gradients and two
/// optimizer slots, in f32, and every layer's activations and gradients
/// per example of a batch.
pub fn check_train(net: &Network, batch: usize) -> Result<(), String> {
    let w = net
        .nodes
        .iter()
        .map(weights_of)
        .fold(0u64, u64::saturating_add);
    let params = product(&[w, 4, 4]);
    let neurons = net.nodes.iter().map(size).fold(0u64, u64::saturating_add);
    let activations = product(&[neurons, batch as u64, 4, 3]);
    let driver = if activations > params {
        format!(
            "{}, or lower `batch` ({batch})",
            layer_driver(net, largest(net, size).0)
        )
    } else {
        layer_driver(net, largest(net, weights_of).0)
    };
    budget::check(
        params.saturating_add(activations),
        &format!("training network `{}`", net.name),
        &driver,
    )
}
