#!/usr/bin/env python3
"""Seconds per training epoch, snnc and NengoDL side by side, in one run.

    python3 bench/train.py [--epochs 1]

Trains the seed network of specs/mnist.snn (rate mode, RMSprop 0.001,
batch 200, 60k MNIST images from ../shared/data/mnist) for one epoch with
`snnc train` and with NengoDL (bench/nengo/peer.py train-epoch, in the venv
bench/nengo/setup.sh makes), and prints both and the ratio. snnc's params
go to a temporary file, so the shipped ones are left alone.
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
DATA = os.path.join(ROOT, "..", "shared", "data", "mnist")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)

    with tempfile.TemporaryDirectory() as tmp:
        # The same spec, saving its params somewhere harmless.
        with open(os.path.join(ROOT, "specs", "mnist.snn")) as f:
            spec = f.read().replace('"../examples/mnist_params.npz"', json.dumps(os.path.join(tmp, "p.npz")))
            spec = spec.replace('"../../shared/data/mnist"', json.dumps(os.path.abspath(DATA)))
            spec = spec.replace('"../examples/data"', json.dumps(os.path.join(ROOT, "examples", "data")))
            # All 60,000 images, as the NengoDL side trains on (the shipped
            # spec holds 10% out for validation and tuning).
            spec = spec.replace("    validation_split = 0.1\n", "")
        path = os.path.join(tmp, "mnist.snn")
        with open(path, "w") as f:
            f.write(spec)
        out = subprocess.run([SNNC, "train", path, "--epochs", str(args.epochs), "--format", "json"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stderr)
        epochs = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
        snnc_s = min(e.get("train_seconds", e.get("seconds", 0)) for e in epochs if "epoch" in e)
        snnc_acc = epochs[-1].get("test", {}).get("accuracy")

        if not os.path.exists(VENV_PY):
            subprocess.run(["bash", os.path.join(ROOT, "bench", "nengo", "setup.sh")], check=True)
        # The same pixel scale as the spec's train data (pixel_max=10).
        peer = subprocess.run([VENV_PY, os.path.join(ROOT, "bench", "nengo", "peer.py"), "train-epoch",
                               "--data", DATA, "--batch", "200", "--epochs", str(args.epochs), "--pixel-max", "10",
                               "--params-out", os.path.join(tmp, "nengo.npz")], capture_output=True, text=True)
        if peer.returncode != 0:
            sys.exit(peer.stderr)
        nengo = [json.loads(l) for l in peer.stdout.splitlines() if l.startswith("{") and '"train"' in l][-1]

    print(f"{'engine':<10} {'s/epoch':>8} {'test acc':>9}")
    print(f"{'snnc':<10} {snnc_s:>8.1f} {snnc_acc if snnc_acc is not None else float('nan'):>9.4f}")
    print(f"{'nengo-dl':<10} {nengo['seconds_per_epoch']:>8.1f} {nengo.get('test_accuracy', float('nan')):>9.4f}")
    print(f"snnc is {nengo['seconds_per_epoch'] / snnc_s:.1f}x faster per epoch")


if __name__ == "__main__":
    main()
