"""The seventh findings set (benchmarks/validation/seventh.py): split by source image, exact inverted copies.
No training, no model loaded."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "validation"))

import build  # noqa: E402
import fourth  # noqa: E402
import seventh  # noqa: E402
from tests.helpers import garment_like_images  # noqa: E402

HAS_FASHION = (seventh.FASHION / "train-images-idx3-ubyte.gz").exists()


def test_inverted_variant_is_255_minus_each_pixel_of_its_source():
    images = garment_like_images(30, seed=1)
    inverted = seventh.invert(images)
    assert inverted.shape == images.shape and inverted.dtype == np.uint8
    np.testing.assert_array_equal(inverted.astype(int), 255 - images.astype(int))
    np.testing.assert_array_equal(seventh.invert(inverted), images)
    assert not any(np.array_equal(a, b) for a, b in zip(images, inverted))


def test_class_names_and_super_classes_follow_the_label_order():
    garments = ["T-shirt_top", "Dress", "Coat", "Sneaker", "Shirt"]
    assert list(seventh.GARMENTS) == garments and list(seventh.GARMENTS.values()) == [0, 3, 4, 7, 6]
    assert seventh.CLASS_NAMES == [f"{g}_plain" for g in garments] + [f"{g}_inverted" for g in garments]
    assert [seventh.SUPER_CLASSES[c] for c in seventh.CLASS_NAMES] == ["plain"] * 5 + ["inverted"] * 5
    assert seventh.FIRST_INDEX == 40_000
    # the other garments at 40,000 and up are the fourth set's
    assert not set(seventh.GARMENTS.values()) & set(fourth.GARMENTS.values())


def test_data_folder_follows_its_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CHANNELEXPLORER_SEVENTH_DIR", str(tmp_path / "seven"))
    assert seventh.data_dir() == tmp_path / "seven"
    monkeypatch.delenv("CHANNELEXPLORER_SEVENTH_DIR")
    assert seventh.data_dir() == Path.home() / ".cache" / "channelexplorer" / "seventh-fashion"


def test_split_by_source_keeps_each_source_image_on_one_side_in_both_variants():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 6000)
    images = garment_like_images(len(labels), seed=2)
    index_of = {img.tobytes(): i for i, img in enumerate(images)}
    sources = list(seventh.GARMENTS.values())
    (analysed, a_labels), (train, t_labels) = build.split_by_source(images, labels, sources, seventh.VARIANTS,
                                                                    200, 300)
    assert np.bincount(a_labels).tolist() == [200] * 10 and np.bincount(t_labels).tolist() == [300] * 10
    for i, source in enumerate(sources):
        idx = np.flatnonzero(labels == source)
        assert [index_of[img.tobytes()] for img in analysed[a_labels == i]] == idx[:200].tolist()
        assert [index_of[img.tobytes()] for img in train[t_labels == i]] == idx[200:500].tolist()
        np.testing.assert_array_equal(analysed[a_labels == i + 5], seventh.invert(analysed[a_labels == i]))
        np.testing.assert_array_equal(train[t_labels == i + 5], seventh.invert(train[t_labels == i]))


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
def test_seventh_split_draws_from_index_40000_on_and_shares_no_image_between_sides():
    (analysed, a_labels), (train, t_labels) = seventh.make_split()
    assert analysed.dtype == np.uint8 and analysed.shape == (2000, 28, 28) and train.shape == (3000, 28, 28)
    assert np.bincount(a_labels).tolist() == [200] * 10 and np.bincount(t_labels).tolist() == [300] * 10
    all_labels = seventh.read_idx(seventh.FASHION / "train-labels-idx1-ubyte.gz")
    all_images = seventh.read_idx(seventh.FASHION / "train-images-idx3-ubyte.gz")
    for i, garment in enumerate(seventh.GARMENTS.values()):
        idx = seventh.FIRST_INDEX + np.flatnonzero(all_labels[seventh.FIRST_INDEX:] == garment)
        np.testing.assert_array_equal(analysed[a_labels == i], all_images[idx[:200]])
        np.testing.assert_array_equal(train[t_labels == i], all_images[idx[200:500]])
        np.testing.assert_array_equal(analysed[a_labels == i + 5], 255 - all_images[idx[:200]])
        np.testing.assert_array_equal(train[t_labels == i + 5], 255 - all_images[idx[200:500]])
    seen = {img.tobytes() for img in train}
    assert not any(img.tobytes() in seen for img in analysed)
