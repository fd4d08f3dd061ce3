"""Batch size from a memory budget, so the job's peak memory stays under a target.

The job's resident memory is, measured (VGG16 at 224 x 224, 200 inputs;
benchmarks/job.py): the libraries (TensorFlow + Keras + the app, about 620 MB),
the weights (built without temporary copies: ``analysis.weights``), a fixed
cost of the first batch and of the findings (the extractor's kernels, the
summaries of all inputs: about 170 MB) and, per input
of a batch, about 8 times the widest layer output (the extractor at batch 4
held 100 MB per image more than at batch 1: VGG16's block-1 maps are 12.25 MiB).
So what is left of ``JOB_TARGET_MB`` after the first three is the batch's
budget; VGG16 (528 MiB of weights) gets batch 1, a small model the batch asked for.
Batch 1 costs speed: VGG16's extraction took 6-7% more time per image than at
batch 10 (its plain forward pass suffers more); ``config.memory_mb`` (``--memory-mb``)
raises the target where memory allows.
"""

from __future__ import annotations

import math
import os

from analysis.errors import NotEnoughMemory

# Peak resident memory the batch size is chosen for (issue 11: VGG16 at N=200 <= 1,400 MB).
JOB_TARGET_MB = 1400
LIBRARIES_MB = 650  # TensorFlow + Keras + the app, imported
FIXED_RUN_MB = 170  # first batch's kernels and compiled reductions, the findings
MIN_BUDGET_MB = 50
# Memory per input of a batch, in widest layer outputs (measured: 8.4 for VGG16).
LIVE_MAPS = 8


#: The job holds every input's summaries until it stores them: refused above this share of RAM.
SUMMARIES_RAM_SHARE = 0.5


def physical_memory_bytes() -> int | None:
    """This machine's RAM, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_summaries_fit(n_inputs: int, columns: int, ram_bytes: int | None = None) -> None:
    """Refuse, before the extraction, an analysis whose summaries (``n_inputs`` x ``columns``
    float32 numbers: every layer's channels times the summaries) would not fit in
    ``SUMMARIES_RAM_SHARE`` of the machine's memory, saying what to change."""
    ram = physical_memory_bytes() if ram_bytes is None else ram_bytes
    need = 4 * n_inputs * columns
    if ram is None or need <= SUMMARIES_RAM_SHARE * ram:
        return
    fits = max(1, int(SUMMARIES_RAM_SHARE * ram // (4 * columns)))
    raise NotEnoughMemory(
        f"The summaries of {n_inputs:,} images would take {need / 2**30:.1f} GB ({columns:,} numbers "
        f"per image: every extracted channel times each summary), more than half of this machine's "
        f"{ram / 2**30:.0f} GB. Analyse at most about {fits:,} images at a time, or a model with "
        f"narrower layers (the dense layers of VGG-sized models hold most of the channels).")


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


def weights_mb(model) -> float:
    """The model's variables in MiB."""
    total = 0
    for variable in model.weights:
        dtype = str(variable.dtype)
        itemsize = 8 if "64" in dtype else 2 if "16" in dtype else 1 if "8" in dtype else 4
        total += math.prod(tuple(variable.shape)) * itemsize
    return total / 2**20


def activation_budget_mb(model, target_mb: float | None = None) -> float:
    """What ``target_mb`` (default ``JOB_TARGET_MB``; ``config.memory_mb`` in the app) leaves
    for one batch's maps once the libraries, the model's weights and the fixed costs are
    counted (at least ``MIN_BUDGET_MB``)."""
    target = JOB_TARGET_MB if target_mb is None else target_mb
    return max(MIN_BUDGET_MB, target - LIBRARIES_MB - weights_mb(model) - FIXED_RUN_MB)


def batch_for_memory(model, requested: int, budget_mb: float | None = None) -> int:
    """The requested batch size, lowered so ``LIVE_MAPS`` of the largest maps per input fit
    ``budget_mb``.

    Parameters
    ----------
    model : keras.Model
    requested : int >= 1
        The batch size asked for (an upper bound).
    budget_mb : float > 0, optional
        Memory for one batch's activation maps; default ``activation_budget_mb(model)``.

    Returns
    -------
    int in [1, requested]
    """
    if budget_mb is None:
        budget_mb = activation_budget_mb(model)
    if requested < 1 or budget_mb <= 0:
        raise ValueError("requested must be >= 1 and budget_mb > 0")
    per_input = largest_map_bytes(model) * LIVE_MAPS
    if per_input == 0:
        return int(requested)
    return int(max(1, min(requested, budget_mb * 2**20 // per_input)))
