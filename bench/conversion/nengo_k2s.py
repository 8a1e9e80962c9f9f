#!/usr/bin/env python3
"""NengoDL's keras-to-snn example on this machine, for bench/conversion/run.py.

    target/nengo-venv/bin/python bench/conversion/nengo_k2s.py --data ../shared/data/mnist \
        --out k2s_keras_s0.npz --seed 0

Trains the example's network (conv 32 -> conv 64 stride 2 -> dense 10, raw
pixels 0..255) with Keras (Adam 1e-3, batch 200, 2 epochs: the rate
network NengoDL trains is the Keras model), saves its weights in snnc's
params layout (`conv0.kernel`, ... : Keras layouts, one to one), then runs
the example's settings through NengoDL's Converter on the first 400 test
images and prints one JSON object: accuracy per setting. run.py then runs
snnc on the very same weights, which separates the simulator from training.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nengo"))

import numpy as np  # noqa: E402

import peer  # noqa: E402  (bench/nengo/peer.py: the MNIST reader)

# With --regularised: trained with the example's firing-rate loss instead.
REG_ROWS = [
    ("regularised: rate, 10 steps", False, 10, 1, None),
    ("regularised: synapse 10 ms, 30 steps", True, 30, 1, 0.01),
]

# (row name as in run.py, swap to spiking?, steps, scale, synapse)
ROWS = [
    ("rate, 10 steps", False, 10, 1, None),
    ("spiking, 30 steps", True, 30, 1, None),
    ("synapse 1 ms, 60 steps", True, 60, 1, 0.001),
    ("synapse 5 ms, 60 steps", True, 60, 1, 0.005),
    ("synapse 10 ms, 60 steps", True, 60, 1, 0.01),
    ("synapse 10 ms, scale 2, 30 steps", True, 30, 2, 0.01),
    ("synapse 10 ms, scale 5, 30 steps", True, 30, 5, 0.01),
    ("synapse 10 ms, scale 10, 30 steps", True, 30, 10, 0.01),
    ("scale 1000, 10 steps", True, 10, 1000, None),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, help="where to save the trained params (.npz)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--regularised",
        action="store_true",
        help="train as the example's regularised network: RMSprop 1e-3, 10 epochs, plus 1e-3 times the "
        "mean squared distance of each conv layer's rates from 250 Hz",
    )
    args = ap.parse_args()
    peer.import_stack()
    tf, nengo, nengo_dl = peer.tf, peer.nengo, peer.nengo_dl
    np.random.seed(args.seed)
    tf.random.set_seed(args.seed)

    train_x, train_y = peer.load_mnist(args.data, "train", pixel_max=255.0)
    test_x, test_y = peer.load_mnist(args.data, "test", limit=400, pixel_max=255.0)

    inp = tf.keras.Input(shape=(28, 28, 1))
    conv0 = tf.keras.layers.Conv2D(filters=32, kernel_size=3, activation=tf.nn.relu)(inp)
    conv1 = tf.keras.layers.Conv2D(filters=64, kernel_size=3, strides=2, activation=tf.nn.relu)(conv0)
    dense = tf.keras.layers.Dense(units=10)(tf.keras.layers.Flatten()(conv1))
    model = tf.keras.Model(inputs=inp, outputs=dense)
    images = train_x.reshape(-1, 28, 28, 1)
    if args.regularised:
        # Keras' mse against a constant 250 Hz target, averaged over a
        # layer's neurons (the example's `tf.losses.mse` on the probes),
        # without materialising the (N, 21632) targets.
        def rate_mse(_, rates):
            return tf.reduce_mean(tf.square(rates - 250.0), axis=[1, 2, 3])

        trainer = tf.keras.Model(inputs=inp, outputs=[dense, conv0, conv1])
        trainer.compile(
            optimizer=tf.optimizers.RMSprop(0.001),
            loss=[tf.losses.SparseCategoricalCrossentropy(from_logits=True), rate_mse, rate_mse],
            loss_weights=[1, 1e-3, 1e-3],
        )
        dummy = np.zeros((len(images), 1), np.float32)
        trainer.fit(images, [train_y, dummy, dummy], batch_size=200, epochs=10, verbose=2)
    else:
        model.compile(
            optimizer=tf.optimizers.Adam(0.001),
            loss=tf.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(images, train_y, batch_size=200, epochs=2, verbose=2)

    layers = [l for l in model.layers if l.get_weights()]
    params = {}
    for name, layer in zip(["conv0", "conv1", "out"], layers):
        kernel, bias = layer.get_weights()
        params[f"{name}.kernel"] = kernel.astype(np.float32)
        params[f"{name}.bias"] = bias.astype(np.float32)
    np.savez(args.out, **params)

    results = {}
    for row, spiking, steps, scale, synapse in REG_ROWS if args.regularised else ROWS:
        converter = nengo_dl.Converter(
            model,
            swap_activations={tf.nn.relu: nengo.SpikingRectifiedLinear() if spiking else nengo.RectifiedLinear()},
            scale_firing_rates=scale,
            synapse=synapse,
        )
        with converter.net:
            nengo_dl.configure_settings(stateful=False)
        tiled = np.tile(test_x.reshape(len(test_x), 1, -1), (1, steps, 1))
        with nengo_dl.Simulator(converter.net, minibatch_size=100, progress_bar=False) as sim:
            data = sim.predict({converter.inputs[inp]: tiled})
        predictions = np.argmax(data[converter.outputs[dense]][:, -1], axis=-1)
        results[row] = 100.0 * float((predictions == test_y).mean())
        peer.log(f"  NengoDL {row}: {results[row]:.2f}%")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
