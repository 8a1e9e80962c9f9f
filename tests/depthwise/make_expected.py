"""Expected outputs of `depthwise_conv2d` for tests/depthwise.rs, computed
with NumPy straight from Keras' definition of DepthwiseConv2D (TensorFlow's
padding, output channel c * depth_multiplier + j), independently of snnc.

    pip install numpy
    python3 tests/depthwise/make_expected.py

writes tests/depthwise/expected.npz: per case NAME, `NAME_x` (h, w, c),
`NAME_kernel` (kh, kw, c, m), `NAME_bias` (c * m) and `NAME_y`, all float64.
The cases (their kernel size, strides, padding) are listed in CASES, which
tests/depthwise.rs repeats in its specs.
"""

import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (input shape, kernel size, strides, padding, depth_multiplier)
CASES = {
    "same_strided": ((5, 6, 3), (3, 2), (2, 1), "same", 2),
    "valid": ((4, 5, 2), (2, 3), (1, 1), "valid", 3),
    "same_even_kernel": ((6, 4, 1), (4, 4), (2, 3), "same", 1),
}


def axis(n, k, s, padding):
    """TensorFlow: output length and zero padding before and after."""
    if padding == "valid":
        return (n - k) // s + 1, 0, 0
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def depthwise(x, k, b, strides, padding):
    h, w, c = x.shape
    kh, kw, _, m = k.shape
    oh, ph0, ph1 = axis(h, kh, strides[0], padding)
    ow, pw0, pw1 = axis(w, kw, strides[1], padding)
    xp = np.pad(x, ((ph0, ph1), (pw0, pw1), (0, 0)))
    y = np.zeros((oh, ow, c * m))
    for i in range(oh):
        for j in range(ow):
            patch = xp[i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw, :]
            # (kh, kw, c) x (kh, kw, c, m) -> (c, m), flattened c-major
            y[i, j, :] = np.einsum("abc,abcm->cm", patch, k).reshape(-1)
    return y + b


def main():
    rng = np.random.default_rng(2026)
    arrays = {}
    for name, (shape, ksize, strides, padding, m) in CASES.items():
        c = shape[2]
        x = rng.normal(0, 1, shape)
        x[rng.uniform(size=shape) < 0.3] = 0.0  # the engines skip zero inputs
        k = rng.normal(0, 0.5, (*ksize, c, m))
        b = rng.normal(0, 0.1, c * m)
        arrays[f"{name}_x"] = x
        arrays[f"{name}_kernel"] = k
        arrays[f"{name}_bias"] = b
        arrays[f"{name}_y"] = depthwise(x, k, b, strides, padding)
    np.savez(os.path.join(HERE, "expected.npz"), **arrays)


if __name__ == "__main__":
    main()
