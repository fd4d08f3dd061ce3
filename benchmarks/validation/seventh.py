"""Build the seventh model + image set for ``benchmarks/findings.py`` (trained once, offline).

A seventh model + data pair, built after the sixth set and before any rule
change is judged on it: nobody has analysed it yet (see
``benchmarks/results_findings.md``).

* **Source**: Fashion-MNIST's *training* split from Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/``),
  indices 40,000 and up only, and only the five garments the fourth set left
  out there: the demo (tuning set) analyses test-split images, the fourth set
  the other five garments from index 40,000 on, the fifth and sixth sets
  images below 40,000, the other two sets MNIST digits, so no analysed image
  is shared.
* **Classes with a planted hierarchy**: the fifth set's garments (T-shirt_top,
  Dress, Coat, Sneaker, Shirt), each drawn as it is (``T-shirt_top_plain`` ..)
  and with its contrast inverted, 255 - pixel (``T-shirt_top_inverted`` ..):
  10 classes whose known super-classes are the two variants (validation plants
  polarity on digits, holdout 90-degree rotation, fourth upside-down flips,
  fifth size, sixth blur).
* **Split by source image** as in ``build.py``: of each garment's images from
  index 40,000 on (in index order), the first 200 are analysed (2,000 PNGs,
  200 per class), the next 300 train (3,000 images); each source image appears
  in both variants on its side only.
* **Model**: VGG-style, unlike the other six: 20/32/48/80 filters in blocks of
  3, 3, 2, 2 convs (10 conv layers ``block1_conv1`` .. ``block4_conv2``), each
  conv *with* a bias and its own ReLU (``Conv2D(..., activation="relu")``) and
  *followed* by ``BatchNormalization`` (momentum 0.9): Conv -> ReLU -> BN, the
  order some people build; max pooling after blocks 1-3, global *max*
  pooling, ``Dropout(0.3)``, a 64-unit ``fc1`` (166,186 parameters).
  Trained once with a fixed seed (5) on CPU for 20 epochs (125 s; training
  accuracy 0.97), committed as ``seventh_vgg.keras`` (783 KB) with
  ``seventh_metrics.json``: analysed accuracy 0.823 (0.812 after 15 epochs;
  the fifth set's model, on the same confusable garments, 0.77).  Only the
  model's accuracy was measured: no finding has been run on this set.

Usage (repository root)::

    .venv/bin/python benchmarks/validation/seventh.py             # data + train (about 2 min)
    .venv/bin/python benchmarks/validation/seventh.py --data-only # only write the PNGs

The PNGs go to ``$CHANNELEXPLORER_SEVENTH_DIR`` or
``~/.cache/channelexplorer/seventh-fashion``; the benchmark writes them on first
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
MODEL_PATH = HERE / "seventh_vgg.keras"
METRICS_PATH = HERE / "seventh_metrics.json"
FASHION = Path(FASHION_SOURCE)
#: First index of Fashion-MNIST's training split that this set draws from (as the fourth set).
FIRST_INDEX = 40_000
#: Garment -> Fashion-MNIST label (the fifth set's garments; the fourth used the others from 40,000 on).
GARMENTS = {"T-shirt_top": 0, "Dress": 3, "Coat": 4, "Sneaker": 7, "Shirt": 6}


def invert(images):
    """Each image with its contrast inverted: 255 - pixel.

    Parameters
    ----------
    images : ndarray of shape (n, 28, 28), uint8

    Returns
    -------
    ndarray of shape (n, 28, 28), uint8
    """
    return (255 - np.asarray(images, np.uint8)).astype(np.uint8)


VARIANTS = {"plain": lambda imgs: imgs, "inverted": invert}
CLASS_NAMES = [f"{g}_{v}" for v in VARIANTS for g in GARMENTS]
#: Known super-class of each class (plain or inverted), for the hierarchy ARI.
SUPER_CLASSES = {f"{g}_{v}": v for v in VARIANTS for g in GARMENTS}
ANALYSED_PER_CLASS = 200
TRAIN_PER_CLASS = 300
SEED = 5
#: One run each of 15 and 20 epochs (analysed accuracy 0.812, 0.823): stable; 20 kept.
EPOCHS = 20
#: (block name, convs, filters)
BLOCKS = [("block1", 3, 20), ("block2", 3, 32), ("block3", 2, 48), ("block4", 2, 80)]
FC_UNITS = 64
#: Faster than Keras's 0.99, as the fifth and sixth sets: 47 steps an epoch.
BN_MOMENTUM = 0.9
SOURCE = ("Fashion-MNIST training split (indices >= 40000) from Debian's dataset-fashion-mnist, "
          "T-shirt_top/Dress/Coat/Sneaker/Shirt plain and contrast-inverted (255 - pixel), "
          "written by benchmarks/validation/seventh.py. Fashion-MNIST: Copyright (c) 2017 Zalando SE, MIT licence.")


DATA = build.FashionSet("seventh", GARMENTS, VARIANTS, slice(FIRST_INDEX, None), SOURCE, ANALYSED_PER_CLASS,
                        TRAIN_PER_CLASS)
data_dir, make_split, write_pngs, ensure_data = DATA.data_dir, DATA.make_split, DATA.write_pngs, DATA.ensure_data


def build_model(keras):
    """The seventh CNN, VGG-style with Conv -> ReLU -> BN (raw 0..255 pixels in, softmax over 10 classes out)."""
    layers = keras.layers
    x = inputs = keras.Input((28, 28, 1), name="input")
    x = layers.Rescaling(1 / 255, name="rescaling")(x)
    for k, (block, n_convs, filters) in enumerate(BLOCKS):
        for j in range(1, n_convs + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{block}_conv{j}")(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{block}_bn{j}")(x)
        if k < len(BLOCKS) - 1:
            x = layers.MaxPooling2D(2, name=f"{block}_pool")(x)
    x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Dense(FC_UNITS, activation="relu", name="fc1")(x)
    outputs = layers.Dense(len(CLASS_NAMES), activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="seventh_vgg")


def main():
    build.run_builder(__doc__, make_split, write_pngs, data_dir, build_model, MODEL_PATH, METRICS_PATH, SEED,
                      EPOCHS)


if __name__ == "__main__":
    main()
