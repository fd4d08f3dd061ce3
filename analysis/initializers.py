"""Numpy samplers of the distributions of Keras's initializers, for filling weights in slices.

Each sampler draws float32 values from the distribution the Keras initializer
would use for a variable of that shape (same fans, scales and truncation), but
from a numpy generator, so the numbers are not the ones Keras itself would draw.
"""

from __future__ import annotations

import math

import numpy as np

_TRUNCATION = 0.87962566103423978  # Keras's stddev correction for a normal cut at 2 sigma.


def sampler(initializer, shape):
    """``draw(rng, shape) -> float32 ndarray`` following ``initializer``'s distribution,
    or None when the variable already holds its initial value (zeros), or raise
    TypeError for an initializer this module cannot sample."""
    from keras import initializers as ki
    from keras.src.initializers.random_initializers import compute_fans

    if isinstance(initializer, ki.Zeros):
        return None
    if isinstance(initializer, ki.Ones):
        return lambda rng, s: np.ones(s, np.float32)
    if isinstance(initializer, ki.Constant):
        value = float(np.asarray(initializer.value))
        return None if value == 0 else (lambda rng, s: np.full(s, value, np.float32))
    if isinstance(initializer, ki.VarianceScaling):
        scale = float(initializer.scale)
        fan_in, fan_out = compute_fans(shape)
        scale /= max(1.0, {"fan_in": fan_in, "fan_out": fan_out}.get(
            initializer.mode, (fan_in + fan_out) / 2.0))
        if initializer.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            return lambda rng, s: _uniform(rng, s, -limit, limit)
        if initializer.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / _TRUNCATION
            return lambda rng, s: _truncated(rng, s, 0.0, stddev)
        stddev = math.sqrt(scale)
        return lambda rng, s: rng.standard_normal(s, np.float32) * np.float32(stddev)
    if isinstance(initializer, ki.RandomUniform):
        low, high = float(initializer.minval), float(initializer.maxval)
        return lambda rng, s: _uniform(rng, s, low, high)
    if isinstance(initializer, ki.TruncatedNormal):
        mean, stddev = float(initializer.mean), float(initializer.stddev)
        return lambda rng, s: _truncated(rng, s, mean, stddev)
    if isinstance(initializer, ki.RandomNormal):
        mean, stddev = float(initializer.mean), float(initializer.stddev)
        return lambda rng, s: rng.standard_normal(s, np.float32) * np.float32(stddev) + np.float32(mean)
    raise TypeError(f"no lean sampler for {type(initializer).__name__}")


def _uniform(rng, shape, low, high):
    values = rng.random(shape, np.float32)
    values *= np.float32(high - low)
    values += np.float32(low)
    return values


def _truncated(rng, shape, mean, stddev):
    """Normal values redrawn until within two standard deviations (as Keras's)."""
    values = rng.standard_normal(shape, np.float32)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()), np.float32)
        outside = np.abs(values) > 2
    values *= np.float32(stddev)
    values += np.float32(mean)
    return values
