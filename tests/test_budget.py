"""Batch size from a memory budget."""

import pytest

from analysis import budget


def test_largest_map_is_the_widest_layer_output(tiny_cnn):
    widest = max(4 * int(__import__("math").prod(layer.output.shape[1:]))
                 for layer in tiny_cnn.layers if not isinstance(layer.output, (list, tuple)))
    assert budget.largest_map_bytes(tiny_cnn) == widest


def test_batch_shrinks_to_fit_the_budget_and_never_exceeds_the_request(tiny_cnn):
    per_input_mb = budget.largest_map_bytes(tiny_cnn) * budget.LIVE_MAPS / 2**20
    assert budget.batch_for_memory(tiny_cnn, 64, budget_mb=per_input_mb * 10) == 10
    assert budget.batch_for_memory(tiny_cnn, 4, budget_mb=per_input_mb * 10) == 4
    assert budget.batch_for_memory(tiny_cnn, 64, budget_mb=per_input_mb / 100) == 1


def test_vgg16_at_224_gets_batch_1_and_a_light_model_a_larger_batch(keras_mod):
    from analysis import models

    vgg, _ = models.load_application("vgg16:random")
    assert budget.largest_map_bytes(vgg) == 224 * 224 * 64 * 4
    assert 527 < budget.weights_mb(vgg) < 529  # 138,357,544 float32 numbers
    assert budget.activation_budget_mb(vgg) < 100  # less than one input's 98 MiB of maps
    assert budget.batch_for_memory(vgg, 32) == 1
    light = keras_mod.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    per_input = budget.largest_map_bytes(light) * budget.LIVE_MAPS
    batch = budget.batch_for_memory(light, 32)
    assert 1 < batch < 32
    assert batch * per_input <= budget.activation_budget_mb(light) * 2**20 < (batch + 1) * per_input
    # A larger memory target (config.memory_mb) buys VGG16 a larger batch: 4,000 MB leaves
    # 4000 - 650 - 528 - 170 = 2,652 MB, i.e. 3 inputs of 8 x 12.25 MiB maps.
    roomy = budget.activation_budget_mb(vgg, 4000)
    assert 2600 < roomy < 2700
    assert budget.batch_for_memory(vgg, 32, roomy) == int(roomy // (8 * 12.25))


def test_bad_arguments_are_refused(tiny_cnn):
    with pytest.raises(ValueError):
        budget.batch_for_memory(tiny_cnn, 0)


def test_summaries_that_would_not_fit_in_memory_are_refused_with_what_fits():
    budget.check_summaries_fit(50_000, 4 * 4_224, ram_bytes=16 * 2**30)  # VGG16 convs: 3.4 GB of 16
    with pytest.raises(budget.NotEnoughMemory) as refused:  # with its dense layers: 10.7 GB
        budget.check_summaries_fit(50_000, 4 * 13_416, ram_bytes=16 * 2**30)
    text = str(refused.value)
    assert "10.0 GB" in text and "16 GB" in text and "at most about 40,017 images" in text


def test_the_job_refuses_before_extracting_when_the_summaries_would_not_fit(
        image_folder, tiny_model_file, tmp_path, results_cache, monkeypatch):
    import os

    from analysis import pipeline, store
    from analysis.errors import UserError

    monkeypatch.setattr(budget, "physical_memory_bytes", lambda: 1024)  # a 1 KiB machine
    roots = [str(tmp_path), os.path.dirname(tiny_model_file)]
    request = pipeline.Request(model=tiny_model_file, data=image_folder, batch_size=8)
    with pytest.raises(UserError, match="would take .* more than half of this machine"):
        pipeline.run(request, data_roots=roots, model_roots=roots, cache=results_cache, n_threads=1)
    assert not any(str(name).endswith("/meta") for name in results_cache.iterkeys())  # nothing stored
    monkeypatch.undo()
    done = pipeline.run(request, data_roots=roots, model_roots=roots, cache=results_cache, n_threads=1)
    assert store.load_meta(results_cache, done["key"]) is not None
