"""Ablation: does the network need the channels a finding flags?

Zero them and measure
top-1 accuracy, against as many random (and as many most class-
discriminative) channels zeroed.  The ablated network is a clone of the
model with a constant 0/1 mask multiplied onto the chosen layer's output, so
exactly that layer's output is zeroed whatever its activation (a zeroed
kernel slice and bias would only do that for activations with f(0) = 0, and
not at all for layers without weights), and the original model is never
touched: the clone has its own variables, with values copied layer by layer.
"""

from __future__ import annotations

import numpy as np

import keras
from keras import ops

from analysis.errors import ExtractionError
from analysis.layers import (
    _layer_type, _single_output_shape, channel_layers, find_layer, flat_graph, walk)


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
            if getattr(find_layer(model, name), "data_format", "channels_last") != "channels_first"]


def _ablation_channels(model, layer: str, channels) -> tuple[int, np.ndarray]:
    """Validate ``layer`` and ``channels``; returns (layer width C, sorted unique indices)."""
    allowed = ablatable_layers(model)
    if layer not in allowed:
        names = {name for name, _, _ in walk(model)}
        why = ("does not exist" if layer not in names else
               f"({_layer_type(find_layer(model, layer))}) has no channels-last output to ablate")
        raise ExtractionError(
            f"Layer {layer!r} {why}; channels can be ablated in: {', '.join(allowed) or 'none'}.")
    width = int(_single_output_shape(find_layer(model, layer))[-1])
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


def mask_names(model, layers) -> dict:
    """A fresh layer name for a mask after each of ``layers`` (a nested layer: its own name)."""
    taken = {name.rsplit("/", 1)[-1] for name, _, _ in walk(model)}
    names = {}
    for layer in layers:
        name = f"{layer.rsplit('/', 1)[-1]}_channel_mask"
        while name in taken:
            name += "_"
        taken.add(name)
        names[layer] = name
    return names


def clone_with_masks(model, masks, what: str = "ablate channels"):
    """A copy of ``model`` with ``masks[layer]`` (a Keras layer) applied to each layer's output.

    Weights are copied; the original model is untouched.  Layers inside
    nested models are reached through an independent flat copy of the whole
    graph.  ``what`` names the purpose in the error raised when a model
    cannot be rebuilt (subclassed or otherwise uncloneable).
    """
    if any("/" in layer for layer in masks):
        try:
            inputs, _, outputs = flat_graph(model, after=masks, copy=True)
        except Exception as error:  # subclassed or otherwise uncopyable layers
            raise ExtractionError(f"Could not rebuild the model to {what}: {error}") from error
        return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
    if isinstance(model, keras.Sequential):
        # A functional copy, so that every cloned layer has one call (and
        # ``clone.get_layer(name).output`` is the masked graph's tensor).
        inputs = keras.Input(batch_shape=tuple(model.inputs[0].shape), dtype=model.inputs[0].dtype)
        tensor = inputs
        for item in model.layers:
            tensor = item.__class__.from_config(item.get_config())(tensor)
            if item.name in masks:
                tensor = masks[item.name](tensor)
        clone = keras.Model(inputs, tensor, name=model.name)
    else:
        def call_function(item, *args, **kwargs):
            output = item(*args, **kwargs)
            return masks[item.name](output) if item.name in masks else output

        try:
            clone = keras.models.clone_model(model, call_function=call_function)
        except Exception as error:  # subclassed or otherwise uncloneable models
            raise ExtractionError(f"Could not rebuild the model to {what}: {error}") from error
    by_name = {item.name: item for item in clone.layers}
    for item in model.layers:
        if item.weights:
            by_name[item.name].set_weights(item.get_weights())
    return clone


def _masked_clone(model, layer: str, width: int, zeroed) -> tuple:
    """(clone with a ChannelMask after ``layer``, the mask layer); weights copied."""
    mask = ChannelMask(width, zeroed, name=mask_names(model, [layer])[layer])
    return clone_with_masks(model, {layer: mask}), mask


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


def predicted_classes(model, images, batch_size: int = 32) -> np.ndarray:
    """Each input's top class (model output order), shape (N,)."""
    return _predicted_classes(model, images, int(batch_size))


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
