"""What each view needs, computed from arrays (no Dash, no Keras, no cache).

``analysis.session.StoredAnalysis`` memoises the costly, selection-independent
products built here, so a selection change only redoes the cheap part.
"""

from __future__ import annotations

import numpy as np

from analysis import jaccard, ranking

MAX_JACCARD_ROWS = 400      # 400 x 400 uint8 = 160 KB on the wire
MAX_HEATMAP_COLUMNS = 600   # K x 600 uint8


def colour_groups(session, layer: str, summary: str, mode: str):
    """(group per input, group names) for colouring the scatterplot of a ``StoredAnalysis``."""
    names = list(session.class_names)
    pred = session.predicted
    if mode == "predicted" and pred is not None:
        extra = [f"class {i}" for i in range(len(names), int(pred.max()) + 1)]
        return pred, names + extra
    if mode == "correct" and pred is not None:
        return (pred != session.labels).astype(int), ["correct", "wrong"]
    if mode == "cluster":
        groups = session.clusters(layer, summary)
        return groups, [f"cluster {i}" for i in range(int(groups.max()) + 1)]
    return session.labels, names


def clusters(acts: np.ndarray, k: int) -> np.ndarray:
    """k-means cluster (int, (N,)) of each input's normalised summaries."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits
    x = jaccard.normalise(acts)
    with threadpool_limits(1):
        return KMeans(n_clusters=max(1, min(max(2, k), len(x))), n_init=4,
                      random_state=0).fit_predict(x)


def jaccard_data(acts: np.ndarray, labels: np.ndarray, n_classes: int, rule: str,
                 value: float) -> dict:
    """Class-grouped, block-reduced Jaccard matrix and the class-by-class matrix.

    Parameters
    ----------
    acts : ndarray of shape (N, C)
    labels : ndarray of shape (N,), int

    Returns
    -------
    dict
        ``blocks`` (B, B) uint8 (Jaccard x 255), ``block_of_input`` (N,),
        ``block_labels`` (B,) majority class per display row, ``classes`` (K, K)
        float32, ``rows_per_block`` float.
    """
    labels = np.asarray(labels)
    active = jaccard.activated_sets(acts, rule, value)
    order = jaccard.class_order(labels, active)
    blocks, block_of_input = jaccard.jaccard_blocks(active, order, MAX_JACCARD_ROWS)
    n_blocks = len(blocks)
    counts = np.zeros((n_blocks, n_classes), np.int32)
    np.add.at(counts, (block_of_input, labels), 1)
    quantised, _, _ = ranking.quantise_uint8(blocks, 0.0, 1.0)
    return {
        "blocks": quantised,
        "block_of_input": block_of_input.astype(np.int32),
        "block_labels": counts.argmax(axis=1),
        "classes": jaccard.class_jaccard(active, labels, n_classes),
        "rows_per_block": len(labels) / n_blocks,
    }


def hover_texts(files, labels, class_names, top_classes=None, top_probs=None) -> list:
    """Per input: index, file name, label and the model's top prediction."""
    texts = []
    for i, (path, label) in enumerate(zip(files, labels)):
        text = f"#{i} {path}<br>label: {class_names[label]}"
        if top_classes is not None:
            predicted = int(top_classes[i, 0])
            name = class_names[predicted] if predicted < len(class_names) else f"class {predicted}"
            text += f"<br>predicted: {name} ({top_probs[i, 0]:.0%})"
        texts.append(text)
    return texts


def selected_mask(n: int, selection) -> np.ndarray:
    """Bool (n,) from a list of input indices (out-of-range ones ignored)."""
    mask = np.zeros(n, bool)
    if selection:
        indices = np.asarray(selection, dtype=np.int64)
        mask[indices[(indices >= 0) & (indices < n)]] = True
    return mask


def inputs_of_classes(labels, classes) -> list[int]:
    """Input indices whose label is one of ``classes``."""
    return np.flatnonzero(np.isin(np.asarray(labels), list(classes))).tolist()


def selected_blocks(block_of_input: np.ndarray, n_blocks: int, selection) -> np.ndarray | None:
    """Bool (n_blocks,): display rows holding a selected input; None without a selection."""
    if not selection:
        return None
    chosen = np.zeros(n_blocks, bool)
    chosen[block_of_input[selected_mask(len(block_of_input), selection)]] = True
    return chosen


def inputs_in_blocks(block_of_input: np.ndarray, blocks) -> list[int]:
    """Input indices whose display row is one of ``blocks``."""
    return np.flatnonzero(np.isin(block_of_input, np.asarray(blocks, dtype=np.int64))).tolist()


def heatmap_order(acts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Inputs grouped by class, similar inputs adjacent."""
    return jaccard.class_order(np.asarray(labels), jaccard.normalise(acts))


def channel_scores(acts, labels, criterion, selection=None) -> np.ndarray:
    """``ranking.channel_scores`` with NaN as 0 and infinities made finite (for JSON)."""
    scores = ranking.channel_scores(acts, labels, criterion, selection)
    return np.nan_to_num(scores, nan=0.0, posinf=np.finfo(np.float32).max,
                         neginf=-np.finfo(np.float32).max)


def usable_criterion(criterion: str, labels, selection=None) -> str:
    """``criterion``, or what the heatmap falls back to when it cannot be computed here.

    "selection" needs some but not all of at least 3 inputs selected (else F);
    F needs two classes with members and more inputs than classes (else variance).
    """
    labels = np.asarray(labels)
    n = len(labels)
    if criterion == "selection":
        chosen = int(selected_mask(n, selection).sum())
        if n >= 3 and 0 < chosen < n:
            return criterion
        criterion = "f_stat"
    if criterion == "f_stat":
        k = len(np.unique(labels))
        if k < 2 or n <= k:
            return "variance"
    return criterion


def heatmap_data(acts: np.ndarray, labels: np.ndarray, order: np.ndarray, criterion: str,
                 k: int | None, selection=None, max_columns: int = MAX_HEATMAP_COLUMNS,
                 scores=None) -> dict:
    """Rows (top-k channels by ``criterion``) and columns (inputs) of the heatmap.

    ``scores`` may carry the precomputed scores of a selection-independent criterion.

    Returns
    -------
    dict
        ``values`` (K, M) uint8 of the per-channel normalised summary, ``raw`` (K, M)
        the summaries themselves,
        ``channels`` (K,), ``scores`` (K,), ``columns`` (M,) input indices,
        ``column_labels`` (M,), ``selected`` (M,) bool, ``criterion`` actually
        used (see :func:`usable_criterion`).
    """
    n, c = acts.shape
    mask = selected_mask(n, selection)
    criterion = usable_criterion(criterion, labels, selection)
    if scores is None or criterion == "selection":
        scores = channel_scores(acts, labels, criterion,
                                np.flatnonzero(mask) if criterion == "selection" else None)
    channels = ranking.top_channels(scores, None if not k or k >= c else int(k))
    keep = np.flatnonzero(mask) if mask.any() else None
    columns = ranking.choose_columns(order, max_columns, keep)
    # Normalise only the cells drawn, with each channel's range over all inputs.
    lo, hi = acts.min(axis=0)[channels], acts.max(axis=0)[channels]
    span = np.where(hi > lo, hi - lo, 1.0)
    normalised = (acts[np.ix_(columns, channels)] - lo) / span
    values, _, _ = ranking.quantise_uint8(normalised.T, 0.0, 1.0)
    return {"values": values, "raw": acts[np.ix_(columns, channels)].T, "channels": channels,
            "scores": scores[channels],
            "columns": columns, "column_labels": np.asarray(labels)[columns],
            "selected": mask[columns], "criterion": criterion}


def top_inputs(values: np.ndarray, k: int = 9) -> np.ndarray:
    """Indices of the k largest values, descending."""
    k = min(k, len(values))
    top = np.argpartition(-values, k - 1)[:k]
    return top[np.argsort(-values[top], kind="stable")]


def selection_summary(labels, class_names, selection) -> str:
    """'N selected: a Coat, b Shirt, ...' (largest classes first)."""
    if not selection:
        return "No selection — lasso points, drag along the Jaccard diagonal or click a cell."
    labels = np.asarray(labels)
    mask = selected_mask(len(labels), selection)
    counts = np.bincount(labels[mask], minlength=len(class_names))
    parts = [f"{counts[i]} {class_names[i]}" for i in np.argsort(-counts, kind="stable")
             if counts[i]]
    shown = ", ".join(parts[:6]) + (f", +{len(parts) - 6} classes" if len(parts) > 6 else "")
    return f"{int(mask.sum()):,} of {len(labels):,} inputs selected: {shown}"
