"""Model loading: ``.keras`` files (safe mode) and ``keras.applications`` from local weights."""

from __future__ import annotations

import os
import re

import keras
import numpy as np

from analysis import weight_files, weights
from analysis.errors import ExtractionError
from analysis.h5check import check_h5

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
    Nothing is ever downloaded. Random weights are drawn from each layer's
    initializer's distribution, seeded (the same model every time), and neither
    kind makes full-size temporary copies of the weights (see ``analysis.weights``).

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
        return weights.build_lean(lambda: constructor(weights=None), random_state=0), mode
    if variant:
        raise ExtractionError(f"Unknown variant {variant!r}; only '{name}:random' is allowed.")
    path = os.path.join(keras_models_dir(), filename)
    if not os.path.isfile(path):
        raise ExtractionError(
            f"Weights for {name} are not in the local Keras cache ({path}). ChannelExplorer "
            f"never downloads; copy the file there, or use '{name}:random' for random weights.")
    with weights.lean_variables() as scope:
        model = constructor(weights=path)
    weights.fill_initial_values(scope)  # only variables the file did not set
    weights.release_freed_memory()
    return model, mode


def load_model_file(path: str):
    """Load a ``.keras`` file with ``safe_mode=True``, or a legacy ``.h5``/``.hdf5`` file
    after its stored config was checked without Keras (no Lambda, only built-in layers:
    see ``analysis.h5check``); no arbitrary code either way. A ``.keras`` file's weights
    are read straight into the model's variables (``analysis.weights``); its
    result is bit-identical to ``keras.saving.load_model``'s."""
    if path.lower().endswith((".h5", ".hdf5")):
        check_h5(path)  # raises ExtractionError naming the refused layer and class
    elif not path.endswith(".keras"):
        raise ExtractionError(
            f"{path} is not a .keras or .h5 file; save the model with model.save('name.keras').")
    try:
        if path.endswith(".keras"):
            return weight_files.load_keras_file(path)
        with weights.lean_variables() as scope:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        weights.fill_initial_values(scope)  # only variables the file did not set
        return model
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


def fix_input_size(model, size):
    """The model rebuilt, same layer names and weights (copied variable by variable), for
    (height, width, channels) images when its input is not quite one: sides left open
    (``keras.Input((None, None, 3))``) are set to ``size`` = (height, width); a grayscale
    input without a channel axis (``keras.Input((28, 28))``) gets one, and must then give
    the same outputs.  The model itself when neither applies.  Raises ``ExtractionError``
    when the model cannot run so."""
    from analysis.layers import channelless_input, free_input_size

    channelless = channelless_input(model)
    if not (channelless or free_input_size(model)):
        return model
    tensor = model.inputs[0]
    shape = tuple(tensor.shape)
    fixed = (None, shape[1] or int(size[0]), shape[2] or int(size[1]), 1 if channelless else shape[3])
    what = (f"The model's input is a grayscale image without a channel axis {shape[1:]} and it "
            f"cannot take {fixed[1]} x {fixed[2]} x 1 images instead" if channelless else
            f"The model accepts any input size but cannot run at {fixed[1]} x {fixed[2]} px "
            "(the images' typical size) nor at up to 16 times that")
    try:
        clone = _clone_at(model, fixed)
        if clone is None and free_input_size(model):  # too small: scale up, keeping the shape
            for factor in (2, 4, 8, 16):
                larger = (None, shape[1] or int(size[0]) * factor, shape[2] or int(size[1]) * factor,
                          fixed[3])
                if max(larger[1:3]) > 1024:
                    break
                clone = _clone_at(model, larger)
                if clone is not None:
                    break
        if clone is None:
            _clone_at(model, fixed, raise_error=True)
        for target, source in zip(clone.weights, model.weights, strict=True):
            target.assign(source)
        if channelless:  # the same function of the same pixels, or refused
            probe = np.random.default_rng(0).uniform(0, 1, (2,) + tuple(clone.inputs[0].shape)[1:])
            probe = probe.astype(np.float32)
            ours = keras.tree.flatten(clone(probe, training=False))
            theirs = keras.tree.flatten(model(probe[..., 0], training=False))
            if not all(np.allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
                       for a, b in zip(ours, theirs, strict=True)):
                raise ValueError("its outputs change when the images get a channel axis.")
    except Exception as error:  # shape errors of many types, from any layer
        raise ExtractionError(
            f"{what}: {_reason(error)} Save it with an "
            "image input of fixed size with channels, e.g. keras.Input((224, 224, 3)).") from error
    return clone


def _reason(error) -> str:
    """The first line of what went wrong inside Keras, without its wrapping and colour codes."""
    while str(error).startswith("Exception encountered") and error.__context__ is not None:
        error = error.__context__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()
             and not line.startswith(("Exception encountered", "Arguments received"))
             and not line.strip().startswith("•")]
    reason = lines[0] if lines else type(error).__name__
    return reason[:300] + ("" if reason.endswith(".") else ".")


def _clone_at(model, batch_shape, raise_error=False):
    """A clone of ``model`` on a new input of ``batch_shape``; None if it cannot run at that
    size (or the error itself with ``raise_error``)."""
    tensor = model.inputs[0]
    try:
        new_input = keras.Input(batch_shape=batch_shape, dtype=tensor.dtype,
                                name=tensor._keras_history.operation.name)
        return keras.models.clone_model(model, input_tensors=new_input)
    except Exception:  # shape errors of many types, from any layer
        if raise_error:
            raise
        return None


@keras.saving.register_keras_serializable(package="ChannelExplorer")
class FolderClasses(keras.layers.Layer):
    """The model's scores for the folder's classes only (``columns`` of its class output),
    renormalised to sum to 1 when they are probabilities (a softmax output)."""

    def __init__(self, columns, renormalise: bool, **kwargs):
        super().__init__(**kwargs)
        self.columns = [int(c) for c in columns]
        self.renormalise = bool(renormalise)

    def call(self, scores):
        picked = keras.ops.take(scores, self.columns, axis=-1)
        if self.renormalise:
            picked = picked / keras.ops.maximum(keras.ops.sum(picked, axis=-1, keepdims=True), 1e-12)
        return picked

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (len(self.columns),)

    def get_config(self):
        return {**super().get_config(), "columns": self.columns, "renormalise": self.renormalise}


def select_outputs(model, columns):
    """The model with its class output narrowed to ``columns`` (a folder holding some of its
    classes, mapped in ``classes.txt``): predictions are then among the folder's classes.
    Same layers and weights (nothing is copied).  Raises ``ExtractionError`` when the model
    has no class output or an index is out of range."""
    from analysis.layers import output_activation

    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise ExtractionError("classes.txt gives model outputs, but the model has no single class "
                              "output (batch, classes).")
    n_outputs = int(model.outputs[0].shape[-1])
    bad = [c for c in columns if not 0 <= int(c) < n_outputs]
    if bad:
        raise ExtractionError(f"classes.txt maps a folder to output {bad[0]}, but the model has "
                              f"{n_outputs} outputs (0 to {n_outputs - 1}).")
    softmax = "softmax" in output_activation(model)
    scores = FolderClasses(columns, softmax, name=_free_name(model, "folder_classes"))(model.outputs[0])
    return keras.Model(model.inputs, scores, name=model.name)


@keras.saving.register_keras_serializable(package="ChannelExplorer")
class TwoClasses(keras.layers.Layer):
    """A one-unit class output as two: (1 - p, p) for a probability p, (0, z) for a logit z
    (whose softmax is (1 - sigmoid(z), sigmoid(z))).  Either way the second column is the
    second class, as Keras's binary labels are, and the argmax is p > 0.5 or z > 0."""

    def __init__(self, logit: bool, **kwargs):
        super().__init__(**kwargs)
        self.logit = bool(logit)

    def call(self, unit):
        first = keras.ops.zeros_like(unit) if self.logit else 1.0 - unit
        return keras.ops.concatenate([first, unit], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2,)

    def get_config(self):
        return {**super().get_config(), "logit": self.logit}


def two_class_output(model):
    """The model with a one-unit class output (``layers.binary_output``) turned into two
    columns by :class:`TwoClasses`, so every reader of class scores treats it as any
    two-class model; the model itself otherwise.  Same layers and weights."""
    from analysis.layers import binary_output

    kind = binary_output(model)
    if kind is None:
        return model
    return keras.Model(model.inputs, TwoClasses(kind == "logit", name=_free_name(model, "two_classes"))(
        model.outputs[0]), name=model.name)


def _free_name(model, name: str) -> str:
    """``name``, lengthened with underscores until no layer of ``model`` has it."""
    taken = {layer.name for layer in model.layers}
    while name in taken:
        name += "_"
    return name
