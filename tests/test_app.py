"""The factory, configuration and page structure (no browser)."""

import os
import stat

import pytest

from app import create_app
from app.config import Config, from_args, from_env
from app.warmup import start_umap_warmup
from layouts import ids


def test_flags_override_environment(tmp_path):
    env = {"CHANNELEXPLORER_PORT": "9000", "CHANNELEXPLORER_DATA_ROOTS": f"/a{os.pathsep}/b",
           "CHANNELEXPLORER_DEBUG": "0", "CHANNELEXPLORER_BATCH_SIZE": "8"}
    config = from_args(["--port", "9100", "--data-root", "/c", "--model", "vgg16"], env)
    assert config.port == 9100 and config.batch_size == 8 and config.model == "vgg16"
    assert config.data_roots == ("/a", "/b", "/c")
    assert from_env(env).port == 9000
    assert from_env({"CHANNELEXPLORER_MEMORY_MB": "4000"}).memory_mb == 4000
    assert from_args(["--memory-mb", "3000"], {}).memory_mb == 3000 and from_args([], {}).memory_mb == 1400


def test_debug_is_off_unless_asked():
    assert Config().debug is False
    assert from_args([], {}).debug is False
    assert from_args(["--debug"], {}).debug is True


def test_allowed_roots_include_demo_and_given_folders(tmp_path):
    data = tmp_path / "images"
    data.mkdir()
    roots = Config(data=str(data), data_roots=(str(tmp_path / "extra"),)).allowed_roots
    assert os.path.realpath(data) in roots
    assert any(root.endswith("demo") for root in roots)


def test_factory_builds_a_page_whose_callbacks_all_refer_to_existing_ids(tmp_path):
    app = create_app(Config(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path / "data"), warm_umap=False))
    layout_ids = set()

    def walk(node):
        if hasattr(node, "id") and node.id is not None:
            assert node.id not in layout_ids, f"duplicate id {node.id}"
            layout_ids.add(node.id)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, (list, tuple)) else [children]:
            if hasattr(child, "to_plotly_json"):
                walk(child)

    walk(app.layout)
    declared = {v for k, v in vars(ids).items() if k.isupper() and isinstance(v, str)}
    assert declared - set(ids.PATTERN_TYPES) == layout_ids  # every static ID is on the page
    for callback in app.callback_map.values():
        for dependency in callback["inputs"] + callback["state"]:
            if dependency["id"].startswith("{"):  # pattern-matching: {"type": ..., ...}
                assert any(f'"{t}"' in dependency["id"] for t in ids.PATTERN_TYPES), dependency
            else:
                assert dependency["id"] in layout_ids, dependency
    assert not app.config.suppress_callback_exceptions
    mode = stat.S_IMODE(os.stat(tmp_path / "cache" / "results").st_mode)
    assert mode == 0o700  # pickled values: the cache folder stays private


def test_two_factories_build_identical_pages(tmp_path):
    first = create_app(Config(cache_dir=str(tmp_path / "a"), data_dir=str(tmp_path), warm_umap=False))
    second = create_app(Config(cache_dir=str(tmp_path / "b"), data_dir=str(tmp_path), warm_umap=False))
    assert first.layout.to_plotly_json().__repr__() == second.layout.to_plotly_json().__repr__()


def test_umap_warmup_runs_once_per_cache_folder(tmp_path):
    config = Config(cache_dir=str(tmp_path))
    process = start_umap_warmup(config)
    try:
        assert process is not None
        assert start_umap_warmup(config) is None  # a second worker does not start another
    finally:
        process.kill()
        process.wait()


def test_unknown_background_manager_is_refused(tmp_path):
    with pytest.raises(ValueError, match="allowed: diskcache, celery"):
        create_app(Config(cache_dir=str(tmp_path), data_dir=str(tmp_path), background="threads",
                          warm_umap=False))


def test_every_graph_hides_the_share_button_and_shows_its_modebar_on_hover_only(tmp_path):
    from dash import dcc

    app = create_app(Config(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path), warm_umap=False))
    graphs = []

    def walk(node):
        if isinstance(node, dcc.Graph):
            graphs.append(node)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, (list, tuple)) else [children]:
            if hasattr(child, "to_plotly_json"):
                walk(child)

    walk(app.layout)
    assert len(graphs) >= 8
    for graph in graphs:  # use layouts.parts.graph / GRAPH_CONFIG for a new figure
        assert graph.config.get("showSendToCloud") is False, graph.id
        assert "sendDataToCloud" in graph.config.get("modeBarButtonsToRemove", []), graph.id
        assert graph.config.get("displayModeBar") in ("hover", False), graph.id
