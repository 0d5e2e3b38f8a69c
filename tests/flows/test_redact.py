"""In-place redaction of output files (`flows.redact`): only an erased key's complete lines,
each to a JSON object of the same byte length."""

from __future__ import annotations

import orjson

from features.deadletter import REDACTED, DeadLetter
from features.identity import customer_key, device_id, known_id
from flows.redact import redact_file

SECRET = b"test-secret"


def _decision(cid: str, n: int) -> bytes:
    return orjson.dumps({"decision_id": f"d-{cid}-{n}", "customer_id": cid,
                         "message": f"Hi {cid}, new arrivals for you"})


def _letter(payload: bytes) -> bytes:
    return DeadLetter("bad_timestamp", f"could not read {payload[:20]!r}", payload).to_json()


def test_only_the_erased_keys_complete_lines_are_rewritten_at_the_same_length(tmp_path):
    path = tmp_path / "out.jsonl"
    gone_user = orjson.dumps({"userId": "u-gone", "timestamp": "x", "traits": {"n": "Zed"}})
    gone_device = orjson.dumps({"anonymousId": "a-gone"})
    unreadable = b"\xff" + orjson.dumps({"userId": "u-gone"})  # kept as base64: no JSON
    lines = [_decision("u-gone", 1), _decision("keep", 1), _decision("a-gone", 2),
             _letter(gone_user), _letter(orjson.dumps({"userId": "keep"})),
             _letter(gone_device), b"not json", _letter(b'{"userId": "u-go'),
             _letter(unreadable)]
    tail = _decision("u-gone", 3)  # being appended: no newline yet
    path.write_bytes(b"\n".join(lines) + b"\n" + tail)
    before = path.read_bytes()
    erased = {customer_key(known_id("u-gone"), SECRET), customer_key(device_id("a-gone"),
                                                                       SECRET)}
    assert redact_file(path, erased, SECRET) == 4
    after = path.read_bytes()
    assert len(after) == len(before) and after.endswith(tail)
    out = after.split(b"\n")
    assert [len(x) for x in out] == [len(x) for x in before.split(b"\n")]
    assert orjson.loads(out[0]) == {"decision_id": "d-u-gone-1", "redacted": True}
    assert orjson.loads(out[2]) == {"decision_id": "d-a-gone-2", "redacted": True}
    letter = orjson.loads(out[3])
    assert letter["redacted"] and (letter["reason"], letter["message"], letter["payload"]) \
        == ("bad_timestamp", REDACTED, "")
    assert orjson.loads(out[5])["redacted"] is True  # by the device its payload names
    # not JSON, half an object, bytes that are not UTF-8: nobody to attribute them to
    assert b"payload_b64" in lines[8]
    assert out[1] == lines[1] and out[4] == lines[4] and out[6:9] == lines[6:9]
    assert redact_file(path, erased, SECRET) == 0  # idempotent
    assert redact_file(tmp_path / "missing.jsonl", erased, SECRET) == 0
    assert redact_file(path, set(), SECRET) == 0
