#!/usr/bin/env python3
"""snnc's speed, side by side with its peers, in one run.

    python3 bench/bench.py [--images 1000] [--reference-images 100] [--networks seed,deep] [--repeat 3] [--no-nengo]

For each network it runs the same converted spiking network (same params,
steps, dt, synapse and scale) through:
  - snnc's JIT (`snnc run --engine jit`),
  - snnc's reference interpreter (`--engine reference`, on fewer images: it
    is the slow, obviously-right definition of the semantics),
  - NengoDL on this machine (bench/nengo/peer.py, in the venv that
    bench/nengo/setup.sh makes, at its fastest planner and minibatch),
and prints images x steps per second, the ratios, accuracy, JIT compile time
and peak memory (max RSS of the process). Uses only the standard library.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNNC = os.path.join(ROOT, "target", "release", "snnc")
VENV_PY = os.path.join(ROOT, "target", "nengo-venv", "bin", "python")

NETWORKS = {
    # name: (spec, params, scale, synapse tau in s, the peer's network name,
    #        pixel_max as the spec's data source says)
    "seed": ("specs/mnist.snn", "examples/mnist_params.npz", 50, 0.005, "seed", 10),
    "deep": ("specs/deep.snn", "examples/deep_params.npz", 20, 0.005, "deep", 10),
}


def run_timed(cmd):
    """Runs cmd under /usr/bin/time; returns (stdout, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
        kib = int(t.read().strip().splitlines()[-1])
    return proc.stdout, kib / 1024


def snnc(spec, images, engine, repeat):
    """The median of `repeat` runs (this machine's speed varies run to run)."""
    runs = []
    for _ in range(repeat):
        out, mib = run_timed([SNNC, "run", spec, "--limit", str(images), "--engine", engine, "--format", "json"])
        r = json.loads(out)
        runs.append({
            "images": r["images"],
            "rate": r["images_steps_per_second"],
            "accuracy": r["accuracy"],
            "compile_ms": (r.get("compile_seconds") or 0) * 1e3 if engine == "jit" else None,
            "peak_mib": mib,
        })
    runs.sort(key=lambda r: r["rate"])
    median = runs[len(runs) // 2]
    if repeat > 1:
        median["spread"] = f"{engine} runs: " + ", ".join(f"{r['rate']:.0f}" for r in runs)
    return median


def nengo(net, params, images, scale, tau, pixel_max):
    # Simplifications off is ~30x slower here (bench/nengo/README.md), so the
    # search skips it; it still tries every planner and minibatch size.
    cmd = [VENV_PY, os.path.join(ROOT, "bench", "nengo", "peer.py"), "predict", "--spec", net,
           "--params", os.path.join(ROOT, params), "--images", str(images), "--steps", "100",
           "--scale", str(scale), "--synapse", str(tau), "--pixel-max", str(pixel_max),
           "--simplifications", "default", "--data", os.path.join(ROOT, "examples", "data")]
    out, mib = run_timed(cmd)
    result = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    best = [r for r in result if r.get("kind") == "result"][-1]
    return {
        "images": best["images"],
        "rate": best["images_steps_per_second"],
        "accuracy": best["accuracy"],
        "compile_ms": None,
        "peak_mib": mib,
        "config": f"planner={best.get('planner')}, minibatch={best.get('minibatch')}",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--reference-images", type=int, default=100)
    ap.add_argument("--networks", default="seed,deep")
    ap.add_argument("--no-nengo", action="store_true", help="skip the NengoDL peer")
    ap.add_argument("--repeat", type=int, default=3, help="snnc runs per engine; the median is shown")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    have_nengo = not args.no_nengo
    if have_nengo and not os.path.exists(VENV_PY):
        print("setting up the NengoDL venv (bench/nengo/setup.sh) ...", flush=True)
        have_nengo = subprocess.run(["bash", os.path.join(ROOT, "bench", "nengo", "setup.sh")], cwd=ROOT).returncode == 0

    print(f"{'network':<8} {'engine':<10} {'images':>6} {'img*steps/s':>12} {'vs NengoDL':>11} {'vs ref':>8} {'accuracy':>9} {'compile ms':>11} {'peak MiB':>9}")
    for name in args.networks.split(","):
        spec, params, scale, tau, peer, pixel_max = NETWORKS[name]
        if not os.path.exists(os.path.join(ROOT, params)):
            print(f"{name:<8} (no {params}: train it first with `snnc train {spec}`)")
            continue
        rows = {
            "jit": snnc(spec, args.images, "jit", args.repeat),
            "reference": snnc(spec, args.reference_images, "reference", 1),
        }
        if have_nengo:
            rows["nengo-dl"] = nengo(peer, params, args.images, scale, tau, pixel_max)
        base = rows.get("nengo-dl", {}).get("rate")
        for engine, r in rows.items():
            vs_nengo = f"{r['rate'] / base:>10.1f}x" if base else f"{'-':>11}"
            vs_ref = f"{r['rate'] / rows['reference']['rate']:>7.1f}x"
            compile_ms = f"{r['compile_ms']:>11.1f}" if r["compile_ms"] is not None else f"{'-':>11}"
            print(f"{name:<8} {engine:<10} {r['images']:>6} {r['rate']:>12.0f} {vs_nengo} {vs_ref} {r['accuracy']:>9.4f} {compile_ms} {r['peak_mib']:>9.0f}")
            if "config" in r:
                print(f"{'':<8} {'':<10} NengoDL's fastest configuration here: {r['config']}")
            if "spread" in r:
                print(f"{'':<8} {'':<10} median of {r['spread']}")


if __name__ == "__main__":
    main()
