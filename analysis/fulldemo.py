"""The full-scale demo: all 10,000 Fashion-MNIST test images, written on first use.

``python -m app --demo full`` analyses the whole test split with the demo
model (trained on the separate training split) instead of the 2,000-image
subset in the repository.  The images come from Debian's
``dataset-fashion-mnist`` package (MIT licence) and are written once, as 28x28
PNGs in one folder per class, into the app's cache folder (never into the
repository); later starts find them there.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile

import numpy as np

from analysis.errors import UserError

SOURCE = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle_boot")
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
COMPLETE = ".complete"


def read_idx(path: str) -> np.ndarray:
    """An IDX file (gzip-compressed, unsigned bytes) as an array of its shape."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise UserError(f"{path} is not an IDX file of unsigned bytes.")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def full_demo_dir(cache_dir: str) -> str:
    return os.path.join(cache_dir, "demo-full", "fashion-mnist")


def ensure_full_demo(cache_dir: str, source: str = SOURCE, limit: int | None = None) -> str:
    """The folder of the full demo's images, written first if it is not complete.

    Parameters
    ----------
    cache_dir : str
        The app's cache folder; the images go to ``<cache_dir>/demo-full/fashion-mnist``.
    source : str
        Where the Debian package keeps the IDX files.
    limit : int, optional
        Only the first ``limit`` test images (tests); None for all 10,000.

    Returns
    -------
    str
        ``<class>/<test index>.png`` per image, ``classes.txt`` in label order.

    Raises
    ------
    UserError
        When the package is not installed.
    """
    target = full_demo_dir(cache_dir)
    if os.path.exists(os.path.join(target, COMPLETE)):
        return target
    images_path, labels_path = os.path.join(source, TEST_IMAGES), os.path.join(source, TEST_LABELS)
    if not (os.path.isfile(images_path) and os.path.isfile(labels_path)):
        raise UserError(f"The full demo needs Fashion-MNIST from Debian's dataset-fashion-mnist "
                        f"package ({source} not found): apt-get install dataset-fashion-mnist.")
    from PIL import Image

    images, labels = read_idx(images_path), read_idx(labels_path)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    parent = os.path.dirname(target)
    from analysis.store import private_makedirs

    private_makedirs(parent)  # parents it creates are 0700 too
    # Written beside the target and renamed into place, so a crash or a second
    # process never leaves (or sees) a half-written folder.
    staging = tempfile.mkdtemp(prefix=".building-", dir=parent)
    try:
        for name in CLASSES:
            os.mkdir(os.path.join(staging, name))
        for index, (image, label) in enumerate(zip(images, labels)):
            Image.fromarray(image).save(os.path.join(staging, CLASSES[label], f"{index:05d}.png"))
        with open(os.path.join(staging, "classes.txt"), "w", encoding="utf-8") as handle:
            handle.write("\n".join(CLASSES) + "\n")
        with open(os.path.join(staging, "LICENSE"), "w", encoding="utf-8") as handle:
            handle.write("Fashion-MNIST, Copyright (c) 2017 Zalando SE, MIT licence; read from "
                         f"Debian's dataset-fashion-mnist ({source}).\n")
        open(os.path.join(staging, COMPLETE), "w").close()
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first
            if not os.path.exists(os.path.join(target, COMPLETE)):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
