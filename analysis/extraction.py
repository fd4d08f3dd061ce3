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
from analysis.errors import UserError


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


class ExtractionError(UserError):
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


def layer_maps(model, images: np.ndarray, layer: str, batch_size: int = 32) -> np.ndarray:
    """Full activation maps of one layer for a few preprocessed images.

    For the details view and border scans only: never for a whole data set.

    Returns
    -------
    ndarray of shape (n_images, *positions, C), float32
    """
    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    maps = [np.asarray(sub.predict_on_batch(np.asarray(images[i:i + batch_size], np.float32)))
            for i in range(0, len(images), batch_size)]
    return np.concatenate(maps).astype(np.float32, copy=False)


def activation_maps(model, image: np.ndarray, layer: str) -> np.ndarray:
    """Full activation maps of one layer for one preprocessed image, (*positions, C)."""
    return layer_maps(model, image[None], layer)[0]


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



# --- Ablation ----------------------------------------------------------------
#
# Does the network need the channels a finding flags?  Zero them and measure
# top-1 accuracy, against as many random (and as many most class-
# discriminative) channels zeroed.  The ablated network is a clone of the
# model with a constant 0/1 mask multiplied onto the chosen layer's output, so
# exactly that layer's output is zeroed whatever its activation (a zeroed
# kernel slice and bias would only do that for activations with f(0) = 0, and
# not at all for layers without weights), and the original model is never
# touched: the clone has its own variables, with values copied layer by layer.


@keras.saving.register_keras_serializable(package="ChannelExplorer")
class ChannelMask(keras.layers.Layer):
    """Multiplies the last (channel) axis by a fixed 0/1 mask.

    The mask is a non-trainable variable, so one built network can be
    re-masked (``set_mask``) without being traced again.
    """

    def __init__(self, channels: int, zeroed=(), **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.zeroed = [int(c) for c in zeroed]
        self.mask = self.add_weight(shape=(self.channels,), initializer="ones",
                                    trainable=False, name="mask")
        self.set_mask(self.zeroed)

    def set_mask(self, zeroed) -> None:
        """Zero the channels ``zeroed`` (indices); every other channel passes."""
        values = np.ones(self.channels, np.float32)
        values[np.asarray(list(zeroed), dtype=np.int64)] = 0.0
        self.mask.assign(values)
        self.zeroed = [int(c) for c in zeroed]

    def call(self, tensor):
        return tensor * ops.cast(self.mask, tensor.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "zeroed": self.zeroed}


def ablatable_layers(model) -> list[str]:
    """Layers whose channels :func:`ablated_model` can zero.

    Every layer of :func:`channel_layers` (one output, known channel axis
    last: Conv*, Dense, pooling, BatchNormalization, Activation, Add, ...)
    except those with ``data_format="channels_first"``.
    """
    return [name for name in channel_layers(model)
            if getattr(model.get_layer(name), "data_format", "channels_last") != "channels_first"]


def _ablation_channels(model, layer: str, channels) -> tuple[int, np.ndarray]:
    """Validate ``layer`` and ``channels``; returns (layer width C, sorted unique indices)."""
    allowed = ablatable_layers(model)
    if layer not in allowed:
        names = {item.name for item in model.layers}
        why = ("does not exist" if layer not in names else
               f"({_layer_type(model.get_layer(layer))}) has no channels-last output to ablate")
        raise ExtractionError(
            f"Layer {layer!r} {why}; channels can be ablated in: {', '.join(allowed) or 'none'}.")
    width = int(_single_output_shape(model.get_layer(layer))[-1])
    values = np.asarray(channels)
    if values.dtype == bool:
        if values.shape != (width,):
            raise ExtractionError(f"A boolean channel mask for {layer!r} needs {width} entries, "
                                  f"got shape {values.shape}.")
        values = np.flatnonzero(values)
    values = values.reshape(-1)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise ExtractionError(f"Channels must be integer indices or a boolean mask, got {values.dtype}.")
    values = np.unique(values.astype(np.int64))
    if values.size and (values[0] < 0 or values[-1] >= width):
        raise ExtractionError(f"Channel indices for {layer!r} must be in 0..{width - 1}, "
                              f"got {values[0]}..{values[-1]}.")
    return width, values


def _masked_clone(model, layer: str, width: int, zeroed) -> tuple:
    """(clone with a ChannelMask after ``layer``, the mask layer); weights copied."""
    taken = {item.name for item in model.layers}
    mask_name = f"{layer}_channel_mask"
    while mask_name in taken:
        mask_name += "_"
    mask = ChannelMask(width, zeroed, name=mask_name)

    if isinstance(model, keras.Sequential):
        # A functional copy, so that every cloned layer has one call (and
        # ``clone.get_layer(name).output`` is the masked graph's tensor).
        inputs = keras.Input(batch_shape=tuple(model.inputs[0].shape), dtype=model.inputs[0].dtype)
        tensor = inputs
        for item in model.layers:
            tensor = item.__class__.from_config(item.get_config())(tensor)
            if item.name == layer:
                tensor = mask(tensor)
        clone = keras.Model(inputs, tensor, name=model.name)
        layers_of_clone = {item.name: item for item in clone.layers}
    else:
        def call_function(item, *args, **kwargs):
            output = item(*args, **kwargs)
            return mask(output) if item.name == layer else output

        try:
            clone = keras.models.clone_model(model, call_function=call_function)
        except Exception as error:  # subclassed or otherwise uncloneable models
            raise ExtractionError(f"Could not rebuild the model to ablate channels: {error}") from error
        layers_of_clone = {item.name: item for item in clone.layers}
    for item in model.layers:
        if item.weights:
            layers_of_clone[item.name].set_weights(item.get_weights())
    return clone, mask


def ablated_model(model, layer: str, channels):
    """A new model in which the given channels of ``layer``'s output are zero.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential; it is not modified (the result has its own
        variables, holding copies of the weights).
    layer : str
        One of :func:`ablatable_layers` (any single-output layer with a
        channels-last axis: Conv1D/2D/3D, Dense, pooling, BatchNormalization,
        Activation, Add, ...; whatever its activation, the layer's *output* is
        zeroed).
    channels : sequence of int or ndarray of bool, shape (C,)
        Channel indices (duplicates ignored) or a boolean mask.

    Returns
    -------
    keras.Model
        Same inputs and outputs; a ``ChannelMask`` layer follows ``layer``.

    Raises
    ------
    ExtractionError
        Unknown or unsupported layer (Flatten, Dropout, InputLayer,
        multi-output, channels_first), bad channel indices, or a model that
        cannot be cloned (subclassed).
    """
    width, zeroed = _ablation_channels(model, layer, channels)
    return _masked_clone(model, layer, width, zeroed)[0]


def _predicted_classes(model, images, batch_size: int) -> np.ndarray:
    total = len(images)
    if total == 0:
        raise ExtractionError("No images to evaluate.")
    if len(model.outputs) != 1:
        raise ExtractionError("Accuracy needs a model with one (class score) output.")
    predicted = np.empty(total, np.int64)
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        batch = np.asarray(images[start:stop], dtype=np.float32)
        if len(batch) < batch_size and total > batch_size:
            pad = np.zeros((batch_size - len(batch),) + batch.shape[1:], np.float32)
            batch = np.concatenate([batch, pad])  # one traced shape for every batch
        output = np.asarray(model.predict_on_batch(batch))
        if output.ndim != 2:
            raise ExtractionError(f"Accuracy needs an output of shape (N, classes), got {output.shape}.")
        predicted[start:stop] = output[: stop - start].argmax(axis=1)
    return predicted


def evaluate_accuracy(model, images, labels, batch_size: int = 32) -> float:
    """Top-1 accuracy of ``model`` on ``images``.

    Parameters
    ----------
    images : ndarray (N, H, W, C) or sliceable (``analysis.datasets.ImageBatches``)
        Preprocessed as the model expects; read one batch at a time.
    labels : ndarray of int, shape (N,)
        Class index per image (model output order).

    Returns
    -------
    float in [0, 1]
    """
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ExtractionError(f"labels must have shape ({len(images)},), got {labels.shape}.")
    if batch_size < 1:
        raise ExtractionError("batch_size must be at least 1")
    return float(np.mean(_predicted_classes(model, images, int(batch_size)) == labels))


def ablation_check(model, images, labels, layer: str, flagged, n_random_repeats: int = 5,
                   discriminative=None, random_state=0, batch_size: int = 32) -> dict:
    """Accuracy with flagged channels zeroed, against random and discriminative ones.

    One masked clone of the model is built and re-masked for every condition.

    Parameters
    ----------
    images, labels
        As for :func:`evaluate_accuracy`.
    layer : str
        See :func:`ablated_model`.
    flagged : sequence of int or bool mask (C,)
        The channels to test (e.g. dead / redundant / border ones).
    n_random_repeats : int >= 1
        Draws of ``len(flagged)`` random channels (without replacement, from
        all of the layer's channels, flagged ones not excluded).
    discriminative : sequence of int, optional
        Channels ranked most class-discriminative first (e.g. by
        ``ranking.channel_scores(..., "f_stat")``); its first ``len(flagged)``
        are ablated too.
    random_state : int or numpy Generator

    Returns
    -------
    dict
        ``layer``, ``channels`` (C), ``n_ablated``, ``flagged`` (indices),
        ``baseline``, ``flagged_accuracy``, ``random_accuracies`` (list, one
        per repeat), ``random_channels`` (list of index lists),
        ``random_mean``, ``discriminative_accuracy`` and
        ``discriminative_channels`` (None without ``discriminative``), and
        drops from the baseline: ``drop_flagged``, ``drop_random``,
        ``drop_discriminative`` (None without ``discriminative``).  With no
        flagged channel nothing is ablated: every accuracy is the baseline.
    """
    width, zeroed = _ablation_channels(model, layer, flagged)
    if isinstance(n_random_repeats, bool) or int(n_random_repeats) < 1:
        raise ExtractionError("n_random_repeats must be at least 1.")
    n = int(zeroed.size)
    top = None
    if discriminative is not None:
        ranked = np.asarray(list(dict.fromkeys(np.asarray(discriminative).reshape(-1).tolist())), np.int64)
        if ranked.size < n or (ranked.size and (ranked.min() < 0 or ranked.max() >= width)):
            raise ExtractionError(f"discriminative must rank at least {n} distinct channel indices "
                                  f"in 0..{width - 1}.")
        top = np.sort(ranked[:n])
    rng = np.random.default_rng(random_state)
    draws = [np.sort(rng.choice(width, n, replace=False)) for _ in range(int(n_random_repeats))]

    clone, mask = _masked_clone(model, layer, width, [])
    baseline = evaluate_accuracy(clone, images, labels, batch_size)

    def accuracy(channels):
        if len(channels) == 0:
            return baseline
        mask.set_mask(channels)
        return evaluate_accuracy(clone, images, labels, batch_size)

    flagged_accuracy = accuracy(zeroed)
    random_accuracies = [accuracy(draw) for draw in draws]
    top_accuracy = accuracy(top) if top is not None else None
    random_mean = float(np.mean(random_accuracies))
    return {
        "layer": layer,
        "channels": width,
        "n_ablated": n,
        "flagged": zeroed.tolist(),
        "baseline": baseline,
        "flagged_accuracy": flagged_accuracy,
        "random_accuracies": random_accuracies,
        "random_channels": [draw.tolist() for draw in draws],
        "random_mean": random_mean,
        "discriminative_accuracy": top_accuracy,
        "discriminative_channels": top.tolist() if top is not None else None,
        "drop_flagged": baseline - flagged_accuracy,
        "drop_random": baseline - random_mean,
        "drop_discriminative": baseline - top_accuracy if top is not None else None,
    }
