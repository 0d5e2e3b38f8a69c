"""Decoding and validation: every malformed input has a precise reason, nothing else raises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.decode import REASONS, decode
from features.errors import DecodeError

TS = "2026-03-02T10:00:00Z"


def test_track_decodes_with_event_time():
    ev = decode(orjson.dumps({"type": "track", "event": "Product Viewed", "userId": "u1",
                              "timestamp": TS, "messageId": "m1", "properties": {"a": 1}}))
    assert (ev.type, ev.event, ev.user_id, ev.message_id) == ("track", "Product Viewed", "u1",
                                                             "m1")
    assert ev.ts == 1772445600.0 and ev.properties == {"a": 1}


def test_message_id_is_derived_from_the_bytes_when_absent():
    raw = orjson.dumps({"type": "page", "anonymousId": "a1", "timestamp": TS})
    assert decode(raw).message_id == decode(raw).message_id
    assert decode(raw).message_id != decode(raw.replace(b"a1", b"a2")).message_id


@pytest.mark.parametrize(("raw", "reason"), [
    (b"x" * 40_000, "oversized"),
    (b'{"type": "track"', "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (b'{"userId": "u"}', "missing_type"),
    (b'{"type": "warp", "userId": "u", "timestamp": "2026-03-02T10:00:00Z"}', "unknown_type"),
    (b'{"type": "page", "timestamp": "2026-03-02T10:00:00Z"}', "missing_identity"),
    (b'{"type": "track", "userId": "u", "timestamp": "2026-03-02T10:00:00Z"}',
     "missing_event_name"),
    (b'{"type": "alias", "userId": "u", "timestamp": "2026-03-02T10:00:00Z"}',
     "missing_previous_id"),
    (b'{"type": "page", "userId": "u"}', "missing_timestamp"),
    (b'{"type": "page", "userId": "u", "timestamp": "yesterday"}', "bad_timestamp"),
    (b'{"type": "page", "userId": ["u"], "timestamp": "2026-03-02T10:00:00Z"}', "wrong_type"),
    (b'{"type": "page", "userId": "u", "timestamp": "2026-03-02T10:00:00Z", "properties": 3}',
     "wrong_type"),
    (b'{"type": "context", "timestamp": "2026-03-02T10:00:00Z"}', "missing_region"),
])
def test_each_malformed_record_has_its_reason(raw, reason):
    with pytest.raises(DecodeError) as e:
        decode(raw)
    assert e.value.reason == reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
events = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "identify", "page", "screen", "alias", "group",
                              "context", "warp", 3])},
    optional={"userId": json_values, "anonymousId": json_values, "event": json_values,
              "timestamp": st.sampled_from([TS, "2026-13-99", 5, None]),
              "properties": json_values, "traits": json_values, "context": json_values,
              "previousId": json_values, "region": json_values, "signals": json_values})


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_fail_with_a_known_reason(raw):
    try:
        decode(raw)
    except DecodeError as e:
        assert e.reason in REASONS


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None, derandomize=True)
@given(events)
def test_arbitrary_objects_decode_or_fail_with_a_known_reason(obj):
    try:
        ev = decode(orjson.dumps(obj))
    except DecodeError as e:
        assert e.reason in REASONS
    else:
        assert ev.type in ("track", "identify", "page", "screen", "alias", "group", "context")
        assert ev.type == "context" or ev.user_id or ev.anonymous_id


def _at(ts: str) -> bytes:
    return orjson.dumps({"type": "page", "userId": "u", "timestamp": ts})


def test_event_time_bounds():
    now = 1772445600.0  # TS
    assert decode(_at("2026-03-02T10:14:00Z"), now=now).ts == now + 840  # within tolerance
    with pytest.raises(DecodeError) as e:
        decode(_at("2026-03-02T10:16:00Z"), now=now)
    assert e.value.reason == "future_timestamp"
    assert decode(_at("2031-01-01T00:00:00Z")).ts > now  # no clock given: a replay
    for bad in ("1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z"):
        with pytest.raises(DecodeError) as e:
            decode(_at(bad))
        assert e.value.reason == "bad_timestamp"


def test_deeply_nested_and_wrongly_typed_records_are_rejected_or_kept_opaque():
    deep = b'{"type": "page", "userId": "u", "timestamp": "' + TS.encode() + b'", "p": ' + \
        b"[" * 5000 + b"]" * 5000 + b"}"
    assert len(deep) < 32 * 1024
    with pytest.raises(DecodeError) as e:  # orjson's recursion limit (1024), not a crash
        decode(deep)
    assert e.value.reason == "invalid_json"
    nested = {"type": "page", "userId": "u", "timestamp": TS, "properties": {"a": {"b": [[1]]}}}
    assert decode(orjson.dumps(nested)).properties == {"a": {"b": [[1]]}}
    for field, value, reason in (("userId", {"id": 1}, "wrong_type"),
                                 ("traits", [1], "wrong_type"),
                                 ("context", "x", "wrong_type"),
                                 ("timestamp", "1772445600", "bad_timestamp"),
                                 ("timestamp", [1772445600], "bad_timestamp"),
                                 ("messageId", 1.5, "wrong_type")):
        with pytest.raises(DecodeError) as e:
            decode(orjson.dumps({"type": "identify", "userId": "u", "timestamp": TS,
                                 field: value}))
        assert e.value.reason == reason, field


@pytest.mark.fuzz
def test_the_fuzz_harness_runs_clean(tmp_path):
    """A short, seeded libFuzzer session over the decoder (tests/fuzz_decode.py)."""
    harness = Path(__file__).resolve().parents[1] / "fuzz_decode.py"
    corpus = tmp_path / "corpus"
    env = {**os.environ, "PYTHONPATH": str(harness.parents[1])}
    subprocess.run([sys.executable, "-c", "import tests.fuzz_decode as f; "
                    f"f.seed_corpus({str(corpus)!r})"], env=env, check=True, timeout=60)
    proc = subprocess.run([sys.executable, str(harness), "-runs=100000", "-seed=1",
                           "-max_len=4096", str(corpus)], env=env, capture_output=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert b"Done 100000 runs" in proc.stderr
