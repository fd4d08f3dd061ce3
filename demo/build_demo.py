"""Rebuild the ChannelExplorer built-in demo from Debian's Fashion-MNIST files.

Writes a 2,000-image PNG subset of the Fashion-MNIST test split to
``demo/data/fashion-mnist/`` and trains a small VGG-style Keras model saved
to ``demo/model/fashion_vgg.keras`` (plus ``metrics.json``).

Usage::

    .venv/bin/python demo/build_demo.py [--epochs N] [--data-only]
"""

import argparse
import gzip
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SOURCE_DIR = Path("/usr/share/datasets/fashion-mnist")
DEMO_DIR = Path(__file__).resolve().parent
DATA_DIR = DEMO_DIR / "data" / "fashion-mnist"
MODEL_PATH = DEMO_DIR / "model" / "fashion_vgg.keras"
METRICS_PATH = DEMO_DIR / "model" / "metrics.json"
CLASS_NAMES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
PER_CLASS = 200
SEED = 0
BATCH_SIZE = 128
# (block name, number of convs, filters); pooling gives 28 -> 14 -> 7 -> 3 -> 1.
BLOCKS = [("block1", 2, 32), ("block2", 2, 64),
          ("block3", 3, 96), ("block4", 3, 128)]
LICENSE_TEXT = """\
Fashion-MNIST images in this folder: Copyright (c) 2017 Zalando SE
https://github.com/zalandoresearch/fashion-mnist

The MIT License (MIT)

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.

Provenance: these 2,000 PNGs are the first 200 images of each class (in index
order) of the Fashion-MNIST test split (t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz), as packaged by Debian (dataset-fashion-mnist,
/usr/share/datasets/fashion-mnist/). Each file is named after its index in the
test split and stored unmodified as 8-bit grayscale 28x28 PNG, one sub-folder
per class; classes.txt lists the folders in label-index order. They were
written by demo/build_demo.py.
"""


def read_idx(path):
    """Read a gzipped IDX file (images or labels) into a uint8 array.

    Parameters
    ----------
    path : Path
        Path to an ``*-idx1-ubyte.gz`` or ``*-idx3-ubyte.gz`` file.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(N,)`` for labels or ``(N, rows, cols)`` for images.
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte data type
        raise ValueError(f"{path}: unexpected IDX magic {magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(name):
    """Load one Fashion-MNIST split.

    Parameters
    ----------
    name : {"train", "t10k"}
        File prefix of the split.

    Returns
    -------
    tuple of numpy.ndarray
        uint8 images ``(N, 28, 28)`` and uint8 labels ``(N,)``.
    """
    images = read_idx(SOURCE_DIR / f"{name}-images-idx3-ubyte.gz")
    labels = read_idx(SOURCE_DIR / f"{name}-labels-idx1-ubyte.gz")
    return images, labels


def subset_indices(labels):
    """Return the first ``PER_CLASS`` indices of each class, class by class."""
    return np.concatenate([np.flatnonzero(labels == c)[:PER_CLASS]
                           for c in range(len(CLASS_NAMES))])


def write_subset(images, labels):
    """Write the PNG subset, ``classes.txt`` and ``LICENSE`` to ``DATA_DIR``.

    Parameters
    ----------
    images, labels : numpy.ndarray
        The full test split.
    """
    for name in CLASS_NAMES:  # start clean so reruns are reproducible
        shutil.rmtree(DATA_DIR / name, ignore_errors=True)
        (DATA_DIR / name).mkdir(parents=True)
    for i in subset_indices(labels):
        path = DATA_DIR / CLASS_NAMES[labels[i]] / f"{i:05d}.png"
        Image.fromarray(images[i]).save(path)
    (DATA_DIR / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    (DATA_DIR / "LICENSE").write_text(LICENSE_TEXT)


def build_model(keras):
    """Build the VGG-style classifier taking raw 0..255 pixels.

    Parameters
    ----------
    keras : module
        The imported ``keras`` package.

    Returns
    -------
    keras.Model
        Uncompiled functional model with VGG16-style layer names.
    """
    layers = keras.layers
    x = inputs = keras.Input((28, 28, 1), name="input")
    x = layers.Rescaling(1 / 255, name="rescaling")(x)
    for block, n_convs, filters in BLOCKS:
        for j in range(1, n_convs + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                              name=f"{block}_conv{j}")(x)
        x = layers.MaxPooling2D(2, name=f"{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="fashion_vgg")


def accuracy(model, images, labels):
    """Top-1 accuracy of ``model`` on uint8 ``images`` ``(N, 28, 28)``."""
    x = images[..., None].astype("float32")
    pred = model.predict(x, batch_size=500, verbose=0).argmax(axis=1)
    return float((pred == labels).mean())


def train_and_save(epochs, test_images, test_labels):
    """Train on the full train split, save the model and ``metrics.json``.

    Parameters
    ----------
    epochs : int
        Number of training epochs.
    test_images, test_labels : numpy.ndarray
        The full test split, used only for the final evaluation.

    Returns
    -------
    dict
        The metrics written to ``METRICS_PATH``.
    """
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    keras.utils.set_random_seed(SEED)

    train_images, train_labels = load_split("train")
    model = build_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(train_images[..., None].astype("float32"), train_labels,
              batch_size=BATCH_SIZE, epochs=epochs, shuffle=True, verbose=2)
    train_seconds = time.perf_counter() - start

    # Save a fresh, uncompiled copy so the file holds no optimizer state.
    clean = build_model(keras)
    clean.set_weights(model.get_weights())
    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    clean.save(MODEL_PATH)

    subset = subset_indices(test_labels)
    metrics = {
        "test_accuracy": accuracy(clean, test_images, test_labels),
        "test_images": int(len(test_labels)),
        "subset_accuracy": accuracy(clean, test_images[subset],
                                    test_labels[subset]),
        "subset_images": int(len(subset)),
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "train_images": int(len(train_labels)),
        "training_seconds": round(train_seconds, 1),
        "num_params": int(clean.count_params()),
        "file_size_bytes": MODEL_PATH.stat().st_size,
        "seed": SEED,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
    }
    METRICS_PATH.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main():
    """Parse arguments and rebuild the demo data (and model)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8,
                        help="training epochs (default: 8)")
    parser.add_argument("--data-only", action="store_true",
                        help="only write the PNG subset, skip training")
    args = parser.parse_args()

    test_images, test_labels = load_split("t10k")
    write_subset(test_images, test_labels)
    print(f"Wrote {len(CLASS_NAMES) * PER_CLASS} PNGs to {DATA_DIR}")
    if not args.data_only:
        metrics = train_and_save(args.epochs, test_images, test_labels)
        print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
