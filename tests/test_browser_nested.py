"""Browser test: a nested MobileNetV2 transfer model; expand the base in the graph, click an
inner layer, and its views open."""

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from layouts import ids
from tests.browser import AppProcess
from tests.helpers import text_of, wait_for_analysis, wait_until, write_image_folder

GRAPH_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd._fullData || gd._fullData.length < 2) return null;
return Array.from(gd._fullData[1].customdata, (v) => Array.from(v));
"""
TITLE_JS = "const t = document.querySelector('#' + arguments[0] + ' .gtitle'); return t ? t.textContent : '';"



@pytest.fixture(scope="module")
def app_server(tmp_path_factory, keras_mod):
    keras = keras_mod
    root = tmp_path_factory.mktemp("nested")
    keras.utils.set_random_seed(3)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    inp = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inp, training=False))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Dropout(0.2)(x))
    model_path = str(root / "transfer.keras")
    keras.Model(inp, out).save(model_path)
    data = write_image_folder(root / "images", per_class=4)
    with AppProcess(["--model", model_path, "--data", data], root / "cache") as server:
        yield server, base.name


def click_node(browser, name):
    names = [node[0] for node in browser.driver.execute_script(GRAPH_JS, ids.GRAPH)]
    point = browser.driver.find_elements(
        "css selector", f"#{ids.GRAPH} .scatterlayer .trace:nth-of-type(2) .point")[names.index(name)]
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", point)
    time.sleep(0.3)
    ActionChains(browser.driver).move_to_element(point).click().perform()


def test_expand_the_base_model_and_open_an_inner_layer(dash_br, app_server):
    server, base = app_server
    dash_br.driver.get(server.url)
    dash_br.wait_for_element(f"#{ids.RUN}", timeout=30)
    wait_for_analysis(dash_br, timeout=300)
    nodes = wait_until(lambda: dash_br.driver.execute_script(GRAPH_JS, ids.GRAPH), message="model graph")
    assert [base] in nodes  # the base model is one (collapsed) node

    click_node(dash_br, base)
    target = f"{base}/block_3_expand"
    # Expanded: the inner layer is a node of its own (customdata [name, member]).
    wait_until(lambda: [target, target] in (dash_br.driver.execute_script(GRAPH_JS, ids.GRAPH) or []),
               message="expanded sub-model")
    click_node(dash_br, target)
    wait_until(lambda: target in (dash_br.driver.execute_script(TITLE_JS, ids.SCATTER) or ""),
               message=f"scatter title for {target}")
    wait_until(lambda: target in (text_of(dash_br, ids.HEATMAP) or ""), message="heatmap title")
    assert dash_br.get_logs() == []
