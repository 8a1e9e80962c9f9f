//! `snnc lsp`: the language server, speaking LSP over stdin and stdout.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct LspArgs {
    /// Accepted for clients that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

/// Serves until the client sends `exit`: exit code 0 after a `shutdown`
/// request, 1 otherwise (as the protocol asks).
pub fn run(_args: LspArgs) -> Result<ExitCode, String> {
    let clean = snnc_lsp::run_stdio()?;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
