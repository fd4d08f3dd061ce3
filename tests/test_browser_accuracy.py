"""Browser test: a click on a confusion-matrix cell selects its inputs in every view."""

import os
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from analysis.pipeline import DEMO_DATA, DEMO_MODEL
from layouts import ids
from tests.browser import AppProcess
from tests.helpers import text_of, wait_for_analysis, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(DEMO_MODEL), reason="demo model not built")

# Per trace of a Plotly graph: type, customdata and z (decoded).
TRACES_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd._fullData) return null;
const list = (a) => (a === undefined || a === null) ? null : Array.from(a, (v) =>
    (typeof v === 'object' && v !== null && v.length !== undefined) ? list(v) : v);
return gd._fullData.map((t) => ({type: t.type, x: list(t.x), customdata: list(t.customdata), z: list(t.z)}));
"""

# Pixel offset of a heatmap cell (column x, row y) from the plot div's centre.
CELL_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
return [xa._offset + xa.l2p(arguments[1]) - box.width / 2, ya._offset + ya.l2p(arguments[2]) - box.height / 2];
"""


def traces(browser, graph_id):
    return browser.driver.execute_script(TRACES_JS, graph_id)



@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    with AppProcess(["--model", DEMO_MODEL, "--data", DEMO_DATA], tmp_path_factory.mktemp("acc")) as server:
        yield server


def test_clicking_a_confusion_cell_selects_its_inputs_in_the_heatmap(dash_br, app_server):
    dash_br.driver.get(app_server.url)
    dash_br.wait_for_element(f"#{ids.RUN}", timeout=30)
    wait_for_analysis(dash_br)
    wait_until(lambda: "Accuracy" in (text_of(dash_br, ids.ACCURACY_TEXT) or ""), message="accuracy text")
    heat = wait_until(lambda: [t for t in traces(dash_br, ids.ACCURACY_CONFUSION) or [] if t["type"] == "heatmap"],
                      message="confusion matrix")[0]
    cells = [cell for row in heat["customdata"] for cell in row]
    true_class, predicted, count = max((c for c in cells if c[0] != c[1]), key=lambda c: c[2])
    assert count > 0

    dash_br.driver.execute_script(
        "document.getElementById(arguments[0]).scrollIntoView({block: 'center'});", ids.ACCURACY_CONFUSION)
    time.sleep(0.5)
    dx, dy = dash_br.driver.execute_script(CELL_JS, ids.ACCURACY_CONFUSION, predicted, true_class)
    plot = dash_br.driver.find_element("css selector", f"#{ids.ACCURACY_CONFUSION} .js-plotly-plot")
    # From the centre, then by offset (move_to_element_with_offset's origin differs between versions).
    ActionChains(dash_br.driver).move_to_element(plot).pause(0.2).move_by_offset(int(dx), int(dy)) \
        .pause(0.3).click().perform()

    text = wait_until(lambda: "confusion: true" in (text_of(dash_br, ids.SELECTION_TEXT) or "")
                      and text_of(dash_br, ids.SELECTION_TEXT), message="selection text")
    assert text.startswith(f"{count:,} of ")

    def bright_columns():
        heatmaps = [t for t in traces(dash_br, ids.HEATMAP) or [] if t["type"] == "heatmap"]
        if len(heatmaps) < 2:
            return None
        bright = [x for x, dim in zip(heatmaps[0]["x"], heatmaps[1]["z"][0]) if dim == 0]
        return bright if 0 < len(bright) <= min(count, len(heatmaps[0]["x"]) - 1) else None

    # The heatmap dims all but the columns holding the cell's inputs (at 2,000 inputs a
    # column is a bin of inputs, so up to ``count`` columns stay bright).
    assert wait_until(bright_columns, message="heatmap showing the confusion cell's inputs")
    assert dash_br.get_logs() == []
