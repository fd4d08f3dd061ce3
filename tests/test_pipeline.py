"""The job body: cache hits and misses, bad input turned into clear messages."""

import os

import numpy as np
import pytest
from PIL import Image

from analysis import pipeline, store
from analysis.pipeline import AnalysisError, Request


def run(request, roots, cache):
    return pipeline.run(request, data_roots=roots, model_roots=roots, cache=cache, n_threads=1)


@pytest.fixture()
def roots(tmp_path, image_folder, tiny_model_file):
    return [str(tmp_path), os.path.dirname(tiny_model_file)]


def test_second_run_is_served_from_cache(image_folder, tiny_model_file, roots, results_cache):
    request = Request(model=tiny_model_file, data=image_folder, batch_size=4)
    calls = []
    first = pipeline.run(request, data_roots=roots, model_roots=roots, cache=results_cache,
                         progress=lambda phase, done, total: calls.append((phase, done, total)))
    assert not first["from_cache"] and first["n"] == 15
    assert ("Extracting", 15, 15) in calls  # progress reached the end
    second = run(request, roots, results_cache)
    assert second["from_cache"] and second["key"] == first["key"]
    meta = store.load_meta(results_cache, first["key"])
    assert meta["forward_passes"] == 4  # ceil(15 / 4) batches, one pass each
    acts = store.load_layer(results_cache, first["key"], "relu_a")
    assert acts["mean"].shape == (15, 8)
    assert store.load_probs(results_cache, first["key"]).shape == (15, 3)


def test_changed_image_is_a_cache_miss(image_folder, tiny_model_file, roots, results_cache):
    request = Request(model=tiny_model_file, data=image_folder)
    first = run(request, roots, results_cache)
    Image.new("RGB", (16, 16), color=(9, 9, 9)).save(os.path.join(image_folder, "square", "001.png"))
    second = run(request, roots, results_cache)
    assert not second["from_cache"] and second["key"] != first["key"]


def test_changed_model_is_a_cache_miss(image_folder, tiny_cnn, tiny_model_file, roots, results_cache, tmp_path):
    request = Request(model=tiny_model_file, data=image_folder)
    first = run(request, roots, results_cache)
    import keras
    other = keras.models.clone_model(tiny_cnn)
    other.set_weights([w * 0.5 for w in tiny_cnn.get_weights()])
    other_path = tmp_path / "other.keras"
    other.save(other_path)
    second = run(Request(model=str(other_path), data=image_folder), roots, results_cache)
    assert not second["from_cache"] and second["key"] != first["key"]
    a = store.load_layer(results_cache, first["key"], "relu_a")["mean"]
    b = store.load_layer(results_cache, second["key"], "relu_a")["mean"]
    assert not np.allclose(a, b)


def test_different_settings_are_a_cache_miss(image_folder, tiny_model_file, roots, results_cache):
    first = run(Request(model=tiny_model_file, data=image_folder), roots, results_cache)
    second = run(Request(model=tiny_model_file, data=image_folder, layers="all"), roots, results_cache)
    assert second["key"] != first["key"] and len(second["layers"]) > len(first["layers"])


def test_unreadable_images_are_dropped_and_counted(image_folder, tiny_model_file, roots, results_cache):
    with open(os.path.join(image_folder, "circle", "bad.png"), "wb") as handle:
        handle.write(b"not an image at all")
    summary = run(Request(model=tiny_model_file, data=image_folder), roots, results_cache)
    assert summary["n"] == 15 and summary["bad"] == 1
    meta = store.load_meta(results_cache, summary["key"])
    assert os.path.join("circle", "bad.png") not in meta["files"]
    assert len(meta["labels"]) == 15


def test_not_a_keras_model_gives_clear_message(image_folder, roots, results_cache, tmp_path):
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"PK\x03\x04 definitely not a keras archive")
    with pytest.raises(AnalysisError, match="not a .keras archive"):
        run(Request(model=str(fake), data=image_folder), roots, results_cache)


def test_model_without_image_input_gives_clear_message(image_folder, roots, results_cache, tmp_path):
    import keras
    inp = keras.Input((10,))
    keras.Model(inp, keras.layers.Dense(2)(inp)).save(tmp_path / "tabular.keras")
    with pytest.raises(AnalysisError, match="image input"):
        run(Request(model=str(tmp_path / "tabular.keras"), data=image_folder), roots, results_cache)


def test_data_outside_roots_is_refused(tiny_model_file, results_cache, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    with pytest.raises(AnalysisError, match="outside the allowed"):
        pipeline.run(Request(model=tiny_model_file, data="/etc"), data_roots=[str(allowed)],
                     model_roots=[os.path.dirname(tiny_model_file)], cache=results_cache)


def test_model_outside_roots_is_refused(image_folder, tiny_model_file, results_cache, tmp_path):
    with pytest.raises(AnalysisError, match="outside the allowed model roots"):
        pipeline.run(Request(model=tiny_model_file, data=image_folder), data_roots=[str(tmp_path)],
                     model_roots=[str(tmp_path)], cache=results_cache)


def test_empty_data_folder_gives_clear_message(tiny_model_file, roots, results_cache, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AnalysisError, match="It is empty"):
        run(Request(model=tiny_model_file, data=str(empty)), roots, results_cache)


def test_unknown_application_gives_clear_message(image_folder, roots, results_cache):
    with pytest.raises(AnalysisError, match="Unknown model"):
        run(Request(model="alexnet", data=image_folder), roots, results_cache)


def test_ablation_of_stored_analysis_reports_drops(image_folder, tiny_model_file, roots, results_cache):
    from callbacks.channels import ablation_text

    summary = run(Request(model=tiny_model_file, data=image_folder), roots, results_cache)
    meta = store.load_meta(results_cache, summary["key"])
    result = pipeline.ablation(meta, "conv_a", [0, 1], list(range(8)), n_threads=1,
                               n_random_repeats=2)
    assert result["n_ablated"] == 2 and len(result["random_accuracies"]) == 2
    assert 0.0 <= result["baseline"] <= 1.0
    assert result["drop_flagged"] == pytest.approx(result["baseline"] - result["flagged_accuracy"])
    text = ablation_text(result)
    assert "Zeroing the 2 flagged channels of conv_a" in text and "random channels" in text


def test_lookup_answers_from_the_cache_without_hashing_or_keras(image_folder, tiny_model_file, roots,
                                                                results_cache, tmp_path):
    import json
    import subprocess
    import sys

    request = Request(model=tiny_model_file, data=image_folder)
    assert pipeline.lookup(request, data_roots=roots, model_roots=roots, cache=results_cache) is None
    first = run(request, roots, results_cache)
    script = (
        "import json, sys\n"
        "from analysis import pipeline, store\n"
        f"cache = store.open_cache({results_cache.directory!r}, 2 ** 30)\n"
        f"hit = pipeline.lookup(pipeline.Request(model={tiny_model_file!r}, data={image_folder!r}),"
        f" data_roots={roots!r}, model_roots={roots!r}, cache=cache)\n"
        "print(json.dumps([hit['key'], hit['from_cache'], 'keras' in sys.modules,"
        " 'tensorflow' in sys.modules]))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [first["key"], True, False, False]
    # A touched file is a miss for the cheap lookup; the job re-hashes, finds equal bytes
    # and serves the stored result, after which the lookup hits again.
    path = os.path.join(image_folder, "circle", "000.png")
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10 ** 9))
    assert pipeline.lookup(request, data_roots=roots, model_roots=roots, cache=results_cache) is None
    again = run(request, roots, results_cache)
    assert again["from_cache"] and again["key"] == first["key"]
    assert pipeline.lookup(request, data_roots=roots, model_roots=roots,
                           cache=results_cache)["key"] == first["key"]


def test_truncated_cache_entry_is_recomputed_with_a_notice(image_folder, tiny_model_file, roots,
                                                           tmp_path):
    # Every value in its own file (tiny arrays would otherwise live inside SQLite).
    results_cache = store.open_cache(str(tmp_path / "files-cache"), 2 ** 30, disk_min_file_size=0)
    request = Request(model=tiny_model_file, data=image_folder)
    first = run(request, roots, results_cache)
    before = store.load_layer(results_cache, first["key"], "relu_a")["mean"].copy()
    name = f"analysis/{first['key']}/acts/relu_a"
    db_key, raw = results_cache._disk.put(name)
    (filename,) = results_cache._sql("SELECT filename FROM Cache WHERE key = ? AND raw = ?",
                                     (db_key, raw)).fetchone()
    path = os.path.join(results_cache.directory, filename)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 3)
    assert pipeline.lookup(request, data_roots=roots, model_roots=roots, cache=results_cache) is None
    second = run(request, roots, results_cache)
    assert not second["from_cache"] and second["recomputed_damaged"]
    np.testing.assert_allclose(store.load_layer(results_cache, second["key"], "relu_a")["mean"], before,
                               rtol=1e-5)
    assert run(request, roots, results_cache)["from_cache"]


def test_job_stores_thumbnails_and_skips_links_outside_the_roots(tmp_path, tiny_model_file,
                                                                 results_cache):
    from tests.helpers import write_image_folder

    allowed = tmp_path / "allowed"
    data = write_image_folder(allowed / "images", per_class=3)
    secret = write_image_folder(tmp_path / "secret", per_class=2)
    os.symlink(os.path.join(secret, "circle", "000.png"), os.path.join(data, "square", "leak.png"))
    roots = [str(allowed), os.path.dirname(tiny_model_file)]
    summary = run(Request(model=tiny_model_file, data=data), roots, results_cache)
    assert summary["n"] == 9 and summary["outside"] == 1
    meta = store.load_meta(results_cache, summary["key"])
    assert os.path.join("square", "leak.png") not in meta["files"]
    thumb = store.thumbnail(results_cache, summary["key"], 8)
    assert thumb.startswith(b"\x89PNG")


def test_folder_given_as_model_and_nul_paths_are_refused_in_words(image_folder, roots, results_cache):
    not_zip = os.path.join(image_folder, "model.keras")
    with open(not_zip, "w") as handle:
        handle.write("just text")
    with pytest.raises(AnalysisError, match="not a .keras archive"):
        pipeline.lookup(Request(model=not_zip, data=image_folder), data_roots=roots,
                        model_roots=roots, cache=results_cache)
    os.remove(not_zip)
    with pytest.raises(AnalysisError, match="is a folder"):
        run(Request(model=image_folder + os.sep, data=image_folder), roots, results_cache)
    saved = os.path.join(image_folder, "exported")
    os.makedirs(os.path.join(saved, "variables"))
    open(os.path.join(saved, "saved_model.pb"), "wb").close()
    with pytest.raises(AnalysisError, match="SavedModel folder.*model.save"):
        run(Request(model=saved, data=image_folder), roots, results_cache)
    with pytest.raises(AnalysisError, match="NUL"):
        run(Request(model="demo", data=image_folder + "\0"), roots, results_cache)
    with pytest.raises(AnalysisError, match="Model: .*NUL"):
        run(Request(model="vgg16\0", data=image_folder), roots, results_cache)
    with pytest.raises(AnalysisError, match="line break"):
        pipeline.lookup(Request(model="a\nb.keras", data=image_folder), data_roots=roots,
                        model_roots=roots, cache=results_cache)
