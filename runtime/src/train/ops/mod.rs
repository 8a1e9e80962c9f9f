//! The trainer's ops: one module per kind of connection, holding everything
//! the trainer knows about it: how its params are laid out and checked at
//! plan time, its forward pass, and its kernel and input gradients.
//!
//! This file is the only place that names them all: [`plan`] maps each IR
//! op to its connections (one exhaustive `match` over `ir::Op`), and
//! [`EdgeOp`] dispatches the passes to the op's module (one exhaustive
//! `match` in [`each_op`]). Adding an op is a module here, a variant of
//! `EdgeOp`, its line in `each_op` and its arm in `plan`; the engine and
//! the plan need no change.
//!
//! Every op works on a group of `g` examples stored one after the other
//! (example `b` of a node with `n` values is `[b*n .. (b+1)*n]`), channels
//! last, and every gradient *adds* into its output, so a node sums its
//! connections and gradients from several consumers sum up. The order of
//! every floating-point sum is fixed by the code, never by threads.

mod avg_pool;
#[cfg(test)]
mod bench;
mod conv;
mod dense;
mod depthwise;
mod identity;
mod max_pool;
#[cfg(test)]
mod tests;

use snnc_compiler::ir::{Network, Node, Op, ParamRole, Window};

use super::isa::Isa;
use super::plan::ParamSlot;
use super::TrainError;
use crate::engine::Real;

pub(crate) use avg_pool::AvgPool;
pub(crate) use conv::Conv;
pub(crate) use dense::Dense;
pub(crate) use depthwise::Depthwise;
pub(crate) use identity::Identity;
pub(crate) use max_pool::MaxPool;

/// What one connection of a computing node does in the passes.
pub(crate) trait Connection {
    /// Whether the forward pass overwrites the node's summed input instead
    /// of adding to it (an op that is its node's only connection).
    fn overwrites(&self) -> bool;

    /// `u32`s per example the forward pass records for the backward pass
    /// (max pool's argmax).
    fn record_len(&self) -> usize {
        0
    }

    /// Values of the shared scratch vector the op needs, and where they go
    /// (conv's transposed kernel, when the input needs a gradient);
    /// `needs_dx` tells whether the input's gradient is computed. Returns
    /// the length taken.
    fn place_scratch(&mut self, _at: usize, _needs_dx: bool) -> usize {
        0
    }

    /// Fills the op's scratch from the params, once per step.
    fn fill_scratch<T: Real>(&self, _params: &[T], _scratch: &mut [T]) {}

    /// Adds (or with [`Connection::overwrites`], writes) the connection's
    /// contribution to the node's summed input `y` for `cx.g` examples of
    /// `x`. `record` is the node's record buffer.
    fn forward<T: Real>(&self, cx: &Pass<'_, T>, x: &[T], y: &mut [T], record: &mut [u32]);

    /// Given `dy`, the gradient with respect to the node's summed input,
    /// adds the kernel's gradient to `dparams` and, when asked, the input's
    /// to `dx`.
    fn backward<T: Real>(
        &self,
        cx: &Pass<'_, T>,
        x: &[T],
        dy: &[T],
        record: &[u32],
        dparams: &mut [T],
        dx: Option<&mut [T]>,
    );
}

/// What every op's pass reads besides its input and output.
pub(crate) struct Pass<'a, T> {
    pub isa: Isa,
    /// Examples in the group.
    pub g: usize,
    /// The flat parameter vector (internal layout, see `plan`).
    pub params: &'a [T],
    /// The node's bias (the forward pass of ops that take one adds it).
    pub bias: Option<&'a [T]>,
    /// The scratch vector [`Connection::fill_scratch`] filled.
    pub scratch: &'a [T],
}

/// One input connection of a computing node.
#[derive(Clone, Debug)]
pub(crate) enum EdgeOp {
    Dense(Dense),
    Conv(Conv),
    Depthwise(Depthwise),
    AvgPool(AvgPool),
    MaxPool(MaxPool),
    Identity(Identity),
}

/// `$body` with `$op` bound to the op inside `$edge` (an `EdgeOp`, `&` or
/// `&mut`): the one dispatch over the variants.
macro_rules! each_op {
    ($edge:expr, $op:ident => $body:expr) => {
        match $edge {
            EdgeOp::Dense($op) => $body,
            EdgeOp::Conv($op) => $body,
            EdgeOp::Depthwise($op) => $body,
            EdgeOp::AvgPool($op) => $body,
            EdgeOp::MaxPool($op) => $body,
            EdgeOp::Identity($op) => $body,
        }
    };
}

impl Connection for EdgeOp {
    fn overwrites(&self) -> bool {
        each_op!(self, op => op.overwrites())
    }

    fn record_len(&self) -> usize {
        each_op!(self, op => op.record_len())
    }

    fn place_scratch(&mut self, at: usize, needs_dx: bool) -> usize {
        each_op!(self, op => op.place_scratch(at, needs_dx))
    }

    fn fill_scratch<T: Real>(&self, params: &[T], scratch: &mut [T]) {
        each_op!(self, op => op.fill_scratch(params, scratch))
    }

    fn forward<T: Real>(&self, cx: &Pass<'_, T>, x: &[T], y: &mut [T], record: &mut [u32]) {
        each_op!(self, op => op.forward(cx, x, y, record))
    }

    fn backward<T: Real>(
        &self,
        cx: &Pass<'_, T>,
        x: &[T],
        dy: &[T],
        record: &[u32],
        dparams: &mut [T],
        dx: Option<&mut [T]>,
    ) {
        each_op!(self, op => op.backward(cx, x, dy, record, dparams, dx))
    }
}

/// What a node is to the trainer.
pub(crate) enum Planned {
    /// The network's input.
    Input,
    /// A view of its input's values (flatten).
    View,
    /// A node that computes: its connections, one per input (in input
    /// order), and its bias `(offset, len)` (element `i` of the node gets
    /// `bias[i % len]`).
    Compute {
        edges: Vec<EdgeOp>,
        bias: Option<(usize, usize)>,
    },
}

/// The trainer's view of `site`'s node, its params claimed with their
/// layouts: the one `match` over IR ops.
pub(crate) fn plan(site: &mut Site<'_>) -> Result<Planned, TrainError> {
    let compute = |edges: Vec<EdgeOp>, bias| Ok(Planned::Compute { edges, bias });
    match site.node.op {
        Op::Input => {
            site.want_inputs(0)?;
            Ok(Planned::Input)
        }
        Op::Flatten => {
            site.want_inputs(1)?;
            let (in_size, size) = (site.in_size(0), site.node.size());
            if in_size != size {
                return Err(site.err(format!("flattens {in_size} values into {size}")));
            }
            Ok(Planned::View)
        }
        Op::Dense { units } => {
            let (op, bias) = Dense::plan(site, units)?;
            compute(vec![EdgeOp::Dense(op)], bias)
        }
        Op::Conv2d {
            filters, window, ..
        } => {
            let (op, bias) = Conv::plan(site, filters, window)?;
            compute(vec![EdgeOp::Conv(op)], bias)
        }
        Op::DepthwiseConv2d {
            depth_multiplier,
            window,
            ..
        } => {
            let (op, bias) = Depthwise::plan(site, depth_multiplier, window)?;
            compute(vec![EdgeOp::Depthwise(op)], bias)
        }
        Op::AvgPool { window } => {
            site.window_fits(&window)?;
            compute(vec![EdgeOp::AvgPool(AvgPool(window))], None)
        }
        Op::MaxPool { window } => {
            site.window_fits(&window)?;
            compute(vec![EdgeOp::MaxPool(MaxPool(window))], None)
        }
        Op::Activation => {
            site.want_inputs(1)?;
            compute(Identity::plan(site)?, None)
        }
        Op::Add => {
            if site.node.inputs.is_empty() {
                return Err(site.err("an add needs at least one input".into()));
            }
            compute(Identity::plan(site)?, None)
        }
    }
}

/// How a param is stored and initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Stored as the transpose of the Keras `[rows, cols]` matrix.
    pub transposed: Option<(usize, usize)>,
    /// Glorot fans (kernels).
    pub fans: (usize, usize),
}

/// A node being planned: the network around it and its params, placed in
/// the flat vector but not yet claimed by its op.
pub(crate) struct Site<'a> {
    pub net: &'a Network,
    pub node: &'a Node,
    /// The node's params, in the node's order, with their offsets.
    pub slots: &'a mut [ParamSlot],
    /// Which of `slots` the op has claimed.
    pub claimed: Vec<bool>,
}

impl<'a> Site<'a> {
    pub(crate) fn new(net: &'a Network, node: &'a Node, slots: &'a mut [ParamSlot]) -> Self {
        let claimed = vec![false; slots.len()];
        Site {
            net,
            node,
            slots,
            claimed,
        }
    }

    /// `layer 'NAME': message`, the form of every error about one layer.
    pub(crate) fn err(&self, msg: String) -> TrainError {
        TrainError::Invalid(format!("layer '{}': {msg}", self.node.name))
    }

    pub(crate) fn want_inputs(&self, k: usize) -> Result<(), TrainError> {
        let n = self.node.inputs.len();
        if n == k {
            Ok(())
        } else {
            Err(self.err(format!("expects {k} input(s), has {n}")))
        }
    }

    /// Values of input `k`.
    pub(crate) fn in_size(&self, k: usize) -> usize {
        self.net.nodes[self.node.inputs[k]].size()
    }

    /// The node has one input, and the window the checker resolved reads
    /// its shape into the node's.
    pub(crate) fn window_fits(&self, w: &Window) -> Result<(), TrainError> {
        self.want_inputs(1)?;
        let in_shape = &self.net.nodes[self.node.inputs[0]].shape;
        if image(in_shape) != Some(w.input) || image(&self.node.shape) != Some(w.output) {
            return Err(self.err(format!(
                "its window reads {:?} into {:?}, but the layer reads {:?} into {:?}",
                w.input, w.output, in_shape, self.node.shape
            )));
        }
        Ok(())
    }

    /// Claims the node's kernel, which must have shape `want` (`kind` names
    /// the layer in errors, e.g. "dense"), stored as `layout` says.
    /// Returns its offset.
    pub(crate) fn kernel(
        &mut self,
        kind: &str,
        want: &[usize],
        layout: Layout,
    ) -> Result<usize, TrainError> {
        let Some(k) = self.claim(ParamRole::Kernel)? else {
            return Err(self.err(format!("a {kind} layer needs a kernel")));
        };
        if self.slots[k].shape != want {
            return Err(self.err(format!("a {kind} kernel must be {want:?}")));
        }
        self.slots[k].transposed = layout.transposed;
        self.slots[k].fans = layout.fans;
        Ok(self.slots[k].offset)
    }

    /// Claims the node's bias if it has one: `per` values (one per output
    /// channel). Returns its `(offset, len)`.
    pub(crate) fn bias(&mut self, per: usize) -> Result<Option<(usize, usize)>, TrainError> {
        let Some(k) = self.claim(ParamRole::Bias)? else {
            return Ok(None);
        };
        let len = self.slots[k].len;
        if per == 0 || len != per || !self.node.size().is_multiple_of(per) {
            return Err(self.err(format!("the bias must have {per} values, not {len}")));
        }
        Ok(Some((self.slots[k].offset, len)))
    }

    /// The index of the node's one param of `role`, marked claimed.
    fn claim(&mut self, role: ParamRole) -> Result<Option<usize>, TrainError> {
        let mut of_role = (0..self.slots.len()).filter(|&k| self.slots[k].role == role);
        let (first, second) = (of_role.next(), of_role.next());
        if second.is_some() {
            return Err(self.err(format!("has two {role:?} params")));
        }
        if let Some(k) = first {
            self.claimed[k] = true;
        }
        Ok(first)
    }

    /// Refuses params the op did not claim.
    pub(crate) fn all_claimed(&self) -> Result<(), TrainError> {
        match self.claimed.iter().position(|&c| !c) {
            None => Ok(()),
            Some(k) => Err(self.err(format!(
                "param '{}' with shape {:?} does not fit a {:?} layer",
                self.slots[k].name, self.slots[k].shape, self.node.op
            ))),
        }
    }
}

fn image(shape: &[usize]) -> Option<[usize; 3]> {
    match shape {
        &[h, w, c] => Some([h, w, c]),
        _ => None,
    }
}
