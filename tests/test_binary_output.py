"""Binary classifiers with one output unit (``Dense(1, "sigmoid")`` or a logit): the unit is
read as the probability of the second class folder, as Keras's binary labels are, so the
accuracy views, the top predictions and the ablation check work as for a softmax head."""

import os

import numpy as np
import pytest

from analysis import datasets, extraction, pipeline, store
from analysis.pipeline import Request
from tests.helpers import small_classifier, write_image_folder


def binary_model(keras, activation):
    return small_classifier(keras, 1, activation, "score", seed=31)


def test_one_unit_output_is_read_as_the_second_class(keras_mod):
    keras = keras_mod
    assert extraction.binary_output(binary_model(keras, "sigmoid")) == "probability"
    assert extraction.binary_output(binary_model(keras, None)) == "logit"
    inp = keras.Input((4, 4, 1))
    wide = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(inp)))
    assert extraction.binary_output(wide) is None and extraction.two_class_output(wide) is wide

    # The one unit becomes two columns, read as any two-class output is.
    for activation, unit, expected in (("sigmoid", [0.2, 0.9], [[0.8, 0.2], [0.1, 0.9]]),
                                       (None, [0.0, np.log(3.0)], [[0.5, 0.5], [0.25, 0.75]])):
        inp = keras.Input((1,))
        dense = keras.layers.Dense(1, activation=activation, use_bias=False, kernel_initializer="ones")
        model = keras.Model(inp, dense(inp))
        if activation == "sigmoid":
            unit = np.log(np.array(unit) / (1 - np.array(unit)))  # the inputs that give these p
        two = extraction.two_class_output(model)
        assert tuple(two.outputs[0].shape) == (None, 2)
        scores = np.asarray(two.predict_on_batch(np.asarray(unit, np.float32)[:, None]))
        np.testing.assert_allclose(extraction.to_probabilities(scores), expected, rtol=1e-5)
        np.testing.assert_array_equal(extraction.predicted_classes(two, np.asarray(unit, np.float32)[:, None]),
                                      np.argmax(expected, axis=1))


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_binary_classifier_gets_accuracy_views_and_ablation(keras_mod, tmp_path, results_cache, activation):
    keras = keras_mod
    folder = write_image_folder(tmp_path / "images")
    for name in sorted(os.listdir(folder))[2:]:  # two classes, as a binary classifier has
        for entry in os.listdir(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name, entry))
        os.rmdir(os.path.join(folder, name))
    model = binary_model(keras, activation)
    # Centre the unit on these images, so both classes are predicted.
    scanned = datasets.scan_folder(folder)
    pixels = np.asarray(datasets.ImageBatches(scanned, (16, 16), 3, "raw")[0:len(scanned)])
    features = np.asarray(keras.Model(model.inputs, model.get_layer("gap").output)([pixels]))
    kernel, _ = model.get_layer("score").get_weights()
    model.get_layer("score").set_weights([kernel, -np.median(features @ kernel, axis=0)])
    path = str(tmp_path / "binary.keras")
    model.save(path)
    roots = [str(tmp_path)]
    summary = pipeline.run(Request(model=path, data=folder, batch_size=4), data_roots=roots,
                           model_roots=roots, cache=results_cache, n_threads=1)
    assert summary["accuracy_views"], summary["notice"]
    second = summary["classes"][1]
    assert "binary classifier" in summary["notice"] and repr(second) in summary["notice"]

    meta = store.load_meta(results_cache, summary["key"])
    assert meta["model_classes"] == 2 and meta["data_fit"]["status"] == "match"
    # The stored probabilities are the model's own unit, as P(second class).
    images = np.asarray(pipeline.stored_images(meta, np.arange(summary["n"]))[0:summary["n"]])
    unit = np.asarray(model.predict_on_batch(images))[:, 0]
    p = unit if activation == "sigmoid" else 1 / (1 + np.exp(-unit))
    probs = store.load_probs(results_cache, summary["key"])
    np.testing.assert_allclose(probs[:, 1], p, rtol=1e-4, atol=1e-5)
    predicted = (p > 0.5).astype(int)
    assert 0 < predicted.sum() < len(predicted)  # both classes occur: argmax alone would miss it
    np.testing.assert_array_equal(np.asarray(meta["top_classes"])[:, 0], predicted)

    # The ablation check measures the same accuracy the page shows.
    result = pipeline.ablation(meta, "conv", [0], [1, 2, 3], n_threads=1, n_random_repeats=1)
    assert result["baseline"] == pytest.approx(np.mean(predicted == np.asarray(meta["labels"])))
