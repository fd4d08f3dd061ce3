"""The seventh findings set (benchmarks/validation/seventh.py): exact inverted copies, its classes and
index range (its split: tests/test_fashion_sets.py). No training, no model loaded."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "validation"))

import fourth  # noqa: E402
import seventh  # noqa: E402
from tests.helpers import garment_like_images  # noqa: E402


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
