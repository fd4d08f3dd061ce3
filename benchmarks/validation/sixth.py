"""Build the sixth model + image set for ``benchmarks/findings.py`` (trained once, offline).

A sixth model + data pair, built after the fifth set was analysed and before a
rule change is judged on it: nobody has analysed it yet (see
``benchmarks/results_findings.md``).

* **Source**: Fashion-MNIST's *training* split from Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/``),
  indices 0 to 39,999 only: the demo (tuning set) analyses test-split images,
  the fourth set these garments' training images from index 40,000 on, the
  fifth set other garments below 40,000, the other two sets MNIST digits, so
  no analysed image is shared.
* **Classes with a planted hierarchy**: the fourth set's five garments
  (Trouser, Pullover, Sandal, Bag, Ankle_boot), each drawn as it is
  (``Trouser_sharp`` ..) and blurred with PIL's ``GaussianBlur(radius=1.5)``
  (``Trouser_blurred`` ..): 10 classes whose known super-classes are the two
  sharpnesses (validation plants polarity, holdout 90-degree rotation, fourth
  upside-down flips, fifth size).
* **Split by source image** as in ``build.py``: of each garment's images
  below index 40,000 (in index order), the first 200 are analysed (2,000 PNGs,
  200 per class), the next 300 train (3,000 images); each source image appears
  in both variants on its side only.
* **Model**: MobileNet-style, unlike the other five: a 16-filter 3 x 3 stem
  conv, then four depthwise-separable blocks (3 x 3 ``DepthwiseConv2D`` then a
  1 x 1 pointwise conv of 24, 40, 56 and 72 filters; blocks 2 and 3 start
  with stride 2), then a 96-filter 1 x 1 conv: 10 conv layers, no bias, each
  followed by ``BatchNormalization`` (momentum 0.9) and a ``ReLU`` layer capped
  at 6 (ReLU6); no residual ``Add``; global average pooling, a 72-unit
  ``fc1`` (25,370 parameters).  Trained once with a fixed seed (4) on CPU for
  24 epochs (83 s; training accuracy reaches 1.00 at epoch 16), committed as
  ``sixth_vgg.keras`` (231 KB) with ``sixth_metrics.json``: analysed accuracy
  0.966.  Only the model's accuracy was measured: no finding has been run on
  this set.

Usage (repository root)::

    .venv/bin/python benchmarks/validation/sixth.py             # data + train (about 1.5 min)
    .venv/bin/python benchmarks/validation/sixth.py --data-only # only write the PNGs

The PNGs go to ``$CHANNELEXPLORER_SIXTH_DIR`` or
``~/.cache/channelexplorer/sixth-fashion``; the benchmark writes them on first
use with :func:`ensure_data` (no training).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

import build  # noqa: E402  (the validation set's code, shared)
from analysis.fulldemo import SOURCE as FASHION_SOURCE, read_idx  # noqa: E402,F401 (read_idx: used by the tests too)

HERE = build.HERE
MODEL_PATH = HERE / "sixth_vgg.keras"
METRICS_PATH = HERE / "sixth_metrics.json"
FASHION = Path(FASHION_SOURCE)
#: Fashion-MNIST's training split is read below this index only (the fourth set starts there).
STOP_INDEX = 40_000
#: Garment -> Fashion-MNIST label (the fourth set's garments; the fifth used the others below 40,000).
GARMENTS = {"Trouser": 1, "Pullover": 2, "Sandal": 5, "Bag": 8, "Ankle_boot": 9}
#: Radius of PIL's Gaussian blur for the blurred variant.
BLUR_RADIUS = 1.5
SEED = 4


def blur(images):
    """Each image blurred with PIL's ``ImageFilter.GaussianBlur(BLUR_RADIUS)`` (deterministic).

    Parameters
    ----------
    images : ndarray of shape (n, 28, 28), uint8

    Returns
    -------
    ndarray of shape (n, 28, 28), uint8
    """
    from PIL import Image, ImageFilter
    out = np.empty_like(images, dtype=np.uint8)
    for k, img in enumerate(images):
        blurred = Image.fromarray(np.asarray(img, np.uint8)).filter(ImageFilter.GaussianBlur(radius=BLUR_RADIUS))
        out[k] = np.asarray(blurred)
    return out


VARIANTS = {"sharp": lambda imgs: imgs, "blurred": blur}
CLASS_NAMES = [f"{g}_{v}" for v in VARIANTS for g in GARMENTS]
#: Known super-class of each class (sharp or blurred), for the hierarchy ARI.
SUPER_CLASSES = {f"{g}_{v}": v for v in VARIANTS for g in GARMENTS}
ANALYSED_PER_CLASS = 200
TRAIN_PER_CLASS = 300
#: As many as the fifth set's (one run; training accuracy 1.00 from epoch 16, analysed accuracy 0.966).
EPOCHS = 24
STEM = 16
#: (block name, pointwise filters, stride of its depthwise conv)
BLOCKS = [("block1", 24, 1), ("block2", 40, 2), ("block3", 56, 2), ("block4", 72, 1)]
FINAL = 96
FC_UNITS = 72
#: Faster than Keras's 0.99, as the fifth set needed: with 47 steps an epoch the moving statistics lag otherwise.
BN_MOMENTUM = 0.9
SOURCE = ("Fashion-MNIST training split (indices < 40000) from Debian's dataset-fashion-mnist, "
          "Trouser/Pullover/Sandal/Bag/Ankle_boot sharp and blurred with PIL's GaussianBlur(1.5), "
          "written by benchmarks/validation/sixth.py. Fashion-MNIST: Copyright (c) 2017 Zalando SE, MIT licence.")


DATA = build.FashionSet("sixth", GARMENTS, VARIANTS, slice(0, STOP_INDEX), SOURCE, ANALYSED_PER_CLASS,
                        TRAIN_PER_CLASS)
data_dir, make_split, write_pngs, ensure_data = DATA.data_dir, DATA.make_split, DATA.write_pngs, DATA.ensure_data


def build_model(keras):
    """The sixth CNN, MobileNet-style (raw 0..255 pixels in, softmax over 10 classes out)."""
    layers = keras.layers

    def bn_relu6(x, name):
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
        return layers.ReLU(max_value=6.0, name=f"{name}_relu")(x)

    x = inputs = keras.Input((28, 28, 1), name="input")
    x = layers.Rescaling(1 / 255, name="rescaling")(x)
    x = layers.Conv2D(STEM, 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = bn_relu6(x, "stem")
    for block, filters, stride in BLOCKS:
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{block}_dw")(x)
        x = bn_relu6(x, f"{block}_dw")
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"{block}_pw")(x)
        x = bn_relu6(x, f"{block}_pw")
    x = layers.Conv2D(FINAL, 1, use_bias=False, name="final_conv")(x)
    x = bn_relu6(x, "final")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(FC_UNITS, activation="relu", name="fc1")(x)
    outputs = layers.Dense(len(CLASS_NAMES), activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="sixth_mobilenet")


def main():
    build.run_builder(__doc__, make_split, write_pngs, data_dir, build_model, MODEL_PATH, METRICS_PATH, SEED,
                      EPOCHS)


if __name__ == "__main__":
    main()
