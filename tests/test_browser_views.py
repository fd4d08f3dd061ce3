"""Browser tests of the coordinated views in real headless Chromium (``python -m app``)."""

import os
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from analysis.pipeline import DEMO_DATA, DEMO_MODEL
from layouts import ids
from tests.browser import AppProcess
from tests.helpers import text_of, wait_for_analysis, wait_until

MODEL = os.environ.get("CHANNELEXPLORER_TEST_MODEL", DEMO_MODEL)
DATA = os.environ.get("CHANNELEXPLORER_TEST_DATA", DEMO_DATA)
pytestmark = pytest.mark.skipif(not os.path.exists(MODEL), reason="demo model not built")

# Decoded state of a Plotly graph: per trace, its type, customdata, x, selected points and z.
TRACES_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd._fullData) return null;
const list = (a) => (a === undefined || a === null) ? null : Array.from(a, (v) =>
    (typeof v === 'object' && v !== null && v.length !== undefined) ? Array.from(v) : v);
return gd._fullData.map((t) => ({type: t.type, name: t.name, customdata: list(t.customdata),
    x: list(t.x), y: list(t.y), z: list(t.z), selectedpoints: list(t.selectedpoints)}));
"""


def traces(browser, graph_id):
    return browser.driver.execute_script(TRACES_JS, graph_id)



def selected_scatter_inputs(browser):
    chosen = set()
    for trace in traces(browser, ids.SCATTER) or []:
        for i in trace["selectedpoints"] or []:
            chosen.add(int(trace["customdata"][i]))
    return chosen


def lasso(browser, graph_id):
    """Drag a lasso around the left half of a graph's plot area, like a user."""
    browser.driver.execute_script(
        "document.getElementById(arguments[0]).scrollIntoView({block: 'center'});", graph_id)
    time.sleep(0.5)
    area = browser.driver.find_element("css selector", f"#{graph_id} .nsewdrag")
    width, height = area.size["width"], area.size["height"]
    left, top = -int(width * 0.45), -int(height * 0.45)  # offsets from the centre
    corners = [(0, int(height * 0.9)), (int(width * 0.45), 0), (0, -int(height * 0.9)),
               (-int(width * 0.45) + 3, 0)]
    # Start from the centre (move_to_element_with_offset's origin differs between
    # Selenium versions), then move by relative offsets, pausing like a hand would.
    actions = ActionChains(browser.driver)
    actions.move_to_element(area).pause(0.2).move_by_offset(left, top).pause(0.2).click_and_hold()
    actions.pause(0.2)
    for dx, dy in corners:
        for _ in range(4):  # several small moves, so the lasso path has points
            actions.move_by_offset(dx // 4, dy // 4).pause(0.05)
    actions.pause(0.2).release().perform()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    cache = tmp_path_factory.mktemp("views-cache")
    with AppProcess(["--model", MODEL, "--data", DATA], cache) as server:
        yield server


def open_page(browser, server):
    browser.driver.get(server.url)
    browser.wait_for_element(f"#{ids.RUN}", timeout=30)
    wait_for_analysis(browser)


def test_clicking_a_layer_in_the_graph_opens_its_views(dash_br, app_server):
    open_page(dash_br, app_server)
    graph = wait_until(lambda: traces(dash_br, ids.GRAPH), message="model graph")
    names = graph[1]["customdata"]
    target = names[2][-1]  # an early layer, not the default (deepest conv); customdata: [name, *members]
    points = dash_br.driver.find_elements("css selector", f"#{ids.GRAPH} .scatterlayer .trace:nth-of-type(2) .point")
    ActionChains(dash_br.driver).move_to_element(points[2]).click().perform()
    wait_until(lambda: target in (dash_br.driver.execute_script(
        "const t = document.querySelector('#scatter-graph .gtitle'); return t ? t.textContent : '';")
        or ""), message=f"scatter title for {target}")
    wait_until(lambda: target in (text_of(dash_br, ids.HEATMAP) or ""), message="heatmap title")
    wait_until(lambda: target in (text_of(dash_br, ids.JACCARD_MATRIX) or ""), message="jaccard title")
    assert dash_br.get_logs() == []


def test_lasso_in_scatter_highlights_same_inputs_in_heatmap_and_jaccard(dash_br, app_server):
    open_page(dash_br, app_server)
    wait_until(lambda: "PCA" in (text_of(dash_br, ids.SCATTER) or ""), message="scatterplot")
    lasso(dash_br, ids.SCATTER)
    chosen = wait_until(lambda: selected_scatter_inputs(dash_br), message="scatter selection")
    wait_until(lambda: "inputs selected" in (text_of(dash_br, ids.SELECTION_TEXT) or ""),
               message="selection text")
    assert text_of(dash_br, ids.SELECTION_TEXT).startswith(f"{len(chosen):,} of")

    def heatmap_bright_columns():
        """First inputs of the columns left undimmed, when some are dimmed (columns are bins
        of inputs at N=2,000: a bright one holds a selected input; tests/test_views.py checks
        the membership exactly)."""
        heatmaps = [t for t in (traces(dash_br, ids.HEATMAP) or []) if t["type"] == "heatmap"]
        if len(heatmaps) < 2:
            return None
        dims = heatmaps[1]["z"][0]
        bright = {int(str(x).split()[0].lstrip("#")) for x, dim in zip(heatmaps[0]["x"], dims)
                  if dim == 0}
        return bright if 0 < len(bright) < len(dims) else None

    # Some columns stay bright, the rest is dimmed (once the heatmap has redrawn).
    assert wait_until(heatmap_bright_columns, message="heatmap highlighting the selection")

    def jaccard_overlay():
        data = traces(dash_br, ids.JACCARD_MATRIX)
        heatmaps = [t for t in (data or []) if t["type"] == "heatmap"]
        return heatmaps[1] if len(heatmaps) > 1 else None

    overlay = wait_until(jaccard_overlay, message="jaccard dimming")
    bright_cells = sum(row.count(0) for row in overlay["z"])
    assert 0 < bright_cells < len(overlay["z"]) ** 2
    assert dash_br.get_logs() == []


def test_clicking_a_heatmap_cell_shows_the_channel_overlay(dash_br, app_server):
    open_page(dash_br, app_server)
    wait_until(lambda: traces(dash_br, ids.HEATMAP), message="heatmap")
    area = dash_br.driver.find_element("css selector", f"#{ids.HEATMAP} .nsewdrag")
    ActionChains(dash_br.driver).move_to_element(area).move_by_offset(
        -area.size["width"] // 3, -area.size["height"] // 3).click().perform()
    wait_until(lambda: "channel" in (text_of(dash_br, ids.SELECTION_TEXT) or ""),
               message="channel in selection")

    def overlay_ready():
        data = traces(dash_br, ids.DETAILS_OVERLAY) or []
        return [t["type"] for t in data] if any(t["type"] == "image" for t in data) else None

    kinds = wait_until(overlay_ready, timeout=120, message="details overlay")
    assert kinds == ["image", "heatmap"]
    assert "Input #" in text_of(dash_br, ids.DETAILS_NOTE)
    thumbs = dash_br.driver.find_elements("css selector", f"#{ids.DETAILS_TOP} img")
    assert len(thumbs) == 9
    assert dash_br.get_logs() == []


def test_selecting_a_mislabel_row_highlights_it_in_the_scatterplot(dash_br, app_server):
    open_page(dash_br, app_server)
    wait_until(lambda: "PCA" in (text_of(dash_br, ids.SCATTER) or ""), message="scatterplot")
    first_row = wait_until(lambda: dash_br.driver.find_elements(
        "css selector", f"#{ids.MISLABEL_TABLE} tbody tr button.link"), message="mislabel table")[0]
    index = int(first_row.text.split()[0].lstrip("#"))
    dash_br.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", first_row)
    first_row.click()
    assert wait_until(lambda: selected_scatter_inputs(dash_br) == {index} or None,
                      message="row highlighted in scatter")
    assert text_of(dash_br, ids.SELECTION_TEXT).startswith("1 of")
    assert dash_br.get_logs() == []


def test_slow_projection_arrives_while_pca_is_shown(dash_br, app_server):
    open_page(dash_br, app_server)
    wait_until(lambda: "PCA" in (text_of(dash_br, ids.SCATTER) or ""), message="PCA first")
    dash_br.select_dcc_dropdown(f"#{ids.SCATTER_METHOD}", "MDS")
    wait_until(lambda: "MDS" in (text_of(dash_br, ids.SCATTER) or ""), timeout=120,
               message="MDS from the background job")
    assert text_of(dash_br, ids.PROJECTION_STATUS) == ""
    assert dash_br.get_logs() == []
