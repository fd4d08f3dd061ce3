"""The sixth findings set (benchmarks/validation/sixth.py): split by source image, exact blurred copies. No training."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "validation"))

import sixth  # noqa: E402
from tests.helpers import garment_like_images  # noqa: E402

HAS_FASHION = (sixth.FASHION / "train-images-idx3-ubyte.gz").exists()


def _pil_blur(image):
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=1.5)))


def test_blurred_variant_is_pils_gaussian_blur_of_radius_1_5_of_its_source_and_differs_from_it():
    images = garment_like_images(30, seed=1)
    blurred = sixth.blur(images)
    assert blurred.shape == images.shape and blurred.dtype == np.uint8
    for sharp, soft in zip(images, blurred):
        np.testing.assert_array_equal(soft, _pil_blur(sharp))
        assert not np.array_equal(soft, sharp)
        # a blur smooths: neighbouring pixels differ less than in the source
        assert np.abs(np.diff(soft.astype(int), axis=1)).mean() < np.abs(np.diff(sharp.astype(int), axis=1)).mean()
    # deterministic, image by image
    np.testing.assert_array_equal(sixth.blur(images), blurred)
    np.testing.assert_array_equal(sixth.blur(images[::-1]), blurred[::-1])


def test_class_names_and_super_classes_follow_the_label_order():
    garments = ["Trouser", "Pullover", "Sandal", "Bag", "Ankle_boot"]
    assert list(sixth.GARMENTS) == garments and list(sixth.GARMENTS.values()) == [1, 2, 5, 8, 9]
    assert sixth.CLASS_NAMES == [f"{g}_sharp" for g in garments] + [f"{g}_blurred" for g in garments]
    assert [sixth.SUPER_CLASSES[c] for c in sixth.CLASS_NAMES] == ["sharp"] * 5 + ["blurred"] * 5
    assert sixth.STOP_INDEX == 40_000



@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
def test_sixth_splits_blurred_variant_is_pils_blur_of_each_source():
    # The split's index range, sides and blurred copies: tests/test_fashion_sets.py.
    (analysed, a_labels), _ = sixth.make_split()
    for sharp, soft in zip(analysed[a_labels == 0][:5], analysed[a_labels == 5][:5]):
        np.testing.assert_array_equal(soft, _pil_blur(sharp))
        assert not np.array_equal(soft, sharp)


def test_committed_model_is_mobilenet_style_with_ten_batch_normalised_relu6_convolutions():
    import keras
    model = keras.saving.load_model(sixth.MODEL_PATH, safe_mode=True)
    assert sixth.MODEL_PATH.stat().st_size < 1_000_000
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, len(sixth.CLASS_NAMES))
    convs = [layer for layer in model.layers
             if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]
    assert len(convs) == 10
    assert sum(isinstance(conv, keras.layers.DepthwiseConv2D) for conv in convs) == 4
    for conv in convs:
        consumers = [node.operation for node in conv._outbound_nodes]
        assert len(consumers) == 1 and isinstance(consumers[0], keras.layers.BatchNormalization)
        after_bn = [node.operation for node in consumers[0]._outbound_nodes]
        assert len(after_bn) == 1 and isinstance(after_bn[0], keras.layers.ReLU)
        assert after_bn[0].max_value == 6.0
    assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert model.get_layer("fc1").units in range(64, 81)
