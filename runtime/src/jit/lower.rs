//! Lowering one model's timestep to Cranelift IR.
//!
//! The generated `step(arena)` does, for every node in order, exactly the
//! floating-point operations the reference interpreter does, in the same
//! order, so the two engines agree bit for bit in the same precision. The
//! speed comes from what is known at compile time: every size, stride,
//! offset, coefficient and weight address is a constant, loops have constant
//! trip counts, there is no dispatch and no allocation, and the work on a
//! presented image (its first-layer weighted value) is done once per image
//! by the driver instead of once per step. Beyond that the step does only
//! the work that can change something: spikes are propagated event by
//! event, a constant-current layer steps a packed list of the neurons that
//! can fire (`CompactSlots`), and a spike-fed conv layer steps only the
//! positions spikes have reached (`LazySlots`). docs/architecture.md has
//! the measurements behind each.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, Endianness, FuncRef, InstBuilder, MemFlagsData, Signature,
    StackSlotData, StackSlotKind, Type, Value,
};
use cranelift_frontend::{FunctionBuilder, Variable};

use snnc_compiler::ir::{Network, Neuron, Op, Role, Window};

use super::layout::{
    scattered_source, CompactSlots, FilterSlots, Layout, LazySlots, QueueSlots, SpikeListSlots,
};
use super::wide::{self, Kernels};

/// How the generated code feeds a connection into a node of an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Through weights: event by event when its source spikes
    /// (`Emitter::propagate`), else computed whole like [`Feed::Whole`].
    Scatter,
    /// Computed whole every step into a buffer of its own.
    Whole,
    /// The source's values as they are, read in place (no buffer).
    InPlace,
}

/// How connections into a node of `op` are fed; `None` for an op that has
/// no connection of its own (an input, a flatten view). Every op is named,
/// so a new one is a compile error here until the JIT knows how to feed it.
pub const fn feed(op: &Op) -> Option<Feed> {
    match op {
        Op::Dense { .. } | Op::Conv2d { .. } => Some(Feed::Scatter),
        Op::DepthwiseConv2d { .. } | Op::AvgPool { .. } | Op::MaxPool { .. } => Some(Feed::Whole),
        Op::Activation | Op::Add => Some(Feed::InPlace),
        Op::Input | Op::Flatten => None,
    }
}

/// The weights and constant vectors of one node, as addresses the code embeds.
pub struct NodeConsts {
    pub kernel: u64,
    /// No weight is infinite or NaN, so `0 * w` is a zero (see
    /// `Emitter::compact_into_registers`).
    pub kernel_finite: bool,
    /// The bias expanded to every position (conv) or per unit (dense).
    pub bias: Option<u64>,
    /// The bias vector already holds `gain * bias` (see `Input::scaled`).
    pub bias_scaled: bool,
}

/// Synapse coefficients as f64 (cast to the element type when emitted):
/// the reference's own, so both filter with the same numbers.
pub type Coefs = crate::reference::synapses::Coefs<f64>;

pub fn coefs(synapse: snnc_compiler::ir::Synapse, dt: f64) -> Option<Coefs> {
    Coefs::new(synapse, dt)
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
    /// `F32X4` when element-wise loops are vectorised (f32), else `None`.
    pub vector: Option<Type>,
    /// Bytes per element.
    pub elem: i64,
    pub arena: Value,
    pub libm: Libm,
    /// Boxed constants (bit patterns) that loops load once before they
    /// start; the model keeps them alive, each at a fixed address.
    pub pool: Vec<std::pin::Pin<Box<[u64; 2]>>>,
    /// Constants hoisted out of the loop being emitted: `(f64 bits, wide,
    /// value)`. Cranelift would otherwise reload a vector constant from
    /// its constant pool on every iteration.
    hoisted: Vec<(u64, bool, Value)>,
    /// Which precompiled loops the code may call (see `wide`).
    kernels: Kernels,
    /// Whether it called one.
    pub called_kernel: bool,
}

impl<'a, 'b> Emitter<'a, 'b> {
    pub fn new(
        b: &'b mut FunctionBuilder<'a>,
        ty: Type,
        vector: Option<Type>,
        arena: Value,
        libm: Libm,
        kernels: Kernels,
    ) -> Self {
        Emitter {
            b,
            ty,
            vector,
            elem: ty.bytes() as i64,
            arena,
            libm,
            pool: Vec::new(),
            hoisted: Vec::new(),
            kernels,
            called_kernel: false,
        }
    }
}

/// Loads and stores never trap (every address is in bounds by
/// construction) but make no alignment promise: kernel rows start anywhere.
fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Flags for loading weights, which nothing writes while code runs. They
/// make the load a pure value to Cranelift's mid-end, placed beside the
/// multiply that uses it. An ordinary load stays where the IR has it while
/// the arithmetic on it is placed at its first use: a loop that loads four
/// kernel rows and carries its sums to the next iteration
/// (`compact_into_registers`) held all sixteen loaded vectors live at once,
/// and the register allocator kept the carried sums on the stack.
fn weight_flags() -> MemFlagsData {
    flags().with_readonly().with_can_move()
}

/// Lanes of the vector type used for f32 element-wise loops.
pub const LANES: usize = 4;

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

    /// A constant, splatted across lanes when `wide`.
    fn konst(&mut self, v: f64, wide: bool) -> Value {
        let key = (v.to_bits(), wide);
        if let Some(&(_, _, x)) = self.hoisted.iter().find(|(b, w, _)| (*b, *w) == key) {
            return x;
        }
        let x = self.float(v);
        match (wide, self.vector) {
            (true, Some(vt)) => self.b.ins().splat(vt, x),
            _ => x,
        }
    }

    fn val_type(&self, wide: bool) -> Type {
        match (wide, self.vector) {
            (true, Some(vt)) => vt,
            _ => self.ty,
        }
    }

    /// `max(x, 0)` as a compare and select, where Cranelift's `fmax`
    /// spends a dozen instructions on NaN and signed-zero rules that cannot
    /// matter here (a NaN never reaches a neuron, and `max(-0, 0)` is a
    /// zero either way).
    fn max0(&mut self, x: Value, wide: bool) -> Value {
        let zero = self.konst(0.0, wide);
        // `0 < x` rather than `x > 0` (the same lanes, NaN included): the
        // form Cranelift lowers to one `maxps x, 0` for vectors, which gives
        // `x` where `x > 0` and +0 otherwise (for NaN and -0 too).
        let pos = self.b.ins().fcmp(FloatCC::LessThan, zero, x);
        if wide {
            // The lane mask is integer-typed; reinterpret it as the float vector.
            let lanes = MemFlagsData::new().with_endianness(Endianness::Little);
            let ty = self.val_type(true);
            let mask = self.b.ins().bitcast(ty, lanes, pos);
            self.b.ins().bitselect(mask, x, zero)
        } else {
            self.b.ins().select(pos, x, zero)
        }
    }

    /// Makes `konst(v, wide)` of each value a register loaded here, before
    /// a loop, instead of a constant materialised inside it (a load from
    /// the constant pool per use per iteration): Cranelift rematerialises
    /// constants at their uses, but never a load.
    fn hoist(&mut self, values: &[f64], wide: bool) {
        for &v in values {
            if self
                .hoisted
                .iter()
                .any(|&(b, w, _)| (b, w) == (v.to_bits(), wide))
            {
                continue;
            }
            // Every lane holds the value (a splat inside the loop would
            // be redone per use, like the constant).
            let bits = if self.ty == types::F32 {
                let lane = u64::from((v as f32).to_bits());
                lane | lane << 32
            } else {
                v.to_bits()
            };
            let cell = Box::pin([bits; 2]);
            let addr = self.addr(cell.as_ptr() as u64);
            self.pool.push(cell);
            let ty = self.val_type(wide);
            let x = self.b.ins().load(ty, flags(), addr, 0);
            self.hoisted.push((v.to_bits(), wide, x));
        }
    }

    /// `base[index..index + lanes]` (one element when not `wide`).
    fn load_w(&mut self, base: Value, index: Value, wide: bool) -> Value {
        let ty = self.val_type(wide);
        let off = self.b.ins().imul_imm_u(index, self.elem);
        let p = self.b.ins().iadd(base, off);
        self.b.ins().load(ty, flags(), p, 0)
    }

    fn store_w(&mut self, base: Value, index: Value, x: Value) {
        let off = self.b.ins().imul_imm_u(index, self.elem);
        let p = self.b.ins().iadd(base, off);
        self.b.ins().store(flags(), x, p, 0);
    }

    /// `for i in (0..n).step_by(step)`.
    fn for_step(&mut self, n: usize, step: usize, body: impl FnMut(&mut Self, Value)) {
        let (zero, end) = (self.int(0), self.int(n as i64));
        self.for_range_step(zero, end, step, body);
    }

    /// `acc[j] += x * row[j]` for `j in 0..n`: vector lanes while four fit,
    /// then single elements (each element sees the same operations either
    /// way). Blocks go straight-line with constant offsets, in a loop over
    /// groups of `UNROLL` blocks when there are more: this is the inner
    /// loop of every spike's propagation, where loop overhead would be a
    /// third of the work.
    fn axpy(&mut self, x: Value, row: Value, acc: Value, n: usize) {
        const UNROLL: usize = 8;
        let blocks = if self.vector.is_some() { n / LANES } else { 0 };
        if blocks > 0 {
            let vt = self.val_type(true);
            let xs = self.b.ins().splat(vt, x);
            let block_bytes = LANES as i64 * self.elem;
            let axpy_block = |e: &mut Self, row: Value, acc: Value, offset: i64| {
                let w = e.b.ins().load(vt, weight_flags(), row, offset as i32);
                let a = e.b.ins().load(vt, flags(), acc, offset as i32);
                let prod = e.b.ins().fmul(xs, w);
                let sum = e.b.ins().fadd(a, prod);
                e.b.ins().store(flags(), sum, acc, offset as i32);
            };
            let looped = if blocks > 2 * UNROLL {
                blocks / UNROLL * UNROLL
            } else {
                0
            };
            if looped > 0 {
                let group = UNROLL as i64 * block_bytes;
                self.for_step(looped / UNROLL, 1, |e, g| {
                    let off = e.b.ins().imul_imm_u(g, group);
                    let (row, acc) = (e.b.ins().iadd(row, off), e.b.ins().iadd(acc, off));
                    for k in 0..UNROLL as i64 {
                        axpy_block(e, row, acc, k * block_bytes);
                    }
                });
            }
            for k in looped..blocks {
                axpy_block(self, row, acc, k as i64 * block_bytes);
            }
        }
        for j in blocks * LANES..n {
            let w = self
                .b
                .ins()
                .load(self.ty, weight_flags(), row, (j as i64 * self.elem) as i32);
            let j = self.int(j as i64);
            let a = self.load(acc, j);
            let prod = self.b.ins().fmul(x, w);
            let sum = self.b.ins().fadd(a, prod);
            self.store(acc, j, sum);
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
    fn for_range(&mut self, start: Value, end: Value, body: impl FnMut(&mut Self, Value)) {
        self.for_range_step(start, end, 1, body);
    }

    /// `for i in (start..end).step_by(step)` with i64 bounds.
    fn for_range_step(
        &mut self,
        start: Value,
        end: Value,
        step: usize,
        mut body: impl FnMut(&mut Self, Value),
    ) {
        let header = self.b.create_block();
        let i = self.b.append_block_param(header, types::I64);
        let inner = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[BlockArg::Value(start)]);
        self.b.switch_to_block(header);
        // Branching out on `done` (not in on `i < end`) makes Cranelift lay
        // the body out right after the test instead of after the code that
        // follows the loop; a value carried through the loop (a spike
        // list's length) then stays in a register.
        let done = self.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, i, end);
        self.b.ins().brif(done, exit, &[], inner, &[]);
        self.b.switch_to_block(inner);
        body(self, i);
        let next = self.b.ins().iadd_imm_u(i, step as i64);
        self.b.ins().jump(header, &[BlockArg::Value(next)]);
        self.b.switch_to_block(exit);
    }

    /// `for j in (start..end).step_by(step)` that carries the values
    /// `init` through its iterations as block parameters (so they stay in
    /// registers): `body(j, carried)` emits one iteration and returns the
    /// next values. Returns the values after the last iteration.
    fn carry_range(
        &mut self,
        start: Value,
        end: Value,
        step: usize,
        init: &[Value],
        mut body: impl FnMut(&mut Self, Value, &[Value]) -> Vec<Value>,
    ) -> Vec<Value> {
        let header = self.b.create_block();
        let inner = self.b.create_block();
        let exit = self.b.create_block();
        let j = self.b.append_block_param(header, types::I64);
        for &x in init {
            let ty = self.b.func.dfg.value_type(x);
            self.b.append_block_param(header, ty);
            self.b.append_block_param(exit, ty);
        }
        let mut args = vec![BlockArg::Value(start)];
        args.extend(init.iter().map(|&x| BlockArg::Value(x)));
        self.b.ins().jump(header, &args);
        self.b.switch_to_block(header);
        let carried: Vec<Value> = self.b.block_params(header)[1..].to_vec();
        let go = self.b.ins().icmp(IntCC::SignedLessThan, j, end);
        let pass: Vec<BlockArg> = carried.iter().map(|&x| BlockArg::Value(x)).collect();
        self.b.ins().brif(go, inner, &[], exit, &pass);
        self.b.switch_to_block(inner);
        let values = body(self, j, &carried);
        let next = self.b.ins().iadd_imm_u(j, step as i64);
        let mut back = vec![BlockArg::Value(next)];
        back.extend(values.iter().map(|&x| BlockArg::Value(x)));
        self.b.ins().jump(header, &back);
        self.b.switch_to_block(exit);
        self.b.block_params(exit).to_vec()
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

    /// `base[..n] = value`: whole blocks of four lanes when vectorised, then
    /// single elements. Padding lanes past `n` are never written, so they
    /// stay zero (a `-inf` there would reach the receivers' zero tests).
    fn fill(&mut self, base: Value, n: usize, value: f64) {
        let full = if self.vector.is_some() {
            n / LANES * LANES
        } else {
            0
        };
        if full > 0 {
            let v = self.konst(value, true);
            self.for_step(full, LANES, |e, i| e.store_w(base, i, v));
        }
        if full < n {
            let v = self.float(value);
            let (start, end) = (self.int(full as i64), self.int(n as i64));
            self.for_range(start, end, |e, i| e.store(base, i, v));
        }
    }

    // ------------------------------------------------------- transforms --

    /// `u = x @ kernel` (kernel `[n_in, n_out]`), skipping zero inputs, in
    /// the reference's order: input-major, so only the rows of neurons that
    /// spiked are touched. Inputs are scanned four at a time; the vector
    /// test only skips blocks of zeros, the lanes are then taken in order.
    fn dense(&mut self, x: Value, kernel: Value, u: Value, n_in: usize, n_out: usize) {
        self.fill(u, n_out, 0.0);
        let zero = self.float(0.0);
        let row_bytes = (n_out as i64) * self.elem;
        let one_input = |e: &mut Self, i: Value, xi: Value| {
            let nonzero = e.b.ins().fcmp(FloatCC::NotEqual, xi, zero);
            e.when(nonzero, |e| {
                let row_off = e.b.ins().imul_imm_u(i, row_bytes);
                let row = e.b.ins().iadd(kernel, row_off);
                e.axpy(xi, row, u, n_out);
            });
        };
        match self.vector {
            Some(vt) => {
                // Padding lanes past n_in are zero, so whole blocks can be read.
                let vzero = self.b.ins().splat(vt, zero);
                self.for_step(n_in.div_ceil(LANES) * LANES, LANES, |e, i| {
                    let xs = e.load_w(x, i, true);
                    let nz = e.b.ins().fcmp(FloatCC::NotEqual, xs, vzero);
                    let any = e.b.ins().vany_true(nz);
                    e.when(any, |e| {
                        for lane in 0..LANES as u8 {
                            let xi = e.b.ins().extractlane(xs, lane);
                            let il = e.b.ins().iadd_imm_u(i, lane as i64);
                            one_input(e, il, xi);
                        }
                    });
                });
            }
            None => self.for_n(n_in, |e, i| {
                let xi = e.load(x, i);
                one_input(e, i, xi);
            }),
        }
    }

    /// Cross-correlation, output-major with zero inputs skipped (the
    /// reference's loop nest).
    fn conv2d(&mut self, x: Value, kernel: Value, u: Value, g: &Window) {
        let (c, f) = (g.input[2], g.output[2]);
        let zero = self.float(0.0);
        let elem = self.elem;
        self.for_each_tap(x, u, g, |e, xbase, obase, tap| {
            let kbase_off = e.b.ins().imul_imm_u(tap, (c * f) as i64 * elem);
            let kbase = e.b.ins().iadd(kernel, kbase_off);
            e.for_n(c, |e, ci| {
                let xv = e.load(xbase, ci);
                let nonzero = e.b.ins().fcmp(FloatCC::NotEqual, xv, zero);
                e.when(nonzero, |e| {
                    let krow_off = e.b.ins().imul_imm_u(ci, (f as i64) * elem);
                    let krow = e.b.ins().iadd(kbase, krow_off);
                    e.axpy(xv, krow, obase, f);
                });
            });
        });
    }

    /// Depthwise cross-correlation in the reference's loop nest
    /// (`layers::depthwise_conv2d`): per output position and tap, input
    /// channel `c` (when not zero) times its `m` kernel values added to
    /// output channels `c*m..(c+1)*m`.
    fn depthwise_conv2d(&mut self, x: Value, kernel: Value, u: Value, g: &Window) {
        let (c, f) = (g.input[2], g.output[2]);
        if c == 0 || f == 0 {
            self.fill(u, g.output.iter().product(), 0.0);
            return;
        }
        let m = f / c;
        let zero = self.float(0.0);
        let elem = self.elem;
        self.for_each_tap(x, u, g, |e, xbase, obase, tap| {
            let kbase_off = e.b.ins().imul_imm_u(tap, f as i64 * elem);
            let kbase = e.b.ins().iadd(kernel, kbase_off);
            e.for_n(c, |e, ci| {
                let xv = e.load(xbase, ci);
                let nonzero = e.b.ins().fcmp(FloatCC::NotEqual, xv, zero);
                e.when(nonzero, |e| {
                    let row_off = e.b.ins().imul_imm_u(ci, (m as i64) * elem);
                    let krow = e.b.ins().iadd(kbase, row_off);
                    let orow = e.b.ins().iadd(obase, row_off);
                    e.axpy(xv, krow, orow, m);
                });
            });
        });
    }

    /// The convolutions' shared loop nest: `u` zeroed, then for every
    /// output position and every kernel tap that lands inside the input
    /// (zero padding contributes nothing), `body` gets the input position's
    /// channels, the output position's channels and the tap's index
    /// `kh * kernel_w + kw`.
    fn for_each_tap(
        &mut self,
        x: Value,
        u: Value,
        g: &Window,
        mut body: impl FnMut(&mut Self, Value, Value, Value),
    ) {
        let ([h, w, c], [oh_n, ow_n, f]) = (g.input, g.output);
        let (k, s, pad) = (g.kernel, g.strides, g.pad_before);
        self.fill(u, oh_n * ow_n * f, 0.0);
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
                                body(e, xbase, obase, tap);
                            });
                        });
                    });
                });
            });
        });
    }

    /// Average (`max == false`) or max pooling, 'valid', reference order.
    #[allow(clippy::too_many_arguments)]
    fn pool(
        &mut self,
        x: Value,
        u: Value,
        input: [usize; 3],
        output: [usize; 3],
        p: [usize; 2],
        s: [usize; 2],
        max: bool,
    ) {
        let [h, w, c] = input;
        let [oh_n, ow_n, _] = output;
        self.fill(
            u,
            oh_n * ow_n * c,
            if max { f64::NEG_INFINITY } else { 0.0 },
        );
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

    // ------------------------------------------------------ node update --

    /// What one connection delivers to element(s) `i` this step: the
    /// filter's output as of last step (then the filter takes this step's
    /// value), or this step's value itself.
    fn delivered(&mut self, input: &Input, i: Value, wide: bool) -> Value {
        let (u, filter) = (input.u, input.filter);
        let uv = self.load_w(u, i, wide);
        if input.consume {
            let zero = self.konst(0.0, wide);
            self.store_w(u, i, zero);
        }
        let Some((y, slots, coefs)) = filter else {
            return uv;
        };
        let yv = self.load_w(y, i, wide);
        match (slots, coefs) {
            (FilterSlotsV::Lowpass, Coefs::Lowpass { a, b }) => {
                let (a, b) = (self.konst(a, wide), self.konst(b, wide));
                let ay = self.b.ins().fmul(a, yv);
                let bu = self.b.ins().fmul(b, uv);
                let next = self.b.ins().fadd(ay, bu);
                self.store_w(y, i, next);
            }
            (FilterSlotsV::Alpha { x0, x1 }, Coefs::Alpha { a, b, c1 }) => {
                let (s0, s1) = (self.load_w(x0, i, wide), self.load_w(x1, i, wide));
                let row = |e: &mut Self, p: f64, q: f64, r: f64| {
                    let (p, q, r) = (e.konst(p, wide), e.konst(q, wide), e.konst(r, wide));
                    let t0 = e.b.ins().fmul(p, s0);
                    let t1 = e.b.ins().fmul(q, s1);
                    let t2 = e.b.ins().fmul(r, uv);
                    let t = e.b.ins().fadd(t0, t1);
                    e.b.ins().fadd(t, t2)
                };
                let n0 = row(self, a[0][0], a[0][1], b[0]);
                let n1 = row(self, a[1][0], a[1][1], b[1]);
                self.store_w(x0, i, n0);
                self.store_w(x1, i, n1);
                let c1 = self.konst(c1, wide);
                let out = self.b.ins().fmul(c1, n1);
                self.store_w(y, i, out);
            }
            // Layout and coefficients are made from the same synapse.
            _ => unreachable!("filter slots and coefficients disagree"),
        }
        yv
    }

    /// One node's whole update, fused into a single pass over its elements:
    /// every connection (and the bias) delivered and summed in the
    /// reference's order, then the neuron step (or the plain sum for a
    /// linear node). `J` never goes to memory.
    #[allow(clippy::too_many_arguments)]
    fn node_update(
        &mut self,
        n: usize,
        inputs: &[Input],
        gain: f64,
        neuron: Option<Neuron>,
        scale: f64,
        dt: f64,
        out: Value,
        state: NeuronSlots,
        scatters: &[Scatter],
        visit: Visit,
        queue: Option<SpikeQueue>,
    ) {
        // Calls to libm cannot take vectors: those neuron types run scalar
        // (LIF calls per lane, and rarely; see `lif_lanes`).
        let wide = self.vector.is_some()
            && matches!(
                neuron,
                None | Some(
                    Neuron::RectifiedLinear { .. }
                        | Neuron::SpikingRectifiedLinear { .. }
                        | Neuron::Lif { .. }
                )
            );
        let (step, trip) = if wide {
            (LANES, n.div_ceil(LANES) * LANES)
        } else {
            (1, n)
        };
        let list = state.spike_list.map(|slots| self.list_start(slots));
        let mut constants = loop_constants(inputs, gain, neuron, scale, dt);
        if let Some(Neuron::Lif { tau_rc, .. }) = neuron {
            constants.push(self.lif_decay(dt, dt, tau_rc));
            constants.push(self.lif_decay(0.0, dt, tau_rc));
        }
        self.hoist(&constants, wide);
        // A packed list's entries propagate by their neurons' indices.
        let index = match visit {
            Visit::Packed { index, .. } => Some(index),
            Visit::All | Visit::Lazy(..) => None,
        };
        let element = |e: &mut Self, i: Value| {
            let gain_v = (gain != 1.0).then(|| e.konst(gain, wide));
            let mut j: Option<Value> = None;
            for input in inputs {
                let x = e.delivered(input, i, wide);
                let x = match gain_v {
                    Some(g) if !input.scaled => e.b.ins().fmul(g, x),
                    _ => x,
                };
                // The reference starts J at zero; 0 + x is x (up to the
                // sign of a zero, which no later step can tell apart).
                j = Some(match j {
                    Some(acc) => e.b.ins().fadd(acc, x),
                    None => x,
                });
            }
            let j = match j {
                Some(j) => j,
                None => e.konst(0.0, wide),
            };
            let spikes = match neuron {
                None => {
                    e.store_w(out, i, j);
                    None
                }
                Some(neuron) => e.neuron_step(neuron, scale, dt, j, i, out, state, wide),
            };
            match (spikes, state.counts, list) {
                // Listed here, counted and propagated after the loop.
                (Some((_, k)), Some(_), Some(list)) => e.list_push(list, i, k, wide),
                (Some((y, k)), Some(counts), None) => {
                    // Most steps most neurons do not spike: count and
                    // propagate only when some lane did.
                    let any = e.any_spiked(k, wide);
                    e.when(any, |e| {
                        e.count_spikes(counts, i, k, wide);
                        if !scatters.is_empty() {
                            e.scatter_lanes(y, i, index, wide, scatters, queue);
                        }
                    });
                }
                _ if !scatters.is_empty() => {
                    let y = e.load_w(out, i, wide);
                    e.scatter_lanes(y, i, index, wide, scatters, queue);
                }
                _ => {}
            }
        };
        match visit {
            Visit::All => self.for_step(trip, step, element),
            Visit::Packed { len, .. } => {
                let len = self.b.ins().load(types::I64, flags(), len, 0);
                let zero = self.int(0);
                self.for_range_step(zero, len, step, element);
            }
            Visit::Lazy(l, touched) => {
                // Touched positions, then the shadow row (always stepped).
                let row = l.channels as i64;
                let one = self.b.ins().iconst(types::I32, 1);
                let shadow_flag = (l.positions * 4) as i32;
                self.b.ins().store(flags(), one, touched, shadow_flag);
                self.for_step(l.positions + 1, 1, |e, p| {
                    let off = e.b.ins().imul_imm_u(p, 4);
                    let at = e.b.ins().iadd(touched, off);
                    let flag = e.b.ins().load(types::I32, flags(), at, 0);
                    let woken = e.b.ins().icmp_imm_s(IntCC::NotEqual, flag, 0);
                    e.when(woken, |e| {
                        let base = e.b.ins().imul_imm_u(p, row);
                        e.for_step(l.channels, step, |e, c| {
                            let i = e.b.ins().iadd(base, c);
                            element(e, i);
                        });
                    });
                });
            }
        }
        if let (Some(list), Some(counts), Some(Neuron::SpikingRectifiedLinear { amplitude })) =
            (list, state.counts, neuron)
        {
            let spike = amplitude / scale / dt;
            self.list_drain(list, wide, |e, i, k| {
                e.count_spikes(counts, i, k, wide);
                if !scatters.is_empty() {
                    let spike = e.konst(spike, wide);
                    let y = e.b.ins().fmul(spike, k);
                    e.scatter_lanes(y, i, index, wide, scatters, queue);
                }
            });
        }
        if let Some(q) = queue {
            self.queue_flush(q, scatters);
        }
        self.hoisted.clear();
    }

    /// An empty spike list (see `SpikeListSlots`) for the loop about to be
    /// emitted; its length is a variable carried through the loop.
    fn list_start(&mut self, slots: SpikeListSlots) -> SpikeList {
        let len = self.b.declare_var(types::I64);
        let zero = self.int(0);
        self.b.def_var(len, zero);
        SpikeList {
            groups: self.slot(slots.groups),
            spikes: self.slot(slots.spikes),
            len,
        }
    }

    /// Whether some lane of the spike counts `k` is not zero.
    fn any_spiked(&mut self, k: Value, wide: bool) -> Value {
        let zero = self.konst(0.0, wide);
        let fired = self.b.ins().fcmp(FloatCC::NotEqual, k, zero);
        if wide {
            self.b.ins().vany_true(fired)
        } else {
            fired
        }
    }

    /// Writes group `i`'s spike counts `k` (at `i`) and its index (at the
    /// list's end), and keeps the index (moves the end on) only if some
    /// lane spiked: no branch.
    fn list_push(&mut self, list: SpikeList, i: Value, k: Value, wide: bool) {
        let any = self.any_spiked(k, wide);
        let n = self.b.use_var(list.len);
        self.store_w(list.spikes, i, k);
        let off = self.b.ins().imul_imm_u(n, 4);
        let at = self.b.ins().iadd(list.groups, off);
        let first = self.b.ins().ireduce(types::I32, i);
        self.b.ins().store(flags(), first, at, 0);
        let kept = self.b.ins().uextend(types::I64, any);
        let n = self.b.ins().iadd(n, kept);
        self.b.def_var(list.len, n);
    }

    /// `body(i, k)` for every listed group, in the order they were listed
    /// (ascending), then the list is empty again.
    fn list_drain(
        &mut self,
        list: SpikeList,
        wide: bool,
        mut body: impl FnMut(&mut Self, Value, Value),
    ) {
        // The length goes through a stack slot here: when the drain's
        // loop (and the propagation inside it) reads it straight from the
        // update loop, the register allocator adds a spill store of it to
        // every iteration of the update loop.
        let n = self.b.use_var(list.len);
        let slot =
            self.b
                .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 8, 3));
        let at = self.b.ins().stack_addr(types::I64, slot, 0);
        self.b.ins().store(flags(), n, at, 0);
        let n = self.b.ins().load(types::I64, flags(), at, 0);
        let start = self.int(0);
        self.for_range(start, n, |e, j| {
            let off = e.b.ins().imul_imm_u(j, 4);
            let at = e.b.ins().iadd(list.groups, off);
            let i = e.b.ins().uload32(flags(), at, 0);
            let k = e.load_w(list.spikes, i, wide);
            body(e, i, k);
        });
        let zero = self.int(0);
        self.b.def_var(list.len, zero);
    }

    /// The step of a compacted spiking ReLU node (see `CompactSlots`): the
    /// driver has worked out which groups of entries spike this step, and
    /// their counts, with the reference's `v += max(J, 0) * dt; n =
    /// floor(v); v -= n` (`packed`), so the loop visits those groups only.
    /// Spikes are counted per entry and propagated by neuron index, in
    /// ascending order as the dense loop would.
    fn compact_spiking_update(
        &mut self,
        c: CompactSlots,
        spike: f64,
        scatters: &[Scatter],
        queue: Option<SpikeQueue>,
    ) {
        let wide = self.vector.is_some();
        let (index, entry_counts) = (self.slot(c.index), self.slot(c.counts));
        let (start, end) = self.step_events(c);
        self.for_range(start, end, |e, j| {
            let (i, k) = e.event(c, j, wide);
            e.count_spikes(entry_counts, i, k, wide);
            let spike = e.konst(spike, wide);
            let y = e.b.ins().fmul(spike, k);
            e.scatter_lanes(y, i, Some(index), wide, scatters, queue);
        });
        if let Some(q) = queue {
            self.queue_flush(q, scatters);
        }
    }

    /// The range of this step's events in a packed node's regions (see
    /// `CompactSlots::events`).
    fn step_events(&mut self, c: CompactSlots) -> (Value, Value) {
        let now_at = self.slot(c.now);
        let now = self.b.ins().load(types::I64, flags(), now_at, 0);
        let start = self.b.ins().imul_imm_u(now, c.groups as i64);
        let lens = self.slot(c.event_lens);
        let off = self.b.ins().imul_imm_u(now, 8);
        let at = self.b.ins().iadd(lens, off);
        let len = self.b.ins().load(types::I64, flags(), at, 0);
        (start, self.b.ins().iadd(start, len))
    }

    /// Event `j` of a packed node: its group's first entry and the group's
    /// spike counts.
    fn event(&mut self, c: CompactSlots, j: Value, wide: bool) -> (Value, Value) {
        let groups = self.slot(c.events);
        let off = self.b.ins().imul_imm_u(j, 4);
        let at = self.b.ins().iadd(groups, off);
        let i = self.b.ins().uload32(flags(), at, 0);
        let lanes = if wide { LANES as i64 } else { 1 };
        let spikes = self.slot(c.event_spikes);
        let first = self.b.ins().imul_imm_u(j, lanes);
        (i, self.load_w(spikes, first, wide))
    }

    /// `compact_spiking_update` for a node that feeds only narrow dense
    /// layers: their weighted values are summed in registers carried
    /// through the loop (stored once at its end, not loaded and stored per
    /// spike), and a group of four entries in which some neuron spiked adds
    /// all four rows, without a branch per lane. A lane that did not spike
    /// adds `0 * w`, a zero: the sum starts at +0 (the reader consumed the
    /// buffer) and a round-to-nearest sum is -0 only when both terms are,
    /// so it never holds -0, and adding a zero to it changes no bit (this
    /// needs every weight finite: `0 * inf` is NaN). Each output still sums
    /// its inputs in ascending index order, as the reference does.
    fn compact_into_registers(
        &mut self,
        c: CompactSlots,
        spike: f64,
        scatters: &[Scatter],
        accs: Vec<(Type, Value, i32)>,
    ) {
        let wide = self.vector.is_some();
        let lanes = if wide { LANES } else { 1 };
        let index = self.slot(c.index);
        let kernels: Vec<(Value, usize)> = scatters
            .iter()
            .filter_map(|t| match *t {
                Scatter::Dense { kernel, n_out, .. } => Some((kernel, n_out)),
                Scatter::Conv { .. } => None,
            })
            .collect();
        self.hoist(&[0.0, spike], wide);
        let init: Vec<Value> = accs
            .iter()
            .map(|&(ty, u, off)| self.b.ins().load(ty, flags(), u, off))
            .collect();
        let (start, end) = self.step_events(c);
        let done = self.carry_range(start, end, 1, &init, |e, j, carried| {
            let (i, k) = e.event(c, j, wide);
            let entry_counts = e.slot(c.counts);
            e.count_spikes(entry_counts, i, k, wide);
            let spike_v = e.konst(spike, wide);
            let y = e.b.ins().fmul(spike_v, k);
            let mut sums = carried.to_vec();
            for lane in 0..lanes {
                let yl = if wide {
                    e.b.ins().extractlane(y, lane as u8)
                } else {
                    y
                };
                let entry = e.b.ins().iadd_imm_u(i, lane as i64);
                let off = e.b.ins().imul_imm_u(entry, 4);
                let p = e.b.ins().iadd(index, off);
                let neuron = e.b.ins().uload32(flags(), p, 0);
                let vt = e.val_type(true);
                let ys = if wide {
                    Some(e.b.ins().splat(vt, yl))
                } else {
                    None
                };
                let mut slot = 0;
                for &(kernel, n_out) in &kernels {
                    let row_off = e.b.ins().imul_imm_u(neuron, n_out as i64 * e.elem);
                    let row = e.b.ins().iadd(kernel, row_off);
                    let blocks = if wide { n_out / LANES } else { 0 };
                    for blk in 0..blocks {
                        let offset = (blk * LANES) as i32 * e.elem as i32;
                        let w = e.b.ins().load(vt, weight_flags(), row, offset);
                        let ys = ys.unwrap_or(yl);
                        let prod = e.b.ins().fmul(ys, w);
                        sums[slot] = e.b.ins().fadd(sums[slot], prod);
                        slot += 1;
                    }
                    for j in blocks * LANES..n_out {
                        let offset = j as i32 * e.elem as i32;
                        let w = e.b.ins().load(e.ty, weight_flags(), row, offset);
                        let prod = e.b.ins().fmul(yl, w);
                        sums[slot] = e.b.ins().fadd(sums[slot], prod);
                        slot += 1;
                    }
                }
            }
            sums
        });
        for (&(_, u, off), x) in accs.iter().zip(done) {
            self.b.ins().store(flags(), x, u, off);
        }
        self.hoisted.clear();
    }

    /// Event-driven propagation: the outputs just computed at `i` (one
    /// element, or four lanes) that are not zero are added into the
    /// weighted values of the dense and conv connections they feed. Inputs
    /// arrive in ascending index order, which for every receiving element
    /// is the reference's summation order, so results are unchanged; the
    /// receivers then skip their own pass over this node's output. With
    /// `index`, lane `l`'s neuron is the u32 at `index[i + l]` (a packed
    /// layer's list) rather than `i + l`.
    fn scatter_lanes(
        &mut self,
        ys: Value,
        i: Value,
        index: Option<Value>,
        wide: bool,
        targets: &[Scatter],
        queue: Option<SpikeQueue>,
    ) {
        let neuron = |e: &mut Self, entry: Value| match index {
            Some(list) => {
                let off = e.b.ins().imul_imm_u(entry, 4);
                let p = e.b.ins().iadd(list, off);
                e.b.ins().uload32(flags(), p, 0)
            }
            None => entry,
        };
        if wide {
            // A loop over the lanes that hold a nonzero output (one bit
            // each, lowest first: the unrolled lanes' order), so the scatter
            // code, most of a conv network's IR, is emitted once rather
            // than four times (docs/architecture.md: compile time).
            let zeros = self.konst(0.0, true);
            let nonzero = self.b.ins().fcmp(FloatCC::NotEqual, ys, zeros);
            // The outputs go through a stack slot only on this path (a
            // group queued whole reads them from the register).
            let lanes = |e: &mut Self| {
                let base = e.lane_slot();
                e.b.ins().store(flags(), ys, base, 0);
                e.for_lanes(nonzero, |e, lane| {
                    let entry = e.b.ins().iadd(i, lane);
                    let idx = neuron(e, entry);
                    let x = e.load(base, lane);
                    e.propagate(idx, x, targets, queue);
                })
            };
            let only_conv = targets.iter().all(|t| matches!(t, Scatter::Conv { .. }));
            match queue.filter(|_| only_conv) {
                Some(q) => self.queue_group(q, i, index, ys, nonzero, lanes),
                None => lanes(self),
            }
        } else {
            let zero = self.float(0.0);
            let nonzero = self.b.ins().fcmp(FloatCC::NotEqual, ys, zero);
            self.when(nonzero, |e| {
                let idx = neuron(e, i);
                e.propagate(idx, ys, targets, queue);
            });
        }
    }

    /// Input `idx`'s nonzero output `x` into every target: added into the
    /// dense ones now, and queued for the conv ones (`SpikeQueue`).
    fn propagate(&mut self, idx: Value, x: Value, targets: &[Scatter], queue: Option<SpikeQueue>) {
        for t in targets {
            match *t {
                Scatter::Dense { kernel, u, n_out } => {
                    let row_off = self.b.ins().imul_imm_u(idx, n_out as i64 * self.elem);
                    let row = self.b.ins().iadd(kernel, row_off);
                    self.axpy(x, row, u, n_out);
                }
                // Queued below, once for all conv targets.
                Scatter::Conv { .. } => {}
            }
        }
        if let Some(q) = queue {
            self.queue_push(q, idx, x);
        }
    }

    /// Appends input `idx`'s output `x` to `q` (see `queue_run`). Only
    /// stores: the loop it is in keeps its values in registers (a call
    /// there spilled them on every spike).
    fn queue_push(&mut self, q: SpikeQueue, idx: Value, x: Value) {
        let pos = self.b.ins().udiv_imm_u(idx, q.depth as i64);
        let n = self.queue_run(q, pos);
        let first = self.b.ins().imul_imm_u(pos, q.depth as i64);
        let ch = self.b.ins().isub(idx, first);
        let ch = self.b.ins().ireduce(types::I32, ch);
        let at = self.b.ins().imul_imm_u(n, 4);
        let at = self.b.ins().iadd(q.channels, at);
        self.b.ins().store(flags(), ch, at, 0);
        self.store(q.values, n, x);
        let n = self.b.ins().iadd_imm_u(n, 1);
        self.b.def_var(q.n, n);
    }

    /// Starts a run in `q` when input position `pos` is not the last run's
    /// (inputs come in ascending order, so a position never comes back).
    /// Returns the queue's length.
    fn queue_run(&mut self, q: SpikeQueue, pos: Value) -> Value {
        let last = self.b.use_var(q.pos);
        let n = self.b.use_var(q.n);
        let other = self.b.ins().icmp(IntCC::NotEqual, pos, last);
        self.when(other, |e| {
            let r = e.b.use_var(q.runs_n);
            let at = e.b.ins().imul_imm_u(r, 16);
            let at = e.b.ins().iadd(q.runs, at);
            e.b.ins().store(flags(), pos, at, 0);
            e.b.ins().store(flags(), n, at, 8);
            let r = e.b.ins().iadd_imm_u(r, 1);
            e.b.def_var(q.runs_n, r);
            e.b.def_var(q.pos, pos);
        });
        n
    }

    /// Queues the nonzero lanes of the four outputs `ys` at entry `i`
    /// (`nonzero` their mask) without a branch per lane when all four
    /// neurons are at one input position (always, unpacked, when the
    /// depth is a multiple of four; `index` maps a packed node's entries
    /// to neurons): the lanes' channels and values are packed to the front
    /// of a vector each by a byte shuffle looked up from the mask
    /// (`COMPRESS`), stored whole at the queue's end, and the length moved
    /// on by the number of lanes kept. Other groups take `lanes`, the loop
    /// over the set lanes.
    fn queue_group(
        &mut self,
        q: SpikeQueue,
        i: Value,
        index: Option<Value>,
        ys: Value,
        nonzero: Value,
        lanes: impl FnOnce(&mut Self),
    ) {
        let last_lane = LANES as i64 - 1;
        let (neurons, first, last) = match index {
            Some(list) => {
                let off = self.b.ins().imul_imm_u(i, 4);
                let at = self.b.ins().iadd(list, off);
                let neurons = self.b.ins().load(types::I32X4, flags(), at, 0);
                let first = self.b.ins().uload32(flags(), at, 0);
                let last = self.b.ins().uload32(flags(), at, 4 * last_lane as i32);
                (Some(neurons), first, last)
            }
            None => {
                let last = self.b.ins().iadd_imm_u(i, last_lane);
                (None, i, last)
            }
        };
        let pos = self.b.ins().udiv_imm_u(first, q.depth as i64);
        let one_position = match index {
            None if q.depth.is_multiple_of(LANES) => None,
            _ => {
                let pos_last = self.b.ins().udiv_imm_u(last, q.depth as i64);
                Some(self.b.ins().icmp(IntCC::Equal, pos, pos_last))
            }
        };
        let group = |e: &mut Self| {
            let n = e.queue_run(q, pos);
            let start = e.b.ins().imul_imm_u(pos, q.depth as i64);
            let start = e.b.ins().ireduce(types::I32, start);
            let start = e.b.ins().splat(types::I32X4, start);
            let channels = match neurons {
                Some(v) => e.b.ins().isub(v, start),
                None => {
                    let first = e.b.ins().ireduce(types::I32, first);
                    let first = e.b.ins().splat(types::I32X4, first);
                    let lane = e.b.func.dfg.constants.insert(
                        [0u32, 1, 2, 3]
                            .iter()
                            .flat_map(|l| l.to_le_bytes())
                            .collect::<Vec<u8>>()
                            .into(),
                    );
                    let lane = e.b.ins().vconst(types::I32X4, lane);
                    let ch = e.b.ins().iadd(first, lane);
                    e.b.ins().isub(ch, start)
                }
            };
            let bits = e.b.ins().vhigh_bits(types::I64, nonzero);
            let table = e.int(COMPRESS.as_ptr() as i64);
            let off = e.b.ins().imul_imm_u(bits, 16);
            let at = e.b.ins().iadd(table, off);
            let shuffle = e.b.ins().load(types::I8X16, flags(), at, 0);
            let little = MemFlagsData::new().with_endianness(Endianness::Little);
            for (x, base) in [(channels, q.channels), (ys, q.values)] {
                let bytes = e.b.ins().bitcast(types::I8X16, little, x);
                let packed = e.b.ins().swizzle(bytes, shuffle);
                let off = e.b.ins().imul_imm_u(n, 4);
                let at = e.b.ins().iadd(base, off);
                e.b.ins().store(flags(), packed, at, 0);
            }
            let kept = e.b.ins().popcnt(bits);
            let n = e.b.ins().iadd(n, kept);
            e.b.def_var(q.n, n);
        };
        match one_position {
            None => group(self),
            Some(same) => {
                let (yes, no, join) = (
                    self.b.create_block(),
                    self.b.create_block(),
                    self.b.create_block(),
                );
                self.b.ins().brif(same, yes, &[], no, &[]);
                self.b.switch_to_block(yes);
                group(self);
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(no);
                lanes(self);
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(join);
            }
        }
    }

    /// Adds the step's queued inputs into every conv target, run by run:
    /// per output row an input position reaches, the row is loaded into
    /// registers a few vector blocks at a time, every queued channel's
    /// kernel row added in ascending channel order, and stored once (not
    /// loaded and stored per input). Each output element sees the same
    /// additions in the same order as one input at a time would give, so
    /// the sums are the reference's bit for bit. Called once, after the
    /// node's loops.
    fn queue_flush(&mut self, q: SpikeQueue, targets: &[Scatter]) {
        let runs = self.b.use_var(q.runs_n);
        let n = self.b.use_var(q.n);
        // The entry past the last run: its start is the queue's length.
        let at = self.b.ins().imul_imm_u(runs, 16);
        let at = self.b.ins().iadd(q.runs, at);
        self.b.ins().store(flags(), n, at, 8);
        let zero = self.int(0);
        self.for_range(zero, runs, |e, r| {
            let at = e.b.ins().imul_imm_u(r, 16);
            let at = e.b.ins().iadd(q.runs, at);
            let pos = e.b.ins().load(types::I64, flags(), at, 0);
            let start = e.b.ins().load(types::I64, flags(), at, 8);
            let end = e.b.ins().load(types::I64, flags(), at, 24);
            let off = e.b.ins().imul_imm_u(start, 4);
            let channels = e.b.ins().iadd(q.channels, off);
            let off = e.b.ins().imul_imm_u(start, e.elem);
            let values = e.b.ins().iadd(q.values, off);
            let n = e.b.ins().isub(end, start);
            let run = Run {
                channels,
                values,
                n,
            };
            for t in targets {
                match *t {
                    Scatter::Conv {
                        kernel,
                        u,
                        geom,
                        lazy,
                    } => e.run_into_conv(run, pos, kernel, u, &geom, lazy),
                    // Fed one input at a time (`propagate`).
                    Scatter::Dense { .. } => {}
                }
            }
        });
    }

    /// `queue_flush` for one run and one conv target: the output positions
    /// that input position `pos` reaches through each tap, in tap order.
    fn run_into_conv(
        &mut self,
        run: Run,
        pos: Value,
        kernel: Value,
        u: Value,
        geom: &Window,
        lazy: Option<LazyTarget>,
    ) {
        let ([_, w, c], [oh_n, ow_n, f]) = (geom.input, geom.output);
        let (k, s, pad) = (geom.kernel, geom.strides, geom.pad_before);
        let elem = self.elem;
        let iw = self.b.ins().urem_imm_u(pos, w as i64);
        let ih = self.b.ins().udiv_imm_u(pos, w as i64);
        // The output o on an axis that this input reaches through tap t
        // satisfies o*s + t - pad = in, so o = (in + pad - t) / s.
        let axis = |e: &mut Self, inp: Value, t: usize, s: usize, pad: usize, n_out: usize| {
            let num = e.b.ins().iadd_imm_s(inp, pad as i64 - t as i64);
            let lo =
                e.b.ins()
                    .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, num, 0);
            let hi =
                e.b.ins()
                    .icmp_imm_s(IntCC::SignedLessThan, num, (n_out * s) as i64);
            let mut ok = e.b.ins().band(lo, hi);
            if s > 1 {
                let rem = e.b.ins().urem_imm_u(num, s as i64);
                let exact = e.b.ins().icmp_imm_s(IntCC::Equal, rem, 0);
                ok = e.b.ins().band(ok, exact);
            }
            let o = if s > 1 {
                e.b.ins().udiv_imm_u(num, s as i64)
            } else {
                num
            };
            (ok, o)
        };
        for kh in 0..k[0] {
            let (ok_h, oh) = axis(self, ih, kh, s[0], pad[0], oh_n);
            self.when(ok_h, |e| {
                for kw in 0..k[1] {
                    let (ok_w, ow) = axis(e, iw, kw, s[1], pad[1], ow_n);
                    e.when(ok_w, |e| {
                        let opos = e.b.ins().imul_imm_u(oh, ow_n as i64);
                        let opos = e.b.ins().iadd(opos, ow);
                        if let Some(l) = lazy {
                            e.wake(l, opos, f);
                        }
                        let o_off = e.b.ins().imul_imm_u(opos, f as i64 * elem);
                        let orow = e.b.ins().iadd(u, o_off);
                        let tap = ((kh * k[1] + kw) * c * f) as i64 * elem;
                        let kbase = e.b.ins().iadd_imm_u(kernel, tap);
                        e.run_into_row(run, kbase, orow, f);
                    });
                }
            });
        }
    }

    /// `orow[..f] += sum over the run's j of x_j * kbase[ch_j*f..][..f]`, each
    /// element's terms added in queue order: groups of `BATCH_REGISTERS`
    /// vector blocks (in a loop while whole groups fit), then the blocks
    /// left and the last `f % 4` elements; a row of whole blocks of eight
    /// by the precompiled AVX2 sum when the CPU has it (`wide::add_rows`).
    fn run_into_row(&mut self, run: Run, kbase: Value, orow: Value, f: usize) {
        let wide = self.vector.is_some();
        let precompiled = wide::add_rows(self.kernels).filter(|_| wide && f.is_multiple_of(8));
        if let Some(add_rows) = precompiled {
            let f = self.int(f as i64);
            let args = [orow, kbase, run.channels, run.values, run.n, f];
            let mut sig = Signature::new(self.b.func.signature.call_conv);
            sig.params = vec![AbiParam::new(types::I64); args.len()];
            let sig = self.b.import_signature(sig);
            let callee = self.int(add_rows as usize as i64);
            self.b.ins().call_indirect(sig, callee, &args);
            self.called_kernel = true;
            return;
        }
        let unit_ty = self.val_type(wide);
        let unit = if wide { LANES as i32 } else { 1 } * self.elem as i32;
        let units = if wide { f / LANES } else { f };
        let groups = units / BATCH_REGISTERS;
        if groups > 0 {
            let group: Vec<(Type, i32)> = (0..BATCH_REGISTERS as i32)
                .map(|k| (unit_ty, k * unit))
                .collect();
            let group_bytes = BATCH_REGISTERS as i64 * unit as i64;
            self.for_step(groups, 1, |e, g| {
                let off = e.b.ins().imul_imm_u(g, group_bytes);
                let (kb, ob) = (e.b.ins().iadd(kbase, off), e.b.ins().iadd(orow, off));
                e.run_sums(run, kb, ob, f, &group);
            });
        }
        let tail = if wide { f % LANES } else { 0 };
        let (tail_start, elem) = (units as i32 * unit, self.elem as i32);
        let rest: Vec<(Type, i32)> = (groups * BATCH_REGISTERS..units)
            .map(|k| (unit_ty, k as i32 * unit))
            .chain((0..tail as i32).map(|t| (self.ty, tail_start + t * elem)))
            .collect();
        if !rest.is_empty() {
            self.run_sums(run, kbase, orow, f, &rest);
        }
    }

    /// The inner loop of `run_into_row`: the accumulators `accs` (type,
    /// byte offset in the row) loaded from `orow`, carried through the
    /// run's inputs, stored back.
    fn run_sums(&mut self, run: Run, kbase: Value, orow: Value, f: usize, accs: &[(Type, i32)]) {
        let init: Vec<Value> = accs
            .iter()
            .map(|&(ty, off)| self.b.ins().load(ty, flags(), orow, off))
            .collect();
        let zero = self.int(0);
        let done = self.carry_range(zero, run.n, 1, &init, |e, j, carried| {
            let at = e.b.ins().imul_imm_u(j, 4);
            let at = e.b.ins().iadd(run.channels, at);
            let ch = e.b.ins().uload32(flags(), at, 0);
            let x = e.load(run.values, j);
            let xs = match e.vector {
                Some(vt) if accs.iter().any(|&(ty, _)| ty == vt) => e.b.ins().splat(vt, x),
                _ => x,
            };
            let row_off = e.b.ins().imul_imm_u(ch, f as i64 * e.elem);
            let krow = e.b.ins().iadd(kbase, row_off);
            let mut sums = Vec::with_capacity(accs.len());
            for (&(ty, off), &acc) in accs.iter().zip(carried) {
                let w = e.b.ins().load(ty, weight_flags(), krow, off);
                let scale = if ty == e.ty { x } else { xs };
                let prod = e.b.ins().fmul(scale, w);
                sums.push(e.b.ins().fadd(acc, prod));
            }
            sums
        });
        for (&(_, off), x) in accs.iter().zip(done) {
            self.b.ins().store(flags(), x, orow, off);
        }
    }

    /// The first scatter into lazy position `p` (see `LazySlots`): its
    /// voltages become the shadow row's, which are what stepping it all
    /// along would have given, and it is stepped from now on.
    fn wake(&mut self, l: LazyTarget, p: Value, channels: usize) {
        let off = self.b.ins().imul_imm_u(p, 4);
        let at = self.b.ins().iadd(l.touched, off);
        let flag = self.b.ins().load(types::I32, flags(), at, 0);
        let asleep = self.b.ins().icmp_imm_s(IntCC::Equal, flag, 0);
        self.when(asleep, |e| {
            let one = e.b.ins().iconst(types::I32, 1);
            e.b.ins().store(flags(), one, at, 0);
            let row_bytes = channels as i64 * e.elem;
            let shadow = e.b.ins().iadd_imm_u(l.v, l.positions as i64 * row_bytes);
            let off = e.b.ins().imul_imm_u(p, row_bytes);
            let row = e.b.ins().iadd(l.v, off);
            let wide = e.vector.is_some();
            let step = if wide { LANES } else { 1 };
            for c in (0..channels).step_by(step) {
                let ty = e.val_type(wide);
                let offset = (c as i64 * e.elem) as i32;
                let x = e.b.ins().load(ty, flags(), shadow, offset);
                e.b.ins().store(flags(), x, row, offset);
            }
        });
    }

    /// Steps the neurons at `i`. Spiking ReLU returns its output and spike
    /// counts `(y, k)` so the caller can do the rare work (counting,
    /// propagating) only when some lane spiked.
    #[allow(clippy::too_many_arguments)]
    fn neuron_step(
        &mut self,
        neuron: Neuron,
        scale: f64,
        dt: f64,
        j: Value,
        i: Value,
        out: Value,
        state: NeuronSlots,
        wide: bool,
    ) -> Option<(Value, Value)> {
        let zero = self.konst(0.0, wide);
        let one = self.konst(1.0, wide);
        match neuron {
            Neuron::RectifiedLinear { amplitude } => {
                let amp = self.konst(amplitude / scale, wide);
                let m = self.max0(j, wide);
                let y = self.b.ins().fmul(amp, m);
                self.store_w(out, i, y);
            }
            Neuron::SpikingRectifiedLinear { amplitude } => {
                let Some(v) = state.v else {
                    unreachable!("spiking slots")
                };
                let (dtv, spike) = (
                    self.konst(dt, wide),
                    self.konst(amplitude / scale / dt, wide),
                );
                let m = self.max0(j, wide);
                let inc = self.b.ins().fmul(m, dtv);
                let vv = self.load_w(v, i, wide);
                let vv = self.b.ins().fadd(vv, inc);
                let k = self.b.ins().floor(vv);
                let y = self.b.ins().fmul(spike, k);
                if !state.out_unread {
                    self.store_w(out, i, y);
                }
                let rest = self.b.ins().fsub(vv, k);
                self.store_w(v, i, rest);
                return Some((y, k));
            }
            Neuron::Lif {
                tau_rc,
                tau_ref,
                min_voltage,
                amplitude,
            } if wide => {
                return Some(self.lif_lanes(
                    [tau_rc, tau_ref, min_voltage, amplitude / scale / dt],
                    dt,
                    j,
                    i,
                    out,
                    state,
                ));
            }
            Neuron::Lif {
                tau_rc,
                tau_ref,
                min_voltage,
                amplitude,
            } => {
                let (Some(v), Some(r), Some(counts)) = (state.v, state.r, state.counts) else {
                    unreachable!("lif slots")
                };
                let dtv = self.float(dt);
                let tau_rc_v = self.float(tau_rc);
                let tau_ref_v = self.float(tau_ref);
                let vmin = self.float(min_voltage);
                let spike = self.float(amplitude / scale / dt);
                let rv = self.load(r, i);
                let rv = self.b.ins().fsub(rv, dtv);
                self.store(r, i, rv);
                // `d = min(max(x, 0), dt)` by comparisons, as in
                // `lif_lanes`. Outside the refractory period (d = dt) and
                // inside it (d = 0) the decay factor is a constant:
                // computed here with the very operations the step would
                // do, the call is left for the steps that end one.
                let x = self.b.ins().fsub(dtv, rv);
                let full = self.lif_decay(dt, dt, tau_rc);
                let full = self.float(full);
                let held = self.lif_decay(0.0, dt, tau_rc);
                let held = self.float(held);
                let some = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let constant = self.b.ins().select(some, full, held);
                let short = self.b.ins().fcmp(FloatCC::LessThan, x, dtv);
                let partial = self.b.ins().band(some, short);
                let call = self.b.create_block();
                let done = self.b.create_block();
                let em = self.b.append_block_param(done, self.ty);
                self.b
                    .ins()
                    .brif(partial, call, &[], done, &[constant.into()]);
                self.b.switch_to_block(call);
                let nd = self.b.ins().fneg(x);
                let arg = self.b.ins().fdiv(nd, tau_rc_v);
                let decay = self.call(self.libm.expm1, arg);
                self.b.ins().jump(done, &[decay.into()]);
                self.b.switch_to_block(done);
                let vv = self.load(v, i);
                let diff = self.b.ins().fsub(j, vv);
                let dv = self.b.ins().fmul(diff, em);
                let vv = self.b.ins().fsub(vv, dv);
                self.store(v, i, vv);
                let spiked = self.b.ins().fcmp(FloatCC::GreaterThan, vv, one);
                let y = self.b.ins().select(spiked, spike, zero);
                self.store(out, i, y);
                let below = self.b.ins().fcmp(FloatCC::LessThan, vv, vmin);
                self.when(below, |e| e.store(v, i, vmin));
                self.when(spiked, |e| {
                    // t_spike = dt + tau_rc * log1p(-(v - 1) / (j - 1))
                    let over = e.b.ins().fsub(vv, one);
                    let over = e.b.ins().fneg(over);
                    let jm1 = e.b.ins().fsub(j, one);
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
            }
            Neuron::LifRate {
                tau_rc,
                tau_ref,
                amplitude,
            } => {
                let amp = self.float(amplitude / scale);
                let (tau_rc, tau_ref) = (self.float(tau_rc), self.float(tau_ref));
                let x = self.b.ins().fsub(j, one);
                self.store(out, i, zero);
                let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                self.when(pos, |e| {
                    let inv = e.b.ins().fdiv(one, x);
                    let l = e.call(e.libm.log1p, inv);
                    let t = e.b.ins().fmul(tau_rc, l);
                    let den = e.b.ins().fadd(tau_ref, t);
                    let y = e.b.ins().fdiv(amp, den);
                    e.store(out, i, y);
                });
            }
            Neuron::Sigmoid { tau_ref } => {
                let max_rate = self.float(1.0 / tau_ref);
                let nx = self.b.ins().fneg(j);
                let ex = self.call(self.libm.exp, nx);
                let den = self.b.ins().fadd(one, ex);
                let y = self.b.ins().fdiv(max_rate, den);
                self.store(out, i, y);
            }
            Neuron::Tanh { tau_ref } => {
                let max_rate = self.float(1.0 / tau_ref);
                let t = self.call(self.libm.tanh, j);
                let y = self.b.ins().fmul(max_rate, t);
                self.store(out, i, y);
            }
        }
        None
    }

    /// `expm1(-d / tau_rc)`, the decay factor of a LIF step that
    /// integrates over `d` (`dt` outside the refractory period, 0 inside
    /// it), computed as the step computes it: `d = min(max(dt - r, 0), dt)`
    /// is `dt` or 0 exactly, then the same operations in the simulation's
    /// precision and the function the call would reach.
    fn lif_decay(&self, d: f64, dt: f64, tau_rc: f64) -> f64 {
        let d = if d == 0.0 { 0.0 } else { dt };
        if self.ty == types::F32 {
            f64::from((-(d as f32) / tau_rc as f32).exp_m1())
        } else {
            (-d / tau_rc).exp_m1()
        }
    }

    /// A lane mask from `fcmp` as the float vector `bitselect` takes.
    fn float_mask(&mut self, mask: Value) -> Value {
        let lanes = MemFlagsData::new().with_endianness(Endianness::Little);
        let ty = self.val_type(true);
        self.b.ins().bitcast(ty, lanes, mask)
    }

    /// The LIF step of four lanes, each lane the scalar step's operations
    /// in its order (so results are bit for bit the reference's). The
    /// transcendental calls run per lane and only where needed: the decay
    /// factor outside the refractory period is a constant, so `expm1` is
    /// called only in a group where some lane is ending a refractory
    /// period, and `log1p` only for lanes that spiked. Returns `(y, k)`,
    /// `k` one where a lane spiked, so that counting and propagation run
    /// only when some lane did. `c` is `[tau_rc, tau_ref, min_voltage,
    /// spike]`.
    fn lif_lanes(
        &mut self,
        c: [f64; 4],
        dt: f64,
        j: Value,
        i: Value,
        out: Value,
        state: NeuronSlots,
    ) -> (Value, Value) {
        let [tau_rc, tau_ref, min_voltage, spike] = c;
        let (Some(v), Some(r)) = (state.v, state.r) else {
            unreachable!("lif slots")
        };
        let vty = self.val_type(true);
        let (zero, one) = (self.konst(0.0, true), self.konst(1.0, true));
        let dtv = self.konst(dt, true);
        let tau_rc_v = self.konst(tau_rc, true);
        let rv = self.load_w(r, i, true);
        let rv = self.b.ins().fsub(rv, dtv);
        self.store_w(r, i, rv);
        // The step integrates over `d = min(max(x, 0), dt)`: 0 where
        // `!(x > 0)` (NaN included, as Rust's `max` returns the other
        // operand), `dt` where `x >= dt`, and `x` itself in between, so
        // comparisons stand in for the clamp. Outside the refractory
        // period (d = dt) and inside it (d = 0) the decay factor is a
        // constant; only a lane ending its refractory period this step
        // (0 < d < dt) needs the call.
        let x = self.b.ins().fsub(dtv, rv);
        let full = self.lif_decay(dt, dt, tau_rc);
        let full = self.konst(full, true);
        let held = self.lif_decay(0.0, dt, tau_rc);
        let held = self.konst(held, true);
        let some = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
        let some_f = self.float_mask(some);
        let em = self.b.ins().bitselect(some_f, full, held);
        let short = self.b.ins().fcmp(FloatCC::LessThan, x, dtv);
        let partial = self.b.ins().band(short, some);
        let any_partial = self.b.ins().vany_true(partial);
        let call = self.b.create_block();
        let done = self.b.create_block();
        let merged = self.b.append_block_param(done, vty);
        self.b
            .ins()
            .brif(any_partial, call, &[], done, &[em.into()]);
        self.b.switch_to_block(call);
        let nd = self.b.ins().fneg(x);
        let arg = self.b.ins().fdiv(nd, tau_rc_v);
        let (args, ems) = (self.lane_slot(), self.lane_slot());
        self.b.ins().store(flags(), arg, args, 0);
        self.b.ins().store(flags(), em, ems, 0);
        self.for_lanes(partial, |e, lane| {
            let a = e.load(args, lane);
            let x = e.call(e.libm.expm1, a);
            e.store(ems, lane, x);
        });
        let em = self.b.ins().load(vty, flags(), ems, 0);
        self.b.ins().jump(done, &[em.into()]);
        self.b.switch_to_block(done);
        let em = merged;
        let vv = self.load_w(v, i, true);
        let diff = self.b.ins().fsub(j, vv);
        let dv = self.b.ins().fmul(diff, em);
        let vv = self.b.ins().fsub(vv, dv);
        let spiked = self.b.ins().fcmp(FloatCC::GreaterThan, vv, one);
        let spiked_f = self.float_mask(spiked);
        let spike_v = self.konst(spike, true);
        let y = self.b.ins().bitselect(spiked_f, spike_v, zero);
        // The caller propagates `y` itself; only a read output is stored.
        if !state.out_unread {
            self.store_w(out, i, y);
        }
        let vmin = self.konst(min_voltage, true);
        let below = self.b.ins().fcmp(FloatCC::LessThan, vv, vmin);
        let below_f = self.float_mask(below);
        let floored = self.b.ins().bitselect(below_f, vmin, vv);
        let reset = self.b.ins().bitselect(spiked_f, zero, floored);
        self.store_w(v, i, reset);
        let k = self.b.ins().bitselect(spiked_f, one, zero);
        let any = self.b.ins().vany_true(spiked);
        self.when(any, |e| {
            let (vs, js) = (e.lane_slot(), e.lane_slot());
            e.b.ins().store(flags(), vv, vs, 0);
            e.b.ins().store(flags(), j, js, 0);
            e.for_lanes(spiked, |e, lane| {
                // t_spike = dt + tau_rc * log1p(-(v - 1) / (j - 1))
                let (one, dts) = (e.float(1.0), e.float(dt));
                let vl = e.load(vs, lane);
                let jl = e.load(js, lane);
                let over = e.b.ins().fsub(vl, one);
                let over = e.b.ins().fneg(over);
                let jm1 = e.b.ins().fsub(jl, one);
                let q = e.b.ins().fdiv(over, jm1);
                let l = e.call(e.libm.log1p, q);
                let tau_rc_s = e.float(tau_rc);
                let t = e.b.ins().fmul(tau_rc_s, l);
                let t_spike = e.b.ins().fadd(dts, t);
                let tau_ref_s = e.float(tau_ref);
                let rr = e.b.ins().fadd(tau_ref_s, t_spike);
                let at = e.b.ins().iadd(i, lane);
                e.store(r, at, rr);
            });
        });
        (y, k)
    }

    /// A 16-byte stack slot that holds one vector, its lanes addressable
    /// one by one.
    fn lane_slot(&mut self) -> Value {
        let slot =
            self.b
                .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 16, 4));
        self.b.ins().stack_addr(types::I64, slot, 0)
    }

    /// `body(lane)` for each lane set in the vector mask `mask`, lowest
    /// first: one iteration per set lane rather than a test per lane, whose
    /// outcome follows the data and so mispredicts.
    fn for_lanes(&mut self, mask: Value, mut body: impl FnMut(&mut Self, Value)) {
        let bits = self.b.ins().vhigh_bits(types::I64, mask);
        let header = self.b.create_block();
        let left = self.b.append_block_param(header, types::I64);
        let inner = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[BlockArg::Value(bits)]);
        self.b.switch_to_block(header);
        self.b.ins().brif(left, inner, &[], exit, &[]);
        self.b.switch_to_block(inner);
        let lane = self.b.ins().ctz(left);
        body(self, lane);
        let below = self.b.ins().iadd_imm_s(left, -1);
        let rest = self.b.ins().band(left, below);
        self.b.ins().jump(header, &[BlockArg::Value(rest)]);
        self.b.switch_to_block(exit);
    }

    /// Adds `k` spikes to the counts at `i`, saturating at u32::MAX as the
    /// reference does.
    fn count_spikes(&mut self, counts: Value, i: Value, k: Value, wide: bool) {
        let int_ty = if wide { types::I32X4 } else { types::I32 };
        let kn = if self.ty == types::F64 {
            // `k as u32` is u32::MAX from 2^32 up (cut to 32 bits, it
            // would wrap).
            let k64 = self.b.ins().fcvt_to_uint_sat(types::I64, k);
            let max = self.b.ins().iconst(types::I64, i64::from(u32::MAX));
            let k64 = self.b.ins().umin(k64, max);
            self.b.ins().ireduce(types::I32, k64)
        } else {
            self.b.ins().fcvt_to_uint_sat(int_ty, k)
        };
        let off = self.b.ins().imul_imm_u(i, 4);
        let p = self.b.ins().iadd(counts, off);
        let c = self.b.ins().load(int_ty, flags(), p, 0);
        let sum = self.b.ins().iadd(c, kn);
        let wrapped = self.b.ins().icmp(IntCC::UnsignedLessThan, sum, c);
        let max = self.b.ins().iconst(types::I32, -1);
        let sum = if wide {
            let max = self.b.ins().splat(types::I32X4, max);
            self.b.ins().bitselect(wrapped, max, sum)
        } else {
            self.b.ins().select(wrapped, max, sum)
        };
        self.b.ins().store(flags(), sum, p, 0);
    }
}

/// A filter's extra state vectors (the output `y` is passed separately).
#[derive(Clone, Copy)]
pub enum FilterSlotsV {
    Lowpass,
    Alpha { x0: Value, x1: Value },
}

/// A connection fed event by event from its source's update loop.
#[derive(Clone, Copy)]
pub enum Scatter {
    Dense {
        kernel: Value,
        u: Value,
        n_out: usize,
    },
    Conv {
        kernel: Value,
        u: Value,
        geom: Window,
        /// The receiver's lazy state, when it has one (see `LazySlots`).
        lazy: Option<LazyTarget>,
    },
}

/// A node's queue of this step's spikes into conv layers (see
/// `QueueSlots`): its vectors' addresses and, in variables (so that they
/// stay in registers through the spike loops), its length, its number of
/// runs and the last run's position (`-1` before the first).
#[derive(Clone, Copy)]
pub struct SpikeQueue {
    channels: Value,
    values: Value,
    runs: Value,
    n: Variable,
    runs_n: Variable,
    pos: Variable,
    depth: usize,
}

impl SpikeQueue {
    /// An empty queue in `slots`, made where the node's code starts (so
    /// that it dominates all of it).
    fn start(e: &mut Emitter, slots: QueueSlots) -> Self {
        let (channels, values, runs) = (
            e.slot(slots.channels),
            e.slot(slots.values),
            e.slot(slots.runs),
        );
        let [n, runs_n, pos] = [(); 3].map(|_| e.b.declare_var(types::I64));
        let (zero, none) = (e.int(0), e.int(-1));
        e.b.def_var(n, zero);
        e.b.def_var(runs_n, zero);
        e.b.def_var(pos, none);
        SpikeQueue {
            channels,
            values,
            runs,
            n,
            runs_n,
            pos,
            depth: slots.depth,
        }
    }
}

/// Per mask of four lanes (bit `l` set: lane `l` kept), the byte shuffle
/// that moves the kept lanes' four bytes each to the front, in lane order
/// (`Emitter::queue_group`); 0x80 selects a zero byte.
static COMPRESS: [[u8; 16]; 16] = {
    let mut table = [[0x80u8; 16]; 16];
    let mut mask = 0;
    while mask < 16 {
        let (mut lane, mut to) = (0, 0);
        while lane < 4 {
            if mask & (1 << lane) != 0 {
                let mut b = 0;
                while b < 4 {
                    table[mask][4 * to + b] = (4 * lane + b) as u8;
                    b += 1;
                }
                to += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
};

/// The queued inputs of one position: their channels (u32) and values,
/// and how many.
#[derive(Clone, Copy)]
struct Run {
    channels: Value,
    values: Value,
    n: Value,
}

/// Vector blocks of an output row that `Emitter::run_into_row` sums in
/// registers at once (x86-64 has 16 vector registers; the loop needs a
/// weight and the splatted input besides).
const BATCH_REGISTERS: usize = 8;

/// What a scatter into a lazy conv node needs to wake a position up.
#[derive(Clone, Copy)]
pub struct LazyTarget {
    pub touched: Value,
    /// The receiver's voltages; its shadow row is at position `positions`.
    pub v: Value,
    pub positions: usize,
}

/// One term of a node's current: its values and, if filtered, the filter.
pub struct Input {
    pub u: Value,
    pub filter: Option<(Value, FilterSlotsV, Coefs)>,
    /// `u` already holds `gain * x` (a bias the driver scaled), so the
    /// node's gain is not applied again.
    pub scaled: bool,
    /// `u` is filled by scatters every step: read it, then zero it for the
    /// next step's scatters (instead of a separate pass that zeroes it).
    pub consume: bool,
}

/// A spike list being filled (see `SpikeListSlots`): its vectors'
/// addresses and its length (in groups).
#[derive(Clone, Copy)]
pub struct SpikeList {
    groups: Value,
    spikes: Value,
    len: Variable,
}

#[derive(Clone, Copy, Default)]
pub struct NeuronSlots {
    pub v: Option<Value>,
    pub r: Option<Value>,
    pub counts: Option<Value>,
    pub spike_list: Option<SpikeListSlots>,
    /// See `NodeSlots::out_unread`.
    pub out_unread: bool,
}

/// Which elements a node's update loop steps.
#[derive(Clone, Copy)]
enum Visit {
    /// Every element.
    All,
    /// The touched positions and the shadow row (see `LazySlots`), with
    /// the address of the per-position flags.
    Lazy(LazySlots, Value),
    /// The entries of a packed list (see `LifList`): the addresses of
    /// their count and of their neurons' indices, by which spikes are
    /// propagated.
    Packed { len: Value, index: Value },
}

/// Signature of an imported `f(x) -> x` math function.
pub fn unary_signature(
    module: &impl cranelift_module::Module,
    ty: Type,
) -> cranelift_codegen::ir::Signature {
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(ty));
    sig.returns.push(AbiParam::new(ty));
    sig
}

/// Emits the step of the nodes in `nodes`, in order (the compile driver
/// gives each node its own function: `codegen.rs`). Returns the nodes
/// whose spikes are summed in registers (`compact_into_registers`).
pub fn emit_step(
    e: &mut Emitter,
    net: &Network,
    model: &snnc_compiler::ir::Model,
    layout: &Layout,
    consts: &[NodeConsts],
    dt: f64,
    nodes: std::ops::Range<usize>,
) -> Vec<usize> {
    let mut in_registers = Vec::new();
    // Connections out of spiking nodes into dense and conv layers are fed
    // event by event from the source's update loop (see `scatter`).
    let scattered = |id: usize, i: usize| scattered_source(net, model, id, i);
    for (id, node) in net
        .nodes
        .iter()
        .enumerate()
        .take(nodes.end)
        .skip(nodes.start)
    {
        if node.op.role() != Role::Compute {
            continue;
        }
        let mut scatters = Vec::new();
        let mut finite = true;
        for (target, consumer) in net.nodes.iter().enumerate().skip(id + 1) {
            for i in 0..consumer.inputs.len() {
                if consumer.op == Op::Flatten || scattered(target, i) != Some(id) {
                    continue;
                }
                let Some(u) = layout.nodes[target].edges[i].u else {
                    continue;
                };
                let u = e.slot(u);
                let kernel = e.addr(consts[target].kernel);
                finite &= consts[target].kernel_finite;
                scatters.push(match consumer.op {
                    Op::Dense { units } => Scatter::Dense {
                        kernel,
                        u,
                        n_out: units,
                    },
                    Op::Conv2d { window: geom, .. } => Scatter::Conv {
                        kernel,
                        u,
                        geom,
                        lazy: layout.nodes[target].lazy.zip(layout.nodes[target].v).map(
                            |(l, v)| LazyTarget {
                                touched: e.slot(l.touched),
                                v: e.slot(v),
                                positions: l.positions,
                            },
                        ),
                    },
                    // `scattered_source` feeds only dense and conv layers.
                    Op::Input
                    | Op::DepthwiseConv2d { .. }
                    | Op::AvgPool { .. }
                    | Op::MaxPool { .. }
                    | Op::Flatten
                    | Op::Activation
                    | Op::Add => continue,
                });
            }
        }
        let settings = &model.nodes[id];
        let slots = &layout.nodes[id];
        let n = node.size();
        if let (Some(compact), Some(Neuron::SpikingRectifiedLinear { amplitude })) =
            (slots.compact, settings.neuron)
        {
            let spike = amplitude / settings.scale / dt;
            match registers_for(e, &scatters).filter(|_| finite) {
                Some(accs) => {
                    e.compact_into_registers(compact, spike, &scatters, accs);
                    in_registers.push(id);
                }
                None => {
                    let queue = slots.queue.map(|q| SpikeQueue::start(e, q));
                    e.compact_spiking_update(compact, spike, &scatters, queue);
                }
            }
            continue;
        }
        let mut inputs = Vec::new();
        let mut gain = if settings.neuron.is_some() {
            settings.scale
        } else {
            1.0
        };
        if let Some(j) = slots.j_const {
            // The current is constant over the presentation: read it (a
            // packed LIF node reads its listed neurons' copy).
            let j = slots.lif_list.map_or(j, |l| l.j);
            inputs.push(Input {
                u: e.slot(j),
                filter: None,
                scaled: false,
                consume: false,
            });
            gain = 1.0;
        }
        for (i, &src) in node
            .inputs
            .iter()
            .enumerate()
            .filter(|_| slots.j_const.is_none())
        {
            let edge = &slots.edges[i];
            let src_node = &net.nodes[net.storage_of(src)];
            let x = e.slot(layout.nodes[src].out);
            let u = match edge.u {
                // Identity connections (activation, add) read the source in place.
                None => x,
                Some(buffer) => {
                    let u = e.slot(buffer);
                    if !edge.precomputed && scattered(id, i).is_none() {
                        match node.op {
                            Op::Dense { units } => {
                                let kernel = e.addr(consts[id].kernel);
                                e.dense(x, kernel, u, src_node.size(), units);
                            }
                            Op::Conv2d { window, .. } => {
                                let kernel = e.addr(consts[id].kernel);
                                e.conv2d(x, kernel, u, &window);
                            }
                            Op::DepthwiseConv2d { window, .. } => {
                                let kernel = e.addr(consts[id].kernel);
                                e.depthwise_conv2d(x, kernel, u, &window);
                            }
                            Op::AvgPool { window } | Op::MaxPool { window } => {
                                e.pool(
                                    x,
                                    u,
                                    window.input,
                                    window.output,
                                    window.kernel,
                                    window.strides,
                                    matches!(node.op, Op::MaxPool { .. }),
                                );
                            }
                            // Identity connections read their source in
                            // place (`edge.u` is `None`); an input or a
                            // flatten has no connection of its own.
                            Op::Input | Op::Flatten | Op::Activation | Op::Add => {}
                        }
                    }
                    u
                }
            };
            let filter = filter_of(e, edge.filter, settings.input_synapses[i], dt);
            inputs.push(Input {
                u,
                filter,
                scaled: false,
                consume: scattered(id, i).is_some(),
            });
        }
        if let (Some(bias), None) = (consts[id].bias, slots.j_const) {
            let u = e.addr(bias);
            let filter = filter_with(e, slots.bias_filter, bias_coefs(settings, dt));
            inputs.push(Input {
                u,
                filter,
                scaled: consts[id].bias_scaled,
                consume: false,
            });
        }
        let out = e.slot(slots.out);
        let state = match slots.lif_list {
            Some(l) => NeuronSlots {
                v: Some(e.slot(l.v)),
                r: Some(e.slot(l.r)),
                counts: Some(e.slot(l.counts)),
                spike_list: slots.spike_list,
                out_unread: slots.out_unread,
            },
            None => NeuronSlots {
                v: slots.v.map(|o| e.slot(o)),
                r: slots.r.map(|o| e.slot(o)),
                counts: slots.counts.map(|o| e.slot(o)),
                spike_list: slots.spike_list,
                out_unread: slots.out_unread,
            },
        };
        let visit = match (slots.lazy, slots.lif_list) {
            (Some(l), _) => Visit::Lazy(l, e.slot(l.touched)),
            (None, Some(l)) => Visit::Packed {
                len: e.slot(l.len),
                index: e.slot(l.index),
            },
            (None, None) => Visit::All,
        };
        let queue = slots.queue.map(|q| SpikeQueue::start(e, q));
        e.node_update(
            n,
            &inputs,
            gain,
            settings.neuron,
            settings.scale,
            dt,
            out,
            state,
            &scatters,
            visit,
            queue,
        );
    }
    in_registers
}

/// At most this many values carried in registers through a compact loop
/// (x86-64 has 16 vector registers; the loop needs a few of its own).
const MAX_CARRIED: usize = 10;

/// The accumulators `compact_into_registers` carries for `scatters`, as
/// `(type, buffer, byte offset)` in the order it adds into them: whole
/// vector blocks of each target, then its remaining elements. `None` when
/// some target is a conv layer or they need too many registers.
fn registers_for(e: &Emitter, scatters: &[Scatter]) -> Option<Vec<(Type, Value, i32)>> {
    let mut accs = Vec::new();
    for t in scatters {
        let Scatter::Dense { u, n_out, .. } = *t else {
            return None;
        };
        let blocks = if e.vector.is_some() { n_out / LANES } else { 0 };
        for blk in 0..blocks {
            let ty = e.val_type(true);
            accs.push((ty, u, (blk * LANES) as i32 * e.elem as i32));
        }
        for j in blocks * LANES..n_out {
            accs.push((e.ty, u, j as i32 * e.elem as i32));
        }
    }
    (!accs.is_empty() && accs.len() <= MAX_CARRIED).then_some(accs)
}

/// The constants one node's update loop multiplies by: the gain, the
/// filter coefficients of its inputs and the neuron's own constants (the
/// same values `node_update` and `neuron_step` ask `konst` for).
fn loop_constants(
    inputs: &[Input],
    gain: f64,
    neuron: Option<Neuron>,
    scale: f64,
    dt: f64,
) -> Vec<f64> {
    let mut values = Vec::new();
    if gain != 1.0 {
        values.push(gain);
    }
    for (_, _, coefs) in inputs.iter().filter_map(|input| input.filter) {
        match coefs {
            Coefs::Lowpass { a, b } => values.extend([a, b]),
            Coefs::Alpha { a, b, c1 } => {
                values.extend([a[0][0], a[0][1], b[0], a[1][0], a[1][1], b[1], c1])
            }
        }
    }
    match neuron {
        Some(Neuron::RectifiedLinear { amplitude }) => values.push(amplitude / scale),
        Some(Neuron::SpikingRectifiedLinear { amplitude }) => {
            values.extend([dt, amplitude / scale / dt])
        }
        Some(Neuron::Lif {
            tau_rc,
            min_voltage,
            amplitude,
            ..
        }) => values.extend([0.0, 1.0, dt, tau_rc, min_voltage, amplitude / scale / dt]),
        Some(Neuron::LifRate { .. } | Neuron::Sigmoid { .. } | Neuron::Tanh { .. }) | None => {}
    }
    values
}

fn filter_of(
    e: &mut Emitter,
    slots: Option<FilterSlots>,
    synapse: snnc_compiler::ir::Synapse,
    dt: f64,
) -> Option<(Value, FilterSlotsV, Coefs)> {
    filter_with(e, slots, coefs(synapse, dt))
}

/// The bias path's coefficients: the relay's synapse and the bias synapse
/// in series, as the reference computes them (`Coefs::chain`;
/// `engine::validate`, which runs before any compilation, refuses a pair it
/// cannot chain).
fn bias_coefs(settings: &snnc_compiler::ir::NodeSettings, dt: f64) -> Option<Coefs> {
    use crate::reference::synapses::Coefs as Reference;
    match Reference::<f64>::chain(settings.bias_relay_synapse, settings.bias_synapse, dt) {
        Ok(Some(Reference::Lowpass { a, b })) => Some(Coefs::Lowpass { a, b }),
        Ok(Some(Reference::Alpha { a, b, c1 })) => Some(Coefs::Alpha { a, b, c1 }),
        Ok(None) | Err(_) => None,
    }
}

fn filter_with(
    e: &mut Emitter,
    slots: Option<FilterSlots>,
    coefs: Option<Coefs>,
) -> Option<(Value, FilterSlotsV, Coefs)> {
    let (slots, coefs) = slots.zip(coefs)?;
    Some(match slots {
        FilterSlots::Lowpass { y } => (e.slot(y), FilterSlotsV::Lowpass, coefs),
        FilterSlots::Alpha { y, x0, x1 } => (
            e.slot(y),
            FilterSlotsV::Alpha {
                x0: e.slot(x0),
                x1: e.slot(x1),
            },
            coefs,
        ),
    })
}
