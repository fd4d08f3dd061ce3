"""A stored analysis's model and images, loaded again inside a job.

Full activation maps (overlays, map scans) and ablations need the model
itself; these functions load it from the reference a stored analysis keeps.
Keras enters the process only inside them (TensorFlow is not fork-safe).
"""

from __future__ import annotations

import os

import numpy as np

from analysis import datasets, modelprep
from analysis.pipeline import AnalysisError, _load_model


def stored_model_and_images(meta: dict, n_threads: int):
    """The model and the lazily loaded images of a stored analysis (loads the model)."""
    from analysis import extraction

    extraction.configure_threads(n_threads)
    kind, value = meta["model_ref"]
    model, _ = _load_model(kind, value)
    model = modelprep.refit(model, meta)  # input size, two-class and class-subset outputs
    return model, stored_images(meta, np.arange(len(meta["files"])))


def stored_images(meta: dict, indices) -> datasets.ImageBatches:
    """The lazily loaded images ``indices`` (in that order) of a stored analysis."""
    indices = np.asarray(indices, dtype=np.int64)
    height, width, channels = meta["input_shape"]
    folder = datasets.ImageFolder(meta["data"], [meta["files"][i] for i in indices],
                                  np.asarray(meta["labels"])[indices], meta["class_names"])
    return datasets.ImageBatches(folder, (height, width), channels, meta["preprocess"])


def activation_maps(meta: dict, layer: str, index: int, n_threads: int = 2):
    """Full maps of one layer for one input of a stored analysis (loads the model).

    Returns
    -------
    image : ndarray of shape (H, W, C), float32, 0..255 (as shown)
    maps : ndarray of shape (*positions, channels), float32
    """
    from analysis import extraction

    model, batches = stored_model_and_images(meta, n_threads)
    try:
        image = datasets.load_image(os.path.join(meta["data"], meta["files"][index]),
                                    batches.size, batches.channels)
        return image, extraction.layer_maps(model, batches.load(index)[None], layer)[0]
    except datasets.DatasetError as error:
        raise AnalysisError(str(error)) from error


def sample_maps(meta: dict, layer: str, n_samples: int = 64, n_threads: int = 2,
                random_state: int = 0):
    """Full maps of one layer for a random sample of the stored inputs (loads the model).

    Returns
    -------
    ndarray of shape (n_samples, *positions, channels), float32
    """
    from analysis import extraction

    model, batches = stored_model_and_images(meta, n_threads)
    rng = np.random.default_rng(random_state)
    chosen = np.sort(rng.choice(len(batches), size=min(n_samples, len(batches)), replace=False))
    images = np.stack([batches.load(int(i)) for i in chosen])
    return extraction.layer_maps(model, images, layer)


def ablation(meta: dict, layer: str, flagged, discriminative, n_threads: int = 2,
             n_random_repeats: int = 5) -> dict:
    """Accuracy on the stored images with ``flagged`` channels of ``layer`` zeroed (a copy
    of the model), next to as many random and as many most-discriminative channels."""
    from analysis import extraction

    if meta.get("model_classes") != len(meta["class_names"]):
        raise AnalysisError(
            f"The model has {meta.get('model_classes')} outputs but the images have "
            f"{len(meta['class_names'])} classes; accuracy cannot be measured.")
    model, batches = stored_model_and_images(meta, n_threads)
    try:
        return extraction.ablation_check(model, batches, np.asarray(meta["labels"]), layer,
                                         flagged, n_random_repeats, discriminative)
    except extraction.ExtractionError as error:
        raise AnalysisError(str(error)) from error


def resize_map(channel_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D map (or a 1-D sequence map) to the image size."""
    from PIL import Image

    channel_map = np.asarray(channel_map, np.float32)
    if channel_map.ndim == 1:
        channel_map = channel_map[None, :]
    if channel_map.ndim != 2:
        channel_map = channel_map.reshape(channel_map.shape[0], -1)
    resized = Image.fromarray(channel_map, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, np.float32)
