//! `snnc import`: a Keras model file to a readable `.snn` spec and a params
//! `.npz` (see `docs/import.md`).
//!
//! - [`hdf5`]: the HDF5 files Keras writes, through the pure-Rust
//!   `hdf5-reader` crate (no C library), with errors naming file and object;
//! - [`keras`]: `.keras` zips and legacy `.h5` files, and the architecture
//!   JSON of Sequential and Functional models;
//! - [`convert`]: Keras layers to `.snn` layers, weights checked, batch
//!   normalization folded; every unconvertible layer is reported;
//! - [`emit`]: the spec text, checked with the compiler before it is
//!   handed out.

#![forbid(unsafe_code)]

pub mod convert;
pub mod emit;
pub mod hdf5;
pub mod keras;

use std::path::{Path, PathBuf};

use snnc_compiler::diagnostic::{render_text, SourceFile};
use snnc_compiler::ir::{Network, ParamRole};
use snnc_io::{write_atomic, write_npz, IoError, NdArray};

pub use convert::{LayerOutcome, SUPPORTED};

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The network name and file stem; default: the model file's stem.
    pub name: Option<String>,
}

/// A converted model, ready to be written.
#[derive(Debug)]
pub struct Imported {
    /// The network name (also the file stem).
    pub name: String,
    /// The `.snn` text; it checks clean.
    pub spec: String,
    /// `<layer>.kernel` / `<layer>.bias`, float32, Keras layouts, in
    /// network order.
    pub params: Vec<(String, NdArray)>,
    /// Remarks for the user (softmax dropped, folding, renamed layers).
    pub notes: Vec<String>,
    /// What became of each Keras layer.
    pub layers: Vec<LayerOutcome>,
    /// Number of layers in the spec's network (inputs included).
    pub spec_layers: usize,
}

impl Imported {
    pub fn spec_file(&self) -> String {
        format!("{}.snn", self.name)
    }

    pub fn params_file(&self) -> String {
        format!("{}_params.npz", self.name)
    }

    /// Writes `<dir>/<name>.snn` and `<dir>/<name>_params.npz` (creating
    /// `dir`), refusing to overwrite unless `force`. Returns both paths.
    pub fn write(&self, dir: &Path, force: bool) -> Result<(PathBuf, PathBuf), IoError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| IoError::os(dir, "could not create the output directory", &e))?;
        let spec = dir.join(self.spec_file());
        let params = dir.join(self.params_file());
        if !force {
            for p in [&spec, &params] {
                if p.exists() {
                    return Err(IoError::new(p, "already exists; not overwriting it")
                        .with_help("pass --force to replace it, or choose another --name or output directory"));
                }
            }
        }
        let refs: Vec<(&str, &NdArray)> =
            self.params.iter().map(|(n, a)| (n.as_str(), a)).collect();
        write_npz(&params, &refs)?;
        write_atomic(&spec, |w| w.write_all(self.spec.as_bytes()))?;
        Ok((spec, params))
    }
}

/// True for a name the `.snn` grammar accepts.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The default network name: the file stem made an identifier.
fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert_str(0, "model_");
    }
    s
}

/// Reads a Keras model and converts it.
pub fn import(path: &Path, opts: &Options) -> Result<Imported, IoError> {
    let name =
        match &opts.name {
            Some(n) if is_identifier(n) => n.clone(),
            Some(n) => return Err(IoError::new(path, format!("`{n}` cannot name a network"))
                .with_help(
                    "use letters, digits and `_`, not starting with a digit (e.g. --name mnist)",
                )),
            None => default_name(path),
        };
    let file = keras::KerasFile::open(path)?;
    let config_place = match file.format {
        keras::Format::KerasZip => "member 'config.json'",
        keras::Format::LegacyH5 => "attribute `model_config`",
    };
    let graph = keras::graph::parse(&file.config).map_err(|e| {
        IoError::new(path, e)
            .at(config_place)
            .with_help("snnc imports Sequential and Functional models saved with `model.save(...)`; see docs/import.md")
    })?;
    let conv = convert::convert(&graph, &file).map_err(|problems| {
        let n = problems.len();
        IoError::new(
            path,
            format!(
                "cannot import {}:\n  - {}",
                if n == 1 { "this model".to_string() } else { format!("this model ({n} problems)") },
                problems.join("\n  - ")
            ),
        )
        .with_help(format!("snnc imports these Keras layers: {SUPPORTED}; activations relu, sigmoid, tanh, linear. See docs/import.md"))
    })?;
    let file_name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let params_file = format!("{name}_params.npz");
    let spec = emit::emit(
        &conv,
        &emit::Source {
            name: &name,
            file: &file_name,
            keras_version: file.keras_version.as_deref(),
            class: &graph.class,
            model_name: &graph.name,
            params: &params_file,
        },
    );
    let params: Vec<(String, NdArray)> = conv
        .nodes
        .iter()
        .flat_map(|n| {
            let t = |suffix: &str, t: &convert::Tensor| {
                (
                    format!("{}.{suffix}", n.name),
                    NdArray::F32(t.mapv(|v| v as f32)),
                )
            };
            n.kernel
                .iter()
                .map(move |k| t("kernel", k))
                .chain(n.bias.iter().map(move |b| t("bias", b)))
        })
        .collect();
    verify(path, &name, &spec, &conv, &params)?;
    Ok(Imported {
        name,
        spec,
        params,
        notes: conv.notes,
        layers: conv.layers,
        spec_layers: conv.nodes.len(),
    })
}

/// The generated spec must check without any diagnostic, and its network
/// must have our shapes and take our params; anything else is a bug here.
fn verify(
    path: &Path,
    name: &str,
    spec: &str,
    conv: &convert::Converted,
    params: &[(String, NdArray)],
) -> Result<(), IoError> {
    let bug = |what: String| {
        IoError::new(path, format!("internal error: {what}"))
            .with_help("this is a bug in `snnc import`; please report it with the model file")
    };
    let checked = snnc_compiler::check_source(spec);
    if !checked.diagnostics.is_empty() {
        let file = SourceFile {
            name: format!("{name}.snn"),
            text: spec.to_string(),
        };
        return Err(bug(format!(
            "the generated spec does not check clean:\n{}\n--- spec ---\n{spec}",
            render_text(&file, &checked.diagnostics, false)
        )));
    }
    let program = checked
        .program
        .ok_or_else(|| bug("the generated spec has no program".into()))?;
    let net: &Network = program
        .networks
        .iter()
        .find(|n| n.name == name)
        .ok_or_else(|| bug("the network is missing".into()))?;
    for n in &conv.nodes {
        let ir = net
            .node(&n.name)
            .map(|i| &net.nodes[i])
            .ok_or_else(|| bug(format!("layer `{}` is missing from the spec", n.name)))?;
        if ir.shape != n.shape {
            return Err(bug(format!(
                "layer `{}` has shape {:?} in the spec but {:?} in Keras",
                n.name, ir.shape, n.shape
            )));
        }
        let has_bias = ir.params.iter().any(|p| p.role == ParamRole::Bias);
        if has_bias != n.bias.is_some() {
            return Err(bug(format!("layer `{}` disagrees about its bias", n.name)));
        }
    }
    let mut arrays = params.to_vec();
    snnc_io::params::from_arrays(Path::new(&format!("{name}_params.npz")), net, &mut arrays)
        .map_err(|e| bug(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests;
