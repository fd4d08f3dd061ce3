"""Labelled image folders: scanning, path confinement, lazy loading, preprocessing.

No Keras here: images are read with Pillow and preprocessed in numpy, so the
web process can validate a folder without touching TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from analysis.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CLASSES_FILE = "classes.txt"
PREPROCESS_MODES = ("raw", "unit", "symmetric", "caffe", "torch")
_IMAGENET_MEAN_RGB = np.array([123.68, 116.779, 103.939], np.float32)
_TORCH_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
_TORCH_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)


class DatasetError(UserError):
    """A data folder that cannot be analysed; the message is for the user."""


class PathNotAllowed(DatasetError):
    """A path outside the configured data roots."""


def confine(path: str, roots) -> str:
    """Resolve ``path`` (links included) and check it lies inside one of ``roots``.

    Returns
    -------
    str
        The resolved absolute path.

    Raises
    ------
    PathNotAllowed
        If the resolved path is outside every root.
    """
    if not path or not str(path).strip():
        raise DatasetError("No path given.")
    real = os.path.realpath(os.path.expanduser(str(path).strip()))
    for root in roots:
        root_real = os.path.realpath(root)
        if real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep):
            return real
    raise PathNotAllowed(
        f"{path} is outside the allowed data roots ({', '.join(map(str, roots))}); "
        "start the app with --data-root to allow another folder.")


@dataclass
class ImageFolder:
    """A scanned folder with one sub-folder per class.

    Attributes
    ----------
    root : str
    files : list of str
        Paths relative to ``root``, class by class, sorted within a class.
    labels : ndarray of shape (N,), int32
    class_names : list of str
        Index i is label i (and model output i).
    skipped : list of str
        Files ignored because they are not images (by extension).
    """

    root: str
    files: list
    labels: np.ndarray
    class_names: list
    skipped: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)


def scan_folder(root: str) -> ImageFolder:
    """Find the classes and images of a labelled folder.

    Class order: the lines of ``classes.txt`` in the folder when present
    (model output order), else sorted sub-folder names (the convention of
    ``keras.utils.image_dataset_from_directory``).
    """
    if not os.path.isdir(root):
        raise DatasetError(f"{root} is not a folder.")
    subdirs = sorted(entry.name for entry in os.scandir(root)
                     if entry.is_dir() and not entry.name.startswith("."))
    classes_path = os.path.join(root, CLASSES_FILE)
    if os.path.isfile(classes_path):
        with open(classes_path, encoding="utf-8") as handle:
            class_names = [line.strip() for line in handle if line.strip()]
        missing = [name for name in class_names if name not in subdirs]
        if missing:
            raise DatasetError(
                f"{CLASSES_FILE} names folders that do not exist: {', '.join(missing[:5])}.")
    else:
        class_names = subdirs
    if not class_names:
        loose = [name for name in os.listdir(root) if name.lower().endswith(IMAGE_EXTENSIONS)]
        hint = (f" It holds {len(loose)} images directly; put them in one sub-folder per class."
                if loose else " It is empty." if not os.listdir(root) else "")
        raise DatasetError(f"{root} has no class sub-folders.{hint}")
    files, labels, skipped = [], [], []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(root, name)
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue
                relative = os.path.relpath(os.path.join(dirpath, filename), root)
                if filename.lower().endswith(IMAGE_EXTENSIONS):
                    files.append(relative)
                    labels.append(label)
                else:
                    skipped.append(relative)
    if not files:
        raise DatasetError(f"{root} has class folders ({', '.join(class_names[:5])}) but no images "
                           f"({', '.join(ext for ext in IMAGE_EXTENSIONS[:3])}, ...).")
    return ImageFolder(root, files, np.asarray(labels, np.int32), class_names, skipped)


def fingerprint(folder: ImageFolder) -> str:
    """Content hash of the image set: class names, file list and file bytes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update("\n".join(folder.class_names).encode())
    for relative, label in zip(folder.files, folder.labels):
        digest.update(f"\0{relative}\0{label}\0".encode())
        with open(os.path.join(folder.root, relative), "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def file_fingerprint(path: str) -> str:
    """Content hash of one file (a model)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_image(path: str, size: tuple[int, int], channels: int) -> np.ndarray:
    """Read one image as float32 (H, W, channels) in 0..255.

    Grayscale, RGB and RGBA files are converted to what the model takes.

    Raises
    ------
    DatasetError
        If the file is not a readable image (corrupt, truncated, not an image).
    """
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DatasetError(f"{os.path.basename(path)}: not a readable image ({error})") from error
    if channels == 1:
        array = array[..., None]
    return array


def preprocess(batch: np.ndarray, mode: str) -> np.ndarray:
    """Apply a ``keras.applications``-style preprocessing to 0..255 RGB(A)/gray images.

    Modes: ``raw`` (unchanged, 0..255), ``unit`` (0..1), ``symmetric`` (-1..1,
    'tf' mode), ``caffe`` (RGB to BGR, ImageNet mean subtracted), ``torch``
    (0..1, ImageNet mean/std).
    """
    if mode == "raw":
        return batch
    if mode == "unit":
        return batch / 255.0
    if mode == "symmetric":
        return batch / 127.5 - 1.0
    if mode in ("caffe", "torch"):
        if batch.shape[-1] != 3:
            raise DatasetError(f"Preprocessing {mode!r} needs RGB input, not {batch.shape[-1]} channels.")
        if mode == "caffe":
            return (batch - _IMAGENET_MEAN_RGB)[..., ::-1]
        return (batch / 255.0 - _TORCH_MEAN_RGB) / _TORCH_STD_RGB
    raise DatasetError(f"Unknown preprocessing {mode!r}; allowed: {', '.join(PREPROCESS_MODES)}.")


class ImageBatches:
    """Lazy, sliceable view of a folder's images, preprocessed for a model.

    ``batches[a:b]`` reads only those files.  Files that fail to load become
    zero images and their indices are collected in ``bad`` so the caller can
    drop their rows afterwards (a truncated file is only found when read).
    """

    def __init__(self, folder: ImageFolder, size, channels, mode="raw"):
        if mode not in PREPROCESS_MODES:
            raise DatasetError(f"Unknown preprocessing {mode!r}; allowed: {', '.join(PREPROCESS_MODES)}.")
        self.folder = folder
        self.size = tuple(size)
        self.channels = channels
        self.mode = mode
        self.bad: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.folder)

    def load(self, index: int) -> np.ndarray:
        """One image, preprocessed, shape (H, W, channels); raises DatasetError if unreadable."""
        path = os.path.join(self.folder.root, self.folder.files[index])
        return preprocess(load_image(path, self.size, self.channels)[None], self.mode)[0]

    def __getitem__(self, item):
        if not isinstance(item, slice):
            raise TypeError("ImageBatches supports slices only")
        start, stop, _ = item.indices(len(self))
        batch = np.zeros((stop - start,) + self.size + (self.channels,), np.float32)
        for offset, index in enumerate(range(start, stop)):
            path = os.path.join(self.folder.root, self.folder.files[index])
            try:
                batch[offset] = load_image(path, self.size, self.channels)
            except DatasetError as error:
                self.bad[index] = str(error)
        return preprocess(batch, self.mode).astype(np.float32, copy=False)


def thumbnail_uri(path: str, size: int = 84) -> str:
    """A small PNG of an image as a data URI (for tables and top-k strips).

    Unreadable files give a 1x1 transparent PNG rather than an error.
    """
    import base64
    import io

    buffer = io.BytesIO()
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size), Image.Resampling.NEAREST)
            image.save(buffer, format="PNG")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        buffer = io.BytesIO()
        Image.new("RGBA", (1, 1)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
