//! The model architecture from Keras' JSON config: Sequential and
//! Functional models (Keras 3 and tf.keras 2 forms) as a list of layers in
//! topological order, each with the names of the layers it reads.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value as Json};

/// A model's layers and how they connect.
#[derive(Debug)]
pub struct Graph {
    /// `Sequential` or `Functional`.
    pub class: String,
    /// The Keras model name (`sequential`).
    pub name: String,
    /// Topological order: every layer after the layers it reads. Input
    /// layers included.
    pub layers: Vec<Layer>,
    /// The layers whose outputs are the model's outputs.
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Layer {
    pub name: String,
    pub class: String,
    pub config: Map<String, Json>,
    /// Set for layers Keras does not ship (registered by user code).
    pub custom: Option<String>,
    /// Names of the layers whose outputs this one reads, in call order.
    pub inputs: Vec<String>,
}

impl Graph {
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// How many layers read `name`, plus one if it is a model output.
    pub fn uses(&self, name: &str) -> usize {
        let readers: usize = self
            .layers
            .iter()
            .map(|l| l.inputs.iter().filter(|i| *i == name).count())
            .sum();
        readers + self.outputs.iter().filter(|o| *o == name).count()
    }

    /// The layers that read `name`.
    pub fn readers(&self, name: &str) -> Vec<&Layer> {
        self.layers
            .iter()
            .filter(|l| l.inputs.iter().any(|i| i == name))
            .collect()
    }
}

/// Problems with the config itself (not with what it asks for).
pub type ConfigResult<T> = Result<T, String>;

pub fn parse(top: &Json) -> ConfigResult<Graph> {
    let class = top
        .get("class_name")
        .and_then(Json::as_str)
        .ok_or("the model config has no `class_name`")?;
    let cfg = top
        .get("config")
        .ok_or("the model config has no `config`")?;
    match class {
        "Sequential" => sequential(top, cfg),
        "Functional" | "Model" => functional(cfg),
        other => Err(format!(
            "the model is a `{other}`, not a Sequential or Functional model; subclassed models keep their architecture in Python code, which cannot be imported (rebuild it as a Functional model)"
        )),
    }
}

fn layer_entry(entry: &Json, index: usize) -> ConfigResult<Layer> {
    let class = entry
        .get("class_name")
        .and_then(Json::as_str)
        .ok_or(format!("layer #{index} has no `class_name`"))?;
    let config = entry
        .get("config")
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default();
    let name = config
        .get("name")
        .or_else(|| entry.get("name"))
        .and_then(Json::as_str)
        .ok_or(format!("layer #{index} ({class}) has no name"))?
        .to_string();
    let module = entry.get("module").and_then(Json::as_str);
    let registered = entry.get("registered_name").and_then(Json::as_str);
    let custom = match (module, registered) {
        (_, Some(r)) if r != class && !matches!(class, "Functional" | "Sequential") => {
            Some(format!("registered as `{r}`"))
        }
        (Some(m), _) if !m.starts_with("keras") => Some(format!("from module `{m}`")),
        _ => None,
    };
    Ok(Layer {
        name,
        class: class.to_string(),
        config,
        custom,
        inputs: Vec::new(),
    })
}

/// The batch-less input shape of a model that was built but has no
/// InputLayer entry: `batch_input_shape`/`batch_shape` of the first layer,
/// then `build_input_shape`, then `build_config.input_shape`.
fn build_shape(top: &Json, cfg: &Json, first: Option<&Layer>) -> Option<Json> {
    let from_first = first
        .and_then(|l| {
            l.config
                .get("batch_input_shape")
                .or_else(|| l.config.get("batch_shape"))
        })
        .filter(|s| s.is_array());
    from_first
        .cloned()
        .or_else(|| {
            cfg.get("build_input_shape")
                .filter(|s| s.is_array())
                .cloned()
        })
        .or_else(|| {
            top.get("build_config")
                .and_then(|b| b.get("input_shape"))
                .filter(|s| s.is_array())
                .cloned()
        })
}

fn sequential(top: &Json, cfg: &Json) -> ConfigResult<Graph> {
    // Keras <= 2.2 stored the list of layers as the config itself.
    let (name, list) = match cfg {
        Json::Array(list) => ("sequential".to_string(), list),
        _ => (
            cfg.get("name")
                .and_then(Json::as_str)
                .unwrap_or("sequential")
                .to_string(),
            cfg.get("layers")
                .and_then(Json::as_array)
                .ok_or("the Sequential config has no `layers` list")?,
        ),
    };
    let mut layers = list
        .iter()
        .enumerate()
        .map(|(i, e)| layer_entry(e, i))
        .collect::<ConfigResult<Vec<_>>>()?;
    if layers.first().is_none_or(|l| l.class != "InputLayer") {
        let shape = build_shape(top, cfg, layers.first()).ok_or(
            "the Sequential model was never built, so its input shape is unknown; give it an `keras.Input(shape=...)` first and save it again",
        )?;
        let mut config = Map::new();
        config.insert("batch_shape".into(), shape);
        config.insert("name".into(), "input_layer".into());
        let taken: HashSet<&str> = layers.iter().map(|l| l.name.as_str()).collect();
        let mut name = "input_layer".to_string();
        while taken.contains(name.as_str()) {
            name.push('_');
        }
        layers.insert(
            0,
            Layer {
                name,
                class: "InputLayer".into(),
                config,
                custom: None,
                inputs: Vec::new(),
            },
        );
    }
    for i in 1..layers.len() {
        let prev = layers[i - 1].name.clone();
        layers[i].inputs = vec![prev];
    }
    let outputs = vec![layers.last().map(|l| l.name.clone()).unwrap_or_default()];
    check_unique(&layers)?;
    Ok(Graph {
        class: "Sequential".into(),
        name,
        layers,
        outputs,
    })
}

fn check_unique(layers: &[Layer]) -> ConfigResult<()> {
    let mut seen = HashSet::new();
    for l in layers {
        if !seen.insert(l.name.as_str()) {
            return Err(format!("two layers are named `{}`", l.name));
        }
    }
    Ok(())
}

/// `[name, node, tensor]` references to layer outputs found in a Keras 3
/// call (`__keras_tensor__` objects, anywhere in `args`) or a tf.keras 2
/// node (`[[name, node, tensor, kwargs], ...]`).
fn history(v: &Json, out: &mut Vec<(String, u64, u64)>) {
    match v {
        Json::Object(o) => {
            if o.get("class_name").and_then(Json::as_str) == Some("__keras_tensor__") {
                if let Some(h) = o.get("config").and_then(|c| c.get("keras_history")) {
                    if let Some(r) = triple(h) {
                        out.push(r);
                    }
                }
                return;
            }
            for x in o.values() {
                history(x, out);
            }
        }
        Json::Array(a) => {
            if let Some(r) = triple(v) {
                out.push(r);
                return;
            }
            for x in a {
                history(x, out);
            }
        }
        _ => {}
    }
}

fn triple(v: &Json) -> Option<(String, u64, u64)> {
    let a = v.as_array()?;
    match a.as_slice() {
        [Json::String(n), node, tensor, ..] => Some((n.clone(), node.as_u64()?, tensor.as_u64()?)),
        _ => None,
    }
}

fn layer_refs(v: Option<&Json>, what: &str) -> ConfigResult<Vec<String>> {
    let v = v.ok_or(format!("the Functional config has no `{what}`"))?;
    if let Some((n, _, _)) = triple(v) {
        return Ok(vec![n]);
    }
    let list = v.as_array().ok_or(format!("`{what}` is not a list"))?;
    list.iter()
        .map(|x| {
            triple(x).map(|t| t.0).ok_or(format!(
                "`{what}` has an entry that is not [layer, node, tensor]"
            ))
        })
        .collect()
}

fn functional(cfg: &Json) -> ConfigResult<Graph> {
    let name = cfg
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or("model")
        .to_string();
    let list = cfg
        .get("layers")
        .and_then(Json::as_array)
        .ok_or("the Functional config has no `layers` list")?;
    let mut layers = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let mut layer = layer_entry(entry, i)?;
        let nodes = entry
            .get("inbound_nodes")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        if nodes.len() > 1 {
            return Err(format!(
                "layer `{}` ({}) is called {} times (a shared layer); the .snn language gives every layer one input, so unshare it (one layer per call)",
                layer.name,
                layer.class,
                nodes.len()
            ));
        }
        let mut refs = Vec::new();
        if let Some(node) = nodes.first() {
            // Keras 3: {"args": [...], "kwargs": {...}}; the kwargs hold
            // call options (`training`, `mask`), not inputs.
            match node.get("args") {
                Some(args) => history(args, &mut refs),
                None => history(node, &mut refs),
            }
        }
        for (src, node, tensor) in &refs {
            if *node != 0 {
                return Err(format!("layer `{}` reads call #{node} of `{src}`, a shared layer; the .snn language cannot express shared layers", layer.name));
            }
            if *tensor != 0 {
                return Err(format!("layer `{}` reads output #{tensor} of `{src}`, a layer with several outputs, which cannot be imported", layer.name));
            }
        }
        layer.inputs = refs.into_iter().map(|r| r.0).collect();
        layers.push(layer);
    }
    check_unique(&layers)?;
    let outputs = layer_refs(cfg.get("output_layers"), "output_layers")?;
    let inputs = layer_refs(cfg.get("input_layers"), "input_layers")?;
    let names: HashSet<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    for n in outputs
        .iter()
        .chain(&inputs)
        .chain(layers.iter().flat_map(|l| &l.inputs))
    {
        if !names.contains(n.as_str()) {
            return Err(format!(
                "the config refers to a layer `{n}` that it does not define"
            ));
        }
    }
    // Topological order, keeping the listed order where it already is one.
    let mut done: HashSet<String> = HashSet::new();
    let mut ordered = Vec::new();
    let mut pending: Vec<Layer> = layers;
    while !pending.is_empty() {
        let pos = pending
            .iter()
            .position(|l| l.inputs.iter().all(|i| done.contains(i)))
            .ok_or_else(|| format!("the layers form a cycle (around `{}`)", pending[0].name))?;
        let l = pending.remove(pos);
        done.insert(l.name.clone());
        ordered.push(l);
    }
    let by_name: HashMap<&str, &Layer> = ordered.iter().map(|l| (l.name.as_str(), l)).collect();
    for i in &inputs {
        if by_name[i.as_str()].class != "InputLayer" {
            return Err(format!("model input `{i}` is not an InputLayer"));
        }
    }
    Ok(Graph {
        class: "Functional".into(),
        name,
        layers: ordered,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sequential_without_input_layer_uses_the_build_shape() {
        let top = json!({"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Flatten", "config": {"name": "flatten", "batch_input_shape": [null, 4, 4, 1]}},
            {"class_name": "Dense", "config": {"name": "dense", "units": 3}}
        ]}});
        let g = parse(&top).unwrap();
        assert_eq!(
            g.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["input_layer", "flatten", "dense"]
        );
        assert_eq!(g.layers[0].config["batch_shape"], json!([null, 4, 4, 1]));
        assert_eq!(g.layers[2].inputs, ["flatten"]);
        assert_eq!(g.outputs, ["dense"]);
        let unbuilt = json!({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"name": "d"}}]}});
        assert!(parse(&unbuilt).unwrap_err().contains("never built"));
    }

    #[test]
    fn functional_in_both_keras_forms() {
        let t = |n: &str| json!({"class_name": "__keras_tensor__", "config": {"keras_history": [n, 0, 0]}});
        let k3 = json!({"class_name": "Functional", "config": {"name": "f",
            "layers": [
                {"class_name": "Add", "name": "add", "config": {"name": "add"}, "inbound_nodes": [{"args": [[t("b"), t("a")]], "kwargs": {}}]},
                {"class_name": "InputLayer", "name": "x", "config": {"name": "x"}, "inbound_nodes": []},
                {"class_name": "Dense", "name": "a", "config": {"name": "a"}, "inbound_nodes": [{"args": [t("x")], "kwargs": {"training": false}}]},
                {"class_name": "Dense", "name": "b", "config": {"name": "b"}, "inbound_nodes": [{"args": [t("x")], "kwargs": {}}]}
            ],
            "input_layers": ["x", 0, 0], "output_layers": [["add", 0, 0]]}});
        let g = parse(&k3).unwrap();
        assert_eq!(
            g.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["x", "a", "b", "add"]
        );
        assert_eq!(g.layer("add").unwrap().inputs, ["b", "a"]);
        assert_eq!(g.uses("x"), 2);
        assert_eq!(g.uses("add"), 1);

        let k2 = json!({"class_name": "Functional", "config": {"name": "f",
            "layers": [
                {"class_name": "InputLayer", "name": "input_1", "config": {"name": "input_1"}, "inbound_nodes": []},
                {"class_name": "Dense", "name": "d", "config": {"name": "d"}, "inbound_nodes": [[["input_1", 0, 0, {}]]]}
            ],
            "input_layers": [["input_1", 0, 0]], "output_layers": [["d", 0, 0]]}});
        let g = parse(&k2).unwrap();
        assert_eq!(g.layer("d").unwrap().inputs, ["input_1"]);

        let shared = json!({"class_name": "Functional", "config": {"layers": [
            {"class_name": "Dense", "name": "d", "config": {"name": "d"}, "inbound_nodes": [[["x", 0, 0, {}]], [["x", 0, 0, {}]]]}
        ], "input_layers": [], "output_layers": []}});
        assert!(parse(&shared).unwrap_err().contains("shared layer"));
        let sub = json!({"class_name": "MyModel", "config": {}});
        assert!(parse(&sub).unwrap_err().contains("subclassed"));
    }
}
