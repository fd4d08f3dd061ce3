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


def test_vgg16_at_224_gets_a_batch_whose_maps_fit_400_mb(keras_mod):
    model = keras_mod.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    assert budget.largest_map_bytes(model) == 224 * 224 * 64 * 4
    batch = budget.batch_for_memory(model, 32)
    assert batch * 224 * 224 * 64 * 4 * budget.LIVE_MAPS <= 400 * 2**20 < (batch + 1) * 224 * 224 * 64 * 4 * 3


def test_bad_arguments_are_refused(tiny_cnn):
    with pytest.raises(ValueError):
        budget.batch_for_memory(tiny_cnn, 0)
