//! A spec's files as diagnostics on the spec: a params file that cannot be
//! read or does not fit its network is reported at the run block's
//! `params =` value (E0503), with the layers that declare the tensors it
//! names as related places. `snnc run` and the other commands report it
//! when they load the file; `snnc check` and the language server report it
//! before anything runs, for every params file that already exists.

use std::path::Path;

use snnc_compiler::diagnostic::{Code, Diagnostic};
use snnc_compiler::ir::{Network, Program};
use snnc_compiler::span::Span;

use crate::IoError;

/// A params file's problem at `span` (the run block's `params =` value).
/// The message and help are the [`IoError`]'s (file, place, fix); the
/// loader names each tensor in backquotes, which is how the declaring
/// layers are found.
pub fn params_diagnostic(net: &Network, span: Span, e: &IoError) -> Diagnostic {
    let mut d = Diagnostic::error(Code::BadParams, span, e.summary()).label("this params file");
    if let Some(help) = &e.help {
        d = d.help(help.clone());
    }
    for node in &net.nodes {
        let named: Vec<&str> = node
            .params
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| e.message.contains(&format!("`{name}`")))
            .collect();
        if !named.is_empty() {
            d = d.with_secondary(node.span, format!("declares `{}`", named.join("`, `")));
        }
    }
    d
}

/// The problems of every params file that `program`'s run blocks name and
/// that exists (relative to `dir`, the spec's directory), checked by
/// `check` (normally [`crate::params::load`]; the language server passes
/// one that remembers files it has read). A file that does not exist yet
/// is not a problem here: a train block may be about to write it, and
/// `snnc run` says so when it is still missing.
pub fn params_file_diagnostics(
    program: &Program,
    dir: &Path,
    mut check: impl FnMut(&Path, &Network) -> Result<(), IoError>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for run in &program.runs {
        let Some(params) = &run.params else { continue };
        let path = dir.join(params);
        if !path.is_file() {
            continue;
        }
        let net = program.network_of(&program.models[run.model]);
        if let Err(e) = check(&path, net) {
            out.push(params_diagnostic(net, run.params_span, &e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params;

    fn fits(path: &Path, net: &Network) -> Result<(), IoError> {
        params::load(path, net).map(drop)
    }

    fn checked(spec: &str) -> Program {
        let checked = snnc_compiler::check_source(spec);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        checked.program.expect("a clean spec has a program")
    }

    const SPEC: &str = "network n {\n    input x: 4\n    out = dense(x, units=2)\n}\nprobe p = out\nrun {\n    network = n\n    params = \"p.npz\"\n    data = npz(\"d.npz\")\n    present = 1ms\n    report = accuracy(p, at=last)\n}\n";

    #[test]
    fn a_params_file_that_does_not_fit_is_a_diagnostic_at_the_params_line() {
        let dir = std::env::temp_dir().join(format!("snnc-spec-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let program = checked(SPEC);
        // Missing: nothing to say yet.
        assert!(params_file_diagnostics(&program, &dir, fits).is_empty());
        // Saved for another network: `out.kernel` of the wrong shape.
        let other = checked(&SPEC.replace("input x: 4", "input x: 3"));
        let net = &other.networks[0];
        let mut tensors = params::NetParams {
            nodes: vec![params::NodeTensors::default(); net.nodes.len()],
        };
        let out = net.node("out").expect("the spec has `out`");
        tensors.nodes[out] = params::NodeTensors {
            kernel: ndarray::ArrayD::zeros(ndarray::IxDyn(&[3, 2])),
            bias: ndarray::ArrayD::zeros(ndarray::IxDyn(&[2])),
        };
        params::save(&dir.join("p.npz"), net, &tensors).expect("save");
        let diags = params_file_diagnostics(&program, &dir, fits);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(diags.len(), 1);
        let d = &diags[0];
        assert_eq!(d.code, Code::BadParams);
        assert_eq!(&SPEC[d.primary.span.start..d.primary.span.end], "\"p.npz\"");
        assert!(
            d.message.contains("`out.kernel` has shape (3, 2)"),
            "{}",
            d.message
        );
        assert_eq!(d.secondary.len(), 1, "the layer that declares it");
    }
}
