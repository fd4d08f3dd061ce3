"""Batch size from a memory budget, so the job's peak memory does not grow with the batch.

A batch's largest transient is the widest layer's output and its input held
together (plus a reduction's temporary); VGG16 at 224 x 224 has 12.8 MB per image in
each block-1 map, so batch 32 alone holds about 1.2 GB of maps, while batch 16
runs as fast (measured, ../shared/FACTS.md) at half the memory.
"""

from __future__ import annotations

import math

ACTIVATION_BUDGET_MB = 400
# Widest output + its input + one temporary of the reductions.
LIVE_MAPS = 3


def largest_map_bytes(model) -> int:
    """Bytes per input of the largest single layer output (float32), nested models included."""
    largest = 0
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []) or [])
        try:
            output = layer.output
        except (AttributeError, ValueError):
            continue
        for tensor in output if isinstance(output, (list, tuple)) else [output]:
            shape = getattr(tensor, "shape", None)
            if shape is None or any(d is None for d in tuple(shape)[1:]):
                continue
            largest = max(largest, 4 * math.prod(tuple(shape)[1:]))
    return largest


def batch_for_memory(model, requested: int, budget_mb: float = ACTIVATION_BUDGET_MB) -> int:
    """The requested batch size, lowered so ``LIVE_MAPS`` of the largest maps fit ``budget_mb``.

    Parameters
    ----------
    model : keras.Model
    requested : int >= 1
        The batch size asked for (an upper bound).
    budget_mb : float > 0
        Memory for one batch's activation maps.

    Returns
    -------
    int in [1, requested]
    """
    if requested < 1 or budget_mb <= 0:
        raise ValueError("requested must be >= 1 and budget_mb > 0")
    per_input = largest_map_bytes(model) * LIVE_MAPS
    if per_input == 0:
        return int(requested)
    return int(max(1, min(requested, budget_mb * 2**20 // per_input)))
