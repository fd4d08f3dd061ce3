"""Legacy ``.h5`` models, checked before Keras ever reads them.

Keras's ``safe_mode`` does not apply to the legacy HDF5 format (CVE-2025-9905):
loading an ``.h5`` deserialises a ``Lambda`` layer's marshalled Python code and
any registered custom class.  So the stored model config (a JSON attribute of
the file) is read here with h5py and ``json`` only, every object in it is
checked, and the file is refused unless it holds nothing but built-in Keras
layers; only then does :func:`analysis.models.load_model_file` load it.
"""

from __future__ import annotations

import json

from analysis.errors import ExtractionError

# Containers and layers that are not in ``keras.layers`` under their config name.
_MODEL_CLASSES = {"Functional", "Sequential", "Model", "InputLayer"}
# Objects that carry or name Python code.
_CODE_CLASSES = {"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__"}
_KERAS_MODULES = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras")


def read_model_config(path: str) -> dict:
    """The ``model_config`` attribute of an HDF5 model file, parsed as plain JSON (no Keras)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except OSError as error:
        raise ExtractionError(f"Could not read {path} as an HDF5 model file: {error}") from error
    if raw is None:
        raise ExtractionError(f"{path} holds no model config (weights only?); "
                              "give a file saved with model.save().")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        config = json.loads(raw)
    except ValueError as error:
        raise ExtractionError(f"The model config in {path} is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise ExtractionError(f"The model config in {path} is not a model description.")
    return config


def _builtin_layer(class_name: str) -> bool:
    import keras

    if class_name in _MODEL_CLASSES:
        return True
    return isinstance(getattr(keras.layers, class_name, None), type)


def _custom(obj: dict) -> bool:
    module = obj.get("module")
    registered = obj.get("registered_name")
    if module is not None and not str(module).startswith(_KERAS_MODULES):
        return True
    return isinstance(registered, str) and ">" in registered  # 'package>Name': registered custom


def _name_of(layer: dict) -> str:
    config = layer.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    return str(name or layer.get("name") or "?")


def _layer_lists(node):
    """Every list of layer configs under ``node`` (Functional/Sequential ``layers``), any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "layers" and isinstance(value, list):
                yield value
            yield from _layer_lists(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layer_lists(value)


def _objects(node, owner: str):
    """``(owning layer name, dict)`` for every serialised object (a dict with ``class_name``)
    in a layer's config; a nested model's ``layers`` are left to their own check."""
    if isinstance(node, dict):
        if "class_name" in node:
            yield owner, node
        for key, value in node.items():
            if key != "layers":
                yield from _objects(value, owner)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value, owner)


def check_model_config(config: dict) -> None:
    """Refuse a model config that would run code or load a non-built-in class.

    Raises
    ------
    ExtractionError
        Naming the first offending layer and its class (``Lambda``, a custom
        or unknown layer class, a registered custom object, a serialised
        Python function).
    """
    if not _builtin_layer(str(config.get("class_name"))) or _custom(config):
        raise ExtractionError(
            f"The model's class {config.get('class_name')!r} is not a built-in Keras model; "
            "ChannelExplorer loads only Functional or Sequential models of built-in layers.")
    for layers in _layer_lists(config):
        for layer in layers:
            if not isinstance(layer, dict):
                continue
            class_name = str(layer.get("class_name"))
            name = _name_of(layer)
            if class_name in _CODE_CLASSES:
                raise ExtractionError(
                    f"Refused: layer {name!r} is a {class_name} layer, which runs Python code stored "
                    "in the file. Legacy .h5 files are not protected by Keras's safe mode "
                    "(CVE-2025-9905); rebuild the model without Lambda layers and save it as .keras.")
            if not _builtin_layer(class_name) or _custom(layer):
                raise ExtractionError(
                    f"Refused: layer {name!r} has class {class_name!r}, which is not a built-in "
                    "Keras layer. Only models of built-in layers are loaded from .h5 files "
                    "(custom classes may run code: CVE-2025-9905).")
            for owner, obj in _objects(layer.get("config"), name):
                if obj.get("class_name") in _CODE_CLASSES or _custom(obj):
                    raise ExtractionError(
                        f"Refused: layer {owner!r} uses {obj.get('class_name')!r}"
                        f"{' from ' + str(obj.get('module')) if obj.get('module') else ''}, "
                        "which is not built into Keras (it may run code: CVE-2025-9905).")


def check_h5(path: str) -> dict:
    """Read and check an ``.h5`` model's config; returns it (raises ExtractionError if refused)."""
    config = read_model_config(path)
    check_model_config(config)
    return config
