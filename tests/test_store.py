"""The result cache: private folders, damaged entries dropped and told, thumbnails, fingerprints."""

import os
import stat

import numpy as np
import pytest

from analysis import store
from tests.helpers import store_synthetic_analysis


def _value_file(cache, name):
    db_key, raw = cache._disk.put(name)
    (filename,) = cache._sql("SELECT filename FROM Cache WHERE key = ? AND raw = ?",
                             (db_key, raw)).fetchone()
    return os.path.join(cache.directory, filename)


def test_cache_folder_and_the_parents_it_creates_are_private(tmp_path):
    cache = store.open_cache(str(tmp_path / "a" / "b" / "results"), 2 ** 20)
    cache.close()
    for folder in ("a", "a/b", "a/b/results"):
        assert stat.S_IMODE(os.stat(tmp_path / folder).st_mode) == 0o700, folder


def test_truncated_layer_is_a_miss_and_marked_damaged(results_cache, tmp_path):
    summary = store_synthetic_analysis(results_cache, str(tmp_path / "data"), write_images=False)
    key = summary["key"]
    assert store.load_meta(results_cache, key) is not None
    path = _value_file(results_cache, store._name(key, "acts/conv_1"))
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    assert store.load_meta(results_cache, key) is None
    assert store.was_damaged(results_cache, key)
    assert store._name(key, "meta") not in results_cache  # dropped, so the next run recomputes


def test_overwritten_layer_raises_corrupt_result_and_drops_it(results_cache, tmp_path):
    summary = store_synthetic_analysis(results_cache, str(tmp_path / "data"), write_images=False)
    key = summary["key"]
    path = _value_file(results_cache, store._name(key, "acts/conv_2"))
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.write(b"\x00" * size)  # same size: only reading it shows the damage
    with pytest.raises(store.CorruptResult, match="press Analyse"):
        store.load_layer(results_cache, key, "conv_2")
    assert store.load_meta(results_cache, key) is None and store.was_damaged(results_cache, key)


def test_damaged_memo_is_recomputed(results_cache):
    big = np.arange(100_000, dtype=np.float32)
    assert store.memo(results_cache, "view/k/x", lambda: big) is not None
    path = _value_file(results_cache, "view/k/x")
    with open(path, "r+b") as handle:
        handle.truncate(10)
    again = store.memo(results_cache, "view/k/x", lambda: big + 1)
    assert again[0] == 1.0


def test_thumbnails_round_trip_without_decoding(results_cache):
    store.save_thumbnails(results_cache, "k", {0: b"\x89PNGa", 300: b"\x89PNGb"})
    assert store.thumbnail(results_cache, "k", 300) == b"\x89PNGb"
    assert store.thumbnail(results_cache, "k", 5) is None
    assert store.thumbnail_uri(results_cache, "k", 5).startswith("data:image/png;base64,")


def test_fingerprints_are_remembered(results_cache):
    assert store.known_fingerprint(results_cache, "stat1") is None
    store.remember_fingerprint(results_cache, "stat1", "content1")
    assert store.known_fingerprint(results_cache, "stat1") == "content1"


def test_every_folder_the_app_creates_under_a_new_cache_dir_is_private(tmp_path):
    from app import create_app
    from app.config import Config

    base = tmp_path / "new" / "deeper"
    create_app(Config(cache_dir=str(base / "cache"), data_dir=str(base / "user"), warm_umap=False))
    from analysis.marks import MarkStore

    MarkStore(str(base / "user" / "marks.sqlite"))
    for folder in (tmp_path / "new", base, base / "cache", base / "cache" / "results",
                   base / "cache" / "jobs", base / "user"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder


def test_memo_computes_once_when_sessions_ask_together(results_cache):
    import threading
    import time as clock

    calls = []

    def compute():
        calls.append(1)
        clock.sleep(0.3)
        return np.arange(3)

    threads = [threading.Thread(target=store.memo, args=(results_cache, "view/k/shared", compute))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert store.memo(results_cache, "view/k/shared", compute).tolist() == [0, 1, 2]
