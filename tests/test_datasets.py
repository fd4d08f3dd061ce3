"""Image folders: class discovery, bad files, path confinement, preprocessing."""

import os

import numpy as np
import pytest
from PIL import Image

from analysis import datasets
from analysis.datasets import DatasetError, PathNotAllowed
from tests.helpers import CLASSES, write_image_folder


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


def _png_header_only(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` (no pixel data): opens, never decodes."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_decompression_bomb_and_oversized_images_are_skipped_with_a_message(image_folder):
    _png_header_only(os.path.join(image_folder, "circle", "bomb.png"), 20000, 20000)  # 400 Mpx
    _png_header_only(os.path.join(image_folder, "circle", "huge.png"), 10000, 10000)  # 100 Mpx
    folder = datasets.scan_folder(image_folder)
    batches = datasets.ImageBatches(folder, (16, 16), 3)
    array = batches[0:len(folder)]
    assert array.shape[0] == 17 and len(batches.bad) == 2
    messages = {folder.files[i]: text for i, text in batches.bad.items()}
    assert "decompression bomb" in messages[os.path.join("circle", "bomb.png")]
    assert "too large to decode" in messages[os.path.join("circle", "huge.png")]
    good = [i for i in range(len(folder)) if i not in batches.bad]
    assert all(array[i].sum() > 0 for i in good)


def test_large_jpeg_is_decoded_at_reduced_size(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (2400, 1600), color=(200, 100, 50)).save(path, quality=90)
    decoded = datasets.open_scaled(str(path), (32, 32), "RGB")
    assert decoded.width <= 2400 // 8 and decoded.height <= 1600 // 8  # never the full size
    image = datasets.load_image(str(path), (32, 32), 3)
    assert image.shape == (32, 32, 3)
    np.testing.assert_allclose(image[16, 16], [200, 100, 50], atol=3)


def test_sixteen_bit_and_float_images_are_scaled_not_clipped(tmp_path):
    half = np.full((8, 8), 32768, np.uint16)
    Image.fromarray(half).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode.startswith("I")
    image = datasets.load_image(str(tmp_path / "gray16.png"), (8, 8), 1)
    assert abs(float(image.mean()) - 127.5) < 1.0
    Image.fromarray(np.full((8, 8), 0.25, np.float32), "F").save(tmp_path / "unit.tiff")
    assert abs(float(datasets.load_image(str(tmp_path / "unit.tiff"), (8, 8), 1).mean()) - 63.75) < 1.0
    thumbs = []
    datasets.load_image(str(tmp_path / "gray16.png"), (8, 8), 3, thumbs)
    thumb = Image.open(__import__("io").BytesIO(thumbs[0]))
    assert thumb.size == (8, 8) and abs(np.asarray(thumb).mean() - 128) < 1.5


def test_thumbnails_are_made_while_reading_batches(image_folder):
    folder = datasets.scan_folder(image_folder)
    batches = datasets.ImageBatches(folder, (16, 16), 3)
    batches.thumbnails = {}
    batches[0:5]
    assert sorted(batches.thumbnails) == [0, 1, 2, 3, 4]
    assert batches.thumbnails[0].startswith(b"\x89PNG")


def test_links_resolving_outside_the_roots_are_skipped_with_a_message(tmp_path):
    root = tmp_path / "allowed"
    data = write_image_folder(root / "images", per_class=2)
    secret = write_image_folder(tmp_path / "secret", per_class=2)
    os.symlink(os.path.join(secret, "circle"), os.path.join(data, "leaked"))
    os.symlink(os.path.join(secret, "square", "000.png"), os.path.join(data, "circle", "link.png"))
    os.symlink(os.path.join(data, "square", "000.png"), os.path.join(data, "circle", "inside.png"))
    folder = datasets.scan_folder(data, roots=[str(root)])
    assert sorted(folder.outside) == sorted(["leaked", os.path.join("circle", "link.png")])
    assert os.path.join("circle", "inside.png") in folder.files
    assert not any(f.startswith("leaked") for f in folder.files)
    # Without explicit roots the folder itself is the boundary.
    assert "leaked" in datasets.scan_folder(data).outside


def test_refusals_are_in_words_short_and_do_not_list_server_folders(tmp_path):
    root = tmp_path / "allowed"
    root.mkdir()
    with pytest.raises(DatasetError, match="NUL character"):
        datasets.confine(str(root) + "\0x", [str(root)])
    with pytest.raises(DatasetError, match="line break"):
        datasets.confine(str(root) + "\nx", [str(root)])
    long_path = "/" + "a" * 100_000
    with pytest.raises(PathNotAllowed) as refused:
        datasets.confine(long_path, [str(root)])
    message = str(refused.value)
    assert len(message) < 400 and str(root) not in message


def test_stat_fingerprint_is_stable_and_sees_touched_files(tmp_path):
    root = write_image_folder(tmp_path / "data")
    first = datasets.stat_fingerprint(datasets.scan_folder(root))
    assert datasets.stat_fingerprint(datasets.scan_folder(root)) == first
    path = os.path.join(root, "circle", "000.png")
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert datasets.stat_fingerprint(datasets.scan_folder(root)) != first


def test_a_folder_of_splits_is_refused_with_the_split_to_open(tmp_path):
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            os.makedirs(tmp_path / "data" / split / name)
            Image.new("RGB", (4, 4)).save(tmp_path / "data" / split / name / "a.png")
    with pytest.raises(DatasetError, match=r"splits test, train.*open one split, e\.g\. .*train"):
        datasets.scan_folder(str(tmp_path / "data"))
    # Opening a split works; classes that happen to be named like splits, with images, too.
    assert datasets.scan_folder(str(tmp_path / "data" / "train")).class_names == ["cat", "dog"]
    for split in ("train", "test"):
        Image.new("RGB", (4, 4)).save(tmp_path / f"{split}.png")
        os.makedirs(tmp_path / "flat" / split)
        Image.new("RGB", (4, 4)).save(tmp_path / "flat" / split / "a.png")
    assert datasets.scan_folder(str(tmp_path / "flat")).class_names == ["test", "train"]


def test_an_oversized_classes_file_is_refused_without_reading_it_all(tmp_path):
    folder = write_image_folder(tmp_path / "images")
    with open(os.path.join(folder, "classes.txt"), "w") as handle:
        handle.write("circle\n" * (datasets.CLASSES_FILE_LIMIT // 7 + 10))
    with pytest.raises(DatasetError, match="classes.txt is over 1 MB"):
        datasets.scan_folder(folder)
