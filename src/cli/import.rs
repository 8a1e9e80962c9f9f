//! `snnc import MODEL -o DIR [--name NAME]`: a Keras model file to a `.snn`
//! spec and a params `.npz` (see docs/import.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use snnc_import::{import, Options};

/// Import a Keras model (.keras or .h5) as a .snn spec plus a params .npz.
///
/// Writes DIR/NAME.snn and DIR/NAME_params.npz. The spec names layers as
/// Keras did, notes shapes in comments, probes the output and, when the
/// model uses relu, adds a spiking variant. Layers the .snn language cannot
/// express are refused with the reason. Exits 0 on success, 1 otherwise.
#[derive(Args, Debug)]
#[command(
    about = "Import a Keras model (.keras or .h5) as a .snn spec plus a params .npz",
    long_about = "Import a Keras model (.keras or .h5) as a .snn spec plus a params .npz.\n\n\
        Writes DIR/NAME.snn and DIR/NAME_params.npz. The spec names layers as Keras did, notes \
        shapes in comments, probes the output and, when the model uses relu, adds a spiking \
        variant. Layers the .snn language cannot express are refused with the reason. \
        Exits 0 on success, 1 otherwise. Docs: docs/import.md"
)]
pub struct ImportArgs {
    /// The Keras model: a Keras 3 `.keras` file or a legacy `.h5` file.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,

    /// Directory to write the spec and params into (created if missing).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,

    /// Network name and file stem [default: the model file's stem].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ImportArgs) -> Result<ExitCode, String> {
    let imported = import(
        &args.model,
        &Options {
            name: args.name.clone(),
        },
    )
    .map_err(|e| e.to_string())?;
    let (spec, params) = imported
        .write(&args.out, args.force)
        .map_err(|e| e.to_string())?;
    let values: usize = imported.params.iter().map(|(_, a)| a.len()).sum();
    println!(
        "imported {} ({} Keras layers) as network `{}`:\n  {} ({} layers)\n  {} ({} tensors, {values} values)",
        args.model.display(),
        imported.layers.len(),
        imported.name,
        spec.display(),
        imported.spec_layers,
        params.display(),
        imported.params.len(),
    );
    for note in &imported.notes {
        println!("note: {note}");
    }
    println!("next: snnc check {}", spec.display());
    Ok(ExitCode::SUCCESS)
}
