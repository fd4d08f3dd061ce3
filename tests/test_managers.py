"""The analysis job under both background managers (DiskcacheManager, and Celery with a
real redis-server and a real worker), driven through the page's own HTTP protocol."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np

from analysis import pipeline, store
from benchmarks.load import DashClient
from callbacks.extraction import STOPPED_TEXT
from tests.helpers import write_image_folder
from tests.services import running_job


def _env(tmp_path, model, data):
    return {"CHANNELEXPLORER_CACHE_DIR": str(tmp_path / "cache"), "CHANNELEXPLORER_MODEL": model,
            "CHANNELEXPLORER_DATA": data, "CHANNELEXPLORER_JOB_THREADS": "1"}


def test_four_sessions_starting_the_same_analysis_at_once_all_receive_it(serve, manager, tmp_path,
                                                                           tiny_model_file):
    data = write_image_folder(tmp_path / "images", per_class=4)
    with serve(_env(tmp_path, tiny_model_file, data)) as server:
        clients = [DashClient(server.url) for _ in range(4)]
        for client in clients:
            client.load_page()
        results = [None] * 4
        barrier = threading.Barrier(4)

        def session(i):
            barrier.wait()
            results[i] = clients[i].analyse(poll_s=0.3, limit_s=300)

        threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(r is not None for r in results), results  # nobody's result was taken
        assert len({r["key"] for r in results}) == 1 and all(r["n"] == 12 for r in results)
        # At most one session extracted; the others were served the shared result.
        assert sum(not r["from_cache"] for r in results) <= 1
        assert all(c.recorder.lost == 0 and c.recorder.non_2xx == 0 for c in clients)
        # A later page is answered from the cache by the web process: no job at all.
        late = DashClient(server.url)
        late.load_page()
        hit = late.analyse()
        assert hit["from_cache"] and hit["key"] == results[0]["key"]
        assert "job_start" not in late.recorder.times and "poll" not in late.recorder.times


def test_killed_job_is_told_and_a_retry_recomputes_equal_numbers(serve, manager, tmp_path,
                                                                 tiny_model_file):
    data = write_image_folder(tmp_path / "images", per_class=4)
    with serve(_env(tmp_path, tiny_model_file, data)) as server:
        client = DashClient(server.url)
        client.load_page()
        outcome = {}
        runner = threading.Thread(target=lambda: outcome.update(first=client.analyse(poll_s=0.3)))
        runner.start()
        _, record = running_job(tmp_path / "cache")
        os.kill(record["pid"], signal.SIGKILL)
        runner.join(120)
        assert outcome.get("first") is None  # the killed job delivered nothing
        watch = client.find("job-watch-interval")[0]
        alert, deadline = None, time.time() + 60
        while time.time() < deadline and alert != STOPPED_TEXT:
            client.props["job-watch-interval"]["n_intervals"] = int(time.time())
            _, answer = client.call(watch, "watch", "job-watch-interval.n_intervals")
            alert = ((answer or {}).get("response") or {}).get("alert", {}).get("children")
            time.sleep(0.5)
        assert alert == STOPPED_TEXT
        retried = client.analyse(clicks=2, poll_s=0.3)
        assert retried is not None and retried["n"] == 12 and not retried["from_cache"]
    cache = store.open_cache(str(tmp_path / "cache" / "results"), 2 ** 30)
    reference = store.open_cache(str(tmp_path / "reference"), 2 ** 30)
    roots = [data, os.path.dirname(tiny_model_file)]
    again = pipeline.run(pipeline.Request(model=tiny_model_file, data=data), data_roots=roots,
                         model_roots=roots, cache=reference, n_threads=1)
    assert again["key"] == retried["key"]
    for layer in again["layers"]:
        np.testing.assert_allclose(store.load_layer(cache, retried["key"], layer)["mean"],
                                   store.load_layer(reference, again["key"], layer)["mean"],
                                   rtol=1e-5, atol=1e-6)
    cache.close()
    reference.close()
