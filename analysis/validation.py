"""Argument checks shared by the pure analysis functions (programmer errors: ValueError)."""

from __future__ import annotations

import numpy as np


def check_acts(acts, name: str = "acts") -> np.ndarray:
    """``acts`` as an array, if it is a finite, real, non-empty (n_inputs, n_channels) matrix."""
    acts = np.asarray(acts)
    if acts.ndim != 2 or acts.shape[0] == 0 or acts.shape[1] == 0:
        raise ValueError(f"{name} must be 2-D (n_inputs, n_channels) and non-empty; got shape {acts.shape}.")
    if not np.issubdtype(acts.dtype, np.number) or np.issubdtype(acts.dtype, np.complexfloating):
        raise ValueError(f"{name} must be a real numeric array; got dtype {acts.dtype}.")
    if not np.all(np.isfinite(acts)):
        raise ValueError(f"{name} contains NaN or infinite values; only finite activations are allowed.")
    return acts
