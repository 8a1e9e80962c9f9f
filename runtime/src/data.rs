//! Loading a spec's data source into memory: images as `f32` in the
//! network's input layout (flat, C order, channels last) and integer labels.

use std::path::{Path, PathBuf};

use ndarray::{s, Array1, ArrayD, Axis, Slice};
use snnc_compiler::ir::{DataKind, DataSource, Split};

use crate::io::{read_idx, read_npy, read_npz, IoError, NdArray};

/// Examples and labels, already offset, limited and scaled.
///
/// The examples are one ndarray whose first axis is the example and whose
/// other axes are one example's shape as stored (`[N, 28, 28]` for MNIST);
/// it is always in standard (C) layout, so an example, and the whole set,
/// is one contiguous slice: what the engines read.
#[derive(Clone, Debug)]
pub struct Dataset {
    examples: ArrayD<f32>,
    /// One per example; empty when the data is unlabelled.
    labels: Array1<u32>,
    /// Whether the data has labels (`npy(...)` without `labels=` has none).
    pub labelled: bool,
    /// Where it came from, for messages.
    pub origin: String,
}

impl Dataset {
    /// A dataset of `examples` (first axis: the example) and, when
    /// `labelled`, one label per example.
    ///
    /// # Panics
    /// If `examples` is a scalar, or labelled with a label count that is not
    /// the example count: both are caught in [`load`] before this is built.
    fn new(examples: ArrayD<f32>, labels: Array1<u32>, labelled: bool, origin: String) -> Self {
        assert!(
            examples.ndim() >= 1,
            "Dataset: examples need an example axis"
        );
        assert!(
            !labelled || labels.len() == examples.shape()[0],
            "Dataset: one label per example"
        );
        // Standard layout makes `images`/`example` plain slices.
        let examples = if examples.is_standard_layout() {
            examples
        } else {
            examples.as_standard_layout().into_owned()
        };
        Dataset {
            examples,
            labels,
            labelled,
            origin,
        }
    }

    pub fn len(&self) -> usize {
        self.examples.shape()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one example as stored (`[28, 28]` for MNIST).
    pub fn example_shape(&self) -> &[usize] {
        &self.examples.shape()[1..]
    }

    pub fn example_size(&self) -> usize {
        self.example_shape().iter().product()
    }

    /// The examples as an array: the first axis is the example.
    pub fn examples(&self) -> &ArrayD<f32> {
        &self.examples
    }

    /// All examples' values, flat in C order (`len() * example_size()`).
    pub fn images(&self) -> &[f32] {
        self.examples
            .as_slice()
            .expect("Dataset keeps its examples in standard layout")
    }

    /// Example `i`'s values, flat in C order.
    pub fn example(&self, i: usize) -> &[f32] {
        let n = self.example_size();
        &self.images()[i * n..(i + 1) * n]
    }

    /// One class index per example; empty when the data is unlabelled.
    pub fn labels(&self) -> &[u32] {
        self.labels
            .as_slice()
            .expect("a one-dimensional owned array is contiguous")
    }

    /// Steps per example when the examples are NengoDL's `(steps,
    /// features)` sequences for an input of `input_size` values (a row fed
    /// per step); `None` when each example is one input, held.
    pub fn steps_per_example(&self, input_size: usize) -> Option<usize> {
        match self.example_shape()[..] {
            [steps, features] if features == input_size && steps * features != input_size => {
                Some(steps)
            }
            _ => None,
        }
    }

    /// Examples `range` as a new dataset (for validation splits).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        let labels = if self.labelled {
            self.labels.slice(s![range.clone()]).to_owned()
        } else {
            Array1::default(0)
        };
        Dataset::new(
            self.examples.slice_axis(Axis(0), range.into()).to_owned(),
            labels,
            self.labelled,
            self.origin.clone(),
        )
    }
}

/// Loads `src`; relative paths are taken from `base` (the spec's directory).
pub fn load(src: &DataSource, base: &Path) -> Result<Dataset, IoError> {
    let (images, labels, origin) = match &src.kind {
        DataKind::MnistIdx { dir, split } => {
            let dir = base.join(dir);
            let stem = match split {
                Split::Train => "train",
                Split::Test => "t10k",
            };
            let images = find_idx(&dir, &format!("{stem}-images-idx3-ubyte"))?;
            let labels = find_idx(&dir, &format!("{stem}-labels-idx1-ubyte"))?;
            let origin = images.display().to_string();
            (idx_array(&images)?, Some(idx_array(&labels)?), origin)
        }
        DataKind::Idx { images, labels } => {
            let (images, labels) = (base.join(images), base.join(labels));
            let origin = images.display().to_string();
            (idx_array(&images)?, Some(idx_array(&labels)?), origin)
        }
        DataKind::Npy { x, labels } => {
            let (x, labels) = (base.join(x), labels.as_ref().map(|l| base.join(l)));
            let origin = x.display().to_string();
            let images = Labelled {
                array: read_npy(&x)?,
                path: x,
            };
            let labels = match labels {
                Some(labels) => Some(Labelled {
                    array: read_npy(&labels)?,
                    path: labels,
                }),
                None => None,
            };
            (images, labels, origin)
        }
        DataKind::Npz { path, x, y } => {
            let path = base.join(path);
            let mut arrays = read_npz(&path)?;
            // Every array of the file, for the message when one is missing.
            let names: Vec<String> = arrays.iter().map(|(n, _)| format!("`{n}`")).collect();
            let has = if names.is_empty() {
                "the file holds no arrays".to_string()
            } else {
                format!("the file holds {}", names.join(", "))
            };
            let mut take = |key: &str| match arrays.iter().position(|(n, _)| n == key) {
                Some(i) => Ok(arrays.swap_remove(i).1),
                None => Err(
                    IoError::new(&path, format!("no array `{key}` in this file")).with_help(
                        format!(
                            "{has}; name the arrays with `npz(\"...\", x=\"...\", y=\"...\")`, \
                             or write `y=none` for data without labels (predictions only)"
                        ),
                    ),
                ),
            };
            let xs = take(x)?;
            let ys = match y {
                Some(y) => Some(Labelled {
                    path: path.clone(),
                    array: take(y)?,
                }),
                None => None,
            };
            (
                Labelled {
                    path: path.clone(),
                    array: xs,
                },
                ys,
                format!("{}", path.display()),
            )
        }
    };
    assemble(images, labels, src, origin)
}

/// An array with the file it came from.
struct Labelled {
    path: PathBuf,
    array: NdArray,
}

fn find_idx(dir: &Path, stem: &str) -> Result<PathBuf, IoError> {
    let gz = dir.join(format!("{stem}.gz"));
    let raw = dir.join(stem);
    if gz.is_file() {
        Ok(gz)
    } else if raw.is_file() {
        Ok(raw)
    } else if !dir.is_dir() {
        Err(IoError::new(dir, "no such directory").with_help("`mnist_idx(\"DIR\", ...)` takes the directory holding the MNIST IDX files, relative to the spec"))
    } else {
        Err(IoError::new(
            &gz,
            format!("neither `{stem}.gz` nor `{stem}` is in this directory"),
        )
        .with_help("the directory must hold the MNIST IDX files under their usual names"))
    }
}

fn idx_array(path: &Path) -> Result<Labelled, IoError> {
    let idx = read_idx(path)?;
    Ok(Labelled {
        path: path.to_path_buf(),
        array: NdArray::U8(idx),
    })
}

fn assemble(
    images: Labelled,
    labels: Option<Labelled>,
    src: &DataSource,
    origin: String,
) -> Result<Dataset, IoError> {
    let shape = images.array.shape();
    let Some((&n, example_shape)) = shape.split_first() else {
        return Err(IoError::new(&images.path, "the images array is a scalar")
            .with_help("store examples along the first axis"));
    };
    if let Some(labels) = &labels {
        check_label_count(labels, n)?;
    }
    if n == 0 {
        return Err(IoError::new(&images.path, "the data holds no examples")
            .with_help("point the data at a file with at least one example"));
    }
    if src.offset >= n {
        return Err(IoError::new(
            &images.path,
            format!("offset {} skips all {n} examples", src.offset),
        )
        .with_help("lower `offset`"));
    }
    let end = src.limit.map_or(n, |l| (src.offset + l).min(n));
    let size: usize = example_shape.iter().product();
    let rows = Slice::from(src.offset..end);
    let examples: ArrayD<f32> = match &images.array {
        // Computed in f64 and rounded once, so pixel/255 is the nearest f32
        // exactly as numpy's `x.astype(np.float32) / 255` gives.
        NdArray::U8(a) => a
            .slice_axis(Axis(0), rows)
            .mapv(|b| (f64::from(b) * src.pixel_max / 255.0) as f32),
        NdArray::F32(a) => a.slice_axis(Axis(0), rows).to_owned(),
        NdArray::F64(a) => a.slice_axis(Axis(0), rows).mapv(|x| x as f32),
        NdArray::I64(a) => a.slice_axis(Axis(0), rows).mapv(|x| x as f32),
        NdArray::I32(a) => a.slice_axis(Axis(0), rows).mapv(|x| x as f32),
        NdArray::Bool(a) => a.slice_axis(Axis(0), rows).mapv(|x| f32::from(u8::from(x))),
    };
    if let Some(i) = examples.iter().position(|x| !x.is_finite()) {
        let example = src.offset + i / size.max(1);
        return Err(IoError::new(
            &images.path,
            format!("example {example} contains a non-finite value (NaN or infinity)"),
        )
        .with_help("clean the data before running"));
    }
    let out_labels = match &labels {
        Some(labels) => class_indices(labels, src.offset..end)?,
        None => Vec::new(),
    };
    Ok(Dataset::new(
        examples,
        Array1::from(out_labels),
        labels.is_some(),
        origin,
    ))
}

/// Labels must be an array with one entry (or row) per example.
fn check_label_count(labels: &Labelled, n: usize) -> Result<(), IoError> {
    let lshape = labels.array.shape();
    if lshape.is_empty() {
        return Err(IoError::new(&labels.path, "the labels array is a scalar")
            .with_help("store one label per example along the first axis"));
    }
    if lshape[0] != n {
        return Err(IoError::new(
            &labels.path,
            format!("{} labels for {n} examples", lshape[0]),
        )
        .with_help("images and labels must come in pairs"));
    }
    Ok(())
}

/// The class index of examples `range` from labels shaped as Keras and
/// NengoDL store them: `(N,)`, `(N, 1)` or `(N, 1, 1)` class indices
/// (integers, or floats holding integers), or one-hot rows `(N, classes)`
/// (also `(N, 1, classes)`).
fn class_indices(labels: &Labelled, range: std::ops::Range<usize>) -> Result<Vec<u32>, IoError> {
    let a = &labels.array;
    let per: usize = a.shape()[1..].iter().product();
    let rows = Slice::from(range.clone());
    let values: Vec<f64> = match a {
        NdArray::U8(v) => v
            .slice_axis(Axis(0), rows)
            .iter()
            .map(|&x| f64::from(x))
            .collect(),
        NdArray::I64(v) => v
            .slice_axis(Axis(0), rows)
            .iter()
            .map(|&x| x as f64)
            .collect(),
        NdArray::I32(v) => v
            .slice_axis(Axis(0), rows)
            .iter()
            .map(|&x| f64::from(x))
            .collect(),
        NdArray::F32(v) => v
            .slice_axis(Axis(0), rows)
            .iter()
            .map(|&x| f64::from(x))
            .collect(),
        NdArray::F64(v) => v.slice_axis(Axis(0), rows).iter().copied().collect(),
        NdArray::Bool(v) if per > 1 => v
            .slice_axis(Axis(0), rows)
            .iter()
            .map(|&x| f64::from(u8::from(x)))
            .collect(),
        NdArray::Bool(_) => {
            return Err(IoError::new(
                &labels.path,
                "labels must be class indices or one-hot rows, found booleans",
            )
            .with_help("store class indices as integers, e.g. `y.astype(np.int64)`"));
        }
    };
    let mut out = Vec::with_capacity(range.len());
    for (i, row) in values.chunks(per.max(1)).enumerate() {
        let example = range.start + i;
        if per == 1 {
            let l = row[0];
            if !(l.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&l)) {
                return Err(IoError::new(
                    &labels.path,
                    format!("label {l} of example {example} is not a class index"),
                )
                .with_help("labels are class indices 0, 1, 2, ... or one-hot rows"));
            }
            out.push(l as u32);
        } else {
            let ones: Vec<usize> = (0..per).filter(|&k| row[k] == 1.0).collect();
            let zeros = row.iter().filter(|&&x| x == 0.0).count();
            if ones.len() != 1 || zeros != per - 1 {
                return Err(IoError::new(
                    &labels.path,
                    format!(
                        "labels of shape {} are read as one-hot rows, but example {example}'s row is not a single 1 among 0s",
                        a.shape_string()
                    ),
                )
                .with_help("store one-hot rows, or class indices shaped (N,), (N, 1) or (N, 1, 1)"));
            }
            out.push(ones[0] as u32);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::write_npz;

    fn source(kind: DataKind, limit: Option<usize>, offset: usize) -> DataSource {
        DataSource {
            kind,
            limit,
            offset,
            pixel_max: 1.0,
            span: Default::default(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("snnc-data-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn npz_with_offset_limit_and_u8_scaling() {
        let dir = temp_dir("npz");
        let x = NdArray::from_shape_vec::<u8>(vec![3, 2], vec![0, 255, 51, 102, 3, 4]).unwrap();
        let y = NdArray::from_shape_vec::<i64>(vec![3], vec![1, 2, 0]).unwrap();
        write_npz(&dir.join("d.npz"), &[("x", &x), ("y", &y)]).unwrap();
        let kind = DataKind::Npz {
            path: "d.npz".into(),
            x: "x".into(),
            y: Some("y".into()),
        };
        let ds = load(&source(kind, Some(1), 1), &dir).unwrap();
        assert_eq!(ds.len(), 1);
        assert_eq!(ds.labels(), vec![2]);
        assert_eq!(ds.images(), vec![0.2, 0.4]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn clear_errors_for_missing_and_mismatched_data() {
        let dir = temp_dir("bad");
        let missing = DataKind::MnistIdx {
            dir: "nowhere".into(),
            split: Split::Test,
        };
        let e = load(&source(missing, None, 0), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such directory"), "{e}");

        let x = NdArray::from_f32(vec![2, 2], vec![0.0, f32::NAN, 1.0, 1.0]);
        let y = NdArray::from_shape_vec::<i64>(vec![3], vec![1, 2, 0]).unwrap();
        write_npz(&dir.join("d.npz"), &[("x", &x), ("y", &y)]).unwrap();
        let kind = DataKind::Npz {
            path: "d.npz".into(),
            x: "x".into(),
            y: Some("y".into()),
        };
        let e = load(&source(kind.clone(), None, 0), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 labels for 2 examples"), "{e}");
        let e = load(&source(kind, None, 7), &dir).unwrap_err().to_string();
        assert!(e.contains("3 labels") || e.contains("offset"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }

    /// An npz without the labels names what it does hold; empty data says
    /// so (not "offset 0 skips all 0 examples").
    #[test]
    fn missing_labels_and_empty_data_are_named() {
        let dir = temp_dir("names");
        let kind = DataKind::Npz {
            path: "d.npz".into(),
            x: "x".into(),
            y: Some("y".into()),
        };
        let x = NdArray::from_f32(vec![2, 2], vec![0.0; 4]);
        write_npz(&dir.join("d.npz"), &[("x", &x)]).unwrap();
        let e = load(&source(kind.clone(), None, 0), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no array `y` in this file"), "{e}");
        assert!(e.contains("the file holds `x`;"), "{e}");

        let x = NdArray::from_f32(vec![0, 2], vec![]);
        let y = NdArray::from_shape_vec::<i64>(vec![0], vec![]).unwrap();
        write_npz(&dir.join("d.npz"), &[("x", &x), ("y", &y)]).unwrap();
        let e = load(&source(kind, None, 0), &dir).unwrap_err().to_string();
        assert!(e.contains("the data holds no examples"), "{e}");
        assert!(!e.contains("offset"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }

    /// NengoDL's `(N, 1, 1)` float labels, Keras' `(N, 1)` and one-hot
    /// rows all read as class indices; anything else is refused.
    #[test]
    fn labels_in_keras_and_nengo_dl_shapes() {
        let dir = temp_dir("labels");
        let kind = DataKind::Npz {
            path: "d.npz".into(),
            x: "x".into(),
            y: Some("y".into()),
        };
        let x = NdArray::from_f32(vec![3, 2], vec![0.0; 6]);
        let read = |y: NdArray| {
            write_npz(&dir.join("d.npz"), &[("x", &x), ("y", &y)]).unwrap();
            load(&source(kind.clone(), None, 1), &dir).map(|d| d.labels().to_vec())
        };
        let nengo = NdArray::from_f32(vec![3, 1, 1], vec![4.0, 7.0, 2.0]);
        assert_eq!(read(nengo).unwrap(), vec![7, 2]);
        let keras = NdArray::from_shape_vec::<i32>(vec![3, 1], vec![4, 7, 2]).unwrap();
        assert_eq!(read(keras).unwrap(), vec![7, 2]);
        let one_hot = NdArray::from_f32(vec![3, 3], vec![1., 0., 0., 0., 0., 1., 0., 1., 0.]);
        assert_eq!(read(one_hot).unwrap(), vec![2, 1]);
        let nested = NdArray::from_shape_vec::<bool>(
            vec![3, 1, 2],
            vec![true, false, false, true, true, false],
        )
        .unwrap();
        assert_eq!(read(nested).unwrap(), vec![1, 0]);

        let fractional = NdArray::from_f32(vec![3], vec![0.0, 1.5, 2.0]);
        let e = read(fractional).unwrap_err().to_string();
        assert!(
            e.contains("label 1.5 of example 1 is not a class index"),
            "{e}"
        );
        let two_hot = NdArray::from_f32(vec![3, 2], vec![1., 0., 1., 1., 0., 1.]);
        let e = read(two_hot).unwrap_err().to_string();
        assert!(e.contains("example 1's row is not a single 1"), "{e}");
        assert!(e.contains("d.npz"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn npy_examples_and_labels() {
        let dir = temp_dir("npy");
        let x = NdArray::from_f32(vec![3, 2, 2, 1], (0..12).map(|i| i as f32).collect());
        let y = NdArray::from_f32(vec![3, 1, 1], vec![1.0, 0.0, 2.0]);
        crate::io::write_npy(&dir.join("x.npy"), &x).unwrap();
        crate::io::write_npy(&dir.join("y.npy"), &y).unwrap();
        let kind = DataKind::Npy {
            x: "x.npy".into(),
            labels: Some("y.npy".into()),
        };
        let ds = load(&source(kind.clone(), Some(2), 1), &dir).unwrap();
        assert_eq!(ds.labels(), vec![0, 2]);
        assert_eq!(ds.example_shape(), [2, 2, 1]);
        assert_eq!(ds.images(), (4..12).map(|i| i as f32).collect::<Vec<_>>());
        std::fs::remove_file(dir.join("y.npy")).unwrap();
        let e = load(&source(kind, None, 0), &dir).unwrap_err().to_string();
        assert!(e.contains("y.npy"), "{e}");
        // Without `labels=`, the examples alone.
        let unlabelled = DataKind::Npy {
            x: "x.npy".into(),
            labels: None,
        };
        let ds = load(&source(unlabelled, None, 1), &dir).unwrap();
        assert!(!ds.labelled && ds.labels().is_empty());
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.slice(1..2).len(), 1);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bundled_mnist_subset_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
        let kind = DataKind::MnistIdx {
            dir: ".".into(),
            split: Split::Test,
        };
        let ds = load(&source(kind, Some(10), 0), &dir).unwrap();
        assert_eq!(ds.labels(), vec![7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
        assert_eq!(ds.example_shape(), [28, 28]);
        assert!(ds.images().iter().all(|&p| (0.0..=1.0).contains(&p)));
    }
}
