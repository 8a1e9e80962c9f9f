//! The reader against the in-repo fixtures (written by h5py, see
//! `tests/fixtures/make_fixtures.py`) and, when present, the real Keras
//! files of `shared/keras`: exact reads, then truncations and byte flips,
//! which must give errors naming the file, never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::*;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The real Keras files of `shared/keras` (not part of the repository).
/// Under CI (`CI` set) they must be there: the test fails with this message
/// instead of passing without them; elsewhere the caller skips, with a note.
pub fn shared_keras() -> Option<PathBuf> {
    let dir = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/keras"),
        PathBuf::from("/work/shared/keras"),
    ]
    .into_iter()
    .find(|p| p.is_dir());
    if dir.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "shared/keras is missing: CI must have ../shared beside the repo"
        );
        eprintln!("note: shared/keras not present; the real Keras files are not tested");
    }
    dir
}

fn zip_member(path: &Path, member: &str) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    z.by_name(member).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// Reads every attribute and dataset reachable from the root; returns how
/// many values were read.
fn walk(file: &H5File) -> Result<usize, IoError> {
    let mut stack = vec![file.root()?];
    let mut n = 0;
    while let Some(obj) = stack.pop() {
        if n > 100_000 {
            break;
        }
        for a in obj.attr_names()? {
            obj.attr(&a)?;
            n += 1;
        }
        if obj.is_dataset() {
            obj.read()?;
            n += 1;
        }
        for m in obj.members()? {
            if let Some(child) = obj.child(&m)? {
                stack.push(child);
            }
        }
    }
    Ok(n)
}

fn open_bytes(name: &str, bytes: Vec<u8>) -> Result<usize, IoError> {
    walk(&H5File::from_bytes(name, bytes)?)
}

#[test]
fn reads_the_tf2_layout_fixture() {
    let f = H5File::open(&fixture("tf2_tiny.h5")).unwrap();
    let root = f.root().unwrap();
    assert_eq!(
        root.attr("backend").unwrap().unwrap().string(),
        Some("tensorflow")
    );
    let config = root.attr("model_config").unwrap().unwrap();
    let json: serde_json::Value = serde_json::from_str(config.string().unwrap()).unwrap();
    assert_eq!(json["class_name"], "Sequential");
    assert!(root.attr("nope").unwrap().is_none());

    let mw = f.get("/model_weights").unwrap().unwrap();
    assert!(mw.is_group());
    // numpy byte strings are stored as fixed-length strings
    let names = mw.attr("layer_names").unwrap().unwrap().strings().unwrap();
    assert_eq!(names[..3], ["conv2d", "batch_normalization", "activation"]);
    let empty = f
        .get("model_weights/flatten")
        .unwrap()
        .unwrap()
        .attr("weight_names")
        .unwrap()
        .unwrap();
    assert!(matches!(empty.data, Data::Float { bits: 64, .. }));
    assert_eq!(empty.strings(), Some(vec![]));
    let wn = f
        .get("model_weights/conv2d")
        .unwrap()
        .unwrap()
        .attr("weight_names")
        .unwrap()
        .unwrap();
    assert_eq!(wn.strings().unwrap(), ["conv2d/kernel:0", "conv2d/bias:0"]);

    let k = f
        .get("model_weights/conv2d/conv2d/kernel:0")
        .unwrap()
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(k.shape, [3, 3, 2, 3]);
    assert!(
        matches!(&k.data, Data::Float { bits: 32, values } if values.len() == 54 && values.iter().all(|v| v.abs() < 5.0))
    );
    let it = f
        .get("optimizer_weights/iteration:0")
        .unwrap()
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(
        (it.shape.clone(), it.data.clone()),
        (vec![], Data::Int(vec![100]))
    );
    assert!(f.get("model_weights/conv2d/missing").unwrap().is_none());
    assert_eq!(walk(&f).unwrap(), 27);
}

#[test]
fn reads_the_new_style_fixture() {
    // libver="latest": superblock 3, v2 object headers, link messages.
    let bytes = zip_member(&fixture("functional_tiny.keras"), "model.weights.h5");
    let f = H5File::from_bytes("functional_tiny.keras: model.weights.h5", bytes).unwrap();
    let layers = f.get("layers").unwrap().unwrap();
    let mut members = layers.members().unwrap();
    members.sort();
    assert_eq!(
        members,
        ["add", "conv_a", "conv_b", "gap", "image", "logits", "pool_a", "re_lu"]
    );
    let v = f.get("/layers/conv_b/vars").unwrap().unwrap();
    assert_eq!(v.attr("name").unwrap().unwrap().string(), Some("conv_b"));
    assert_eq!(v.members().unwrap(), ["0"]);
    assert_eq!(
        v.child("0").unwrap().unwrap().read().unwrap().shape,
        [3, 3, 4, 4]
    );
}

#[test]
fn reads_the_real_keras_files_if_present() {
    let Some(dir) = shared_keras() else { return };
    let f = H5File::open(&dir.join("broad.h5")).unwrap();
    let root = f.root().unwrap();
    assert_eq!(
        root.attr("keras_version").unwrap().unwrap().string(),
        Some("3.15.1")
    );
    let names = f
        .get("model_weights")
        .unwrap()
        .unwrap()
        .attr("layer_names")
        .unwrap()
        .unwrap()
        .strings()
        .unwrap();
    assert_eq!(names.len(), 9);
    let k = f
        .get("model_weights/conv2d_1/sequential/conv2d_1/kernel")
        .unwrap()
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(k.shape, [3, 3, 16, 8]);
    assert!(walk(&f).unwrap() > 30);
    let w = zip_member(&dir.join("seed.keras"), "model.weights.h5");
    let f = H5File::from_bytes("seed.keras: model.weights.h5", w).unwrap();
    let k = f
        .get("layers/dense/vars/0")
        .unwrap()
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(k.shape, [21632, 10]);
}

/// Every `step`-th cut of a file: never a panic; errors name the file.
fn truncations(name: &str, bytes: &[u8], step: usize) {
    for cut in (0..bytes.len()).step_by(step) {
        if let Err(e) = open_bytes(name, bytes[..cut].to_vec()) {
            assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
        }
    }
}

/// `k` positions below `len`, drawn deterministically.
fn sample(len: usize, k: usize) -> Vec<usize> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..k)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize % len
        })
        .collect()
}

/// Flipped bytes (one of three masks per position): never a panic.
fn flips(name: &str, bytes: &[u8], positions: impl Iterator<Item = usize>) -> (usize, usize) {
    let (mut ok, mut err) = (0, 0);
    for (n, i) in positions.enumerate() {
        let mut b = bytes.to_vec();
        b[i] ^= [0xff, 0x01, 0x80][n % 3];
        match open_bytes(name, b) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
                err += 1;
            }
        }
    }
    (ok, err)
}

#[test]
fn truncated_fixtures_give_errors_not_panics() {
    let bytes = std::fs::read(fixture("tf2_tiny.h5")).unwrap();
    truncations("tf2_tiny.h5", &bytes, 7);
    let bytes = zip_member(&fixture("functional_tiny.keras"), "model.weights.h5");
    truncations("weights.h5", &bytes, 5);
}

#[test]
fn flipped_bytes_in_fixtures_never_panic() {
    // The first 2 KB (superblock, root group, B-tree, heaps) densely, then
    // a sample of the rest.
    let bytes = std::fs::read(fixture("tf2_tiny.h5")).unwrap();
    let (ok, err) = flips(
        "tf2_tiny.h5",
        &bytes,
        (0..2048).chain(sample(bytes.len(), 1500)),
    );
    eprintln!("tf2_tiny.h5: {err} flips noticed, {ok} harmless");
    assert!(err > 300, "only {err} flips were noticed");
    let bytes = zip_member(&fixture("functional_tiny.keras"), "model.weights.h5");
    flips(
        "weights.h5",
        &bytes,
        (0..1024).chain(sample(bytes.len(), 1500)),
    );
}

#[test]
fn damaged_real_files_never_panic() {
    let Some(dir) = shared_keras() else { return };
    let broad = std::fs::read(dir.join("broad.h5")).unwrap();
    truncations("broad.h5", &broad, 211);
    flips("broad.h5", &broad, sample(broad.len(), 1000).into_iter());
    let seed = zip_member(&dir.join("seed.keras"), "model.weights.h5");
    truncations("model.weights.h5", &seed, 99_991);
    flips("model.weights.h5", &seed, (0..4096).step_by(16));
}

#[test]
fn clear_errors_for_wrong_files() {
    let e = H5File::from_bytes("x.h5", Vec::new()).err().unwrap();
    assert!(
        e.to_string()
            .starts_with("x.h5: not a readable HDF5 file: "),
        "{e}"
    );
    assert!(e.to_string().contains("help: the file is corrupt"), "{e}");
    let e = H5File::open(Path::new("/nonexistent/model.h5"))
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/model.h5: could not read"),
        "{e}"
    );
    // A file cut short: the reads that fail name the file and the object.
    let bytes = std::fs::read(fixture("tf2_tiny.h5")).unwrap();
    let mut named = 0;
    for cut in (bytes.len() / 2..bytes.len()).step_by(97) {
        if let Err(e) = open_bytes("t.h5", bytes[..cut].to_vec()) {
            let e = e.to_string();
            assert!(e.starts_with("t.h5: "), "{e}");
            assert!(e.contains("help: the file is corrupt or truncated"), "{e}");
            named += usize::from(e.starts_with("t.h5: object `/"));
        }
    }
    assert!(named > 0, "no error named an object");
    let f = H5File::from_bytes("t.h5", bytes).unwrap();
    let e = f.get("model_weights").unwrap().unwrap().read().unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.h5: object `/model_weights`: expected a dataset, found a group"
    );
}

#[test]
fn half_floats_decode() {
    assert_eq!(half_to_f64(0x3c00), 1.0);
    assert_eq!(half_to_f64(0xc000), -2.0);
    assert_eq!(half_to_f64(0x0001), 2f64.powi(-24));
    assert_eq!(half_to_f64(0x7c00), f64::INFINITY);
    assert!(half_to_f64(0x7e00).is_nan());
}
