"""Layer discovery: which layers of a Keras model have a channel axis.

Nested Functional/Sequential models are entered at any depth; their layers
get qualified names (``outer/inner``).  ``flat_graph`` rebuilds a nested
model's graph so that inner layers connect to the outer input.
"""

from __future__ import annotations

from typing import Iterable

import keras

from analysis.errors import ExtractionError

# Layers whose output has a channel axis but says nothing about channels of
# the network (identity-like at inference, reshapes, preprocessing).
_SKIP_TYPES = {
    "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Rescaling", "Normalization", "FolderClasses", "TwoClasses",
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


def is_submodel(layer) -> bool:
    """True for a Functional or Sequential model used as a layer (walked into)."""
    return isinstance(layer, keras.Model) and (
        isinstance(layer, keras.Sequential) or hasattr(layer, "_nodes_by_depth"))


def walk(model, prefix: str = ""):
    """``(qualified name, layer, groups)`` for every layer, sub-models entered, in order.

    A layer of a nested model is named by the path of sub-model names down to
    it, joined with ``/`` (``mobilenetv2_1.00_160/block_16_project``; Keras
    forbids ``/`` in layer names, so the path is unambiguous).  ``groups`` is
    the list of enclosing sub-models' qualified names, outermost first.  A
    sub-model itself is yielded too, before its layers.
    """
    groups = prefix.rstrip("/").split("/") if prefix else []
    groups = ["/".join(groups[:i + 1]) for i in range(len(groups))]
    for layer in _operations(model):
        name = prefix + layer.name
        yield name, layer, groups
        if is_submodel(layer):
            yield from walk(layer, name + "/")


def _operations(model):
    """A model's layers in graph order; for a Functional model its non-layer operations too."""
    if isinstance(model, keras.Sequential) or not hasattr(model, "operations"):
        return model.layers
    return model.operations


def find_layer(model, name: str):
    """The layer (or operation) at a qualified name (``outer/inner``), or ExtractionError."""
    layer = model
    for part in name.split("/"):
        found = [item for item in _operations(layer) if item.name == part] \
            if isinstance(layer, keras.Model) else []
        if not found:
            raise ExtractionError(f"The model has no layer {name!r}.")
        layer = found[0]
    return layer


#: Activations whose outputs are never negative (their fraction > 0 is the mean of sign(x)).
NONNEGATIVE_ACTIVATIONS = frozenset(
    {"relu", "relu6", "sigmoid", "hard_sigmoid", "softmax", "softplus", "exponential"})


def has_nonnegative_output(layer) -> bool:
    """True when ``layer``'s output cannot be negative, judged from its configuration
    alone: a built-in non-negative activation (``activation="relu"``, an ``Activation``
    layer) or a ``ReLU`` layer without a negative slope."""
    if isinstance(layer, keras.layers.ReLU):
        config = layer.get_config()
        return not config.get("negative_slope") and (config.get("threshold") or 0) >= 0
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) in NONNEGATIVE_ACTIVATIONS \
        and getattr(activation, "__module__", "").startswith("keras.")


def channel_layers(model) -> list[str]:
    """Qualified names of the layers whose output has a channel axis, in model order.

    Any layer with one output of rank >= 2 whose last (channel) dimension is
    known, except identity-like and reshaping layers (Dropout, Flatten, ...).
    Nested Functional/Sequential models are entered at any depth (their own
    output is their last layer's, so they are not listed themselves).
    """
    names = []
    for name, layer, _ in walk(model):
        if not isinstance(layer, keras.layers.Layer) or is_submodel(layer) \
                or _layer_type(layer) in _SKIP_TYPES or _layer_type(layer).startswith("Random"):
            continue
        shape = _single_output_shape(layer)
        if shape is None or len(shape) < 2 or shape[-1] is None:
            continue
        names.append(name)
    return names


def _is_conv_or_dense(kind: str) -> bool:
    return "Conv" in kind or kind == "Dense"


def conv_dense_layers(model, rows=None) -> list[str]:
    """The default selection: each convolution and dense layer's block output, in model order.

    A layer with a built-in activation is its own block output.  A convolution
    (or dense layer) without one that feeds a normalization and/or an activation
    layer one to one (Conv -> BatchNormalization -> ReLU) is represented by the
    last of them (:func:`block_ends`): its raw output is a signed, pre-normalization
    map, on which the unimportant-channel rules misfire and zeroing a channel does
    not remove it (BatchNormalization turns the zero into a constant).
    ``rows`` is :func:`describe_layers`'s output, if the caller has it.
    """
    rows = describe_layers(model) if rows is None else rows
    ends = block_ends(rows)
    allowed = set(channel_layers(model))
    return [ends.get(row["name"], row["name"]) for row in rows
            if _is_conv_or_dense(row["type"]) and row["name"] in allowed]


#: Layers a convolution's output may pass through, one to one, inside its block.
BLOCK_NORMALIZATIONS = frozenset({"BatchNormalization", "LayerNormalization", "GroupNormalization"})
#: Layer types that end a block (an activation layer), unless their activation is a
#: probability map over the classes (``NOT_BLOCK_ACTIVATIONS``).
BLOCK_ACTIVATIONS = frozenset({"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU"})
NOT_BLOCK_ACTIVATIONS = frozenset({"softmax", "log_softmax"})


def block_ends(rows) -> dict[str, str]:
    """``{layer: end of its block}`` for the convolution and dense layers whose block
    goes on past them; ``rows`` as :func:`describe_layers` returns them.

    From a convolution or dense layer without its own activation, the block goes on
    through at most one normalization layer and then at most one activation layer,
    each the only reader of the layer before and reading nothing else (a residual
    ``Add`` or a second reader stops it).  Nested models are crossed, since the rows
    link them to the outer layers.
    """
    by_name = {row["name"]: row for row in rows}
    readers = {}
    for row in rows:
        for parent in dict.fromkeys(row["inbound"]):
            readers.setdefault(parent, []).append(row["name"])
    ends = {}
    for row in rows:
        if not _is_conv_or_dense(row["type"]) or row.get("activation") not in (None, "linear"):
            continue
        end, normalized = row["name"], False
        while len(readers.get(end, ())) == 1:
            reader = by_name[readers[end][0]]
            if len(reader["inbound"]) != 1:
                break
            if reader["type"] in BLOCK_NORMALIZATIONS and not normalized:
                end, normalized = reader["name"], True
                continue
            if reader["type"] in BLOCK_ACTIVATIONS and reader.get("activation") not in NOT_BLOCK_ACTIVATIONS:
                end = reader["name"]
            break
        if end != row["name"]:
            ends[row["name"]] = end
    return ends


class _Flow:
    """Qualified producer names: where a nested input or a sub-model output really comes from."""

    def __init__(self):
        self.inputs = {}   # qualified InputLayer of a sub-model -> [outer parent names]
        self.outputs = {}  # qualified sub-model -> [producer name per output]

    def source(self, tensor, prefix: str) -> list[str]:
        history = tensor._keras_history
        name = prefix + history.operation.name
        if name in self.inputs:
            return self.inputs[name]
        if name in self.outputs:
            return [self.outputs[name][history.tensor_index]]
        return [name]


def _row(name, layer, parents, groups, extracted):
    shape = _single_output_shape(layer)
    return {
        "name": name,
        "type": _layer_type(layer),
        "output_shape": list(shape[1:]) if shape else None,
        "channels": shape[-1] if shape and len(shape) >= 2 else None,
        "inbound": parents,
        "extracted": name in extracted,
        "params": int(layer.count_params()) if getattr(layer, "built", False) else 0,
        "groups": groups,
        "nonnegative": has_nonnegative_output(layer),
        "activation": _activation_name(layer),
    }


def _activation_name(layer) -> str | None:
    """The name of a layer's activation function (``"relu"``, ``"linear"``), or None."""
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) if callable(activation) else None


def _describe(model, prefix, entry, groups, flow, extracted, rows):
    """Rows of ``model``'s layers; ``entry``: parent names per input of a nested model."""
    if isinstance(model, keras.Sequential):
        previous = entry[0] if entry else []
        for layer in model.layers:
            name = prefix + layer.name
            if is_submodel(layer):
                _enter(layer, name, [previous], groups, flow, extracted, rows)
                previous = [flow.outputs[name][0]]
            else:
                rows.append(_row(name, layer, list(previous), groups, extracted))
                previous = [name]
        return
    if prefix:
        for index, tensor in enumerate(model.inputs):
            flow.inputs[prefix + tensor._keras_history.operation.name] = \
                entry[index] if index < len(entry) else []
    for layer in model.operations:
        name = prefix + layer.name
        if name in flow.inputs:
            continue  # A nested model's input: its layers link to the outer parents.
        nodes = getattr(layer, "_inbound_nodes", [])
        sources = [flow.source(tensor, prefix) for tensor in nodes[0].input_tensors] if nodes else []
        if is_submodel(layer):
            _enter(layer, name, sources, groups, flow, extracted, rows)
        else:
            rows.append(_row(name, layer, [p for parents in sources for p in parents],
                             groups, extracted))


def _enter(submodel, name, entry, groups, flow, extracted, rows):
    inner = groups + [[name, _layer_type(submodel)]]
    _describe(submodel, name + "/", entry, inner, flow, extracted, rows)
    if isinstance(submodel, keras.Sequential):
        last = submodel.layers[-1]
        flow.outputs[name] = flow.outputs.get(f"{name}/{last.name}", [f"{name}/{last.name}"])
    else:
        flow.outputs[name] = [p for tensor in submodel.outputs
                              for p in flow.source(tensor, name + "/")][:len(submodel.outputs)]


def describe_layers(model, extracted: Iterable[str] = ()) -> list[dict]:
    """Plain description of the model's data-flow graph, in topological order.

    Nested Functional/Sequential models are flattened: their layers appear
    under qualified names, linked to the outer layers that feed and read them.

    Returns
    -------
    list of dict
        ``name``, ``type``, ``output_shape`` (without the batch axis; None for
        unknown or multi-output), ``channels`` (last axis or None),
        ``inbound`` (parent layer names), ``extracted`` (bool), ``params``,
        ``groups`` (enclosing sub-models as ``[qualified name, type]``,
        outermost first; empty at the top level), ``nonnegative``
        (:func:`has_nonnegative_output`), ``activation`` (the activation
        function's name, or None), and on the last layer of a convolution's
        block (:func:`block_ends`) ``block_of``, that convolution's name.
    """
    rows = []
    _describe(model, "", [], [], _Flow(), set(extracted), rows)
    for layer, end in block_ends(rows).items():
        next(row for row in rows if row["name"] == end)["block_of"] = layer
    return rows


def flat_graph(model, after=None, copy=False):
    """The model's graph rebuilt with every nested model inlined.

    Each layer (inner ones included) is called again on tensors that all lead
    back to the model's inputs, so one ``keras.Model(inputs, ...)`` can output
    any of them in one pass.

    Parameters
    ----------
    after : dict of str to callable, optional
        Qualified layer name -> function applied to that layer's output
        (e.g. a channel mask) before the layers that read it.
    copy : bool
        False: the same layer objects (same weights) on ``model.inputs``.
        True: a fresh copy of every layer (weights copied) on new inputs, so
        the result is an independent, flat model whose layers are called once.

    Returns
    -------
    inputs : list of KerasTensor
    tensors : dict of str to KerasTensor
        Output of each layer (first call), by qualified name.
    outputs : list of KerasTensor
        The model's outputs.
    """
    after = after or {}
    tensors = {}
    inputs = list(model.inputs)
    if copy:
        inputs = [keras.Input(batch_shape=tuple(x.shape), dtype=x.dtype) for x in inputs]
    used = {tensor._keras_history.operation.name for tensor in inputs}
    outputs = _inline(model, inputs, "", _Context(tensors, after, used, copy))
    return inputs, tensors, keras.tree.flatten(outputs)


class _Context:
    def __init__(self, tensors, after, used, copy):
        self.tensors, self.after, self.used, self.copy = tensors, after, used, copy


class _Renamed(keras.layers.Layer):
    """Calls ``layer`` under another name: one graph cannot hold two operations
    with one name, and layers of different nested models may share one."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, *args, **kwargs):
        return self.layer(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        return self.layer.compute_output_spec(*args, **kwargs)


def _inline(model, inputs, prefix, context):
    if isinstance(model, keras.Sequential):
        tensor = inputs[0]
        for layer in model.layers:
            tensor = _apply(layer, (tensor,), {}, prefix, context)
        return tensor

    def operation_fn(operation):
        return lambda *args, **kwargs: _apply(operation, args, kwargs, prefix, context)

    return model._run_through_graph(inputs, operation_fn=operation_fn)


def _apply(layer, args, kwargs, prefix, context):
    name = prefix + layer.name
    if is_submodel(layer):
        output = _inline(layer, keras.tree.flatten(args), name + "/", context)
        if isinstance(output, (list, tuple)) and len(output) == 1:
            output = output[0]
    else:
        unique = layer.name
        if unique in context.used:
            unique = name.replace("/", "__")
            while unique in context.used:
                unique += "_"
        context.used.add(unique)
        if context.copy:
            config = dict(layer.get_config(), name=unique)
            fresh = layer.__class__.from_config(config)
            output = fresh(*args, **kwargs)
            if getattr(layer, "weights", None):
                fresh.set_weights(layer.get_weights())
        else:
            output = (layer if unique == layer.name else _Renamed(layer, name=unique))(*args, **kwargs)
    if name in context.after:
        output = context.after[name](output)
        context.used.add(context.after[name].name)
    context.tensors.setdefault(name, output)
    return output


def binary_output(model) -> str | None:
    """How to read a one-unit class output (a binary classifier, ``Dense(1, "sigmoid")``):
    ``"probability"`` when the last layer's activation is a sigmoid, ``"logit"`` for any
    other one-unit output; None when the output is not (batch, 1)."""
    if len(model.outputs) != 1 or tuple(model.outputs[0].shape)[1:] != (1,):
        return None
    return "probability" if "sigmoid" in output_activation(model) else "logit"


def output_activation(model) -> str:
    """Name of the activation of the layer that makes the model's (single) output, nested
    models entered (``"softmax"``, ``"sigmoid"``, ``"linear"``); "" when it has none."""
    layer = model.outputs[0]._keras_history.operation
    while is_submodel(layer) and len(layer.outputs) == 1:  # a nested model ends the graph
        layer = layer.outputs[0]._keras_history.operation
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation or ""))


def scales_its_input(model) -> bool:
    """True when the model (nested models included) holds a ``Rescaling`` or
    ``Normalization`` layer: it expects raw 0..255 pixels and scales them itself."""
    return any(_layer_type(layer) in ("Rescaling", "Normalization") for _, layer, _ in walk(model))


def free_input_size(model) -> bool:
    """True when the model's single image input leaves its height or width open
    (``keras.Input((None, None, 3))``): ``models.fix_input_size`` then fixes them."""
    if len(model.inputs) != 1:
        return False
    shape = tuple(model.inputs[0].shape)
    return len(shape) == 4 and shape[-1] in (1, 3, 4) and (shape[1] is None or shape[2] is None)


def channelless_input(model) -> bool:
    """True when the model's single input is a grayscale image without a channel axis,
    ``keras.Input((28, 28))`` (sides of at least 8 or open): ``models.fix_input_size``
    then gives it one."""
    if len(model.inputs) != 1:
        return False
    shape = tuple(model.inputs[0].shape)
    return len(shape) == 3 and all(side is None or side >= 8 for side in shape[1:])


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

