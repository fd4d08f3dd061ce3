"""Lean model building and loading (analysis/weights.py): the same weights and predictions
as Keras's own loader, bit for bit, and no full-size temporary copy of the weights."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from analysis import models, weight_files, weights

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "demo" / "model" / "fashion_vgg.keras"


def assert_same_model(lean, reference, images):
    """Every variable bit-identical (same order, shapes, dtypes) and identical predictions.

    (Paths may differ in a uniquifying suffix: ``seed_generator_1`` for a second model. A
    Dropout's seed-generator state is not stored: two loads by Keras differ there too.)"""
    assert len(lean.variables) == len(reference.variables)
    for mine, theirs in zip(lean.variables, reference.variables):
        if "seed_generator" in mine.path:
            continue
        a, b = np.asarray(mine.numpy()), np.asarray(theirs.numpy())
        assert a.dtype == b.dtype and a.shape == b.shape, mine.path
        assert a.tobytes() == b.tobytes(), f"{mine.path} differs"
    np.testing.assert_array_equal(np.asarray(lean.predict_on_batch(images)),
                                  np.asarray(reference.predict_on_batch(images)))


def keras_load(keras, path):
    return keras.saving.load_model(str(path), compile=False, safe_mode=True)


def test_demo_model_loads_bit_identical_to_keras(keras_mod):
    lean = weight_files.load_keras_file(str(DEMO_MODEL), fallback=False)
    reference = keras_load(keras_mod, DEMO_MODEL)
    images = np.random.default_rng(0).uniform(0, 1, (4,) + tuple(reference.input_shape[1:]))
    assert_same_model(lean, reference, images.astype(np.float32))


def test_functional_model_with_batchnorm_loads_bit_identical(keras_mod, tiny_model_file, tiny_images):
    lean = weight_files.load_keras_file(tiny_model_file, fallback=False)
    assert_same_model(lean, keras_load(keras_mod, tiny_model_file), tiny_images[:5])


def test_sequential_model_loads_bit_identical(keras_mod, tmp_path, tiny_images):
    keras = keras_mod
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(6, 3, name="c"),
                              keras.layers.Flatten(), keras.layers.Dense(4, name="d")])
    path = tmp_path / "seq.keras"
    model.save(path)
    lean = models.load_model_file(str(path))
    assert_same_model(lean, keras_load(keras, path), tiny_images[:3])
    assert_same_model(lean, model, tiny_images[:3])


def test_nested_transfer_model_loads_bit_identical(keras_mod, tmp_path):
    keras = keras_mod
    keras.utils.set_random_seed(2)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base(inp, training=False))
    model = keras.Model(inp, keras.layers.Dense(5, activation="softmax", name="head")(x))
    # Non-trivial BatchNorm statistics, so that a moving variance left at its initial value shows.
    for variable in model.non_trainable_variables:
        variable.assign(np.random.default_rng(1).uniform(0.5, 2, variable.shape).astype("float32"))
    path = tmp_path / "transfer.keras"
    model.save(path)
    images = np.random.default_rng(4).normal(size=(3, 32, 32, 3)).astype(np.float32)
    lean = weight_files.load_keras_file(str(path), fallback=False)
    assert_same_model(lean, keras_load(keras, path), images)


def test_h5_file_loads_identical_to_keras(keras_mod, tmp_path, tiny_images):
    import warnings

    keras = keras_mod
    keras.utils.set_random_seed(11)
    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(inp))
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(x))
    path = str(tmp_path / "legacy.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that HDF5 is a legacy format
        model.save(path)
    assert_same_model(models.load_model_file(path), keras_load(keras, path), tiny_images[:3])


def test_random_application_builds_seeded_from_keras_initializer_distributions(keras_mod):
    first, mode = models.load_application("mobilenet_v2:random")
    second, _ = models.load_application("mobilenet_v2:random")
    assert mode == "symmetric"
    for a, b in zip(first.variables, second.variables):
        assert np.array_equal(a.numpy(), b.numpy()), a.path  # seeded: the same model twice
    kernel = first.get_layer("predictions").kernel.numpy()  # Dense 1280 -> 1000, Glorot-uniform
    limit = np.sqrt(6 / (1280 + 1000))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.01 * limit
    assert not first.get_layer("predictions").bias.numpy().any()  # zeros
    gamma = first.get_layer("bn_Conv1").gamma.numpy()
    assert np.array_equal(gamma, np.ones_like(gamma))
    out = first.predict_on_batch(np.zeros((1, 224, 224, 3), np.float32))
    assert np.isfinite(out).all() and np.allclose(out.sum(), 1, atol=1e-4)


def test_truncated_and_normal_initializers_follow_their_distribution(keras_mod):
    keras = keras_mod

    def build():
        inp = keras.Input((300,))
        x = keras.layers.Dense(400, kernel_initializer="he_normal", name="he")(inp)
        y = keras.layers.Dense(400, kernel_initializer=keras.initializers.RandomNormal(1.0, 0.5),
                               bias_initializer=keras.initializers.Constant(0.25), name="rn")(x)
        return keras.Model(inp, y)

    model = weights.build_lean(build, random_state=3)
    he = model.get_layer("he").kernel.numpy()
    stddev = np.sqrt(2 / 300) / 0.87962566103423978
    assert np.abs(he).max() <= 2 * stddev  # truncated at two standard deviations
    assert abs(he.std() - np.sqrt(2 / 300)) < 0.02 * np.sqrt(2 / 300)
    rn = model.get_layer("rn")
    assert abs(rn.kernel.numpy().mean() - 1.0) < 0.01 and abs(rn.kernel.numpy().std() - 0.5) < 0.01
    assert np.array_equal(rn.bias.numpy(), np.full(400, 0.25, np.float32))


def test_random_weights_do_not_depend_on_the_number_of_drawing_threads(keras_mod, monkeypatch):
    keras = keras_mod

    def build():
        inp = keras.Input((64,))
        return keras.Model(inp, keras.layers.Dense(300, name="wide")(inp))

    monkeypatch.setattr(weights, "CHUNK_BYTES", 300 * 4 * 7)  # 7 rows of 300 per slice: 10 slices
    kernels = []
    for threads in (1, 3):
        with weights.lean_variables() as scope:
            model = build()
        weights.fill_initial_values(scope, random_state=5, threads=threads)
        kernels.append(model.get_layer("wide").kernel.numpy())
    assert np.array_equal(kernels[0], kernels[1])
    assert len(np.unique(kernels[0][:7])) == 7 * 300  # slices are not copies of each other
    assert not np.array_equal(kernels[0][:7], kernels[0][7:14])


def test_lean_scope_is_restored_and_leaves_other_threads_alone(keras_mod):
    keras = keras_mod
    from keras.src.backend.tensorflow.core import Variable

    before = dict(Variable.__dict__)
    other = {}

    def build_elsewhere():
        layer = keras.layers.Dense(50, kernel_initializer="ones")
        layer.build((None, 20))
        other["kernel"] = layer.kernel.numpy()

    with weights.lean_variables() as scope:
        thread = threading.Thread(target=build_elsewhere)
        thread.start()
        thread.join()
        mine = keras.layers.Dense(50, kernel_initializer="ones")
        mine.build((None, 20))
    assert np.array_equal(other["kernel"], np.ones((20, 50), np.float32))  # Keras's own build
    assert not mine.kernel.numpy().any()  # zeros until filled
    assert len(scope.pending) == 2  # kernel and bias of this thread's layer
    weights.fill_initial_values(scope)
    assert np.array_equal(mine.kernel.numpy(), np.ones((20, 50), np.float32))
    assert dict(Variable.__dict__) == before


def test_unsafe_keras_file_is_still_refused(keras_mod, tmp_path):
    keras = keras_mod
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2, name="trap")(inp))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(Exception, match="(?i)lambda|unsafe|safe_mode"):
        weight_files.load_keras_file(str(path), fallback=False)
    with pytest.raises(models.ExtractionError):
        models.load_model_file(str(path))


MEMORY_SCRIPT = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, sys.argv[1])
import numpy as np, keras
from analysis import weight_files, weights

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024

def reset():
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")

inp = keras.Input((8192,))
keras.layers.Dense(4).build((None, 4))  # warm Keras's first-variable set-up
reset(); start = hwm()
# A 128 MiB kernel.
model = weights.build_lean(lambda: keras.Model(inp, keras.layers.Dense(4096, name="big")(inp)))
built = hwm()
reset(); before_call = hwm()
model.predict_on_batch(np.ones((2, 8192), np.float32))
model.predict_on_batch(np.ones((2, 8192), np.float32))
called = hwm()
path = os.path.join(sys.argv[2], "big.keras")
model.save(path)
del model
reset(); before_load = hwm()
loaded = weight_files.load_keras_file(path, fallback=False)
loaded_mb = hwm()
del loaded
import warnings
h5_path = os.path.join(sys.argv[2], "big.h5")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    keras.saving.load_model(path, compile=False).save(h5_path)
reset(); before_h5 = hwm()
with weights.lean_variables() as scope:
    legacy = keras.saving.load_model(h5_path, compile=False)
weights.fill_initial_values(scope)
h5_mb = hwm()
print(json.dumps({"build": built - start, "call": called - before_call,
                  "load": loaded_mb - before_load, "h5": h5_mb - before_h5}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_build_load_and_forward_add_no_full_size_copy_of_the_weights(tmp_path):
    """A 128 MiB kernel costs about 128 MiB to build or load (.keras or legacy .h5), and
    calling the model adds no copy
    (Keras's Glorot build peaked at +~400 MiB; writing through TensorFlow slices made every
    forward pass copy the kernel)."""
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(ROOT), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    grown = json.loads(done.stdout.strip().splitlines()[-1])
    assert grown["build"] < 128 * 1.2, grown
    assert grown["load"] < 128 * 1.2, grown
    assert grown["h5"] < 128 * 1.2, grown
    assert grown["call"] < 40, grown
