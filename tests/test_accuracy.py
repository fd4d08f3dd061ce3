"""The model's own numbers: accuracy, top-5, per-class, confusion matrix, and the panel."""

import os
import shutil

import numpy as np
import pytest

from analysis import accuracy, pipeline
from analysis.pipeline import Request
from figures.accuracy import LABEL_CHARS, confusion_figure, per_class_figure


def test_scores_against_hand_counts():
    labels = np.array([0, 0, 0, 1, 1, 2])
    top = np.array([[0, 1], [1, 0], [0, 2], [1, 0], [2, 1], [0, 1]])
    result = accuracy.scores(labels, top, 4)
    assert result["accuracy"] == pytest.approx(3 / 6)
    assert result["top5"] == pytest.approx(5 / 6) and result["top_k"] == 2  # only 2 stored
    np.testing.assert_array_equal(result["confusion"][:3, :3], [[2, 1, 0], [0, 1, 1], [1, 0, 0]])
    assert result["confusion"].sum() == 6 and result["counts"].tolist() == [3, 2, 1, 0]
    np.testing.assert_allclose(result["per_class"][:3], [2 / 3, 1 / 2, 0.0])
    assert np.isnan(result["per_class"][3])  # a class without images
    np.testing.assert_array_equal(accuracy.cell_inputs(labels, result["predicted"], 1, 2), [4])
    with pytest.raises(ValueError):
        accuracy.scores(labels, top[:3], 4)


def test_availability_reasons():
    assert accuracy.availability(3, 3, np.zeros((2, 3))) is None
    assert "10 outputs but the folder has 2 classes" in accuracy.availability(10, 2, np.zeros((2, 5)))
    assert "no class output" in accuracy.availability(None, 2, None)


def test_figures_stay_readable_with_many_long_class_names():
    rng = np.random.default_rng(0)
    names = [f"n{i:08d}-{'a_very_long_class_name_' * 2}"[:40] for i in range(100)]
    labels = np.arange(1000) % 100
    top = np.stack([np.where(rng.random(1000) < 0.7, labels, rng.integers(0, 100, 1000))] * 5, 1)
    result = accuracy.scores(labels, top, 100)
    fig = confusion_figure(result["confusion"], names)
    heat = fig.data[0]
    assert np.asarray(heat.customdata).shape == (100, 100, 3)
    assert all(len(text) <= LABEL_CHARS for text in fig.layout.xaxis.ticktext)
    assert len(fig.layout.xaxis.ticktext) <= 40 and len(fig.data) == 1  # no per-cell text at 100
    assert names[7] in heat.text[7][3]  # the full name on hover
    bars = per_class_figure(result["per_class"], result["counts"], names)
    values = list(bars.data[0].x)
    assert values == sorted(values) and all(len(t) <= LABEL_CHARS for t in bars.layout.yaxis.ticktext)


@pytest.fixture()
def roots(tmp_path, tiny_model_file):
    return [str(tmp_path), os.path.dirname(tiny_model_file)]


def test_panel_and_cell_click_on_a_real_analysis(tiny_cnn, image_folder, tiny_model_file, roots,
                                                 results_cache):
    from callbacks.accuracy import HIDDEN, accuracy_view, selection_from_cell
    from analysis import session as sessions
    summary = pipeline.run(Request(model=tiny_model_file, data=image_folder, batch_size=8),
                           data_roots=roots, model_roots=roots, cache=results_cache, n_threads=1)
    session = sessions.require(results_cache, summary)
    labels = np.asarray(session.labels)
    from analysis.datasets import ImageBatches, scan_folder
    images = ImageBatches(scan_folder(image_folder), (16, 16), 3, "raw")
    predicted = tiny_cnn.predict_on_batch(np.asarray(images[0:len(images)])).argmax(axis=1)
    expected = float(np.mean(predicted == labels))
    text, confusion, bars, style = accuracy_view(results_cache, summary)
    assert text.startswith(f"Accuracy {expected:.1%}") and style != HIDDEN

    true_class, predicted_class = int(labels[0]), int(predicted[0])
    click = {"points": [{"x": predicted_class, "y": true_class, "z": 0.5}]}  # as Dash sends it
    store = selection_from_cell(results_cache, summary, click, None)
    chosen = np.flatnonzero((labels == true_class) & (predicted == predicted_class))
    assert store["inputs"] == chosen.tolist() and 0 in store["inputs"]
    names = summary["classes"]
    assert store["source"] == f"confusion: true {names[true_class]}, predicted {names[predicted_class]}"
    from callbacks.selection import selection_text
    assert store["source"] in selection_text(results_cache, summary, store)


def test_panel_hidden_with_the_reason_for_a_mismatched_model(image_folder, tiny_model_file, roots,
                                                            results_cache):
    from callbacks.accuracy import HIDDEN, accuracy_view, selection_from_cell
    from analysis.errors import UserError
    shutil.rmtree(os.path.join(image_folder, sorted(os.listdir(image_folder))[-1]))
    summary = pipeline.run(Request(model=tiny_model_file, data=image_folder, batch_size=8),
                           data_roots=roots, model_roots=roots, cache=results_cache, n_threads=1)
    text, _, _, style = accuracy_view(results_cache, summary)
    assert style == HIDDEN and "3 outputs but the folder has 2 classes" in text
    with pytest.raises(UserError, match="3 outputs"):
        selection_from_cell(results_cache, summary, {"points": [{"x": 1, "y": 0}]}, None)
