"""On-disk result cache (diskcache), shared by every worker process.

Results are keyed by a content hash of model, images and settings, so a
repeat analysis is served from disk and any change is a miss.  Each layer's
summaries are stored separately so a view reads only the layer it draws.
"""

from __future__ import annotations

import hashlib
import json
import os

import diskcache
import numpy as np

# Bump when the layout of stored results changes.
FORMAT_VERSION = 1


def open_cache(directory: str, size_limit: int) -> diskcache.Cache:
    """Open (creating with mode 0700) the result cache in ``directory``.

    Values are pickled by diskcache, so the folder must stay private.
    """
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    return diskcache.Cache(directory, size_limit=size_limit, eviction_policy="least-recently-stored")


def analysis_key(model_fingerprint: str, data_fingerprint: str, preprocess: str,
                 layers, summaries, batch_size: int | None = None) -> str:
    """Hex key of one analysis; equal inputs give equal keys.

    ``batch_size`` is deliberately not part of the key: results do not depend on it.
    """
    payload = json.dumps({
        "v": FORMAT_VERSION,
        "model": model_fingerprint,
        "data": data_fingerprint,
        "preprocess": preprocess,
        "layers": layers,
        "summaries": list(summaries),
    }, sort_keys=True)
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def _name(key: str, part: str) -> str:
    return f"analysis/{key}/{part}"


def save_result(cache: diskcache.Cache, key: str, meta: dict, acts: dict, probs) -> None:
    """Store one analysis; the meta entry is written last and marks it complete."""
    for layer, summaries in acts.items():
        cache.set(_name(key, f"acts/{layer}"), {s: np.ascontiguousarray(a) for s, a in summaries.items()})
    cache.set(_name(key, "probs"), probs)
    cache.set(_name(key, "meta"), meta)


def load_meta(cache: diskcache.Cache, key: str) -> dict | None:
    """The meta dict of a complete analysis, or None (missing or evicted)."""
    meta = cache.get(_name(key, "meta"))
    if meta is None:
        return None
    # Evicted parts make the entry unusable; treat as a miss.
    if any(_name(key, f"acts/{layer}") not in cache for layer in meta["layers"]):
        return None
    return meta


def load_layer(cache: diskcache.Cache, key: str, layer: str) -> dict:
    """``{summary: ndarray (N, C)}`` of one layer; KeyError if absent."""
    value = cache.get(_name(key, f"acts/{layer}"))
    if value is None:
        raise KeyError(f"No stored activations for layer {layer!r} of analysis {key}.")
    return value


def load_probs(cache: diskcache.Cache, key: str):
    """The model's class probabilities (N, K) or None."""
    return cache.get(_name(key, "probs"))


def memo(cache: diskcache.Cache, name: str, compute, expire=None):
    """Return ``cache[name]``, computing and storing it first when absent."""
    value = cache.get(name)
    if value is None:
        value = compute()
        cache.set(name, value, expire=expire)
    return value
