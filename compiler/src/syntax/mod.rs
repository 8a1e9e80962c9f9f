//! Text to syntax tree. `parse` never fails: it returns the tree of every
//! line that parsed and one diagnostic per line that did not.

pub mod ast;
mod parser;

pub use parser::parse;
