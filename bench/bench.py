#!/usr/bin/env python3
"""snnc's speed, side by side with NengoDL, like for like, in one run.

    python3 bench/bench.py [--cases seed,deep,...] [--starts uniform,zero] [--images 1000]
                           [--repeat 5] [--nengo-search] [--no-nengo] [--markdown]

Each case is one converted spiking network (same params, steps, dt,
synapse, scale, neuron and start voltages on both sides), run through:
  - snnc's JIT (`snnc run --engine jit`),
  - snnc's reference interpreter (`--engine reference`, on fewer images: it
    is the slow, obviously-right definition of the semantics),
  - NengoDL on this machine (bench/nengo/peer.py in the venv that
    bench/nengo/setup.sh makes).

Timing is the same on both sides: the simulation only, warm (snnc's JIT
compile and NengoDL's build and first, graph-tracing `predict` are
excluded and printed apart; NengoDL's `predict` runs without tf.data's
autotuner, whose teardown otherwise stalls it: bench/nengo/README.md), the
median of `--repeat` runs, with every run's figure printed as the spread.
NengoDL's configuration (planner, minibatch, unroll) is chosen by a search
on the full work of the case (all `--images`), cached in
target/bench/nengo-configs.json; `--nengo-search` searches again. Start
voltages: `uniform` is Nengo's default, Uniform(0, 1) (each side draws with
its own generator), `zero` starts every voltage at 0 (snnc's
`initial_voltage = zero`). Uses only the standard library.
"""

import argparse
import json
import re
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNNC = os.path.join(ROOT, "target", "release", "snnc")
VENV_PY = os.path.join(ROOT, "target", "nengo-venv", "bin", "python")
WORK = os.path.join(ROOT, "target", "bench")
CONFIGS = os.path.join(WORK, "nengo-configs.json")

# network: (spec, params, the peer's network name)
NETWORKS = {
    "seed": ("specs/mnist.snn", "examples/mnist_params.npz", "seed"),
    "deep": ("specs/deep.snn", "examples/deep_params.npz", "deep"),
}

# case: (network, neuron, scale, synapse tau in s (0: none), steps, what it shows)
CASES = {
    "seed": ("seed", "relu", 50, 0.005, 100, "seed: conv 32 -> dense 10, scale 50, 5 ms"),
    "deep": ("deep", "relu", 20, 0.005, 100, "deep: conv 32, 64/2, 128/2 -> dense 10, scale 20, 5 ms"),
    "scale1000": ("seed", "relu", 1000, 0.0, 10, "seed, scale 1000, no synapse, 10 steps"),
    "hot": ("deep", "relu", 1000, 0.0, 100, "deep, scale 1000, no synapse (hot: most neurons fire every step)"),
    "lif": ("seed", "lif", 50, 0.005, 100, "seed with LIF neurons, scale 50, 5 ms"),
}
# Fewer images where NengoDL takes over 20 s per run of 1000 (rates are per
# image x step, so cases stay comparable).
IMAGES = {"hot": 200, "lif": 200}

PIXEL_MAX = 10  # as the specs' data sources say


def run_timed(cmd):
    """Runs cmd under /usr/bin/time; returns (stdout, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-4000:]}")
        kib = int(t.read().strip().splitlines()[-1])
    return proc.stdout, kib / 1024


def case_spec(case, start):
    """A copy of the case's spec with a `bench` variant holding its settings,
    paths made absolute so it can live under target/."""
    net, neuron, scale, tau, _, _ = CASES[case]
    spec, _, _ = NETWORKS[net]
    with open(os.path.join(ROOT, spec)) as f:
        text = f.read().replace('"../', f'"{ROOT}/')
    base = re.search(r"^network\s+(\w+)", text, re.MULTILINE).group(1)
    lines = [f"swap relu -> {'lif' if neuron == 'lif' else 'spiking_relu'}", f"scale_firing_rates = {scale}"]
    if tau:
        lines.append(f"synapse = lowpass({tau * 1e3:g}ms)")
    lines.append(f"initial_voltage = {start}")
    text += f"\nconvert bench from {base} {{\n" + "".join(f"    {l}\n" for l in lines) + "}\n"
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, f"{case}-{start}.snn")
    with open(path, "w") as f:
        f.write(text)
    return path


def snnc(path, images, steps, engine, repeat):
    """Median over `repeat` runs of the simulation's rate, compile excluded."""
    runs = []
    for _ in range(repeat):
        out, mib = run_timed([SNNC, "run", path, "--variant", "bench", "--limit", str(images), "--steps", str(steps),
                              "--engine", engine, "--format", "json"])
        r = json.loads(out)
        compile_s = r.get("compile_seconds") or 0.0
        runs.append({
            "rate": r["images"] * r["steps"] / max(r["seconds"] - compile_s, 1e-9),
            "accuracy": r["accuracy"],
            "compile_ms": compile_s * 1e3 if engine == "jit" else None,
            "peak_mib": mib,
            "images": r["images"],
        })
    rates = sorted(x["rate"] for x in runs)
    row = dict(runs[0])
    row["rate"] = statistics.median(rates)
    row["spread"] = rates
    if engine == "jit":
        row["compile_ms"] = statistics.median(x["compile_ms"] for x in runs)
    row["peak_mib"] = max(x["peak_mib"] for x in runs)
    return row


def load_configs():
    try:
        with open(CONFIGS) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def nengo(case, start, images, repeat, search, configs, measure=True):
    """NengoDL's median rate over `repeat` runs, at the configuration a search
    on the full work chose (cached per case and image count)."""
    net, neuron, scale, tau, steps, _ = CASES[case]
    _, params, peer = NETWORKS[net]
    base = [VENV_PY, os.path.join(ROOT, "bench", "nengo", "peer.py"), "predict", "--spec", peer,
            "--params", os.path.join(ROOT, params), "--images", str(images), "--steps", str(steps),
            "--scale", str(scale), "--synapse", str(tau), "--pixel-max", str(PIXEL_MAX),
            "--neuron", neuron, "--initial", start, "--data", os.path.join(ROOT, "examples", "data"),
            "--simplifications", "default"]
    # One search per case and image count serves both start voltages.
    key = f"{case}/{images}"
    cfg = configs.get(key)
    if search or cfg is None:
        # Coordinate search over planner, minibatch and unroll, in passes
        # until one changes nothing, each trial the best of two runs on every
        # image, so that one disturbed run does not decide. It can still miss
        # the best where configurations differ by less than the machine's
        # noise (README). Minibatch 1 is left out (hundreds of times slower
        # on the full work); simplifications off is ~30x slower
        # (bench/nengo/README.md).
        print(f"  searching NengoDL's configuration for {key} on the full work ...", file=sys.stderr, flush=True)
        out, _ = run_timed(base + ["--search", "coordinate", "--trial-images", str(images), "--trial-repeats", "2",
                                   "--repeats", "1", "--minibatch", "10", "50", "100", "200", "--no-baseline"])
        best = [json.loads(l) for l in out.splitlines() if l.startswith("{") and '"result"' in l][-1]
        cfg = {k: best[k] for k in ("planner", "minibatch", "unroll")}
        configs[key] = cfg
        os.makedirs(WORK, exist_ok=True)
        with open(CONFIGS, "w") as f:
            json.dump(configs, f, indent=1)
    if not measure:
        return None
    out, mib = run_timed(base + ["--search", "none", "--planner", cfg["planner"], "--minibatch", str(cfg["minibatch"]),
                                 "--unroll", str(cfg["unroll"]), "--repeats", str(repeat)])
    r = [json.loads(l) for l in out.splitlines() if l.startswith("{") and '"result"' in l][-1]
    n = r["images"] * r["steps"]
    rates = sorted(n / s for s in r["seconds_all"])
    return {
        "rate": statistics.median(rates),
        "spread": rates,
        "accuracy": r["accuracy"],
        "compile_ms": None,
        "build_s": r["build_seconds"] + r["warmup_seconds"],
        "peak_mib": mib,
        "images": r["images"],
        "config": f"{cfg['planner']}, minibatch {cfg['minibatch']}, unroll {cfg['unroll']}",
    }


def k(x):
    return f"{x / 1e3:.1f}k" if x < 1e4 else f"{x / 1e3:.0f}k"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    ap.add_argument("--starts", default="uniform,zero", help="start voltages: uniform, zero or both")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--reference-images", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per engine; the median is shown (at least 5 for a claim)")
    ap.add_argument("--no-nengo", action="store_true", help="skip the NengoDL peer")
    ap.add_argument("--nengo-search", action="store_true", help="search NengoDL's configuration again")
    ap.add_argument("--search-only", action="store_true", help="only search (and cache) NengoDL's configurations")
    args = ap.parse_args()
    cases = args.cases.split(",")
    starts = args.starts.split(",")
    for c in cases:
        if c not in CASES:
            sys.exit(f"unknown case `{c}`; the cases are {', '.join(CASES)}")
    for s in starts:
        if s not in ("uniform", "zero"):
            sys.exit(f"unknown start `{s}`; give uniform, zero or both")

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    have_nengo = not args.no_nengo
    if have_nengo and not os.path.exists(VENV_PY):
        print("setting up the NengoDL venv (bench/nengo/setup.sh) ...", flush=True)
        have_nengo = subprocess.run(["bash", os.path.join(ROOT, "bench", "nengo", "setup.sh")], cwd=ROOT).returncode == 0
    configs = load_configs()

    table = []
    notes = []
    for case in cases:
        net, _, _, _, steps, what = CASES[case]
        if not os.path.exists(os.path.join(ROOT, NETWORKS[net][1])):
            print(f"{case}: no {NETWORKS[net][1]} (train it first with `snnc train {NETWORKS[net][0]}`)")
            continue
        images = min(args.images, IMAGES.get(case, args.images))
        if have_nengo and (args.search_only or args.nengo_search):
            # One search per case (cached) serves both start voltages.
            nengo(case, starts[0], images, 1, args.nengo_search, configs, measure=False)
        if args.search_only:
            continue
        for start in starts:
            path = case_spec(case, start)
            jit = snnc(path, images, steps, "jit", args.repeat)
            ref = snnc(path, min(images, args.reference_images), steps, "reference", 1)
            dl = nengo(case, start, images, args.repeat, False, configs) if have_nengo else None
            row = {"case": case, "what": what, "start": start, "images": images, "jit": jit, "ref": ref, "nengo": dl}
            table.append(row)
            vs = f"{jit['rate'] / dl['rate']:.1f}x" if dl else "-"
            print(f"{case:<10} {start:<8} JIT {k(jit['rate']):>6}  reference {k(ref['rate']):>6}  "
                  f"NengoDL {k(dl['rate']) if dl else '-':>6}  JIT/NengoDL {vs:>6}  "
                  f"acc {jit['accuracy'] * 100:.1f}% / {dl['accuracy'] * 100 if dl else float('nan'):.1f}%  "
                  f"compile {jit['compile_ms']:.1f} ms", flush=True)
            notes.append(f"{case}/{start}: JIT runs {', '.join(k(x) for x in jit['spread'])}"
                         + (f"; NengoDL runs {', '.join(k(x) for x in dl['spread'])} ({dl['config']}, "
                            f"build + first predict {dl['build_s']:.1f} s)" if dl else ""))

    print()
    print(f"images x steps per second on {args.images} images ({', '.join(f'{c}: {n}' for c, n in IMAGES.items())}; "
          f"reference: {args.reference_images}), median of {args.repeat} warm runs, compile/build excluded")
    print()
    print("| case | start | JIT | reference | NengoDL | JIT / NengoDL | accuracy JIT / NengoDL | JIT compile | peak memory JIT / NengoDL |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table:
        jit, ref, dl = r["jit"], r["ref"], r["nengo"]
        cells = [r["what"], r["start"], k(jit["rate"]), k(ref["rate"]),
                 k(dl["rate"]) if dl else "-",
                 f"{jit['rate'] / dl['rate']:.1f}x" if dl else "-",
                 f"{jit['accuracy'] * 100:.1f}% / " + (f"{dl['accuracy'] * 100:.1f}%" if dl else "-"),
                 f"{jit['compile_ms']:.1f} ms",
                 f"{jit['peak_mib']:.0f} / " + (f"{dl['peak_mib']:.0f} MiB" if dl else "- MiB")]
        print("| " + " | ".join(cells) + " |")
    print()
    print("Spread (every timed run, images x steps / s):")
    for n in notes:
        print(f"- {n}")


if __name__ == "__main__":
    main()
