"""Which summaries an analysis computes by default, and the p90 opt-in end to end."""

import os

import numpy as np
import pytest

from analysis import pipeline, store
from analysis.pipeline import Request
from analysis.summaries import (DEFAULT_SUMMARIES, SUMMARIES, analysis_summaries,
                                summary_options)
from callbacks.scatter import summary_choices


def test_default_analysis_leaves_out_only_the_90th_percentile():
    assert set(SUMMARIES) - set(DEFAULT_SUMMARIES) == {"p90"}
    assert analysis_summaries() == DEFAULT_SUMMARIES
    assert set(analysis_summaries(p90=True)) == set(SUMMARIES)


def test_uncomputed_summaries_are_offered_disabled_with_how_to_get_them():
    options = {o["value"]: o for o in summary_options(DEFAULT_SUMMARIES)}
    assert set(options) == set(SUMMARIES)
    assert options["p90"]["disabled"] and "--p90" in options["p90"]["label"]
    assert not any(o.get("disabled") for name, o in options.items() if name != "p90")


def test_dropdown_value_falls_back_when_the_analysis_lacks_the_summary():
    _, value = summary_choices({"summaries": list(DEFAULT_SUMMARIES)}, "p90")
    assert value == "mean"
    _, value = summary_choices({"summaries": list(SUMMARIES)}, "p90")
    assert value == "p90"


def test_pipeline_computes_p90_only_when_asked(image_folder, tiny_model_file, tmp_path, results_cache):
    roots = [str(tmp_path), os.path.dirname(tiny_model_file)]
    default = pipeline.run(Request(model=tiny_model_file, data=image_folder, batch_size=8),
                           data_roots=roots, model_roots=roots, cache=results_cache, n_threads=1)
    assert default["summaries"] == list(DEFAULT_SUMMARIES)
    layer = default["layers"][0]
    assert set(store.load_layer(results_cache, default["key"], layer)) == set(DEFAULT_SUMMARIES)

    with_p90 = pipeline.run(Request(model=tiny_model_file, data=image_folder, batch_size=8,
                                    summaries=analysis_summaries(p90=True)),
                            data_roots=roots, model_roots=roots, cache=results_cache, n_threads=1)
    assert with_p90["key"] != default["key"] and not with_p90["from_cache"]
    acts = store.load_layer(results_cache, with_p90["key"], layer)
    assert set(acts) == set(SUMMARIES)
    # Same images, same model: the shared summaries agree, and p90 lies between mean-ish and max.
    base = store.load_layer(results_cache, default["key"], layer)
    np.testing.assert_allclose(acts["max"], base["max"], rtol=1e-5)
    assert np.all(acts["p90"] <= acts["max"] + 1e-5)


def test_unknown_summary_in_a_request_is_refused_with_the_allowed_ones(image_folder, tiny_model_file,
                                                                      tmp_path, results_cache):
    roots = [str(tmp_path), os.path.dirname(tiny_model_file)]
    with pytest.raises(pipeline.AnalysisError, match="allowed: mean, max, l2, p90, frac_pos"):
        pipeline.run(Request(model=tiny_model_file, data=image_folder, summaries=("median",)),
                     data_roots=roots, model_roots=roots, cache=results_cache, n_threads=1)
