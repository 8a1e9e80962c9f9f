//! `snnc check FILE...`

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use snnc_compiler::check_source;
use snnc_compiler::diagnostic::{render_json, render_json_unreadable, render_text};
use snnc_compiler::ir::{Model, Network, ParamRole, Precision, Program};
use snnc_runtime::engine::{NodeParams, Real, SimConfig};
use snnc_runtime::io::spec_files::params_file_diagnostics;
use snnc_runtime::jit::JitModel;
use snnc_runtime::params;

use super::spec::{read_source, stderr_color};

use super::MessageFormat;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The `.snn` files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// Also print an intermediate form of each clean file to stdout.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub emit: Option<Emit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The typed IR, as RON.
    Ir,
    /// The Cranelift IR of each model's timestep, as the JIT generates it
    /// (weights are placeholders: the code is the same for any values).
    Clif,
}

pub fn run(args: CheckArgs) -> Result<ExitCode, String> {
    let mut failed = false;
    let color = stderr_color();
    for path in &args.files {
        let file = match read_source(path) {
            Ok(f) => f,
            Err(e) => {
                match args.message_format {
                    MessageFormat::Human => eprintln!("error: {e}"),
                    MessageFormat::Json => {
                        print!(
                            "{}",
                            render_json_unreadable(&path.display().to_string(), &e)
                        )
                    }
                }
                failed = true;
                continue;
            }
        };
        let checked = check_source(&file.text);
        let mut diagnostics = checked.diagnostics;
        if let Some(program) = &checked.program {
            let dir = path.parent().unwrap_or(Path::new("."));
            let files =
                params_file_diagnostics(program, dir, |p, net| params::load(p, net).map(drop));
            failed |= !files.is_empty();
            diagnostics.extend(files);
        }
        match args.message_format {
            MessageFormat::Human => eprint!("{}", render_text(&file, &diagnostics, color)),
            MessageFormat::Json => print!("{}", render_json(&file, &diagnostics)),
        }
        match checked.program {
            None => failed = true,
            Some(program) => {
                let text = match args.emit {
                    None => continue,
                    Some(Emit::Ir) => snnc_compiler::ir::to_ron(&program)
                        .map_err(|e| format!("cannot write the IR: {e}"))?,
                    Some(Emit::Clif) => clif(&program)?,
                };
                let _ = writeln!(std::io::stdout().lock(), "{text}");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Every model's generated step function, in the precision and dt of the
/// first run block that uses it (f32 and 1 ms otherwise).
fn clif(program: &Program) -> Result<String, String> {
    let mut out = String::new();
    for (index, model) in program.models.iter().enumerate() {
        let net = program.network_of(model);
        let run = program.runs.iter().find(|r| r.model == index);
        let dt = run.map_or(0.001, |r| r.dt);
        let f64_mode = run.is_some_and(|r| r.precision == Precision::F64);
        let text = if f64_mode {
            model_clif::<f64>(net, model, dt)?
        } else {
            model_clif::<f32>(net, model, dt)?
        };
        let precision = if f64_mode { "f64" } else { "f32" };
        out.push_str(&format!(
            "; model `{}` ({precision}, dt {} ms)\n{text}\n",
            model.name,
            dt * 1e3
        ));
    }
    Ok(out)
}

fn model_clif<T: Real>(net: &Network, model: &Model, dt: f64) -> Result<String, String> {
    super::memory::check_compile(net, std::mem::size_of::<T>() as u64)?;
    let params: Vec<NodeParams<T>> = net
        .nodes
        .iter()
        .map(|node| {
            let mut p = NodeParams::default();
            for spec in &node.params {
                let zeros = vec![T::zero(); spec.shape.iter().product()];
                match spec.role {
                    ParamRole::Kernel => p.kernel = zeros,
                    ParamRole::Bias => p.bias = zeros,
                }
            }
            p
        })
        .collect();
    let cfg = SimConfig {
        dt,
        steps: 1,
        seed: 0,
    };
    JitModel::lower(net, model, &params, &[], &cfg)
        .map(|lowering| lowering.clif())
        .map_err(|e| e.to_string())
}
