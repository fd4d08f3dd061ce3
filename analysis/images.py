"""Decoding image files with bounded memory: scaled modes, reduced-size decoding, thumbnails.

Pillow only (no Keras).  Every failure to decode one file is a
:class:`~analysis.errors.DatasetError` naming that file, so a caller can skip
it and go on.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from analysis.errors import DatasetError

MAX_SHOWN_PATH = 200
# Images that cannot be decoded at reduced size (PNG, BMP, ...) are decoded in
# full: above this many pixels they are skipped, which bounds a job's memory
# (about 4 bytes per pixel).  JPEGs are first decoded at 1/2..1/8 scale.
MAX_DECODE_PIXELS = 64_000_000
THUMBNAIL_SIZE = 96
_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
                  Image.DecompressionBombError, MemoryError)



def shorten(path, limit: int = MAX_SHOWN_PATH) -> str:
    """``path`` as text for a message: at most ``limit`` characters (middle elided)."""
    text = str(path)
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "\u2026" + text[-half:]


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images scaled (not clipped) to 8 bits."""
    if image.mode.startswith("I;16") or image.mode == "I":
        array = np.asarray(image)
        if image.mode == "I":
            array = array.astype(np.int64)
            if array.max(initial=0) <= 255 and array.min(initial=0) >= 0:
                return Image.fromarray(array.astype(np.uint8), "L")
        scaled = np.clip(np.rint(array.astype(np.float64) * (255.0 / 65535.0)), 0, 255)
        return Image.fromarray(scaled.astype(np.uint8), "L")
    if image.mode == "F":
        array = np.nan_to_num(np.asarray(image, np.float64))
        if array.size and array.max() <= 1.0 and array.min() >= 0.0:
            array = array * 255.0
        return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA")
    return image


def open_scaled(path: str, size: tuple[int, int] | None, mode: str) -> Image.Image:
    """Decode ``path`` in ``mode`` (``L``/``RGB``/``RGBA``) with bounded memory.

    JPEGs are decoded at reduced scale (``Image.draft``) when ``size`` is much
    smaller; others are decoded in full only up to ``MAX_DECODE_PIXELS`` and
    then shrunk with ``Image.reduce``.  Decompression bombs, over-large,
    corrupt and truncated files raise :class:`DatasetError` naming the file.
    """
    name = shorten(os.path.basename(path), 80)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if size is not None and image.format == "JPEG":
                    image.draft("L" if mode == "L" else "RGB", (size[1], size[0]))
                pixels = image.width * image.height
                if pixels > MAX_DECODE_PIXELS:
                    raise DatasetError(
                        f"{name}: too large to decode safely ({pixels / 1e6:.0f} Mpx; "
                        f"limit {MAX_DECODE_PIXELS / 1e6:.0f} Mpx), skipped")
                image.load()
                image = _to_8bit(image).convert(mode)
    except DatasetError:
        raise
    except _DECODE_ERRORS as error:
        reason = ("a decompression bomb (too many pixels), skipped"
                  if isinstance(error, Image.DecompressionBombError)
                  else f"not a readable image ({shorten(error, 120)})")
        raise DatasetError(f"{name}: {reason}") from error
    if size is not None:
        factor = min(image.width // max(size[1], 1), image.height // max(size[0], 1))
        if factor >= 2:
            image = image.reduce(factor)
    return image


#: Bounds on the sides ``typical_size`` chooses for a model that takes any input size.
FREE_SIZE_MIN_SIDE, FREE_SIZE_MAX_SIDE = 16, 512
FREE_SIZE_SAMPLE = 64
FREE_SIZE_FALLBACK = (224, 224)


def typical_size(paths, low: int = FREE_SIZE_MIN_SIDE, high: int = FREE_SIZE_MAX_SIDE
                 ) -> tuple[int, int]:
    """(height, width) to feed a model that takes any input size: the median size of
    ``paths`` (headers only, unreadable files ignored), scaled, keeping its shape,
    down until the longer side is at most ``high`` or up until the shorter side is at
    least ``low``; each side then clamped to ``[low, high]``.  ``FREE_SIZE_FALLBACK``
    when no header can be read."""
    sizes = []
    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    sizes.append((image.height, image.width))
        except _DECODE_ERRORS:
            continue
    if not sizes:
        return FREE_SIZE_FALLBACK
    height, width = (float(v) for v in np.median(np.asarray(sizes, float), axis=0))
    factor = min(1.0, high / max(height, width))
    factor = max(factor, low / min(height, width))
    return tuple(int(min(high, max(low, round(side * factor)))) for side in (height, width))


def _png_bytes(image: Image.Image, size: int) -> bytes:
    thumb = image.convert("RGBA" if image.mode == "RGBA" else "RGB")
    thumb.thumbnail((size, size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")
    return buffer.getvalue()


def load_image(path: str, size: tuple[int, int], channels: int, thumbnail: list | None = None
               ) -> np.ndarray:
    """Read one image as float32 (H, W, channels) in 0..255.

    Grayscale, RGB and RGBA files are converted to what the model takes;
    16-bit and float images are scaled to 0..255.  When ``thumbnail`` is a
    list, a small PNG (bytes, at most ``THUMBNAIL_SIZE`` px) is appended to it.

    Raises
    ------
    DatasetError
        If the file is not a readable image (corrupt, truncated, a
        decompression bomb, too large): the message names the file.
    """
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    image = open_scaled(path, size, mode)
    if thumbnail is not None:
        thumbnail.append(_png_bytes(image, THUMBNAIL_SIZE))
    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32)
    if channels == 1:
        array = array[..., None]
    return array


PLACEHOLDER_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63000100000500010d0a2db40000000049454e44ae426082")


def png_uri(data: bytes | None) -> str:
    """A data URI for PNG bytes (a 1x1 transparent PNG for None)."""
    import base64

    return "data:image/png;base64," + base64.b64encode(data or PLACEHOLDER_PNG).decode()


def thumbnail_uri(path: str, size: int = 84) -> str:
    """A small PNG of an image file as a data URI, decoded with bounded memory.

    Prefer the thumbnails the job stored (``analysis.store.thumbnail_uri``):
    the web process should not decode originals.  Unreadable files give a
    1x1 transparent PNG rather than an error.
    """
    try:
        return png_uri(_png_bytes(open_scaled(path, (size, size), "RGB"), size))
    except DatasetError:
        return png_uri(None)
