"""Build the fourth model + image set for ``benchmarks/findings.py`` (trained once, offline).

A fourth model + data pair, built after the tuning, validation and holdout sets
had all been seen, and kept out of every choice of defaults until it is run
once with frozen defaults (see ``benchmarks/results_findings.md``).

* **Source**: Fashion-MNIST's *training* split from Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/``),
  indices 40,000 and up only: the demo (tuning set) analyses test-split images,
  the other two sets MNIST digits, so no analysed image is shared.
* **Classes with a planted hierarchy**: five garments (Trouser, Pullover,
  Sandal, Bag, Ankle_boot) drawn upright (``Trouser_up`` ..) and flipped upside
  down (``Trouser_flip`` ..): 10 classes whose known super-classes are the two
  variants (validation plants polarity, holdout 90-degree rotation).
* **Split by source image** as in ``build.py``: of each garment's images from
  index 40,000 on (in index order), the first 200 are analysed (2,000 PNGs,
  200 per class), the next 300 train (3,000 images); each source image appears
  in both variants on its side only.
* **Model**: a VGG-style CNN unlike the other three: 24/40/56/64 filters in
  blocks of 2, 3, 3, 2 convs (10 conv layers, no bias), each followed by
  ``BatchNormalization`` and a separate ReLU ``Activation``; max pooling after
  blocks 1-3, global average pooling, an 80-unit ``fc1``.  Trained with a
  fixed seed (2) on CPU, committed as ``fourth_vgg.keras`` (under 1 MB) with
  ``fourth_metrics.json``.

Usage (repository root)::

    .venv/bin/python benchmarks/validation/fourth.py             # data + train (about 2 min)
    .venv/bin/python benchmarks/validation/fourth.py --data-only # only write the PNGs

The PNGs go to ``$CHANNELEXPLORER_FOURTH_DIR`` or
``~/.cache/channelexplorer/fourth-fashion``; the benchmark writes them on first
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
MODEL_PATH = HERE / "fourth_vgg.keras"
METRICS_PATH = HERE / "fourth_metrics.json"
FASHION = Path(FASHION_SOURCE)
#: First index of Fashion-MNIST's training split that this set draws from.
FIRST_INDEX = 40_000
#: Garment -> Fashion-MNIST label.
GARMENTS = {"Trouser": 1, "Pullover": 2, "Sandal": 5, "Bag": 8, "Ankle_boot": 9}
VARIANTS = {"up": lambda imgs: imgs, "flip": lambda imgs: np.flip(imgs, axis=1)}
CLASS_NAMES = [f"{g}_{v}" for v in VARIANTS for g in GARMENTS]
#: Known super-class of each class (upright or upside down), for the hierarchy ARI.
SUPER_CLASSES = {f"{g}_{v}": v for v in VARIANTS for g in GARMENTS}
ANALYSED_PER_CLASS = 200
TRAIN_PER_CLASS = 300
SEED = 2
EPOCHS = 12
BLOCKS = [("block1", 2, 24), ("block2", 3, 40), ("block3", 3, 56), ("block4", 2, 64)]
FC_UNITS = 80
SOURCE = ("Fashion-MNIST training split (indices >= 40000) from Debian's dataset-fashion-mnist, "
          "Trouser/Pullover/Sandal/Bag/Ankle_boot upright and flipped upside down, "
          "written by benchmarks/validation/fourth.py. Fashion-MNIST: Copyright (c) 2017 Zalando SE, MIT licence.")


DATA = build.FashionSet("fourth", GARMENTS, VARIANTS, slice(FIRST_INDEX, None), SOURCE, ANALYSED_PER_CLASS,
                        TRAIN_PER_CLASS)
data_dir, make_split, write_pngs, ensure_data = DATA.data_dir, DATA.make_split, DATA.write_pngs, DATA.ensure_data


def build_model(keras):
    """The fourth CNN (raw 0..255 pixels in, softmax over 10 classes out)."""
    return build.build_bn_cnn(keras, BLOCKS, FC_UNITS, len(CLASS_NAMES), "fourth_vgg")


def main():
    build.run_builder(__doc__, make_split, write_pngs, data_dir, build_model, MODEL_PATH, METRICS_PATH, SEED,
                      EPOCHS)


if __name__ == "__main__":
    main()
