"""The full-scale demo folder: written once from Debian's Fashion-MNIST into the cache folder."""

import os

import numpy as np
import pytest

from analysis import datasets, fulldemo
from app.config import Config, from_args, resolve_demo

pytestmark = pytest.mark.skipif(not os.path.isdir(fulldemo.SOURCE),
                                reason="needs Debian's dataset-fashion-mnist (.ci/run installs it)")


def test_full_demo_writes_the_test_split_by_class_once(tmp_path):
    folder = fulldemo.ensure_full_demo(str(tmp_path), limit=60)
    assert folder.startswith(str(tmp_path))
    scanned = datasets.scan_folder(folder)
    assert len(scanned) == 60
    assert list(scanned.class_names) == list(fulldemo.CLASSES)
    labels = fulldemo.read_idx(os.path.join(fulldemo.SOURCE, fulldemo.TEST_LABELS))[:60]
    by_index = {int(os.path.basename(f)[:5]): label for f, label in zip(scanned.files, scanned.labels)}
    assert [by_index[i] for i in range(60)] == labels.tolist()
    first = os.path.join(folder, scanned.files[0])
    stamp = os.stat(first).st_mtime_ns
    assert fulldemo.ensure_full_demo(str(tmp_path), limit=60) == folder  # found, not rewritten
    assert os.stat(first).st_mtime_ns == stamp
    assert not [n for n in os.listdir(os.path.dirname(folder)) if n.startswith(".building")]


def test_images_are_the_unmodified_28_by_28_test_images(tmp_path):
    from PIL import Image

    folder = fulldemo.ensure_full_demo(str(tmp_path), limit=5)
    images = fulldemo.read_idx(os.path.join(fulldemo.SOURCE, fulldemo.TEST_IMAGES))
    path = next(os.path.join(root, f) for root, _, files in os.walk(folder)
                for f in files if f == "00003.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), images[3])


def test_demo_full_flag_builds_all_10000_images_into_the_cache_folder(tmp_path):
    config = resolve_demo(from_args(["--demo", "full", "--cache-dir", str(tmp_path)], environ={}))
    assert config.data == fulldemo.full_demo_dir(str(tmp_path))
    scanned = datasets.scan_folder(config.data)
    assert len(scanned) == 10_000
    assert np.bincount(scanned.labels).tolist() == [1000] * 10
    # A folder chosen by the user wins over the demo setting.
    mine = resolve_demo(Config(demo="full", data=str(tmp_path), cache_dir=str(tmp_path)))
    assert mine.data == str(tmp_path)
