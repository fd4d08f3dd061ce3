"""The data against the model: do the folder's classes match the model's outputs?

Pure Python/numpy (no Keras): the pipeline calls it with the model's output size.
"""

from __future__ import annotations

import numpy as np

from analysis.errors import NotEnoughData

# Views that compare the model's own predictions with the folder's labels.
ACCURACY_VIEWS = ("accuracy and top-5 accuracy", "per-class accuracy", "confusion matrix",
                  "ablation (accuracy with channels zeroed)")


def _names(names, limit=5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def class_counts(class_names, labels) -> np.ndarray:
    """Images per class (length ``len(class_names)``)."""
    return np.bincount(np.asarray(labels, np.int64), minlength=len(class_names))[:len(class_names)]


def require_classes(class_names, labels) -> list[str]:
    """The empty classes; raises NotEnoughData if fewer than 2 classes have images."""
    counts = class_counts(class_names, labels)
    empty = [name for name, count in zip(class_names, counts) if count == 0]
    full = [name for name, count in zip(class_names, counts) if count > 0]
    if len(full) < 2:
        which = f"only {full[0]!r} has images" if full else "no class has images"
        raise NotEnoughData(
            f"The folder has {len(class_names)} class folder(s) but {which}; ChannelExplorer compares "
            "classes and needs images in at least 2 of them"
            + (f" (empty: {_names(empty)})." if empty else "."))
    return empty


def compare(class_names, labels, model_classes: int | None) -> dict:
    """How the folder's classes relate to the model's class output.

    Parameters
    ----------
    class_names : list of str
        The folder's classes, in label order.
    labels : array of int
        Label of each (readable) image.
    model_classes : int or None
        Size of the model's 2-D output; None for a headless model (no
        class output: e.g. a conv stack without classifier).

    Returns
    -------
    dict
        ``status``: "match", "mismatch" or "headless"; ``accuracy``: True when
        the accuracy views are meaningful (same number of classes);
        ``model_classes``, ``data_classes``; ``empty_classes`` (names);
        ``views_off`` (names of the views turned off); ``notice``: one
        sentence for the page (None when everything is on and no class is empty).
    """
    empty = require_classes(class_names, labels)
    n = len(class_names)
    if model_classes is None:
        status = "headless"
        why = "The model has no class output (no classifier head)"
    elif int(model_classes) != n:
        status = "mismatch"
        why = (f"The model has {int(model_classes)} outputs but the folder has {n} classes "
               f"({_names(list(class_names))})")
    else:
        status = "match"
    views_off = [] if status == "match" else list(ACCURACY_VIEWS)
    parts = []
    if views_off:
        parts.append(f"{why}, so the views that compare its predictions with the labels are off: "
                     f"{', '.join(views_off)}. The channel views are unaffected.")
    if status == "mismatch" and int(model_classes) > n:
        parts.append("If the folder holds some of the model's classes, give each folder's model "
                     "output in classes.txt (one 'folder index' line per class) to turn them on.")
    if empty:
        parts.append(f"Empty class folder(s), no images: {_names(empty)}.")
    return {
        "status": status,
        "accuracy": status == "match",
        "model_classes": None if model_classes is None else int(model_classes),
        "data_classes": n,
        "empty_classes": empty,
        "views_off": views_off,
        "notice": " ".join(parts) or None,
    }


#: ``order_hint`` speaks when matching the outputs to the folders another way gains this much
#: accuracy and reaches at least ``ORDER_HINT_MIN``.
ORDER_HINT_GAIN = 0.25
ORDER_HINT_MIN = 0.5
#: ... and only with at least this many labelled inputs, and two per class.
ORDER_HINT_MIN_INPUTS = 10


def order_hint(class_names, labels, predicted) -> str | None:
    """A sentence when the model's outputs look like the folder's classes in another order
    (a model trained with other class names or another sort): the one-to-one matching of
    outputs to folders that agrees with most labels (``scipy.optimize.linear_sum_assignment``
    on the confusion matrix) beats the given order by ``ORDER_HINT_GAIN``.  None otherwise.

    ``predicted``: each input's top model output, in the folder's label space (same size)."""
    from scipy.optimize import linear_sum_assignment

    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    n = len(class_names)
    if len(labels) < max(ORDER_HINT_MIN_INPUTS, 2 * n) or n < 2 or predicted.max(initial=0) >= n:
        return None  # too few inputs to tell an order from chance
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    folders, outputs = linear_sum_assignment(-confusion)
    matched = confusion[folders, outputs].sum() / len(labels)
    given = np.trace(confusion) / len(labels)
    if matched < ORDER_HINT_MIN or matched - given < ORDER_HINT_GAIN:
        return None
    order = [class_names[folder] for folder in folders[np.argsort(outputs)]]
    moved = [f"{class_names[f]!r} → output {o}" for f, o in zip(folders, outputs) if f != o]
    return (f"The model is {given:.0%} accurate on these labels but would be {matched:.0%} if its "
            f"outputs were the folder's classes in another order ({_names(moved, 4)}). If it was "
            f"trained with another class order, give it in classes.txt, one folder per line from "
            f"output 0: {_names(order, 10)}.")
