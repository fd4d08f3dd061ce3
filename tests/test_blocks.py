"""Convolution blocks: the default selection serves Conv -> BN -> activation chains by
their post-activation output, which is what zeroing a channel really removes."""

import numpy as np
import pytest

from analysis import ablation, extraction, layers, pipeline


@pytest.fixture(scope="module")
def chains(keras_mod):
    """Every way a block can end (or not) after a convolution."""
    keras = keras_mod
    from keras import layers as kl
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, 3), name="image")
    a = kl.Conv2D(6, 3, padding="same", use_bias=False, name="a_conv")(inp)
    a = kl.BatchNormalization(name="a_bn")(a)
    a = kl.ReLU(name="a_relu")(a)                                   # conv -> BN -> ReLU
    b = kl.Conv2D(6, 3, padding="same", name="b_conv")(a)
    b = kl.BatchNormalization(name="b_bn")(b)                        # conv -> BN, read twice
    res = kl.Add(name="res")([a, b])
    c = kl.Conv2D(6, 1, name="c_conv")(res)
    c = kl.LeakyReLU(negative_slope=0.1, name="c_leaky")(c)          # conv -> activation
    d = kl.Conv2D(6, 3, padding="same", activation="relu", name="d_conv")(c)
    d = kl.BatchNormalization(name="d_bn")(d)                        # built-in activation: itself
    e = kl.Conv2D(6, 3, padding="same", name="e_conv")(d)
    e_bn = kl.BatchNormalization(name="e_bn")(e)
    e_a = kl.Activation("relu", name="e_relu")(e_bn)
    e_side = kl.GlobalAveragePooling2D(name="e_side")(e_bn)          # BN read twice: ends at BN
    gap = kl.GlobalAveragePooling2D(name="gap")(e_a)
    merged = kl.Concatenate(name="merge")([gap, e_side])
    logits = kl.Dense(4, name="logits")(merged)
    out = kl.Activation("softmax", name="probs")(logits)             # softmax: not a block end
    model = keras.Model(inp, out, name="chains")
    for name in ("a_bn", "b_bn", "d_bn", "e_bn"):
        bn = model.get_layer(name)
        bn.moving_mean.assign(np.linspace(-0.4, 0.4, 6).astype("float32"))
        bn.moving_variance.assign(np.linspace(0.5, 1.5, 6).astype("float32"))
    return model


def test_block_ends_follow_one_to_one_chains_only(chains):
    rows = layers.describe_layers(chains)
    assert layers.block_ends(rows) == {
        "a_conv": "a_relu", "b_conv": "b_bn", "c_conv": "c_leaky", "e_conv": "e_bn"}
    assert extraction.conv_dense_layers(chains) == [
        "a_relu", "b_bn", "c_leaky", "d_conv", "e_bn", "logits"]
    by_name = {row["name"]: row for row in rows}
    assert by_name["a_relu"]["block_of"] == "a_conv" and "block_of" not in by_name["d_bn"]
    assert by_name["a_conv"]["activation"] == "linear" and by_name["d_conv"]["activation"] == "relu"
    assert by_name["probs"]["activation"] == "softmax"


def test_block_output_is_non_negative_and_summarised_after_the_activation(chains):
    images = np.random.default_rng(0).uniform(0, 1, (5, 12, 12, 3)).astype("float32")
    result = extraction.extract(chains, images, summaries=("mean", "frac_pos"))
    maps = extraction.layer_maps(chains, images, "a_relu")
    assert maps.min() >= 0
    np.testing.assert_allclose(result["a_relu"]["mean"], maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result["a_relu"]["frac_pos"], (maps > 0).mean(axis=(1, 2)), atol=1e-6)
    # The raw convolution's output is signed: its summaries are not the block's.
    raw = extraction.layer_maps(chains, images, "a_conv")
    assert raw.min() < 0


def test_zeroing_a_block_output_removes_the_channel_but_zeroing_before_bn_does_not(chains):
    images = np.random.default_rng(1).uniform(0, 1, (3, 12, 12, 3)).astype("float32")
    after = ablation.ablated_model(chains, "a_relu", [2])
    masked = extraction.layer_maps(after, images, "a_relu_channel_mask")
    assert np.all(masked[..., 2] == 0)
    before = ablation.ablated_model(chains, "a_conv", [2])
    leaked = extraction.layer_maps(before, images, "a_relu")
    # BN maps a zeroed input channel to a constant, which the ReLU passes on.
    assert np.ptp(leaked[..., 2]) == 0 and leaked[..., 2].max() > 0


def test_menus_name_the_convolution_of_a_block(chains):
    rows = layers.describe_layers(chains, extracted=extraction.conv_dense_layers(chains))
    meta = {"layers": extraction.conv_dense_layers(chains), "layer_info": rows}
    labels = pipeline.layer_labels(meta)
    assert labels["a_relu"] == "a_relu (a_conv → BatchNormalization → ReLU)"
    assert labels["c_leaky"] == "c_leaky (c_conv → LeakyReLU)"
    assert labels["d_conv"] == "d_conv" and labels["logits"] == "logits"
    # The deepest convolution is found through its block's output.
    assert pipeline.default_layer(meta) == "e_bn"
    # A click on the convolution or its batch norm in the model graph opens the block's output.
    members = pipeline.block_members(meta)
    assert members["a_conv"] == members["a_bn"] == "a_relu" and members["e_conv"] == "e_bn"
    assert "a_relu" not in members and "d_conv" not in members
    from callbacks.graph import layer_from_click
    analysis = {"layers": meta["layers"], "block_members": members}
    click = {"points": [{"customdata": ["a_bn", "a_bn"]}]}
    assert layer_from_click(click, analysis) == "a_relu"
    assert layer_from_click({"points": [{"customdata": ["res", "res"]}]}, analysis) is None


def test_nested_blocks_cross_into_the_base_model(keras_mod):
    keras = keras_mod
    from keras import layers as kl
    inner_in = keras.Input((10, 10, 3))
    x = kl.Conv2D(4, 3, padding="same", name="conv")(inner_in)
    x = kl.BatchNormalization(name="bn")(x)
    x = kl.Activation("relu", name="relu")(x)
    base = keras.Model(inner_in, x, name="base")
    inp = keras.Input((10, 10, 3))
    y = kl.GlobalAveragePooling2D(name="gap")(base(inp))
    model = keras.Model(inp, kl.Dense(2, activation="softmax", name="out")(y))
    assert extraction.conv_dense_layers(model) == ["base/relu", "out"]
    images = np.random.default_rng(2).uniform(0, 1, (2, 10, 10, 3)).astype("float32")
    result = extraction.extract(model, images, summaries=("max",))
    assert result["base/relu"]["max"].shape == (2, 4) and result["base/relu"]["max"].min() >= 0
