"""The unimportant-channel table: flags combined into rows, explained and exported.

:func:`unimportant_table` combines the flags of :mod:`analysis.channels` into
table rows, :func:`explain` says in one line per reason which figure triggered
it, and :func:`table_csv` exports the rows of every layer.
"""

from __future__ import annotations

import csv
import io
from typing import Mapping, Sequence

import numpy as np

from analysis.channels import (REASON_WEIGHTS, _active_share, _as_2d, _check_unit, _cv, _redundancy,
                               border_channels, relative_strength, weak_channels)
from analysis.contribution import relative_contribution

__all__ = ["unimportant_table", "explain", "apply_check", "table_csv", "CSV_COLUMNS"]


def _num(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def unimportant_table(acts_max=None, acts_mean=None, border=None, *, border_expected: float | None = None,
                      redundancy=None, eps: float = 1e-6, max_active_share: float = 0.01,
                      weak_threshold: float | None = 0.05, cv_threshold: float = 0.05,
                      border_factor: float = 2.0, border_min_share: float = 0.6,
                      redundancy_threshold: float | None = 0.98, band: float = 0.15,
                      energy=None, out_norms=None, contribution_threshold: float | None = None,
                      channel_names: Sequence[str] | None = None) -> list[dict]:
    """Flagged channels of one layer as table rows, most unimportant first.

    Parameters
    ----------
    acts_max : ndarray of float, shape (N, C), optional
        Per-input max activation (dead channels).
    acts_mean : ndarray of float, shape (N, C), optional
        Per-input mean activation (weak and always-on channels; redundancy
        when ``redundancy`` is not given).
    border : ndarray of float, shape (C,), optional
        :func:`border_scores` output (border channels).
    redundancy : (redundant, partner, correlation), optional
        From :func:`map_redundancy` (judged on full maps); used instead of
        correlating the stored summaries.
    weak_threshold : float or None, default 0.05
        :func:`weak_channels` threshold; None turns the weak test off.
    redundancy_threshold : float or None, default 0.98
        Threshold for redundancy on the stored summaries when ``redundancy``
        is None; None turns that test off (spatial means mislead: see
        :func:`map_redundancy`).
    band : float, default 0.15
        Only used to word the border explanation.
    energy : ndarray of float, shape (N, C), optional
        Per-input activation energy (e.g. L2 norm of the map) for the
        contribution test; ``acts_mean`` is used when None.
    out_norms : ndarray of float, shape (C,), optional
        Norm of each channel's outgoing weights
        (:func:`analysis.contribution.outgoing_norms`); without it there is no
        contribution test.
    contribution_threshold : float or None, default None
        Flag channels (not already dead or weak) whose
        :func:`relative_contribution` is below this; None turns the test off.
    border_expected, eps, max_active_share, cv_threshold, border_factor, border_min_share
        Passed to the individual detectors.
    channel_names : sequence of str, length C, optional

    Returns
    -------
    list of dict
        Only flagged channels: ``channel`` int, ``name`` str, ``reasons``
        list of str (subset of :data:`REASON_WEIGHTS`' keys), ``score`` float
        (sum of :data:`REASON_WEIGHTS`; a ranking heuristic, not a
        probability), JSON-safe figures ``active_share``, ``relative_mean``,
        ``relative_contribution``,
        ``cv``, ``border_share``, ``border_expected``, ``partner``,
        ``correlation`` (None when unknown), ``redundancy_on`` ("maps",
        "summaries" or None) and ``explanation`` (list of str, one line per
        reason, see :func:`explain`).  Sorted by score descending, then channel.
    """
    arrays = {k: _as_2d(k, v) for k, v in (("acts_max", acts_max), ("acts_mean", acts_mean)) if v is not None}
    if border is not None:
        arrays["border"] = np.asarray(border, dtype=np.float64).reshape(1, -1)
    if energy is not None:
        arrays["energy"] = _as_2d("energy", energy)
    if out_norms is not None:
        arrays["out_norms"] = np.asarray(out_norms, dtype=np.float64).reshape(1, -1)
    if redundancy is not None:
        arrays["redundancy"] = np.asarray(redundancy[0]).reshape(1, -1)
    if not arrays:
        raise ValueError("pass at least one of acts_max, acts_mean, border, redundancy")
    widths = {k: v.shape[1] for k, v in arrays.items()}
    if len(set(widths.values())) != 1:
        raise ValueError(f"inputs disagree on the number of channels C: {widths}")
    c = next(iter(widths.values()))
    names = [str(i) for i in range(c)] if channel_names is None else [str(x) for x in channel_names]
    if len(names) != c:
        raise ValueError(f"channel_names must have C={c} entries, got {len(names)}")

    nan = np.full(c, np.nan)
    reasons = {k: np.zeros(c, dtype=bool) for k in REASON_WEIGHTS}
    share, rel, cv, bshare, partner, corr, contrib = nan, nan, nan, nan, np.full(c, -1), nan, nan
    redundancy_on = None
    if "acts_max" in arrays:
        share = _active_share(arrays["acts_max"], None, eps)
        reasons["dead"] = share <= _check_unit("max_active_share", max_active_share)
    if "acts_mean" in arrays:
        mean, cv = _cv(arrays["acts_mean"], eps)
        reasons["always_on"] = (mean > eps) & (cv < cv_threshold) & ~reasons["dead"]
        rel = relative_strength(arrays["acts_mean"], eps)
        if weak_threshold is not None:
            reasons["weak"] = weak_channels(arrays["acts_mean"], weak_threshold, eps) & ~reasons["dead"]
    if redundancy is not None:
        reasons["redundant"] = np.asarray(redundancy[0], dtype=bool).copy()
        partner = np.asarray(redundancy[1], dtype=np.int64)
        corr = np.asarray(redundancy[2], dtype=np.float64)
        redundancy_on = "maps"
    elif redundancy_threshold is not None:
        red_src = arrays.get("acts_mean", arrays.get("acts_max"))
        if red_src is not None and red_src.shape[0] >= 2:
            reasons["redundant"], partner, corr = _redundancy(
                red_src, _check_unit("redundancy_threshold", redundancy_threshold, low_open=True))
            redundancy_on = "summaries"
    source = arrays.get("energy", arrays.get("acts_mean"))
    if "out_norms" in arrays and source is not None:
        contrib = relative_contribution(source, arrays["out_norms"][0], eps)
        if contribution_threshold is not None:
            limit = _check_unit("contribution_threshold", contribution_threshold, low_open=True)
            with np.errstate(invalid="ignore"):
                reasons["low_contribution"] = (np.nan_to_num(contrib, nan=np.inf) < limit) & ~(
                    reasons["dead"] | reasons["weak"])
    # A dead or weak channel is flagged for that already; as a "copy" it only adds noise.
    reasons["redundant"] &= ~(reasons["dead"] | reasons["weak"])
    if border is not None:
        bshare = arrays["border"][0]
        reasons["border"] = border_channels(bshare, border_expected, border_factor, border_min_share, band)
    expected = None if border is None else (border_expected if border_expected is not None else
                                            1.0 - (1.0 - 2.0 * band) ** 2)

    score = sum(REASON_WEIGHTS[k] * reasons[k] for k in REASON_WEIGHTS)
    rows = []
    for ch in np.flatnonzero(score > 0):
        row = {"channel": int(ch), "name": names[ch], "reasons": [k for k in REASON_WEIGHTS if reasons[k][ch]],
               "score": float(score[ch]), "active_share": _num(share[ch]), "relative_mean": _num(rel[ch]),
               "relative_contribution": _num(contrib[ch]),
               "cv": _num(cv[ch]), "border_share": _num(bshare[ch]),
               "border_expected": None if expected is None else float(expected),
               "partner": int(partner[ch]) if reasons["redundant"][ch] else None,
               "correlation": _num(corr[ch]) if reasons["redundant"][ch] else None,
               "redundancy_on": redundancy_on if reasons["redundant"][ch] else None}
        row["explanation"] = explain(row, band)
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"], r["channel"]))
    return rows


def _pct(x: float) -> str:
    """A share as a percentage with as many decimals as it needs (0.1%, 2%, 82%)."""
    pct = 100.0 * x
    return f"{pct:.1f}%" if 0 < pct < 10 and abs(pct - round(pct)) > 0.05 else f"{pct:.0f}%"


def explain(row: Mapping, band: float = 0.15) -> list[str]:
    """One line per reason of a :func:`unimportant_table` row, with the figure that triggered it.

    E.g. ``"dead: active on 0.3% of inputs"``, ``"redundant: corr 0.998 with
    ch 5 on full maps"``, ``"border-attending: 82% of its mass in the outer 15%
    band (49% of the map)"``.
    """
    lines = []
    for reason in row["reasons"]:
        if reason == "dead":
            lines.append(f"dead: active on {_pct(row['active_share'] or 0.0)} of inputs")
        elif reason == "weak":
            lines.append(f"weak: mean activation {_pct(row['relative_mean'] or 0.0)} of the layer's median channel")
        elif reason == "low_contribution":
            lines.append(f"low contribution: {_pct(row['relative_contribution'] or 0.0)} of the layer's median "
                         "channel (activation x outgoing weights)")
        elif reason == "always_on":
            lines.append(f"always on: varies by {_pct(row['cv'] or 0.0)} (CV) across inputs")
        elif reason == "redundant":
            where = "full maps" if row.get("redundancy_on") == "maps" else "stored means"
            corr = row["correlation"]
            lines.append(f"redundant: corr {corr:.3f} with ch {row['partner']} on {where}" if corr is not None
                         else f"redundant: copies ch {row['partner']}")
        elif reason == "border":
            area = row.get("border_expected")
            lines.append(f"border-attending: {_pct(row['border_share'] or 0.0)} of its mass in the outer "
                         f"{_pct(band)} band" + (f" ({_pct(area)} of the map)" if area is not None else ""))
        else:
            lines.append(reason)
    return lines


def _drop_text(drop: float, n_images: int) -> str:
    images = int(round(drop * n_images))
    return f"{images} of {n_images} inputs" if images >= 0 else f"{-images} of {n_images} inputs fewer wrong"


def apply_check(rows: Sequence[Mapping], check: Mapping, relative_contribution=None) -> list[dict]:
    """The rows of one layer with the ablation check's verdict (``removal.verify_layer``).

    Each flagged row gets ``checked`` (True: kept for removal; False: left out,
    with what removing it alone cost) and one more explanation line; channels
    the check added (the layer had no flag) become rows of reason ``removable``.
    """
    n = int(check["n_images"])
    kept = set(check["kept_zeroed"]) | {int(c) for c in check["kept_merged"]}
    verdict = None
    if kept:
        verdict = (f"ablation check: removing the layer's {len(kept)} kept channel"
                   f"{'s' if len(kept) > 1 else ''} together cost {_drop_text(check['drop'], n)}; "
                   f"as many random ones cost {check['random_drop'] * n:.1f} on average")
    out = []
    for row in rows:
        row = dict(row, explanation=list(row.get("explanation") or explain(row)))
        if row["channel"] in check["left_out"]:
            row["checked"] = False
            row["explanation"].append("left out by the ablation check: removing it alone cost "
                                      + _drop_text(check["left_out"][row["channel"]], n))
        elif row["channel"] in kept:
            row["checked"] = True
            row["explanation"].append(verdict)
        out.append(row)
    for channel in check.get("added", []):
        contrib = None if relative_contribution is None else _num(relative_contribution[channel])
        row = {"channel": int(channel), "name": str(channel), "reasons": ["removable"], "score": 0.0,
               "active_share": None, "relative_mean": None, "relative_contribution": contrib, "cv": None,
               "border_share": None, "border_expected": None, "partner": None, "correlation": None,
               "redundancy_on": None, "checked": True}
        row["explanation"] = [f"removable: among the layer's lowest contributions"
                              + (f" ({_pct(contrib)} of its median channel)" if contrib is not None else ""),
                              verdict]
        out.append(row)
    return out


CSV_COLUMNS = ("layer", "channel", "reasons", "active_share", "relative_mean", "cv", "border_share",
               "partner", "correlation", "relative_contribution", "checked", "explanation")


def table_csv(rows_by_layer: Mapping[str, Sequence[Mapping]]) -> str:
    """CSV text of flagged channels: layer, channel, reasons, figures, explanation.

    Parameters
    ----------
    rows_by_layer : dict[str, list of dict]
        Layer -> :func:`unimportant_table` rows.

    Returns
    -------
    str
        Header plus one line per flagged channel; reasons joined by ``;``,
        explanation lines by `` | ``; unknown figures are empty.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for layer, rows in rows_by_layer.items():
        for row in rows:
            figures = ["" if row.get(k) is None else (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k])
                       for k in CSV_COLUMNS[3:11]]
            lines = row.get("explanation") or explain(row)
            writer.writerow([layer, row["channel"], ";".join(row["reasons"]), *figures, " | ".join(lines)])
    return out.getvalue()
