#!/usr/bin/env python3
"""Seconds per training epoch, snnc and NengoDL side by side, in one run.

    python3 bench/train.py [--networks seed,k2s,deep] [--images 60000] [--epochs 3]

Trains each network in rate mode (RMSprop 0.001, batch 200, the first
`--images` MNIST training images from ../shared/data/mnist, no validation
split) with `snnc train` and with NengoDL (bench/nengo/peer.py train-epoch,
in the venv bench/nengo/setup.sh makes), and prints seconds per epoch in
the steady state, scaled to all 60,000 images: the median over the epochs
after the first (NengoDL's are timed from the end of each epoch's first
batch, so its graph tracing is excluded), every epoch's figure as the
spread, and the ratio. Networks: `seed` (specs/mnist.snn), `k2s` (NengoDL's
keras-to-snn example: conv 32 -> conv 64 stride 2 -> dense 10) and `deep`
(specs/deep.snn). snnc's params go to a temporary directory, so the
shipped ones are left alone.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNNC = os.path.join(ROOT, "target", "release", "snnc")
VENV_PY = os.path.join(ROOT, "target", "nengo-venv", "bin", "python")
DATA = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "mnist"))

K2S = """network k2s {
    input image: 28x28x1
    conv0 = conv2d(image, filters=32, kernel=3x3, activation=relu)
    conv1 = conv2d(conv0, filters=64, kernel=3x3, strides=2, activation=relu)
    flat  = flatten(conv1)
    out   = dense(flat, units=10)
}
probe pred = out
"""

SPECS = {"seed": "specs/mnist.snn", "deep": "specs/deep.snn", "k2s": None}


def spec_text(network, images, epochs, save):
    """The network's training spec on `images` images for `epochs` epochs,
    saving to `save`, as NengoDL's side trains: RMSprop 0.001, batch 200,
    no validation split."""
    train = (
        "train {\n"
        f"    network   = {network if network != 'seed' else 'mnist'}\n"
        f'    data      = mnist_idx("{DATA}", split=train, limit={images}, pixel_max=10)\n'
        "    optimizer = rmsprop(lr=0.001)\n"
        "    loss pred = sparse_categorical_crossentropy(from_logits=true)\n"
        f"    epochs    = {epochs}\n"
        "    batch     = 200\n"
        "    seed      = 0\n"
        f"    save      = {json.dumps(save)}\n"
        "}\n"
    )
    if SPECS[network] is None:
        return K2S + train
    with open(os.path.join(ROOT, SPECS[network])) as f:
        text = f.read()
    # Keep everything but the spec's own train and run blocks.
    head = text.split("\ntrain {", 1)[0]
    return head + "\n" + train


def steady(per_epoch):
    """The median of the epochs after the first (all of them if only one)."""
    rest = per_epoch[1:] or per_epoch
    return statistics.median(rest)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", default="seed,k2s,deep")
    ap.add_argument("--images", type=int, default=60000, help="training images per epoch (figures scale to 60k)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per side; the first is left out of the median")
    ap.add_argument("--no-nengo", action="store_true")
    args = ap.parse_args()
    for n in args.networks.split(","):
        if n not in SPECS:
            sys.exit(f"unknown network `{n}`; the networks are {', '.join(SPECS)}")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if not args.no_nengo and not os.path.exists(VENV_PY):
        subprocess.run(["bash", os.path.join(ROOT, "bench", "nengo", "setup.sh")], check=True)
    scale = 60000 / args.images

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for net in args.networks.split(","):
            path = os.path.join(tmp, f"{net}.snn")
            with open(path, "w") as f:
                f.write(spec_text(net, args.images, args.epochs, os.path.join(tmp, f"{net}.npz")))
            out = subprocess.run([SNNC, "train", path, "--format", "json"], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(out.stderr)
            epochs = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
            snnc_epochs = [e["train_seconds"] * scale for e in epochs if "epoch" in e and "train_seconds" in e]
            row = {"net": net, "snnc": steady(snnc_epochs), "snnc_all": snnc_epochs, "nengo": None}
            if not args.no_nengo:
                peer = subprocess.run([VENV_PY, os.path.join(ROOT, "bench", "nengo", "peer.py"), "train-epoch",
                                       "--spec", "seed" if net == "seed" else net, "--data", DATA, "--batch", "200",
                                       "--epochs", str(args.epochs), "--pixel-max", "10", "--limit", str(args.images)],
                                      capture_output=True, text=True)
                if peer.returncode != 0:
                    sys.exit(peer.stderr[-4000:])
                r = [json.loads(l) for l in peer.stdout.splitlines() if l.startswith("{") and '"train"' in l][-1]
                row["nengo_all"] = r["steady_epoch_seconds"]
                row["nengo"] = steady(r["steady_epoch_seconds"])
                row["nengo_first"] = r["epoch_seconds"][0] * scale
            rows.append(row)
            print(f"{net}: snnc {row['snnc']:.1f} s/epoch" + (f", NengoDL {row['nengo']:.1f} s/epoch, "
                  f"{row['nengo'] / row['snnc']:.1f}x" if row["nengo"] else ""), flush=True)

    print()
    print(f"seconds per epoch of 60,000 images (measured on {args.images}), steady state: median of epochs 2-{args.epochs}")
    print()
    print("| network | snnc | NengoDL | NengoDL / snnc |")
    print("|---|---|---|---|")
    for r in rows:
        dl = r["nengo"]
        nengo_s = f"{dl:.1f} s" if dl else "-"
        ratio = f"{dl / r['snnc']:.1f}x" if dl else "-"
        print(f"| {r['net']} | {r['snnc']:.1f} s | {nengo_s} | {ratio} |")
    print()
    for r in rows:
        print(f"- {r['net']}: snnc epochs {', '.join(f'{x:.1f}' for x in r['snnc_all'])} s"
              + (f"; NengoDL epochs {', '.join(f'{x:.1f}' for x in r['nengo_all'])} s (first epoch with tracing: "
                 f"{r['nengo_first']:.1f} s)" if r["nengo"] else ""))


if __name__ == "__main__":
    main()
