"""The fifth findings set (benchmarks/validation/fifth.py): split by source image, exact shrunk copies. No training."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "validation"))

import fifth  # noqa: E402
from tests.helpers import garment_like_images  # noqa: E402

HAS_FASHION = (fifth.FASHION / "train-images-idx3-ubyte.gz").exists()


def _windows_holding_the_shrunk_image(small, full):
    """(row, col) of every 14 x 14 window of ``small`` equal to PIL's bilinear 14 x 14 resize of ``full``,
    with nothing but black outside it."""
    expected = np.asarray(Image.fromarray(full).resize((14, 14), Image.BILINEAR))
    found = []
    for row in range(28 - 14 + 1):
        for col in range(28 - 14 + 1):
            rest = small.copy()
            rest[row:row + 14, col:col + 14] = 0
            if np.array_equal(small[row:row + 14, col:col + 14], expected) and not rest.any():
                found.append((row, col))
    return found


def test_small_variant_is_the_full_image_shrunk_and_pasted_inside_the_frame_at_its_recorded_position():
    images = garment_like_images(40, seed=1)
    small = fifth.shrink(images)
    assert small.shape == images.shape and small.dtype == np.uint8
    positions = []
    for full, shrunk in zip(images, small):
        position = fifth.small_position(full)
        assert _windows_holding_the_shrunk_image(shrunk, full) == [position]
        positions.append(position)
    # drawn per image, over the whole frame, and the same on every call
    assert len(set(positions)) > 20
    assert {r for r, _ in positions} | {c for _, c in positions} <= set(range(15))
    np.testing.assert_array_equal(fifth.shrink(images), small)
    np.testing.assert_array_equal(fifth.shrink(images[::-1]), small[::-1])


def test_class_names_and_super_classes_follow_the_label_order():
    garments = ["T-shirt_top", "Dress", "Coat", "Sneaker", "Shirt"]
    assert list(fifth.GARMENTS) == garments and list(fifth.GARMENTS.values()) == [0, 3, 4, 7, 6]
    assert fifth.CLASS_NAMES == [f"{g}_full" for g in garments] + [f"{g}_small" for g in garments]
    assert [fifth.SUPER_CLASSES[c] for c in fifth.CLASS_NAMES] == ["full"] * 5 + ["small"] * 5
    # none of the fourth set's garments
    assert not set(fifth.GARMENTS.values()) & {1, 2, 5, 8, 9}


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
def test_fifth_splits_shrunk_variant_sits_at_each_sources_recorded_position():
    # The split's index range, sides and first variant: tests/test_fashion_sets.py.
    (analysed, a_labels), _ = fifth.make_split()
    for full, shrunk in zip(analysed[a_labels == 0][:5], analysed[a_labels == 5][:5]):
        assert _windows_holding_the_shrunk_image(shrunk, full) == [fifth.small_position(full)]


def test_committed_model_is_residual_with_ten_batch_normalised_convolutions():
    import keras
    model = keras.saving.load_model(fifth.MODEL_PATH, safe_mode=True)
    assert fifth.MODEL_PATH.stat().st_size < 1_000_000
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, len(fifth.CLASS_NAMES))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 10
    for conv in convs:
        consumers = [node.operation for node in conv._outbound_nodes]
        assert len(consumers) == 1 and isinstance(consumers[0], keras.layers.BatchNormalization)
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) >= 2
    # a projection shortcut: a 1 x 1 conv whose batch norm feeds an Add directly
    projection_bns = [conv._outbound_nodes[0].operation for conv in convs if conv.kernel_size == (1, 1)]
    assert projection_bns and all(isinstance(bn._outbound_nodes[0].operation, keras.layers.Add)
                                  for bn in projection_bns)
    assert model.get_layer("fc1").units in range(64, 97)
