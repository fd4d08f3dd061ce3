"""Load benchmark: N concurrent sessions of the real page protocol against a running server.

    python benchmarks/load.py http://127.0.0.1:8050 --sessions 10 --rounds 5 --json

Each session (a thread with its own HTTP connection pool and its own page
load, as a browser tab) does R rounds of: load the page (``/`` and
``/_dash-layout``), press Analyse (the ``start`` callback), follow the
background job to its end the way the Dash renderer does (``cacheKey``/``job``
polls plus the job watchdog), then call every view callback fed by the
analysis with the values the page would send (the layout's initial values,
the analysis summary and whatever the previous view callbacks returned).

Prints one JSON object: ``requests``, ``non_2xx``, ``rounds_ok``,
``rounds_total``, ``lost`` (polls that ended with HTTP 204, i.e. a result that
never arrived), ``by_type`` (``n``, ``p50_ms``, ``p95_ms`` per request type)
and ``view`` (all view callbacks together).  Speed is measured here, never
asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time

import numpy as np
import requests

ANALYSIS = "analysis-store"
JOB = "job-store"
START_INPUT = "run-button"
_CONFIG = re.compile(r'<script id="_dash-config" type="application/json">(.*?)</script>', re.S)


def parse_outputs(output: str) -> list[dict]:
    """``..a.x...b.y..`` or ``a.x`` (with optional ``@hash``) -> [{"id", "property"}]."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    specs = []
    for part in parts:
        name = part.split("@")[0]
        component, prop = name.rsplit(".", 1)
        specs.append({"id": component, "property": part[len(component) + 1:]})
    return specs


def _walk_layout(node, props: dict) -> None:
    if isinstance(node, list):
        for child in node:
            _walk_layout(child, props)
        return
    if not isinstance(node, dict) or "props" not in node:
        return
    values = node["props"]
    if isinstance(values.get("id"), str):
        props[values["id"]] = {k: v for k, v in values.items() if k != "children"
                               or not isinstance(v, (dict, list))}
    _walk_layout(values.get("children"), props)


class Recorder:
    """Thread-safe timings per request type and the count of non-2xx answers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list] = {}
        self.non_2xx = 0
        self.lost = 0

    def add(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.times.setdefault(kind, []).append(seconds)
            if not 200 <= status < 300:
                self.non_2xx += 1

    def summary(self) -> dict:
        def stats(values):
            array = np.asarray(values) * 1000
            return {"n": len(values), "p50_ms": round(float(np.percentile(array, 50)), 1),
                    "p95_ms": round(float(np.percentile(array, 95)), 1)}

        views = [t for kind, values in self.times.items() if kind.startswith("view:") for t in values]
        return {"requests": sum(len(v) for v in self.times.values()), "non_2xx": self.non_2xx,
                "lost": self.lost, "by_type": {k: stats(v) for k, v in sorted(self.times.items())},
                "view": stats(views) if views else None}


class DashClient:
    """One browser tab's worth of the Dash protocol (page load, callbacks, background polls)."""

    def __init__(self, url: str, recorder: Recorder | None = None, timeout: float = 120):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.recorder = recorder or Recorder()
        self.timeout = timeout
        self.deps: list = []
        self.props: dict = {}
        self.end_id = None

    def _request(self, kind, method, path, **kwargs):
        started = time.perf_counter()
        response = self.http.request(method, self.url + path, timeout=self.timeout, **kwargs)
        self.recorder.add(kind, time.perf_counter() - started, response.status_code)
        return response

    def load_page(self) -> None:
        html = self._request("page", "GET", "/").text
        config = json.loads(_CONFIG.search(html).group(1))
        self.end_id = config.get("end_id")
        self.props = {}
        _walk_layout(self._request("layout", "GET", "/_dash-layout").json(), self.props)
        if not self.deps:
            self.deps = self._request("dependencies", "GET", "/_dash-dependencies").json()

    def find(self, input_id: str, background: bool = False) -> list:
        """Callbacks (no pattern-matching IDs) with ``input_id`` among their inputs."""
        found = []
        for dep in self.deps:
            ids = [i["id"] for i in dep["inputs"] + dep["state"]]
            if (all(isinstance(i, str) and not i.startswith("{") for i in ids)
                    and input_id in ids[:len(dep["inputs"])]
                    and bool(dep.get("background")) == background
                    and not dep.get("clientside_function")):
                found.append(dep)
        return found

    def _value(self, component: str, prop: str):
        return self.props.get(component, {}).get(prop)

    def call(self, dep, kind: str, changed: str, params: dict | None = None):
        """POST one callback with the current page values; returns (status, JSON or None)."""
        body = {
            "output": dep["output"], "outputs": parse_outputs(dep["output"]),
            "inputs": [{**i, "value": self._value(i["id"], i["property"])} for i in dep["inputs"]],
            "state": [{**s, "value": self._value(s["id"], s["property"])} for s in dep["state"]],
            "changedPropIds": [changed],
        }
        if len(body["outputs"]) == 1 and not dep["output"].startswith(".."):
            body["outputs"] = body["outputs"][0]
        query = {"endId": self.end_id, **(params or {})}
        response = self._request(kind, "POST", "/_dash-update-component", params=query, json=body)
        if response.status_code != 200:
            return response.status_code, None
        return 200, response.json()

    def apply(self, answer: dict | None) -> None:
        """Store what a callback returned into the page values (as the renderer would)."""
        for component, values in ((answer or {}).get("response") or {}).items():
            self.props.setdefault(component, {}).update(values)

    def analyse(self, clicks: int = 1, poll_s: float = 0.5, limit_s: float = 900):
        """Press Analyse and follow the job to its end; the analysis summary or None."""
        self.props.setdefault(START_INPUT, {})["n_clicks"] = clicks
        (start,) = [d for d in self.find(START_INPUT) if d["output"].startswith(f"..{ANALYSIS}.")]
        status, answer = self.call(start, "start", f"{START_INPUT}.n_clicks")
        self.apply(answer)
        response = (answer or {}).get("response", {})
        if ANALYSIS in response:
            return response[ANALYSIS]["data"]
        if JOB not in response:
            return None
        (job_dep,) = self.find(JOB, background=True)
        watch = [d for d in self.find("job-watch-interval")]
        status, handles = self.call(job_dep, "job_start", f"{JOB}.data")
        if status != 200 or "cacheKey" not in (handles or {}):
            return None
        params = {"cacheKey": handles["cacheKey"], "job": handles["job"]}
        deadline = time.time() + limit_s
        beats = 0
        while time.time() < deadline:
            time.sleep(poll_s)
            status, answer = self.call(job_dep, "poll", f"{JOB}.data", params)
            if status == 204:
                self.recorder.lost += 1
                return None
            if answer and "response" in answer:
                self.apply(answer)
                return self.props.get(ANALYSIS, {}).get("data")
            beats += 1
            if watch and beats % 3 == 0:
                self.props.setdefault("job-watch-interval", {})["n_intervals"] = beats
                self.call(watch[0], "watch", "job-watch-interval.n_intervals")
        return None

    def views(self) -> bool:
        """Call every view callback fed by the analysis; True when all answered 2xx."""
        ok = True
        for dep in self.find(ANALYSIS):
            if dep["output"].startswith(f"..{ANALYSIS}.") or dep["output"].startswith(ANALYSIS):
                continue
            first = parse_outputs(dep["output"])[0]
            status, answer = self.call(dep, f"view:{first['id']}", f"{ANALYSIS}.data")
            ok = ok and 200 <= status < 300
            self.apply(answer)
        return ok


def session(url: str, rounds: int, recorder: Recorder, results: list) -> None:
    client = DashClient(url, recorder)
    for round_ in range(rounds):
        try:
            client.load_page()
            summary = client.analyse(clicks=round_ + 1)
            results.append(bool(summary and summary.get("key")) and client.views())
        except (requests.RequestException, ValueError, KeyError) as error:
            print(f"round failed: {type(error).__name__}: {error}", file=sys.stderr)
            results.append(False)


def run(url: str, sessions: int, rounds: int) -> dict:
    recorder, results = Recorder(), []
    started = time.perf_counter()
    threads = [threading.Thread(target=session, args=(url, rounds, recorder, results))
               for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out = recorder.summary()
    out.update({"rounds_ok": sum(results), "rounds_total": sessions * rounds,
                "sessions": sessions, "rounds": rounds,
                "seconds": round(time.perf_counter() - started, 1)})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(argv)
    result = run(args.url, args.sessions, args.rounds)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0 if result["rounds_ok"] == result["rounds_total"] and not result["non_2xx"] else 1


if __name__ == "__main__":
    sys.exit(main())
