"""Findings callbacks as plain functions; marks survive a restart of the app."""

import csv
import io

import numpy as np
import pytest

from analysis import findings, store, views
from analysis.marks import MarkStore
from app import create_app
from app.config import Config
from callbacks import channels, hierarchy, mislabel
from tests.helpers import store_synthetic_analysis


@pytest.fixture()
def analysis(results_cache, tmp_path):
    return store_synthetic_analysis(results_cache, tmp_path / "data")


def test_planted_mistakes_rank_first(results_cache, analysis):
    meta, rows = mislabel.mislabel_rows(results_cache, analysis, top=5)
    assert {row["index"] for row in rows} == {0, 1, 2, 3, 4}  # the model's confident mistakes
    assert all(row["suggested"] != row["label"] for row in rows)
    table = mislabel.table(meta, rows, {})
    assert len(table.children[1].children) == 5


def test_marks_survive_an_app_restart_and_are_exported(results_cache, analysis, tmp_path):
    config = Config(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path / "user"),
                    warm_umap=False)
    create_app(config)
    meta = store.load_meta(results_cache, analysis["key"])
    MarkStore(config.marks_path).set(findings.marks_key(meta), 3, "wrong")
    create_app(config)  # a restart: new app, new store object, same files
    reopened = MarkStore(config.marks_path)
    assert reopened.get_all(findings.marks_key(meta)) == {3: "wrong"}
    download = mislabel.export_csv(results_cache, reopened, analysis)
    rows = list(csv.DictReader(io.StringIO(download["content"])))
    assert len(rows) == analysis["n"]
    assert [row["mark"] for row in rows if row["index"] == "3"] == ["wrong"]
    assert rows[0]["rank"] == "1" and float(rows[0]["score"]) >= float(rows[-1]["score"])


def test_class_tree_groups_planted_classes(results_cache, analysis):
    fig, text = hierarchy.tree_view(results_cache, analysis, "conv_2", "mean")
    assert text[0].startswith("Super-classes")
    leaves = fig.data[-1]
    members = [set(map(int, c.split(","))) for c in leaves.customdata]
    assert {0, 1, 2} in members  # the root holds every class
    meta = store.load_meta(results_cache, analysis["key"])
    assert views.inputs_of_classes(meta["labels"], [1]) == list(range(1, 300, 3))


def test_subclasses_of_a_class_are_listed_with_select_buttons(results_cache, tmp_path):
    key_summary = store_synthetic_analysis(results_cache, tmp_path / "d2", n=300, seed=4)
    meta = store.load_meta(results_cache, key_summary["key"])
    acts = store.load_layer(results_cache, meta["key"], "conv_2")
    class0 = np.flatnonzero(np.asarray(meta["labels"]) == 0)
    # Plant two sub-classes in class 0: half of it fires channels 16-31 strongly.
    for summary in acts:
        acts[summary][class0[::2], 16:32] += 25.0
    results_cache.set(f"analysis/{meta['key']}/acts/conv_2", acts)
    view = hierarchy.subclass_view(results_cache, key_summary, "conv_2", 0, "mean")
    assert "splits into 2 sub-classes" in view[0].children
    split = findings.subclass_split(results_cache, meta, "conv_2", 0)
    first = set(split["members"][split["labels"] == split["labels"][0]].tolist())
    assert first in (set(class0[::2].tolist()), set(class0[1::2].tolist()))


def test_unimportant_channels_table_flags_planted_dead_and_copied_channels(results_cache, tmp_path):
    summary = store_synthetic_analysis(results_cache, tmp_path / "d3", n=200, seed=5)
    key = summary["key"]
    acts = store.load_layer(results_cache, key, "conv_1")
    for name in acts:
        acts[name][:, 30] = 0.0                      # dead
        acts[name][:, 31] = acts[name][:, 5] * 2.0   # a copy of channel 5
    results_cache.set(f"analysis/{key}/acts/conv_1", acts)
    table = channels.channel_table(results_cache, summary, "conv_1")
    rows = {int(r.children[0].children): " ".join(line.children for line in r.children[1].children)
            for r in table[1].children[1].children}
    assert "dead" in rows[30] and "redundant" in rows[31]
    assert "Scan maps" in table[0].children
    assert "can be negative" not in table[0].children  # the synthetic layer says nothing about its sign


def test_a_layer_with_signed_output_is_flagged_with_a_warning(results_cache, tmp_path):
    summary = store_synthetic_analysis(results_cache, tmp_path / "d4", n=120, seed=6,
                                       nonnegative={"conv_1": False, "conv_2": True})

    def note(layer):
        table = channels.channel_table(results_cache, summary, layer)
        return table[0].children if isinstance(table, list) else table.children

    assert channels.SIGNED_NOTE.format(layer="conv_1") in note("conv_1")
    assert "can be negative" not in note("conv_2")
    # The ReLU-output rules are not applied to the signed layer: a silent channel is flagged dead
    # in the non-negative layer only.
    for layer in ("conv_1", "conv_2"):
        acts = store.load_layer(results_cache, summary["key"], layer)
        for name in acts:
            acts[name][:, 7] = 0.0
        results_cache.set(f"analysis/{summary['key']}/acts/{layer}", acts)
    meta = store.load_meta(results_cache, summary["key"])
    signed = findings.unimportant_channels(results_cache, meta, "conv_1")
    assert not any({"dead", "weak", "always_on"} & set(row["reasons"]) for row in signed)
    plain = {row["channel"]: row["reasons"] for row in findings.unimportant_channels(results_cache, meta, "conv_2")}
    assert "dead" in plain[7]


def test_layer_descriptions_say_whether_the_output_can_be_negative(keras_mod):
    from analysis import layers as layer_tools
    keras = keras_mod
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="plain")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="activated")(x)
    rows = {r["name"]: r["nonnegative"] for r in layer_tools.describe_layers(keras.Model(inputs, x))}
    assert {k: rows[k] for k in ("plain", "bn", "relu", "activated")} == {
        "plain": False, "bn": False, "relu": True, "activated": True}


def test_border_scan_flags_a_channel_that_fires_on_the_border(results_cache, analysis):
    maps = np.random.default_rng(0).random((16, 16, 16, 32)).astype(np.float32)
    maps[:, 2:-2, 2:-2, 3] = 0.0  # channel 3 only on the border
    findings.store_border_scan(results_cache, analysis["key"], "conv_2", maps)
    meta = store.load_meta(results_cache, analysis["key"])
    flagged = {row["channel"]: row["reasons"] for row in
               findings.unimportant_channels(results_cache, meta, "conv_2")}
    assert "border" in flagged.get(3, [])
    assert not any("border" in reasons for channel, reasons in flagged.items() if channel != 3)


def test_separability_rises_where_classes_are_planted(results_cache, analysis):
    meta = store.load_meta(results_cache, analysis["key"])
    curve = findings.separability_curve(results_cache, meta)
    assert list(curve) == ["conv_1", "conv_2"]
    assert curve["conv_2"] >= curve["conv_1"] > 0.5


def test_channel_table_explains_each_reason_and_exports_every_layer(results_cache, analysis):
    key = analysis["key"]
    acts = store.load_layer(results_cache, key, "conv_1")
    for name in acts:
        acts[name][:, 30] = 0.0  # dead
    results_cache.set(f"analysis/{key}/acts/conv_1", acts)
    table = channels.channel_table(results_cache, analysis, "conv_1")
    why = {int(r.children[0].children): [line.children for line in r.children[1].children]
           for r in table[1].children[1].children}
    assert why[30] == ["dead: active on 0% of inputs"]
    download = channels.export_csv(results_cache, analysis)
    lines = download["content"].splitlines()
    assert download["filename"].endswith(".csv") and lines[0].startswith("layer,channel,reasons,")
    assert any(line.startswith("conv_1,30,dead,") for line in lines)


def test_tree_and_subclass_views_say_how_sure_they_are(results_cache, analysis):
    _, text = hierarchy.tree_view(results_cache, analysis, "conv_2", "mean")
    lines = [part for part in text if isinstance(part, str)]
    assert any(line.startswith("Super-classes") and "Stability: the same grouping in" in line for line in lines)
    assert any(line.startswith("Deeper layers combined") for line in lines)


def test_mislabel_stability_text_names_the_shaky_inputs():
    result = {"top": np.array([4, 9, 2]), "frequency": np.array([1.0, 0.3, 0.9]), "mean_frequency": 0.7333}
    text = mislabel.stability_text(None, result)
    assert text.startswith("Top 3: on average each stays in the top in 73%")
    assert "below half of them: #9." in text


def test_the_table_says_how_alike_the_channels_of_a_layer_are(results_cache, tmp_path):
    summary = store_synthetic_analysis(results_cache, tmp_path / "d9", n=120, seed=9)
    key = summary["key"]
    rng = np.random.default_rng(9)
    meta = store.load_meta(results_cache, key)
    acts = store.load_layer(results_cache, key, "conv_1")
    n, width = acts["l2"].shape

    def store_energy(scale):
        acts["l2"] = (rng.uniform(0.9, 1.1, size=(n, width)) * scale).astype(np.float32)
        results_cache.set(f"analysis/{key}/acts/conv_1", acts)

    def note():
        table = channels.channel_table(results_cache, summary, "conv_1")
        return table[0].children if isinstance(table, list) else table.children

    store_energy(np.ones(width))  # every channel alike
    alike = findings.channel_spread(results_cache, meta, "conv_1")
    assert 0.9 < alike <= 1.0
    assert f"the 10% weakest channels contribute {alike:.0%} as much as the median channel" in note()
    scale = np.ones(width)
    scale[: width // 4] = 0.01  # a quarter of the channels barely contribute
    store_energy(scale)
    assert findings.channel_spread(results_cache, meta, "conv_1") < 0.02
    assert "contribute 1% as much" in note()
