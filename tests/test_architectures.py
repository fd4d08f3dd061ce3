"""Architecture matrix: keras.applications models (random weights, smallest input each
accepts), as they are and wrapped as transfer models (nested base + pooling + Dense head),
plus a Sequential CNN and a model with Rescaling/Normalization inside.

For each: the graph description is complete and acyclic, the default layers are
found (inner ones included), and a sample of extracted summaries equals a numpy
reference computed from that layer's real output.  Kept small for CI: each model is
built once, N=2 images, a few sampled layers, one extraction per model.
"""

import numpy as np
import pytest

from analysis import extraction, modelgraph
from analysis.extraction import SUMMARIES
from tests.helpers import numpy_summaries

# constructor, smallest input side
ARCHITECTURES = {
    "VGG16": 32, "ResNet50": 32, "MobileNetV2": 32, "EfficientNetB0": 32, "DenseNet121": 32,
    "InceptionV3": 75, "Xception": 71, "ConvNeXtTiny": 32,
}
N_IMAGES = 2
N_CLASSES = 3


def build(keras, arch: str, wrapped: bool):
    side = ARCHITECTURES[arch]
    constructor = getattr(keras.applications, arch)
    keras.utils.set_random_seed(7)
    if not wrapped:
        return constructor(weights=None, input_shape=(side, side, 3), classes=N_CLASSES), None
    base = constructor(include_top=False, weights=None, input_shape=(side, side, 3))
    inp = keras.Input((side, side, 3), name="photo")
    x = base(inp, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.3, name="dropout_head")(x)
    out = keras.layers.Dense(N_CLASSES, activation="softmax", name="classifier")(x)
    return keras.Model(inp, out, name=f"{arch.lower()}_transfer"), base


def sequential_cnn(keras):
    layers = keras.layers
    keras.utils.set_random_seed(8)
    model = keras.Sequential([
        keras.Input((20, 20, 3)), layers.Conv2D(6, 3, activation="relu", name="c1"),
        layers.MaxPooling2D(name="p1"), layers.Conv2D(8, 3, name="c2"), layers.BatchNormalization(name="bn"),
        layers.Flatten(name="flat"), layers.Dense(N_CLASSES, activation="softmax", name="out")],
        name="seq_cnn")
    return model, None


def preprocessing_inside(keras):
    layers = keras.layers
    keras.utils.set_random_seed(9)
    inp = keras.Input((20, 20, 3), name="raw")
    x = layers.Rescaling(1 / 255.0, name="rescale")(inp)
    x = layers.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.06, 0.05, 0.04], name="norm")(x)
    x = layers.Conv2D(6, 3, activation="relu", name="conv")(x)
    x = layers.GlobalMaxPooling2D(name="gmp")(x)
    return keras.Model(inp, layers.Dense(N_CLASSES, name="logits")(x), name="with_preprocessing"), None


CASES = [(arch, wrapped) for arch in ARCHITECTURES for wrapped in (False, True)] + \
        [("Sequential", False), ("Preprocessing", False)]


@pytest.fixture(scope="module")
def built(keras_mod):
    cache = {}

    def get(arch, wrapped):
        if (arch, wrapped) not in cache:
            if arch == "Sequential":
                cache[arch, wrapped] = sequential_cnn(keras_mod)
            elif arch == "Preprocessing":
                cache[arch, wrapped] = preprocessing_inside(keras_mod)
            else:
                cache[arch, wrapped] = build(keras_mod, arch, wrapped)
        return cache[arch, wrapped]

    return get


def sample_layers(model) -> list[str]:
    convs = extraction.conv_dense_layers(model)
    others = [name for name in extraction.channel_layers(model) if name not in convs]
    picks = [convs[0], convs[len(convs) // 2], convs[-2], convs[-1]]
    if others:
        picks.append(others[len(others) // 2])
    return list(dict.fromkeys(picks))


def real_outputs(keras, model, names, images) -> dict:
    """Each named layer's real output on ``images``, computed eagerly (no graph tracing), from
    the (sub-)model that owns it; a sub-model's input is first computed in its parent."""
    top = [name for name in names if "/" not in name]
    inner = {}
    for name in names:
        if "/" in name:
            head, rest = name.split("/", 1)
            inner.setdefault(head, []).append(rest)
    subs = {head: model.get_layer(head) for head in inner}
    tensors = [model.get_layer(name).output for name in top]
    tensors += [sub._inbound_nodes[0].input_tensors[0] for sub in subs.values()]
    values = keras.Model(model.inputs, tensors)([images])
    values = values if isinstance(values, (list, tuple)) else [values]
    result = {name: np.asarray(value) for name, value in zip(top, values)}
    for (head, sub), value in zip(subs.items(), values[len(top):]):
        for rest, maps in real_outputs(keras, sub, inner[head], value).items():
            result[f"{head}/{rest}"] = maps
    return result


@pytest.mark.parametrize("arch,wrapped", CASES, ids=[f"{a}{'-transfer' if w else ''}" for a, w in CASES])
def test_architecture(built, keras_mod, arch, wrapped):
    keras = keras_mod
    model, base = built(arch, wrapped)

    # The graph description: every layer, parents before children, drawable expanded and collapsed.
    rows = extraction.describe_layers(model)
    expected = [name for name, layer, _ in extraction.walk(model)
                if not extraction.is_submodel(layer)
                and not ("/" in name and type(layer).__name__ == "InputLayer")]
    assert [row["name"] for row in rows] == expected
    groups = [group["name"] for group in modelgraph.submodels(rows)]
    if wrapped:
        assert groups[0] == base.name
    for expanded in ([], groups):
        graph = modelgraph.layout(rows, expanded=expanded)
        depth = {node["name"]: node["y"] for node in graph["nodes"]}
        assert all(depth[src] < depth[dst] for src, dst in graph["edges"])  # acyclic, top-down

    # The default layers reach inside a nested base.
    layers = extraction.conv_dense_layers(model)
    if wrapped:
        inner = [name for name in layers if name.startswith(base.name + "/")]
        assert len(inner) >= 10 and layers[-1] == "classifier"
        # Exactly the base's own conv/dense layers, qualified (nested Sequentials included).
        assert inner == [f"{base.name}/{name}" for name in extraction.conv_dense_layers(base)]
    else:
        assert len(layers) >= 2

    # A sample of summaries, one pass, against numpy on the layer's real output.
    side = model.inputs[0].shape[1]
    images = np.random.default_rng(10).uniform(0, 1, (N_IMAGES, side, side, 3)).astype(np.float32)
    if arch == "Preprocessing":
        images *= 255
    names = sample_layers(model)
    extractor = extraction.Extractor(model, names)
    acts, probs = extraction.extract_all(model, images, batch_size=N_IMAGES, extractor=extractor)
    assert extractor.forward_passes == 1
    assert probs.shape == (N_IMAGES, N_CLASSES)
    for name, maps in real_outputs(keras, model, names, images).items():
        reference = numpy_summaries(maps)
        scale = max(1.0, float(np.abs(maps).max()))
        for summary in SUMMARIES:
            np.testing.assert_allclose(acts[name][summary], reference[summary], rtol=1e-3,
                                       atol=1e-4 * scale, err_msg=f"{arch} {name}/{summary}")
