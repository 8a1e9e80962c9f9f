//! `snnc train` end to end on the bundled images: `keep = best` saves
//! exactly the epochs whose validation accuracy beats every earlier one.

mod common;

use common::{bundled_data, snnc, stdout_of, temp_dir, TINY_NETWORK};

#[test]
fn keep_best_saves_only_improving_epochs() {
    let dir = temp_dir("train", "keep-best");
    let spec = dir.join("tiny.snn");
    let data = bundled_data();
    std::fs::write(
        &spec,
        format!(
            "{TINY_NETWORK}
probe pred = out
train {{
    network   = tiny
    data      = mnist_idx(\"{}\", split=test, limit=600)
    optimizer = sgd(lr=0.5)
    loss pred = sparse_categorical_crossentropy(from_logits=true)
    epochs    = 8
    batch     = 50
    validation_split = 0.25
    keep      = best
    seed      = 3
    save      = \"params.npz\"
}}
",
            data.display()
        ),
    )
    .unwrap();
    let out = stdout_of(snnc().arg("train").arg(&spec).args(["--format", "json"]));
    let epochs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(epochs.len(), 8);
    let mut best = f64::NEG_INFINITY;
    let mut skipped = 0;
    for e in &epochs {
        let acc = e["val"]["accuracy"].as_f64().unwrap();
        let saved = e["saved"].as_bool().unwrap();
        assert_eq!(
            saved,
            acc > best,
            "epoch {}: val accuracy {acc}, best so far {best}",
            e["epoch"]
        );
        best = best.max(acc);
        skipped += usize::from(!saved);
    }
    // A large learning rate on a small set makes the validation accuracy
    // wobble, so some epochs must have been passed over.
    assert!(skipped > 0, "every epoch improved; the test shows nothing");
    assert!(dir.join("params.npz").is_file());
}

fn write_small_train(dir: &std::path::Path, save: &str) -> std::path::PathBuf {
    let spec = dir.join("small.snn");
    std::fs::write(
        &spec,
        format!(
            "{TINY_NETWORK}
probe pred = out
train {{
    network   = tiny
    data      = mnist_idx(\"{}\", split=test, limit=20)
    optimizer = sgd(lr=0.1)
    loss pred = sparse_categorical_crossentropy(from_logits=true)
    epochs    = 1
    batch     = 10
    save      = \"{save}\"
}}
",
            bundled_data().display()
        ),
    )
    .unwrap();
    spec
}

/// A save path another live process holds the lock of is refused before
/// training; a lock left by a dead process is taken over and removed.
#[test]
fn a_save_path_in_use_is_refused() {
    let dir = temp_dir("train", "locked");
    let spec = write_small_train(&dir, "params.npz");
    let lock = dir.join(".params.npz.lock");
    // pid 1 always runs.
    std::fs::write(&lock, "1").unwrap();
    let out = snnc().arg("train").arg(&spec).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("another snnc process (pid 1) is writing this file"),
        "{stderr}"
    );
    assert!(!dir.join("params.npz").exists());

    // Above Linux's largest pid_max: no such process.
    std::fs::write(&lock, "4999999").unwrap();
    stdout_of(snnc().arg("train").arg(&spec));
    assert!(dir.join("params.npz").is_file());
    assert!(!lock.exists(), "the lock is removed after training");
}

/// A symlink as the save path is refused before training and left as is.
#[cfg(unix)]
#[test]
fn a_symlink_save_path_is_refused() {
    let dir = temp_dir("train", "symlink");
    let target = dir.join("elsewhere.npz");
    std::fs::write(&target, b"keep").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("params.npz")).unwrap();
    let spec = write_small_train(&dir, "params.npz");
    let out = snnc().arg("train").arg(&spec).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("a symbolic link"), "{stderr}");
    assert!(std::fs::symlink_metadata(dir.join("params.npz"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}

/// Training a conv layer of 2,000,000,000 filters stops before training
/// with an error naming the layer (it used to abort allocating).
#[test]
fn training_too_large_for_the_memory_budget_is_refused() {
    let dir = temp_dir("train", "budget");
    let spec = dir.join("huge.snn");
    std::fs::write(
        &spec,
        format!(
            "network big {{
    input image: 28x28x1
    conv = conv2d(image, filters=2000000000, kernel=3x3, activation=relu)
    flat = flatten(conv)
    out = dense(flat, units=10)
}}
probe pred = out
train {{
    network   = big
    data      = mnist_idx(\"{}\", split=test, limit=20)
    optimizer = sgd(lr=0.1)
    loss pred = sparse_categorical_crossentropy(from_logits=true)
    epochs    = 1
    batch     = 10
    save      = \"params.npz\"
}}
",
            bundled_data().display()
        ),
    )
    .unwrap();
    let out = snnc().arg("train").arg(&spec).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("training network `big` needs about"),
        "{stderr}"
    );
    assert!(
        stderr.contains("layer `conv` is the largest; lower its `filters`"),
        "{stderr}"
    );
    assert!(!dir.join("params.npz").exists());
}

/// Ctrl-C during training removes the save path's lock (and any temp file
/// of a save in progress) and exits with 130.
#[cfg(target_os = "linux")]
#[test]
fn an_interrupted_training_leaves_no_lock_or_temp_file() {
    use std::time::{Duration, Instant};
    let dir = temp_dir("train", "interrupt");
    let spec = dir.join("long.snn");
    std::fs::write(
        &spec,
        format!(
            "{TINY_NETWORK}
probe pred = out
train {{
    network   = tiny
    data      = mnist_idx(\"{}\", split=test)
    optimizer = sgd(lr=0.1)
    loss pred = sparse_categorical_crossentropy(from_logits=true)
    epochs    = 100000
    batch     = 10
    save      = \"params.npz\"
}}
",
            bundled_data().display()
        ),
    )
    .unwrap();
    let mut child = snnc()
        .arg("train")
        .arg(&spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = dir.join(".params.npz.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait for the lock, then for a first save, so the interrupt comes
    // while training goes on.
    while !(lock.exists() && dir.join("params.npz").exists()) {
        assert!(Instant::now() < deadline, "training did not start");
        assert!(child.try_wait().unwrap().is_none(), "training ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "training did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(!lock.exists(), "the lock is removed");
    let temps: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    assert!(
        dir.join("params.npz").is_file(),
        "the last complete save stays"
    );
}

/// `--save` and `--seed` replace the train block's `save` and `seed`.
#[test]
fn save_and_seed_override_the_train_block() {
    let dir = temp_dir("train", "overrides");
    let spec = write_small_train(&dir, "params.npz");
    let train = |args: &[&str]| {
        let o = snnc().arg("train").arg(&spec).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let elsewhere = dir.join("elsewhere.npz");
    train(&["--save", elsewhere.to_str().unwrap()]);
    assert!(elsewhere.is_file());
    assert!(
        !dir.join("params.npz").exists(),
        "the block's save was written"
    );
    train(&[]);
    // The block's seed is 0: `--seed 0` trains the same params, another
    // seed other ones.
    let block = std::fs::read(dir.join("params.npz")).unwrap();
    assert_eq!(std::fs::read(&elsewhere).unwrap(), block);
    let seeded = dir.join("seeded.npz");
    train(&["--seed", "7", "--save", seeded.to_str().unwrap()]);
    assert_ne!(std::fs::read(&seeded).unwrap(), block);
    // Starting from saved params is refused with the file's name when the
    // file is missing.
    let o = snnc()
        .arg("train")
        .arg(&spec)
        .args(["--init", "missing.npz"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missing.npz") && err.contains("--init"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
