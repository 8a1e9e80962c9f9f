//! Data sources: `mnist_idx(...)`, `idx(...)`, `npz(...)`.

use super::suggest::hint;
use super::values::{self as v, Call, Diags};
use super::vocabulary::{call_args, DATA_SOURCES as SOURCES};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{DataKind, DataSource, Network, Split};
use crate::syntax::ast::{Expr, ExprKind, Item, Stmt};

/// A data source written on a command line (`mnist_idx("data", split=train,
/// offset=54000)`), checked like `data = ...` in a block. On errors, the
/// checker's messages with their help, one per line.
pub fn data_source_from_text(text: &str) -> Result<DataSource, String> {
    let source = format!("run {{\n    data = {text}\n}}\n");
    let (file, mut diags) = crate::syntax::parse(&source);
    let value = file.items.iter().find_map(|item| match item {
        Item::Block(b) => b.body.iter().find_map(|st| match st {
            Stmt::Assign { key, value, .. } if key.node == "data" => Some(value),
            _ => None,
        }),
        Item::Stmt(_) => None,
    });
    let parsed = value.and_then(|e| data_source(e, &mut diags));
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| match &d.help {
            Some(h) => format!("{} ({h})", d.message),
            None => d.message.clone(),
        })
        .collect();
    match parsed {
        Some(src) if errors.is_empty() => Ok(src),
        _ if errors.is_empty() => Err(format!(
            "`{text}` is not a data source such as `mnist_idx(\"data/mnist\", split=test)`"
        )),
        _ => Err(errors.join("\n")),
    }
}

/// The positional argument a source starts with (its directory or file),
/// read by `read`; when it is missing, an error with the `(message, label,
/// help)` given.
fn leading_path(
    call: &Call,
    e: &Expr,
    read: fn(&Expr, &str, &mut Diags) -> Option<String>,
    what: &str,
    (message, label, help): (&str, &str, &str),
    d: &mut Diags,
) -> Option<String> {
    match call.positional.first() {
        Some(p) => read(p, what, d),
        None if call.misplaced => None,
        None => {
            d.push(
                Diagnostic::error(Code::Missing, e.span, message)
                    .label(label)
                    .help(help),
            );
            None
        }
    }
}

pub fn data_source(e: &Expr, d: &mut Diags) -> Option<DataSource> {
    let ExprKind::Call { name, .. } = &e.kind else {
        d.push(
            Diagnostic::error(Code::WrongType, e.span, format!("data must be a source such as `mnist_idx(\"data/mnist\", split=test)`, found {}", e.kind.describe()))
                .label("expected a data source")
                .help(format!("sources: {}", super::suggest::one_of(&SOURCES))),
        );
        return None;
    };
    let allowed = match name.node.as_str() {
        k if SOURCES.contains(&k) => call_args(k).unwrap_or_default(),
        other => {
            d.push(
                Diagnostic::error(
                    Code::UnknownKeyword,
                    name.span,
                    format!("unknown data source `{other}`"),
                )
                .label("not a data source")
                .help(hint(other, &SOURCES)),
            );
            return None;
        }
    };
    let call = Call::new(e, &allowed, d)?;
    let kind = match name.node.as_str() {
        "mnist_idx" => {
            call.at_most_positional(1, d);
            let dir = leading_path(
                &call,
                e,
                v::string,
                "the MNIST directory",
                (
                    "`mnist_idx` needs the directory holding the IDX files",
                    "no directory",
                    "write `mnist_idx(\"data/mnist\", split=test)`",
                ),
                d,
            );
            let split = call
                .require("split", "split=test", d)
                .and_then(|s| v::keyword(s, "split", super::vocabulary::value_words("split"), d))
                .map(|s| {
                    if s == "train" {
                        Split::Train
                    } else {
                        Split::Test
                    }
                });
            DataKind::MnistIdx {
                dir: dir?,
                split: split?,
            }
        }
        "idx" => {
            call.at_most_positional(0, d);
            let images = call
                .require("images", "images=\"images-idx3-ubyte.gz\"", d)
                .and_then(|x| v::file_path(x, "`images`", d));
            let labels = call
                .require("labels", "labels=\"labels-idx1-ubyte.gz\"", d)
                .and_then(|x| v::file_path(x, "`labels`", d));
            DataKind::Idx {
                images: images?,
                labels: labels?,
            }
        }
        "npy" => {
            call.at_most_positional(1, d);
            let x = leading_path(
                &call,
                e,
                v::file_path,
                "the examples' .npy path",
                (
                    "`npy` needs the path of the examples' file",
                    "no path",
                    "write `npy(\"x.npy\", labels=\"y.npy\")`",
                ),
                d,
            );
            let labels = match call.get("labels") {
                Some(l) => Some(v::file_path(l, "`labels`", d)?),
                None => None,
            };
            DataKind::Npy { x: x?, labels }
        }
        _ => {
            call.at_most_positional(1, d);
            let path = leading_path(
                &call,
                e,
                v::file_path,
                "the .npz path",
                (
                    "`npz` needs the path of the file",
                    "no path",
                    "write `npz(\"data.npz\", x=\"x\", y=\"y\")`",
                ),
                d,
            );
            let x = call
                .get("x")
                .map_or(Some("x".to_string()), |x| v::string(x, "`x`", d));
            // `y=none`: the file holds no labels (predictions only).
            let y = match call.get("y") {
                None => Some(Some("y".to_string())),
                Some(y) if matches!(&y.kind, ExprKind::Ident(w) if w == "none") => Some(None),
                Some(y) => v::string(y, "`y`", d).map(Some),
            };
            DataKind::Npz {
                path: path?,
                x: x?,
                y: y?,
            }
        }
    };
    let limit = match call.get("limit") {
        Some(x) => Some(v::count(x, "`limit`", 1, d)?),
        None => None,
    };
    let offset = call
        .get("offset")
        .map_or(Some(0), |x| v::count(x, "`offset`", 0, d))?;
    let pixel_max = match call.get("pixel_max") {
        Some(x) => {
            v::number(x, "`pixel_max`", d).and_then(|p| v::positive(p, x.span, "`pixel_max`", d))?
        }
        None => 1.0,
    };
    Some(DataSource {
        kind,
        limit,
        offset,
        pixel_max,
        span: e.span,
    })
}

/// MNIST images are 28x28x1: a network reading them must take 784 values.
/// `incomplete` says the network has lines with errors, which may be where
/// its missing input is.
pub fn check_fits(src: &DataSource, net: &Network, incomplete: bool, d: &mut Diags) {
    if !matches!(src.kind, DataKind::MnistIdx { .. }) {
        return; // other sources are checked when loaded
    }
    let inputs: Vec<usize> = net.inputs().collect();
    if inputs.len() != 1 {
        if incomplete {
            return;
        }
        d.push(
            Diagnostic::error(
                Code::ShapeMismatch,
                src.span,
                format!(
                    "MNIST data feeds one input, but `{}` has {}",
                    net.name,
                    inputs.len()
                ),
            )
            .label("one image per example")
            .with_secondary(net.span, "network defined here"),
        );
        return;
    }
    let node = &net.nodes[inputs[0]];
    if node.size() != 28 * 28 {
        let shape = node
            .shape
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("x");
        d.push(
            Diagnostic::error(
                Code::ShapeMismatch,
                src.span,
                format!(
                    "MNIST images are 28x28x1, but input `{}` is {shape}",
                    node.name
                ),
            )
            .label("28x28x1 images (784 values)")
            .with_secondary(node.span, format!("declared {shape} here"))
            .help("declare the input as `28x28x1` (or `784`)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_source_from_a_command_line() {
        let src = data_source_from_text("mnist_idx(\"d\", split=train, offset=54000)").unwrap();
        assert_eq!(src.offset, 54000);
        assert!(matches!(
            src.kind,
            DataKind::MnistIdx {
                split: Split::Train,
                ..
            }
        ));
        let e = data_source_from_text("mnist(\"d\")").unwrap_err();
        assert!(e.contains("unknown data source `mnist`"), "{e}");
        let e = data_source_from_text("mnist_idx(\"d\", split=train").unwrap_err();
        assert!(!e.is_empty());
    }
}
