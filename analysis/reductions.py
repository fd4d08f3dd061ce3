"""In-graph per-channel reductions (``summarise``), as backend ops.

Each chosen layer's output is reduced to ``batch x channels`` numbers per
summary inside the backend graph, so the maps never leave it.

With TensorFlow the four cheap summaries (mean, max, L2, fraction > 0) each use
the kernel that reads a map fastest on CPU (``_lean_tensorflow``: a product with
ones, max pooling, ``reduce_euclidean_norm``), with no XLA compilation; with
other backends they are plain ``keras.ops`` (JAX compiles them with XLA anyway).
The 90th percentile needs a partial sort per channel and costs more than the
other four together, so it is not in ``DEFAULT_SUMMARIES`` (see
analysis/summaries.py).
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
#: Maps with at least this many positions per channel are summed by a product with ones and
#: their max taken by max pooling (2x faster than TensorFlow's reductions on 224 x 224 x 64 maps,
#: no faster below about 64 x 64: benchmarks/README.md, "Reduction kernels").
LARGE_MAP_POSITIONS = 4096


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
    """The cheap summaries ``names`` of ``flat`` (B, S, C), in that order (any backend)."""
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


def _lean_tensorflow(flat, names, nonnegative=False):
    """``_cheap`` with TensorFlow's fastest kernels on CPU.

    Each summary reads the map once and none writes a map-sized temporary except
    the fraction > 0's indicator (see benchmarks/README.md, "Reduction kernels"):

    * L2: ``reduce_euclidean_norm``, one kernel with no squared copy;
    * fraction > 0: the mean of ``sign(x)`` when the map is known to be
      non-negative (a ReLU output: one element-wise kernel), else of ``cast(x > 0)``;
    * on maps of at least ``LARGE_MAP_POSITIONS`` positions, sums are a batched
      product with a row of ones (oneDNN streams it at twice ``reduce_mean``'s
      speed and sums blockwise: 5e-7 relative error at 50,176 positions, against
      3e-6 for ``reduce_mean``) and the max is oneDNN's max pooling with one window
      over all positions (exact).  On smaller maps each kernel's fixed cost
      dominates, and TensorFlow's own reductions are as fast.
    """
    import tensorflow as tf

    if flat.dtype != tf.float32:
        flat = tf.cast(flat, tf.float32)
    positions, channels = int(flat.shape[1]), int(flat.shape[2])
    large = positions >= LARGE_MAP_POSITIONS
    ones = None

    def mean(values):
        nonlocal ones
        if not large:
            return tf.reduce_mean(values, axis=1)
        if ones is None:
            ones = tf.ones(tf.stack([tf.shape(values)[0], 1, positions]), tf.float32)
        return tf.squeeze(tf.linalg.matmul(ones, values), 1) / positions  # counts stay exact

    out = []
    for name in names:
        if positions == 1:  # a dense layer: each summary is the value itself
            value = flat[:, 0, :]
            out.append(tf.abs(value) if name == "l2" else
                       tf.cast(value > 0, tf.float32) if name == "frac_pos" else value)
        elif name == "mean":
            out.append(mean(flat))
        elif name == "max" and large:
            pooled = tf.nn.max_pool2d(tf.expand_dims(flat, 2), (positions, 1), (positions, 1), "VALID")
            out.append(tf.reshape(pooled, (-1, channels)))
        elif name == "max":
            out.append(tf.reduce_max(flat, axis=1))
        elif name == "l2":
            out.append(tf.math.reduce_euclidean_norm(flat, axis=1))
        else:  # frac_pos
            out.append(mean(tf.sign(flat) if nonnegative else tf.cast(flat > 0, tf.float32)))
    return out


def summarise(tensor, summaries: Sequence[str], p90_max_positions: int = DEFAULT_P90_MAX_POSITIONS,
              nonnegative: bool = False):
    """Per-channel summaries of one layer output, as backend ops.

    Parameters
    ----------
    tensor : tensor of shape (batch, *positions, channels)
        A symbolic or eager layer output; positions must have known sizes.
    summaries : sequence of str
        Any of ``SUMMARIES``.
    nonnegative : bool
        The layer's output is never negative (``layers.has_nonnegative_output``):
        its fraction > 0 is then counted from ``sign(x)``, one kernel fewer.

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
    if not cheap:
        out = {}
    elif keras.backend.backend() == "tensorflow":
        out = dict(zip(cheap, _lean_tensorflow(flat, cheap, nonnegative)))
    else:
        out = dict(zip(cheap, _cheap(flat, cheap)))
    if "p90" in summaries:
        out["p90"] = _percentile_from_topk(flat, P90_QUANTILE, p90_max_positions)
    return out


class _Summaries(keras.layers.Layer):
    """Wraps ``summarise`` as one named layer, so the ops it adds get names
    of their own and never collide with the model's layer names."""

    def __init__(self, summaries, p90_max_positions, nonnegative=False, **kwargs):
        super().__init__(**kwargs)
        self.summaries = tuple(summaries)
        self.p90_max_positions = p90_max_positions
        self.nonnegative = nonnegative

    def call(self, tensor):
        out = summarise(tensor, self.summaries, self.p90_max_positions, self.nonnegative)
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
