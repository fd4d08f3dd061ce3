"""Build the eighth model + image set for ``benchmarks/findings.py`` (trained once, offline).

An eighth model + data pair, built after the seventh set and before any rule
change is judged on it: nobody has analysed it yet (see
``benchmarks/results_findings.md``).

* **Source**: Fashion-MNIST's *training* split from Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/``),
  indices 50,000 and up only: the demo (tuning set) analyses test-split
  images, the fourth and seventh sets the first 500 images of each garment
  from index 40,000 on (the highest index they use is 45,253: the seventh
  set's Sneakers; the fourth set's highest is 45,244), the fifth and sixth
  sets images below 40,000, the other two sets MNIST digits, so no image of
  any other set, analysed or trained on, is used here.
* **Classes with a planted hierarchy**: five garments (Trouser, Pullover,
  Dress, Sneaker, Bag), each drawn as it is (``Trouser_upright`` ..) and
  rotated by 90 degrees counter-clockwise, ``np.rot90`` (``Trouser_rotated``
  ..): 10 classes whose known super-classes are the two variants (validation
  plants polarity on digits, holdout 90-degree rotation on digits, fourth
  upside-down flips, fifth size, sixth blur, seventh inversion).
* **Split by source image** as in ``build.py``: of each garment's images from
  index 50,000 on (in index order), the first 200 are analysed (2,000 PNGs,
  200 per class), the next 300 train (3,000 images); each source image appears
  in both variants on its side only.
* **Model**: VGG-style and wider than the other seven: 32/64/96/128 filters in
  blocks of 2, 3, 3, 2 convs (10 conv layers ``block1_conv1`` ..
  ``block4_conv2``), each conv without a bias or activation, followed by
  ``BatchNormalization`` (momentum 0.9) and a separate ReLU ``Activation``:
  Conv -> BN -> ReLU, the common modern order; max pooling after blocks 1-3,
  global average pooling, a 96-unit ``fc1`` (597,450 parameters).  Trained
  once with a fixed seed (6) on CPU for 12 epochs (145 s; training accuracy
  0.995), committed as ``eighth_vgg.keras`` (2.5 MB) with
  ``eighth_metrics.json``: analysed accuracy 0.9455.  Only the model's
  accuracy was measured: no finding has been run on this set.

Usage (repository root)::

    .venv/bin/python benchmarks/validation/eighth.py             # data + train (about 2.5 min)
    .venv/bin/python benchmarks/validation/eighth.py --data-only # only write the PNGs

The PNGs go to ``$CHANNELEXPLORER_EIGHTH_DIR`` or
``~/.cache/channelexplorer/eighth-fashion``; the benchmark writes them on first
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
MODEL_PATH = HERE / "eighth_vgg.keras"
METRICS_PATH = HERE / "eighth_metrics.json"
FASHION = Path(FASHION_SOURCE)
#: First index of Fashion-MNIST's training split that this set draws from (the fourth and seventh sets end at 45,253).
FIRST_INDEX = 50_000
#: Garment -> Fashion-MNIST label.
GARMENTS = {"Trouser": 1, "Pullover": 2, "Dress": 3, "Sneaker": 7, "Bag": 8}


def rotate(images):
    """Each image rotated by 90 degrees counter-clockwise (``np.rot90`` over the image axes).

    Parameters
    ----------
    images : ndarray of shape (n, 28, 28), uint8

    Returns
    -------
    ndarray of shape (n, 28, 28), uint8
    """
    return np.ascontiguousarray(np.rot90(np.asarray(images, np.uint8), k=1, axes=(1, 2)))


VARIANTS = {"upright": lambda imgs: imgs, "rotated": rotate}
CLASS_NAMES = [f"{g}_{v}" for v in VARIANTS for g in GARMENTS]
#: Known super-class of each class (upright or rotated), for the hierarchy ARI.
SUPER_CLASSES = {f"{g}_{v}": v for v in VARIANTS for g in GARMENTS}
ANALYSED_PER_CLASS = 200
TRAIN_PER_CLASS = 300
SEED = 6
#: One run (training accuracy 0.995, analysed accuracy 0.9455; 145 s on two shared CPU cores).
EPOCHS = 12
#: (block name, convs, filters)
BLOCKS = [("block1", 2, 32), ("block2", 3, 64), ("block3", 3, 96), ("block4", 2, 128)]
FC_UNITS = 96
#: Faster than Keras's 0.99, as the fifth to seventh sets: 47 steps an epoch.
BN_MOMENTUM = 0.9
SOURCE = ("Fashion-MNIST training split (indices >= 50000) from Debian's dataset-fashion-mnist, "
          "Trouser/Pullover/Dress/Sneaker/Bag upright and rotated 90 degrees counter-clockwise (np.rot90), "
          "written by benchmarks/validation/eighth.py. Fashion-MNIST: Copyright (c) 2017 Zalando SE, MIT licence.")


DATA = build.FashionSet("eighth", GARMENTS, VARIANTS, slice(FIRST_INDEX, None), SOURCE, ANALYSED_PER_CLASS,
                        TRAIN_PER_CLASS)
data_dir, make_split, write_pngs, ensure_data = DATA.data_dir, DATA.make_split, DATA.write_pngs, DATA.ensure_data


def build_model(keras):
    """The eighth CNN, VGG-style with Conv -> BN -> ReLU (raw 0..255 pixels in, softmax over 10 classes out)."""
    return build.build_bn_cnn(keras, BLOCKS, FC_UNITS, len(CLASS_NAMES), "eighth_vgg", BN_MOMENTUM)


def main():
    build.run_builder(__doc__, make_split, write_pngs, data_dir, build_model, MODEL_PATH, METRICS_PATH, SEED,
                      EPOCHS)


if __name__ == "__main__":
    main()
