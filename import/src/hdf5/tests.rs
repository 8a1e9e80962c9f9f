//! The reader against the in-repo fixtures (written by h5py, see
//! `tests/fixtures/make_fixtures.py`) and, when present, the real Keras
//! files of `shared/keras`: exact reads, then every truncation and byte
//! flip, which must give errors naming the file, never a panic.

use std::collections::HashSet;
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
    let mut seen = HashSet::new();
    let mut stack = vec![file.root()?];
    let mut n = 0;
    while let Some(obj) = stack.pop() {
        if !seen.insert(obj.addr) || seen.len() > 10_000 {
            continue;
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

/// Byte positions outside every dataset's raw data: flipping a weight
/// value exercises nothing, flipping structure does.
fn metadata_positions(bytes: &[u8]) -> Vec<usize> {
    let f = H5File::from_bytes("m.h5", bytes.to_vec()).unwrap();
    let mut data = vec![false; bytes.len()];
    let mut stack = vec![f.root().unwrap()];
    let mut seen = HashSet::new();
    while let Some(obj) = stack.pop() {
        if !seen.insert(obj.addr) {
            continue;
        }
        if let Some(lm) = obj.msgs.iter().find(|m| m.kind == msg::LAYOUT) {
            if let Ok(Layout::Contiguous {
                addr: Some(a),
                size,
            }) = format::layout(&mut f.raw.msg(lm, "l").unwrap(), f.raw.so, f.raw.sl)
            {
                let (a, e) = (a as usize, (a + size) as usize);
                data[a.min(bytes.len())..e.min(bytes.len())]
                    .iter_mut()
                    .for_each(|d| *d = true);
            }
        }
        for m in obj.members().unwrap() {
            stack.push(obj.child(&m).unwrap().unwrap());
        }
    }
    (0..bytes.len()).filter(|&i| !data[i]).collect()
}

fn open_bytes(name: &str, bytes: Vec<u8>) -> Result<usize, IoError> {
    walk(&H5File::from_bytes(name, bytes)?)
}

#[test]
fn reads_the_tf2_layout_fixture() {
    let f = H5File::open(&fixture("tf2_tiny.h5")).unwrap();
    assert_eq!(f.superblock_version(), 0);
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
    assert_eq!(f.superblock_version(), 3);
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

/// Every cut of a file: never a panic; errors name the file.
fn truncations(name: &str, bytes: &[u8], step: usize) {
    for cut in (0..bytes.len()).step_by(step) {
        if let Err(e) = open_bytes(name, bytes[..cut].to_vec()) {
            assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
        }
    }
}

/// `k` positions drawn (deterministically) from `from`.
fn sample(from: &[usize], k: usize) -> Vec<usize> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..k.min(from.len()))
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            from[(x >> 33) as usize % from.len()]
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
    let bytes = std::fs::read(fixture("tf2_tiny.h5")).unwrap();
    let meta = metadata_positions(&bytes);
    // The first 2 KB (superblock, root group, B-tree, heaps) densely, then
    // a sample of the rest of the structure.
    let dense = meta.iter().copied().filter(|&i| i < 2048);
    let (ok, err) = flips("tf2_tiny.h5", &bytes, dense.chain(sample(&meta, 1500)));
    eprintln!("tf2_tiny.h5: {err} flips noticed, {ok} harmless");
    assert!(err > 600, "only {err} flips were noticed");
    let bytes = zip_member(&fixture("functional_tiny.keras"), "model.weights.h5");
    let meta = metadata_positions(&bytes);
    let dense = meta.iter().copied().filter(|&i| i < 1024);
    flips("weights.h5", &bytes, dense.chain(sample(&meta, 1500)));
}

#[test]
fn damaged_real_files_never_panic() {
    let Some(dir) = shared_keras() else { return };
    let broad = std::fs::read(dir.join("broad.h5")).unwrap();
    truncations("broad.h5", &broad, 211);
    let meta = metadata_positions(&broad);
    flips("broad.h5", &broad, sample(&meta, 1000).into_iter());
    // The big file: its structure only (the weights are 99% of it).
    let seed = zip_member(&dir.join("seed.keras"), "model.weights.h5");
    truncations("model.weights.h5", &seed, 99_991);
    let meta = metadata_positions(&seed);
    flips("model.weights.h5", &seed, sample(&meta, 60).into_iter());
}

#[test]
fn clear_errors_for_wrong_files() {
    let e = H5File::from_bytes("x.h5", Vec::new()).err().unwrap();
    assert!(
        e.to_string()
            .contains("not an HDF5 file: no HDF5 signature found (the file is empty (0 bytes))"),
        "{e}"
    );
    let e = H5File::from_bytes("x.h5", b"PK\x03\x04rest of a zip".to_vec())
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .starts_with("x.h5: superblock: byte 0x0: not an HDF5 file"),
        "{e}"
    );
    let e = H5File::open(Path::new("/nonexistent/model.h5"))
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/model.h5: could not read"),
        "{e}"
    );

    // A dataset whose data address points past the end: the error names
    // the file, the object and the problem.
    let mut bytes = std::fs::read(fixture("tf2_tiny.h5")).unwrap();
    let f = H5File::from_bytes("t.h5", bytes.clone()).unwrap();
    let k = f
        .get("model_weights/conv2d/conv2d/kernel:0")
        .unwrap()
        .unwrap();
    let lm = *k.msgs.iter().find(|m| m.kind == msg::LAYOUT).unwrap();
    assert_eq!(
        bytes[lm.at as usize..lm.at as usize + 2],
        [3, 1],
        "layout v3, contiguous"
    );
    let at = lm.at as usize + 2;
    bytes[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let f = H5File::from_bytes("t.h5", bytes).unwrap();
    let e = f
        .get("model_weights/conv2d/conv2d/kernel:0")
        .unwrap()
        .unwrap()
        .read()
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.h5: object `/model_weights/conv2d/conv2d/kernel:0`: byte 0x10000000000: "),
        "{e}"
    );
    assert!(e.contains("beyond the end of the file"), "{e}");
    assert!(e.contains("help: the file is corrupt or truncated"), "{e}");
}

#[test]
fn half_floats_and_big_endian_decode() {
    assert_eq!(f16_to_f64(0x3c00), 1.0);
    assert_eq!(f16_to_f64(0xc000), -2.0);
    assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
    assert!(f16_to_f64(0x7e00).is_nan());
    let raw = Raw {
        data: vec![],
        so: 8,
        sl: 8,
        base: 0,
        root: 0,
        version: 0,
    };
    let be = decode(
        &raw,
        Dtype::Float {
            size: 4,
            big_endian: true,
        },
        4,
        &1.5f32.to_be_bytes(),
    )
    .unwrap();
    assert_eq!(
        be,
        Data::Float {
            values: vec![1.5],
            bits: 32
        }
    );
    let i = decode(
        &raw,
        Dtype::Int {
            size: 2,
            signed: true,
            big_endian: false,
        },
        2,
        &(-3i16).to_le_bytes(),
    )
    .unwrap();
    assert_eq!(i, Data::Int(vec![-3]));
}
