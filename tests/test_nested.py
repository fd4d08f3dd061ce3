"""Nested models (a Functional/Sequential model used as a layer, at any depth):
listing under qualified names, one-pass extraction of inner layers, maps,
ablation and the graph description."""

import numpy as np
import pytest

from analysis import extraction, modelgraph
from analysis.extraction import SUMMARIES, ExtractionError
from tests.helpers import numpy_summaries

SIZE = 32  # the smallest input MobileNetV2 accepts


@pytest.fixture(scope="module")
def counting_layer(keras_mod):
    keras = keras_mod

    class CountingLayer(keras.layers.Layer):
        """Identity that counts how many times the graph really runs."""

        def build(self, input_shape):
            self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

        def call(self, x):
            self.calls.assign_add(1.0)
            return x

    return CountingLayer


@pytest.fixture(scope="module")
def transfer(keras_mod, counting_layer):
    """Input -> (counter) -> MobileNetV2(include_top=False) -> GAP -> Dropout -> Dense."""
    keras = keras_mod
    keras.utils.set_random_seed(2)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = counting_layer(name="counter")(inp)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    out = keras.layers.Dense(5, activation="softmax", name="head")(x)
    return keras.Model(inp, out, name="transfer"), base


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(4).normal(size=(6, SIZE, SIZE, 3)).astype(np.float32)


def test_nested_mobilenet_lists_and_extracts_inner_convs_in_one_pass(transfer, images):
    model, base = transfer
    prefix = base.name + "/"
    layers = extraction.conv_dense_layers(model)
    inner = [name for name in layers if name.startswith(prefix)]
    assert len(inner) >= 50
    assert f"{prefix}block_16_project_BN" in layers and layers[-1] == "head"
    assert base.name not in extraction.channel_layers(model)  # the sub-model itself is not a layer

    extractor = extraction.Extractor(model, layers)
    acts, probs = extraction.extract_all(model, images, batch_size=4, extractor=extractor)
    assert extractor.forward_passes == 2
    assert float(model.get_layer("counter").calls.numpy()) == 2  # once per batch, for all 53 layers
    np.testing.assert_allclose(probs, model.predict_on_batch(images), rtol=1e-4, atol=1e-6)

    import keras
    names = [name[len(prefix):] for name in inner]
    maps = keras.Model(base.inputs, [base.get_layer(name).output for name in names]).predict_on_batch(images)
    for name, layer_maps in zip(inner, maps):
        reference = numpy_summaries(np.asarray(layer_maps))
        for summary in SUMMARIES:
            np.testing.assert_allclose(acts[name][summary], reference[summary], rtol=1e-4, atol=1e-4,
                                       err_msg=f"{name}/{summary}")


def test_inner_layer_maps_and_unknown_inner_layer(transfer, images):
    model, base = transfer
    name = f"{base.name}/block_3_expand"
    maps = extraction.layer_maps(model, images, name, batch_size=4)
    import keras
    expected = keras.Model(base.inputs, base.get_layer("block_3_expand").output).predict_on_batch(images)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ExtractionError, match="no layer"):
        extraction.layer_maps(model, images, f"{base.name}/nope")
    with pytest.raises(ExtractionError, match="nope"):
        extraction.Extractor(model, [f"{base.name}/nope"])


def test_ablating_an_inner_layer_zeroes_it_and_leaves_the_model_alone(transfer, images):
    model, base = transfer
    name = f"{base.name}/out_relu"
    before = model.predict_on_batch(images)
    ablated = extraction.ablated_model(model, name, range(1280))
    # GAP of zeros: the head sees only its bias (zero-initialised), so all classes are equal.
    np.testing.assert_allclose(ablated.predict_on_batch(images), np.full((len(images), 5), 0.2), atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(images), before, rtol=1e-6)
    original = extraction.extract(model, images, ["gap"], ["mean"])["gap"]["mean"]
    live = np.flatnonzero(np.abs(original).max(axis=0) > 0)
    assert live.size >= 4
    partial = extraction.ablated_model(model, name, live[:2])
    gap = extraction.extract(partial, images, ["gap"], ["mean"])["gap"]["mean"]
    assert np.all(gap[:, live[:2]] == 0)
    np.testing.assert_allclose(gap[:, live[2:]], original[:, live[2:]], rtol=1e-4, atol=1e-7)
    assert name in extraction.ablatable_layers(model)


def test_graph_description_flattens_the_sub_model(transfer):
    model, base = transfer
    rows = extraction.describe_layers(model, extraction.conv_dense_layers(model))
    by_name = {row["name"]: row for row in rows}
    assert base.name not in by_name  # drawn as a group, its layers inside
    first = by_name[f"{base.name}/Conv1"]
    assert first["inbound"] == ["counter"] and first["groups"] == [[base.name, "Functional"]]
    assert by_name["gap"]["inbound"] == [f"{base.name}/out_relu"] and by_name["gap"]["groups"] == []
    graph = modelgraph.layout(rows)  # validates topological order and parents
    assert [node["name"] for node in graph["nodes"]] == ["image", "counter", base.name, "gap", "drop", "head"]
    expanded = modelgraph.layout(rows, expanded=[base.name])
    assert len(expanded["nodes"]) == len(rows)


def _deep_model(keras):
    """Sequential inside Functional inside Functional, and a Sequential at the end."""
    layers = keras.layers
    keras.utils.set_random_seed(5)
    stem = keras.Sequential([keras.Input((12, 12, 3)), layers.Conv2D(4, 3, name="conv"),
                             layers.BatchNormalization(name="bn"), layers.ReLU(name="relu")],
                            name="stem")
    mid_in = keras.Input((12, 12, 3))
    a = stem(mid_in)
    b = layers.Conv2D(4, 3, padding="same", name="conv")(a)  # same short name as stem/conv
    mid = keras.Model(mid_in, layers.Add(name="add")([a, b]), name="mid")
    head = keras.Sequential([layers.GlobalAveragePooling2D(name="pool"), layers.Dense(3, name="logits")],
                            name="head")
    inp = keras.Input((12, 12, 3), name="pixels")
    x = layers.Conv2D(3, 1, name="pre")(inp)
    model = keras.Model(inp, head(mid(x)), name="deep")
    return model, stem, mid, head


def test_any_depth_and_sequential_sub_models(keras_mod):
    keras = keras_mod
    model, stem, mid, head = _deep_model(keras)
    names = extraction.channel_layers(model)
    assert names == ["pre", "mid/stem/conv", "mid/stem/bn", "mid/stem/relu", "mid/conv", "mid/add",
                     "head/pool", "head/logits"]
    rng = np.random.default_rng(6)
    images = rng.normal(size=(5, 12, 12, 3)).astype(np.float32)
    acts, probs = extraction.extract_all(model, images, names, batch_size=5)
    # Reference: the same layers called eagerly, one by one.
    pre = model.get_layer("pre")(images)
    conv = stem.get_layer("conv")(pre)
    relu = stem.get_layer("relu")(stem.get_layer("bn")(conv))
    add = mid.get_layer("add")([relu, mid.get_layer("conv")(relu)])
    pool = head.get_layer("pool")(add)
    logits = head.get_layer("logits")(pool)
    for name, tensor in [("pre", pre), ("mid/stem/conv", conv), ("mid/stem/relu", relu),
                         ("mid/add", add), ("head/pool", pool), ("head/logits", logits)]:
        reference = numpy_summaries(np.asarray(tensor))
        for summary in SUMMARIES:
            np.testing.assert_allclose(acts[name][summary], reference[summary], rtol=1e-4, atol=1e-4,
                                       err_msg=f"{name}/{summary}")
    np.testing.assert_allclose(probs, extraction.to_probabilities(np.asarray(logits)), rtol=1e-4)

    rows = extraction.describe_layers(model, names)
    by_name = {row["name"]: row for row in rows}
    assert by_name["mid/stem/conv"]["inbound"] == ["pre"]
    assert by_name["mid/stem/conv"]["groups"] == [["mid", "Functional"], ["mid/stem", "Sequential"]]
    assert by_name["mid/conv"]["inbound"] == ["mid/stem/relu"]
    assert by_name["mid/add"]["inbound"] == ["mid/stem/relu", "mid/conv"]
    assert by_name["head/pool"]["inbound"] == ["mid/add"]
    modelgraph.layout(rows)

    ablated = extraction.ablated_model(model, "mid/stem/relu", [1])
    masked = relu * np.array([1, 0, 1, 1], np.float32)
    expected = head(mid.get_layer("add")([masked, mid.get_layer("conv")(masked)]))
    np.testing.assert_allclose(ablated.predict_on_batch(images), np.asarray(expected), rtol=1e-4, atol=1e-5)
    # A flat, independent copy: every layer called once, the model untouched.
    assert not any(extraction.is_submodel(layer) for layer in ablated.layers)
    np.testing.assert_allclose(model.predict_on_batch(images), np.asarray(logits), rtol=1e-4, atol=1e-5)
    assert extraction.layer_maps(ablated, images, "mid__conv").shape == (5, 10, 10, 4)


def test_removal_check_masks_layers_inside_and_outside_a_nested_model(keras_mod):
    from analysis.removal import MaskedModel
    model, stem, mid, head = _deep_model(keras_mod)
    images = np.random.default_rng(12).normal(size=(4, 12, 12, 3)).astype(np.float32)
    masked = MaskedModel(model, ["mid/stem/relu", "pre"])
    masked.set({"mid/stem/relu": [1], "pre": [0]})
    pre = np.asarray(model.get_layer("pre")(images)) * np.array([0, 1, 1], np.float32)
    relu = stem.get_layer("relu")(stem.get_layer("bn")(stem.get_layer("conv")(pre)))
    masked_relu = relu * np.array([1, 0, 1, 1], np.float32)
    expected = head(mid.get_layer("add")([masked_relu, mid.get_layer("conv")(masked_relu)]))
    np.testing.assert_allclose(masked.model.predict_on_batch(images), np.asarray(expected), rtol=1e-4, atol=1e-5)


def test_blocks_inside_nested_models_and_their_ablation_check(keras_mod):
    from analysis.removal import MaskedModel, verify_layer
    model, stem, mid, head = _deep_model(keras_mod)
    # The Sequential stem's Conv -> BN -> ReLU is one block; the convolution feeding the Add is not.
    assert extraction.conv_dense_layers(model) == ["pre", "mid/stem/relu", "mid/conv", "head/logits"]
    images = np.random.default_rng(13).normal(size=(24, 12, 12, 3)).astype(np.float32)
    labels = np.asarray(model.predict_on_batch(images)).argmax(1)
    masked = MaskedModel(model, ["mid/stem/relu"])
    # The check removes the block's channels inside the nested model and compares with random ones.
    result = verify_layer(masked, images, labels, "mid/stem/relu", zeroed=[0, 1, 2, 3], n_random_repeats=2)
    assert result["n_images"] == 24 and result["checks"] >= 1
    kept, left_out = result["kept_zeroed"], result["left_out"]
    assert kept and sorted(kept + list(left_out)) == [0, 1, 2, 3]
    for channel, cost in left_out.items():  # each left-out channel carries its own removal's cost
        assert cost == pytest.approx(1.0 - masked.accuracy({"mid/stem/relu": [channel]}, images, labels))
    # The kept set's drop, measured again on the masked nested model, is what the check reports,
    # and at most a third of as many random channels' drop.
    assert result["drop"] == pytest.approx(1.0 - masked.accuracy({"mid/stem/relu": kept}, images, labels))
    assert result["drop"] <= result["random_drop"] / 3 + 1e-9
