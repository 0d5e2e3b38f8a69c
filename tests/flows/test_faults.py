"""Faults against the real broker: kill -9 and resume, a broker outage mid-run.

The flow runs as `journey run` subprocesses, as in production; the broker is the one
`make test` starts (`scripts/kafka.sh`), which the outage test stops and restarts.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from engine.catalog import load_catalog
from features.decode import decode
from features.errors import DecodeError
from features.identity import customer_key, routing_id
from features.state import CustomerState, Slot
from flows.kafka import ensure_topics
from flows.settings import Settings
from tests.flows.kafka_util import BROKERS, consume, kafka_settings_for_test, read_to_end
from tests.flows.replay import final_snapshots
from tests.flows.workloads import sim_records

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = load_catalog().layout
LOCAL_ADDRESS = "127.0.0.1:" + os.environ.get("KAFKA_PORT", "19092")  # where kafka.sh listens
LOCAL_BROKER = (ROOT / ".cache" / "kafka" / "run" / "broker.pid").exists() and \
    BROKERS == LOCAL_ADDRESS
pytestmark = [pytest.mark.kafka,
              pytest.mark.skipif(not BROKERS, reason="JOURNEY_TEST_BROKERS not set")]


def _customer_events(n: int, customers: int, seed: int) -> list[dict[str, Any]]:
    """Valid customer events of the simulator (context goes to its own topic)."""
    out = []
    for rec in sim_records(n, customers, seed=seed):
        try:
            kind = decode(rec.payload).type
        except DecodeError:
            continue
        if kind not in ("context", "group"):
            out.append(orjson.loads(rec.payload))
    return out


def _produce(s: Settings, events: list[dict[str, Any]]) -> None:
    """Keyed as the collector keys them: one partition per customer's device or id."""
    p = Producer({"bootstrap.servers": BROKERS, "linger.ms": 5})
    secret = s.secret.encode()
    for obj in events:
        raw = orjson.dumps(obj)
        key = customer_key(routing_id(decode(raw))[0], secret)
        p.produce(s.events_topic, raw, key=key.encode())
    p.flush(30)


def _produced(topic: str) -> int:
    """Messages written to `topic` so far (sum of its partitions' end offsets); no waiting."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        parts = c.list_topics(topic, timeout=5).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                   for p in parts)
    except KafkaException:  # not created yet
        return 0
    finally:
        c.close()


def _journey(s: Settings, recovery: Path, decisions_topic: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", "run", "--source", "kafka", "--brokers", BROKERS,
            "--events-topic", s.events_topic, "--context-topic", s.context_topic,
            "--outcomes-topic", s.outcomes_topic, "--decisions-topic", decisions_topic,
            "--dead-letter-topic", s.dead_letter_topic, "--partitions", "1",
            "--recovery-dir", str(recovery), "--snapshot-interval", "0.1",
            "--metrics-port", "0", "--no-progress", *extra]


def _guards(db: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every key's admission memory: the digests of the last 32 events it took, in order."""
    return {(step, key): snap[2].__getstate__()[:3]
            for (step, key), snap in final_snapshots(db).items()
            if ".update_and_decide." in step or ".resolve_identity." in step}


def _features(db: Path) -> dict[str, CustomerState]:
    return {key: snap[1] for (step, key), snap in final_snapshots(db).items()
            if ".update_and_decide." in step and snap[1] is not None}


def _same_features(a: CustomerState, b: CustomerState) -> bool:
    """The event-derived state of one customer: the row but for the response history that
    decisions write (which decisions a customer got depends on the model, and two
    uninterrupted Kafka runs' models differ, see below), and the stage.

    Delivering a decision also brings the decayed counters to its event time, so the
    decayed blocks (category affinity, active hours, viewed prices) are compared decayed
    to one time, to float rounding; every other slot exactly.
    """
    lay = LAYOUT
    a, b = copy.deepcopy(a), copy.deepcopy(b)
    t = max(a.row[Slot.DECAY_TS], b.row[Slot.DECAY_TS])
    lay.decay_to(a, t)
    lay.decay_to(b, t)
    decayed = np.zeros(lay.n_slots, dtype=bool)
    decayed[lay.decay_lo : lay.decay_hi] = True
    decayed[[Slot.VIEWED_PRICE_SUM, Slot.VIEWED_PRICE_N]] = True
    history = np.zeros(lay.n_slots, dtype=bool)
    history[lay.channel_sent : lay.hours] = True  # sent/responded per channel, kind, discount
    exact = ~decayed
    close = decayed & ~history
    return (a.stage == b.stage and bool((a.row[exact] == b.row[exact]).all())
            and bool(np.allclose(a.row[close], b.row[close], rtol=1e-9, atol=1e-12)))


def _weights(db: Path) -> tuple[np.ndarray, int]:
    """The shared response model's exported rows (one per treatment) and its update count."""
    [learning] = [snap for (step, _key), snap in final_snapshots(db).items()
                  if ".learn." in step]
    W, _b, _v, _cw, _cv = learning.model.export()
    return np.asarray(W, dtype=np.float64), learning.model.n


def _distance(a: tuple[np.ndarray, int], b: tuple[np.ndarray, int]) -> tuple[float, float]:
    """(relative L2 distance of the treatments' weight rows, ratio of learner updates) of
    `a` to `b`."""
    dist = float(np.linalg.norm(a[0] - b[0], axis=1).sum())
    norm = float(np.linalg.norm(b[0], axis=1).sum())
    return dist / norm, a[1] / b[1]


def test_kill_9_mid_run_and_resume_over_kafka(tmp_path):
    """SIGKILL while the flow is deciding, then resume from `--recovery-dir`: every event is
    taken exactly once per key, in order, as in an uninterrupted run; per-customer features
    are equal; the models are as close as two uninterrupted runs are; repeated decisions
    carry the ids they had."""
    s = kafka_settings_for_test(partitions=1)
    ensure_topics(s)
    _produce(s, _customer_events(12_000, 600, seed=9))
    base = subprocess.run(_journey(s, tmp_path / "base", s.decisions_topic + ".base",
                                   "--no-tail"), cwd=ROOT, capture_output=True, timeout=300)
    assert base.returncode == 0, base.stderr.decode()[-2000:]
    summary = orjson.loads(base.stderr[base.stderr.index(b"{"):])
    crashed_topic = s.decisions_topic + ".crashed"
    proc = subprocess.Popen(_journey(s, tmp_path / "crashed", crashed_topic, "--no-tail"),
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # kill once about a third of the decisions are out (polling end offsets: no wait)
        deadline = time.monotonic() + 120
        while (_produced(crashed_topic) < summary["decisions"] // 3
               and time.monotonic() < deadline and proc.poll() is None):
            time.sleep(0.02)
        assert proc.poll() is None, "finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    again = subprocess.run(_journey(s, tmp_path / "crashed", crashed_topic, "--no-tail"),
                           cwd=ROOT, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode()[-2000:]

    assert _guards(tmp_path / "crashed") == _guards(tmp_path / "base")
    crashed, base_rows = _features(tmp_path / "crashed"), _features(tmp_path / "base")
    assert len(base_rows) > 100 and crashed.keys() == base_rows.keys()
    differ = [k for k in base_rows if not _same_features(crashed[k], base_rows[k])]
    assert differ == []  # per-customer features and stage
    # Model weights: the learn step sees examples at the batch boundaries the consumer's
    # fetches happen to make, so two uninterrupted Kafka runs differ too; the crashed run
    # must be no further from the first than a second uninterrupted run is.
    base2 = subprocess.run(_journey(s, tmp_path / "base2", s.decisions_topic + ".base2",
                                   "--no-tail"), cwd=ROOT, capture_output=True, timeout=300)
    assert base2.returncode == 0, base2.stderr.decode()[-2000:]
    w_base, w_base2, w_crashed = (_weights(tmp_path / d) for d in ("base", "base2", "crashed"))
    noise, moved = _distance(w_base2, w_base), _distance(w_crashed, w_base)
    assert moved[0] <= max(2 * noise[0], 0.04), (moved, noise)
    assert abs(moved[1] - 1) < 0.03, (moved, noise)  # learner updates, crashed / base
    by_id: dict[str, list[dict[str, Any]]] = {}
    for m in consume(crashed_topic, summary["decisions"], timeout=20):
        d = orjson.loads(m.value())
        by_id.setdefault(d["decision_id"], []).append(d)
    repeated = {k: v for k, v in by_id.items() if len(v) > 1}
    for copies in repeated.values():  # the same cause, decided again after the resume
        assert len({(d["customer_id"], d["trigger"], d["placement"], d["ts"])
                    for d in copies}) == 1
    assert len(repeated) < 0.2 * len(by_id)
    assert abs(len(by_id) - summary["decisions"]) < 0.05 * summary["decisions"]


@pytest.mark.skipif(not LOCAL_BROKER, reason="needs the broker scripts/kafka.sh runs")
def test_broker_outage_mid_run(tmp_path):
    """The broker stops for a while and comes back on the same data: the running flow waits,
    reconnects and decides for events produced after the restart; no consumer error is
    mistaken for bad input."""
    s = kafka_settings_for_test(partitions=1)
    ensure_topics(s)
    _produce(s, _customer_events(2_000, 100, seed=4))
    log = (tmp_path / "journey.log").open("wb")
    proc = subprocess.Popen(_journey(s, tmp_path / "db", s.decisions_topic), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert consume(s.decisions_topic, 1, timeout=60), "no decision before the outage"
        pidfile = ROOT / ".cache" / "kafka" / "run" / "broker.pid"
        before = pidfile.read_text()
        subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), "restart"], cwd=ROOT,
                       check=True, timeout=180, capture_output=True,
                       env={**os.environ, "PYTHON": sys.executable})
        assert pidfile.read_text() != before  # a new broker process, on the same data
        assert proc.poll() is None, (tmp_path / "journey.log").read_text()[-2000:]
        tag = uuid.uuid4().hex[:6]
        late = [{"type": "page", "userId": f"after-{tag}-{i}", "messageId": f"{tag}-{i}",
                 "timestamp": "2026-01-06T10:00:00Z", "properties": {"placement": "home_hero"}}
                for i in range(5)]
        _produce(s, late)
        wanted = {e["userId"] for e in late}
        seen: set[str] = set()
        deadline = time.monotonic() + 90
        while not wanted <= seen and time.monotonic() < deadline:
            seen |= {orjson.loads(m.value())["customer_id"]
                     for m in consume(s.decisions_topic, 1, timeout=3)}
        assert wanted <= seen
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    # a consumer error during the outage carries no record: counted, not dead-lettered (all
    # input was valid, so the dead-letter topic, read to its end offsets, is empty)
    dead = read_to_end(s.dead_letter_topic)
    assert [dict(m.headers() or [])["journey.errors.reason"] for m in dead] == []
