import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from analysis.mislabel import average_precision, mislabel_scores, precision_at_k, rank

K = 5
PER_CLASS = 160
FLIP_SHARE = 0.05


def _planted(seed=0):
    """Gaussian clusters per class in two 'layers'; 5% of labels flipped."""
    rng = np.random.default_rng(seed)
    true = np.repeat(np.arange(K), PER_CLASS)
    n = true.size
    means1 = rng.normal(0.0, 0.5, size=(K, 16))
    means2 = rng.normal(0.0, 0.8, size=(K, 32))
    shallow = (means1[true] + rng.normal(size=(n, 16))).astype(np.float32)
    deep = (means2[true] + rng.normal(size=(n, 32))).astype(np.float32)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, int(FLIP_SHARE * n), replace=False)] = True
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, K, size=flipped.sum())) % K
    # A model that learnt the true classes: confident, with some noise.
    logits = rng.normal(0.0, 1.0, size=(n, K))
    logits[np.arange(n), true] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    layers = {"conv1": shallow, "conv2": deep}
    return layers, given, true, flipped, probs.astype(np.float32)


def test_flipped_labels_top_the_ranking_with_model_probs():
    layers, given, _, flipped, probs = _planted()
    out = mislabel_scores(layers, given, probs)
    assert precision_at_k(out["score"], flipped, int(flipped.sum())) >= 0.8


def test_flipped_labels_top_the_ranking_from_neighbours_alone():
    layers, given, _, flipped, _ = _planted(seed=1)
    out = mislabel_scores(layers, given)
    assert precision_at_k(out["score"], flipped, int(flipped.sum())) >= 0.8
    assert np.isnan(out["model_other"]).all()
    np.testing.assert_allclose(out["score"], out["neighbour_disagreement"])


@pytest.mark.parametrize("axes_max", [1024, 16])  # principal axes by eigh / by randomised SVD
def test_large_sets_search_a_reference_sample_in_principal_components_and_still_find_flips(monkeypatch, axes_max):
    from analysis import mislabel
    layers, given, _, flipped, _ = _planted(seed=1)
    exact = mislabel_scores(layers, given)["score"]
    monkeypatch.setattr(mislabel, "EXACT_MAX", 300)   # 800 inputs count as "large"
    monkeypatch.setattr(mislabel, "REFERENCE", 300)
    monkeypatch.setattr(mislabel, "APPROX_DIMS", 8)   # conv2 (32 channels) is reduced
    monkeypatch.setattr(mislabel, "EXACT_AXES_MAX", axes_max)
    approx = mislabel_scores(layers, given)["score"]
    assert not np.allclose(approx, exact)  # the reduced search did run
    assert precision_at_k(approx, flipped, int(flipped.sum())) >= 0.8


def test_flipped_inputs_score_higher_than_clean_on_average():
    layers, given, _, flipped, probs = _planted(seed=2)
    for p in (probs, None):
        score = mislabel_scores(layers, given, p)["score"]
        assert score[flipped].mean() > score[~flipped].mean() + 0.3


def test_suggested_class_recovers_true_label_and_never_repeats_given():
    layers, given, true, flipped, probs = _planted(seed=3)
    out = mislabel_scores(layers, given, probs)
    assert np.all(out["suggested"] != given)
    assert np.mean(out["suggested"][flipped] == true[flipped]) >= 0.9


def test_other_class_model_term_also_ranks_flips_first():
    layers, given, _, flipped, probs = _planted(seed=4)
    out = mislabel_scores(layers, given, probs, model_term="other", metric="euclidean")
    assert average_precision(out["score"], flipped) >= 0.8


def test_default_weights_favour_deep_layer_over_uninformative_shallow_one():
    layers, given, _, flipped, _ = _planted(seed=5)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=layers["conv2"].shape).astype(np.float32)
    out = mislabel_scores({"noise": noise, "deep": layers["conv2"]}, given)
    np.testing.assert_allclose(out["layer_weights"], [1 / 3, 2 / 3])
    reversed_order = mislabel_scores({"deep": layers["conv2"], "noise": noise}, given)
    assert average_precision(out["score"], flipped) > average_precision(reversed_order["score"], flipped)


def test_model_weight_one_scores_by_model_alone():
    layers, given, _, _, probs = _planted()
    out = mislabel_scores(layers, given, probs, model_weight=1.0)
    np.testing.assert_allclose(out["score"], 1.0 - probs[np.arange(given.size), given], rtol=1e-6)


def test_exact_duplicate_counts_as_neighbour_not_self():
    # Point 0 and point 1 are identical but labelled differently; with one
    # neighbour each must see the other, so both fully disagree.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4)) * 10
    x[1] = x[0]
    labels = np.arange(20) % 2
    out = mislabel_scores({"l": x}, labels, n_neighbors=1)
    assert out["neighbour_disagreement"][0] == 1.0
    assert out["neighbour_disagreement"][1] == 1.0


def test_average_precision_matches_sklearn_including_ties():
    rng = np.random.default_rng(0)
    for _ in range(5):
        truth = rng.random(300) < 0.1
        score = np.round(rng.random(300) + truth * 0.3, 1)  # many ties
        assert average_precision(score, truth) == pytest.approx(average_precision_score(truth, score))


def test_precision_at_k_and_rank_on_known_order():
    score = np.array([0.1, 0.9, 0.5, 0.9, 0.0])
    truth = np.array([False, True, False, False, True])
    np.testing.assert_array_equal(rank(score), [1, 3, 2, 0, 4])
    assert precision_at_k(score, truth, 1) == 1.0
    assert precision_at_k(score, truth, 2) == 0.5
    assert precision_at_k(score, truth, 5) == 0.4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_neighbors": 40}, "n_neighbors"),
        ({"model_weight": 1.5}, "model_weight"),
        ({"probs": np.ones((39, 2))}, "probs"),
        ({"metric": "manhattan"}, "metric"),
        ({"layer_weights": [1.0, -1.0]}, "layer_weights"),
    ],
)
def test_bad_arguments_are_rejected_with_reason(kwargs, match):
    x = np.random.default_rng(0).normal(size=(40, 3))
    labels = np.arange(40) % 2
    with pytest.raises(ValueError, match=match):
        mislabel_scores({"a": x, "b": x}, labels, **kwargs)


def test_mismatched_rows_and_non_integer_labels_are_rejected():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="same number of rows"):
        mislabel_scores({"a": x, "b": np.zeros((9, 3))}, np.zeros(10, int))
    with pytest.raises(TypeError, match="integers"):
        mislabel_scores({"a": x}, np.zeros(10))
    with pytest.raises(ValueError, match="no positives"):
        average_precision(np.arange(3.0), np.zeros(3, bool))
