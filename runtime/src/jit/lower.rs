//! Lowering one model's timestep to Cranelift IR.
//!
//! The generated `step(arena)` does, for every node in order, exactly the
//! floating-point operations the reference interpreter does, in the same
//! order, so the two engines agree bit for bit in the same precision. The
//! speed comes from what is known at compile time: every size, stride,
//! offset, coefficient and weight address is a constant, loops have constant
//! trip counts, there is no dispatch and no allocation, and the work on a
//! presented image (its first-layer weighted value) is done once per image
//! by the driver instead of once per step.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

use snnc_compiler::ir::{Network, Neuron, Op};

use super::layout::{FilterSlots, Layout};
use crate::reference::layers::conv_axis;

/// The weights and constant vectors of one node, as addresses the code embeds.
pub struct NodeConsts {
    pub kernel: u64,
    /// The bias expanded to every position (conv) or per unit (dense).
    pub bias: Option<u64>,
}

/// Synapse coefficients as f64 (cast to the element type when emitted).
#[derive(Clone, Copy)]
pub enum Coefs {
    Lowpass { a: f64, b: f64 },
    Alpha { a: [[f64; 2]; 2], b: [f64; 2], c1: f64 },
}

pub fn coefs(synapse: snnc_compiler::ir::Synapse, dt: f64) -> Option<Coefs> {
    use snnc_compiler::ir::Synapse;
    match synapse {
        Synapse::None => None,
        Synapse::Lowpass { tau } => {
            let x = -dt / tau;
            Some(Coefs::Lowpass { a: x.exp(), b: -x.exp_m1() })
        }
        Synapse::Alpha { tau } if tau > 0.0 => {
            let a = (-dt / tau).exp();
            let r = dt / tau;
            Some(Coefs::Alpha {
                a: [[a * (1.0 - r), -a * dt / (tau * tau)], [a * dt, a * (1.0 + r)]],
                b: [dt * a, tau * tau * (1.0 - a * (1.0 + r))],
                c1: 1.0 / (tau * tau),
            })
        }
        Synapse::Alpha { .. } => Some(Coefs::Lowpass { a: 0.0, b: 1.0 }),
    }
}

/// Imported math functions, by name.
pub struct Libm {
    pub expm1: FuncRef,
    pub log1p: FuncRef,
    pub exp: FuncRef,
    pub tanh: FuncRef,
}

pub struct Emitter<'a, 'b> {
    pub b: &'b mut FunctionBuilder<'a>,
    /// F32 or F64.
    pub ty: Type,
    /// Bytes per element.
    pub elem: i64,
    pub arena: Value,
    pub libm: Libm,
}

fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

impl Emitter<'_, '_> {
    fn int(&mut self, v: i64) -> Value {
        self.b.ins().iconst(types::I64, v)
    }

    fn float(&mut self, v: f64) -> Value {
        if self.ty == types::F32 {
            self.b.ins().f32const(v as f32)
        } else {
            self.b.ins().f64const(v)
        }
    }

    /// The address of arena slot `offset`.
    fn slot(&mut self, offset: usize) -> Value {
        self.b.ins().iadd_imm_u(self.arena, offset as i64)
    }

    fn addr(&mut self, absolute: u64) -> Value {
        self.b.ins().iconst(types::I64, absolute as i64)
    }

    /// `base[index]` for a vector of the element type.
    fn load(&mut self, base: Value, index: Value) -> Value {
        let off = self.b.ins().imul_imm_u(index, self.elem);
        let p = self.b.ins().iadd(base, off);
        self.b.ins().load(self.ty, flags(), p, 0)
    }

    fn store(&mut self, base: Value, index: Value, x: Value) {
        let off = self.b.ins().imul_imm_u(index, self.elem);
        let p = self.b.ins().iadd(base, off);
        self.b.ins().store(flags(), x, p, 0);
    }

    /// `for i in start..end { body(i) }` with i64 bounds.
    fn for_range(&mut self, start: Value, end: Value, mut body: impl FnMut(&mut Self, Value)) {
        let header = self.b.create_block();
        let i = self.b.append_block_param(header, types::I64);
        let inner = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[BlockArg::Value(start)]);
        self.b.switch_to_block(header);
        let go = self.b.ins().icmp(IntCC::SignedLessThan, i, end);
        self.b.ins().brif(go, inner, &[], exit, &[]);
        self.b.switch_to_block(inner);
        body(self, i);
        let next = self.b.ins().iadd_imm_u(i, 1);
        self.b.ins().jump(header, &[BlockArg::Value(next)]);
        self.b.switch_to_block(exit);
    }

    fn for_n(&mut self, n: usize, body: impl FnMut(&mut Self, Value)) {
        let (zero, end) = (self.int(0), self.int(n as i64));
        self.for_range(zero, end, body);
    }

    /// `if cond { then() }`
    fn when(&mut self, cond: Value, mut then: impl FnMut(&mut Self)) {
        let yes = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(cond, yes, &[], done, &[]);
        self.b.switch_to_block(yes);
        then(self);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
    }

    fn call(&mut self, f: FuncRef, x: Value) -> Value {
        let call = self.b.ins().call(f, &[x]);
        self.b.inst_results(call)[0]
    }

    fn fill(&mut self, base: Value, n: usize, value: f64) {
        let v = self.float(value);
        self.for_n(n, |e, i| e.store(base, i, v));
    }

    // ------------------------------------------------------- transforms --

    /// `u = x @ kernel` (kernel `[n_in, n_out]`), skipping zero inputs, in
    /// the reference's order: input-major, so spikes only touch their rows.
    fn dense(&mut self, x: Value, kernel: Value, u: Value, n_in: usize, n_out: usize) {
        self.fill(u, n_out, 0.0);
        let zero = self.float(0.0);
        self.for_n(n_in, |e, i| {
            let xi = e.load(x, i);
            let nonzero = e.b.ins().fcmp(FloatCC::NotEqual, xi, zero);
            e.when(nonzero, |e| {
                let row_off = e.b.ins().imul_imm_u(i, (n_out as i64) * e.elem);
                let row = e.b.ins().iadd(kernel, row_off);
                e.for_n(n_out, |e, j| {
                    let w = e.load(row, j);
                    let acc = e.load(u, j);
                    let prod = e.b.ins().fmul(xi, w);
                    let sum = e.b.ins().fadd(acc, prod);
                    e.store(u, j, sum);
                });
            });
        });
    }

    /// Cross-correlation, output-major with zero inputs skipped (the
    /// reference's loop nest).
    #[allow(clippy::too_many_arguments)]
    fn conv2d(&mut self, x: Value, kernel: Value, u: Value, input: [usize; 3], output: [usize; 3], k: [usize; 2], s: [usize; 2], pad: [usize; 2]) {
        let [h, w, c] = input;
        let [oh_n, ow_n, f] = output;
        self.fill(u, oh_n * ow_n * f, 0.0);
        let zero = self.float(0.0);
        let elem = self.elem;
        self.for_n(oh_n, |e, oh| {
            e.for_n(ow_n, |e, ow| {
                let opos = e.b.ins().imul_imm_u(oh, ow_n as i64);
                let opos = e.b.ins().iadd(opos, ow);
                let obase_off = e.b.ins().imul_imm_u(opos, (f as i64) * elem);
                let obase = e.b.ins().iadd(u, obase_off);
                e.for_n(k[0], |e, kh| {
                    // ih = oh*s + kh - pad, valid when 0 <= ih < h.
                    let ih = e.b.ins().imul_imm_u(oh, s[0] as i64);
                    let ih = e.b.ins().iadd(ih, kh);
                    let ih = e.b.ins().iadd_imm_s(ih, -(pad[0] as i64));
                    let lo = e.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, ih, 0);
                    let hi = e.b.ins().icmp_imm_s(IntCC::SignedLessThan, ih, h as i64);
                    let ok = e.b.ins().band(lo, hi);
                    e.when(ok, |e| {
                        e.for_n(k[1], |e, kw| {
                            let iw = e.b.ins().imul_imm_u(ow, s[1] as i64);
                            let iw = e.b.ins().iadd(iw, kw);
                            let iw = e.b.ins().iadd_imm_s(iw, -(pad[1] as i64));
                            let lo = e.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, iw, 0);
                            let hi = e.b.ins().icmp_imm_s(IntCC::SignedLessThan, iw, w as i64);
                            let ok = e.b.ins().band(lo, hi);
                            e.when(ok, |e| {
                                let ipos = e.b.ins().imul_imm_u(ih, w as i64);
                                let ipos = e.b.ins().iadd(ipos, iw);
                                let xbase_off = e.b.ins().imul_imm_u(ipos, (c as i64) * elem);
                                let xbase = e.b.ins().iadd(x, xbase_off);
                                let tap = e.b.ins().imul_imm_u(kh, k[1] as i64);
                                let tap = e.b.ins().iadd(tap, kw);
                                let kbase_off = e.b.ins().imul_imm_u(tap, (c * f) as i64 * elem);
                                let kbase = e.b.ins().iadd(kernel, kbase_off);
                                e.for_n(c, |e, ci| {
                                    let xv = e.load(xbase, ci);
                                    let nonzero = e.b.ins().fcmp(FloatCC::NotEqual, xv, zero);
                                    e.when(nonzero, |e| {
                                        let krow_off = e.b.ins().imul_imm_u(ci, (f as i64) * elem);
                                        let krow = e.b.ins().iadd(kbase, krow_off);
                                        e.for_n(f, |e, fi| {
                                            let kv = e.load(krow, fi);
                                            let acc = e.load(obase, fi);
                                            let prod = e.b.ins().fmul(xv, kv);
                                            let sum = e.b.ins().fadd(acc, prod);
                                            e.store(obase, fi, sum);
                                        });
                                    });
                                });
                            });
                        });
                    });
                });
            });
        });
    }

    /// Average (`max == false`) or max pooling, 'valid', reference order.
    fn pool(&mut self, x: Value, u: Value, input: [usize; 3], output: [usize; 3], p: [usize; 2], s: [usize; 2], max: bool) {
        let [h, w, c] = input;
        let [oh_n, ow_n, _] = output;
        self.fill(u, oh_n * ow_n * c, if max { f64::NEG_INFINITY } else { 0.0 });
        let inv_n = self.float(1.0 / (p[0] * p[1]) as f64);
        let elem = self.elem;
        self.for_n(oh_n, |e, oh| {
            e.for_n(ow_n, |e, ow| {
                let opos = e.b.ins().imul_imm_u(oh, ow_n as i64);
                let opos = e.b.ins().iadd(opos, ow);
                let obase_off = e.b.ins().imul_imm_u(opos, (c as i64) * elem);
                let obase = e.b.ins().iadd(u, obase_off);
                e.for_n(p[0], |e, dh| {
                    let ih = e.b.ins().imul_imm_u(oh, s[0] as i64);
                    let ih = e.b.ins().iadd(ih, dh);
                    let ok = e.b.ins().icmp_imm_s(IntCC::SignedLessThan, ih, h as i64);
                    e.when(ok, |e| {
                        e.for_n(p[1], |e, dw| {
                            let iw = e.b.ins().imul_imm_u(ow, s[1] as i64);
                            let iw = e.b.ins().iadd(iw, dw);
                            let ok = e.b.ins().icmp_imm_s(IntCC::SignedLessThan, iw, w as i64);
                            e.when(ok, |e| {
                                let ipos = e.b.ins().imul_imm_u(ih, w as i64);
                                let ipos = e.b.ins().iadd(ipos, iw);
                                let xbase_off = e.b.ins().imul_imm_u(ipos, (c as i64) * elem);
                                let xbase = e.b.ins().iadd(x, xbase_off);
                                e.for_n(c, |e, ci| {
                                    let v = e.load(xbase, ci);
                                    let acc = e.load(obase, ci);
                                    let next = if max {
                                        let gt = e.b.ins().fcmp(FloatCC::GreaterThan, v, acc);
                                        e.b.ins().select(gt, v, acc)
                                    } else {
                                        let scaled = e.b.ins().fmul(v, inv_n);
                                        e.b.ins().fadd(acc, scaled)
                                    };
                                    e.store(obase, ci, next);
                                });
                            });
                        });
                    });
                });
            });
        });
    }

    // --------------------------------------------------------- delivery --

    /// `j += gain * (synapse ? filter output : u)`, then the filter takes u.
    fn deliver(&mut self, u: Value, j: Value, n: usize, gain: f64, filter: Option<(FilterSlots, Coefs)>) {
        let gain = (gain != 1.0).then(|| self.float(gain));
        let scaled = |e: &mut Self, x: Value| match gain {
            Some(g) => e.b.ins().fmul(g, x),
            None => x,
        };
        match filter {
            None => self.for_n(n, |e, i| {
                let x = e.load(u, i);
                let x = scaled(e, x);
                let acc = e.load(j, i);
                let sum = e.b.ins().fadd(acc, x);
                e.store(j, i, sum);
            }),
            Some((FilterSlots::Lowpass { y }, Coefs::Lowpass { a, b })) => {
                let (y, a, b) = (self.slot(y), self.float(a), self.float(b));
                self.for_n(n, |e, i| {
                    let yv = e.load(y, i);
                    let x = scaled(e, yv);
                    let acc = e.load(j, i);
                    let sum = e.b.ins().fadd(acc, x);
                    e.store(j, i, sum);
                    let uv = e.load(u, i);
                    let ay = e.b.ins().fmul(a, yv);
                    let bu = e.b.ins().fmul(b, uv);
                    let next = e.b.ins().fadd(ay, bu);
                    e.store(y, i, next);
                });
            }
            Some((FilterSlots::Alpha { y, x0, x1 }, Coefs::Alpha { a, b, c1 })) => {
                let (y, x0, x1) = (self.slot(y), self.slot(x0), self.slot(x1));
                let k = [self.float(a[0][0]), self.float(a[0][1]), self.float(a[1][0]), self.float(a[1][1])];
                let (b0, b1, c1) = (self.float(b[0]), self.float(b[1]), self.float(c1));
                self.for_n(n, |e, i| {
                    let yv = e.load(y, i);
                    let x = scaled(e, yv);
                    let acc = e.load(j, i);
                    let sum = e.b.ins().fadd(acc, x);
                    e.store(j, i, sum);
                    let (s0, s1, uv) = (e.load(x0, i), e.load(x1, i), e.load(u, i));
                    let row = |e: &mut Self, p: Value, q: Value, r: Value| {
                        let t0 = e.b.ins().fmul(p, s0);
                        let t1 = e.b.ins().fmul(q, s1);
                        let t2 = e.b.ins().fmul(r, uv);
                        let t = e.b.ins().fadd(t0, t1);
                        e.b.ins().fadd(t, t2)
                    };
                    let n0 = row(e, k[0], k[1], b0);
                    let n1 = row(e, k[2], k[3], b1);
                    e.store(x0, i, n0);
                    e.store(x1, i, n1);
                    let out = e.b.ins().fmul(c1, n1);
                    e.store(y, i, out);
                });
            }
            // The layout and the coefficients come from the same synapse.
            Some(_) => unreachable!("filter slots and coefficients disagree"),
        }
    }

    // ---------------------------------------------------------- neurons --

    #[allow(clippy::too_many_arguments)]
    fn neurons(&mut self, neuron: Neuron, scale: f64, dt: f64, j: Value, out: Value, v: Option<Value>, r: Option<Value>, counts: Option<Value>, n: usize) {
        let zero = self.float(0.0);
        let one = self.float(1.0);
        match neuron {
            Neuron::RectifiedLinear { amplitude } => {
                let amp = self.float(amplitude / scale);
                self.for_n(n, |e, i| {
                    let x = e.load(j, i);
                    let m = e.b.ins().fmax(x, zero);
                    let y = e.b.ins().fmul(amp, m);
                    e.store(out, i, y);
                });
            }
            Neuron::SpikingRectifiedLinear { amplitude } => {
                let (v, counts) = (v.expect("voltage slot"), counts.expect("count slot"));
                let (dtv, spike) = (self.float(dt), self.float(amplitude / scale / dt));
                self.for_n(n, |e, i| {
                    let x = e.load(j, i);
                    let m = e.b.ins().fmax(x, zero);
                    let inc = e.b.ins().fmul(m, dtv);
                    let vv = e.load(v, i);
                    let vv = e.b.ins().fadd(vv, inc);
                    let k = e.b.ins().floor(vv);
                    let y = e.b.ins().fmul(spike, k);
                    e.store(out, i, y);
                    let rest = e.b.ins().fsub(vv, k);
                    e.store(v, i, rest);
                    let kn = e.b.ins().fcvt_to_uint_sat(types::I32, k);
                    let off = e.b.ins().imul_imm_u(i, 4);
                    let p = e.b.ins().iadd(counts, off);
                    let c = e.b.ins().load(types::I32, flags(), p, 0);
                    let c = e.b.ins().iadd(c, kn);
                    e.b.ins().store(flags(), c, p, 0);
                });
            }
            Neuron::Lif { tau_rc, tau_ref, min_voltage, amplitude } => {
                let (v, r, counts) = (v.expect("voltage slot"), r.expect("refractory slot"), counts.expect("count slot"));
                let dtv = self.float(dt);
                let tau_rc_v = self.float(tau_rc);
                let tau_ref_v = self.float(tau_ref);
                let vmin = self.float(min_voltage);
                let spike = self.float(amplitude / scale / dt);
                self.for_n(n, |e, i| {
                    let x = e.load(j, i);
                    let rv = e.load(r, i);
                    let rv = e.b.ins().fsub(rv, dtv);
                    e.store(r, i, rv);
                    let d = e.b.ins().fsub(dtv, rv);
                    let d = e.b.ins().fmax(d, zero);
                    let d = e.b.ins().fmin(d, dtv);
                    let nd = e.b.ins().fneg(d);
                    let arg = e.b.ins().fdiv(nd, tau_rc_v);
                    let em = e.call(e.libm.expm1, arg);
                    let vv = e.load(v, i);
                    let diff = e.b.ins().fsub(x, vv);
                    let dv = e.b.ins().fmul(diff, em);
                    let vv = e.b.ins().fsub(vv, dv);
                    e.store(v, i, vv);
                    let spiked = e.b.ins().fcmp(FloatCC::GreaterThan, vv, one);
                    let y = e.b.ins().select(spiked, spike, zero);
                    e.store(out, i, y);
                    let below = e.b.ins().fcmp(FloatCC::LessThan, vv, vmin);
                    e.when(below, |e| e.store(v, i, vmin));
                    e.when(spiked, |e| {
                        // t_spike = dt + tau_rc * log1p(-(v - 1) / (j - 1))
                        let over = e.b.ins().fsub(vv, one);
                        let over = e.b.ins().fneg(over);
                        let jm1 = e.b.ins().fsub(x, one);
                        let q = e.b.ins().fdiv(over, jm1);
                        let l = e.call(e.libm.log1p, q);
                        let t = e.b.ins().fmul(tau_rc_v, l);
                        let t_spike = e.b.ins().fadd(dtv, t);
                        e.store(v, i, zero);
                        let rr = e.b.ins().fadd(tau_ref_v, t_spike);
                        e.store(r, i, rr);
                        let off = e.b.ins().imul_imm_u(i, 4);
                        let p = e.b.ins().iadd(counts, off);
                        let c = e.b.ins().load(types::I32, flags(), p, 0);
                        let c = e.b.ins().iadd_imm_u(c, 1);
                        e.b.ins().store(flags(), c, p, 0);
                    });
                });
            }
            Neuron::LifRate { tau_rc, tau_ref, amplitude } => {
                let amp = self.float(amplitude / scale);
                let (tau_rc, tau_ref) = (self.float(tau_rc), self.float(tau_ref));
                self.for_n(n, |e, i| {
                    let x = e.load(j, i);
                    let x = e.b.ins().fsub(x, one);
                    e.store(out, i, zero);
                    let pos = e.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                    e.when(pos, |e| {
                        let inv = e.b.ins().fdiv(one, x);
                        let l = e.call(e.libm.log1p, inv);
                        let t = e.b.ins().fmul(tau_rc, l);
                        let den = e.b.ins().fadd(tau_ref, t);
                        let y = e.b.ins().fdiv(amp, den);
                        e.store(out, i, y);
                    });
                });
            }
            Neuron::Sigmoid { tau_ref } => {
                let max_rate = self.float(1.0 / tau_ref);
                self.for_n(n, |e, i| {
                    let x = e.load(j, i);
                    let nx = e.b.ins().fneg(x);
                    let ex = e.call(e.libm.exp, nx);
                    let den = e.b.ins().fadd(one, ex);
                    let y = e.b.ins().fdiv(max_rate, den);
                    e.store(out, i, y);
                });
            }
            Neuron::Tanh { tau_ref } => {
                let max_rate = self.float(1.0 / tau_ref);
                self.for_n(n, |e, i| {
                    let x = e.load(j, i);
                    let t = e.call(e.libm.tanh, x);
                    let y = e.b.ins().fmul(max_rate, t);
                    e.store(out, i, y);
                });
            }
        }
    }
}

/// Signature of an imported `f(x) -> x` math function.
pub fn unary_signature(module: &impl cranelift_module::Module, ty: Type) -> cranelift_codegen::ir::Signature {
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(ty));
    sig.returns.push(AbiParam::new(ty));
    sig
}

/// Emits the whole step: every node of `net` in order.
pub fn emit_step(e: &mut Emitter, net: &Network, model: &snnc_compiler::ir::Model, layout: &Layout, consts: &[NodeConsts], dt: f64) {
    let u_scratch = e.slot(layout.u);
    let j_scratch = e.slot(layout.j);
    for (id, node) in net.nodes.iter().enumerate() {
        if matches!(node.op, Op::Input | Op::Flatten) {
            continue;
        }
        let settings = &model.nodes[id];
        let slots = &layout.nodes[id];
        let n = node.size();
        let gain = if settings.neuron.is_some() { settings.scale } else { 1.0 };
        e.fill(j_scratch, n, 0.0);
        for (i, &src) in node.inputs.iter().enumerate() {
            let edge = &slots.edges[i];
            let src_node = &net.nodes[net.storage_of(src)];
            let x = e.slot(layout.nodes[src].out);
            let u = match (edge.precomputed, node.op) {
                (Some(pre), _) => e.slot(pre),
                (None, Op::Dense { units }) => {
                    let kernel = e.addr(consts[id].kernel);
                    e.dense(x, kernel, u_scratch, src_node.size(), units);
                    u_scratch
                }
                (None, Op::Conv2d { filters, kernel: k, strides, padding, .. }) => {
                    let input = shape3(&src_node.shape);
                    let (oh, ph) = conv_axis(input[0], k[0], strides[0], padding).unwrap_or((0, 0));
                    let (ow, pw) = conv_axis(input[1], k[1], strides[1], padding).unwrap_or((0, 0));
                    let kernel = e.addr(consts[id].kernel);
                    e.conv2d(x, kernel, u_scratch, input, [oh, ow, filters], k, strides, [ph, pw]);
                    u_scratch
                }
                (None, Op::AvgPool { pool, strides }) | (None, Op::MaxPool { pool, strides }) => {
                    let input = shape3(&src_node.shape);
                    let output = shape3(&node.shape);
                    e.pool(x, u_scratch, input, output, pool, strides, matches!(node.op, Op::MaxPool { .. }));
                    u_scratch
                }
                // Identity connections (activation, add) read the source in place.
                (None, _) => x,
            };
            let filter = edge.filter.zip(coefs(settings.input_synapses[i], dt));
            e.deliver(u, j_scratch, n, gain, filter);
        }
        if let Some(bias) = consts[id].bias {
            let values = e.addr(bias);
            let filter = slots.bias_filter.zip(coefs(settings.bias_synapse, dt));
            e.deliver(values, j_scratch, n, gain, filter);
        }
        let out = e.slot(slots.out);
        match settings.neuron {
            Some(neuron) => {
                let v = slots.v.map(|o| e.slot(o));
                let r = slots.r.map(|o| e.slot(o));
                let counts = slots.counts.map(|o| e.slot(o));
                e.neurons(neuron, settings.scale, dt, j_scratch, out, v, r, counts, n);
            }
            None => e.for_n(n, |e, i| {
                let x = e.load(j_scratch, i);
                e.store(out, i, x);
            }),
        }
    }
}

fn shape3(shape: &[usize]) -> [usize; 3] {
    match shape {
        [h, w, c] => [*h, *w, *c],
        _ => [0, 0, 0],
    }
}
