"""The model's own numbers on the analysed images: accuracy, top-5 accuracy,
per-class accuracy and the confusion matrix (numpy only)."""

from __future__ import annotations

import numpy as np

from analysis.errors import UserError


class AccuracyUnavailable(UserError):
    """The model's predictions cannot be compared with the folder's labels (the reason is the message)."""


def availability(model_classes: int | None, n_classes: int, top_classes) -> str | None:
    """None when the accuracy views apply, else the reason (a sentence for the page)."""
    if top_classes is None or model_classes is None:
        return ("The model has no class output (no classifier head), so there is no accuracy "
                "or confusion matrix to show.")
    if int(model_classes) != int(n_classes):
        return (f"The model has {int(model_classes)} outputs but the folder has {int(n_classes)} "
                "classes, so its predictions cannot be compared with the labels: accuracy and "
                "the confusion matrix are off.")
    return None


def confusion_matrix(labels, predicted, n_classes: int) -> np.ndarray:
    """Counts, shape (n_classes, n_classes): row = true class, column = predicted class."""
    labels = np.asarray(labels, np.int64)
    predicted = np.asarray(predicted, np.int64)
    if labels.shape != predicted.shape:
        raise ValueError("labels and predicted must have the same shape")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes
                        or predicted.min() < 0 or predicted.max() >= n_classes):
        raise ValueError(f"classes must be in 0..{n_classes - 1}")
    return np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes) \
        .reshape(n_classes, n_classes)


def scores(labels, top_classes, n_classes: int) -> dict:
    """Accuracy figures from the stored top-k predictions.

    Parameters
    ----------
    labels : array of int, shape (N,)
    top_classes : array of int, shape (N, k)
        Predicted classes, most likely first (k >= 1; top-5 uses the first 5).
    n_classes : int

    Returns
    -------
    dict
        ``n``, ``accuracy`` (top-1), ``top5`` (top-min(5, k), with ``top_k``),
        ``per_class`` (float array, NaN for a class without images),
        ``counts`` (images per class), ``confusion`` (see
        :func:`confusion_matrix`), ``predicted`` (top-1 per input).
    """
    labels = np.asarray(labels, np.int64)
    top = np.asarray(top_classes, np.int64)
    if top.ndim != 2 or len(top) != len(labels) or top.shape[1] < 1:
        raise ValueError("top_classes must have shape (N, k) with the labels' N and k >= 1")
    if len(labels) == 0:
        raise ValueError("no inputs")
    predicted = top[:, 0]
    top_k = min(5, top.shape[1])
    confusion = confusion_matrix(labels, predicted, n_classes)
    counts = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(counts > 0, np.diag(confusion) / np.maximum(counts, 1), np.nan)
    return {
        "n": int(len(labels)),
        "accuracy": float(np.mean(predicted == labels)),
        "top5": float(np.mean((top[:, :top_k] == labels[:, None]).any(axis=1))),
        "top_k": int(top_k),
        "per_class": per_class,
        "counts": counts,
        "confusion": confusion,
        "predicted": predicted,
    }


def cell_inputs(labels, predicted, true_class: int, predicted_class: int) -> np.ndarray:
    """Indices of the inputs of class ``true_class`` that the model predicted as ``predicted_class``."""
    labels = np.asarray(labels)
    predicted = np.asarray(predicted)
    return np.flatnonzero((labels == int(true_class)) & (predicted == int(predicted_class)))
