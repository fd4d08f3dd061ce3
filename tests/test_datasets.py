"""Image folders: class discovery, bad files, path confinement, preprocessing."""

import os

import numpy as np
import pytest
from PIL import Image

from analysis import datasets
from analysis.datasets import DatasetError, PathNotAllowed
from tests.conftest import CLASSES, write_image_folder


def test_classes_are_sorted_folders_without_classes_file(image_folder):
    folder = datasets.scan_folder(image_folder)
    assert folder.class_names == sorted(CLASSES)
    assert len(folder) == 15
    assert np.bincount(folder.labels).tolist() == [5, 5, 5]
    assert folder.files[0].startswith("circle" + os.sep)


def test_classes_file_sets_model_output_order(image_folder):
    with open(os.path.join(image_folder, "classes.txt"), "w") as handle:
        handle.write("stripes\ncircle\nsquare\n")
    folder = datasets.scan_folder(image_folder)
    assert folder.class_names == ["stripes", "circle", "square"]
    assert all(f.startswith("stripes") for f, l in zip(folder.files, folder.labels) if l == 0)


def test_classes_file_naming_missing_folder_is_an_error(image_folder):
    with open(os.path.join(image_folder, "classes.txt"), "w") as handle:
        handle.write("circle\nhexagon\n")
    with pytest.raises(DatasetError, match="hexagon"):
        datasets.scan_folder(image_folder)


def test_empty_folder_is_reported(tmp_path):
    with pytest.raises(DatasetError, match="no class sub-folders. It is empty"):
        datasets.scan_folder(str(tmp_path))


def test_images_without_class_folders_are_reported(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    with pytest.raises(DatasetError, match="one sub-folder per class"):
        datasets.scan_folder(str(tmp_path))


def test_class_folders_without_images_are_reported(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="no images"):
        datasets.scan_folder(str(tmp_path))


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        datasets.scan_folder(str(tmp_path / "nope"))


def test_non_image_files_are_skipped_and_counted(image_folder):
    with open(os.path.join(image_folder, "circle", "readme.txt"), "w") as handle:
        handle.write("x")
    folder = datasets.scan_folder(image_folder)
    assert folder.skipped == [os.path.join("circle", "readme.txt")]
    assert len(folder) == 15


def test_corrupt_and_truncated_images_are_flagged_not_fatal(image_folder):
    with open(os.path.join(image_folder, "square", "broken.png"), "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n garbage")
    good = os.path.join(image_folder, "square", "000.png")
    data = open(good, "rb").read()
    with open(os.path.join(image_folder, "square", "cut.png"), "wb") as handle:
        handle.write(data[: len(data) // 2])
    folder = datasets.scan_folder(image_folder)
    batches = datasets.ImageBatches(folder, (16, 16), 3)
    array = batches[0:len(folder)]
    assert array.shape == (17, 16, 16, 3)
    bad_files = sorted(folder.files[i] for i in batches.bad)
    assert bad_files == [os.path.join("square", "broken.png"), os.path.join("square", "cut.png")]
    assert all(array[i].sum() == 0 for i in batches.bad)


def test_grayscale_rgba_and_resize_are_converted(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("L", (10, 20), color=100).save(tmp_path / "a" / "gray.png")
    Image.new("RGBA", (30, 30), color=(10, 20, 30, 255)).save(tmp_path / "a" / "rgba.png")
    folder = datasets.scan_folder(str(tmp_path))
    rgb = datasets.ImageBatches(folder, (8, 8), 3)[0:2]
    assert rgb.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(rgb[0], 100)
    np.testing.assert_allclose(rgb[1][0, 0], [10, 20, 30])
    gray = datasets.ImageBatches(folder, (8, 8), 1)[0:2]
    assert gray.shape == (2, 8, 8, 1)


def test_preprocessing_modes_match_keras_applications_conventions():
    batch = np.full((1, 2, 2, 3), 255.0, np.float32)
    batch[..., 0] = 0.0
    np.testing.assert_allclose(datasets.preprocess(batch, "unit")[0, 0, 0], [0, 1, 1])
    np.testing.assert_allclose(datasets.preprocess(batch, "symmetric")[0, 0, 0], [-1, 1, 1])
    caffe = datasets.preprocess(batch, "caffe")[0, 0, 0]
    np.testing.assert_allclose(caffe, [255 - 103.939, 255 - 116.779, 0 - 123.68], rtol=1e-6)
    import keras
    reference = keras.applications.vgg16.preprocess_input(batch.copy())
    np.testing.assert_allclose(datasets.preprocess(batch, "caffe"), reference, rtol=1e-5)
    torch_ref = keras.applications.densenet.preprocess_input(batch.copy())
    np.testing.assert_allclose(datasets.preprocess(batch, "torch"), torch_ref, rtol=1e-5)
    with pytest.raises(DatasetError, match="allowed"):
        datasets.preprocess(batch, "weird")


def test_paths_outside_roots_are_refused(tmp_path):
    root = tmp_path / "allowed"
    root.mkdir()
    (root / "inside").mkdir()
    assert datasets.confine(str(root / "inside"), [str(root)]) == str((root / "inside").resolve())
    with pytest.raises(PathNotAllowed, match="outside the allowed data roots"):
        datasets.confine(str(tmp_path), [str(root)])
    with pytest.raises(PathNotAllowed):
        datasets.confine(str(root / ".." / "elsewhere"), [str(root)])
    # A sibling whose name starts with the root's name is still outside.
    (tmp_path / "allowed_evil").mkdir()
    with pytest.raises(PathNotAllowed):
        datasets.confine(str(tmp_path / "allowed_evil"), [str(root)])


def test_symlink_escaping_a_root_is_refused(tmp_path):
    root = tmp_path / "allowed"
    root.mkdir()
    outside = tmp_path / "secret"
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(PathNotAllowed):
        datasets.confine(str(root / "link"), [str(root)])


def test_fingerprint_changes_with_content_not_with_rescan(tmp_path):
    root = write_image_folder(tmp_path / "data")
    first = datasets.fingerprint(datasets.scan_folder(root))
    assert datasets.fingerprint(datasets.scan_folder(root)) == first
    Image.new("RGB", (16, 16), color=(1, 2, 3)).save(os.path.join(root, "circle", "000.png"))
    assert datasets.fingerprint(datasets.scan_folder(root)) != first
