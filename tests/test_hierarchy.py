import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis.hierarchy import class_dendrogram, dendrogram_segments, sub_classes, super_classes

# Fashion-MNIST-like: tops {0..4}, footwear {5,6,7}, trouser {8}, bag {9}.
GROUPS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 3])


def _planted_similarity(seed=0, diagonal=1.0):
    rng = np.random.default_rng(seed)
    k = GROUPS.size
    same = GROUPS[:, None] == GROUPS[None, :]
    s = np.where(same, 0.7, 0.2) + rng.uniform(-0.05, 0.05, size=(k, k))
    s[8, :5] += 0.1  # trouser a little closer to tops than to footwear
    s = (s + s.T) / 2
    s[:5, 8] = s[8, :5]
    np.fill_diagonal(s, diagonal)
    return s


def test_planted_class_groups_recovered_exactly_with_four_groups():
    z, _ = class_dendrogram(_planted_similarity())
    groups = super_classes(z, n_groups=4)
    assert adjusted_rand_score(GROUPS, groups) == 1.0
    np.testing.assert_array_equal(groups, GROUPS)  # numbered by smallest member


def test_automatic_cut_finds_planted_groups():
    for seed in range(3):
        z, _ = class_dendrogram(_planted_similarity(seed))
        groups = super_classes(z)
        assert 2 <= groups.max() + 1 <= 9
        assert adjusted_rand_score(GROUPS, groups) >= 0.8


def test_huge_diagonal_and_affine_rescaling_do_not_change_the_tree():
    s = _planted_similarity()
    z1, order1 = class_dendrogram(s)
    z2, order2 = class_dendrogram(_planted_similarity(diagonal=100.0) * 3.0 + 7.0)
    z3, order3 = class_dendrogram(_planted_similarity(diagonal=np.nan))  # e.g. a one-input class
    np.testing.assert_allclose(z1, z2)
    np.testing.assert_allclose(z1, z3)
    np.testing.assert_array_equal(order1, order2)
    np.testing.assert_array_equal(order1, order3)
    assert z1[:, 2].min() >= 0.0 and z1[:, 2].max() <= 1.0


def test_leaf_order_keeps_each_group_contiguous():
    _, order = class_dendrogram(_planted_similarity())
    assert sorted(order.tolist()) == list(range(10))
    seq = GROUPS[order]
    assert np.count_nonzero(np.diff(seq)) == 3  # four runs, one per group


def test_extreme_cuts_give_one_group_or_singletons():
    z, _ = class_dendrogram(_planted_similarity())
    np.testing.assert_array_equal(super_classes(z, n_groups=1), np.zeros(10))
    np.testing.assert_array_equal(super_classes(z, n_groups=10), np.arange(10))


def test_dendrogram_nodes_describe_a_drawable_clickable_tree():
    z, order = class_dendrogram(_planted_similarity())
    names = [f"c{i}" for i in range(10)]
    nodes = dendrogram_segments(z, names)
    assert len(nodes) == 19
    leaves = nodes[:10]
    assert all(n["is_leaf"] and n["y"] == 0.0 and n["label"] == names[n["id"]] for n in leaves)
    np.testing.assert_array_equal([leaves[c]["x"] for c in order], np.arange(10))
    root = nodes[-1]
    assert root["members"] == list(range(10)) and root["y"] == pytest.approx(z[-1, 2])
    for node in nodes[10:]:
        left, right = (nodes[c] for c in node["children"])
        assert node["members"] == sorted(left["members"] + right["members"])
        assert left["x"] <= node["x"] <= right["x"]
        assert node["path_x"] == [left["x"], left["x"], right["x"], right["x"]]
        assert node["path_y"] == [left["y"], node["y"], node["y"], right["y"]]
    # The footwear group is one node of the tree.
    assert any(n["members"] == [5, 6, 7] for n in nodes)


def test_invalid_similarity_and_cut_arguments_are_rejected():
    s = _planted_similarity()
    bad = s.copy()
    bad[0, 1] += 0.5
    with pytest.raises(ValueError, match="symmetric"):
        class_dendrogram(bad)
    bad = s.copy()
    bad[2, 3] = bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="off the diagonal"):
        class_dendrogram(bad)
    with pytest.raises(ValueError, match="square"):
        class_dendrogram(s[:3])
    z, _ = class_dendrogram(s)
    with pytest.raises(ValueError, match="n_groups"):
        super_classes(z, n_groups=11)
    with pytest.raises(ValueError, match="labels"):
        dendrogram_segments(z, ["a", "b"])
    with pytest.raises(ValueError, match="linkage"):
        super_classes(np.zeros((3, 3)))


def _three_subclusters(seed=0, n_per=150, d=30):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(3, d)) * 2.0
    truth = np.repeat(np.arange(3), n_per)
    return centres[truth] + rng.normal(size=(truth.size, d)), truth


def test_planted_subclusters_are_found():
    x, truth = _three_subclusters()
    out = sub_classes(x, random_state=0)
    assert out["k"] == 3
    assert adjusted_rand_score(truth, out["labels"]) >= 0.9
    assert set(out["silhouettes"]) == {2, 3, 4, 5, 6}


def test_single_isotropic_gaussian_has_no_subclasses():
    x = np.random.default_rng(1).normal(size=(400, 30))
    out = sub_classes(x, random_state=0)
    assert out["k"] == 1
    assert np.all(out["labels"] == 0)


def test_elongated_single_gaussian_is_not_split_despite_high_silhouette():
    # Correlated channels (rank-1 latent) make KMeans silhouettes look good
    # on a single Gaussian; the null comparison must reject the split.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 1)) @ rng.normal(size=(1, 40)) + 0.3 * rng.normal(size=(400, 40))
    out = sub_classes(x, random_state=0)
    assert max(out["silhouettes"].values()) > 0.1
    assert out["k"] == 1


def test_subclasses_are_reproducible_for_a_seed_and_validate_inputs():
    x, _ = _three_subclusters(seed=3, n_per=60)
    a = sub_classes(x, random_state=7)
    b = sub_classes(x, random_state=7)
    np.testing.assert_array_equal(a["labels"], b["labels"])
    with pytest.raises(ValueError, match="k_range"):
        sub_classes(x, k_range=(1, 4))
    with pytest.raises(ValueError, match="n >= 3"):
        sub_classes(x[:2])
