//! Forward and backward passes of a group of examples through a [`Plan`],
//! in buffers allocated once per worker ([`Work`]) and reused for every
//! group: nothing is allocated per example or per batch.

use super::kernels as k;
use super::loss;
use super::ops::{self, Isa};
use super::plan::{EdgeOp, Kind, Plan};
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
    /// Node outputs (empty for flatten views).
    out: Vec<Vec<T>>,
    /// Input currents `J` of nodes whose neurons need them for the
    /// backward pass (LIF); the others compute in place in `out`.
    j: Vec<Vec<T>>,
    /// Gradients of the loss with respect to node outputs (nodes the
    /// backward pass visits), then, in place, with respect to their summed
    /// input.
    grad: Vec<Vec<T>>,
    /// Max-pool argmax per output value.
    argmax: Vec<Vec<u32>>,
}

impl<T: Real> Work<T> {
    pub(crate) fn new(plan: &Plan, cap: usize, training: bool) -> Self {
        let mut w = Work {
            cap,
            out: Vec::new(),
            j: Vec::new(),
            grad: Vec::new(),
            argmax: Vec::new(),
        };
        for (i, node) in plan.nodes.iter().enumerate() {
            let n = cap * node.size;
            let (out, j, argmax) = match &node.kind {
                Kind::Input => (n, 0, 0),
                Kind::View => (0, 0, 0),
                Kind::Compute(c) => (
                    n,
                    if c.act.is_some_and(|a| a.needs_current()) {
                        n
                    } else {
                        0
                    },
                    if c.edges.iter().any(|e| matches!(e.op, EdgeOp::MaxPool(_))) {
                        n
                    } else {
                        0
                    },
                ),
            };
            w.out.push(vec![T::zero(); out]);
            w.j.push(vec![T::zero(); j]);
            w.argmax.push(vec![0; argmax]);
            let grad = if training && plan.backprop(i) && !matches!(node.kind, Kind::View) {
                n
            } else {
                0
            };
            w.grad.push(vec![T::zero(); grad]);
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
        for (b, &e) in idx.iter().enumerate() {
            for (d, &s) in buf[b * n..(b + 1) * n]
                .iter_mut()
                .zip(&images[e * n..(e + 1) * n])
            {
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
            let n = node.size;
            let (before, rest) = self.out.split_at_mut(i);
            let out = &mut rest[0][..g * n];
            {
                let keep_j = c.act.is_some_and(|a| a.needs_current());
                let pre: &mut [T] = if keep_j {
                    &mut self.j[i][..g * n]
                } else {
                    &mut *out
                };
                let bias = c.bias.map(|(at, len)| &params[at..at + len]);
                // Dense, conv, depthwise conv and max pool are their node's only connection
                // and overwrite it; the others add up.
                if !matches!(
                    c.edges.first().map(|e| &e.op),
                    Some(
                        EdgeOp::Dense { .. }
                            | EdgeOp::Conv { .. }
                            | EdgeOp::Depthwise { .. }
                            | EdgeOp::MaxPool(_)
                    )
                ) {
                    pre.fill(T::zero());
                }
                for edge in &c.edges {
                    let src_n = plan.nodes[edge.src].size;
                    let x = &before[edge.src][..g * src_n];
                    match &edge.op {
                        EdgeOp::Dense { w, n_in, n_out } => ops::dense_fwd(
                            isa,
                            x,
                            &params[*w..*w + n_in * n_out],
                            bias,
                            *n_in,
                            *n_out,
                            g,
                            pre,
                        ),
                        EdgeOp::Conv { w, g: geom, .. } => {
                            let len =
                                geom.kernel[0] * geom.kernel[1] * geom.input[2] * geom.output[2];
                            ops::conv_fwd(isa, geom, x, &params[*w..*w + len], bias, g, pre)
                        }
                        EdgeOp::Depthwise { w, g: geom } => {
                            let len = geom.kernel[0] * geom.kernel[1] * geom.output[2];
                            k::depthwise_fwd(geom, x, &params[*w..*w + len], bias, g, pre)
                        }
                        EdgeOp::AvgPool(geom) => k::avg_pool_fwd(geom, x, g, pre),
                        EdgeOp::MaxPool(geom) => {
                            k::max_pool_fwd(geom, x, g, pre, &mut self.argmax[i])
                        }
                        EdgeOp::Identity => k::add(pre, x),
                    }
                }
            }
            match c.act {
                Some(act) if act.needs_current() => {
                    let j = &mut self.j[i][..g * n];
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
            for (i, grad) in self.grad.iter_mut().enumerate() {
                if !grad.is_empty() {
                    grad[..g * plan.nodes[i].size].fill(T::zero());
                }
            }
        }
        for (b, &e) in idx.iter().enumerate() {
            let label = labels[e] as usize;
            let mut total = 0.0;
            for (t, l) in plan.losses.iter().enumerate() {
                let y = &self.out[l.node][b * l.size..(b + 1) * l.size];
                let grad = match gscale {
                    Some(_) if !self.grad[l.node].is_empty() => {
                        Some(&mut self.grad[l.node][b * l.size..(b + 1) * l.size])
                    }
                    _ => None,
                };
                let v = loss::example(l.kind, y, label, gscale.unwrap_or(T::one()), grad);
                stats.terms[t] += v;
                total += v;
            }
            stats.loss += total;
            if let Some(a) = plan.accuracy {
                let l = &plan.losses[a];
                let y = &self.out[l.node][b * l.size..(b + 1) * l.size];
                stats.correct += usize::from(argmax(y) == Some(label));
            }
            stats.n += 1;
        }
    }

    /// Backward pass of the group: adds the parameter gradients to
    /// `dparams`. `kt` holds the transposed conv kernels.
    pub(crate) fn backward(
        &mut self,
        plan: &Plan,
        params: &[T],
        kt: &[T],
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
            let n = node.size;
            let (gbefore, grest) = self.grad.split_at_mut(i);
            let gi = &mut grest[0][..g * n];
            if let Some(act) = c.act {
                let j = if act.needs_current() {
                    &self.j[i][..g * n]
                } else {
                    &[][..]
                };
                act.backward(j, &self.out[i][..g * n], gi);
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
            for edge in &c.edges {
                let src_n = plan.nodes[edge.src].size;
                let x = &self.out[edge.src][..g * src_n];
                let need_dx = plan.requires_grad[edge.src];
                match &edge.op {
                    EdgeOp::Dense { w, n_in, n_out } => {
                        let len = n_in * n_out;
                        ops::dense_bwd_w(isa, x, gi, *n_in, *n_out, g, &mut dparams[*w..*w + len]);
                        if need_dx {
                            ops::dense_bwd_x(
                                isa,
                                gi,
                                &params[*w..*w + len],
                                *n_in,
                                *n_out,
                                g,
                                &mut gbefore[edge.src][..g * src_n],
                            );
                        }
                    }
                    EdgeOp::Conv {
                        w,
                        kt: kt_at,
                        g: geom,
                    } => {
                        let len = geom.kernel[0] * geom.kernel[1] * geom.input[2] * geom.output[2];
                        ops::conv_bwd_k(isa, geom, x, gi, g, &mut dparams[*w..*w + len]);
                        if let (true, Some(at)) = (need_dx, kt_at) {
                            ops::conv_bwd_x(
                                isa,
                                geom,
                                gi,
                                &params[*w..*w + len],
                                &kt[*at..*at + len],
                                g,
                                &mut gbefore[edge.src][..g * src_n],
                            );
                        }
                    }
                    EdgeOp::Depthwise { w, g: geom } => {
                        let len = geom.kernel[0] * geom.kernel[1] * geom.output[2];
                        k::depthwise_bwd_k(geom, x, gi, g, &mut dparams[*w..*w + len]);
                        if need_dx {
                            k::depthwise_bwd_x(
                                geom,
                                gi,
                                &params[*w..*w + len],
                                g,
                                &mut gbefore[edge.src][..g * src_n],
                            );
                        }
                    }
                    EdgeOp::AvgPool(geom) if need_dx => {
                        k::avg_pool_bwd(geom, gi, g, &mut gbefore[edge.src][..g * src_n])
                    }
                    EdgeOp::MaxPool(geom) if need_dx => k::max_pool_bwd(
                        geom,
                        gi,
                        &self.argmax[i][..g * n],
                        g,
                        &mut gbefore[edge.src][..g * src_n],
                    ),
                    EdgeOp::Identity if need_dx => k::add(&mut gbefore[edge.src][..g * src_n], gi),
                    // Nothing upstream needs this gradient.
                    EdgeOp::AvgPool(_) | EdgeOp::MaxPool(_) | EdgeOp::Identity => {}
                }
            }
        }
    }
}
