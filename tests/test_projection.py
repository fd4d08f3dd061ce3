"""2-D projections: planted structure must survive, and seeds must reproduce results."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from analysis import projection


def two_clusters(n, dims=30, gap=4.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    x = rng.normal(size=(n, dims))
    x[labels == 1, :5] += gap
    return x.astype(np.float32), labels


def knn_accuracy(points, labels, k=5):
    """Leave-one-out k-nearest-neighbour accuracy in the projected plane."""
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    votes = labels[np.argsort(d, axis=1)[:, :k]].mean(axis=1)
    return np.mean((votes > 0.5) == labels)


def test_pca_separates_two_planted_clusters_along_its_first_axis():
    x, labels = two_clusters(300)
    y = projection.project(x, "pca")
    assert y.shape == (300, 2) and y.dtype == np.float32
    first = y[:, 0]
    side = first > np.median(first)
    assert max(np.mean(side == labels), np.mean(side != labels)) > 0.97


def test_constant_columns_are_dropped_before_projecting():
    x, _ = two_clusters(100)
    with_constant = np.column_stack([x, np.full(100, 7.0)])
    np.testing.assert_allclose(projection.project(with_constant, "pca"), projection.project(x, "pca"), atol=1e-5)


@pytest.mark.parametrize("method, params", [("pca", {}), ("tsne", {"max_iter": 250}), ("mds", {"n_landmarks": 100})])
def test_projection_is_reproducible_for_a_fixed_random_state(method, params):
    x, _ = two_clusters(150)
    first = projection.project(x, method, random_state=3, **params)
    np.testing.assert_array_equal(first, projection.project(x, method, random_state=3, **params))


def test_landmark_choice_depends_on_random_state():
    x, _ = two_clusters(150)
    a = projection.project(x, "mds", random_state=1, n_landmarks=20)
    b = projection.project(x, "mds", random_state=2, n_landmarks=20)
    assert not np.allclose(a, b)


def test_mds_preserves_the_distance_order_of_points_on_a_line():
    rng = np.random.default_rng(4)
    t = np.sort(rng.uniform(-5, 5, size=40))
    x = np.outer(t, rng.normal(size=6)) + rng.normal(scale=1e-3, size=(40, 6))
    y = projection.project(x, "mds")
    assert spearmanr(pdist(t[:, None]), pdist(y)).statistic > 0.999
    assert abs(spearmanr(t, y[:, 0]).statistic) > 0.999


def test_classical_mds_recovers_a_planar_configuration_up_to_rotation():
    pts = np.random.default_rng(5).normal(size=(30, 2))
    sq = ((pts[:, None] - pts[None]) ** 2).sum(-1)
    y = projection.classical_mds(sq)
    np.testing.assert_allclose(pdist(y), pdist(pts), atol=1e-8)


def test_landmark_mds_agrees_with_exact_classical_mds_at_3000_points():
    rng = np.random.default_rng(6)
    plane = rng.normal(size=(3000, 2)) * [3.0, 1.5]
    x = plane @ rng.normal(size=(2, 40)) + rng.normal(scale=0.3, size=(3000, 40))
    landmark = projection.project(x, "mds", random_state=0)  # 1,000 landmarks.
    exact = projection.project(x, "mds", n_landmarks=3000)
    sample = rng.choice(3000, size=400, replace=False)
    assert np.corrcoef(pdist(landmark[sample]), pdist(exact[sample]))[0, 1] > 0.99


def test_mds_cosine_metric_differs_from_euclidean():
    x, _ = two_clusters(80)
    euclid = projection.project(x, "mds")
    cosine = projection.project(x, "mds", metric="cosine")
    assert abs(np.corrcoef(pdist(euclid), pdist(cosine))[0, 1]) < 0.999


def test_tsne_separates_planted_clusters():
    x, labels = two_clusters(200)
    y = projection.project(x, "tsne", random_state=0, max_iter=500)
    assert y.shape == (200, 2) and y.dtype == np.float32
    assert knn_accuracy(y, labels) > 0.95


def test_umap_separates_planted_clusters():
    pytest.importorskip("umap")
    x, labels = two_clusters(200)
    y = projection.project(x, "umap", random_state=0)
    assert y.shape == (200, 2) and y.dtype == np.float32
    assert knn_accuracy(y, labels) > 0.95


def test_unknown_method_lists_the_allowed_methods():
    with pytest.raises(ValueError, match="allowed: pca, umap, tsne, mds"):
        projection.project(np.ones((5, 3)), "isomap")


def test_unknown_parameter_lists_the_parameters_the_method_accepts():
    with pytest.raises(ValueError, match="perplexity.*allowed: max_iter, n_threads, perplexity"):
        projection.project(np.ones((5, 3)), "tsne", perplexity=5, perplexity_=3)
    with pytest.raises(ValueError, match="metric"):
        projection.project(np.ones((5, 3)), "mds", metric="hamming")


def test_degenerate_inputs_give_zeros_or_a_clear_error():
    assert not projection.project(np.ones((6, 3)), "tsne").any()  # Nothing varies.
    assert projection.project(np.array([[1.0, 2.0]]), "pca").shape == (1, 2)
    with pytest.raises(ValueError, match="at least 4 inputs"):
        projection.project(np.arange(6.0).reshape(3, 2), "tsne")
    with pytest.raises(ValueError, match="NaN"):
        projection.project(np.array([[1.0, np.nan], [2.0, 3.0]]), "pca")


def test_landmark_mds_reports_how_many_points_it_sampled_and_how():
    x, _ = two_clusters(150)
    y, info = projection.project_with_info(x, "mds", random_state=0, n_landmarks=40)
    assert y.shape == (150, 2)
    assert info["n_inputs"] == 150 and info["n_used"] == 40
    assert "40 landmarks" in info["sampling"] and "random" in info["sampling"]


def test_methods_that_use_every_input_report_no_sampling():
    x, _ = two_clusters(60)
    for method in ("pca", "mds"):
        _, info = projection.project_with_info(x, method)
        assert info == {"n_inputs": 60, "n_used": 60, "sampling": None}


def test_umap_above_max_fit_lays_out_a_sample_and_places_the_rest_near_their_neighbours():
    pytest.importorskip("umap")
    x, labels = two_clusters(300)
    y, info = projection.project_with_info(x, "umap", random_state=0, max_fit=120)
    assert y.shape == (300, 2) and np.isfinite(y).all()
    assert info["n_used"] == 120 and "120 inputs drawn uniformly at random" in info["sampling"]
    assert knn_accuracy(y, labels) > 0.95
