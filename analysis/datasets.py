"""Labelled image folders: scanning, path confinement, lazy loading, preprocessing.

No Keras here: images are read with Pillow and preprocessed in numpy, so the
web process can validate a folder without touching TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field

import numpy as np

from analysis.errors import DatasetError, PathNotAllowed  # noqa: F401 (re-exported)
from analysis.images import (  # noqa: F401 (re-exported: decoding lives in analysis.images)
    MAX_DECODE_PIXELS, MAX_SHOWN_PATH, PLACEHOLDER_PNG, THUMBNAIL_SIZE, load_image, open_scaled,
    png_uri, shorten, thumbnail_uri, typical_size as _typical_size)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CLASSES_FILE = "classes.txt"
CLASSES_FILE_LIMIT = 2**20  # characters read from it at most
PREPROCESS_MODES = ("raw", "unit", "symmetric", "caffe", "torch")
_IMAGENET_MEAN_RGB = np.array([123.68, 116.779, 103.939], np.float32)
_TORCH_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
_TORCH_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)
def check_path_text(path) -> str:
    """``path`` stripped; refuses empty paths and control characters in words."""
    text = "" if path is None else str(path).strip()
    if not text:
        raise DatasetError("No path given.")
    if "\0" in text:
        raise DatasetError("The path contains a NUL character; paths cannot contain one.")
    if "\n" in text or "\r" in text:
        raise DatasetError("The path contains a line break; give a single-line path.")
    return text


def within(real: str, roots, resolved: bool = False) -> bool:
    """Whether the resolved path ``real`` is one of ``roots`` or lies below one
    (``resolved``: the roots are already real paths)."""
    for root in roots:
        root_real = root if resolved else os.path.realpath(root)
        if real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep):
            return True
    return False


def confine(path: str, roots) -> str:
    """Resolve ``path`` (links included) and check it lies inside one of ``roots``.

    Returns
    -------
    str
        The resolved absolute path.

    Raises
    ------
    PathNotAllowed
        If the resolved path is outside every root (the message names the
        user's path, shortened, and never the server's folders).
    DatasetError
        For an empty path or one with NUL or line-break characters.
    """
    text = check_path_text(path)
    real = os.path.realpath(os.path.expanduser(text))
    if within(real, roots):
        return real
    raise PathNotAllowed(
        f"{shorten(text)} is outside the allowed data roots; "
        "ask whoever runs the server to add its folder with --data-root.")


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
    outside : list of str
        Class folders and files skipped because they are links that resolve
        outside the allowed folders.
    """

    root: str
    files: list
    labels: np.ndarray
    class_names: list
    skipped: list = field(default_factory=list)
    outside: list = field(default_factory=list)
    #: Model output of each class, from ``classes.txt`` (``name index`` lines); None: label i
    #: is output i.
    output_index: list | None = None

    def class_key(self) -> str:
        """The classes (and their model outputs, when given) as text, for fingerprints."""
        mapped = "" if self.output_index is None else "\n#" + ",".join(map(str, self.output_index))
        return "\n".join(self.class_names) + mapped

    def __len__(self) -> int:
        return len(self.files)


def scan_folder(root: str, roots=None) -> ImageFolder:
    """Find the classes and images of a labelled folder.

    Class order: the lines of ``classes.txt`` in the folder when present
    (model output order), else sorted sub-folder names (the convention of
    ``keras.utils.image_dataset_from_directory``).

    Every class folder and file is resolved (links followed); one that
    resolves outside ``roots`` (default: ``root`` itself) is skipped and
    listed in ``outside``, so a link cannot pull server files into the page.
    """
    if not os.path.isdir(root):
        raise DatasetError(f"{shorten(root)} is not a folder.")
    roots = [os.path.realpath(r) for r in (roots or [root])]
    subdirs = sorted(entry.name for entry in os.scandir(root)
                     if entry.is_dir() and not entry.name.startswith("."))
    classes_path = os.path.join(root, CLASSES_FILE)
    output_index = None
    if os.path.isfile(classes_path) and within(os.path.realpath(classes_path), roots, True):
        with open(classes_path, encoding="utf-8", errors="replace") as handle:
            class_names, output_index = _read_classes_file(handle, subdirs)
        missing = [name for name in class_names if name not in subdirs]
        if missing:
            raise DatasetError(
                f"{CLASSES_FILE} names folders that do not exist: "
                f"{shorten(', '.join(missing[:5]))}.")
    else:
        class_names = subdirs
    if not class_names:
        loose = [name for name in os.listdir(root) if name.lower().endswith(IMAGE_EXTENSIONS)]
        hint = (f" It holds {len(loose)} images directly; put them in one sub-folder per class."
                if loose else " It is empty." if not os.listdir(root) else "")
        raise DatasetError(f"{shorten(root)} has no class sub-folders.{hint}")
    _refuse_split_folders(root, class_names)
    files, labels, skipped, outside = [], [], [], []
    prefix = os.path.join(root, "")
    for label, name in enumerate(class_names):
        class_dir = os.path.join(root, name)
        if os.path.islink(class_dir) and not within(os.path.realpath(class_dir), roots, True):
            outside.append(name)
            continue
        for entry in _image_entries(class_dir):
            relative = entry.path[len(prefix):]
            if not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                skipped.append(relative)
            elif entry.is_symlink() and not within(os.path.realpath(entry.path), roots, True):
                outside.append(relative)
            else:
                files.append(relative)
                labels.append(label)
    if not files:
        raise DatasetError(f"{shorten(root)} has class folders ({shorten(', '.join(class_names[:5]))}) "
                           f"but no images ({', '.join(ext for ext in IMAGE_EXTENSIONS[:3])}, ...)"
                           + (f"; {len(outside)} links outside the allowed folders were skipped."
                              if outside else "."))
    return ImageFolder(root, files, np.asarray(labels, np.int32), class_names, skipped, outside,
                       output_index)


def _read_classes_file(handle, subdirs) -> tuple[list, list | None]:
    """``classes.txt``: one folder name per line, in model output order; or, for a folder
    with some of a larger model's classes (a few ImageNet classes for VGG16), ``name index``
    per line: the folder and its model output.  Returns (names, output indices or None)."""
    text = handle.read(CLASSES_FILE_LIMIT + 1)
    if len(text) > CLASSES_FILE_LIMIT:
        raise DatasetError(f"{CLASSES_FILE} is over {CLASSES_FILE_LIMIT // 2**20} MB; it should hold "
                           "one class per line.")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    pairs = []
    for line in lines:
        mapped = re.fullmatch(r"(.*\S)\s+(\d+)", line)
        if line in subdirs or mapped is None:
            pairs.append((line, None))
        else:
            pairs.append((mapped.group(1), int(mapped.group(2))))
    given = [index is not None for _, index in pairs]
    if any(given) and not all(given):
        plain = next(name for name, index in pairs if index is None)
        raise DatasetError(f"{CLASSES_FILE}: give a model output index on every line or on none "
                           f"({shorten(plain, 60)!r} has none).")
    names = [name for name, _ in pairs]
    if not all(given):
        return names, None
    indices = [index for _, index in pairs]
    for seen, what in ((names, "folder"), (indices, "output index")):
        repeated = sorted({str(v) for v in seen if seen.count(v) > 1})
        if repeated:
            raise DatasetError(f"{CLASSES_FILE}: the {what} {shorten(repeated[0], 60)} is given twice.")
    return names, indices


SPLIT_NAMES = frozenset({"train", "training", "test", "testing", "val", "valid", "validation", "dev"})


def _refuse_split_folders(root: str, class_names) -> None:
    """A folder of data-set splits (``train/``, ``test/``, each with class folders) is not a
    folder of classes: say which split to open instead of mixing them as two classes."""
    if not class_names or not set(name.lower() for name in class_names) <= SPLIT_NAMES:
        return
    def has_subfolders(name):
        try:
            return any(entry.is_dir() and not entry.name.startswith(".")
                       for entry in os.scandir(os.path.join(root, name)))
        except OSError:
            return False
    if all(has_subfolders(name) for name in class_names):
        raise DatasetError(
            f"{shorten(root)} holds the data-set splits {', '.join(class_names)}, each with its own "
            f"folders, not one folder per class: open one split, e.g. "
            f"{shorten(os.path.join(root, class_names[-1]))}.")


def _image_entries(class_dir: str):
    """Files below ``class_dir`` (hidden ones excluded), in ``os.walk`` order: a folder's
    sorted files, then its sorted sub-folders.  Linked sub-folders are not entered;
    ``DirEntry`` tells links apart without a system call per file."""
    stack = [class_dir]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.path)
            elif not (entry.is_symlink() and entry.is_dir()):
                yield entry
        stack.extend(reversed(subfolders))


def stat_fingerprint(folder: ImageFolder) -> str:
    """Cheap fingerprint of the image set: root, classes, names, sizes and mtimes.

    It changes whenever a file is added, removed, renamed, rewritten or
    touched; it is the key under which the content hash (:func:`fingerprint`)
    is remembered, so an unchanged folder is never hashed twice.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(os.path.realpath(folder.root).encode("utf-8", "surrogateescape"))
    digest.update(folder.class_key().encode("utf-8", "surrogateescape"))
    for relative, label in zip(folder.files, folder.labels):
        try:
            info = os.stat(os.path.join(folder.root, relative))
            stamp = f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
        except OSError:
            stamp = "missing"
        digest.update(f"\0{relative}\0{label}\0{stamp}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def file_stat_fingerprint(path: str) -> str:
    """Cheap fingerprint of one file (path, size, mtime): the key of its remembered hash."""
    info = os.stat(path)
    return f"{os.path.realpath(path)}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"


def fingerprint(folder: ImageFolder) -> str:
    """Content hash of the image set: class names, file list and file bytes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(folder.class_key().encode("utf-8", "surrogateescape"))
    for relative, label in zip(folder.files, folder.labels):
        digest.update(f"\0{relative}\0{label}\0".encode("utf-8", "surrogateescape"))
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


def typical_size(folder: ImageFolder, sample: int = 64) -> tuple[int, int]:
    """(height, width) for a model that takes any input size: the typical size of up to
    ``sample`` evenly spaced images of ``folder`` (see ``analysis.images.typical_size``)."""
    n = len(folder)
    picks = np.unique(np.linspace(0, n - 1, min(n, sample)).round().astype(int)) if n else []
    return _typical_size(os.path.join(folder.root, folder.files[i]) for i in picks)


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
        # index -> PNG bytes, filled while batches are read when enabled
        self.thumbnails: dict[int, bytes] | None = None

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
            thumb = [] if self.thumbnails is not None else None
            try:
                batch[offset] = load_image(path, self.size, self.channels, thumb)
            except DatasetError as error:
                self.bad[index] = str(error)
            if thumb:
                self.thumbnails[index] = thumb[0]
        return preprocess(batch, self.mode).astype(np.float32, copy=False)
