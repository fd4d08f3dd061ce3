"""The fifth and sixth findings sets share build.split_by_source: each source image on one side only,
in both variants, in index order. No training."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "validation"))

import build  # noqa: E402
import fifth  # noqa: E402
import sixth  # noqa: E402
from tests.helpers import garment_like_images  # noqa: E402


@pytest.mark.parametrize("module, variant", [(fifth, fifth.shrink), (sixth, sixth.blur)], ids=["fifth", "sixth"])
def test_split_by_source_keeps_each_source_image_on_one_side_in_both_variants(module, variant):
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
