"""The eighth findings set (benchmarks/validation/eighth.py): exact rotated copies, from index 50,000 on,
past every image of the fourth and seventh sets (its split: tests/test_fashion_sets.py). No training, no
model loaded."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "validation"))

import eighth  # noqa: E402
import fourth  # noqa: E402
import seventh  # noqa: E402
from tests.helpers import garment_like_images  # noqa: E402

HAS_FASHION = (eighth.FASHION / "train-images-idx3-ubyte.gz").exists()


def test_rotated_variant_is_each_source_turned_90_degrees_counter_clockwise():
    images = garment_like_images(30, seed=1)
    rotated = eighth.rotate(images)
    assert rotated.shape == images.shape and rotated.dtype == np.uint8
    for img, rot in zip(images, rotated):
        np.testing.assert_array_equal(rot, np.rot90(img))
        # counter-clockwise: the source's top row becomes the left column, read bottom to top
        np.testing.assert_array_equal(rot[::-1, 0], img[0])
    np.testing.assert_array_equal(eighth.rotate(eighth.rotate(eighth.rotate(eighth.rotate(images)))), images)
    assert not any(np.array_equal(a, b) for a, b in zip(images, rotated))


def test_class_names_and_super_classes_follow_the_label_order():
    garments = ["Trouser", "Pullover", "Dress", "Sneaker", "Bag"]
    assert list(eighth.GARMENTS) == garments and list(eighth.GARMENTS.values()) == [1, 2, 3, 7, 8]
    assert eighth.CLASS_NAMES == [f"{g}_upright" for g in garments] + [f"{g}_rotated" for g in garments]
    assert [eighth.SUPER_CLASSES[c] for c in eighth.CLASS_NAMES] == ["upright"] * 5 + ["rotated"] * 5
    assert eighth.FIRST_INDEX == 50_000
    assert eighth.DATA.indices == slice(50_000, None)


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
def test_the_fourth_and_seventh_sets_end_below_index_50000_so_no_source_image_is_shared():
    all_labels = eighth.read_idx(eighth.FASHION / "train-labels-idx1-ubyte.gz")
    used = []
    for other in (fourth, seventh):
        assert other.FIRST_INDEX == 40_000 and other.ANALYSED_PER_CLASS + other.TRAIN_PER_CLASS == 500
        for garment in other.GARMENTS.values():
            used.append(other.FIRST_INDEX + np.flatnonzero(all_labels[other.FIRST_INDEX:] == garment)[:500])
    assert max(int(idx.max()) for idx in used) == 45_253 < eighth.FIRST_INDEX
    # and by content: none of the eighth set's upright images is one of theirs
    theirs = {img.tobytes() for other in (fourth, seventh) for part in other.make_split() for img in part[0]}
    (analysed, a_labels), (train, t_labels) = eighth.make_split()
    ours = [img for imgs, labels in ((analysed, a_labels), (train, t_labels)) for img in imgs[labels < 5]]
    assert len(ours) == 2500 and not any(img.tobytes() in theirs for img in ours)
