"""Shared fixtures: a tiny real Keras CNN, a small labelled image folder, a temp cache."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = ("circle", "square", "stripes")


def make_image(kind: str, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """A 0..255 RGB image with a planted class pattern plus noise."""
    yy, xx = np.mgrid[:size, :size]
    if kind == "circle":
        mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    elif kind == "square":
        mask = (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)
    else:
        mask = (xx // 2) % 2 == 0
    image = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    image[mask] = 200 + rng.integers(0, 50, (int(mask.sum()), 3)).astype(np.uint8)
    return image


def write_image_folder(root, per_class: int = 5, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        os.makedirs(os.path.join(root, kind), exist_ok=True)
        for i in range(per_class):
            Image.fromarray(make_image(kind, rng)).save(os.path.join(root, kind, f"{i:03d}.png"))
    return str(root)


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


def store_synthetic_analysis(cache, data_dir, n=300, channels=32, n_classes=3, seed=0,
                             layers=("conv_1", "conv_2"), write_images=True):
    """Store an analysis with planted class structure (no Keras), as the job would.

    Class c raises channels [c*4, c*4+4) so ranking and similarity have a known answer.
    Returns the page summary the extraction job would put in the store.
    """
    from analysis import store

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    names = [f"class{c}" for c in range(n_classes)]
    files = [os.path.join(names[label], f"{i:05d}.png") for i, label in enumerate(labels)]
    if write_images:
        for path in files:
            os.makedirs(os.path.join(data_dir, os.path.dirname(path)), exist_ok=True)
        for i, path in enumerate(files[:60]):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                os.path.join(data_dir, path))
    acts = {}
    for depth, layer in enumerate(layers):
        base = rng.gamma(2.0, 1.0, (n, channels)).astype(np.float32)
        for c in range(n_classes):
            base[labels == c, c * 4:(c + 1) * 4] += 3.0 * (depth + 1)
        acts[layer] = {s: base * (1 + i) for i, s in enumerate(("mean", "max", "l2", "p90"))}
        acts[layer]["frac_pos"] = (base > 1).astype(np.float32)
    probs = np.full((n, n_classes), 0.1 / max(n_classes - 1, 1), np.float32)
    probs[np.arange(n), labels] = 0.9
    probs[:5] = np.roll(probs[:5], 1, axis=1)  # five confident mistakes
    top = np.argsort(-probs, axis=1)
    key = f"synthetic{seed}n{n}"
    info = [{"name": "input", "type": "InputLayer", "output_shape": [8, 8, 1], "channels": 1,
             "inbound": [], "extracted": False, "params": 0}]
    parent = "input"
    for layer in layers:
        info.append({"name": layer, "type": "Conv2D", "output_shape": [8, 8, channels],
                     "channels": channels, "inbound": [parent], "extracted": True, "params": 1})
        parent = layer
    meta = {"key": key, "model": "synthetic", "model_ref": ["file", "none"], "data": str(data_dir),
            "model_fingerprint": "model-synthetic", "data_fingerprint": f"data-{seed}-{n}",
            "files": files, "labels": labels, "class_names": names, "layers": list(layers),
            "summaries": ["mean", "max", "l2", "p90", "frac_pos"], "layer_info": info,
            "input_shape": [8, 8, 1], "preprocess": "raw", "top_classes": top[:, :5],
            "top_probs": np.take_along_axis(probs, top[:, :5], axis=1), "skipped": [], "bad": {}}
    store.save_result(cache, key, meta, acts, probs)
    return {"key": key, "n": n, "layers": list(layers), "default_layer": layers[-1],
            "classes": names, "model": "synthetic", "from_cache": False, "seconds": 0.0,
            "skipped": 0, "bad": 0}
