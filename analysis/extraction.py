"""Single-pass, streaming extraction of per-channel summaries.

The only module of ``analysis`` that imports Keras (and through it the
backend: TensorFlow by default, JAX or PyTorch via ``KERAS_BACKEND``).

One sub-model is built per (model, layers, summaries): its outputs are the
per-channel summaries of every chosen layer, reduced inside the graph with
``keras.ops``, plus the model's own output.  Each batch goes through it once,
so only ``batch x channels`` numbers per layer and summary leave the backend,
and memory for the whole data set is the N x C summaries, never the maps.
"""

from __future__ import annotations

import math
import os
from typing import Callable, Iterable, Sequence

import numpy as np

import keras
from keras import ops

from analysis.summaries import SUMMARIES, SUMMARY_LABELS  # noqa: F401 (re-exported)


P90_QUANTILE = 0.9
DEFAULT_P90_MAX_POSITIONS = 4096

# Layers whose output has a channel axis but says nothing about channels of
# the network (identity-like at inference, reshapes, preprocessing).
_SKIP_TYPES = {
    "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Rescaling", "Normalization",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "Resizing", "CenterCrop",
}


class ExtractionError(ValueError):
    """A model or a request that extraction cannot serve; the message is for the user."""


def _layer_type(layer) -> str:
    return type(layer).__name__


def _single_output_shape(layer):
    try:
        output = layer.output
    except (AttributeError, ValueError):
        return None
    if isinstance(output, (list, tuple, dict)):
        return None
    return tuple(output.shape)


def channel_layers(model) -> list[str]:
    """Names of the layers whose output has a channel axis, in model order.

    Any layer with one output of rank >= 2 whose last (channel) dimension is
    known, except identity-like and reshaping layers (Dropout, Flatten, ...).
    """
    names = []
    for layer in model.layers:
        if _layer_type(layer) in _SKIP_TYPES or _layer_type(layer).startswith("Random"):
            continue
        shape = _single_output_shape(layer)
        if shape is None or len(shape) < 2 or shape[-1] is None:
            continue
        names.append(layer.name)
    return names


def conv_dense_layers(model) -> list[str]:
    """Names of the convolution and dense layers (the default selection)."""
    wanted = []
    for name in channel_layers(model):
        kind = _layer_type(model.get_layer(name))
        if "Conv" in kind or kind == "Dense":
            wanted.append(name)
    return wanted


def describe_layers(model, extracted: Iterable[str] = ()) -> list[dict]:
    """Plain description of the model's data-flow graph, in topological order.

    Returns
    -------
    list of dict
        ``name``, ``type``, ``output_shape`` (without the batch axis; None for
        unknown or multi-output), ``channels`` (last axis or None),
        ``inbound`` (parent layer names), ``extracted`` (bool), ``params``.
    """
    extracted = set(extracted)
    description = []
    for layer in model.layers:
        shape = _single_output_shape(layer)
        parents = []
        nodes = getattr(layer, "_inbound_nodes", [])
        if nodes:
            parents = [node.operation.name for node in nodes[0].parent_nodes]
        description.append({
            "name": layer.name,
            "type": _layer_type(layer),
            "output_shape": list(shape[1:]) if shape else None,
            "channels": shape[-1] if shape and len(shape) >= 2 else None,
            "inbound": parents,
            "extracted": layer.name in extracted,
            "params": int(layer.count_params()) if layer.built else 0,
        })
    return description


def image_input_shape(model) -> tuple[int, int, int]:
    """(height, width, channels) of the model's single image input.

    Raises
    ------
    ExtractionError
        If the model has several inputs, or its input is not a channels-last
        image (rank 4 with 1, 3 or 4 channels and a known size).
    """
    if len(model.inputs) != 1:
        raise ExtractionError(
            f"The model has {len(model.inputs)} inputs; ChannelExplorer needs one image input.")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] not in (1, 3, 4):
        raise ExtractionError(
            f"The model's input has shape {shape[1:]}; ChannelExplorer needs an image input "
            "(height, width, channels) with 1, 3 or 4 channels, channels last.")
    if shape[1] is None or shape[2] is None:
        raise ExtractionError(
            f"The model's input size is not fixed {shape[1:]}; save the model with a fixed "
            "input size (e.g. 224x224) to analyse it.")
    return int(shape[1]), int(shape[2]), int(shape[3])


def _percentile_from_topk(flat, q: float, max_positions: int):
    """Linear-interpolated q-quantile over axis 1 of ``flat`` (B, S, C).

    Exact (numpy's default 'linear' method) when S <= max_positions; above
    that it is computed on S' <= max_positions evenly strided positions.
    Uses top_k on the upper tail only, not a full sort.
    """
    positions = flat.shape[1]
    if positions > max_positions:
        stride = math.ceil(positions / max_positions)
        flat = flat[:, ::stride, :]
        positions = flat.shape[1]
    rank = q * (positions - 1)
    lower = math.floor(rank)
    frac = rank - lower
    k = positions - lower  # descending index k-1 is ascending index `lower`
    top = ops.top_k(ops.transpose(flat, (0, 2, 1)), k, sorted=True)[0]
    low_value = top[..., k - 1]
    if frac == 0 or k < 2:
        return low_value
    return low_value + frac * (top[..., k - 2] - low_value)


def summarise(tensor, summaries: Sequence[str], p90_max_positions: int = DEFAULT_P90_MAX_POSITIONS):
    """Per-channel summaries of one layer output, as backend ops.

    Parameters
    ----------
    tensor : tensor of shape (batch, *positions, channels)
        A symbolic or eager layer output; positions must have known sizes.
    summaries : sequence of str
        Any of ``SUMMARIES``.

    Returns
    -------
    dict of str to tensor of shape (batch, channels)
    """
    shape = tuple(tensor.shape)
    channels = shape[-1]
    if len(shape) == 2:
        # A dense unit is a channel with one position.
        flat = ops.expand_dims(tensor, 1)
    else:
        positions = math.prod(shape[1:-1]) if None not in shape[1:-1] else None
        if positions is None:
            raise ExtractionError(f"Output shape {shape} has an unknown spatial size.")
        flat = ops.reshape(tensor, (-1, positions, channels))
    out = {}
    for name in summaries:
        if name == "mean":
            out[name] = ops.mean(flat, axis=1)
        elif name == "max":
            out[name] = ops.max(flat, axis=1)
        elif name == "l2":
            out[name] = ops.sqrt(ops.sum(ops.square(flat), axis=1))
        elif name == "p90":
            out[name] = _percentile_from_topk(flat, P90_QUANTILE, p90_max_positions)
        elif name == "frac_pos":
            out[name] = ops.mean(ops.cast(ops.greater(flat, 0), "float32"), axis=1)
        else:
            raise ExtractionError(f"Unknown summary {name!r}; allowed: {', '.join(SUMMARIES)}.")
    return out


class _Summaries(keras.layers.Layer):
    """Wraps ``summarise`` as one named layer, so the ops it adds get names
    of their own and never collide with the model's layer names."""

    def __init__(self, summaries, p90_max_positions, **kwargs):
        super().__init__(**kwargs)
        self.summaries = tuple(summaries)
        self.p90_max_positions = p90_max_positions

    def call(self, tensor):
        out = summarise(tensor, self.summaries, self.p90_max_positions)
        return [out[name] for name in self.summaries]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], input_shape[-1])] * len(self.summaries)


class Extractor:
    """One multi-output sub-model serving every chosen layer in one pass.

    Parameters
    ----------
    model : keras.Model
        A functional (or built Sequential) model with one image input.
    layers : sequence of str, optional
        Layer names; default: the convolution and dense layers.
    summaries : sequence of str
        Subset of ``SUMMARIES``.
    with_predictions : bool
        Also return the model's output (class probabilities) per input.
    """

    def __init__(self, model, layers=None, summaries=SUMMARIES, with_predictions=True,
                 p90_max_positions=DEFAULT_P90_MAX_POSITIONS):
        allowed = channel_layers(model)
        layers = list(conv_dense_layers(model) if layers is None else layers)
        unknown = [name for name in layers if name not in allowed]
        if unknown:
            raise ExtractionError(
                f"Layer(s) {', '.join(unknown)} have no channel axis or do not exist; "
                f"valid layers: {', '.join(allowed)}.")
        if not layers:
            raise ExtractionError("No layers to extract: the model has no conv or dense layer.")
        bad = [s for s in summaries if s not in SUMMARIES]
        if bad or not summaries:
            raise ExtractionError(
                f"Unknown summaries {bad}; allowed: {', '.join(SUMMARIES)}.")
        self.layers = layers
        self.summaries = tuple(summaries)
        self.input_shape = image_input_shape(model)
        taken = {layer.name for layer in model.layers}
        outputs = {}
        for index, name in enumerate(layers):
            layer_name = f"channel_summaries_{index}"
            while layer_name in taken:
                layer_name += "_"
            reduced = _Summaries(self.summaries, p90_max_positions, name=layer_name)(
                model.get_layer(name).output)
            for summary, tensor in zip(self.summaries, reduced):
                outputs[f"{name}/{summary}"] = tensor
        self.with_predictions = with_predictions and len(model.outputs) == 1 \
            and len(model.outputs[0].shape) == 2
        if self.with_predictions:
            outputs["__output__"] = model.outputs[0]
        self.submodel = keras.Model(model.inputs, outputs, name="channel_summaries")
        self.forward_passes = 0

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run one forward pass; returns ``{"layer/summary": (B, C)}`` float32."""
        self.forward_passes += 1
        result = self.submodel.predict_on_batch(batch)
        return {key: np.asarray(value, dtype=np.float32) for key, value in result.items()}


def to_probabilities(output: np.ndarray) -> np.ndarray:
    """Rows as probabilities: kept if they already are, else softmax (logits)."""
    output = np.asarray(output, dtype=np.float32)
    if output.ndim != 2:
        raise ValueError("output must be 2-D (inputs, classes)")
    if output.min() >= 0 and np.allclose(output.sum(axis=1), 1.0, atol=1e-3):
        return output
    shifted = output - output.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def top_predictions(probs: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Top-k classes and probabilities, each of shape (N, k), descending."""
    k = min(k, probs.shape[1])
    classes = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return classes.astype(np.int32), np.take_along_axis(probs, classes, axis=1)


def extract_all(model, images, layers=None, summaries=SUMMARIES, batch_size=32,
                progress: Callable[[int, int], None] | None = None,
                p90_max_positions=DEFAULT_P90_MAX_POSITIONS, extractor: Extractor | None = None):
    """Stream ``images`` through one sub-model and collect per-channel summaries.

    Parameters
    ----------
    images : ndarray of shape (N, H, W, C) or object with ``len`` and slicing
        Preprocessed float32 inputs; an object's ``images[a:b]`` may load them
        lazily (see ``analysis.datasets.ImageBatches``), so only one batch is
        ever in memory.
    progress : callable(done, total), optional
        Called after each batch.

    Returns
    -------
    acts : dict of str to dict of str to ndarray of shape (N, C), float32
        ``acts[layer][summary]``.
    probs : ndarray of shape (N, K) float32 or None
        The model's output as probabilities.
    """
    if batch_size < 1:
        raise ExtractionError("batch_size must be at least 1")
    extractor = extractor or Extractor(model, layers, summaries, True, p90_max_positions)
    total = len(images)
    if total == 0:
        raise ExtractionError("No images to extract.")
    acts = {name: {} for name in extractor.layers}
    probs = None
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        batch = np.asarray(images[start:stop], dtype=np.float32)
        if len(batch) < batch_size and total > batch_size:
            # Pad the last batch: one traced/compiled shape for every batch.
            pad = np.zeros((batch_size - len(batch),) + batch.shape[1:], np.float32)
            batch = np.concatenate([batch, pad])
        result = extractor(batch)
        for key, value in result.items():
            value = value[: stop - start]
            if key == "__output__":
                if probs is None:
                    probs = np.empty((total, value.shape[1]), np.float32)
                probs[start:stop] = to_probabilities(value)
                continue
            layer, summary = key.rsplit("/", 1)
            if summary not in acts[layer]:
                acts[layer][summary] = np.empty((total, value.shape[1]), np.float32)
            acts[layer][summary][start:stop] = value
        if progress is not None:
            progress(stop, total)
    return acts, probs


def extract(model, images, layers=None, summaries=SUMMARIES, batch_size=32, progress=None):
    """``{layer: {summary: ndarray (N, C)}}`` for ``images``; see ``extract_all``."""
    return extract_all(model, images, layers, summaries, batch_size, progress)[0]


def activation_maps(model, image: np.ndarray, layer: str) -> np.ndarray:
    """Full activation maps of one layer for one preprocessed image.

    Returns
    -------
    ndarray of shape (*positions, C), float32
    """
    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(sub.predict_on_batch(image[None].astype(np.float32))[0], np.float32)


# --- Loading ---------------------------------------------------------------

# keras.applications models we can build from locally present weights:
# name -> (constructor attribute, preprocessing mode, weight file name).
APPLICATIONS = {
    "vgg16": ("VGG16", "caffe", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    "vgg19": ("VGG19", "caffe", "vgg19_weights_tf_dim_ordering_tf_kernels.h5"),
    "resnet50": ("ResNet50", "caffe", "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    "mobilenet_v2": ("MobileNetV2", "symmetric",
                     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"),
    "densenet121": ("DenseNet121", "torch", "densenet121_weights_tf_dim_ordering_tf_kernels.h5"),
    "inception_v3": ("InceptionV3", "symmetric",
                     "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
}


def keras_models_dir():
    """Where Keras keeps downloaded weights (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def load_application(spec: str):
    """Build a ``keras.applications`` model from weights already on disk.

    ``spec`` is a name (``vgg16``) or ``name:random`` for random weights.
    Nothing is ever downloaded.

    Returns
    -------
    (keras.Model, preprocessing mode)
    """
    name, _, variant = spec.lower().partition(":")
    if name not in APPLICATIONS:
        raise ExtractionError(
            f"Unknown model {spec!r}; give a .keras file or one of: {', '.join(APPLICATIONS)}.")
    attr, mode, filename = APPLICATIONS[name]
    constructor = getattr(keras.applications, attr)
    if variant == "random":
        return constructor(weights=None), mode
    if variant:
        raise ExtractionError(f"Unknown variant {variant!r}; only '{name}:random' is allowed.")
    path = os.path.join(keras_models_dir(), filename)
    if not os.path.isfile(path):
        raise ExtractionError(
            f"Weights for {name} are not in the local Keras cache ({path}). ChannelExplorer "
            f"never downloads; copy the file there, or use '{name}:random' for random weights.")
    return constructor(weights=path), mode


def load_model_file(path: str):
    """Load a ``.keras`` file with ``safe_mode=True`` (no arbitrary code)."""
    if not path.endswith(".keras"):
        raise ExtractionError(
            f"{path} is not a .keras file; save the model with model.save('name.keras').")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive.
        raise ExtractionError(f"Could not load {path} as a Keras model: {error}") from error


def configure_threads(n_threads: int) -> None:
    """Cap the backend's thread pools (call before the first op in a process)."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, n_threads))
    except RuntimeError:
        pass  # Already initialised in this process: the pools are fixed.

