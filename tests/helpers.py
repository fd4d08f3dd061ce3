"""Test helpers: synthetic images and analyses, and waits on the page (import from here).

Fixtures stay in conftest.py; the app-in-a-process for browser tests is in
tests/browser.py.
"""

from __future__ import annotations

import os
import time

import numpy as np
from PIL import Image

from layouts import ids

CLASSES = ("circle", "square", "stripes")


def pattern_mask(kind: str, size: int = 16) -> np.ndarray:
    """Where ``make_image`` plants the bright pattern of class ``kind``, (size, size) bool."""
    yy, xx = np.mgrid[:size, :size]
    if kind == "circle":
        return (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    if kind == "square":
        return (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)
    return (xx // 2) % 2 == 0


def make_image(kind: str, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """A 0..255 RGB image with a planted class pattern plus noise."""
    mask = pattern_mask(kind, size)
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



def store_synthetic_analysis(cache, data_dir, n=300, channels=32, n_classes=3, seed=0,
                             layers=("conv_1", "conv_2"), write_images=True, nonnegative=None):
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
    key = f"synthetic{seed}n{n}" + ("signed" if nonnegative is not None else "")
    info = [{"name": "input", "type": "InputLayer", "output_shape": [8, 8, 1], "channels": 1,
             "inbound": [], "extracted": False, "params": 0}]
    parent = "input"
    for layer in layers:
        info.append({"name": layer, "type": "Conv2D", "output_shape": [8, 8, channels],
                     "channels": channels, "inbound": [parent], "extracted": True, "params": 1})
        if nonnegative is not None:  # {layer: bool}, as analyses made since session 8 record it
            info[-1]["nonnegative"] = bool(nonnegative[layer])
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


POINTS_JS = """
const gd = document.querySelector('#%s .js-plotly-plot');
if (!gd || !gd._fullData) return -1;
// Plotly 7 keeps base64-encoded arrays in gd.data; _length is the decoded count.
return gd._fullData.reduce((n, t) => n + (t._length || 0), 0);
""" % ids.SCATTER


def text_of(browser, element_id):
    return browser.driver.execute_script(
        f"const e = document.getElementById('{element_id}'); return e ? e.innerText : null;")


def wait_for_analysis(browser, timeout=180):
    """Poll the progress text until the job is done; returns every text seen."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = text_of(browser, ids.PROGRESS_TEXT) or ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if text.startswith("Done"):
            return seen
        alert = browser.driver.execute_script(
            f"const e = document.getElementById('{ids.ALERT}'); return (!e || e.hidden) ? '' : e.innerText;")
        assert not alert, f"alert shown: {alert}"
        time.sleep(0.1)
    raise AssertionError(f"analysis did not finish; progress seen: {seen}")


def wait_for_points(browser, expected, timeout=150):
    """Number of points drawn in the scatterplot once it reaches ``expected`` (or timeout)."""
    deadline = time.time() + timeout
    points = -1
    while time.time() < deadline and points != expected:
        points = browser.driver.execute_script(POINTS_JS)
        time.sleep(0.2)
    return points


def numpy_summaries(maps: np.ndarray) -> dict:
    """Reference per-channel summaries of full maps (N, *positions, C)."""
    flat = maps.reshape(len(maps), -1, maps.shape[-1])
    return {
        "mean": flat.mean(axis=1),
        "max": flat.max(axis=1),
        "l2": np.sqrt((flat.astype(np.float64) ** 2).sum(axis=1)),
        "p90": np.percentile(flat, 90, axis=1),
        "frac_pos": (flat > 0).mean(axis=1),
    }


def wait_until(predicate, timeout=90, message="condition"):
    """Poll ``predicate`` every 0.25 s until it returns something truthy, and return that.

    ``message`` (text, or a callable giving text at the time of failure) names
    what was awaited in the AssertionError raised after ``timeout`` seconds.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {message() if callable(message) else message}")


def garment_like_images(n, seed):
    """n distinct noisy garment-like 28 x 28 uint8 images: a bright rectangle of random size and
    place over noise (for the findings sets' split tests)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for img in images:
        top, left = rng.integers(0, 10, 2)
        img[top:top + rng.integers(8, 18), left:left + rng.integers(8, 18)] += 200
    return images


PATTERN_SIZE = 16  # make_image's default side


def templates() -> np.ndarray:
    """Zero-mean, unit-norm masks of the planted patterns, shape (PATTERN_SIZE, PATTERN_SIZE, classes)."""
    out = np.stack([m.astype(np.float32) - m.mean()
                    for m in (pattern_mask(kind, PATTERN_SIZE) for kind in CLASSES)], axis=-1)
    return out / np.linalg.norm(out.reshape(-1, len(CLASSES)), axis=0)


def matched_filter(keras, expects: str, rescaling: bool = False):
    """A hand-set classifier of the planted patterns for pixels in 0..1 (``expects="unit"``)
    or 0..255 (``"raw"``; or 0..255 scaled by its own Rescaling layer):
    ``relu(0.6 - brightness)`` lights the background (and nothing at all when pixels are
    far larger than expected), then one matched filter per class."""
    layers = keras.layers
    x = inp = keras.Input((PATTERN_SIZE, PATTERN_SIZE, 3), name="image")
    if rescaling:
        x = layers.Rescaling(1 / 255.0, name="scale")(x)
    x = layers.Conv2D(1, 1, activation="relu", name="background")(x)
    x = layers.Conv2D(3, PATTERN_SIZE, name="match")(x)
    out = layers.Activation("softmax", name="probs")(layers.Flatten(name="flat")(x))
    model = keras.Model(inp, out)
    scale = 255.0 if expects == "raw" and not rescaling else 1.0
    model.get_layer("background").set_weights([np.full((1, 1, 3, 1), -1 / (3 * scale), np.float32),
                                               np.array([0.6], np.float32)])
    model.get_layer("match").set_weights([-templates()[:, :, None, :], np.zeros(3, np.float32)])
    return model


def small_classifier(keras, units: int, activation, head: str, seed: int):
    """A seeded Rescaling -> Conv2D ``conv`` (4 ReLU channels) -> ``gap`` -> Dense ``head`` model on
    16 x 16 RGB images of 0..255 (``make_image``'s), with ``units`` outputs."""
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Rescaling(1 / 255.0, name="scale")(inp)
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, layers.Dense(units, activation=activation, name=head)(x))
