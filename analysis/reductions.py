"""In-graph per-channel reductions (``summarise``), as ``keras.ops``.

Each chosen layer's output is reduced to ``batch x channels`` numbers per
summary inside the backend graph, so the maps never leave it.

The four cheap summaries (mean, max, L2, fraction > 0) of a map are computed
together in one pass when a batch of it holds at least ``XLA_MIN_ELEMENTS``
numbers: with TensorFlow by one XLA-compiled function (the model itself stays on
TensorFlow's own kernels), with JAX by XLA anyway.  Smaller batches of maps use
TensorFlow's own (multi-threaded) reductions, which are as fast there and need
no compilation.  The 90th percentile needs a partial sort per channel and costs more than the other
four together, so it is not in ``DEFAULT_SUMMARIES`` (see analysis/summaries.py).
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
from keras import ops

from analysis.errors import ExtractionError
from analysis.summaries import CHEAP_SUMMARIES, SUMMARIES

P90_QUANTILE = 0.9
DEFAULT_P90_MAX_POSITIONS = 4096
#: Maps of at least this many numbers per batch (inputs x positions x channels) are reduced by
#: one XLA-compiled pass.  Measured on 2 CPU cores, batch 10, CPU ms per batch (TensorFlow's
#: four reductions / XLA's one pass, plus XLA's one-off compilation): 224x224x64 128 / 76
#: (+395 ms); 112x112x128 59 / 48 (+292 ms); 56x56x256 23 / 23 (+217 ms); smaller maps no
#: gain.  At batch 1 (VGG16 under the default memory target) XLA gained nothing (0.53 vs
#: 0.50 s of CPU per image) and kept ~100 MB more resident.  So XLA pays on large batches of
#: large maps only; elsewhere its compilations (~0.2 s per layer) were a tenth of a 200-image
#: VGG16 job.
XLA_MIN_ELEMENTS = 10_000_000
#: The batch size assumed when the caller does not say.
DEFAULT_BATCH_HINT = 10


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
    # Unsorted top-k skips sorting the tail; its two smallest values are the
    # k-th and (k-1)-th largest, i.e. the two order statistics to interpolate.
    top = ops.top_k(ops.transpose(flat, (0, 2, 1)), k, sorted=False)[0]
    if k < 2:
        return top[..., 0]
    smallest_two = -ops.top_k(-top, 2, sorted=True)[0]
    low_value = smallest_two[..., 0]
    if frac == 0:
        return low_value
    return low_value + frac * (smallest_two[..., 1] - low_value)


def _cheap(flat, names):
    """The cheap summaries ``names`` of ``flat`` (B, S, C), in that order."""
    out = []
    for name in names:
        if name == "mean":
            out.append(ops.mean(flat, axis=1))
        elif name == "max":
            out.append(ops.max(flat, axis=1))
        elif name == "l2":
            out.append(ops.sqrt(ops.sum(ops.square(flat), axis=1)))
        else:  # frac_pos
            out.append(ops.mean(ops.cast(ops.greater(flat, 0), "float32"), axis=1))
    return out


def _fused(names: tuple):
    """A function computing ``_cheap(flat, names)`` in one pass over ``flat``.

    TensorFlow runs each reduction as its own kernel (four reads of every map,
    plus temporaries); XLA fuses them into one loop.  Only this reduction is
    compiled: TensorFlow's own convolutions stay as they are.
    """
    if keras.backend.backend() != "tensorflow":
        return lambda flat: _cheap(flat, names)
    import tensorflow as tf

    return tf.function(lambda flat: _cheap(flat, names), jit_compile=True, autograph=False)


def summarise(tensor, summaries: Sequence[str], p90_max_positions: int = DEFAULT_P90_MAX_POSITIONS,
              batch_hint: int = DEFAULT_BATCH_HINT):
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
    unknown = [name for name in summaries if name not in SUMMARIES]
    if unknown:
        raise ExtractionError(f"Unknown summary {unknown[0]!r}; allowed: {', '.join(SUMMARIES)}.")
    cheap = tuple(name for name in summaries if name in CHEAP_SUMMARIES)
    large = batch_hint * flat.shape[1] * channels >= XLA_MIN_ELEMENTS
    reduce = _fused(cheap) if large else (lambda values: _cheap(values, cheap))
    out = dict(zip(cheap, reduce(flat))) if cheap else {}
    if "p90" in summaries:
        out["p90"] = _percentile_from_topk(flat, P90_QUANTILE, p90_max_positions)
    return out


class _Summaries(keras.layers.Layer):
    """Wraps ``summarise`` as one named layer, so the ops it adds get names
    of their own and never collide with the model's layer names."""

    def __init__(self, summaries, p90_max_positions, batch_hint=DEFAULT_BATCH_HINT, **kwargs):
        super().__init__(**kwargs)
        self.summaries = tuple(summaries)
        self.p90_max_positions = p90_max_positions
        self.batch_hint = batch_hint

    def call(self, tensor):
        out = summarise(tensor, self.summaries, self.p90_max_positions, self.batch_hint)
        return [out[name] for name in self.summaries]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], input_shape[-1])] * len(self.summaries)



class _Packed(keras.layers.Layer):
    """Concatenates (B, C_i) tensors into one float32 (B, sum C_i) output.

    A sub-model with one output moves its results off the device in one
    transfer: with 50 outputs, each its own copy and synchronisation, the
    transfers cost more than the reductions (demo model on a GPU: 0.085x the
    forward pass with 41 outputs).
    """

    def call(self, tensors):
        return ops.concatenate([ops.cast(t, "float32") for t in tensors], axis=-1)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], sum(shape[-1] for shape in input_shapes))


def pack(named: dict, name: str = "packed_summaries"):
    """(one packed tensor, ``[(key, start, stop)]`` column ranges) of ``{key: (B, C) tensor}``."""
    ranges, start = [], 0
    for key, tensor in named.items():
        width = int(tensor.shape[-1])
        ranges.append((key, start, start + width))
        start += width
    return _Packed(name=name)(list(named.values())), ranges
