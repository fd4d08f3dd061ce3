"""The page state survives a trip through the URL's query string."""

from analysis import urlstate
from app.config import Config
from callbacks import url


def test_state_round_trips_through_the_query_string():
    selection = {"inputs": [3, 4, 5, 9, 20, 21], "focus": 4, "channel": 17, "layer": "block2_conv1"}
    form = {"model": "demo", "data": "/data/my images", "layers": "all", "preprocess": "auto"}
    view = {"layer": "block3_conv1", "summary": "max", "projection": "umap", "colour": "correct"}
    search = urlstate.encode("abc123", form, view, selection)
    assert "inputs=3-5%2C9%2C20-21" in search  # ranges keep long selections short
    state = urlstate.decode(search)
    assert state["key"] == "abc123" and state["form"] == form and state["view"] == view
    assert {k: state["selection"][k] for k in selection} == selection


def test_ranges_and_malformed_queries():
    assert urlstate.ranges([5, 1, 2, 3, 7]) == "1-3,5,7"
    assert urlstate.parse_ranges("1-3,x,7,2-1,-4") == [1, 2, 3, 7]
    empty = urlstate.decode("?inputs=&focus=abc")
    assert empty["selection"]["inputs"] == [] and empty["selection"]["focus"] is None


def test_a_link_to_another_analysis_starts_it_and_the_default_one_does_not():
    config = Config(model="demo", warm_umap=False)
    *_, state, run = url.restore(urlstate.encode("k", {"data": "/other"}, {}, {}), config)
    assert run == 1 and state["form"] == {"data": "/other"}
    *_, run = url.restore(urlstate.encode("k", url.defaults(config), {"layer": "b"}, {}), config)
    assert run is url.no_update  # autorun starts it already


def test_the_form_says_not_yet_analysed_when_it_differs_from_what_is_shown(results_cache, tmp_path):
    from callbacks import form
    from tests.helpers import store_synthetic_analysis

    analysis = store_synthetic_analysis(results_cache, tmp_path / "data", write_images=False)
    meta = results_cache.get(f"analysis/{analysis['key']}/meta")
    meta["request"] = {"model": "demo", "data": "/images", "layers": "conv_dense", "preprocess": "auto"}
    results_cache.set(f"analysis/{analysis['key']}/meta", meta)
    assert form.form_note(results_cache, analysis, "demo", "/images", "conv_dense", "auto") == ""
    note = form.form_note(results_cache, analysis, "demo", "/other", "all", "auto")
    assert note.startswith("Not yet analysed: images, layers changed")
