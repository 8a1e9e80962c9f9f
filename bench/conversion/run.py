#!/usr/bin/env python3
"""Conversion quality, measured: NengoDL's keras-to-snn table row by row,
`snnc tune` on every network we ship or import, and `snnc diagnose --fix`
followed until it has nothing left to say.

    python3 bench/conversion/run.py [--seeds 0,1,2] [--reg-seeds 0] [--only k2s,nengo,tune,diagnose]

1. keras-to-snn (NengoDL's example): conv 32 -> conv 64 stride 2 -> dense
   10 on raw pixels 0..255, trained by `snnc train` (2 epochs, Adam 1e-3,
   batch 200; 10% of the training images held out for tuning), evaluated
   on the first 400 test images at the last step, setting by setting, next
   to the figures NengoDL's documentation publishes. The rate-regularised
   rows train with `rate_mse(target=250Hz, weight=1e-3)` on both conv
   layers (RMSprop 1e-3, 10 epochs), NengoDL's recipe.
   With `nengo` (needs the venv of bench/nengo/setup.sh): the same network
   trained by Keras (bench/conversion/nengo_k2s.py), each setting run by
   NengoDL on this machine and by snnc on the very same weights, which
   tells the simulators apart from the training.
2. `snnc tune` (defaults: 30 steps at most, 5-minute budget) on
   specs/mnist.snn, specs/deep.snn, keras-to-snn and the Keras models of
   ../shared/keras, imported: rate and spiking accuracy on 1000 test
   images, steps, spikes per image and search time. Tuning reads held-out
   training images only (the train blocks' validation split, or the last
   1000 training images for the Keras models, which snnc did not train).
3. `snnc diagnose --fix` from each network's unscaled, unfiltered variant
   shown for 30 ms: rounds until no finding, and the accuracy then.

Work is cached in target/conversion/ (delete it to start over); the table
goes to stdout and to bench/conversion/results.md.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNNC = os.path.join(ROOT, "target", "release", "snnc")
WORK = os.path.join(ROOT, "target", "conversion")
MNIST = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "mnist"))
KERAS = os.path.abspath(os.path.join(ROOT, "..", "shared", "keras"))
CACHE = os.path.join(WORK, "results.json")

K2S_NETWORK = """network k2s {
    input image: 28x28x1
    conv0 = conv2d(image, filters=32, kernel=3x3, activation=relu)
    conv1 = conv2d(conv0, filters=64, kernel=3x3, strides=2, activation=relu)
    flat  = flatten(conv1)
    out   = dense(flat, units=10)
}

probe pred   = out
probe rates0 = conv0
probe rates1 = conv1
"""

# (row, NengoDL's published accuracy %, variant settings, steps); the
# variant is `swap relu -> spiking_relu` plus the settings, None = rate.
K2S_ROWS = [
    ("rate, 10 steps", 98.25, None, 10),
    ("spiking, 30 steps", 20.75, "", 30),
    ("synapse 1 ms, 60 steps", 23.00, "synapse = lowpass(1ms)", 60),
    ("synapse 5 ms, 60 steps", 52.25, "synapse = lowpass(5ms)", 60),
    ("synapse 10 ms, 60 steps", 71.75, "synapse = lowpass(10ms)", 60),
    ("synapse 10 ms, scale 2, 30 steps", 80.25, "synapse = lowpass(10ms)\n    scale_firing_rates = 2", 30),
    ("synapse 10 ms, scale 5, 30 steps", 96.00, "synapse = lowpass(10ms)\n    scale_firing_rates = 5", 30),
    ("synapse 10 ms, scale 10, 30 steps", 98.25, "synapse = lowpass(10ms)\n    scale_firing_rates = 10", 30),
    ("scale 1000, 10 steps", 98.25, "scale_firing_rates = 1000", 10),
]
K2S_REG_ROWS = [
    ("regularised: rate, 10 steps", 98.50, None, 10),
    ("regularised: synapse 10 ms, 30 steps", 98.25, "synapse = lowpass(10ms)", 30),
]


def snnc(*args, json_out=True):
    out = subprocess.run([SNNC, *args], cwd=WORK, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"snnc {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout) if json_out else out.stdout


def load_cache():
    if os.path.exists(CACHE):
        with open(CACHE) as f:
            return json.load(f)
    return {}


def save_cache(cache):
    tmp = CACHE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cache, f, indent=1)
    os.replace(tmp, CACHE)


def k2s_spec(name, rows, train):
    variants = []
    runs = []
    for i, (_, _, settings, steps) in enumerate(rows):
        network = "k2s"
        if settings is not None:
            network = f"v{i}"
            body = "swap relu -> spiking_relu" + (f"\n    {settings}" if settings else "")
            variants.append(f"convert {network} from k2s {{\n    {body}\n}}\n")
        runs.append(
            f'run r{i} {{\n    network = {network}\n    params  = "{name}.npz"\n'
            f'    data    = mnist_idx("{MNIST}", split=test, limit=400, pixel_max=255)\n'
            f"    dt      = 1ms\n    steps   = {steps}\n}}\n"
        )
    # The run `snnc tune` reads: the rate model on 1000 test images.
    runs.append(
        f'run tune_target {{\n    network = k2s\n    params  = "{name}.npz"\n'
        f'    data    = mnist_idx("{MNIST}", split=test, limit=1000, pixel_max=255)\n'
        f"    dt      = 1ms\n    steps   = 30\n}}\n"
    )
    return K2S_NETWORK + "\n" + "\n".join(variants) + "\n" + train + "\n" + "\n".join(runs)


def k2s_train_block(name, seed, regularised):
    if regularised:
        opt, losses, epochs = (
            "rmsprop(lr=0.001)",
            "    loss rates0 = rate_mse(target=250Hz, weight=1e-3)\n"
            "    loss rates1 = rate_mse(target=250Hz, weight=1e-3)\n",
            10,
        )
    else:
        opt, losses, epochs = "adam(lr=0.001)", "", 2
    return (
        f"train {{\n    network   = k2s\n"
        f'    data      = mnist_idx("{MNIST}", split=train, pixel_max=255)\n'
        f"    optimizer = {opt}\n"
        f"    loss pred = sparse_categorical_crossentropy(from_logits=true)\n{losses}"
        f"    epochs    = {epochs}\n    batch     = 200\n    validation_split = 0.1\n"
        f'    seed      = {seed}\n    save      = "{name}.npz"\n}}\n'
    )


def k2s(cache, seeds, reg_seeds):
    for regularised, seed_list, rows in ((False, seeds, K2S_ROWS), (True, reg_seeds, K2S_REG_ROWS)):
        for seed in seed_list:
            name = f"k2s_{'reg_' if regularised else ''}s{seed}"
            key = f"k2s/{name}"
            if key in cache:
                continue
            spec = os.path.join(WORK, f"{name}.snn")
            with open(spec, "w") as f:
                f.write(k2s_spec(name, rows, k2s_train_block(name, seed, regularised)))
            t = time.time()
            print(f"training {name} ...", flush=True)
            snnc("train", spec, json_out=False)
            result = {"train_seconds": time.time() - t, "rows": {}}
            for i, (row, *_rest) in enumerate(rows):
                r = snnc("run", spec, "--run", f"r{i}", "--format", "json")
                result["rows"][row] = 100.0 * r["accuracy"]
                print(f"  {row}: {result['rows'][row]:.2f}%", flush=True)
            cache[key] = result
            save_cache(cache)


def nengo(cache, seeds, reg_seeds):
    venv_py = os.path.join(ROOT, "target", "nengo-venv", "bin", "python")
    if not os.path.exists(venv_py):
        sys.exit("no NengoDL venv: run bash bench/nengo/setup.sh first")
    jobs = [(s, False) for s in seeds] + [(s, True) for s in reg_seeds]
    for seed, regularised in jobs:
        name = f"k2s_keras_{'reg_' if regularised else ''}s{seed}"
        key = f"nengo/{name}"
        if key in cache:
            continue
        rows = K2S_REG_ROWS if regularised else K2S_ROWS
        print(f"training {name} with Keras and running NengoDL ...", flush=True)
        out = subprocess.run(
            [venv_py, os.path.join(ROOT, "bench", "conversion", "nengo_k2s.py"),
             "--data", MNIST, "--out", os.path.join(WORK, f"{name}.npz"), "--seed", str(seed)]
            + (["--regularised"] if regularised else []),
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            sys.exit(f"nengo_k2s.py failed:\n{out.stderr[-3000:]}")
        nengo_rows = json.loads(out.stdout.strip().splitlines()[-1])
        spec = os.path.join(WORK, f"{name}.snn")
        with open(spec, "w") as f:
            f.write(k2s_spec(name, rows, ""))
        snnc_rows = {}
        for i, (row, *_rest) in enumerate(rows):
            r = snnc("run", spec, "--run", f"r{i}", "--format", "json")
            snnc_rows[row] = 100.0 * r["accuracy"]
            print(f"  {row}: NengoDL {nengo_rows[row]:.2f}%, snnc {snnc_rows[row]:.2f}%", flush=True)
        cache[key] = {"nengo": nengo_rows, "snnc": snnc_rows}
        save_cache(cache)


def tune_one(cache, key, spec, extra):
    if key in cache:
        return
    print(f"tuning {key} ...", flush=True)
    t = time.time()
    r = snnc("tune", spec, "--format", "json", *extra)
    chosen = r["chosen"]
    cache[key] = {
        "rate": 100.0 * chosen["rate_test"]["correct"] / chosen["rate_test"]["images"],
        "spiking": 100.0 * chosen["test"]["correct"] / chosen["test"]["images"],
        "images": chosen["test"]["images"],
        "steps": chosen["test"]["steps"],
        "spikes": chosen["test"]["spikes_per_image"],
        "setting": chosen["setting"],
        "seconds": time.time() - t,
        "settings_tried": len(r["outcome"]["trials"]),
    }
    save_cache(cache)


def keras_spec(model):
    """Imports a Keras model and adds a run block on 1000 test images."""
    stem = os.path.splitext(model)[0] + ("_h5" if model.endswith(".h5") else "")
    out = os.path.join(WORK, "keras")
    subprocess.run(
        [SNNC, "import", os.path.join(KERAS, model), "-o", out, "--name", stem, "--force"],
        check=True, capture_output=True,
    )
    spec = os.path.join(out, f"{stem}.snn")
    with open(spec) as f:
        text = f.read()
    probe = re.search(r"^probe (\w+) =", text, re.M).group(1)
    text += (
        f'\nrun {{\n    network = {stem}\n    params  = "{stem}_params.npz"\n'
        f'    data    = mnist_idx("{MNIST}", split=test, limit=1000)\n'
        f"    dt      = 1ms\n    steps   = 30\n    report  = accuracy({probe}, at=last)\n}}\n"
    )
    with open(spec, "w") as f:
        f.write(text)
    return spec


def tune_all(cache, seeds):
    held_out = f'mnist_idx("{MNIST}", split=train, offset=59000)'
    for name in ("mnist", "deep"):
        spec = os.path.join(WORK, f"{name}.snn")
        shutil.copy(os.path.join(ROOT, "specs", f"{name}.snn"), spec)
        with open(spec) as f:
            text = f.read()
        # Paths from target/conversion; 1000 test images at most 30 steps.
        text = text.replace('"../examples/', f'"{ROOT}/examples/').replace('"../../shared/', f'"{ROOT}/../shared/')
        with open(spec, "w") as f:
            f.write(text)
        tune_one(cache, f"tune/{name}", spec, ["-o", os.path.join(WORK, f"{name}.tuned.snn")])
    for seed in seeds[:1]:
        spec = os.path.join(WORK, f"k2s_s{seed}.snn")
        if os.path.exists(spec):
            tune_one(cache, f"tune/k2s_s{seed}", spec, ["--run", "tune_target"])
    for model in sorted(os.listdir(KERAS)):
        if model.endswith((".keras", ".h5")):
            spec = keras_spec(model)
            tune_one(cache, f"tune/keras/{model}", spec, ["--validation", held_out])


def diagnose_all(cache, seeds):
    cases = [("mnist", os.path.join(WORK, "mnist.snn")), ("deep", os.path.join(WORK, "deep.snn"))]
    if seeds and os.path.exists(os.path.join(WORK, f"k2s_s{seeds[0]}.snn")):
        cases.append(("k2s", os.path.join(WORK, f"k2s_s{seeds[0]}.snn")))
    for name, src in cases:
        key = f"diagnose/{name}"
        if key in cache or not os.path.exists(src):
            continue
        with open(src) as f:
            text = f.read()
        # The unscaled, unfiltered variant shown for 30 ms, as its only run.
        net = re.search(r"^network (\w+)", text, re.M).group(1)
        params = re.search(r'params\s*=\s*"([^"]+)"', text).group(1)
        data = re.search(r"^\s*data\s*=\s*(mnist_idx\(.*split=test.*\))\s*$", text, re.M).group(1)
        data = re.sub(r"limit=\d+", "limit=1000", data)
        body = text.split("\nconvert")[0].split("\ntrain")[0]
        probes = "\n".join(re.findall(r"^probe .*$", text, re.M))
        spec = os.path.join(WORK, f"diagnose_{name}.snn")
        with open(spec, "w") as f:
            f.write(
                f"{body.split(chr(10) + 'probe')[0]}\n{probes}\n\n"
                f"convert plain from {net} {{\n    swap relu -> spiking_relu\n}}\n\n"
                f'run {{\n    network = plain\n    params  = "{params}"\n    data    = {data}\n'
                f"    dt      = 1ms\n    present = 30ms\n}}\n"
            )
        rounds = []
        for _ in range(4):
            r = snnc("diagnose", spec, "--limit", "200", "--format", "json")
            rounds.append({"findings": len(r["findings"]), "spiking": 100.0 * r["output"]["spiking_accuracy"],
                           "rate": 100.0 * r["output"]["rate_accuracy"]})
            print(f"  diagnose {name} round {len(rounds)}: {rounds[-1]}", flush=True)
            if not r["findings"]:
                break
            snnc("diagnose", spec, "--fix", "--limit", "200", json_out=False)
        with open(spec) as f:
            final = f.read().split("convert plain")[1].split("}")[0]
        cache[key] = {"rounds": rounds, "final_variant": final.strip()}
        save_cache(cache)


def table(cache, seeds, reg_seeds):
    lines = ["# Conversion quality (bench/conversion/run.py)", ""]
    lines += [
        "## NengoDL's keras-to-snn, row by row",
        "",
        "First 400 test images, accuracy at the last step. snnc: mean over training seeds "
        f"{', '.join(map(str, seeds))} (min-max); regularised rows: seeds {', '.join(map(str, reg_seeds)) or 'none run'}.",
        "",
        "| setting | NengoDL (published) | snnc | min-max | within 2 points or above |",
        "|---|---|---|---|---|",
    ]
    for regularised, seed_list, rows in ((False, seeds, K2S_ROWS), (True, reg_seeds, K2S_REG_ROWS)):
        for row, published, *_ in rows:
            vals = [cache[f"k2s/k2s_{'reg_' if regularised else ''}s{s}"]["rows"][row]
                    for s in seed_list if f"k2s/k2s_{'reg_' if regularised else ''}s{s}" in cache]
            if not vals:
                lines.append(f"| {row} | {published:.2f}% | not run | | |")
                continue
            mean = statistics.mean(vals)
            ok = "yes" if mean >= published - 2.0 else f"no ({mean - published:+.2f})"
            lines.append(f"| {row} | {published:.2f}% | {mean:.2f}% | {min(vals):.2f}-{max(vals):.2f} | {ok} |")
    same = [v for k, v in sorted(cache.items()) if k.startswith("nengo/")]
    if same:
        lines += [
            "",
            "## The same weights in NengoDL and in snnc",
            "",
            "The network trained by Keras (Adam 1e-3, batch 200, 2 epochs, all 60,000 images; the regularised rows: "
            "RMSprop 1e-3, 10 epochs, 1e-3 times each conv layer's mean squared distance from 250 Hz), "
            "then each setting run by NengoDL 3.6 on this machine and by snnc, on the first 400 test images. "
            "Both start spiking neurons uniformly in [0, 1) (from different random generators).",
            "",
            "| setting | NengoDL | snnc | difference |",
            "|---|---|---|---|",
        ]
        for row, *_ in K2S_ROWS + K2S_REG_ROWS:
            pairs = [(r["nengo"][row], r["snnc"][row]) for r in same if row in r["nengo"]]
            if pairs:
                n = statistics.mean(p[0] for p in pairs)
                s = statistics.mean(p[1] for p in pairs)
                lines.append(f"| {row} | {n:.2f}% | {s:.2f}% | {s - n:+.2f} |")
    lines += [
        "",
        "## `snnc tune` (at most 30 steps, 1000 test images)",
        "",
        "| network | rate | tuned spiking | gap | steps | spikes / image | settings tried | seconds | setting |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in sorted((k, v) for k, v in cache.items() if k.startswith("tune/")):
        lines.append(
            f"| {key[5:]} | {r['rate']:.2f}% | {r['spiking']:.2f}% | {r['spiking'] - r['rate']:+.2f} | {r['steps']} | "
            f"{r['spikes']:.0f} | {r['settings_tried']} | {r['seconds']:.0f} | {r['setting']} |"
        )
    lines += ["", "## `snnc diagnose --fix` from the unscaled 30 ms variant (200 test images)", "",
              "| network | rounds to no finding | spiking accuracy by round | rate | final variant |", "|---|---|---|---|---|"]
    for key, r in sorted((k, v) for k, v in cache.items() if k.startswith("diagnose/")):
        rounds = r["rounds"]
        done = len(rounds) - 1 if rounds[-1]["findings"] == 0 else "not reached"
        acc = " -> ".join(f"{x['spiking']:.1f}%" for x in rounds)
        final = r["final_variant"].split("{", 1)[-1].strip().replace("\n", "; ").replace("    ", "")
        lines.append(f"| {key[9:]} | {done} | {acc} | {rounds[-1]['rate']:.1f}% | {final} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--reg-seeds", default="0")
    ap.add_argument("--only", default="k2s,tune,diagnose")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    reg_seeds = [int(s) for s in args.reg_seeds.split(",") if s]
    only = args.only.split(",")
    if not os.path.isdir(MNIST):
        sys.exit(f"MNIST not found at {MNIST}")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    os.makedirs(WORK, exist_ok=True)
    cache = load_cache()
    if "k2s" in only:
        k2s(cache, seeds, reg_seeds)
    if "nengo" in only:
        nengo(cache, seeds, reg_seeds)
    if "tune" in only:
        tune_all(cache, seeds)
    if "diagnose" in only:
        diagnose_all(cache, seeds)
    text = table(cache, seeds, reg_seeds)
    print(text)
    with open(os.path.join(ROOT, "bench", "conversion", "results.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
