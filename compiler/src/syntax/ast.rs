//! The syntax tree: what the user wrote, with spans, before any meaning is
//! given to it. The grammar is generic (blocks of statements), so the tree is
//! small; the checker gives keys, calls and names their meaning.

use crate::span::{Span, Spanned};

pub type Ident = Spanned<String>;

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Block(Block),
    Stmt(Stmt),
}

/// `kind name from base { body }`, e.g. `convert spiking from mnist { ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub kind: Ident,
    pub name: Option<Ident>,
    pub from: Option<Ident>,
    pub body: Vec<Stmt>,
    /// From the kind to the closing brace.
    pub span: Span,
    /// The header line, `kind name from base {`, for labels that point at
    /// the block as a whole without underlining its body.
    pub header: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `input image: 28x28x1`
    Input {
        name: Ident,
        shape: Expr,
        span: Span,
    },
    /// `swap relu -> spiking_relu`, `synapse a -> b = lowpass(5ms)`
    Arrow {
        key: Ident,
        from: Expr,
        to: Expr,
        value: Option<Expr>,
        span: Span,
    },
    /// `key = value`, `key target = value, arg=...`
    Assign {
        key: Ident,
        target: Option<Ident>,
        value: Expr,
        extra: Vec<Arg>,
        span: Span,
    },
    /// A line that did not parse (already reported). What could be read
    /// from its start is kept, so that the checker knows what the line
    /// meant to define and does not report it again as unknown or missing:
    /// for `conv1 = conv2d(x, filters=32 kernel=3x3)` the key `conv1`, for
    /// `loss pred = mse(` the key `loss` and the target `pred`, for
    /// `input image 28x28x1` the key `input` and the target `image`.
    Broken {
        key: Option<Ident>,
        target: Option<Ident>,
        span: Span,
    },
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Input { span, .. }
            | Stmt::Arrow { span, .. }
            | Stmt::Assign { span, .. }
            | Stmt::Broken { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(f64),
    /// A number with a unit glued to it; the unit is checked later so that a
    /// misspelt unit gets a "did you mean".
    Quantity {
        value: f64,
        unit: Ident,
    },
    /// `28x28x1`
    Shape(Vec<u64>),
    Str(String),
    Ident(String),
    Call {
        name: Ident,
        args: Vec<Arg>,
    },
}

/// A positional (`image`) or named (`filters=32`) argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

impl Arg {
    pub fn span(&self) -> Span {
        match &self.name {
            Some(n) => n.span.to(self.value.span),
            None => self.value.span,
        }
    }
}

impl ExprKind {
    /// How the value reads in a message: "a number", "a shape", ...
    pub fn describe(&self) -> &'static str {
        match self {
            ExprKind::Number(_) => "a number",
            ExprKind::Quantity { .. } => "a quantity with a unit",
            ExprKind::Shape(_) => "a shape",
            ExprKind::Str(_) => "a string",
            ExprKind::Ident(_) => "a name",
            ExprKind::Call { .. } => "a call",
        }
    }
}
