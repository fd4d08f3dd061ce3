"""The page's state as a URL query string, and back (no Dash).

A link carries the analysis (model, data folder, layer set, preprocessing and
the analysis key) and the view (layer, summary, projection, colour, the
selected inputs as ranges, the focused input and channel), so a reload or a
teammate on the same server gets the same view back.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

FORM = ("model", "data", "layers", "preprocess")
VIEW = ("layer", "summary", "projection", "colour")


def ranges(indices) -> str:
    """Sorted indices as '0-4,9,12-13'."""
    values = sorted({int(i) for i in indices})
    parts, start = [], None
    for i, value in enumerate(values):
        if start is None:
            start = value
        if i + 1 == len(values) or values[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)


def parse_ranges(text: str) -> list[int]:
    """Inverse of :func:`ranges`; malformed parts are skipped."""
    out = []
    for part in (text or "").split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            out.extend(range(int(low), int(high or low) + 1))
    return sorted(set(out))


def encode(key: str | None, form: dict, view: dict, selection: dict) -> str:
    """'?key=...&model=...' for an analysis key, its form, the view and the selection store."""
    fields = {"key": key or ""}
    fields.update({name: form.get(name) or "" for name in FORM})
    fields.update({name: view.get(name) or "" for name in VIEW})
    fields["inputs"] = ranges(selection.get("inputs") or ())
    for name in ("focus", "channel"):
        fields[name] = "" if selection.get(name) is None else str(selection[name])
    fields["channel_layer"] = selection.get("layer") or ""
    return "?" + urlencode({k: v for k, v in fields.items() if v != ""})


def decode(search: str | None) -> dict:
    """The state in a query string: ``key``, ``form``, ``view`` and ``selection`` (store shape)."""
    query = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}

    def number(name):
        value = query.get(name, "")
        return int(value) if value.isdigit() else None

    return {
        "key": query.get("key"),
        "form": {name: query[name] for name in FORM if name in query},
        "view": {name: query[name] for name in VIEW if name in query},
        "selection": {"inputs": parse_ranges(query.get("inputs", "")), "focus": number("focus"),
                      "channel": number("channel"), "layer": query.get("channel_layer"),
                      "source": "link" if query.get("inputs") or "channel" in query else None},
    }
