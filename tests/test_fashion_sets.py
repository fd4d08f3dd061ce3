"""What the Fashion-MNIST findings sets (fourth to eighth) share through build.FashionSet and
build.split_by_source: each source image on one side only, in both variants, in index order, drawn
from the set's own index range; the data folder from an environment variable. No training."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "validation"))

import build  # noqa: E402
import eighth  # noqa: E402
import fifth  # noqa: E402
import fourth  # noqa: E402
import seventh  # noqa: E402
import sixth  # noqa: E402
from tests.helpers import garment_like_images  # noqa: E402

HAS_FASHION = (fifth.FASHION / "train-images-idx3-ubyte.gz").exists()
#: Each set's second variant, written out independently of the set's module where it is a formula.
VARIANTS = [(fifth, fifth.shrink, None), (sixth, sixth.blur, sixth.blur),
            (seventh, seventh.invert, lambda images: 255 - images),
            (eighth, eighth.rotate, lambda images: np.rot90(images, axes=(1, 2)))]
IDS = ["fifth", "sixth", "seventh", "eighth"]


@pytest.mark.parametrize("module, variant, _", VARIANTS, ids=IDS)
def test_split_by_source_keeps_each_source_image_on_one_side_in_both_variants(module, variant, _):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 6000)
    images = garment_like_images(len(labels), seed=2)
    index_of = {img.tobytes(): i for i, img in enumerate(images)}
    assert len(index_of) == len(images)
    sources = list(module.GARMENTS.values())
    (analysed, a_labels), (train, t_labels) = build.split_by_source(images, labels, sources, module.VARIANTS,
                                                                    200, 300)
    n = len(sources)
    assert np.bincount(a_labels).tolist() == [200] * 2 * n
    assert np.bincount(t_labels).tolist() == [300] * 2 * n
    for i, source in enumerate(sources):
        idx = np.flatnonzero(labels == source)
        # the first variant: the first 200 / next 300 of each garment, in index order
        assert [index_of[img.tobytes()] for img in analysed[a_labels == i]] == idx[:200].tolist()
        assert [index_of[img.tobytes()] for img in train[t_labels == i]] == idx[200:500].tolist()
    # class i + n holds the same source images as class i, transformed, on the same side only
    for part, part_labels in ((analysed, a_labels), (train, t_labels)):
        for i in range(n):
            first, second = part[part_labels == i], part[part_labels == i + n]
            np.testing.assert_array_equal(second, variant(first))
            assert not any(img.tobytes() in index_of for img in second)


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist is not installed")
@pytest.mark.parametrize("module, _, expected", VARIANTS, ids=IDS)
def test_split_draws_from_the_sets_index_range_and_shares_no_image_between_sides(module, _, expected):
    (analysed, a_labels), (train, t_labels) = module.make_split()
    assert analysed.dtype == np.uint8 and analysed.shape == (2000, 28, 28) and train.shape == (3000, 28, 28)
    assert np.bincount(a_labels).tolist() == [200] * 10 and np.bincount(t_labels).tolist() == [300] * 10
    all_labels = module.read_idx(module.FASHION / "train-labels-idx1-ubyte.gz")
    all_images = module.read_idx(module.FASHION / "train-images-idx3-ubyte.gz")
    start, stop = module.DATA.indices.start or 0, module.DATA.indices.stop or len(all_labels)
    for i, garment in enumerate(module.GARMENTS.values()):
        idx = start + np.flatnonzero(all_labels[start:stop] == garment)
        assert idx[499] < stop
        np.testing.assert_array_equal(analysed[a_labels == i], all_images[idx[:200]])
        np.testing.assert_array_equal(train[t_labels == i], all_images[idx[200:500]])
        if expected is not None:
            np.testing.assert_array_equal(analysed[a_labels == i + 5], expected(all_images[idx[:200]]))
            np.testing.assert_array_equal(train[t_labels == i + 5], expected(all_images[idx[200:500]]))
    seen = {img.tobytes() for img in train}
    assert not any(img.tobytes() in seen for img in analysed)


@pytest.mark.parametrize("module", [fourth, fifth, sixth, seventh, eighth],
                         ids=["fourth", "fifth", "sixth", "seventh", "eighth"])
def test_data_folder_follows_its_environment_variable(module, monkeypatch, tmp_path):
    variable = f"CHANNELEXPLORER_{module.DATA.name.upper()}_DIR"
    monkeypatch.setenv(variable, str(tmp_path / "set"))
    assert module.data_dir() == tmp_path / "set"
    monkeypatch.delenv(variable)
    assert module.data_dir() == Path.home() / ".cache" / "channelexplorer" / f"{module.DATA.name}-fashion"
