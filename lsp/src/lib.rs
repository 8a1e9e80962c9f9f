//! The snnc language server (`snnc lsp`): diagnostics, hover, go to
//! definition, find references and completion for `.snn` specs, over stdio.
//!
//! Built on `lsp-server` (the synchronous scaffold rust-analyzer uses) and
//! `gen-lsp-types`; no async runtime. Documents are synced whole and checked
//! again on every change; checking a spec takes well under a millisecond.

mod completion;
pub mod diagnostics;
pub mod document;
mod files;
pub mod hover;
pub mod position;
mod server;
pub mod transport;

pub use completion::complete;
pub use server::{capabilities, run_stdio, serve, Server};
