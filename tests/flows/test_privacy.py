"""Privacy and input hygiene in the flow: forget me (down to the recovery store's bytes, also
while the flow runs, and the dead letters of later records), consent withdrawal, duplicate
messageIds (and corrected resends) and idle-state expiry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from prometheus_client import REGISTRY

from features.deadletter import REDACTED, REJECTED_PREFIX, DeadLetter
from features.decode import decode
from features.errors import DecodeError
from features.guard import KeyGuard
from features.identity import customer_key, device_id, known_id, payload_routing_id
from features.intake import forget_request
from features.schema import RawRecord
from features.state import Slot
from flows.dataflow import build_flow
from flows.runtime import Runtime
from flows.settings import Settings
from flows.store import init_store, scrub_delay
from tests.flows.replay import SETTINGS, final_snapshots, run_with_crashes
from tests.flows.test_collector import _free_port, _iso, _post, _reaped, _wait_healthy

ROOT = Path(__file__).resolve().parents[2]

GONE, DEVICE, NAME = "u-gone-4711", "a-gone-4711", "Zelda"


def _skipped(reason: str) -> float:
    return REGISTRY.get_sample_value("journey_skipped_events_total", {"reason": reason}) or 0.0


def _records(events: list[dict[str, Any]]) -> list[RawRecord]:
    return [RawRecord(orjson.dumps(e), "events", "t") for e in events]


def _shop(make_event: Callable[..., dict[str, Any]], user: str | None, anon: str | None,
          minute: float) -> list[dict[str, Any]]:
    return [
        make_event("page", "Home", user=user, anon=anon, minute=minute,
                   properties={"placement": "home_hero"}),
        make_event("track", "Product Added", user=user, anon=anon, minute=minute + 1,
                   properties={"price": 30, "quantity": 1, "category": "shoes"}),
        make_event("page", "Cart", user=user, anon=anon, minute=minute + 2,
                   properties={"placement": "cart_page"}),
    ]


def _forget_story(make_event: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """The customer browses anonymously, signs in, is forgotten, then comes back."""
    others = [e for i in range(4) for e in _shop(make_event, f"other-{i}", None, 3 * i)]
    before = [
        *_shop(make_event, None, DEVICE, 0),
        make_event("identify", user=GONE, anon=DEVICE, minute=5,
                   traits={"firstName": NAME, "email": "zelda@example.com",
                           "consent": {"email": True}}),
        *_shop(make_event, GONE, DEVICE, 6),
    ]
    forget = [make_event("track", "Forget Me", user=GONE, anon=DEVICE, minute=20)]
    after = [
        *_shop(make_event, GONE, None, 30),  # the id, without the device
        *_shop(make_event, None, DEVICE, 40),  # the device, anonymous again
        make_event("identify", user=GONE, minute=50, traits={"firstName": NAME}),
    ]
    later = [e for i in range(4) for e in _shop(make_event, f"late-{i}", None, 60 + 3 * i)]
    return others + before + forget + after + later


def test_forget_me_erases_everywhere_and_later_events_are_skipped(make_event, tmp_path):
    records = _records(_forget_story(make_event))
    crash = next(i for i, r in enumerate(records) if b"Forget Me" in r.payload) + 5
    skipped = _skipped("erased")
    decisions, dead, _ = run_with_crashes(records, tmp_path / "db", [crash], batch=1)

    assert not dead
    mine = [orjson.loads(line) for _, line in decisions
            if orjson.loads(line)["customer_id"] in (GONE, DEVICE)]
    assert mine, "the customer was decided for before the request"
    assert max(d["ts"] for d in mine) < "2026-03-02T00:20:00Z"  # nothing after it
    others = {orjson.loads(line)["customer_id"] for _, line in decisions}
    assert {"late-0", "late-3"} <= others  # the flow went on for everyone else
    # every later event of the id or the device was skipped, across the crash and resume
    # (the replay after resume may skip some of them twice)
    assert _skipped("erased") - skipped >= 7

    snaps = final_snapshots(tmp_path / "db")
    secret = SETTINGS.secret.encode()
    known = snaps[next(k for k in snaps if ".update_and_decide." in k[0]
                       and k[1] == customer_key("u:" + GONE, secret))]
    device = snaps[next(k for k in snaps if ".resolve_identity." in k[0]
                        and k[1] == customer_key("a:" + DEVICE, secret))]
    for _key, _state, guard in (known, device):
        assert isinstance(guard, KeyGuard) and guard.erased
    assert known[1] is None and device[1].state is None and device[1].linked_key is None
    # no trace of the raw id, the device id or the name anywhere in the recovery store
    for f in Path(tmp_path / "db").iterdir():
        blob = f.read_bytes()
        for secret_bit in (GONE, DEVICE, NAME, "zelda@example.com"):
            assert secret_bit.encode() not in blob, (f.name, secret_bit)


LIVE, LIVE_NAME, WRITE, ADMIN = "u-live-4711", "Wilhelmina", "live-write-key", "live-admin-key"


def _store_holds(db: Path, *bits: str) -> set[str]:
    """Which of `bits` some file of the store holds (the partitions, WAL and shm included)."""
    blobs = [f.read_bytes() for f in db.glob("part-*.sqlite3*")]
    return {b for b in bits if any(b.encode() in blob for blob in blobs)}


def _deadline(what: str, done: Callable[[], bool], proc: subprocess.Popen[bytes],
              timeout: float = 60.0) -> float:
    """Poll `done` while the flow runs; the seconds it took."""
    start = time.monotonic()
    while not done():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() - start < timeout, f"{what} within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.mark.parametrize("backup", [0.0, 1.0])
def test_a_running_flow_scrubs_an_erased_customer_from_every_store_file(tmp_path, backup):
    """`journey run --source collector --recovery-dir`, kept running: her snapshot reaches
    the store's files; an admin erases her; her id and name leave every file of the store,
    WAL and shm included, within `scrub_delay` (the live scrub, after bytewax deleted her
    superseded snapshots: `--backup-interval` later), and her decision lines leave the
    decisions file (redacted in place), while the flow goes on serving."""
    interval = 0.5
    db, out, port = tmp_path / "db", tmp_path / "decisions.jsonl", _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "--source", "collector",
         "--collector-port", str(port), "--write-keys", WRITE, "--admin-keys", ADMIN,
         "--recovery-dir", str(db), "--snapshot-interval", str(interval),
         "--backup-interval", str(backup),
         "--out", str(out), "--dead-letters", str(tmp_path / "dead.jsonl"),
         "--metrics-port", "0", "--no-progress"],
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"

    def send(key: str, *events: dict[str, Any]) -> None:
        assert _post(url, "/v1/batch", {"batch": list(events)}, key=key)[0] == 200

    def shop(user: str, name: str, n: int) -> list[dict[str, Any]]:
        ts = _iso(datetime.now(UTC))
        return [{"type": "identify", "userId": user, "messageId": f"{user}-id-{n}",
                 "timestamp": ts, "traits": {"firstName": name, "email_opt_in": True}},
                {"type": "page", "userId": user, "messageId": f"{user}-pg-{n}", "timestamp": ts,
                 "name": "Product", "properties": {"placement": "product_page"}}]

    def decided(user: str) -> bool:
        return out.exists() and any(orjson.loads(line).get("customer_id") == user
                                    for line in out.read_text().splitlines())

    def out_holds(*bits: str) -> set[str]:
        blob = out.read_bytes() if out.exists() else b""
        return {b for b in bits if b.encode() in blob}

    with _reaped(proc):
        _wait_healthy(url, proc)
        send(WRITE, *shop(KEEP, "Yara", 0), *shop(LIVE, LIVE_NAME, 0))
        _deadline("her snapshot in the store",
                  lambda: _store_holds(db, LIVE, LIVE_NAME) == {LIVE, LIVE_NAME}, proc)
        _deadline("her decision in the decisions file", lambda: decided(LIVE), proc)
        size = out.stat().st_size
        send(ADMIN, {"type": "track", "event": "Forget Me", "userId": LIVE,
                     "messageId": "forget-live", "timestamp": _iso(datetime.now(UTC))})
        took = _deadline("her bytes gone from the store", lambda: not _store_holds(
            db, LIVE, LIVE_NAME), proc, timeout=scrub_delay(interval, backup) + 30)
        print(f"erasure to clean store files: {took:.1f} s")
        _deadline("her lines redacted in the decisions file", lambda: not out_holds(LIVE),
                  proc, timeout=interval + 30)
        assert out.stat().st_size >= size and decided(KEEP)  # in place, nothing cut
        send(WRITE, *shop("u-after-4711", "Xenia", 0))  # the flow still serves
        _deadline("a decision after the scrub", lambda: decided("u-after-4711"), proc)
        assert KEEP.encode() in b"".join(f.read_bytes() for f in db.glob("part-*.sqlite3*"))
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()
    assert b"live scrub failed" not in stderr
    assert not _store_holds(db, LIVE, LIVE_NAME) and not out_holds(LIVE, LIVE_NAME)
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [d["redacted"] for d in lines if "customer_id" not in d]  # hers, ids kept
    assert all(d.get("decision_id") for d in lines)


def test_an_erasure_a_crash_cut_short_is_redacted_from_the_outputs_at_the_next_start(
        tmp_path):
    """kill -9 just after her erasure was processed (journaled beside the decisions file),
    before its redaction was due: the next start redacts her earlier decision lines before
    it serves anything, and the journal is gone."""
    db, out = tmp_path / "db", tmp_path / "decisions.jsonl"
    pending = out.with_name(out.name + ".redact-pending")

    def start() -> tuple[subprocess.Popen[bytes], str]:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", "--source", "collector",
             "--collector-port", str(port), "--write-keys", WRITE, "--admin-keys", ADMIN,
             "--recovery-dir", str(db), "--snapshot-interval", "1", "--backup-interval", "0",
             "--out", str(out), "--dead-letters", str(tmp_path / "dead.jsonl"),
             "--metrics-port", "0", "--no-progress"],
            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        return proc, url

    def mine() -> bool:
        return out.exists() and LIVE.encode() in out.read_bytes()

    proc, url = start()
    with _reaped(proc):
        ts = _iso(datetime.now(UTC))
        assert _post(url, "/v1/batch", {"batch": [
            {"type": "page", "userId": user, "messageId": f"{user}-pg", "timestamp": ts,
             "name": "Product", "properties": {"placement": "product_page"}}
            for user in (KEEP, LIVE)]}, key=WRITE)[0] == 200
        _deadline("her decision written", mine, proc)
        time.sleep(2.5)  # an epoch closes: the sink's snapshot offset is past her line
        assert _post(url, "/v1/track", {"type": "track", "event": "Forget Me", "userId": LIVE,
                                        "messageId": "forget-crash", "timestamp": ts},
                     key=ADMIN)[0] == 200
        _deadline("her erasure journaled", pending.exists, proc)
        proc.kill()
        proc.communicate()
        assert mine()  # the crash came before the redaction
        size = out.stat().st_size
    proc, url = start()
    with _reaped(proc):
        assert not mine() and not pending.exists()
        assert KEEP.encode() in out.read_bytes()
        lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
        assert any(d.get("redacted") for d in lines)  # in place, not cut off by a resume
        assert out.stat().st_size >= size
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()


def test_an_erased_customers_earlier_output_lines_are_redacted(make_event, tmp_path):
    """Her decisions (as an anonymous device, then signed in) and a dead letter of hers,
    written before an erasure by her user id alone: after the run every one of their lines
    is redacted in place (same length, decision id or reason kept), nothing of her id,
    device or name is left in either file, and the other customer's lines are whole."""
    keep = _bad(KEEP, None, "Yara")
    before = _lines([
        *_shop(make_event, KEEP, None, 0),
        *_shop(make_event, None, DEVICE, 1),  # anonymous: decided for as the device
        make_event("identify", user=GONE, anon=DEVICE, minute=5, traits={"firstName": NAME}),
        *_shop(make_event, GONE, DEVICE, 10),
    ]) + b"\n".join([_bad(GONE, None, NAME), keep]) + b"\n"
    (tmp_path / "unerased").mkdir()
    (tmp_path / "unerased" / "events.jsonl").write_bytes(before)
    _replay(tmp_path / "unerased" / "events.jsonl", tmp_path / "unerased")
    plain = [orjson.loads(x) for x in (tmp_path / "unerased" / "d.jsonl").read_bytes()
             .splitlines()]
    as_device = {d["decision_id"] for d in plain if d["customer_id"] == DEVICE}
    as_her = {d["decision_id"] for d in plain if d["customer_id"] == GONE}
    assert as_device  # (signed in, the cooldowns the device set may hold her back)
    src = tmp_path / "events.jsonl"
    src.write_bytes(before + forget_request(GONE, None, _minute(20)).payload + b"\n"
                    + _lines(_shop(make_event, KEEP, None, 30)))
    summary = _replay(src, tmp_path)
    decisions = (tmp_path / "d.jsonl").read_bytes()
    dead = (tmp_path / "dl.jsonl").read_bytes()
    for secret_bit in (GONE, DEVICE, NAME):
        assert secret_bit.encode() not in decisions + dead, secret_bit
    rows = [orjson.loads(x) for x in decisions.splitlines()]
    assert len(rows) == summary["decisions"] and all(r.get("decision_id") for r in rows)
    hers = [r for r in rows if r.get("redacted")]
    assert all(set(r) == {"decision_id", "redacted"} for r in hers)
    assert {r["decision_id"] for r in hers} == as_device | as_her  # the device's too
    assert {r["customer_id"] for r in rows if not r.get("redacted")} == {KEEP}
    letters = [orjson.loads(x) for x in dead.splitlines()]
    assert summary["dead_letters"] == len(letters) == 2
    assert [(d["reason"], d["payload"]) for d in letters] == \
        [("bad_timestamp", ""), ("bad_timestamp", keep.decode())]
    assert letters[0]["redacted"] is True


def test_a_resent_message_id_is_processed_once(make_event, tmp_path):
    events = [e for i in range(5) for e in _shop(make_event, f"u{i}", f"a{i}", 4 * i)]
    for i, e in enumerate(events):
        e["messageId"] = f"m-{i}"
    once, _, _ = run_with_crashes(_records(events), tmp_path / "once", [])
    skipped = _skipped("duplicate")
    resent = events[:6] + events[3:9] + events[6:] + events[:2]  # retries, late and soon
    twice, dead, _ = run_with_crashes(_records(resent), tmp_path / "twice", [])
    assert not dead
    assert sorted(k for k, _ in twice) == sorted(k for k, _ in once)
    assert _skipped("duplicate") - skipped == len(resent) - len(events)


def test_a_message_id_seen_outside_the_window_counts_again(make_event, tmp_path):
    first = make_event("page", "Home", user="u1", minute=0, properties={"placement": "home_hero"})
    again = dict(first, timestamp="2026-03-02T03:00:00Z")  # three hours later
    first["messageId"] = again["messageId"] = "m-1"
    counts = []
    for window in (3600.0, 86_400.0):
        settings = Settings(seed=11, progress=False, metrics_port=0, timer_sweep=3600.0,
                            dedupe_window=window)
        skipped = _skipped("duplicate")
        run_with_crashes(_records([first, again]), tmp_path / f"db-{window}", [],
                         settings=[settings])
        counts.append(_skipped("duplicate") - skipped)
    assert counts == [0, 1]


def test_idle_customers_expire_after_the_state_ttl(make_event, tmp_path):
    early = [e for i in range(3) for e in _shop(make_event, f"idle-{i}", None, i)]
    late = [e for i in range(3) for e in _shop(make_event, f"busy-{i}", None, 600 + i)]
    settings = Settings(seed=11, progress=False, metrics_port=0, timer_sweep=0.05,
                        state_ttl=3600.0, wake_limit=0.2)
    expired = REGISTRY.get_sample_value("journey_expired_keys_total") or 0.0
    run_with_crashes(_records(early + late), tmp_path / "db", [], settings=[settings], idle=2.0)
    secret = settings.secret.encode()
    keys = {k for step, k in final_snapshots(tmp_path / "db") if ".update_and_decide." in step}
    assert {customer_key(f"u:busy-{i}", secret) for i in range(3)} <= keys
    assert not keys & {customer_key(f"u:idle-{i}", secret) for i in range(3)}
    assert (REGISTRY.get_sample_value("journey_expired_keys_total") or 0.0) - expired >= 3


def _dedupe_ids() -> float:
    return REGISTRY.get_sample_value("journey_dedupe_ids", {"store": "keys"}) or 0.0


@pytest.mark.parametrize(("ttl", "held"), [(0.0, 32 + 3 + 9), (3600.0, 9)],
                         ids=["kept", "expired"])
def test_remembered_ids_are_bounded_per_key_and_leave_with_it(make_event, tmp_path, ttl, held):
    """40 distinct ids of one customer hold 32; an expired customer's ids are gone."""
    many = [make_event("page", "Home", user="idle-many", minute=i) for i in range(40)]
    early = many + _shop(make_event, "idle-few", None, 0)
    late = [e for i in range(3) for e in _shop(make_event, f"busy-{i}", None, 600 + i)]
    settings = Settings(seed=11, progress=False, metrics_port=0, timer_sweep=0.05,
                        state_ttl=ttl, wake_limit=0.2)
    before = _dedupe_ids()
    run_with_crashes(_records(early + late), tmp_path / "db", [], settings=[settings],
                     idle=2.0 if ttl else 0.0)
    assert _dedupe_ids() - before == held


def test_consent_withdrawal_takes_effect_on_the_next_decision(make_event, tmp_path):
    """Two shoppers abandon a cart; one withdraws email consent a minute later: only the
    other is emailed when the abandoned-cart timer fires."""
    events = []
    for user in ("keeps", "withdraws"):
        events += [
            make_event("identify", user=user, traits={"consent": {"email": True}},
                       context={"timezone": "UTC"}, minute=600),
            make_event("track", "Product Added", user=user, minute=601,
                       properties={"price": 50, "quantity": 1}),
        ]
    events.append(make_event("identify", user="withdraws", minute=602,
                             traits={"consent": {"email": False}}))
    events += [make_event("page", "Home", user=f"other-{i}", minute=620 + 30 * i)
               for i in range(8)]
    sweeping = Settings(seed=11, progress=False, metrics_port=0, timer_sweep=0.1)
    decisions, _, _ = run_with_crashes(_records(events), tmp_path / "db", [],
                                       settings=[sweeping], idle=2.0)
    emailed = {d["customer_id"] for d in map(orjson.loads, (line for _, line in decisions))
               if d["channel"] == "email"}
    assert emailed == {"keeps"}


def _state_of(db: Path, step: str, key: str) -> Any:
    [snap] = [s for (st, k), s in final_snapshots(db).items() if f".{step}." in st and k == key]
    return snap[1]


@pytest.mark.parametrize(("user", "anon"), [("u-fix", None), (None, "a-fix"),
                                            ("u-fix", "a-fix")],
                         ids=["known", "anonymous", "forwarded"])
def test_a_corrected_resend_of_a_dead_lettered_event_is_processed(make_event, tmp_path,
                                                                   user, anon):
    """The first copy fails in the feature code (dead-lettered, `wrong_type`); the resend
    under the same `messageId` is processed, as if the first had never come."""
    start = [make_event("identify", user=user, anon=anon, minute=0, traits={"age": 30}),
             make_event("page", "Home", user=user, anon=anon, minute=1)]
    bad = make_event("track", "Product Added", user=user, anon=anon, minute=2,
                     properties={"price": "forty", "quantity": 1}, messageId="m-fix")
    fixed = dict(bad, properties={"price": 40, "quantity": 1})
    skipped = _skipped("duplicate")
    _, dead, _ = run_with_crashes(_records([*start, bad, fixed]), tmp_path / "resent", [])
    assert [orjson.loads(line)["reason"] for _, line in dead] == ["wrong_type"]
    assert _skipped("duplicate") == skipped
    run_with_crashes(_records([*start, fixed]), tmp_path / "once", [])
    secret = SETTINGS.secret.encode()
    if user is not None:
        step, key = "update_and_decide", customer_key("u:" + user, secret)
    else:
        step, key = "resolve_identity", customer_key("a:" + anon, secret)
    got, want = (_state_of(tmp_path / run, step, key) for run in ("resent", "once"))
    if step == "resolve_identity":
        got, want = got.state, want.state
    assert got.row[Slot.CART_VALUE] == 40.0
    assert got.row.tobytes() == want.row.tobytes()


# --- dead letters of an erased customer: the record meets the key's tombstone and is redacted

KEEP = "u-keep-0815"


def _bad(user: str | None, anon: str | None, name: str) -> bytes:
    """A record rejected at decode (`bad_timestamp`, the message quoting it) that names its
    sender and carries a first name."""
    ev: dict[str, Any] = {"type": "identify", "timestamp": f"{name}'s birthday",
                          "traits": {"firstName": name}}
    if user is not None:
        ev["userId"] = user
    if anon is not None:
        ev["anonymousId"] = anon
    return orjson.dumps(ev)


UNKEYABLE = b'{"type": "page", "userId": "u-half'  # invalid JSON: no identity to read


def _lines(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def _replay(src: Path, tmp: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "replay", str(src), "--out", str(tmp / "d.jsonl"),
         "--dead-letters", str(tmp / "dl.jsonl"), "--recovery-dir", str(tmp / "state"),
         "--metrics-port", "0", "--no-progress"],
        cwd=ROOT, capture_output=True, timeout=180)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err[-3000:]
    return orjson.loads(err[err.index("{"):])


def _minute(m: float) -> float:
    return (datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=m)).timestamp()


def _assert_redacted(dead: list[dict[str, Any]], blob: bytes, keep: bytes,
                     reasons: list[str]) -> None:
    """Her dead letters kept only their reason; the other customer's and the unkeyable
    line's are whole; no byte of her id, device or name is left."""
    for secret_bit in (GONE, DEVICE, NAME):
        assert secret_bit.encode() not in blob, secret_bit
    redacted = [d for d in dead if d.get("redacted")]
    assert sorted(d["reason"] for d in redacted) == sorted(reasons)
    for d in redacted:
        assert (d["payload"], d["message"]) == ("", REDACTED)
    whole = {d["payload"].encode(): d["reason"] for d in dead if not d.get("redacted")}
    assert whole == {keep: "bad_timestamp", UNKEYABLE: "invalid_json"}


def test_dead_letters_of_an_erased_customer_are_redacted_after_a_restart(make_event, tmp_path):
    """Run 1 learns her name and erases her (`journey forget --user-id`'s privileged request);
    run 2 resumes from `--recovery-dir` and gets her malformed records (by id, and by the
    device linked to her) beside another customer's and an unkeyable line."""
    src = tmp_path / "events.jsonl"
    src.write_bytes(_lines([
        *_shop(make_event, KEEP, None, 0),
        make_event("identify", user=GONE, anon=DEVICE, minute=5, traits={"firstName": NAME}),
        *_shop(make_event, GONE, DEVICE, 6),
    ]) + forget_request(GONE, None, _minute(20)).payload + b"\n")
    first = _replay(src, tmp_path)
    assert first["dead_letters"] == 0
    keep = _bad(KEEP, None, "Yara")
    with src.open("ab") as f:
        f.write(b"\n".join([_bad(GONE, None, NAME), _bad(None, DEVICE, NAME), keep,
                            UNKEYABLE]) + b"\n")
    second = _replay(src, tmp_path)
    assert second["dead_letters"] == 4  # all counted, redacted or not
    blob = (tmp_path / "dl.jsonl").read_bytes()
    _assert_redacted([orjson.loads(x) for x in blob.splitlines()], blob, keep,
                     ["bad_timestamp"] * 2)


def _run_in_process(records: list[Any], db: Path, workers: int = 1
                    ) -> tuple[Runtime, list[tuple[str, str]]]:
    """The flow over `records` (origin "t", tracked), one record per epoch, with a recovery
    store in `db`: its runtime and its dead letters."""
    rt = Runtime(SETTINGS)
    rt.track("t")
    dead: list[tuple[str, str]] = []
    init_store(db, 1)
    flow = build_flow(SETTINGS, source=TestingSource(records), decisions=TestingSink([]),
                      dead_letters=TestingSink(dead), runtime=rt)
    run = {"epoch_interval": timedelta(0), "recovery_config": RecoveryConfig(db)}
    if workers == 1:
        run_main(flow, **run)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers, **run)
    return rt, dead


@pytest.mark.parametrize("workers", [1, 2])
def test_dead_letters_of_an_erased_customer_are_redacted_in_the_same_run(make_event, tmp_path,
                                                                          workers):
    """One record per epoch, so every keyed step sees her request before her later records
    (bytewax runs a stateful step's epochs in order, whatever path the items took). Her
    records rejected at decode and by the collector (which come as dead letters) are
    redacted; a dead letter naming a key that holds nothing leaves no state behind; every
    record is acknowledged exactly once."""
    records = _records([
        *_shop(make_event, KEEP, None, 0),
        make_event("identify", user=GONE, anon=DEVICE, minute=5, traits={"firstName": NAME}),
        *_shop(make_event, GONE, DEVICE, 6),
        make_event("track", "Forget Me", user=GONE, anon=DEVICE, minute=20),
    ])
    keep = _bad(KEEP, None, "Yara")
    strangers = [_bad("u-stranger", None, "Xena"), _bad(None, "a-stranger", "Xena")]
    records += [RawRecord(b, "events", "t") for b in
                (_bad(GONE, None, NAME), _bad(None, DEVICE, NAME), keep, UNKEYABLE, *strangers)]
    collector = DeadLetter("not_privileged", f"consent for {NAME} needs a server-side key",
                           _bad(GONE, DEVICE, NAME), "events", "t", "IntakeError")
    records = [*records, collector, *_records(_shop(make_event, KEEP, None, 30))]
    redacted = REGISTRY.get_sample_value("journey_dead_letters_redacted_total") or 0.0
    rt, dead = _run_in_process(records, tmp_path / "db", workers)

    assert rt.done("t") == len(records)  # acknowledged = processed + dead-lettered
    assert rt.dead_letters == len(dead) == 7
    assert (REGISTRY.get_sample_value("journey_dead_letters_redacted_total") or 0.0) \
        - redacted == 3
    mine = [orjson.loads(line) for _, line in dead]
    _assert_redacted([d for d in mine if b"Xena" not in d["payload"].encode()],
                     "\n".join(line for _, line in dead if "Xena" not in line).encode(), keep,
                     ["bad_timestamp", "bad_timestamp", "not_privileged"])
    assert sorted(d["payload"].encode() for d in mine if b"Xena" in d["payload"].encode()) \
        == sorted(strangers)
    secret = SETTINGS.secret.encode()
    held = {k for _, k in final_snapshots(tmp_path / "db")}
    assert customer_key(known_id(KEEP), secret) in held
    assert not held & {customer_key(known_id("u-stranger"), secret),
                       customer_key(device_id("a-stranger"), secret)}


def test_a_dead_letter_naming_a_live_customer_and_an_erased_device_is_redacted(make_event,
                                                                              tmp_path):
    """A rejected record names two identities: its device's step sees it first, as an
    event's does, and passes it on to the customer it names. Erased device, live customer:
    redacted; fresh device, erased customer: redacted (by the customer's step); both live:
    whole. A device key made only for the dead letter is not kept."""
    shy, fresh = "a-shy-4711", "a-fresh-4711"
    records = _records([
        *_shop(make_event, None, shy, 0),
        make_event("track", "Forget Me", anon=shy, minute=5),  # the device alone
        make_event("identify", user=GONE, minute=6, traits={"firstName": NAME}),
        make_event("track", "Forget Me", user=GONE, minute=7),
        *_shop(make_event, KEEP, None, 8),
    ])
    whole = _bad(KEEP, "a-keep-4711", "Yara")
    records += [RawRecord(b, "events", "t") for b in
                (_bad("u-live-4711", shy, NAME), _bad(GONE, fresh, NAME), whole)]
    rt, dead = _run_in_process(records, tmp_path / "db")
    assert rt.done("t") == len(records) and rt.dead_letters == len(dead) == 3
    letters = [orjson.loads(line) for _, line in dead]
    assert sorted(d.get("redacted", False) for d in letters) == [False, True, True]
    assert [d["payload"].encode() for d in letters if not d.get("redacted")] == [whole]
    blob = "\n".join(line for _, line in dead).encode()
    for bit in (shy, fresh, GONE, NAME, "u-live-4711"):
        assert bit.encode() not in blob, bit
    secret = SETTINGS.secret.encode()
    held = {k for _, k in final_snapshots(tmp_path / "db")}
    assert not held & {customer_key(device_id(fresh), secret),
                       customer_key(known_id("u-live-4711"), secret)}


@pytest.mark.parametrize(("payload", "named"), [
    (b'{"userId": "u1", "anonymousId": "a1", "type": 7}', ("a:a1", False)),  # device first
    (b'{"userId": "u1", "type": 7}', ("u:u1", True)),
    (b'{"userId": 42}', ("u:42", True)),  # a number, as decode reads it
    (b'{"userId": {"id": "u1"}, "anonymousId": "a1"}', ("a:a1", False)),
    (b'{"userId": "", "anonymousId": "a1"}', ("a:a1", False)),
    (b'{"anonymousId": true}', None),
    (b'["u1"]', None),
    (UNKEYABLE, None),
    (b'{"userId": "p\xff"}', None),
    (b'{"userId": "u1", "pad": "' + b"x" * (1 << 20) + b'"}', None),  # over the limit
    (b'{"userId": "u1", "pad": "' + b"x" * ((1 << 20) - 30) + b'"}', ("u:u1", True)),
])
def test_a_rejected_record_is_routed_by_the_identity_its_bytes_name(payload, named):
    assert payload_routing_id(payload) == named


def test_a_rejection_sent_through_the_events_topic_cannot_be_read_as_an_event():
    """`journey collect` sends a rejection that names someone through the events topic: its
    value leads with `REJECTED_PREFIX` (no decoder reads it as an event, whatever its headers
    say) and reads back as the same dead letter; a plain event with dead-letter headers stays
    an event; a header without a value is ignored; a redacted one keeps no payload."""
    forged = _bad(GONE, None, NAME)
    d = DeadLetter("not_privileged", "Forget Me needs a server-side key", forged, "events",
                   "collector:/v1/track", "IntakeError")
    value, headers = d.to_record()
    assert value.startswith(REJECTED_PREFIX)
    with pytest.raises(DecodeError):
        decode(value)
    assert DeadLetter.from_record(value, headers) == d
    assert DeadLetter.from_record(forged, headers) is None
    back = DeadLetter.from_record(value, [*headers, ("journey.errors.class", None)])
    assert back is not None and back.error_class == "IntakeError"
    gone = DeadLetter.from_record(value, [*headers, ("journey.errors.redacted", b"true")])
    assert gone is not None and gone.redacted and gone.payload == b""


def test_a_redacted_dead_letter_keeps_why_and_where_but_not_what():
    d = DeadLetter("bad_timestamp", 'timestamp "Zelda" is not ISO-8601', b'{"x": "Zelda"}',
                   "events", "p0").redact()
    assert (d.reason, d.stream, d.origin, d.error_class) == ("bad_timestamp", "events", "p0",
                                                             "DecodeError")
    assert (d.payload, d.message, d.redacted) == (b"", REDACTED, True)
    assert ("journey.errors.redacted", b"true") in d.headers()
    assert b"Zelda" not in d.to_json() + b"".join(v for _, v in d.headers())
    assert orjson.loads(d.to_json())["redacted"] is True
    assert "redacted" not in orjson.loads(DeadLetter("r", "m", b"p").to_json())
