#!/usr/bin/env python3
"""NengoDL peer benchmark for snnc.

Runs the same networks snnc runs (the `seed` and `deep` MNIST convnets) in
NengoDL on this machine and prints machine-readable JSON lines on stdout
(human-readable progress goes to stderr).  Run it with the venv made by
`bench/nengo/setup.sh`:

    target/nengo-venv/bin/python bench/nengo/peer.py predict --spec seed \
        --params P.npz --images 200 --steps 100 --scale 50 --synapse 0.005 \
        --data /work/shared/data/mnist

Subcommands: predict, train-epoch, random-params.  See README.md.
"""

import argparse
import gzip
import itertools
import json
import os
import struct
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

# tensorflow / nengo / nengo_dl are imported lazily (in main) so that `--help`
# and argument errors are fast.
tf = nengo = nengo_dl = None

PLANNERS = ("greedy", "tree", "transitive", "noop")
DEFAULT_MINIBATCHES = (1, 10, 50, 100, 200)
DEFAULT_UNROLLS = (1, 10, 25)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


def import_stack(threads=None):
    global tf, nengo, nengo_dl
    if tf is not None:
        return
    import tensorflow as _tf

    _tf.get_logger().setLevel("ERROR")
    if threads:
        _tf.config.threading.set_intra_op_parallelism_threads(threads)
        _tf.config.threading.set_inter_op_parallelism_threads(threads)
    import nengo as _nengo
    import nengo_dl as _nengo_dl

    tf, nengo, nengo_dl = _tf, _nengo, _nengo_dl


def without_data_autotuning():
    """Turns tf.data's autotuner off for every dataset made from now on (Keras
    makes one inside each `sim.predict`). With it on, TF 2.12 ends a `predict`
    by destroying that dataset's iterator, which waits for the tuner thread's
    next timed wake-up (0.32, 0.96, 2.24, 4.8, 9.9, 20.2 s after the iterator
    started: its period doubles) whenever the cancellation misses it, so the
    same work took 2.8-3.4 s or exactly 5.15 s from run to run (`hot`, 200
    images) and a median of five fell on either. An in-memory input has
    nothing to tune; the outputs are the same bit for bit."""
    make = tf.data.Options.__init__

    def make_without_autotuning(self, *args, **kwargs):
        make(self, *args, **kwargs)
        self.autotune.enabled = False

    tf.data.Options.__init__ = make_without_autotuning


def versions():
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "nengo": nengo.__version__,
        "nengo_dl": nengo_dl.__version__,
    }


# --------------------------------------------------------------------------- data


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    if (magic >> 8) != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise SystemExit(f"{path}: expected {dims} values, found {arr.size}")
    return arr.reshape(dims)


def load_mnist(data_dir, split, limit=None, pixel_max=1.0):
    prefix = "t10k" if split == "test" else "train"
    img_path = os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz")
    lbl_path = os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz")
    for p in (img_path, lbl_path):
        if not os.path.exists(p):
            raise SystemExit(f"missing MNIST file {p}")
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    if limit is not None:
        if limit > len(images):
            raise SystemExit(f"asked for {limit} {split} images, {data_dir} has {len(images)}")
        images, labels = images[:limit], labels[:limit]
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0 * np.float32(pixel_max)
    return x, labels.astype(np.int32)


# ------------------------------------------------------------------------ network

LAYERS = {
    # name: (filters/units, kernel, strides) ; all valid padding
    "seed": [("conv1", 32, 3, 1)],
    "deep": [("conv1", 32, 3, 1), ("conv2", 64, 3, 2), ("conv3", 128, 3, 2)],
    # NengoDL's keras-to-snn example network (bench/conversion's `k2s`)
    "k2s": [("conv0", 32, 3, 1), ("conv1", 64, 3, 2)],
}


def build_keras(spec, params=None, seed=0):
    tf.random.set_seed(seed)
    inp = tf.keras.Input(shape=(28, 28, 1), name="image")
    x = inp
    for name, filters, k, s in LAYERS[spec]:
        x = tf.keras.layers.Conv2D(
            filters, k, strides=s, padding="valid", activation=tf.nn.relu, name=name
        )(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    out = tf.keras.layers.Dense(10, name="out")(x)
    model = tf.keras.Model(inputs=inp, outputs=out)
    if params is not None:
        set_params(model, params)
    return model, inp, out


def weight_layers(model):
    return [l for l in model.layers if isinstance(l, (tf.keras.layers.Conv2D, tf.keras.layers.Dense))]


def set_params(model, params):
    want = {}
    for layer in weight_layers(model):
        want[f"{layer.name}.kernel"] = tuple(layer.kernel.shape)
        want[f"{layer.name}.bias"] = tuple(layer.bias.shape)
    problems = []
    for k, shape in want.items():
        if k not in params:
            problems.append(f"missing `{k}` (expected shape {shape})")
        elif tuple(params[k].shape) != shape:
            problems.append(f"`{k}` has shape {tuple(params[k].shape)}, expected {shape}")
    for k in params:
        if k not in want:
            problems.append(f"`{k}` is not a parameter of this network")
    if problems:
        raise SystemExit("params do not fit the network:\n  - " + "\n  - ".join(problems))
    for layer in weight_layers(model):
        layer.set_weights(
            [params[f"{layer.name}.kernel"].astype(np.float32), params[f"{layer.name}.bias"].astype(np.float32)]
        )


def get_params(model):
    out = {}
    for layer in weight_layers(model):
        k, b = layer.get_weights()
        out[f"{layer.name}.kernel"] = k
        out[f"{layer.name}.bias"] = b
    return out


def load_params(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def planner_fn(name):
    go = nengo_dl.graph_optimizer
    return {
        "greedy": go.greedy_planner,
        "tree": go.tree_planner,
        "transitive": go.transitive_planner,
        "noop": go.noop_planner,
    }[name]


def spiking_neuron(kind, initial):
    """The neuron type ReLUs are swapped for. `initial` is where voltages
    start: `uniform` is Nengo's default, Uniform(0, 1); `zero` starts them at
    0 (snnc's `initial_voltage = zero`)."""
    state = {} if initial == "uniform" else {"initial_state": {"voltage": nengo.dists.Choice([0.0])}}
    if kind == "lif":
        return nengo.LIF(**state)
    return nengo.SpikingRectifiedLinear(**state)


def convert(model, inp, out, scale, synapse, cfg, seed=0, neuron="relu", initial="uniform"):
    """Builds the spiking Nengo network for one trial configuration."""
    conv = nengo_dl.Converter(
        model,
        swap_activations={tf.nn.relu: spiking_neuron(neuron, initial)},
        scale_firing_rates=scale,
        synapse=synapse or None,
        inference_only=cfg["inference_only"],
    )
    # keep_history=False: probes keep only the last step's output, which is
    # all that accuracy-at-the-last-step needs
    settings = dict(planner=planner_fn(cfg["planner"]), stateful=cfg["stateful"],
                    keep_history=cfg["keep_history"])
    if not cfg["simplifications"]:
        settings["simplifications"] = []
    # nengo seeds objects (e.g. SpikingRectifiedLinear's initial voltages,
    # Uniform(0, 1)) from the network seed, or from the global numpy RNG when it
    # is None; Simulator(seed=) only seeds TensorFlow ops.  Fix it so that runs
    # are reproducible.
    conv.net.seed = seed
    with conv.net:
        nengo_dl.configure_settings(**settings)
    return conv, conv.inputs[inp], conv.outputs[out]


# ------------------------------------------------------------------------ predict


def pad_to(x, y, m):
    n = len(x)
    padded = -(-n // m) * m
    if padded == n:
        return x, y, 0
    idx = np.arange(padded) % n
    return x[idx], y[idx], padded - n


def run_predict(sim, in_node, probe, x, y, steps, minibatch, chunk_image_steps):
    """Times sim.predict over all of x (tiled over `steps`), in chunks to bound
    memory.  Returns (seconds, n_correct) counting only the first len(y) real
    images (x may be padded to a multiple of the minibatch)."""
    n = len(x)
    chunk = max(minibatch, (chunk_image_steps // steps // minibatch) * minibatch)
    seconds = 0.0
    preds = []
    for start in range(0, n, chunk):
        xb = x[start : start + chunk]
        tiled = np.repeat(xb[:, None, :], steps, axis=1)
        t0 = time.perf_counter()
        out = sim.predict({in_node: tiled}, n_steps=steps, verbose=0)
        seconds += time.perf_counter() - t0
        preds.append(np.argmax(out[probe][:, -1, :], axis=-1))
    pred = np.concatenate(preds)[: len(y)]
    return seconds, int(np.sum(pred == y))


def trial(args, model, inp, out, x_all, y_all, cfg, n_images, final=False):
    m = cfg["minibatch"]
    steps = args.steps if final else (args.trial_steps or args.steps)
    x, y = x_all[:n_images], y_all[:n_images]
    xp, _, n_pad = pad_to(x, y, m)
    conv, in_node, probe = convert(model, inp, out, args.scale, args.synapse, cfg, args.seed,
                                   args.neuron, args.initial)
    t0 = time.perf_counter()
    sim = nengo_dl.Simulator(
        conv.net,
        minibatch_size=m,
        unroll_simulation=cfg["unroll"],
        progress_bar=False,
        seed=args.seed,
    )
    build = time.perf_counter() - t0
    try:
        # first call traces/compiles the TF graph: timed separately as warmup
        t0 = time.perf_counter()
        sim.predict({in_node: np.repeat(xp[:m, None, :], steps, axis=1)}, n_steps=steps, verbose=0)
        warm = time.perf_counter() - t0
        runs = []
        for _ in range(args.repeats if final else args.trial_repeats):
            secs, correct = run_predict(sim, in_node, probe, xp, y, steps, m, args.chunk_image_steps)
            runs.append(secs)
    finally:
        sim.close()
    # best of the repeats: the machine is shared, so the minimum is the least
    # disturbed measurement (and gives NengoDL its best showing)
    secs = min(runs)
    rec = {
        "kind": "result" if final else "trial",
        "spec": args.spec,
        "images": int(len(y)),
        "padded_images": int(n_pad),
        "steps": steps,
        "seconds": secs,
        "seconds_median": float(np.median(runs)),
        "images_steps_per_second_median": len(y) * steps / float(np.median(runs)),
        "seconds_all": runs,
        # throughput counts only real images, but padded ones were simulated too
        "images_steps_per_second": len(y) * steps / secs,
        "accuracy": correct / len(y),
        "minibatch": m,
        "planner": cfg["planner"],
        "unroll": cfg["unroll"],
        "simplifications": "default" if cfg["simplifications"] else "none",
        "inference_only": cfg["inference_only"],
        "stateful": cfg["stateful"],
        "keep_history": cfg["keep_history"],
        "build_seconds": build,
        "warmup_seconds": warm,
        "scale": args.scale,
        "synapse": args.synapse,
        "neuron": args.neuron,
        "initial": args.initial,
    }
    emit(rec)
    log(
        f"[{rec['kind']}] mb={m} planner={cfg['planner']} unroll={cfg['unroll']} "
        f"simpl={rec['simplifications']} inf_only={cfg['inference_only']} stateful={cfg['stateful']} "
        f"-> {rec['images_steps_per_second']:.0f} img*steps/s (build {build:.1f}s, warmup {warm:.1f}s, "
        f"run {secs:.2f}s (median {rec['seconds_median']:.2f}s) on {len(y)}+{n_pad} images, acc {rec['accuracy']:.3f})"
    )
    return rec


def cmd_predict(args):
    import_stack(args.threads)
    if not args.data_autotune:
        without_data_autotuning()
    if args.params:
        params = load_params(args.params)
    else:
        raise SystemExit("predict needs --params (make random ones with the random-params subcommand)")
    model, inp, out = build_keras(args.spec, params)
    x, y = load_mnist(args.data, "test", args.images, args.pixel_max)
    emit({"kind": "env", "cpus": os.cpu_count(), "threads": args.threads, **versions()})

    minibatches = [m for m in args.minibatch if m <= args.images] or [min(args.minibatch)]
    trial_steps = args.trial_steps or args.steps
    unrolls = [u for u in args.unroll if args.steps % u == 0 and trial_steps % u == 0] or [1]
    planners = args.planner
    simpls = [True, False] if args.simplifications == "both" else [args.simplifications == "default"]
    fast = dict(inference_only=True, stateful=False, keep_history=False)
    trial_images = min(args.images, args.trial_images)

    def cfg_of(planner, m, unroll, simpl, opts=fast):
        return dict(planner=planner, minibatch=m, unroll=unroll, simplifications=simpl, **opts)

    results = []

    def run(cfg):
        n = max(trial_images, cfg["minibatch"])
        try:
            rec = trial(args, model, inp, out, x, y, cfg, n)
        except Exception as e:  # a config that fails to build/run is reported and skipped
            emit({"kind": "trial", "spec": args.spec, "error": f"{type(e).__name__}: {e}",
                  **dict(cfg, simplifications="default" if cfg["simplifications"] else "none")})
            log(f"[trial] {cfg} failed: {type(e).__name__}: {e}")
            return None
        results.append((rec, cfg))
        return rec

    def best_cfg():
        return max(results, key=lambda rc: rc[0]["images_steps_per_second"])[1]

    if args.search == "full":
        for p, m, u, s in itertools.product(planners, minibatches, unrolls, simpls):
            run(cfg_of(p, m, u, s))
    elif args.search == "none":
        results.append((None, cfg_of(planners[0], minibatches[-1], unrolls[0], simpls[0])))
    else:
        # coordinate search: one dimension at a time, keeping the best so
        # far, in passes until a pass changes nothing (the planner and the
        # unroll interact: a single pass can settle on a planner measured at
        # unroll 1 and then find no unroll better for it); configurations
        # already timed are not timed again
        timed = {}

        def run_once(cfg):
            key = tuple(sorted(cfg.items()))
            if key not in timed:
                timed[key] = run(cfg)
            return timed[key]

        m0 = 50 if 50 in minibatches else minibatches[len(minibatches) // 2]
        best = cfg_of(planners[0], m0, unrolls[0], simpls[0])
        for _ in range(args.passes):
            start = best
            for dim, values in (("planner", planners), ("minibatch", minibatches), ("unroll", unrolls),
                                ("simplifications", simpls)):
                for v in values:
                    run_once(dict(best, **{dim: v}))
                if not results:
                    raise SystemExit(f"every {dim} trial failed")
                best = best_cfg()
            if best == start:
                break
        if args.baseline:
            # NengoDL's defaults for the other settings, to show what they are worth
            b = best_cfg()
            run(cfg_of(b["planner"], b["minibatch"], b["unroll"], b["simplifications"],
                       dict(inference_only=False, stateful=True, keep_history=True)))
    if args.search != "none" and not any(r for r, _ in results if r is not None):
        raise SystemExit("every trial failed")
    b = best_cfg() if args.search != "none" else results[0][1]
    log(f"best config: {b}; full timed run on {args.images} images")
    trial(args, model, inp, out, x, y, b, args.images, final=True)


# -------------------------------------------------------------------------- train


class EpochTimer:
    def __init__(self):
        self.epochs = []
        self.batch_ends = []

    def callback(self):
        timer = self

        class CB(tf.keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.t_epoch = time.perf_counter()
                timer.batch_ends = []

            def on_train_batch_end(self, batch, logs=None):
                timer.batch_ends.append(time.perf_counter())

            def on_epoch_end(self, epoch, logs=None):
                t = time.perf_counter()
                be = timer.batch_ends
                steady = None
                if len(be) >= 3:
                    # per-batch time after the first batch (which includes tracing)
                    steady = (be[-1] - be[0]) / (len(be) - 1)
                timer.epochs.append(
                    dict(seconds=t - timer.t_epoch, batches=len(be),
                         first_batch_seconds=be[0] - timer.t_epoch if be else None,
                         steady_seconds_per_batch=steady)
                )

        return CB()


def extract_trained(sim, conv, model):
    """Reads trained weights back out of the NengoDL simulator into the snnc
    (Keras) layout."""
    params = {}
    conns = list(conv.net.all_connections)
    for layer in weight_layers(model):
        obj = conv.layers[layer.output]
        post_ens = obj.ensemble if isinstance(obj, nengo.ensemble.Neurons) else None
        kernel = bias = None
        for c in conns:
            label = getattr(c.pre_obj, "label", None) or ""
            if c.post_obj is obj and isinstance(c.transform, (nengo.Convolution, nengo.Dense)) and not label.startswith(layer.name + "."):
                w = sim.data[c].weights
                kernel = w if isinstance(c.transform, nengo.Convolution) else w.T
            if label in (f"{layer.name}.0.bias",):
                bias = sim.data[c].weights[:, 0]
        if bias is None and post_ens is not None:
            bias = sim.data[post_ens].bias
        if kernel is None or bias is None:
            raise RuntimeError(f"could not find trained weights of layer {layer.name}")
        params[f"{layer.name}.kernel"] = np.asarray(kernel, np.float32).reshape(layer.kernel.shape)
        params[f"{layer.name}.bias"] = np.asarray(bias, np.float32).reshape(layer.bias.shape)
    return params


def cmd_train(args):
    import_stack(args.threads)
    params = load_params(args.params) if args.params else None
    model, inp, out = build_keras(args.spec, params, seed=args.seed)
    x, y = load_mnist(args.data, "train", args.limit, args.pixel_max)
    if len(x) % args.batch:
        n = len(x) // args.batch * args.batch
        log(f"dropping {len(x) - n} training images so the set divides the batch size {args.batch}")
        x, y = x[:n], y[:n]
    xt, yt = load_mnist(args.data, "test", None, args.pixel_max)
    emit({"kind": "env", "cpus": os.cpu_count(), "threads": args.threads, **versions()})

    conv = nengo_dl.Converter(model)  # rate mode (relu -> nengo.RectifiedLinear)
    conv.net.seed = args.seed
    in_node, probe = conv.inputs[inp], conv.outputs[out]
    t0 = time.perf_counter()
    sim = nengo_dl.Simulator(conv.net, minibatch_size=args.batch, progress_bar=False, seed=args.seed)
    build = time.perf_counter() - t0
    with sim:
        sim.compile(
            optimizer=tf.optimizers.RMSprop(0.001),
            loss={probe: tf.losses.SparseCategoricalCrossentropy(from_logits=True)},
        )
        timer = EpochTimer()
        t0 = time.perf_counter()
        sim.fit(
            {in_node: x[:, None, :]},
            {probe: y[:, None, None]},
            epochs=args.epochs,
            n_steps=1,
            verbose=0,
            callbacks=[timer.callback()],
        )
        fit_seconds = time.perf_counter() - t0
        for i, e in enumerate(timer.epochs):
            log(f"epoch {i + 1}: {e['seconds']:.2f}s ({e['batches']} batches, first batch {e['first_batch_seconds']:.2f}s)")
        ns = len(xt) // args.batch * args.batch
        t0 = time.perf_counter()
        pred = sim.predict({in_node: xt[:ns, None, :]}, n_steps=1, verbose=0)[probe][:, -1, :]
        test_seconds = time.perf_counter() - t0
        acc = float(np.mean(np.argmax(pred, -1) == yt[:ns]))
        trained = extract_trained(sim, conv, model)
    # sanity: the extracted weights, run in plain Keras, give the same accuracy
    set_params(model, trained)
    keras_pred = model.predict(xt[:ns].reshape(-1, 28, 28, 1), batch_size=500, verbose=0)
    keras_acc = float(np.mean(np.argmax(keras_pred, -1) == yt[:ns]))
    if args.params_out:
        np.savez(args.params_out, **trained)
        log(f"wrote {args.params_out}")
    scale = 60000 / len(x)
    last = timer.epochs[-1]
    steady_epoch = (
        last["steady_seconds_per_batch"] * last["batches"] if last["steady_seconds_per_batch"] else last["seconds"]
    )
    rec = {
        "kind": "train",
        "spec": args.spec,
        "train_images": int(len(x)),
        "batch": args.batch,
        "epochs": args.epochs,
        # the last epoch's wall time (for epoch 1 this includes TF graph tracing)
        "epoch_seconds_measured": last["seconds"],
        # extrapolated to the full 60k training set when --limit is used
        "seconds_per_epoch": last["seconds"] * scale,
        "steady_seconds_per_epoch": steady_epoch * scale,
        "extrapolated": len(x) != 60000,
        "epoch_seconds": [e["seconds"] for e in timer.epochs],
        # each epoch's batches after its first, extrapolated to the epoch (and to 60k)
        "steady_epoch_seconds": [
            (e["steady_seconds_per_batch"] * e["batches"] if e["steady_seconds_per_batch"] else e["seconds"]) * scale
            for e in timer.epochs
        ],
        "fit_seconds": fit_seconds,
        "build_seconds": build,
        "test_accuracy": acc,
        "keras_test_accuracy_of_saved_params": keras_acc,
        "test_images": int(ns),
        "test_seconds": test_seconds,
        "params_out": args.params_out,
    }
    emit(rec)


# -------------------------------------------------------------------- random params


def cmd_random(args):
    import_stack(args.threads)
    model, _, _ = build_keras(args.spec, None, seed=args.seed)
    params = get_params(model)
    rng = np.random.default_rng(args.seed)
    for k in params:
        if k.endswith(".bias"):
            # small positive biases so spiking layers are active with random weights
            params[k] = rng.uniform(0.0, 0.1, params[k].shape).astype(np.float32)
    np.savez(args.out, **params)
    emit({"kind": "params", "spec": args.spec, "out": args.out,
          "arrays": {k: list(v.shape) for k, v in params.items()}})


# --------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--spec", choices=sorted(LAYERS), default="seed")
        p.add_argument("--data", required=True, help="dir with the MNIST IDX .gz files")
        p.add_argument("--pixel-max", type=float, default=1.0, help="pixels scale to pixel/255*pixel_max")
        p.add_argument("--threads", type=int, default=None, help="TF intra/inter-op threads (default: TF's)")
        p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("predict", help="time spiking inference (sim.predict), searching NengoDL's fastest config")
    common(p)
    p.add_argument("--params", help="snnc params .npz (<layer>.kernel, <layer>.bias, Keras layouts)")
    p.add_argument("--random-params", metavar="OUT", help="write random params to OUT first and use them")
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--scale", type=float, required=True, help="scale_firing_rates")
    p.add_argument("--synapse", type=float, required=True, help="lowpass tau in seconds (e.g. 0.005; 0 = none)")
    p.add_argument("--neuron", choices=["relu", "lif"], default="relu", help="swap ReLU for SpikingRectifiedLinear or LIF")
    p.add_argument("--initial", choices=["uniform", "zero"], default="uniform",
                   help="start voltages Uniform(0, 1) (Nengo's default) or at 0")
    p.add_argument("--minibatch", type=int, nargs="+", default=list(DEFAULT_MINIBATCHES))
    p.add_argument("--planner", nargs="+", choices=PLANNERS, default=list(PLANNERS))
    p.add_argument("--unroll", type=int, nargs="+", default=list(DEFAULT_UNROLLS),
                   help="unroll_simulation values (those not dividing --steps are skipped)")
    p.add_argument("--simplifications", choices=["both", "default", "none"], default="both")
    p.add_argument("--search", choices=["coordinate", "full", "none"], default="coordinate",
                   help="coordinate: one dimension at a time; full: whole grid; none: first planner, "
                        "largest minibatch, first unroll, no trials")
    p.add_argument("--passes", type=int, default=3,
                   help="coordinate search: at most this many passes over the dimensions (stops when one changes nothing)")
    p.add_argument("--trial-images", type=int, default=100, help="images per trial run (at least one minibatch)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false",
                   help="skip the trial with NengoDL's default inference_only/stateful/keep_history")
    p.add_argument("--trial-steps", type=int, default=None,
                   help="steps per image in trial runs (default: --steps); accuracy of short trials is not meaningful")
    p.add_argument("--trial-repeats", type=int, default=2, help="timed repeats per trial (best is used)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of the final run (best is reported)")
    p.add_argument("--data-autotune", action="store_true",
                   help="keep tf.data's autotuner on (TF's default), with its stall at the end of a predict")
    p.add_argument("--chunk-image-steps", type=int, default=100_000,
                   help="images*steps per sim.predict call (bounds the tiled input's memory: 100k = 314 MB)")

    p = sub.add_parser("train-epoch", help="time rate-mode training (sim.fit, n_steps=1)")
    common(p)
    p.add_argument("--params", help="initial params .npz (default: Keras init with --seed)")
    p.add_argument("--params-out", help="write trained params here (snnc layout)")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images; seconds_per_epoch is extrapolated to 60k")

    p = sub.add_parser("random-params", help="write random params in the snnc layout")
    p.add_argument("--spec", choices=sorted(LAYERS), default="seed")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)

    args = ap.parse_args(argv)
    if args.cmd == "predict":
        if args.random_params:
            cmd_random(argparse.Namespace(spec=args.spec, out=args.random_params, seed=args.seed, threads=args.threads))
            args.params = args.random_params
        cmd_predict(args)
    elif args.cmd == "train-epoch":
        cmd_train(args)
    else:
        cmd_random(args)


if __name__ == "__main__":
    main()
