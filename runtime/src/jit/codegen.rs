//! The compile driver: settings -> ISA -> module -> one Cranelift function
//! per node -> machine code on every core -> defined -> finalized.
//!
//! Why one function per node rather than one step function: Cranelift
//! compiles functions independently, so the nodes of a deep network
//! compile in parallel, and the register allocator works on small
//! functions (its cost grows faster than the code). Nothing is lost at run
//! time: no value lives in a register from one node's update to the next
//! (each loads its state from the arena), so the driver calls the node
//! functions in order, one indirect call per node per step.
//!
//! Lowering ([`lower`]) and compiling ([`Lowered::compile`]) are two
//! steps, so that a caller can look at the IR first: its size is what
//! `snnc run` estimates the compile time from (docs/architecture.md), and its text
//! is what `snnc check --emit clif` prints (formatting it costs as much as
//! a seventh of the compile, so compiling never does).

use std::pin::Pin;
use std::sync::Mutex;

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{types, AbiParam, Function, InstBuilder, UserFuncName};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module, ModuleReloc};
use snnc_compiler::ir::{Model, Network, Role};

use super::layout::Layout;
use super::libm;
use super::lower::{self, emit_step, Emitter, Libm, NodeConsts};
use super::wide::Kernels;
use crate::engine::SimError;

fn err(e: impl std::fmt::Debug) -> SimError {
    SimError {
        message: format!("JIT compilation failed: {e:?}"),
    }
}

/// A model's step as Cranelift IR, one function per node that does work,
/// not yet compiled.
pub struct Lowered {
    module: JITModule,
    functions: Vec<NodeFunction>,
    /// Constants the code loads by address (see `Emitter::hoist`).
    pub constants: Vec<Pin<Box<[u64; 2]>>>,
    /// The nodes whose spikes are summed in registers (see
    /// `Emitter::compact_into_registers`).
    pub in_registers: Vec<usize>,
    /// The nodes whose code calls a precompiled loop (see `wide`).
    pub precompiled: Vec<usize>,
}

struct NodeFunction {
    node: usize,
    id: FuncId,
    func: Function,
}

/// The compiled step: the node functions, to call in order.
pub struct Compiled {
    pub module: JITModule,
    pub steps: Vec<extern "C" fn(*mut u8)>,
    pub constants: Vec<Pin<Box<[u64; 2]>>>,
}

/// The ISA flags. The IR verifier runs in debug builds (the tests) only:
/// in a release build it was a third of the compile time, checking IR
/// that the same emitters produce for every network.
fn module(f64_mode: bool) -> Result<JITModule, SimError> {
    let mut flag_builder = settings::builder();
    flag_builder.set("opt_level", "speed").map_err(err)?;
    flag_builder
        .set("use_colocated_libcalls", "false")
        .map_err(err)?;
    flag_builder.set("is_pic", "false").map_err(err)?;
    let verify = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    flag_builder.set("enable_verifier", verify).map_err(err)?;
    let isa = cranelift_native::builder()
        .map_err(err)?
        .finish(settings::Flags::new(flag_builder))
        .map_err(err)?;
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, f32_fn, f64_fn) in libm::FUNCTIONS {
        jb.symbol(
            format!("snnc_{name}"),
            if f64_mode { f64_fn } else { f32_fn },
        );
    }
    Ok(JITModule::new(jb))
}

/// Lowers every node of `net` that does work to its own function
/// `fn(arena)`.
pub fn lower(
    net: &Network,
    model: &Model,
    layout: &Layout,
    consts: &[NodeConsts],
    dt: f64,
    f64_mode: bool,
    kernels: Kernels,
) -> Result<Lowered, SimError> {
    let mut module = module(f64_mode)?;
    let ty = if f64_mode { types::F64 } else { types::F32 };
    let ptr = module.target_config().pointer_type();
    let mut step_sig = module.make_signature();
    step_sig.params.push(AbiParam::new(ptr));
    let unary = lower::unary_signature(&module, ty);
    let mut libm_ids = Vec::new();
    for name in ["expm1", "log1p", "exp", "tanh"] {
        let id = module
            .declare_function(&format!("snnc_{name}"), Linkage::Import, &unary)
            .map_err(err)?;
        libm_ids.push(id);
    }
    let mut fbc = FunctionBuilderContext::new();
    let mut functions = Vec::new();
    let mut constants = Vec::new();
    let mut in_registers = Vec::new();
    let mut precompiled = Vec::new();
    for (node, n) in net.nodes.iter().enumerate() {
        // The same nodes `emit_step` skips: they have no update.
        if n.op.role() != Role::Compute {
            continue;
        }
        let id = module
            .declare_function(&format!("node{node}"), Linkage::Local, &step_sig)
            .map_err(err)?;
        let mut func =
            Function::with_name_signature(UserFuncName::user(0, id.as_u32()), step_sig.clone());
        let mut import = |index: usize| module.declare_func_in_func(libm_ids[index], &mut func);
        let libm = Libm {
            expm1: import(0),
            log1p: import(1),
            exp: import(2),
            tanh: import(3),
        };
        let mut b = FunctionBuilder::new(&mut func, &mut fbc);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let arena = b.block_params(entry)[0];
        let vector = (!f64_mode).then_some(types::F32X4);
        let mut e = Emitter::new(&mut b, ty, vector, arena, libm, kernels);
        in_registers.extend(emit_step(
            &mut e,
            net,
            model,
            layout,
            consts,
            dt,
            node..node + 1,
        ));
        constants.append(&mut e.pool);
        if e.called_kernel {
            precompiled.push(node);
        }
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(module.target_config());
        functions.push(NodeFunction { node, id, func });
    }
    Ok(Lowered {
        module,
        functions,
        constants,
        in_registers,
        precompiled,
    })
}

/// One function's machine code, ready to define in the module.
struct MachineCode {
    bytes: Vec<u8>,
    alignment: u64,
    relocs: Vec<ModuleReloc>,
    disasm: Option<String>,
}

impl Lowered {
    /// Cranelift IR instructions in all functions: what the compile time
    /// grows with.
    pub fn instructions(&self) -> usize {
        self.functions
            .iter()
            .map(|f| {
                f.func
                    .layout
                    .blocks()
                    .map(|b| f.func.layout.block_insts(b).count())
                    .sum::<usize>()
            })
            .sum()
    }

    /// The threads [`Lowered::compile`] will compile on.
    pub fn threads(&self) -> usize {
        if self.instructions() < PARALLEL_FROM {
            1
        } else {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            cores.min(self.functions.len()).max(1)
        }
    }

    /// The IR as text, each function headed by its node's name.
    pub fn clif(&self, net: &Network) -> String {
        self.functions
            .iter()
            .map(|f| format!("; node `{}`\n{}", net.nodes[f.node].name, f.func.display()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Compiles every function on [`Lowered::threads`] threads (the
    /// largest first, so that no core is left with a big one at the end),
    /// then defines and finalizes them in node order.
    pub fn compile(self) -> Result<Compiled, SimError> {
        let threads = self.threads();
        let Lowered {
            mut module,
            functions,
            constants,
            ..
        } = self;
        // SNNC_JIT_DISASM=1 prints the machine code (for tuning the lowering).
        let disasm = std::env::var_os("SNNC_JIT_DISASM").is_some();
        let ids: Vec<FuncId> = functions.iter().map(|f| f.id).collect();
        let mut work: Vec<(usize, FuncId, Mutex<Option<Function>>)> = functions
            .into_iter()
            .enumerate()
            .map(|(index, f)| (index, f.id, Mutex::new(Some(f.func))))
            .collect();
        work.sort_by_key(|(_, _, f)| {
            std::cmp::Reverse(
                f.lock()
                    .map_or(0, |f| f.as_ref().map_or(0, |f| f.dfg.num_insts())),
            )
        });
        let isa = module.isa();
        let compile =
            |ctx: &mut Context, (_, id, func): &(usize, FuncId, Mutex<Option<Function>>)| {
                let taken = func.lock().ok().and_then(|mut f| f.take());
                let Some(func) = taken else {
                    return Err("a function was compiled twice".to_string());
                };
                compile_one(ctx, isa, *id, func, disasm)
            };
        let compiled: Vec<Result<MachineCode, String>> = if threads == 1 {
            let mut ctx = Context::new();
            work.iter().map(|w| compile(&mut ctx, w)).collect()
        } else {
            crate::parallel::map_in_order(&work, Context::new, compile, &|_| {})
        };
        let mut by_function: Vec<Option<MachineCode>> = Vec::new();
        by_function.resize_with(work.len(), || None);
        for ((index, _, _), code) in work.iter().zip(compiled) {
            by_function[*index] = Some(code.map_err(err)?);
        }
        let mut sizes = Vec::new();
        for (&id, code) in ids.iter().zip(by_function) {
            let Some(code) = code else {
                return Err(err("a function was not compiled"));
            };
            if let Some(text) = &code.disasm {
                eprintln!("{text}");
            }
            module
                .define_function_bytes(id, code.alignment, &code.bytes, &code.relocs)
                .map_err(err)?;
            sizes.push(code.bytes.len());
        }
        module.finalize_definitions().map_err(err)?;
        let code: Vec<*const u8> = ids
            .iter()
            .map(|&id| module.get_finalized_function(id))
            .collect();
        dump(&code, &sizes);
        let steps = code
            .iter()
            .map(|&p| {
                // SAFETY: each function was just compiled with the
                // signature `fn(arena_ptr)`, and the module that owns it
                // is returned with it.
                unsafe { std::mem::transmute::<*const u8, extern "C" fn(*mut u8)>(p) }
            })
            .collect();
        Ok(Compiled {
            module,
            steps,
            constants,
        })
    }
}

/// IR instructions below which the functions compile on the calling
/// thread (about 10 ms of compile): a small network compiles in about a
/// millisecond, less than waiting for worker threads to be scheduled on a
/// busy machine (the seed network: 0.9 ms serial against 5.7 ms on two
/// threads, medians of 9 runs while other engineers' builds ran).
const PARALLEL_FROM: usize = 2_000;

/// One function to machine code, with what defining it needs.
fn compile_one(
    ctx: &mut Context,
    isa: &dyn cranelift_codegen::isa::TargetIsa,
    id: FuncId,
    func: Function,
    disasm: bool,
) -> Result<MachineCode, String> {
    ctx.clear();
    ctx.func = func;
    ctx.set_disasm(disasm);
    ctx.compile(isa, &mut ControlPlane::default())
        .map_err(|e| format!("{:?}", e.inner))?;
    let Some(code) = ctx.compiled_code() else {
        return Err("no code was produced".to_string());
    };
    Ok(MachineCode {
        bytes: code.code_buffer().to_vec(),
        alignment: u64::from(code.buffer.alignment),
        relocs: code
            .buffer
            .relocs()
            .iter()
            .map(|r| ModuleReloc::from_mach_reloc(r, &ctx.func, id))
            .collect(),
        disasm: code.vcode.clone(),
    })
}

/// SNNC_JIT_DUMP=file writes the machine code of every node function, one
/// after the other, and prints where each starts in memory and in the
/// file, so profiler samples (`perf script`) map to `objdump -D -b binary
/// -m i386:x86-64` offsets.
fn dump(code: &[*const u8], sizes: &[usize]) {
    let Some(path) = std::env::var_os("SNNC_JIT_DUMP") else {
        return;
    };
    let mut bytes = Vec::new();
    for (k, (&p, &size)) in code.iter().zip(sizes).enumerate() {
        eprintln!(
            "function {k}: {size} bytes at {p:p}, file offset {}",
            bytes.len()
        );
        // SAFETY: `p` points at the `size` bytes just finalized.
        bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(p, size) });
    }
    if let Err(e) = std::fs::write(&path, bytes) {
        eprintln!("cannot write {}: {e}", path.to_string_lossy());
    }
}
