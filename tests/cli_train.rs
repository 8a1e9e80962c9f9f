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
