//! `snnc`: the command-line driver. Each subcommand lives in its own module
//! under `src/cli/`; this file only parses arguments and dispatches.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_sigpipe();
    clean_up_on_interrupt();
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

/// On Ctrl-C (SIGINT) or SIGTERM, remove the temp and lock files of the
/// writes in progress (a params save, `snnc train`'s lock on its save path)
/// before exiting with 128 + the signal, as the default action's status
/// reads in a shell.
#[cfg(target_os = "linux")]
fn clean_up_on_interrupt() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
        fn _exit(status: i32) -> !;
    }
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    extern "C" fn on_signal(signum: i32) {
        snnc_runtime::io::remove_interrupted_files();
        // SAFETY: `_exit` is async-signal-safe and ends the process.
        unsafe { _exit(128 + signum) }
    }
    // SAFETY: the handler only reads atomics and calls `unlink` and
    // `_exit`, all async-signal-safe; installed before any other thread.
    unsafe {
        signal(SIGINT, on_signal as extern "C" fn(i32) as usize);
        signal(SIGTERM, on_signal as extern "C" fn(i32) as usize);
    }
}

#[cfg(not(target_os = "linux"))]
fn clean_up_on_interrupt() {}
