"""Single-pass, streaming extraction of per-channel summaries.

With ``analysis.models`` (loading), ``analysis.layers`` (layer discovery),
``analysis.reductions`` (in-graph summaries) and ``analysis.ablation``, the
only modules of ``analysis`` that import Keras (and through it the backend:
TensorFlow by default, JAX or PyTorch via ``KERAS_BACKEND``).  The names of
those modules are re-exported here, so ``from analysis import extraction``
reaches all of them.

One sub-model is built per (model, layers, summaries): its outputs are the
per-channel summaries of every chosen layer, reduced inside the graph with
``keras.ops``, plus the model's own output.  Each batch goes through it once,
so only ``batch x channels`` numbers per layer and summary leave the backend,
and memory for the whole data set is the N x C summaries, never the maps.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

import keras

from analysis.errors import ExtractionError
from analysis.summaries import SUMMARIES, SUMMARY_LABELS  # noqa: F401 (re-exported)
from analysis.reductions import (  # noqa: F401 (re-exported)
    DEFAULT_P90_MAX_POSITIONS, P90_QUANTILE, _Summaries, pack, summarise)
from analysis.layers import (  # noqa: F401 (re-exported)
    binary_output, channel_layers, channelless_input, conv_dense_layers, describe_layers, find_layer,
    flat_graph, free_input_size, has_nonnegative_output, image_input_shape, is_submodel,
    scales_its_input, walk)
from analysis.models import (  # noqa: F401 (re-exported)
    APPLICATIONS, configure_threads, fix_input_size, keras_models_dir, load_application, load_model_file,
    select_outputs, two_class_output)
from analysis.ablation import (  # noqa: F401 (re-exported)
    ChannelMask, ablatable_layers, ablated_model, ablation_check, evaluate_accuracy, predicted_classes)


class Extractor:
    """One multi-output sub-model serving every chosen layer in one pass.

    Parameters
    ----------
    model : keras.Model
        A functional (or built Sequential) model with one image input.
    layers : sequence of str, optional
        Layer names (``outer/inner`` inside nested models); default: the
        convolution and dense layers, nested ones included.
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
        # Layers inside nested models: rebuild the graph from the outer input
        # (same layers, same weights), so every output comes from one pass.
        if any("/" in name for name in layers):
            _, tensors, model_outputs = flat_graph(model)
        else:
            tensors, model_outputs = None, list(model.outputs)
        taken = {name.rsplit("/", 1)[-1] for name, _, _ in walk(model)}
        outputs = {}
        for index, name in enumerate(layers):
            layer_name = f"channel_summaries_{index}"
            while layer_name in taken:
                layer_name += "_"
            tensor = tensors[name] if tensors is not None else model.get_layer(name).output
            nonnegative = has_nonnegative_output(find_layer(model, name))
            reduced = _Summaries(self.summaries, p90_max_positions, nonnegative, name=layer_name)(tensor)
            for summary, tensor in zip(self.summaries, reduced):
                outputs[f"{name}/{summary}"] = tensor
        self.with_predictions = with_predictions and len(model_outputs) == 1 \
            and len(model_outputs[0].shape) == 2
        if self.with_predictions:
            outputs["__output__"] = model_outputs[0]
        taken_names = taken | {f"channel_summaries_{i}" for i in range(len(layers))}
        packed_name = "packed_summaries"
        while packed_name in taken_names:
            packed_name += "_"
        packed, self._ranges = pack(outputs, packed_name)  # one output: one transfer per batch
        self.submodel = keras.Model(model.inputs, packed, name="channel_summaries")
        #: Summary numbers per input (every layer's channels times each summary).
        self.columns = sum(stop - start for key, start, stop in self._ranges if key != "__output__")
        self.forward_passes = 0

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run one forward pass; returns ``{"layer/summary": (B, C)}`` float32."""
        self.forward_passes += 1
        packed = np.asarray(self.submodel.predict_on_batch(batch), dtype=np.float32)
        return {key: packed[:, start:stop] for key, start, stop in self._ranges}


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
        lazily (see ``analysis.datasets.ImageBatches``), so only two batches
        are ever in memory: the one in the model and the next, which a reader
        thread decodes meanwhile.
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

    def read(start):
        stop = min(start + batch_size, total)
        batch = np.asarray(images[start:stop], dtype=np.float32)
        if len(batch) < batch_size and total > batch_size:
            # Pad the last batch: one traced/compiled shape for every batch.
            pad = np.zeros((batch_size - len(batch),) + batch.shape[1:], np.float32)
            batch = np.concatenate([batch, pad])
        return batch

    # One reader thread decodes the next batch while the backend runs this one
    # (image decoding releases the GIL); batches are read in order, one ahead.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-reader") as reader:
        pending = reader.submit(read, 0)
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            batch = pending.result()
            if stop < total:
                pending = reader.submit(read, stop)
            for key, value in extractor(batch).items():
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
    if "/" in layer:  # inside a nested model: connect it to the outer input
        find_layer(model, layer)
        output = flat_graph(model)[1][layer]
    else:
        output = model.get_layer(layer).output
    sub = keras.Model(model.inputs, output)
    maps = [np.asarray(sub.predict_on_batch(np.asarray(images[i:i + batch_size], np.float32)))
            for i in range(0, len(images), batch_size)]
    return np.concatenate(maps).astype(np.float32, copy=False)


def activation_maps(model, image: np.ndarray, layer: str) -> np.ndarray:
    """Full activation maps of one layer for one preprocessed image, (*positions, C)."""
    return layer_maps(model, image[None], layer)[0]
