//! Importing the in-repo fixtures (and the real files of `shared/keras`
//! when present), the folding arithmetic, and every refusal.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};

use super::*;
use crate::hdf5::tests::{fixture, shared_keras};
use crate::hdf5::H5File;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snnc-import-unit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn all_models() -> Vec<PathBuf> {
    let mut paths = vec![fixture("tf2_tiny.h5"), fixture("functional_tiny.keras")];
    if let Some(d) = shared_keras() {
        for n in [
            "seed.keras",
            "seed.h5",
            "broad.keras",
            "broad.h5",
            "batchnorm.keras",
        ] {
            paths.push(d.join(n));
        }
    }
    paths
}

#[test]
fn specs_check_clean_also_with_the_run_block_uncommented() {
    for p in all_models() {
        let imp =
            import(&p, &Options::default()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        // `import` already refuses to hand out a spec with any diagnostic.
        let run = emit::uncomment_run(&imp.spec);
        assert_ne!(run, imp.spec, "{}: no run template", p.display());
        let checked = snnc_compiler::check_source(&run);
        assert!(
            checked.diagnostics.is_empty(),
            "{}: {:#?}\n{run}",
            p.display(),
            checked.diagnostics
        );
        let program = checked.program.unwrap();
        assert_eq!(program.runs.len(), 1);
    }
}

#[test]
fn the_seed_spec_reads_like_a_hand_written_one() {
    let Some(d) = shared_keras() else { return };
    let imp = import(&d.join("seed.keras"), &Options::default()).unwrap();
    let body: Vec<&str> = imp
        .spec
        .lines()
        .skip_while(|l| !l.starts_with("network"))
        .take(6)
        .collect();
    assert_eq!(
        body,
        [
            "network seed {",
            "    input input_layer: 28x28x1                                              # pixels in [0, 1] (see above)",
            "    conv2d  = conv2d(input_layer, filters=32, kernel=3x3, activation=relu)  # 26x26x32",
            "    flatten = flatten(conv2d)                                               # 21632",
            "    dense   = dense(flatten, units=10)                                      # 10: the output, probe `logits`",
            "}",
        ]
    );
    assert!(imp.spec.contains("convert spiking from seed {\n    swap relu -> spiking_relu\n    scale_firing_rates = 20\n    synapse = lowpass(5ms)\n}"));
    assert!(imp.spec.contains("probe logits = dense\n"));
    assert!(imp
        .spec
        .contains("#     data      = mnist_idx(\"data/mnist\", split=test, limit=1000)"));
}

#[test]
fn batch_norm_is_folded_exactly_and_softmax_dropped() {
    let p = fixture("tf2_tiny.h5");
    let imp = import(&p, &Options::default()).unwrap();
    let names: Vec<String> = imp
        .params
        .iter()
        .map(|(n, a)| format!("{n} {}", a.shape_string()))
        .collect();
    assert_eq!(
        names,
        [
            "conv2d.kernel (3, 3, 2, 3)",
            "conv2d.bias (3,)",
            "dense.kernel (27, 5)",
            "dense.bias (5,)",
            "dense_1.kernel (5, 4)",
            "dense_1.bias (4,)"
        ]
    );
    let outcome = |k: &str| imp.layers.iter().find(|l| l.keras == k).unwrap().clone();
    assert_eq!(outcome("conv2d").node, None);
    assert_eq!(
        outcome("batch_normalization").node.as_deref(),
        Some("conv2d")
    );
    assert_eq!(outcome("dropout").node.as_deref(), Some("dense"));
    assert!(!outcome("dense_1").exact);
    assert!(
        imp.notes.iter().any(|n| n.contains("softmax")),
        "{:?}",
        imp.notes
    );
    assert!(
        imp.spec
            .contains("dense_1           = dense(dense, units=4)"),
        "{}",
        imp.spec
    );

    // The folded tensors, recomputed from the file.
    let f = H5File::open(&p).unwrap();
    let read = |path: &str| {
        f.get(path)
            .unwrap()
            .unwrap()
            .read()
            .unwrap()
            .floats()
            .unwrap()
    };
    let k = read("model_weights/conv2d/conv2d/kernel:0");
    let b = read("model_weights/conv2d/conv2d/bias:0");
    let bn = |v: &str| {
        read(&format!(
            "model_weights/batch_normalization/batch_normalization/{v}:0"
        ))
    };
    let (g, beta, m, var) = (
        bn("gamma"),
        bn("beta"),
        bn("moving_mean"),
        bn("moving_variance"),
    );
    let s: Vec<f64> = (0..3).map(|c| g[c] / (var[c] + 0.001).sqrt()).collect();
    let got_k = imp.params[0].1.to_f64_vec();
    let got_b = imp.params[1].1.to_f64_vec();
    for (i, (&want, got)) in k.iter().zip(&got_k).enumerate() {
        assert_eq!(*got, f64::from((want * s[i % 3]) as f32));
    }
    for c in 0..3 {
        assert_eq!(got_b[c], f64::from(((b[c] - m[c]) * s[c] + beta[c]) as f32));
    }
}

#[test]
fn names_are_made_valid_and_unique() {
    let dst = scratch("names").join("my-model v2.keras");
    keras_variant(&fixture("functional_tiny.keras"), &dst, |j| {
        rename(j, "re_lu", "relu");
        rename(j, "pool_a", "pool-a");
    });
    let imp = import(&dst, &Options::default()).unwrap();
    assert_eq!(imp.name, "my_model_v2");
    assert!(
        imp.spec.contains("relu_layer = activation(add, relu)"),
        "{}",
        imp.spec
    );
    assert!(
        imp.spec.contains("pool_a     = max_pool(conv_a, pool=2x2)"),
        "{}",
        imp.spec
    );
    assert!(
        imp.notes.iter().any(|n| n
            == "Keras layer `relu` is called `relu_layer` in the spec (and in the params file)"),
        "{:?}",
        imp.notes
    );
    let e = import(
        &dst,
        &Options {
            name: Some("1st".into()),
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`1st` cannot name a network"), "{e}");
    let imp = import(
        &dst,
        &Options {
            name: Some("spiking".into()),
        },
    )
    .unwrap();
    assert!(
        imp.spec.contains("convert spiking_variant from spiking {"),
        "{}",
        imp.spec
    );
    let _ = std::fs::remove_dir_all(dst.parent().unwrap());
}

// ------------------------------------------------------------ refusals ----

/// Rewrites a `.keras` zip with its config.json changed by `edit`.
fn keras_variant(src: &Path, dst: &Path, edit: impl FnOnce(&mut Json)) {
    let mut z = zip::ZipArchive::new(std::fs::File::open(src).unwrap()).unwrap();
    let mut members = Vec::new();
    for i in 0..z.len() {
        let mut m = z.by_index(i).unwrap();
        let mut buf = Vec::new();
        m.read_to_end(&mut buf).unwrap();
        members.push((m.name().to_string(), buf));
    }
    let config = members
        .iter_mut()
        .find(|(n, _)| n == "config.json")
        .unwrap();
    let mut json: Json = serde_json::from_slice(&config.1).unwrap();
    edit(&mut json);
    config.1 = serde_json::to_vec(&json).unwrap();
    let mut w = zip::ZipWriter::new(std::fs::File::create(dst).unwrap());
    for (name, data) in members {
        w.start_file(
            name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        w.write_all(&data).unwrap();
    }
    w.finish().unwrap();
}

fn layers(j: &mut Json) -> &mut Vec<Json> {
    j["config"]["layers"].as_array_mut().unwrap()
}

fn layer<'a>(j: &'a mut Json, name: &str) -> &'a mut Json {
    layers(j)
        .iter_mut()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no layer {name}"))
}

/// Renames a weightless layer everywhere it is mentioned.
fn rename(j: &mut Json, from: &str, to: &str) {
    let text = serde_json::to_string(j)
        .unwrap()
        .replace(&format!("\"{from}\""), &format!("\"{to}\""));
    *j = serde_json::from_str(&text).unwrap();
}

fn refused(name: &str, edit: impl FnOnce(&mut Json)) -> String {
    let dir = scratch(&format!("refusal-{name}"));
    let dst = dir.join(format!("{name}.keras"));
    keras_variant(&fixture("functional_tiny.keras"), &dst, edit);
    let result = import(&dst, &Options::default());
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(imp) => panic!("{name}: imported:\n{}", imp.spec),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unsupported_layers_classes_and_arguments_are_refused() {
    type Edit = Box<dyn FnOnce(&mut Json)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "lstm",
            Box::new(|j| layers(j).push(json!({"module": "keras.layers", "class_name": "LSTM", "name": "lstm", "registered_name": null, "config": {"name": "lstm", "units": 8}, "inbound_nodes": []}))),
            "layer `lstm` (LSTM): not a layer snnc can import",
        ),
        ("dilation", Box::new(|j| layer(j, "conv_a")["config"]["dilation_rate"] = json!([2, 2])), "layer `conv_a` (Conv2D): dilation_rate [2, 2] is not supported"),
        ("groups", Box::new(|j| layer(j, "conv_b")["config"]["groups"] = json!(2)), "layer `conv_b` (Conv2D): groups=2 is not supported"),
        ("leaky", Box::new(|j| layer(j, "re_lu")["class_name"] = json!("LeakyReLU")), "layer `re_lu` (LeakyReLU): the .snn language has no leaky ReLU activation"),
        ("elu", Box::new(|j| layer(j, "conv_a")["config"]["activation"] = json!("elu")), "layer `conv_a` (Conv2D): activation `elu` is not supported: activations are relu, sigmoid, tanh and linear"),
        ("leaky_act", Box::new(|j| layer(j, "conv_a")["config"]["activation"] = json!("leaky_relu")), "activation `leaky_relu` is not supported: the .snn language has no leaky ReLU"),
        ("softmax_inside", Box::new(|j| layer(j, "conv_a")["config"]["activation"] = json!("softmax")), "layer `conv_a` (Conv2D): softmax is only supported on the model output"),
        ("concat", Box::new(|j| layer(j, "add")["class_name"] = json!("Concatenate")), "layer `add` (Concatenate): the .snn language has no concatenate layer"),
        ("multiply", Box::new(|j| layer(j, "add")["class_name"] = json!("Multiply")), "layer `add` (Multiply): the .snn language's only merge layer is `add`"),
        ("custom", Box::new(|j| layer(j, "conv_a")["registered_name"] = json!("my_pkg>MyConv")), "layer `conv_a` (Conv2D): a custom layer (registered as `my_pkg>MyConv`)"),
        ("channels_first", Box::new(|j| layer(j, "pool_a")["config"]["data_format"] = json!("channels_first")), "layer `pool_a` (MaxPooling2D): data_format \"channels_first\" is not supported"),
        ("pool_same", Box::new(|j| { let c = &mut layer(j, "pool_a")["config"]; c["padding"] = json!("same"); c["pool_size"] = json!([3, 3]); }), "padding=\"same\" pads this 8x8 input"),
        ("relu6", Box::new(|j| layer(j, "re_lu")["config"]["max_value"] = json!(6.0)), "layer `re_lu` (ReLU): a ReLU with max_value"),
        ("reshape", Box::new(|j| { let l = layer(j, "gap"); l["class_name"] = json!("Reshape"); l["config"]["target_shape"] = json!([8, 8]); }), "layer `gap` (Reshape): a reshape of 4x4x4 to (8, 8); the spec has no reshape"),
        ("add_shapes", Box::new(|j| layer(j, "conv_b")["config"]["strides"] = json!([1, 1])), "layer `add` (Add): its inputs have different shapes (pool_a is 4x4x4, conv_b is 8x8x4)"),
        ("dense_on_image", Box::new(|j| layer(j, "gap")["class_name"] = json!("Dropout")), "layer `logits` (Dense): its input has shape 4x4x4"),
        ("bias_missing", Box::new(|j| layer(j, "conv_b")["config"]["use_bias"] = json!(true)), "layer `conv_b` (Conv2D): the file holds 1 weight tensor(s) for it, but its config needs 2 (kernel, bias)"),
        ("kernel_shape", Box::new(|j| layer(j, "conv_b")["config"]["filters"] = json!(5)), "layer `conv_b` (Conv2D): its kernel has shape (3, 3, 4, 4) but the layer needs (3, 3, 4, 5)"),
        (
            "bn_after_relu",
            Box::new(|j| {
                let t = json!({"class_name": "__keras_tensor__", "config": {"shape": [null, 8, 8, 4], "dtype": "float32", "keras_history": ["conv_a", 0, 0]}});
                let mut bn = json!({"module": "keras.layers", "class_name": "BatchNormalization", "name": "bn", "registered_name": null,
                    "config": {"name": "bn", "axis": -1, "epsilon": 0.001}, "inbound_nodes": [{"args": [t], "kwargs": {}}]});
                bn["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = json!(["conv_a", 0, 0]);
                layers(j).insert(2, bn);
                layer(j, "pool_a")["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = json!(["bn", 0, 0]);
            }),
            "layer `bn` (BatchNormalization): BatchNormalization can only be imported folded into a directly preceding Dense or Conv2D with linear activation whose output nothing else reads; it follows `conv_a` (Conv2D), whose relu activation comes before the normalization",
        ),
        ("nested", Box::new(|j| layer(j, "re_lu")["class_name"] = json!("Sequential")), "layer `re_lu` (Sequential): a nested model"),
        ("quantized", Box::new(|j| layer(j, "logits")["config"]["dtype"] = json!({"class_name": "DTypePolicy", "config": {"name": "int8_from_float32"}})), "a quantized layer"),
    ];
    for (name, edit, want) in cases {
        let e = refused(name, edit);
        assert!(e.contains(want), "{name}: expected `{want}` in:\n{e}");
        assert!(
            e.contains("help: snnc imports these Keras layers: InputLayer, Dense, Conv2D"),
            "{name}: {e}"
        );
    }
    // Several problems are all listed, once each.
    let e = refused("several", |j| {
        layer(j, "conv_a")["config"]["dilation_rate"] = json!([2, 2]);
        layer(j, "add")["class_name"] = json!("Concatenate");
    });
    assert!(
        e.contains("cannot import this model (2 problems):\n  - layer `conv_a`"),
        "{e}"
    );
}

#[test]
fn unimportable_model_kinds_are_refused() {
    let e = refused("subclassed", |j| j["class_name"] = json!("MyModel"));
    assert!(
        e.contains(
            "member 'config.json': the model is a `MyModel`, not a Sequential or Functional model"
        ),
        "{e}"
    );
    let e = refused("shared", |j| {
        let node = layer(j, "conv_b")["inbound_nodes"][0].clone();
        layer(j, "conv_b")["inbound_nodes"]
            .as_array_mut()
            .unwrap()
            .push(node);
    });
    assert!(
        e.contains("layer `conv_b` (Conv2D) is called 2 times (a shared layer)"),
        "{e}"
    );
}

#[test]
fn broken_containers_are_explained() {
    let dir = scratch("containers");
    // A .keras cut in half.
    let bytes = std::fs::read(fixture("functional_tiny.keras")).unwrap();
    let cut = dir.join("cut.keras");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = import(&cut, &Options::default()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: not a valid .keras (zip) file", cut.display())),
        "{e}"
    );
    // Every cut of the small fixture: an error naming the file, no panic.
    for n in (0..bytes.len()).step_by(97) {
        std::fs::write(&cut, &bytes[..n]).unwrap();
        let e = import(&cut, &Options::default()).unwrap_err().to_string();
        assert!(e.starts_with(&cut.display().to_string()), "{e}");
    }
    // A zip that is not a Keras model; bad JSON.
    let z = dir.join("other.keras");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&z).unwrap());
    w.start_file("readme.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.finish().unwrap();
    let e = import(&z, &Options::default()).unwrap_err().to_string();
    assert!(
        e.contains("has no `config.json`, so it is not a Keras 3 `.keras` model"),
        "{e}"
    );
    let bad = dir.join("json.keras");
    keras_variant(&fixture("functional_tiny.keras"), &bad, |j| {
        *j = json!("not a model")
    });
    let e = import(&bad, &Options::default()).unwrap_err().to_string();
    assert!(e.contains("the model config has no `class_name`"), "{e}");
    // An HDF5 file without a model config (weights only).
    let w = dir.join("weights.h5");
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(fixture("functional_tiny.keras")).unwrap())
            .unwrap();
    let mut buf = Vec::new();
    zip.by_name("model.weights.h5")
        .unwrap()
        .read_to_end(&mut buf)
        .unwrap();
    std::fs::write(&w, buf).unwrap();
    let e = import(&w, &Options::default()).unwrap_err().to_string();
    assert!(
        e.contains("holds only weights (no `model_config` attribute)"),
        "{e}"
    );
    assert!(e.contains("not `save_weights`"), "{e}");
    // Not a model at all; a directory.
    let e = import(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("Cargo.toml")
            .as_path(),
        &Options::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(
            "not a Keras model file: it is neither a .keras zip archive nor an HDF5 (.h5) file"
        ),
        "{e}"
    );
    let e = import(&dir, &Options::default()).unwrap_err().to_string();
    assert!(e.contains("is a directory, not a Keras model file"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn write_refuses_to_clobber() {
    let dir = scratch("write");
    let imp = import(&fixture("functional_tiny.keras"), &Options::default()).unwrap();
    let (spec, params) = imp.write(&dir.join("out"), false).unwrap();
    assert!(
        spec.ends_with("functional_tiny.snn") && params.ends_with("functional_tiny_params.npz")
    );
    let e = imp.write(&dir.join("out"), false).unwrap_err().to_string();
    assert!(e.contains("already exists; not overwriting it"), "{e}");
    imp.write(&dir.join("out"), true).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every argument the importer writes is one of the ops table's for its
/// layer kind, in the table's order: a name the table lacks would be left
/// out of the spec without a word.
#[test]
fn written_arguments_are_the_ops_tables() {
    use convert::{Act, Node, Op};
    let ops = [
        Op::Dense {
            units: 3,
            act: Act::Relu,
        },
        Op::Conv2d {
            filters: 2,
            kernel: [3, 3],
            strides: [2, 1],
            same: true,
            act: Act::Tanh,
        },
        Op::DepthwiseConv2d {
            depth_multiplier: 2,
            kernel: [3, 3],
            strides: [1, 1],
            same: false,
            act: Act::Linear,
        },
        Op::AvgPool {
            pool: [2, 2],
            strides: [1, 1],
        },
        Op::MaxPool {
            pool: [2, 2],
            strides: [2, 2],
        },
        Op::Flatten,
        Op::Activation(Act::Sigmoid),
        Op::Add,
    ];
    for op in ops {
        let node = Node {
            name: "y".into(),
            keras: "y".into(),
            class: "Layer".into(),
            op: op.clone(),
            inputs: vec![0],
            shape: vec![1],
            kernel: None,
            bias: None,
            note: None,
            folded: None,
        };
        let kind = node.kind().expect("a layer");
        let table: Vec<&str> = kind.arg_names();
        let written: Vec<&str> = node.arg_values().iter().map(|(n, _)| *n).collect();
        let in_table_order: Vec<&str> = table
            .iter()
            .copied()
            .filter(|n| written.contains(n))
            .collect();
        assert_eq!(written, in_table_order, "{op:?}");
    }
}
