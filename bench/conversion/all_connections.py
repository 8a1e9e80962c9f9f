#!/usr/bin/env python3
"""NengoDL's all-connections synapse loop against `synapse all` in snnc.

    target/nengo-venv/bin/python bench/conversion/all_connections.py \
        --snnc target/release/snnc --work /tmp/all_connections

Imports ../shared/keras/seed.keras with `snnc import`, converts it in
NengoDL (spiking ReLUs starting at 0, scale 20) with
`for conn in net.all_connections: conn.synapse = Lowpass(5 ms)`, runs 300
bundled test images for 100 steps, and counts the images whose prediction
snnc gives too: with `synapse all = lowpass(5ms)` (a conv2d bias filtered
twice, through the Converter's relay node) and with the relay left
unfiltered (the bias filtered once).
"""

import argparse
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "nengo"))

import numpy as np  # noqa: E402

import peer  # noqa: E402  (bench/nengo/peer.py: the MNIST reader)

N, STEPS = 300, 100
VARIANTS = """
convert relayed from seed {{
    swap relu -> spiking_relu
    scale_firing_rates = 20
    synapse all = lowpass(5ms)
    initial_voltage = zero
}}

convert once from seed {{
    swap relu -> spiking_relu
    scale_firing_rates = 20
    synapse all = lowpass(5ms)
    synapse relay -> conv2d = none
    initial_voltage = zero
}}

run {{
    network = relayed
    params  = "seed_params.npz"
    data    = mnist_idx("{data}", split=test, limit={n})
    dt      = 1ms
    steps   = {steps}
    report  = accuracy(logits, at=last)
}}
"""


def nengo_predictions(work, data):
    import nengo
    import nengo_dl
    import tensorflow as tf

    x, _ = peer.load_mnist(data, "test", limit=N)
    x = np.asarray(x, dtype=np.float32).reshape(N, -1)
    inp = tf.keras.Input((28, 28, 1))
    h = tf.keras.layers.Conv2D(32, 3, activation=tf.nn.relu)(inp)
    out = tf.keras.layers.Dense(10)(tf.keras.layers.Flatten()(h))
    model = tf.keras.Model(inp, out)
    p = np.load(os.path.join(work, "seed_params.npz"))
    model.layers[1].set_weights([p["conv2d.kernel"], p["conv2d.bias"]])
    model.layers[3].set_weights([p["dense.kernel"], p["dense.bias"]])
    neuron = nengo.SpikingRectifiedLinear(initial_state={"voltage": nengo.dists.Choice([0])})
    conv = nengo_dl.Converter(
        model, swap_activations={tf.nn.relu: neuron}, scale_firing_rates=20, synapse=None
    )
    for conn in conv.net.all_connections:
        conn.synapse = 0.005
    with nengo_dl.Simulator(conv.net, minibatch_size=100, progress_bar=False) as sim:
        data = sim.predict({conv.inputs[inp]: np.tile(x[:, None, :], (1, STEPS, 1))})
    return data[conv.outputs[out]][:, -1].argmax(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--snnc", default=os.path.join(ROOT, "target", "release", "snnc"))
    ap.add_argument("--work", default="/tmp/snnc-all-connections")
    ap.add_argument("--keras", default=os.path.join(ROOT, "..", "shared", "keras", "seed.keras"))
    args = ap.parse_args()
    data = os.path.join(ROOT, "examples", "data")
    os.makedirs(args.work, exist_ok=True)
    subprocess.run([args.snnc, "import", args.keras, "-o", args.work], check=True, stdout=subprocess.DEVNULL)
    spec = os.path.join(args.work, "seed.snn")
    with open(spec, "a") as f:
        f.write(VARIANTS.format(data=data, n=N, steps=STEPS))
    nengo = nengo_predictions(args.work, data)
    for variant in ["relayed", "once"]:
        out = os.path.join(args.work, f"{variant}.npz")
        subprocess.run(
            [args.snnc, "run", spec, "--variant", variant, "--out", out],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        ours = np.load(out)["logits"][:, -1].argmax(-1)
        print(f"{variant}: {(ours == nengo).sum()} / {N} predictions as NengoDL's")


if __name__ == "__main__":
    main()
