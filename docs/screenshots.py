"""Take the README's screenshots: the demo page at 1366x768 and 1920x1080 (headless Chromium).

Usage (from the repository root)::

    .venv/bin/python docs/screenshots.py
"""

import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from selenium import webdriver  # noqa: E402

from layouts import ids  # noqa: E402
from tests.browser import AppProcess  # noqa: E402

SIZES = ((1366, 768), (1920, 1080))


def wait_for(driver, script, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if driver.execute_script(script):
            return
        time.sleep(0.5)
    raise TimeoutError(script)


def main():
    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(flag)
    options.binary_location = os.environ.get("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")
    with AppProcess([], tempfile.mkdtemp(prefix="channelexplorer-shots-")) as server:
        driver = webdriver.Chrome(options=options)
        try:
            for width, height in SIZES:
                driver.set_window_size(width, height)
                driver.get(server.url)
                wait_for(driver, f"const t = document.getElementById('{ids.PROGRESS_TEXT}');"
                                 " return t && t.innerText.startsWith('Done');")
                wait_for(driver, f"return !!document.querySelector('#{ids.HEATMAP} .gtitle');")
                time.sleep(3)  # let every view draw
                path = os.path.join(ROOT, "docs", f"page-{width}x{height}.png")
                driver.save_screenshot(path)
                print(path)
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
