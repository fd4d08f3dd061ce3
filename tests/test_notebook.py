"""Notebook entry: an in-memory model saved under its content hash, arrays as a folder, the app
served from its own process."""

import os
import urllib.request

import numpy as np
import pytest

from app import notebook
from analysis import datasets


def small_model(keras, seed):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(3, 3, name="conv")(inp)
    out = keras.layers.Dense(2, activation="softmax", name="out")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out)


def test_model_saved_once_under_its_content_hash(keras_mod, tmp_path):
    model = small_model(keras_mod, 1)
    path = notebook.save_model(model, str(tmp_path))
    assert os.path.basename(path) == f"{notebook.model_hash(model)}.keras"
    stamp = os.stat(path).st_mtime_ns
    assert notebook.save_model(model, str(tmp_path)) == path and os.stat(path).st_mtime_ns == stamp
    other = small_model(keras_mod, 2)  # same architecture, other weights: another file
    assert notebook.save_model(other, str(tmp_path)) != path
    loaded = keras_mod.saving.load_model(path, compile=False, safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-5)


def test_arrays_become_a_class_folder_in_label_order(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 8, 8, 1), dtype=np.uint8)
    labels = np.array([1, 0, 1, 0, 1, 1])
    root = notebook.write_arrays(images, labels, ["zebra", "ant/bee"], str(tmp_path))
    folder = datasets.scan_folder(root)
    assert folder.class_names == ["zebra", "ant_bee"]  # given order kept, names made safe
    assert sorted(folder.labels.tolist()) == sorted(labels.tolist())
    first = datasets.load_image(os.path.join(root, folder.files[0]), (8, 8), 1)
    index = int(os.path.basename(folder.files[0])[:6])
    np.testing.assert_array_equal(first[..., 0], images[index, ..., 0])
    assert notebook.write_arrays(images, labels, ["zebra", "ant/bee"], str(tmp_path)) == root
    with pytest.raises(ValueError, match="labels"):
        notebook.write_arrays(images, labels[:3], ["a", "b"], str(tmp_path))


def test_show_serves_the_app_from_its_own_process(keras_mod, tmp_path):
    model = small_model(keras_mod, 3)
    images = np.random.default_rng(1).integers(0, 256, (8, 8, 8), dtype=np.uint8)
    running = notebook.show(model, images=images, labels=np.arange(8) % 2, class_names=["a", "b"],
                            mode="external", cache_dir=str(tmp_path), args=["--no-warm-umap", "--no-autorun"])
    try:
        with urllib.request.urlopen(running.url, timeout=10) as response:
            assert b"ChannelExplorer" in response.read()
        assert "<iframe" in running._repr_html_()
    finally:
        running.stop()
    assert running.process.poll() is not None
