//! The snnc language server (`snnc lsp`): diagnostics, hover, go to
//! definition, find references and completion for `.snn` specs, over stdio.
//!
//! Built on `lsp-server` (the synchronous scaffold rust-analyzer uses) and
//! `gen-lsp-types`; no async runtime. Documents are synced whole and checked
//! again on every change; checking a spec takes well under a millisecond.

pub mod diagnostics;
pub mod position;
