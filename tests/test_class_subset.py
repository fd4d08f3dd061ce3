"""A folder holding some of a larger model's classes (a few ImageNet classes for VGG16):
``classes.txt`` maps each folder to its model output, and predictions, accuracy, the
confusion matrix and the ablation check are then among the folder's classes."""

import os

import numpy as np
import pytest

from analysis import datasets, pipeline, store
from analysis.datasets import DatasetError
from analysis.pipeline import AnalysisError, Request
from tests.helpers import CLASSES, small_classifier, write_image_folder

OUTPUTS = [4, 0, 2]  # circle, square, stripes -> outputs of a six-class model


def six_class_model(keras):
    return small_classifier(keras, 6, "softmax", "out", seed=41)


def write_classes_file(folder, lines):
    with open(os.path.join(folder, "classes.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def test_classes_file_with_output_indices(tmp_path):
    folder = write_image_folder(tmp_path / "images")
    os.rename(os.path.join(folder, "circle"), os.path.join(folder, "big circle"))
    write_classes_file(folder, ["stripes 7", "big circle\t3", "square 12"])
    scanned = datasets.scan_folder(folder)
    assert scanned.class_names == ["stripes", "big circle", "square"]
    assert scanned.output_index == [7, 3, 12]
    assert sorted(set(scanned.labels.tolist())) == [0, 1, 2]
    plain = datasets.scan_folder(write_image_folder(tmp_path / "plain"))
    assert plain.output_index is None
    # The mapping is part of the data's identity: changing it changes both fingerprints.
    before = (datasets.fingerprint(scanned), datasets.stat_fingerprint(scanned))
    write_classes_file(folder, ["stripes 7", "big circle\t3", "square 11"])
    again = datasets.scan_folder(folder)
    assert datasets.fingerprint(again) != before[0] and datasets.stat_fingerprint(again) != before[1]

    write_classes_file(folder, ["stripes 7", "big circle", "square 12"])
    with pytest.raises(DatasetError, match="on every line or on none"):
        datasets.scan_folder(folder)
    write_classes_file(folder, ["stripes 7", "big circle 7", "square 12"])
    with pytest.raises(DatasetError, match="output index 7 is given twice"):
        datasets.scan_folder(folder)


def test_subset_of_a_larger_models_classes(keras_mod, tmp_path, results_cache):
    model = six_class_model(keras_mod)
    path = str(tmp_path / "six.keras")
    model.save(path)
    folder = write_image_folder(tmp_path / "images")
    roots = [str(tmp_path)]

    def run():
        return pipeline.run(Request(model=path, data=folder, batch_size=8), data_roots=roots,
                            model_roots=roots, cache=results_cache, n_threads=1)

    unmapped = run()  # without a mapping: accuracy off, and the page says how to turn it on
    assert not unmapped["accuracy_views"] and "classes.txt" in unmapped["notice"]

    write_classes_file(folder, [f"{name} {index}" for name, index in zip(CLASSES, OUTPUTS)])
    summary = run()
    assert summary["key"] != unmapped["key"] and summary["accuracy_views"]
    assert "model outputs 4, 0, 2" in summary["notice"]
    meta = store.load_meta(results_cache, summary["key"])
    assert meta["model_classes"] == 3 and meta["output_columns"] == OUTPUTS

    # Stored probabilities: the model's own, for these outputs, renormalised.
    images = np.asarray(pipeline.stored_images(meta, np.arange(summary["n"]))[0:summary["n"]])
    full = np.asarray(model.predict_on_batch(images))[:, OUTPUTS]
    expected = full / full.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(store.load_probs(results_cache, summary["key"]), expected, rtol=1e-4,
                               atol=1e-6)
    predicted = expected.argmax(axis=1)
    np.testing.assert_array_equal(np.asarray(meta["top_classes"])[:, 0], predicted)

    # The ablation check's baseline is the same accuracy among the folder's classes.
    result = pipeline.ablation(meta, "conv", [0], [1, 2], n_threads=1, n_random_repeats=1)
    assert result["baseline"] == pytest.approx(np.mean(predicted == np.asarray(meta["labels"])))


def test_an_output_index_beyond_the_model_is_refused_in_words(keras_mod, tmp_path, results_cache):
    path = str(tmp_path / "six.keras")
    six_class_model(keras_mod).save(path)
    folder = write_image_folder(tmp_path / "images")
    write_classes_file(folder, ["circle 1", "square 6", "stripes 2"])
    with pytest.raises(AnalysisError, match="output 6, but the model has 6 outputs"):
        pipeline.run(Request(model=path, data=folder), data_roots=[str(tmp_path)],
                     model_roots=[str(tmp_path)], cache=results_cache, n_threads=1)
