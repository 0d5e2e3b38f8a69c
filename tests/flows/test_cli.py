"""The `journey` command, end to end in a subprocess (as a user runs it), the guards on
its recovery store included."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jsonschema
import orjson

from tests.flows.test_collector import _reaped

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
    proc = _journey("run", "--events", "30000", "--customers", "400", "--out", str(out),
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
    with _reaped(proc):
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "journey_events_total" in scraped
    assert "journey_decision_latency_seconds_bucket" in scraped
    records = [orjson.loads(x) for x in out.read_text().splitlines()]
    assert len(records) > 1000
    for r in records[:200]:
        jsonschema.validate(r, decision_schema)
    summary = orjson.loads(err.decode()[err.decode().index("{"):])
    assert summary["events"] + summary["dead_letters"] >= 30000
    assert summary["decisions"] == len(records)


def _replay(src: Path, tmp: Path, *args: str, env: dict[str, str] | None = None,
            out: str = "d.jsonl") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "replay", str(src), "--out", str(tmp / out),
         "--dead-letters", str(tmp / "dl.jsonl"), "--recovery-dir", str(tmp / "state"),
         "--metrics-port", "0", "--no-progress", *args],
        cwd=_repo(), capture_output=True, timeout=120, env={**os.environ, **(env or {})})


def _shop_file(tmp: Path, make_event) -> Path:
    src = tmp / "events.jsonl"
    src.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in [
        make_event("identify", user="u9", traits={"consent": {"email": True}}),
        make_event("page", "Cart", user="u9", minute=2, properties={"placement": "cart_page"})]))
    return src


def _one_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode == 2, proc.stderr.decode()[-2000:]
    [line] = proc.stderr.decode().strip().splitlines()
    return line


def test_a_deleted_recovery_database_is_refused_unless_reset(tmp_path, make_event):
    src = _shop_file(tmp_path, make_event)
    assert _replay(src, tmp_path).returncode == 0
    store = tmp_path / "state"
    assert orjson.loads((store / "journey-recovery.json").read_bytes())["partitions"] == 1
    for reset in (["--recovery-reset"], {"JOURNEY_RECOVERY_RESET": "1"}):
        (store / "part-0.sqlite3").unlink()
        line = _one_line(_replay(src, tmp_path))
        assert line.startswith("journey: the recovery store in ") and "--recovery-reset" in line
        assert not (store / "part-0.sqlite3").exists()  # not silently re-initialised
        proc = (_replay(src, tmp_path, *reset) if isinstance(reset, list)
                else _replay(src, tmp_path, env=reset))
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        assert (store / "part-0.sqlite3").exists()


def test_changing_out_or_input_on_resume_is_refused_naming_both_paths(tmp_path, make_event):
    src = _shop_file(tmp_path, make_event)
    assert _replay(src, tmp_path, out="a.jsonl").returncode == 0
    line = _one_line(_replay(src, tmp_path, out="b.jsonl"))
    assert line.startswith("journey: --out is ")
    assert str(tmp_path / "a.jsonl") in line and str(tmp_path / "b.jsonl") in line
    assert not (tmp_path / "b.jsonl").exists()
    moved = tmp_path / "moved.jsonl"  # the input is keyed by its path the same way
    moved.write_bytes(src.read_bytes())
    line = _one_line(_replay(moved, tmp_path, out="a.jsonl"))
    assert line.startswith("journey: the input is ") and str(src) in line and str(moved) in line
    again = _replay(src, tmp_path, out="a.jsonl")  # the same paths resume
    assert again.returncode == 0, again.stderr.decode()[-2000:]
