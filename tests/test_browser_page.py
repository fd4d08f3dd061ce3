"""The page as a person uses it, in real headless Chromium (``python -m app`` on the demo):
slow projections never freeze the scatter, the modebar offers no upload, text does not overlap."""

import os
import signal
import time

import pytest

from analysis import jobs
from analysis.pipeline import DEMO_DATA, DEMO_MODEL
from layouts import ids
from tests.browser import AppProcess
from tests.helpers import text_of, wait_for_analysis, wait_until
from tests.services import job_records, running_job

pytestmark = pytest.mark.skipif(not os.path.exists(DEMO_MODEL), reason="demo model not built")

TITLE_JS = """
const t = document.querySelector('#' + arguments[0] + ' .gtitle');
return t ? t.textContent : '';
"""

# Bounding boxes of every text a figure draws: titles, axis titles, tick labels, annotations,
# legend and colour-bar text; one list per graph.
BOXES_JS = """
const out = [];
for (const graph of document.querySelectorAll('.js-plotly-plot')) {
  const id = graph.parentElement.id || graph.id;
  const kinds = {'.gtitle': 'title', '.g-xtitle text': 'axis-title', '.g-ytitle text': 'axis-title',
                 '.xtick text': 'xtick', '.ytick text': 'ytick', '.annotation-text': 'annotation',
                 '.legendtext': 'legend', '.cbtitle text': 'colourbar'};
  for (const [selector, kind] of Object.entries(kinds)) {
    for (const el of graph.querySelectorAll(selector)) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && el.textContent.trim())
        out.push({graph: id, kind: kind, text: el.textContent.slice(0, 40),
                  x0: r.left, y0: r.top, x1: r.right, y1: r.bottom});
    }
  }
}
return out;
"""


def overlaps(a, b, slack=1.0) -> bool:
    return (min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > slack and
            min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > slack)


def clashes(browser) -> list:
    """(graph, kind, graph, kind) of every two text boxes of the page's figures that overlap."""
    boxes = browser.driver.execute_script(BOXES_JS)
    assert boxes
    found = set()
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if overlaps(a, b) and not (a["graph"] == b["graph"] and a["kind"] == b["kind"] == "legend"):
                found.add((a["graph"], a["kind"], a["text"], b["graph"], b["kind"], b["text"]))
    return sorted(found)



def choose_layer(browser, name):
    """Type into the layer dropdown's search box and pick the option, like a keyboard user
    (again if a busy page swallowed the first try)."""
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.common.keys import Keys
    for _ in range(3):
        browser.find_element(f"#{ids.LAYER}").click()
        search = browser.find_element(".dash-dropdown-search")
        search.send_keys(name)
        option = wait_until(lambda: [o for o in browser.driver.find_elements(
            "css selector", ".dash-dropdown-option") if o.text == name], timeout=10,
            message=f"option {name}")[0]
        try:
            option.click()
        except ElementClickInterceptedException:  # the search box covers it at this window size
            search.send_keys(Keys.ENTER)
        deadline = time.time() + 5
        while time.time() < deadline:
            if name in (text_of(browser, ids.LAYER) or ""):
                return
            time.sleep(0.2)
        search.send_keys(Keys.ESCAPE)
    raise AssertionError(f"could not choose layer {name}; dropdown shows {text_of(browser, ids.LAYER)!r}")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    cache = tmp_path_factory.mktemp("page-cache")
    with AppProcess(["--model", DEMO_MODEL, "--data", DEMO_DATA], cache) as server:
        yield server


def open_page(browser, server, width=1366, height=768):
    browser.driver.set_window_size(width, height)
    browser.driver.get(server.url)
    browser.wait_for_element(f"#{ids.RUN}", timeout=30)
    wait_for_analysis(browser)
    wait_until(lambda: "PCA" in browser.driver.execute_script(TITLE_JS, ids.SCATTER),
               message="scatterplot")


def test_scatter_follows_the_controls_while_umap_is_computed(dash_br, app_server):
    open_page(dash_br, app_server)
    first_layer = dash_br.driver.execute_script(TITLE_JS, ids.SCATTER).split(" · ")[0]
    dash_br.select_dcc_dropdown(f"#{ids.SCATTER_METHOD}", "UMAP")
    wait_until(lambda: "Computing UMAP" in (text_of(dash_br, ids.PROJECTION_STATUS) or ""),
               timeout=30, message="pending notice")
    # Meanwhile: another colour and another layer. The scatter follows (PCA) while UMAP runs;
    # the generous timeouts are for a machine loaded by parallel test runs, not for UMAP.
    dash_br.select_dcc_dropdown(f"#{ids.SCATTER_COLOUR}", "correct / wrong")
    wait_until(lambda: "wrong" in (text_of(dash_br, ids.SCATTER) or ""), timeout=120,
               message="colour change while UMAP runs")
    choose_layer(dash_br, "block2_conv1" if first_layer != "block2_conv1" else "block3_conv1")
    wait_until(lambda: not dash_br.driver.execute_script(TITLE_JS, ids.SCATTER).startswith(first_layer),
               timeout=120, message=lambda: "layer change while UMAP runs; title "
               f"{dash_br.driver.execute_script(TITLE_JS, ids.SCATTER)!r}, dropdown {text_of(dash_br, ids.LAYER)!r}")
    layer = dash_br.driver.execute_script(TITLE_JS, ids.SCATTER).split(" · ")[0]
    assert layer in text_of(dash_br, ids.LAYER)  # the layer the dropdown shows
    title = dash_br.driver.execute_script(TITLE_JS, ids.SCATTER)
    status = text_of(dash_br, ids.PROJECTION_STATUS) or ""
    if "PCA" in title:  # what is drawn, not what was asked, until this layer's UMAP lands
        assert "Computing UMAP" in status or "UMAP" in dash_br.driver.execute_script(
            TITLE_JS, ids.SCATTER)
    else:  # a quiet machine may already have finished it
        assert "UMAP" in title
    # When UMAP lands, it is the one the controls ask for (this layer), and the notice goes.
    wait_until(lambda: "UMAP" in dash_br.driver.execute_script(TITLE_JS, ids.SCATTER),
               timeout=300, message=lambda: "UMAP result; status "
               f"{text_of(dash_br, ids.PROJECTION_STATUS)!r}; server log:\n{app_server.output()[-4000:]}")
    assert dash_br.driver.execute_script(TITLE_JS, ids.SCATTER).startswith(layer)
    assert text_of(dash_br, ids.PROJECTION_STATUS) == ""
    assert dash_br.get_logs() == []


def test_a_killed_projection_job_is_started_again_and_its_result_shown(dash_br, app_server):
    open_page(dash_br, app_server)
    cache_dir = os.path.dirname(app_server.log_path)
    # A summary no other test projects, so this UMAP is computed here, by a job.
    dash_br.select_dcc_dropdown(f"#{ids.SUMMARY}", "max")
    wait_until(lambda: " · max · " in dash_br.driver.execute_script(TITLE_JS, ids.SCATTER),
               message="max summary")
    asked = time.time()
    dash_br.select_dcc_dropdown(f"#{ids.SCATTER_METHOD}", "UMAP")
    nonce, record = running_job(cache_dir, timeout=120, after=asked)
    os.kill(record["pid"], signal.SIGKILL)
    # The page notices (the process is gone), asks again once, and shows the second job's result.
    wait_until(lambda: "max · UMAP" in dash_br.driver.execute_script(TITLE_JS, ids.SCATTER),
               timeout=300, message=lambda: "UMAP after the kill; status "
               f"{text_of(dash_br, ids.PROJECTION_STATUS)!r}; server log:\n{app_server.output()[-4000:]}")
    assert text_of(dash_br, ids.PROJECTION_STATUS) == ""
    records = job_records(cache_dir)
    assert records[nonce]["state"] == jobs.RUNNING  # killed: it never said how it ended
    assert any(r["state"] == jobs.DONE and r["started"] > record["started"] for r in records.values())
    assert dash_br.get_logs() == []


def test_no_share_button_and_no_overlapping_text_at_1366x768(dash_br, app_server):
    open_page(dash_br, app_server)
    wait_until(lambda: dash_br.driver.execute_script(TITLE_JS, ids.HEATMAP), message="heatmap")
    wait_until(lambda: dash_br.driver.execute_script(TITLE_JS, ids.JACCARD_MATRIX), message="jaccard")
    time.sleep(1.0)
    graph = dash_br.find_element(f"#{ids.SCATTER}")
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(dash_br.driver).move_to_element(graph).perform()  # the modebar shows on hover
    titles = dash_br.driver.execute_script(
        "return Array.from(document.querySelectorAll('.modebar-btn'), b => b.getAttribute('data-title'));")
    assert titles, "no modebar at all"
    assert not [t for t in titles if t and ("Share" in t or "Cloud" in t or "Chart Studio" in t)]
    assert any("png" in (t or "").lower() for t in titles), titles  # the download stays
    assert not clashes(dash_br)
    assert dash_br.get_logs() == []


def view_of(browser):
    """(scatter title, selection text, status text) as a person sees them."""
    return (browser.driver.execute_script(TITLE_JS, ids.SCATTER), text_of(browser, ids.SELECTION_TEXT),
            text_of(browser, ids.STATUS))


def test_reload_and_a_link_in_a_fresh_browser_restore_the_view(dash_br, app_server):
    open_page(dash_br, app_server, 1400, 1000)
    choose_layer(dash_br, "block2_conv2")
    wait_until(lambda: dash_br.driver.execute_script(TITLE_JS, ids.SCATTER).startswith("block2_conv2"),
               timeout=45, message="layer block2_conv2")
    dash_br.select_dcc_dropdown(f"#{ids.SCATTER_METHOD}", "MDS")
    wait_until(lambda: "MDS" in dash_br.driver.execute_script(TITLE_JS, ids.SCATTER), timeout=180,
               message="MDS")
    row = wait_until(lambda: dash_br.driver.find_elements(
        "css selector", f"#{ids.MISLABEL_TABLE} tbody tr button.link"), message="mislabel table")[0]
    index = int(row.text.split()[0].lstrip("#"))
    dash_br.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", row)
    row.click()
    wait_until(lambda: f"inputs={index}" in dash_br.driver.current_url, message="selection in the URL")
    link = dash_br.driver.current_url
    assert "layer=block2_conv2" in link and "projection=mds" in link

    def same_view():
        title, selection, status = view_of(dash_br)
        return (title.startswith("block2_conv2") and "MDS" in title and
                (selection or "").startswith("1 of") and "from cache" in (status or ""))

    dash_br.driver.refresh()  # a reload
    wait_for_analysis(dash_br)
    wait_until(same_view, timeout=90, message=f"the same view after a reload; saw {view_of(dash_br)}")

    # A teammate's fresh browser: nothing stored, only the link.
    dash_br.driver.delete_all_cookies()
    dash_br.driver.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
    dash_br.driver.get("about:blank")
    dash_br.driver.get(link)
    wait_for_analysis(dash_br)
    wait_until(same_view, timeout=90, message=f"the same view from the link; saw {view_of(dash_br)}")
    assert dash_br.get_logs() == []


HEATMAP_X_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return gd && gd._fullData && gd._fullData.length ? Array.from(gd._fullData[0].x) : null;
"""


def test_heatmap_zoom_reveals_single_inputs_and_a_click_opens_the_one_under_the_pointer(
        dash_br, app_server):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(dash_br, app_server, 1400, 1000)
    columns = wait_until(lambda: dash_br.driver.execute_script(HEATMAP_X_JS, ids.HEATMAP),
                         message="heatmap")
    assert all("more" in label for label in columns)  # 2,000 inputs: binned columns
    dash_br.driver.execute_script(
        "document.getElementById(arguments[0]).scrollIntoView({block: 'center'});", ids.HEATMAP)
    time.sleep(0.5)
    area = dash_br.find_element(f"#{ids.HEATMAP} .nsewdrag")
    width = area.size["width"]
    # Drag a zoom box over about a tenth of the columns.
    ActionChains(dash_br.driver).move_to_element(area).move_by_offset(-width // 20, -40) \
        .click_and_hold().pause(0.2).move_by_offset(width // 10, 80).pause(0.2).release().perform()
    singles = wait_until(lambda: [x for x in [dash_br.driver.execute_script(HEATMAP_X_JS, ids.HEATMAP)]
                                  if x and not any("more" in label for label in x)],
                         timeout=60, message="single inputs after the zoom")[0]
    assert len(singles) < 300
    area = dash_br.find_element(f"#{ids.HEATMAP} .nsewdrag")
    ActionChains(dash_br.driver).move_to_element(area).click().perform()  # the centre column
    note = wait_until(lambda: (text_of(dash_br, ids.DETAILS_NOTE) or "").startswith("Input #") and
                      text_of(dash_br, ids.DETAILS_NOTE), timeout=60, message="details of the input")
    index = note.split()[1].lstrip("#")
    middle = len(singles) // 2
    near = {label.split()[0].lstrip("#") for label in singles[max(0, middle - 2):middle + 3]}
    assert index in near, (index, near)
    # With the details drawn (distribution and overlay), still no text overlaps at 1366x768.
    dash_br.driver.set_window_size(1366, 768)
    wait_until(lambda: dash_br.driver.execute_script(
        "return !!document.querySelector('#" + ids.DETAILS_OVERLAY + " .gtitle');"),
        timeout=120, message="channel overlay")
    time.sleep(1.0)
    assert not clashes(dash_br)
    assert dash_br.get_logs() == []


def test_removal_check_shows_its_steps_and_can_be_cancelled(dash_br, app_server):
    from callbacks.channels import REMOVAL_CANCELLED
    open_page(dash_br, app_server)
    tab = wait_until(lambda: [t for t in dash_br.driver.find_elements("css selector", f"#{ids.FINDINGS_TABS} .tab")
                              if t.text == "Unimportant channels"], message="channels tab")[0]
    tab.click()
    run = dash_br.wait_for_element(f"#{ids.REMOVAL_RUN}", timeout=30)
    cancel = dash_br.find_element(f"#{ids.REMOVAL_CANCEL}")
    assert cancel.get_attribute("disabled") is not None  # nothing to cancel yet
    run.click()
    # The job tells where it is: a step line, counted, in a visible note.
    step = wait_until(lambda: "(step " in (text_of(dash_br, ids.REMOVAL_PROGRESS) or "") and
                      text_of(dash_br, ids.REMOVAL_PROGRESS), timeout=120, message="a progress step")
    assert " of " in step and dash_br.find_element(f"#{ids.REMOVAL_PROGRESS}").is_displayed()
    wait_until(lambda: dash_br.find_element(f"#{ids.REMOVAL_CANCEL}").get_attribute("disabled") is None,
               timeout=30, message="cancel enabled while the check runs")
    assert dash_br.find_element(f"#{ids.REMOVAL_RUN}").get_attribute("disabled") is not None
    dash_br.find_element(f"#{ids.REMOVAL_CANCEL}").click()
    wait_until(lambda: text_of(dash_br, ids.REMOVAL_RESULT) == REMOVAL_CANCELLED, timeout=60,
               message=lambda: f"the cancelled note; result {text_of(dash_br, ids.REMOVAL_RESULT)!r}")
    # The page is usable again: the check can be started anew, the progress line is gone.
    wait_until(lambda: dash_br.find_element(f"#{ids.REMOVAL_RUN}").get_attribute("disabled") is None,
               timeout=30, message="run enabled after the cancel")
    assert dash_br.find_element(f"#{ids.REMOVAL_CANCEL}").get_attribute("disabled") is not None
    assert not dash_br.find_element(f"#{ids.REMOVAL_PROGRESS}").is_displayed()
    assert dash_br.get_logs() == []
