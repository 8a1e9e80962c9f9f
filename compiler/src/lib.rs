//! The snnc compiler: `.snn` text to a checked, typed IR.
//!
//! Layers, each depending only on the ones above it:
//! - [`span`], [`diagnostic`]: where things are and what went wrong;
//! - [`syntax`]: text to AST (pest), never stops at the first error;
//! - [`check`]: AST to [`ir`], resolving names, units and shapes;
//! - [`ir`]: what the simulator, the JIT and the trainer consume;
//! - [`render`]: IR back to spec text (a chosen variant as a `convert` block).

pub mod check;
pub mod diagnostic;
pub mod index;
pub mod ir;
pub mod ops;
pub mod render;
pub mod span;
pub mod syntax;

pub use check::{check_source, Checked};
pub use diagnostic::{Diagnostic, SourceFile};
