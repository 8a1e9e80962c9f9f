//! Reading a Keras model file: the architecture (JSON) and the weights of
//! each layer, from a Keras 3 `.keras` zip or a legacy `.h5` file (Keras 3
//! and tf.keras 2 layouts). Layouts: `shared/keras/README.md`.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use snnc_io::IoError;

use crate::hdf5::{H5File, Object, Value, SIGNATURE};

/// Members above this size are refused before reading (a weights file of
/// 4 GB is not a model this tool converts, and a corrupt zip may claim it).
const MAX_MEMBER: u64 = 4 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Keras 3 native zip: `config.json` + `model.weights.h5`.
    KerasZip,
    /// Legacy HDF5 (`model.save("x.h5")`), Keras 3 or tf.keras 2.
    LegacyH5,
}

/// A model file: its architecture and access to each layer's weights.
pub struct KerasFile {
    pub path: PathBuf,
    pub format: Format,
    pub keras_version: Option<String>,
    /// `{"class_name": ..., "config": {...}}`
    pub config: Json,
    weights: H5File,
}

/// One weight tensor of a layer: its role name when the file says it
/// (`kernel`, `bias`, `gamma`, ... in `.h5` files), and its values.
pub struct Weight {
    pub name: Option<String>,
    /// Where it is in the file, for messages.
    pub place: String,
    pub value: Value,
}

impl KerasFile {
    pub fn open(path: &Path) -> Result<KerasFile, IoError> {
        if path.is_dir() {
            let hint = if path.join("saved_model.pb").exists() {
                "this is a TensorFlow SavedModel directory; load it in Python and save it with `model.save(\"model.keras\")`"
            } else {
                "give the path of a .keras or .h5 file"
            };
            return Err(
                IoError::new(path, "is a directory, not a Keras model file").with_help(hint)
            );
        }
        let data = std::fs::read(path).map_err(|e| IoError::os(path, "could not read", &e))?;
        if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
            return KerasFile::from_zip(path, data);
        }
        let is_hdf5 = [0usize, 512, 1024, 2048, 4096]
            .iter()
            .any(|&o| data.len() >= o + 8 && &data[o..o + 8] == SIGNATURE);
        if is_hdf5 {
            return KerasFile::from_h5(path, data);
        }
        let what = if data.is_empty() {
            "the file is empty (0 bytes)".to_string()
        } else if data.starts_with(b"\x08") || path.extension().is_some_and(|e| e == "pb") {
            "it looks like a TensorFlow protobuf, not a Keras model".to_string()
        } else {
            "it is neither a .keras zip archive nor an HDF5 (.h5) file".to_string()
        };
        Err(IoError::new(path, format!("not a Keras model file: {what}"))
            .with_help("save the model from Python with `model.save(\"model.keras\")` (or `model.save(\"model.h5\")`)"))
    }

    fn from_zip(path: &Path, data: Vec<u8>) -> Result<KerasFile, IoError> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(data)).map_err(|e| {
            IoError::new(path, format!("not a valid .keras (zip) file: {e}"))
                .with_help("the file is corrupt or truncated; save the model again")
        })?;
        let mut member = |name: &str| -> Result<Option<Vec<u8>>, IoError> {
            let mut m = match zip.by_name(name) {
                Ok(m) => m,
                Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                Err(e) => {
                    return Err(
                        IoError::new(path, format!("could not open the member: {e}"))
                            .at(format!("member '{name}'")),
                    )
                }
            };
            if m.size() > MAX_MEMBER {
                return Err(
                    IoError::new(path, format!("the member claims {} bytes", m.size()))
                        .at(format!("member '{name}'")),
                );
            }
            let mut buf = Vec::with_capacity(m.size().min(1 << 26) as usize);
            m.read_to_end(&mut buf).map_err(|e| {
                IoError::new(path, format!("could not read the member: {e}"))
                    .at(format!("member '{name}'"))
                    .with_help("the archive is corrupt or truncated; save the model again")
            })?;
            Ok(Some(buf))
        };
        let config = member("config.json")?.ok_or_else(|| {
            IoError::new(
                path,
                "this zip has no `config.json`, so it is not a Keras 3 `.keras` model",
            )
            .with_help("save the model with Keras 3: `model.save(\"model.keras\")`")
        })?;
        let meta = member("metadata.json")?;
        let weights = member("model.weights.h5")?.ok_or_else(|| {
            IoError::new(
                path,
                "this .keras file has no `model.weights.h5` member (it holds no weights)",
            )
            .with_help("save the whole model with `model.save(\"model.keras\")`")
        })?;
        let config: Json = serde_json::from_slice(&config).map_err(|e| {
            IoError::new(path, format!("`config.json` is not valid JSON: {e}"))
                .with_help("the file is corrupt; save the model again")
        })?;
        let keras_version = meta
            .and_then(|m| serde_json::from_slice::<Json>(&m).ok())
            .and_then(|m| {
                m.get("keras_version")
                    .and_then(Json::as_str)
                    .map(str::to_string)
            });
        let weights = H5File::from_bytes(
            format!("{}: member 'model.weights.h5'", path.display()),
            weights,
        )?;
        Ok(KerasFile {
            path: path.to_path_buf(),
            format: Format::KerasZip,
            keras_version,
            config,
            weights,
        })
    }

    fn from_h5(path: &Path, data: Vec<u8>) -> Result<KerasFile, IoError> {
        let file = H5File::from_bytes(path, data)?;
        let root = file.root()?;
        let string_attr = |name: &str| -> Result<Option<String>, IoError> {
            Ok(root
                .attr(name)?
                .and_then(|v| v.string().map(str::to_string)))
        };
        let Some(config) = string_attr("model_config")? else {
            let weights_only =
                root.child("layers")?.is_some() || root.attr("layer_names")?.is_some();
            let msg = if weights_only {
                "this HDF5 file holds only weights (no `model_config` attribute), so the architecture is unknown"
            } else {
                "this HDF5 file has no `model_config` attribute: it is not a Keras model saved with `model.save(...)`"
            };
            return Err(IoError::new(path, msg).with_help(
                "save the whole model (architecture and weights) with `model.save(\"model.keras\")`, not `save_weights`",
            ));
        };
        let config: Json = serde_json::from_str(&config).map_err(|e| {
            IoError::new(
                path,
                format!("the `model_config` attribute is not valid JSON: {e}"),
            )
            .with_help("the file is corrupt; save the model again")
        })?;
        if file.get("model_weights")?.is_none() {
            return Err(IoError::new(
                path,
                "this HDF5 file has no `model_weights` group, so it holds no weights",
            )
            .with_help("save the model with `model.save(...)` after building it"));
        }
        let keras_version = string_attr("keras_version")?;
        Ok(KerasFile {
            path: path.to_path_buf(),
            format: Format::LegacyH5,
            keras_version,
            config,
            weights: file,
        })
    }

    /// The weights of a layer, in the layer's variable order. Empty when the
    /// file stores none for it.
    pub fn layer_weights(&self, layer: &str) -> Result<Vec<Weight>, IoError> {
        match self.format {
            Format::KerasZip => self.zip_weights(layer),
            Format::LegacyH5 => self.h5_weights(layer),
        }
    }

    fn zip_weights(&self, layer: &str) -> Result<Vec<Weight>, IoError> {
        // Keras 3 writes `layers/<name>/vars`; tf.keras 2.13-2.15's `.keras`
        // format used `_layer_checkpoint_dependencies/<name>/vars`.
        let mut group = None;
        for prefix in ["layers", "_layer_checkpoint_dependencies"] {
            if let Some(g) = self.weights.get(&format!("{prefix}/{layer}/vars"))? {
                group = Some(g);
                break;
            }
        }
        let Some(group) = group else {
            return Ok(Vec::new());
        };
        let mut names: Vec<(usize, String)> = Vec::new();
        for m in group.members()? {
            let index = m.parse::<usize>().map_err(|_| {
                IoError::new(
                    self.weights.path(),
                    format!("unexpected member `{m}`: variables are named 0, 1, 2, ..."),
                )
                .at(format!("group `{}`", group.path))
            })?;
            names.push((index, m));
        }
        names.sort();
        let mut out = Vec::new();
        for (i, (index, name)) in names.into_iter().enumerate() {
            if index != i {
                return Err(IoError::new(
                    self.weights.path(),
                    format!("variable {i} is missing (found {index})"),
                )
                .at(format!("group `{}`", group.path)));
            }
            out.push(read_weight(&group, &name, None)?);
        }
        Ok(out)
    }

    fn h5_weights(&self, layer: &str) -> Result<Vec<Weight>, IoError> {
        let Some(group) = self.weights.get(&format!("model_weights/{layer}"))? else {
            return Ok(Vec::new());
        };
        let names = string_list(&group, "weight_names")?.unwrap_or_default();
        let mut out = Vec::new();
        for wn in names {
            // `sequential/conv2d/kernel` (Keras 3) or `conv2d/kernel:0`
            // (tf.keras 2): the role is the last component without `:0`.
            let last = wn.rsplit('/').next().unwrap_or(&wn);
            let role = last.split(':').next().unwrap_or(last).to_string();
            out.push(read_weight(&group, &wn, Some(role))?);
        }
        Ok(out)
    }
}

fn read_weight(group: &Object, name: &str, role: Option<String>) -> Result<Weight, IoError> {
    let place = format!("{}/{name}", group.path);
    let ds = group.get(name)?.ok_or_else(|| {
        IoError::new(
            group_file(group),
            format!("the weight `{name}` listed for this layer is missing"),
        )
        .at(format!("group `{}`", group.path))
        .with_help("the file is incomplete; save the model again")
    })?;
    if !ds.is_dataset() {
        return Err(IoError::new(
            group_file(group),
            "expected a weight dataset, found a group",
        )
        .at(format!("`{place}`")));
    }
    Ok(Weight {
        name: role,
        place,
        value: ds.read()?,
    })
}

fn group_file(group: &Object) -> PathBuf {
    group.file_path().to_path_buf()
}

/// A string-list attribute, also in Keras' chunked form (`name0`, `name1`,
/// ... when the list is too long for one object header).
pub fn string_list(obj: &Object, name: &str) -> Result<Option<Vec<String>>, IoError> {
    let as_list = |v: Value, attr: &str| {
        v.strings().ok_or_else(|| {
            IoError::new(
                obj.file_path(),
                format!(
                    "attribute `{attr}` should be a list of strings, found {}",
                    v.describe()
                ),
            )
            .at(format!("object `{}`", obj.path))
        })
    };
    if let Some(v) = obj.attr(name)? {
        return as_list(v, name).map(Some);
    }
    let mut out = Vec::new();
    let mut found = false;
    for chunk in 0.. {
        let attr = format!("{name}{chunk}");
        match obj.attr(&attr)? {
            Some(v) => {
                found = true;
                out.extend(as_list(v, &attr)?);
            }
            None => break,
        }
    }
    Ok(found.then_some(out))
}
