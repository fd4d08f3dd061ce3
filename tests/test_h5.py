"""Legacy .h5 models: the config is checked without Keras before loading (CVE-2025-9905)."""

import json
import os

import h5py
import numpy as np
import pytest

from analysis import extraction, h5check, pipeline
from analysis.errors import ExtractionError
from analysis.pipeline import AnalysisError, Request


def save_h5(model, path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that HDF5 is a legacy format
        model.save(str(path))
    return str(path)


def plain_cnn(keras):
    layers = keras.layers
    keras.utils.set_random_seed(11)
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="out")(x), name="legacy")


def test_builtin_h5_model_loads_and_extracts(keras_mod, tmp_path, tiny_images):
    model = plain_cnn(keras_mod)
    path = save_h5(model, tmp_path / "legacy.h5")
    loaded = extraction.load_model_file(path)
    np.testing.assert_allclose(loaded.predict_on_batch(tiny_images), model.predict_on_batch(tiny_images),
                               rtol=1e-5, atol=1e-6)
    assert extraction.conv_dense_layers(loaded) == ["conv", "out"]


def test_lambda_trap_in_h5_never_fires(keras_mod, tmp_path, image_folder):
    keras = keras_mod
    marker = tmp_path / "pwned"
    inp = keras.Input((16, 16, 3), name="image")
    # Creates `marker` whenever it runs: building the model runs it once, so remove it after saving.
    touch = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # the path inside the code
    trap = keras.layers.Lambda(touch, name="trap")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(trap)
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(x))
    path = save_h5(model, tmp_path / "trap.h5")
    os.remove(marker)

    roots = [str(tmp_path), image_folder]
    with pytest.raises(AnalysisError, match=r"layer 'trap' is a Lambda layer") as caught:
        pipeline.run(Request(model=path, data=image_folder), data_roots=roots, model_roots=roots,
                     cache=_cache(tmp_path), n_threads=1)
    assert "CVE-2025-9905" in str(caught.value)
    assert not marker.exists()
    with pytest.raises(ExtractionError, match="trap"):
        extraction.load_model_file(path)
    assert not marker.exists()

    # The trap is real: loaded by Keras without the guard (safe_mode off, or a Keras
    # version affected by CVE-2025-9905), the stored code runs.
    try:
        keras.saving.load_model(path, compile=False, safe_mode=False)
    except Exception:  # noqa: BLE001 (only the side effect matters here)
        pass
    assert marker.exists()


def _cache(tmp_path):
    from analysis.store import open_cache
    return open_cache(str(tmp_path / "cache"), 2 ** 30)


def _with_layer(config, layer):
    config = json.loads(json.dumps(config))
    config["config"]["layers"].append(layer)
    return config


def test_custom_and_registered_classes_are_refused(keras_mod, tmp_path):
    path = save_h5(plain_cnn(keras_mod), tmp_path / "ok.h5")
    config = h5check.check_h5(path)
    custom = {"class_name": "MyLayer", "config": {"name": "mine"}, "inbound_nodes": []}
    with pytest.raises(ExtractionError, match=r"layer 'mine' has class 'MyLayer'"):
        h5check.check_model_config(_with_layer(config, custom))
    registered = {"class_name": "Dense", "module": "my_package.layers", "config": {"name": "fake_dense"}}
    with pytest.raises(ExtractionError, match="fake_dense"):
        h5check.check_model_config(_with_layer(config, registered))
    custom_activation = {"class_name": "Dense", "config": {"name": "dense_x", "activation": {
        "module": "builtins", "class_name": "function", "config": "evil", "registered_name": "function"}}}
    with pytest.raises(ExtractionError, match=r"layer 'dense_x' uses 'function' from builtins"):
        h5check.check_model_config(_with_layer(config, custom_activation))
    nested = {"class_name": "Functional", "config": {"name": "inner", "layers": [
        {"class_name": "Lambda", "config": {"name": "hidden_lambda"}}]}}
    with pytest.raises(ExtractionError, match="hidden_lambda"):
        h5check.check_model_config(_with_layer(config, nested))

    # The file itself: a Lambda planted in the stored JSON is found before Keras reads the file.
    planted = tmp_path / "planted.h5"
    with h5py.File(path, "r") as source, h5py.File(planted, "w") as target:
        for key, value in source.attrs.items():
            target.attrs[key] = value
        for key in source:
            source.copy(key, target)
        lam = {"class_name": "Lambda", "config": {"name": "sneaky", "function": ["AAAA", None, None]}}
        target.attrs["model_config"] = json.dumps(_with_layer(config, lam))
    with pytest.raises(ExtractionError, match="'sneaky' is a Lambda"):
        extraction.load_model_file(str(planted))
