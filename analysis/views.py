"""What each view needs, computed from arrays (no Dash, no Keras, no cache).

``analysis.session.StoredAnalysis`` memoises the costly, selection-independent
products built here, so a selection change only redoes the cheap part.
"""

from __future__ import annotations

import numpy as np

from analysis import jaccard, ranking

MAX_JACCARD_ROWS = 400      # 400 x 400 uint8 = 160 KB on the wire
MAX_HEATMAP_COLUMNS = 300   # columns at least ~2-3 px wide on a laptop, so a click hits one


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


def heatmap_bins(n_shown: int, max_columns: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) positions of each heatmap column: one input each while they fit,
    else ``max_columns`` contiguous bins of nearly equal size."""
    if n_shown <= max_columns:
        edges = np.arange(n_shown + 1)
    else:
        edges = np.unique(np.linspace(0, n_shown, max_columns + 1).round().astype(np.int64))
    return edges[:-1] + start, edges[1:] + start


def zoom_window(window, n: int, max_columns: int, x0: float, x1: float) -> list[int]:
    """The order positions [lo, hi) under a zoom from column ``x0`` to ``x1`` of the current view."""
    lo, hi = window or (0, n)
    starts, stops = heatmap_bins(hi - lo, max_columns, lo)
    first = int(np.clip(np.floor(x0 + 0.5), 0, len(starts) - 1))
    last = int(np.clip(np.ceil(x1 - 0.5), first, len(starts) - 1))
    return [int(starts[first]), int(stops[last])]


def heatmap_data(acts: np.ndarray, labels: np.ndarray, order: np.ndarray, criterion: str,
                 k: int | None, selection=None, max_columns: int = MAX_HEATMAP_COLUMNS,
                 scores=None, window=None) -> dict:
    """Rows (top-k channels by ``criterion``) and columns (inputs, or bins of inputs) of the heatmap.

    Inputs are shown in ``order`` (positions ``window = [lo, hi)`` of it, default all); when
    more than ``max_columns`` are shown, each column is the mean over a contiguous bin of
    inputs, so a column is wide enough to point at; zooming (a narrower window) reveals
    single inputs.  ``scores`` may carry the precomputed scores of a selection-independent
    criterion.

    Returns
    -------
    dict
        ``values`` (K, M) uint8 of the per-channel normalised summary (bin means),
        ``raw`` (K, M) the summaries themselves (bin means), ``channels`` (K,),
        ``scores`` (K,), ``columns`` (M,) first input of each column, ``sizes`` (M,)
        inputs per column, ``column_labels`` (M,) class of that first input,
        ``selected`` (M,) bool (the column holds a selected input), ``window``
        [lo, hi), ``criterion`` actually used (see :func:`usable_criterion`).
    """
    data = heatmap_columns(acts, labels, order, usable_criterion(criterion, labels, selection), k,
                           selection, max_columns, scores, window)
    return dict(data, selected=selected_columns(order, data, selection))


def heatmap_columns(acts: np.ndarray, labels: np.ndarray, order: np.ndarray, criterion: str,
                    k: int | None, selection=None, max_columns: int = MAX_HEATMAP_COLUMNS,
                    scores=None, window=None) -> dict:
    """:func:`heatmap_data` less ``selected``: with a criterion other than "selection" it
    does not depend on the selection, so a view can keep it while the selection changes.

    ``criterion`` must be usable (:func:`usable_criterion`); ``selection`` is read only by
    the "selection" criterion.
    """
    n, c = acts.shape
    if scores is None or criterion == "selection":
        chosen = np.flatnonzero(selected_mask(n, selection)) if criterion == "selection" else None
        scores = channel_scores(acts, labels, criterion, chosen)
    channels = ranking.top_channels(scores, None if not k or k >= c else int(k))
    lo, hi = (0, n) if window is None else (max(0, int(window[0])), min(n, int(window[1])))
    if hi <= lo:
        lo, hi = 0, n
    shown = np.asarray(order)[lo:hi]
    starts, stops = heatmap_bins(len(shown), max_columns)
    sizes = stops - starts
    # Normalise only the cells drawn, with each channel's range over all inputs.
    low, high = acts.min(axis=0)[channels], acts.max(axis=0)[channels]
    span = np.where(high > low, high - low, 1.0)
    raw = acts[np.ix_(shown, channels)]
    if len(starts) < len(shown):  # bins: means over each
        raw = np.add.reduceat(raw, starts, axis=0) / sizes[:, None]
    values, _, _ = ranking.quantise_uint8(((raw - low) / span).T, 0.0, 1.0)
    columns = shown[starts]
    return {"values": values, "raw": raw.T.astype(np.float32), "channels": channels,
            "scores": scores[channels], "columns": columns, "sizes": sizes,
            "column_labels": np.asarray(labels)[columns], "window": [lo, hi],
            "criterion": criterion}


def selected_columns(order: np.ndarray, columns: dict, selection) -> np.ndarray:
    """Bool (M,): the heatmap columns of :func:`heatmap_columns` holding a selected input."""
    lo, hi = columns["window"]
    shown = np.asarray(order)[lo:hi]
    mask = selected_mask(len(order), selection)[shown]
    sizes = np.asarray(columns["sizes"])
    if len(sizes) == len(shown):
        return mask
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.add.reduceat(mask.astype(np.int64), starts) > 0


def channel_count(session, layer: str, summary: str) -> int:
    """Channels of a layer of a ``StoredAnalysis``, memoised (counting reads the whole layer)."""
    return int(session.memo(("channels", layer, summary), lambda: session.channels(layer, summary)))


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


def channel_details(session, layer: str, summary: str, channel: int) -> dict:
    """One channel's values over every input, its 9 top inputs and their thumbnails;
    memoised per channel, so a new focus or selection reads 200 KB instead of the layer."""
    def compute():
        values = np.ascontiguousarray(session.acts(layer, summary)[:, channel])
        top = top_inputs(values, 9)
        return {"values": values, "top": top, "thumbnails": [session.thumbnail(i) for i in top]}

    return session.memo(("channel", layer, summary, channel), compute)


def stored_heatmap_columns(session, layer, summary, criterion, k, inputs, window) -> dict:
    """``heatmap_data`` of a ``StoredAnalysis``; what does not depend on the selection
    (every criterion but "selection") is memoised per layer, summary, criterion, k and window,
    so a selection change only recomputes which columns hold selected inputs."""
    order = session.heatmap_order(layer, summary)
    if criterion == "selection":  # every row depends on the selection: needs the summaries
        # One summary memoised on its own: the stored layer holds every summary (4x the reading).
        acts = session.memo(("summary", layer, summary), lambda: session.acts(layer, summary))
        return heatmap_data(acts, session.labels, order, criterion, k, inputs, window=window)
    shown = "all" if window is None else f"{int(window[0])}-{int(window[1])}"
    columns = session.memo(
        ("heatmap", layer, summary, criterion, int(k or 0), MAX_HEATMAP_COLUMNS, shown),
        lambda: heatmap_columns(session.acts(layer, summary), session.labels, order, criterion, k,
                                scores=session.static_scores(layer, summary, criterion), window=window))
    return dict(columns, selected=selected_columns(order, columns, inputs))
