import numpy as np
import pytest

from analysis.separability import separability, stratified_subsample

K = 4


def _labels(n=600, seed=0):
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(K), n // K))


def _layer(labels, separation, dims=16, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(K, dims))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return (separation * means[labels] + rng.normal(size=(labels.size, dims))).astype(np.float32)


def test_noise_layer_is_near_chance_and_planted_means_near_one():
    y = _labels()
    acc = separability({"noise": _layer(y, 0.0), "clear": _layer(y, 8.0)}, y)
    assert list(acc) == ["noise", "clear"]
    assert abs(acc["noise"] - 1 / K) < 0.08
    assert acc["clear"] > 0.97


def test_accuracy_increases_along_a_planted_sequence_of_layers():
    y = _labels(seed=1)
    layers = {f"l{i}": _layer(y, s, seed=i) for i, s in enumerate([0.0, 1.0, 2.0, 3.5, 6.0])}
    acc = list(separability(layers, y).values())
    assert all(b > a for a, b in zip(acc, acc[1:])), acc


def test_large_inputs_are_subsampled_with_class_shares_kept():
    y = np.repeat([0, 1, 2], [1800, 900, 300])
    idx = stratified_subsample(y, 600, random_state=0)
    assert 590 <= idx.size <= 600
    np.testing.assert_array_equal(np.bincount(y[idx]), [360, 180, 60])
    assert np.unique(idx).size == idx.size
    assert not np.array_equal(idx, stratified_subsample(y, 600, random_state=1))
    # A tiny class survives subsampling.
    y2 = np.r_[np.zeros(5000, int), [1, 1, 1]]
    assert np.bincount(y2[stratified_subsample(y2, 100)])[1] >= 2


def test_subsampled_result_is_reproducible_and_still_separates():
    y = _labels(n=2000, seed=2)
    layers = {"clear": _layer(y, 6.0)}
    a = separability(layers, y, max_samples=400, random_state=3)
    b = separability(layers, y, max_samples=400, random_state=3)
    assert a == b and a["clear"] > 0.9


@pytest.mark.parametrize(
    "kwargs, match",
    [({"cv": 1}, "cv"), ({"n_neighbors": 0}, "n_neighbors"), ({"n_neighbors": 10_000}, "n_neighbors")],
)
def test_invalid_arguments_are_rejected_with_reason(kwargs, match):
    y = _labels(n=40)
    with pytest.raises(ValueError, match=match):
        separability({"a": _layer(y, 1.0)}, y, **kwargs)


def test_mismatched_rows_rejected():
    y = _labels(n=40)
    with pytest.raises(ValueError, match="N=40"):
        separability({"a": np.zeros((39, 3))}, y)


def test_fold_accuracies_equal_scikit_learns_scaler_and_knn_pipeline():
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 60)
    x = rng.normal(size=(240, 12)) + labels[:, None] * rng.normal(size=12) * 0.7
    x[:, 5] = 2.0  # a constant column
    got = separability({"layer": x}, labels, n_neighbors=5, cv=4, random_state=7)["layer"]
    # The same folds as separability draws them (its generator's first integer after the subsample).
    gen = np.random.default_rng(7)
    stratified_subsample(labels, 5000, gen)
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=int(gen.integers(2**31 - 1)))
    expected = cross_val_score(make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5)), x, labels,
                               cv=list(folds.split(np.arange(240), labels))).mean()
    assert 0.4 < expected < 1.0
    assert got == pytest.approx(expected, abs=1e-12)


def test_wide_layers_are_thinned_to_the_work_budget_and_still_separate(monkeypatch):
    from analysis import separability as module
    labels = _labels(800)
    layer = _layer(labels, 6.0, dims=64)
    thin = module._rows_within_budget(800, 64)
    assert isinstance(thin(np.arange(640)), slice)  # within budget: every row
    monkeypatch.setattr(module, "MAX_FOLD_WORK", 200 * 50 * 64)
    rows = module._rows_within_budget(800, 64)(np.arange(640))
    assert 100 < len(rows) < 640 and np.all(np.diff(rows) > 0)
    assert module.separability({"wide": layer}, labels)["wide"] > 0.9
