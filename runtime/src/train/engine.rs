//! Forward and backward passes of a group of examples through a [`Plan`],
//! in buffers allocated once per worker ([`Work`]) and reused for every
//! group: nothing is allocated per example or per batch.
//!
//! A node's buffer is an `[examples, values]` array in standard layout, so
//! the first `g` examples are one contiguous slice ([`first`]): what the
//! ops' kernels take (the AVX2 ones read raw memory).

use ndarray::Array2;

use super::isa::Isa;
use super::kernels as k;
use super::loss;
use super::ops::{Connection, Pass};
use super::plan::{Kind, Plan};
use crate::analysis::latency::argmax;
use crate::engine::Real;

/// Sums over the examples of a partition, in example order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Stats {
    /// Total loss (all loss terms), summed over examples.
    pub loss: f64,
    /// Each loss term, summed over examples.
    pub terms: Vec<f64>,
    pub correct: usize,
    pub n: usize,
}

impl Stats {
    pub(crate) fn new(n_terms: usize) -> Self {
        Stats {
            terms: vec![0.0; n_terms],
            ..Stats::default()
        }
    }

    pub(crate) fn merge(&mut self, other: &Stats) {
        self.loss += other.loss;
        for (a, b) in self.terms.iter_mut().zip(&other.terms) {
            *a += b;
        }
        self.correct += other.correct;
        self.n += other.n;
    }
}

/// One worker's buffers for up to `cap` examples at a time.
pub(crate) struct Work<T> {
    cap: usize,
    /// Node outputs, `[cap, size]` (empty for flatten views).
    out: Vec<Array2<T>>,
    /// Input currents `J` of nodes whose neurons need them for the
    /// backward pass (LIF); the others compute in place in `out`.
    j: Vec<Array2<T>>,
    /// Gradients of the loss with respect to node outputs (nodes the
    /// backward pass visits), then, in place, with respect to their summed
    /// input.
    grad: Vec<Array2<T>>,
    /// What the ops record in the forward pass for the backward pass
    /// (`Connection::record_len`, e.g. max pool's argmax).
    record: Vec<Array2<u32>>,
}

impl<T: Real> Work<T> {
    pub(crate) fn new(plan: &Plan, cap: usize, training: bool) -> Self {
        let mut w = Work {
            cap,
            out: Vec::new(),
            j: Vec::new(),
            grad: Vec::new(),
            record: Vec::new(),
        };
        let rows = |n: usize| if n == 0 { (0, 0) } else { (cap, n) };
        for (i, node) in plan.nodes.iter().enumerate() {
            let n = node.size;
            let (out, j, record) = match &node.kind {
                Kind::Input => (n, 0, 0),
                Kind::View => (0, 0, 0),
                Kind::Compute(c) => (
                    n,
                    if c.act.is_some_and(|a| a.needs_current()) {
                        n
                    } else {
                        0
                    },
                    c.edges.iter().map(|e| e.op.record_len()).max().unwrap_or(0),
                ),
            };
            w.out.push(Array2::from_elem(rows(out), T::zero()));
            w.j.push(Array2::from_elem(rows(j), T::zero()));
            w.record.push(Array2::zeros(rows(record)));
            let grad = if training && plan.backprop(i) && !matches!(node.kind, Kind::View) {
                n
            } else {
                0
            };
            w.grad.push(Array2::from_elem(rows(grad), T::zero()));
        }
        w
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Copies the examples `idx` of `images` (rows of the input size) into
    /// the input buffer.
    pub(crate) fn load(&mut self, plan: &Plan, images: &[f32], idx: &[usize]) {
        let n = plan.input_size();
        let buf = &mut self.out[plan.input];
        for (mut row, &e) in buf.rows_mut().into_iter().zip(idx) {
            for (d, &s) in row.iter_mut().zip(&images[e * n..(e + 1) * n]) {
                *d = T::from_f64(f64::from(s));
            }
        }
    }

    /// Forward pass of the first `g` examples loaded.
    pub(crate) fn forward(&mut self, plan: &Plan, params: &[T], g: usize, isa: Isa) {
        for (i, node) in plan.nodes.iter().enumerate() {
            let Kind::Compute(c) = &node.kind else {
                continue;
            };
            let (before, rest) = self.out.split_at_mut(i);
            let out = first_mut(&mut rest[0], g);
            {
                let keep_j = c.act.is_some_and(|a| a.needs_current());
                let pre: &mut [T] = if keep_j {
                    first_mut(&mut self.j[i], g)
                } else {
                    &mut *out
                };
                let cx = Pass {
                    isa,
                    g,
                    params,
                    bias: c.bias.map(|(at, len)| &params[at..at + len]),
                    scratch: &[],
                };
                // An op that overwrites is its node's only connection; the
                // others add up.
                if !c.edges.first().is_some_and(|e| e.op.overwrites()) {
                    pre.fill(T::zero());
                }
                for edge in &c.edges {
                    let x = first(&before[edge.src], g);
                    edge.op.forward(&cx, x, pre, all_mut(&mut self.record[i]));
                }
            }
            match c.act {
                Some(act) if act.needs_current() => {
                    let j = first_mut(&mut self.j[i], g);
                    if c.scale != 1.0 {
                        let s = T::from_f64(c.scale);
                        for v in j.iter_mut() {
                            *v = s * *v;
                        }
                    }
                    act.forward(j, out);
                }
                Some(act) => act.forward_in_place(c.scale, out),
                None => {}
            }
        }
    }

    /// Losses of the group (labels `labels[idx[b]]`), added to `stats`.
    /// With `gscale` (= 1/batch size) also clears the gradient buffers and
    /// seeds them with the losses' gradients.
    pub(crate) fn losses(
        &mut self,
        plan: &Plan,
        labels: &[u32],
        idx: &[usize],
        gscale: Option<T>,
        stats: &mut Stats,
    ) {
        let g = idx.len();
        if gscale.is_some() {
            for grad in &mut self.grad {
                first_mut(grad, g).fill(T::zero());
            }
        }
        for (b, &e) in idx.iter().enumerate() {
            let label = labels[e] as usize;
            let mut total = 0.0;
            for (t, l) in plan.losses.iter().enumerate() {
                let y = row(&self.out[l.node], b);
                let grad = match gscale {
                    Some(_) if !self.grad[l.node].is_empty() => Some(
                        self.grad[l.node]
                            .row_mut(b)
                            .into_slice()
                            .expect("buffers are in standard layout"),
                    ),
                    _ => None,
                };
                let v = loss::example(l.kind, y, label, gscale.unwrap_or(T::one()), grad);
                stats.terms[t] += v;
                total += v;
            }
            stats.loss += total;
            if let Some(a) = plan.accuracy {
                let l = &plan.losses[a];
                let y = row(&self.out[l.node], b);
                stats.correct += usize::from(argmax(y) == Some(label));
            }
            stats.n += 1;
        }
    }

    /// Backward pass of the group: adds the parameter gradients to
    /// `dparams`. `scratch` is what the ops filled from the params.
    pub(crate) fn backward(
        &mut self,
        plan: &Plan,
        params: &[T],
        scratch: &[T],
        g: usize,
        dparams: &mut [T],
        isa: Isa,
    ) {
        for (i, node) in plan.nodes.iter().enumerate().rev() {
            let Kind::Compute(c) = &node.kind else {
                continue;
            };
            if !plan.backprop(i) {
                continue;
            }
            let (gbefore, grest) = self.grad.split_at_mut(i);
            let gi = first_mut(&mut grest[0], g);
            if let Some(act) = c.act {
                let j = if act.needs_current() {
                    first(&self.j[i], g)
                } else {
                    &[][..]
                };
                act.backward(j, first(&self.out[i], g), gi);
                if c.scale != 1.0 {
                    let s = T::from_f64(c.scale);
                    for v in gi.iter_mut() {
                        *v = s * *v;
                    }
                }
            }
            let gi: &[T] = gi;
            if let Some((at, len)) = c.bias {
                let db = &mut dparams[at..at + len];
                for chunk in gi.chunks_exact(len) {
                    k::add(db, chunk);
                }
            }
            let cx = Pass {
                isa,
                g,
                params,
                bias: None,
                scratch,
            };
            let record = self.record[i]
                .as_slice()
                .expect("buffers are in standard layout");
            for edge in &c.edges {
                let x = first(&self.out[edge.src], g);
                let dx = plan.requires_grad[edge.src].then(|| first_mut(&mut gbefore[edge.src], g));
                edge.op.backward(&cx, x, gi, record, dparams, dx);
            }
        }
    }
}

/// The first `g` examples (rows) of a buffer, as one slice.
fn first<T>(a: &Array2<T>, g: usize) -> &[T] {
    let n = a.ncols() * g.min(a.nrows());
    &a.as_slice().expect("buffers are in standard layout")[..n]
}

/// Example `b` of a buffer.
fn row<T>(a: &Array2<T>, b: usize) -> &[T] {
    a.row(b).to_slice().expect("buffers are in standard layout")
}

/// The first `g` examples (rows) of a buffer, as one mutable slice.
fn first_mut<T>(a: &mut Array2<T>, g: usize) -> &mut [T] {
    let n = a.ncols() * g.min(a.nrows());
    &mut a.as_slice_mut().expect("buffers are in standard layout")[..n]
}

/// The whole of a buffer, as one mutable slice.
fn all_mut<T>(a: &mut Array2<T>) -> &mut [T] {
    a.as_slice_mut().expect("buffers are in standard layout")
}
