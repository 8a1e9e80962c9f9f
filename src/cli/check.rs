//! `snnc check FILE...`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use snnc_compiler::diagnostic::{render_json, render_text};
use snnc_compiler::check_source;

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
}

pub fn run(args: CheckArgs) -> Result<ExitCode, String> {
    let mut failed = false;
    let color = stderr_color();
    for path in &args.files {
        let file = match read_source(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
                continue;
            }
        };
        let checked = check_source(&file.text);
        match args.message_format {
            MessageFormat::Human => eprint!("{}", render_text(&file, &checked.diagnostics, color)),
            MessageFormat::Json => print!("{}", render_json(&file, &checked.diagnostics)),
        }
        match checked.program {
            None => failed = true,
            Some(program) => {
                if args.emit == Some(Emit::Ir) {
                    let ir = snnc_compiler::ir::to_ron(&program).map_err(|e| format!("cannot write the IR: {e}"))?;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{ir}");
                }
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
