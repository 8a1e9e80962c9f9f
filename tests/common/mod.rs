//! Helpers shared by the command-line behaviour tests.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use snnc_runtime::io::{write_npz, NdArray};

/// The tests' tiny network: avg_pool 4x4 -> flatten -> dense 16 relu ->
/// dense 10, on MNIST images (its params: [`write_tiny_params`] with 49
/// inputs).
pub const TINY_NETWORK: &str = "network tiny {
    input image: 28x28x1
    pool = avg_pool(image, pool=4x4)
    flat = flatten(pool)
    hidden = dense(flat, units=16, activation=relu)
    out = dense(hidden, units=10)
}";

/// Writes `dir/name`: the tiny network, a `spiking` variant (spiking ReLU
/// plus the `convert` lines), probes `rates` (hidden) and `pred` (out), and
/// a run block of `spiking` reading `params.npz` beside it and the first
/// `limit` bundled test images, plus the `run` lines.
pub fn write_tiny_spec(dir: &Path, name: &str, convert: &str, limit: usize, run: &str) -> PathBuf {
    let spec = format!(
        r#"{TINY_NETWORK}

convert spiking from tiny {{
    swap relu -> spiking_relu
{convert}
}}

probe rates = hidden
probe pred = out

run {{
    network = spiking
    params = "params.npz"
    data = mnist_idx("{}", split=test, limit={limit})
{run}
}}
"#,
        bundled_data().display()
    );
    let path = dir.join(name);
    std::fs::write(&path, spec).unwrap();
    path
}

/// The `snnc` binary under test.
pub fn snnc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_snnc"))
}

/// Runs `cmd` (an [`snnc`] command with its arguments) to completion and
/// returns its stdout; fails the test with its stderr if it fails.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The MNIST test images the repository carries.
pub fn bundled_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data")
}

/// A fresh directory per test crate (`suite`), test and process.
pub fn temp_dir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snnc-{suite}-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `params.npz` in `dir` for the tests' tiny network (`hidden = dense(...,
/// units=16)` reading `hidden_in` values, `out = dense(hidden, units=10)`):
/// deterministic weights, and the hidden biases the test asks for, which
/// decide how fast the hidden units fire.
pub fn write_tiny_params(dir: &Path, hidden_in: usize, hidden_bias: impl Fn(usize) -> f32) {
    let kernel: Vec<f32> = (0..hidden_in * 16)
        .map(|i| (((i * 7919) % 97) as f32 / 97.0 - 0.3) * 0.5)
        .collect();
    let out: Vec<f32> = (0..160)
        .map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5)
        .collect();
    let arrays = [
        (
            "hidden.kernel",
            NdArray::from_f32(vec![hidden_in, 16], kernel),
        ),
        (
            "hidden.bias",
            NdArray::from_f32(vec![16], (0..16).map(hidden_bias).collect()),
        ),
        ("out.kernel", NdArray::from_f32(vec![16, 10], out)),
        ("out.bias", NdArray::from_f32(vec![10], vec![0.0; 10])),
    ];
    let refs: Vec<(&str, &NdArray)> = arrays.iter().map(|(k, a)| (*k, a)).collect();
    write_npz(&dir.join("params.npz"), &refs).unwrap();
}

/// The keys documented in the table under `heading` in docs/json.md.
pub fn documented_json_keys(heading: &str) -> BTreeSet<String> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md"))
        .unwrap();
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/json.md has no section `{heading}`"));
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// Every key of `v`, nested ones as `outer.inner` (objects) and
/// `outer[].inner` (arrays of objects).
pub fn json_keys(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let Value::Object(map) = v else { return };
    for (k, x) in map {
        let path = format!("{prefix}{k}");
        out.insert(path.clone());
        match x {
            Value::Object(_) => json_keys(x, &format!("{path}."), out),
            Value::Array(items) => {
                for item in items {
                    json_keys(item, &format!("{path}[]."), out);
                }
            }
            _ => {}
        }
    }
}
