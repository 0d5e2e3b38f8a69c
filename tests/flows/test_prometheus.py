"""A real Prometheus server scrapes a running flow; its HTTP API answers with real figures.

`make test` fetches Debian's `prometheus` and `promtool` (scripts/prometheus.sh) and sets
JOURNEY_TEST_PROMETHEUS_BIN to their directory.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import metrics

BIN = os.environ.get("JOURNEY_TEST_PROMETHEUS_BIN", "")
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "journey-dashboard.json"
pytestmark = pytest.mark.skipif(not BIN, reason="JOURNEY_TEST_PROMETHEUS_BIN not set")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()


class Prom:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = json.loads(_get(f"{self.url}/api/v1/query?" +
                               urllib.parse.urlencode({"query": expr})))
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prom, str]]:
    """An endless simulator flow on a /metrics port, and Prometheus scraping it every second."""
    tmp = tmp_path_factory.mktemp("prom")
    mport, pport = _free_port(), _free_port()
    flow = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--events", "0", "--customers", "400",
         "--bad-rate", "0.01", "--metrics-port", str(mport), "--no-progress",
         "--out", str(tmp / "d.jsonl"), "--dead-letters", str(tmp / "dl.jsonl")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: journey\n    static_configs: [{{targets: ['127.0.0.1:{mport}']}}]\n")
    prom = subprocess.Popen(
        [f"{BIN}/prometheus", f"--config.file={tmp / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{pport}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = Prom(f"http://127.0.0.1:{pport}")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert flow.poll() is None and prom.poll() is None
            try:
                if p.query("rate(journey_decision_latency_seconds_count[5s]) > 0"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("Prometheus never saw decisions")
        time.sleep(3)  # a few more scrapes, so rates over a short window are defined
        yield p, f"http://127.0.0.1:{mport}/metrics"
    finally:
        for proc in (flow, prom):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_prometheus_scrapes_latency_histogram_and_event_counters(scraped) -> None:
    p, _ = scraped
    assert p.value('up{job="journey"}') == 1.0
    first = p.value("sum(journey_events_total)")
    assert first > 0
    p99 = p.value("histogram_quantile(0.99, sum by (le) "
                  "(rate(journey_decision_latency_seconds_bucket[5s])))")
    assert 0 < p99 < 1.0  # seconds: a decision takes micro- to milliseconds
    count = p.value("sum(journey_decision_latency_seconds_count)")
    decisions = p.value("sum(journey_decisions_total)")
    assert count > 0 and abs(count - decisions) <= max(0.05 * decisions, 50)
    assert p.value("sum(journey_dead_letters_total)") > 0  # --bad-rate 0.01
    time.sleep(2.5)
    assert p.value("sum(journey_events_total)") > first  # live figures, not a constant


def test_metric_names_pass_promtool_and_our_conventions(scraped) -> None:
    _, metrics_url = scraped
    text = _get(metrics_url)
    lint = subprocess.run([f"{BIN}/promtool", "check", "metrics"], input=text,
                          capture_output=True, timeout=30)
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout.decode()
    families = [m for m in metrics.__dict__.values()
                if hasattr(m, "_name") and str(m._name).startswith("journey_")]
    assert len(families) >= 15
    for m in families:
        kind = m._type
        name = m._name + ("_total" if kind == "counter" else "")
        assert re.fullmatch(r"journey_[a-z_]+", name), name
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds") or name.endswith("_bytes"), name
        assert "customer" not in m._labelnames and "user" not in "".join(m._labelnames)


def test_series_are_bounded_and_carry_no_customer_ids(scraped) -> None:
    p, _ = scraped
    series = p.query('count by (__name__) ({__name__=~"journey_.+", __name__!~".*_bucket"})')
    assert series
    for s in series:
        assert int(s["value"][1]) <= 20, s["metric"]["__name__"]
    for s in p.query('{__name__=~"journey_.+"}'):
        labels = {k: v for k, v in s["metric"].items() if k not in ("__name__", "job", "instance")}
        for v in labels.values():
            assert not re.search(r"(user|anon)-\d+-\d+", v), s["metric"]  # simulator ids
            assert len(v) < 40, s["metric"]


def test_grafana_dashboard_queries_evaluate_in_prometheus(scraped) -> None:
    p, _ = scraped
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["templating"]["list"][0]["type"] == "datasource"
    exprs = [t["expr"] for panel in dash["panels"] for t in panel["targets"]]
    assert len(exprs) >= 15
    known = {m._name for m in metrics.__dict__.values() if hasattr(m, "_name")}
    names = set()
    for expr in exprs:
        names |= {n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
                  .removesuffix("_total") for n in re.findall(r"journey_[a-z_]+", expr)}
        p.query(expr.replace("$__rate_interval", "10s"))  # parses and evaluates
    assert names <= known, names - known
    for required in ("journey_decision_latency_seconds", "journey_dead_letters",
                     "journey_reward_rate", "journey_consumer_lag_messages",
                     "journey_state_bytes", "journey_decisions"):
        assert required in names
