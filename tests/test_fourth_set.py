"""The fourth findings set (benchmarks/validation/fourth.py): split by source image, exact flips. No training."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "validation"))

import build  # noqa: E402
import fourth  # noqa: E402


def _tagged_images(labels):
    """One image per label whose pixels (0, 0) and (0, 1) hold its index; rows differ so a flip shows."""
    n = len(labels)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, :, :] = np.arange(28, dtype=np.uint8)[None, :, None] * 9
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    return images


def _sources(images):
    return set((images[:, 0, 0].astype(int) * 256 + images[:, 0, 1]).tolist())


def test_split_by_source_keeps_each_source_image_on_one_side_in_both_variants():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 9000)
    images = _tagged_images(labels)
    sources = list(fourth.GARMENTS.values())
    (analysed, a_labels), (train, t_labels) = build.split_by_source(images, labels, sources, fourth.VARIANTS, 200, 300)
    n = len(sources)
    assert np.bincount(a_labels).tolist() == [200] * 2 * n
    assert np.bincount(t_labels).tolist() == [300] * 2 * n
    up_a, up_t = analysed[a_labels < n], train[t_labels < n]
    assert not _sources(up_a) & _sources(up_t)
    # each side's sources are the first 200 / next 300 of each garment, in index order
    for i, source in enumerate(sources):
        idx = np.flatnonzero(labels == source)
        assert sorted(_sources(analysed[a_labels == i])) == idx[:200].tolist()
        assert sorted(_sources(train[t_labels == i])) == idx[200:500].tolist()
    # class i + n is the same source images as class i, flipped upside down
    for part, part_labels in ((analysed, a_labels), (train, t_labels)):
        for i in range(n):
            up, flipped = part[part_labels == i], part[part_labels == i + n]
            np.testing.assert_array_equal(flipped, up[:, ::-1, :])
            assert not np.array_equal(flipped, up)


def test_class_names_and_super_classes_follow_the_label_order():
    assert fourth.CLASS_NAMES[:5] == [f"{g}_up" for g in fourth.GARMENTS]
    assert fourth.CLASS_NAMES[5:] == [f"{g}_flip" for g in fourth.GARMENTS]
    assert [fourth.SUPER_CLASSES[c] for c in fourth.CLASS_NAMES] == ["up"] * 5 + ["flip"] * 5


@pytest.mark.skipif(not (fourth.FASHION / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fourth_split_shares_no_image_between_analysed_and_training_sides():
    (analysed, a_labels), (train, t_labels) = fourth.make_split()
    assert analysed.dtype == np.uint8 and analysed.shape == (2000, 28, 28) and train.shape == (3000, 28, 28)
    assert np.bincount(a_labels).tolist() == [200] * 10 and np.bincount(t_labels).tolist() == [300] * 10
    for i in range(5):
        np.testing.assert_array_equal(analysed[a_labels == i + 5], np.flip(analysed[a_labels == i], axis=1))
    # the sources come from index 40,000 on, in each garment's index order
    all_labels = fourth.read_idx(fourth.FASHION / "train-labels-idx1-ubyte.gz")
    all_images = fourth.read_idx(fourth.FASHION / "train-images-idx3-ubyte.gz")
    first = np.flatnonzero(all_labels[fourth.FIRST_INDEX:] == fourth.GARMENTS["Trouser"])[0] + fourth.FIRST_INDEX
    np.testing.assert_array_equal(analysed[0], all_images[first])
    seen = {img.tobytes() for img in train}
    assert not any(img.tobytes() in seen for img in analysed)
