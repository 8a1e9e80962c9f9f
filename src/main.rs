//! `snnc`: the command-line driver. Each subcommand lives in its own module
//! under `src/cli/`; this file only parses arguments and dispatches.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_sigpipe();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Rust ignores SIGPIPE, so `snnc run ... | head` would panic in `println!`
/// once `head` exits. Like other command-line tools, stop quietly instead.
#[cfg(target_os = "linux")]
fn restore_sigpipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: setting a signal's disposition to the default is async-safe
    // and happens before any other thread exists.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

#[cfg(not(target_os = "linux"))]
fn restore_sigpipe() {}
