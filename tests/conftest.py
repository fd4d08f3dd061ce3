"""Shared fixtures: a tiny real Keras CNN, a small labelled image folder, a temp cache.

Helper functions live in tests/helpers.py (import them from there, never from here).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.helpers import CLASSES, make_image, write_image_folder

pytest_plugins = ["tests.services"]  # redis-server, Celery worker, the `manager` fixture

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def keras_mod():
    import keras
    return keras


@pytest.fixture(scope="session")
def tiny_cnn(keras_mod):
    """A small functional CNN with every layer type extraction must serve."""
    keras = keras_mod
    from keras import layers
    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", name="conv_a")(inp)
    x = layers.BatchNormalization(name="bn_a")(x)
    x = layers.Activation("relu", name="relu_a")(x)
    y = layers.Conv2D(8, 1, name="conv_b")(x)
    added = layers.Add(name="add")([x, y])
    z = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_c")(added)
    cat = layers.Concatenate(name="concat")([added, z])
    pooled = layers.MaxPooling2D(2, name="pool")(cat)
    seq = layers.Reshape((8, 8 * 12), name="as_sequence")(pooled)
    c1 = layers.Conv1D(5, 3, padding="same", name="conv1d")(seq)
    vol = layers.Reshape((8, 8, 12, 1), name="as_volume")(pooled)
    c3 = layers.Conv3D(3, 3, padding="same", name="conv3d")(vol)
    gap = layers.GlobalAveragePooling2D(name="gap")(pooled)
    flat1 = layers.Flatten(name="flat1d")(c1)
    flat3 = layers.GlobalAveragePooling3D(name="gap3d")(c3)
    merged = layers.Concatenate(name="merge")([gap, flat1, flat3])
    dense = layers.Dense(6, activation="relu", name="dense")(merged)
    out = layers.Dense(len(CLASSES), activation="softmax", name="predictions")(dense)
    model = keras.Model(inp, out, name="tiny")
    # Make BatchNorm non-trivial at inference.
    bn = model.get_layer("bn_a")
    bn.moving_mean.assign(np.linspace(-0.5, 0.5, 8).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 8).astype("float32"))
    return model


@pytest.fixture(scope="session")
def tiny_images():
    rng = np.random.default_rng(3)
    return np.stack([make_image(CLASSES[i % 3], rng) for i in range(37)]).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_model_file(tiny_cnn, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    tiny_cnn.save(path)
    return str(path)


@pytest.fixture()
def image_folder(tmp_path):
    return write_image_folder(tmp_path / "images")


@pytest.fixture()
def results_cache(tmp_path):
    from analysis.store import open_cache
    cache = open_cache(str(tmp_path / "cache"), 2 ** 30)
    yield cache
    cache.close()


def pytest_setup_options():
    """Chromium flags for a closed network (no background connections)."""
    from selenium.webdriver.chrome.options import Options
    options = Options()
    for flag in ("--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000"):
        options.add_argument(flag)
    return options
