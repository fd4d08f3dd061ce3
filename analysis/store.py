"""On-disk result cache (diskcache), shared by every worker process.

Results are keyed by a content hash of model, images and settings, so a
repeat analysis is served from disk and any change is a miss.  Each layer's
summaries are stored separately so a view reads only the layer it draws.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import pickle
import zlib

import diskcache
import numpy as np

from analysis.errors import UserError

log = logging.getLogger(__name__)
THUMBS_PER_CHUNK = 256
# What a damaged stored value raises when read back (truncated or overwritten files).
_READ_ERRORS = (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, KeyError,
                AttributeError, ImportError, IndexError, zlib.error, MemoryError)


class CorruptResult(UserError):
    """A stored analysis was damaged; it has been dropped and will be recomputed."""

# Bump when the layout of stored results changes.
FORMAT_VERSION = 1


def open_cache(directory: str, size_limit: int, **settings) -> diskcache.Cache:
    """Open (creating with mode 0700) the result cache in ``directory``.

    Values are pickled by diskcache, so the folder must stay private.
    """
    private_makedirs(directory)
    return diskcache.Cache(directory, size_limit=size_limit, eviction_policy="least-recently-stored",
                           **settings)


def private_makedirs(directory: str) -> None:
    """``os.makedirs`` where every folder it creates (parents too) is mode 0700.

    Folders that already exist are left alone, except ``directory`` itself,
    which is made 0700.
    """
    directory = os.path.abspath(directory)
    missing = []
    path = directory
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        os.chmod(path, 0o700)
    os.chmod(directory, 0o700)


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
    cache.delete(f"damaged/{key}")


def _entry_intact(cache: diskcache.Cache, name: str) -> bool:
    """Whether a stored value is present and, when kept in its own file, whole.

    Cheap (one row and one ``stat``): a truncated or missing value file is
    caught here before anything is unpickled.
    """
    try:
        db_key, raw = cache._disk.put(name)  # diskcache 5.6 internals, pinned
        row = cache._sql("SELECT size, filename FROM Cache WHERE key = ? AND raw = ?",
                         (db_key, raw)).fetchone()
    except Exception:  # internals changed: fall back to presence
        return name in cache
    if row is None:
        return False
    size, filename = row
    if not filename:
        return True
    try:
        return os.path.getsize(os.path.join(cache.directory, filename)) == size
    except OSError:
        return False


def _read(cache: diskcache.Cache, name: str):
    """``cache.get(name)`` that turns an unreadable (damaged) value into CorruptResult."""
    try:
        return cache.get(name)
    except _READ_ERRORS as error:
        raise CorruptResult(f"damaged cache entry {name}: {type(error).__name__}") from error


def drop_analysis(cache: diskcache.Cache, key: str) -> None:
    """Delete every stored part of one analysis (and what was memoised from it)."""
    prefix = _name(key, "")
    for name in list(cache.iterkeys()):
        if isinstance(name, str) and (name.startswith(prefix) or f"/{key}/" in name
                                      or name.endswith(f"/{key}")):
            cache.delete(name)


def _damaged(cache: diskcache.Cache, key: str, what: str) -> CorruptResult:
    log.warning("analysis %s: %s is damaged; dropping the stored result", key, what)
    drop_analysis(cache, key)
    cache.set(f"damaged/{key}", True, expire=86400)
    return CorruptResult("The stored result of this analysis was damaged and has been "
                         "dropped; press Analyse to compute it again.")


def load_meta(cache: diskcache.Cache, key: str) -> dict | None:
    """The meta dict of a complete, intact analysis, or None (missing, evicted or damaged).

    A damaged analysis (a truncated or unreadable part) is dropped, so the
    next run recomputes it; :func:`was_damaged` then tells the page why.
    """
    name = _name(key, "meta")
    if not _entry_intact(cache, name):
        if name in cache:
            _damaged(cache, key, "meta")
        return None
    try:
        meta = _read(cache, name)
    except CorruptResult:
        _damaged(cache, key, "meta")
        return None
    if not isinstance(meta, dict) or "layers" not in meta:
        return None
    # Evicted or truncated parts make the entry unusable; treat as a miss.
    for part in [f"acts/{layer}" for layer in meta["layers"]] + ["probs"]:
        if _name(key, part) not in cache:  # evicted: the rest is useless
            drop_analysis(cache, key)
            return None
        if not _entry_intact(cache, _name(key, part)):
            _damaged(cache, key, part)
            return None
    return meta


def was_damaged(cache: diskcache.Cache, key: str) -> bool:
    """Whether ``key`` was dropped as damaged (and not recomputed since)."""
    return bool(cache.get(f"damaged/{key}"))


def load_layer(cache: diskcache.Cache, key: str, layer: str) -> dict:
    """``{summary: ndarray (N, C)}`` of one layer.

    Raises KeyError if absent, CorruptResult (after dropping the analysis) if
    the stored value cannot be read back.
    """
    try:
        value = _read(cache, _name(key, f"acts/{layer}"))
    except CorruptResult:
        raise _damaged(cache, key, f"layer {layer}") from None
    if value is None:
        raise KeyError(f"No stored activations for layer {layer!r} of analysis {key}.")
    return value


def load_probs(cache: diskcache.Cache, key: str):
    """The model's class probabilities (N, K) or None."""
    try:
        return _read(cache, _name(key, "probs"))
    except CorruptResult:
        raise _damaged(cache, key, "probs") from None


def save_thumbnails(cache: diskcache.Cache, key: str, thumbnails: dict) -> None:
    """Store ``{index: PNG bytes}`` (made by the job) in chunks of THUMBS_PER_CHUNK."""
    chunks: dict[int, dict] = {}
    for index, data in thumbnails.items():
        chunks.setdefault(index // THUMBS_PER_CHUNK, {})[index] = data
    for chunk, values in chunks.items():
        cache.set(_name(key, f"thumbs/{chunk}"), values)


def thumbnail(cache: diskcache.Cache, key: str, index: int) -> bytes | None:
    """PNG bytes of stored input ``index`` (None when absent or damaged): no image decoding."""
    name = _name(key, f"thumbs/{int(index) // THUMBS_PER_CHUNK}")
    try:
        values = _read(cache, name)
    except CorruptResult:
        cache.delete(name)
        return None
    return (values or {}).get(int(index))


def thumbnail_uri(cache: diskcache.Cache, key: str, index: int) -> str:
    """A data URI of stored input ``index``'s thumbnail (a transparent pixel when absent).

    The web process calls this instead of decoding original images.
    """
    from analysis.datasets import png_uri

    return png_uri(thumbnail(cache, key, index))


def remember_fingerprint(cache: diskcache.Cache, stat_fp: str, content_fp: str) -> None:
    """Remember the content hash of a folder/file under its cheap stat fingerprint."""
    cache.set(f"fingerprint/{stat_fp}", content_fp)


def known_fingerprint(cache: diskcache.Cache, stat_fp: str) -> str | None:
    """The content hash remembered for ``stat_fp``, or None."""
    try:
        value = _read(cache, f"fingerprint/{stat_fp}")
    except CorruptResult:
        cache.delete(f"fingerprint/{stat_fp}")
        return None
    return value if isinstance(value, str) else None


@contextlib.contextmanager
def lock(cache: diskcache.Cache, name: str, wait=None):
    """Hold the lock called ``name`` across processes and threads (one holder at a time).

    An ``fcntl`` lock on a file under ``<cache>/locks``: released by the kernel
    when the holder dies, so a killed process never leaves a stale lock.
    ``wait`` (optional) is called about every second while another holds it.
    """
    folder = os.path.join(cache.directory, "locks")
    private_makedirs(folder)
    file_name = hashlib.blake2b(name.encode(), digest_size=12).hexdigest() + ".lock"
    with open(os.path.join(folder, file_name), "a") as handle:
        if wait is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        else:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    wait()
                    time.sleep(1.0)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_memo(cache: diskcache.Cache, name: str):
    try:
        return _read(cache, name)
    except CorruptResult:
        log.warning("memoised %s is damaged; recomputing", name)
        cache.delete(name)
        return None


def memo(cache: diskcache.Cache, name: str, compute, expire=None):
    """Return ``cache[name]``, computing and storing it first when absent or damaged.

    Computed once: sessions (threads or Gunicorn workers) asking for the same
    missing value wait for the first one instead of all computing it at once.
    """
    value = _read_memo(cache, name)
    if value is not None:
        return value
    with lock(cache, "memo:" + name):
        value = _read_memo(cache, name)
        if value is None:
            value = compute()
            cache.set(name, value, expire=expire)
    return value
