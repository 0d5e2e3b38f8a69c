"""The `journey` command, end to end in a subprocess (as a user runs it)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import orjson

BAD_LINES = [
    '{"type": "track", "event": "Product Viewed", "userId": ',
    '{"type": "track", "event": "Product Viewed", "timestamp": "2026-03-02T10:00:00Z"}',
    '["not", "an", "object"]',
]


def _journey(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "flows.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _repo() -> Path:
    return Path(__file__).resolve().parents[2]


def test_replay_writes_decisions_and_dead_letters(tmp_path, make_event, decision_schema):
    good = [make_event("identify", user="u9", anon="a9", traits={"consent": {"email": True}}),
            make_event("track", "Product Added", user="u9", anon="a9", minute=1,
                       properties={"price": 30, "quantity": 2}),
            make_event("page", "Cart", user="u9", anon="a9", minute=2,
                       properties={"placement": "cart_page"})]
    lines = [orjson.dumps(e).decode() for e in good]
    lines.insert(1, BAD_LINES[0])
    lines += BAD_LINES[1:]
    src = tmp_path / "events.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out, dead = tmp_path / "d.jsonl", tmp_path / "dl.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "replay", str(src), "--out", str(out),
         "--dead-letters", str(dead), "--metrics-port", "0", "--no-progress"],
        cwd=_repo(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    decisions = [orjson.loads(x) for x in out.read_text().splitlines()]
    assert [d["placement"] for d in decisions] == ["cart_page"]
    jsonschema.validate(decisions[0], decision_schema)
    reasons = sorted(orjson.loads(x)["reason"] for x in dead.read_text().splitlines())
    assert reasons == ["invalid_json", "missing_identity", "not_an_object"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_streams_the_simulator_while_metrics_answer(tmp_path, decision_schema):
    port = _free_port()
    out = tmp_path / "decisions.jsonl"
    proc = _journey("run", "--events", "60000", "--customers", "400", "--out", str(out),
                    "--dead-letters", str(tmp_path / "dl.jsonl"), "--metrics-port", str(port),
                    "--no-progress", cwd=_repo())
    scraped = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None and "journey_events" not in scraped:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                scraped = r.read().decode()
        except OSError:
            time.sleep(0.2)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "journey_events_total" in scraped
    assert "journey_decision_latency_seconds_bucket" in scraped
    records = [orjson.loads(x) for x in out.read_text().splitlines()]
    assert len(records) > 1000
    for r in records[:200]:
        jsonschema.validate(r, decision_schema)
    summary = orjson.loads(err.decode()[err.decode().index("{"):])
    assert summary["events"] + summary["dead_letters"] >= 60000
    assert summary["decisions"] == len(records)
