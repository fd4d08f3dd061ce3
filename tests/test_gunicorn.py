"""``gunicorn -w 2 'app.wsgi:server'`` serves the same app from a shared cache."""

import json
import os
import sys
import time
import urllib.request

from layouts import ids
from tests.browser import AppProcess
from tests.helpers import text_of, wait_for_analysis, wait_for_points, write_image_folder


def gunicorn_command():
    return [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-w", "2",
            "-b", "127.0.0.1:{port}", "--timeout", "120", "app.wsgi:server"]


def test_two_gunicorn_workers_serve_identical_pages_and_run_jobs(dash_br, tmp_path, tiny_model_file):
    data = write_image_folder(tmp_path / "images", per_class=4)
    env = {"CHANNELEXPLORER_CACHE_DIR": str(tmp_path / "cache"),
           "CHANNELEXPLORER_MODEL": tiny_model_file, "CHANNELEXPLORER_DATA": data}
    with AppProcess([], tmp_path / "logs", env=env, command=gunicorn_command()) as server:
        layouts = set()
        for _ in range(8):
            with urllib.request.urlopen(server.url + "/_dash-layout") as response:
                layouts.add(response.read())
        assert len(layouts) == 1  # deterministic IDs and layout in every worker
        assert json.loads(layouts.pop())  # and it is real JSON
        dash_br.driver.get(server.url)
        seen = wait_for_analysis(dash_br, timeout=120)
        assert "12 / 12 images" in seen[-1]
        # Reload: whichever worker answers, the result comes from the shared cache.
        dash_br.driver.get(server.url)
        deadline = time.time() + 60
        status = ""
        while time.time() < deadline and "from cache" not in status:
            status = text_of(dash_br, ids.STATUS) or ""
            time.sleep(0.2)
        assert "from cache" in status
        assert wait_for_points(dash_br, 12) == 12
        assert dash_br.get_logs() == []
