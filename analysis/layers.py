"""Layer discovery: which layers of a Keras model have a channel axis.

Works on a built ``keras.Model`` object (attributes only, no Keras import).
"""

from __future__ import annotations

from typing import Iterable

from analysis.errors import ExtractionError

# Layers whose output has a channel axis but says nothing about channels of
# the network (identity-like at inference, reshapes, preprocessing).
_SKIP_TYPES = {
    "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Rescaling", "Normalization",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "Resizing", "CenterCrop",
}


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

