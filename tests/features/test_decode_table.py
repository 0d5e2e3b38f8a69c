"""The decoder, pinned: one malformed field per row gives exactly its reason, and every
well-formed variant decodes to the values written here by hand."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
import pytest

from features.decode import EARLIEST, LATEST, MAX_AHEAD, decode, parse_timestamp
from features.errors import DecodeError
from features.schema import MAX_EVENT_BYTES

TS = "2026-03-02T10:00:00Z"
EPOCH = 1772445600.0  # TS, by hand: 20514 days * 86400 + 10 h
DROP = object()  # marks a field to remove from the base record

BASE: dict[str, dict[str, Any]] = {
    "track": {"type": "track", "event": "Product Viewed", "userId": "u1", "timestamp": TS},
    "identify": {"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"},
                 "timestamp": TS},
    "page": {"type": "page", "name": "Home", "anonymousId": "a1", "timestamp": TS},
    "screen": {"type": "screen", "name": "Shop", "userId": "u1", "timestamp": TS},
    "alias": {"type": "alias", "previousId": "a1", "userId": "u1", "timestamp": TS},
    "group": {"type": "group", "groupId": "g1", "userId": "u1", "timestamp": TS},
    "context": {"type": "context", "region": "eu-west", "timestamp": TS,
                "signals": {"rain": 1, "temperature_c": 12.5}},
}


def _with(kind: str, **changes: Any) -> bytes:
    obj = dict(BASE[kind])
    for k, v in changes.items():
        if v is DROP:
            obj.pop(k, None)
        else:
            obj[k] = v
    return orjson.dumps(obj)


def _reason(raw: bytes | str, **kw: Any) -> str:
    with pytest.raises(DecodeError) as e:
        decode(raw, **kw)
    return e.value.reason


def test_every_base_record_decodes():
    for kind in BASE:
        assert decode(_with(kind)).type == kind


MALFORMED = [
    # size, encoding, JSON
    ("oversized", _with("track", properties={"pad": "x" * MAX_EVENT_BYTES})),
    ("oversized", b" " * (MAX_EVENT_BYTES + 1)),
    ("invalid_json", b'{"type": "track"'),
    ("invalid_json", b'{"type": "track",}'),
    ("invalid_json", b"{'type': 'track'}"),
    ("invalid_json", b'{"type": "page", "n": NaN}'),
    ("invalid_json", b'{"type": "page", "n": 1e400}'),
    ("invalid_json", b""),
    ("invalid_json", b"[" * 2000 + b"]" * 2000),  # deeper than orjson's 1024 levels
    ("invalid_utf8", _with("track").replace(b"Product", b"Pr\xffduct")),
    ("invalid_utf8", b"\xc3"),
    ("invalid_utf8", '{"type": "page", "name": "\ud800"}'),
    ("not_an_object", b"[1, 2]"),
    ("not_an_object", b'"track"'),
    ("not_an_object", b"3"),
    ("not_an_object", b"null"),
    # type
    ("missing_type", _with("track", type=DROP)),
    ("missing_type", _with("track", type=None)),
    ("wrong_type", _with("track", type=3)),
    ("wrong_type", _with("track", type=["track"])),
    ("unknown_type", _with("track", type="warp")),
    ("unknown_type", _with("track", type="Track")),
    ("unknown_type", _with("track", type="")),
    # identity
    ("missing_identity", _with("track", userId=DROP)),
    ("missing_identity", _with("track", userId="")),
    ("missing_identity", _with("track", userId=None, anonymousId="")),
    ("missing_identity", _with("page", anonymousId=DROP)),
    ("wrong_type", _with("track", userId=["u1"])),
    ("wrong_type", _with("track", userId={"id": 1})),
    ("wrong_type", _with("track", userId=1.5)),
    ("wrong_type", _with("track", userId=True)),
    ("wrong_type", _with("page", anonymousId=False)),
    # per-call fields
    ("missing_event_name", _with("track", event=DROP)),
    ("missing_event_name", _with("track", event="")),
    ("wrong_type", _with("track", event=3.5)),
    ("wrong_type", _with("page", name=["Home"])),
    ("missing_previous_id", _with("alias", previousId=DROP)),
    ("missing_previous_id", _with("alias", previousId="")),
    ("missing_previous_id", _with("alias", userId=DROP, anonymousId="a2")),
    ("wrong_type", _with("alias", previousId=[1])),
    ("wrong_type", _with("track", properties=3)),
    ("wrong_type", _with("track", properties=[1])),
    ("wrong_type", _with("track", properties="x")),
    ("wrong_type", _with("identify", traits=[1])),
    ("wrong_type", _with("track", context="x")),
    ("wrong_type", _with("track", messageId=1.5)),
    ("wrong_type", _with("track", messageId={"id": "m"})),
    # time
    ("missing_timestamp", _with("track", timestamp=DROP)),
    ("missing_timestamp", _with("track", timestamp=None, sentAt=None)),
    ("bad_timestamp", _with("track", timestamp="yesterday")),
    ("bad_timestamp", _with("track", timestamp="2026-13-02T10:00:00Z")),
    ("bad_timestamp", _with("track", timestamp="")),
    ("bad_timestamp", _with("track", timestamp=True)),
    ("bad_timestamp", _with("track", timestamp=[TS])),
    ("bad_timestamp", _with("track", timestamp={"t": TS})),
    ("bad_timestamp", _with("track", timestamp="1999-12-31T23:59:59Z")),
    ("bad_timestamp", _with("track", timestamp="1970-01-01T00:00:00Z")),
    ("bad_timestamp", _with("track", timestamp=EARLIEST - 1)),
    ("bad_timestamp", _with("track", timestamp=0)),
    ("bad_timestamp", _with("track", timestamp=-5)),
    ("bad_timestamp", _with("track", timestamp="2100-01-01T00:00:00Z")),
    ("bad_timestamp", _with("track", timestamp="9999-12-31T23:59:59Z")),
    ("bad_timestamp", _with("track", timestamp=int(LATEST))),
    ("bad_timestamp", _with("track", timestamp=int(LATEST) * 1000)),
    ("bad_timestamp", _with("track", timestamp=99_999_999_999)),  # seconds: year 5138
    ("bad_timestamp", _with("track", timestamp=DROP, originalTimestamp="soon")),
    ("bad_timestamp", _with("context", timestamp="9999-01-01T00:00:00Z")),
    # context records
    ("missing_region", _with("context", region=DROP)),
    ("missing_region", _with("context", region="")),
    ("wrong_type", _with("context", region=3.5)),
    ("wrong_type", _with("context", signals=[1])),
    ("wrong_type", _with("context", signals={"rain": "wet"})),
    ("wrong_type", _with("context", signals={"rain": True})),
    ("wrong_type", _with("context", signals={"rain": None})),
    ("out_of_range", _with("context", signals={"temperature_c": 1e308})),
    ("out_of_range", _with("context", signals={"temperature_c": -1e308})),
    ("out_of_range", _with("context", signals={"rain": 1_000_001})),
    ("out_of_range", _with("context", signals={"rain": -1000000.5})),
    ("out_of_range", _with("context", signals={"rain": 2**63 - 1})),
    ("out_of_range", _with("context").replace(b'"rain":1', b'"rain":' + b"9" * 40)),
]


@pytest.mark.parametrize(("reason", "raw"), MALFORMED,
                         ids=[f"{i}-{r}" for i, (r, _) in enumerate(MALFORMED)])
def test_one_malformed_field_gives_exactly_its_reason(reason, raw):
    assert _reason(raw) == reason


def test_future_timestamps_against_the_clock():
    assert _reason(_with("track", timestamp="2026-03-02T10:15:01Z"), now=EPOCH) == \
        "future_timestamp"
    assert decode(_with("track", timestamp="2026-03-02T10:15:00Z"), now=EPOCH).ts == \
        EPOCH + MAX_AHEAD
    assert _reason(_with("track", timestamp="2026-03-02T10:00:11Z"), now=EPOCH,
                   max_ahead=10) == "future_timestamp"
    assert decode(_with("track", timestamp="2026-03-02T10:00:10Z"), now=EPOCH,
                  max_ahead=10).ts == EPOCH + 10
    # without a clock (a replay) any time before 2100 is taken
    assert decode(_with("track", timestamp="2099-12-31T23:59:59Z")).ts == LATEST - 1
    # the 2100 ceiling holds whatever the tolerance
    assert _reason(_with("track", timestamp="9999-01-01T00:00:00Z"), now=EPOCH,
                   max_ahead=1e12) == "bad_timestamp"


def test_the_event_time_floor_is_a_parameter():
    old = _with("track", timestamp="1995-06-01T00:00:00Z")
    assert _reason(old) == "bad_timestamp"
    assert decode(old, earliest=0.0).ts == 801964800.0
    assert decode(_with("track", timestamp=-86400), earliest=-1e10).ts == -86400.0
    assert decode(_with("track", timestamp=EARLIEST)).ts == EARLIEST == 946684800.0
    assert _reason(_with("track"), earliest=EPOCH + 1) == "bad_timestamp"
    assert decode(_with("track"), earliest=EPOCH).ts == EPOCH
    with pytest.raises(DecodeError, match="before 2026-03-02T10:00:01Z"):
        decode(_with("track"), earliest=EPOCH + 1)
    for bad in (LATEST, LATEST + 1):
        with pytest.raises(ValueError, match="must be before 2100-01-01"):
            decode(_with("track"), earliest=bad)


@pytest.mark.parametrize(("value", "epoch"), [
    (TS, EPOCH),
    ("2026-03-02T10:00:00+00:00", EPOCH),
    ("2026-03-02T12:00:00+02:00", EPOCH),
    ("2026-03-02T04:30:00-05:30", EPOCH),
    ("2026-03-02T10:00:00", EPOCH),  # naive: UTC
    ("2026-03-02T10:00:00.250Z", EPOCH + 0.25),
    ("2026-03-02T10:00:00.123456+00:00", EPOCH + 0.123456),
    ("2026-03-02 10:00:00Z", EPOCH),
    ("2026-03-02", EPOCH - 36000),
    (1772445600, EPOCH),  # epoch seconds
    (1772445600.5, EPOCH + 0.5),
    (1772445600000, EPOCH),  # epoch milliseconds (> 1e11)
    (1772445600250, EPOCH + 0.25),
    (100_000_000_000, 100_000_000_000.0),  # exactly 1e11: still seconds
    (100_000_000_001, 100_000_000.001),
])
def test_timestamp_forms(value, epoch):
    assert parse_timestamp(value) == pytest.approx(epoch, abs=1e-6)
    if EARLIEST <= epoch < LATEST:
        assert decode(_with("track", timestamp=value)).ts == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), None, True, b"x"])
def test_parse_timestamp_rejects_non_numbers_and_non_finite(value):
    with pytest.raises(DecodeError) as e:
        parse_timestamp(value)
    assert e.value.reason == "bad_timestamp"


@pytest.mark.parametrize(("fields", "epoch"), [
    ({"timestamp": DROP, "originalTimestamp": "2026-03-02T10:00:01Z"}, EPOCH + 1),
    ({"timestamp": DROP, "sentAt": "2026-03-02T10:00:02Z"}, EPOCH + 2),
    ({"timestamp": DROP, "receivedAt": "2026-03-02T10:00:03Z"}, EPOCH + 3),
    ({"timestamp": None, "receivedAt": "2026-03-02T10:00:03Z"}, EPOCH + 3),
    ({"originalTimestamp": "2026-03-02T10:00:01Z", "sentAt": "2026-03-02T10:00:02Z"}, EPOCH),
    ({"timestamp": DROP, "originalTimestamp": "2026-03-02T10:00:01Z",
      "sentAt": "2026-03-02T10:00:02Z", "receivedAt": "2026-03-02T10:00:03Z"}, EPOCH + 1),
    ({"timestamp": DROP, "sentAt": "2026-03-02T10:00:02Z",
      "receivedAt": "2026-03-02T10:00:03Z"}, EPOCH + 2),
])
def test_event_time_field_precedence(fields, epoch):
    assert decode(_with("track", **fields)).ts == epoch


@pytest.mark.parametrize(("kind", "changes", "expect"), [
    ("track", {"properties": {"price": 3}, "context": {"locale": "fr"}, "messageId": "m1"},
     {"type": "track", "event": "Product Viewed", "user_id": "u1", "anonymous_id": None,
      "properties": {"price": 3}, "context": {"locale": "fr"}, "message_id": "m1"}),
    ("track", {"userId": DROP, "anonymousId": "a9"},
     {"user_id": None, "anonymous_id": "a9", "event": "Product Viewed"}),
    ("track", {"anonymousId": "a9"}, {"user_id": "u1", "anonymous_id": "a9"}),
    ("track", {"userId": 42}, {"user_id": "42"}),  # numeric ids, as Segment libraries send
    ("track", {"messageId": 7}, {"message_id": "7"}),
    ("track", {"properties": None, "traits": None, "context": None},
     {"properties": {}, "traits": {}, "context": {}}),
    ("identify", {}, {"type": "identify", "user_id": "u1", "traits": {"email": "a@b.c"},
                      "event": None, "name": None}),
    ("identify", {"traits": {"consent": {"email": True}}},
     {"traits": {"consent": {"email": True}}}),
    ("page", {}, {"type": "page", "name": "Home", "anonymous_id": "a1", "user_id": None}),
    ("page", {"name": DROP}, {"name": None}),
    ("page", {"name": ""}, {"name": None}),
    ("screen", {}, {"type": "screen", "name": "Shop", "user_id": "u1"}),
    ("alias", {}, {"type": "alias", "previous_id": "a1", "user_id": "u1"}),
    ("alias", {"anonymousId": "a1"}, {"previous_id": "a1", "anonymous_id": "a1"}),
    ("group", {}, {"type": "group", "user_id": "u1", "event": None}),
    ("context", {}, {"type": "context", "region": "eu-west", "user_id": None,
                     "signals": {"rain": 1.0, "temperature_c": 12.5}}),
    ("context", {"signals": DROP}, {"signals": {}}),
    ("context", {"signals": {"rain": 1_000_000, "t": -1_000_000.0, "z": 0}},
     {"signals": {"rain": 1e6, "t": -1e6, "z": 0.0}}),
    ("context", {"region": 7}, {"region": "7"}),
    ("context", {"messageId": "c1"}, {"message_id": "c1"}),
])
def test_well_formed_variants_decode_to_these_values(kind, changes, expect):
    ev = decode(_with(kind, **changes))
    assert ev.ts == EPOCH
    assert {k: getattr(ev, k) for k in expect} == expect
    if "signals" in expect:
        assert all(type(v) is float for v in ev.signals.values())


def test_a_record_of_exactly_the_size_limit_is_accepted():
    raw = _with("track")
    raw = raw[:-1] + b', "p": "' + b"x" * (MAX_EVENT_BYTES - len(raw) - 9) + b'"}'
    assert len(raw) == MAX_EVENT_BYTES
    assert decode(raw).event == "Product Viewed"
    assert _reason(raw[:-2] + b'x"}') == "oversized"


def test_strings_and_bytes_decode_alike():
    raw = _with("page")
    assert decode(raw.decode()) == decode(raw)
    assert decode('{"type": "page", "name": "Café", "userId": "u", "timestamp": "' + TS +
                  '"}').name == "Café"


def test_message_ids_derive_from_the_bytes_when_absent():
    a, b = _with("page"), _with("page", anonymousId="a2")
    assert decode(a).message_id == decode(a).message_id != decode(b).message_id
    assert len(decode(a).message_id) == 24  # blake2b, 12 bytes, hex
    empty = _with("page", messageId="")  # an empty id is no id
    assert decode(empty).message_id == hashlib.blake2b(empty, digest_size=12).hexdigest()


TYPES = "['alias', 'context', 'group', 'identify', 'page', 'screen', 'track']"
LONG = "w" * 50

MESSAGES = [  # the whole message, by hand: what was wrong and how to fix it
    (b" " * 32769, "record is 32769 bytes; the limit is 32768 (Segment's 32 KB)"),
    (b'{"a": "\xe2\x82"}', "not UTF-8 text: byte 0xe2 at offset 7"),
    (b"[1, 2]", "record must be a JSON object, got list"),
    (b'"x"', "record must be a JSON object, got str"),
    (_with("track", type=DROP), "`type` is missing (track, identify, page, ...)"),
    (_with("track", type=3), "type must be a string, got int"),
    (_with("track", type="warp"), f"unknown type 'warp'; expected one of {TYPES}"),
    (_with("track", type=LONG), f"unknown type {'w' * 40!r}; expected one of {TYPES}"),
    (_with("track", timestamp=DROP),
     "no timestamp: set `timestamp` (ISO-8601); event time drives features and timers"),
    (_with("track", timestamp=[1]),
     "timestamp must be an ISO-8601 string or epoch seconds/milliseconds, got list"),
    (_with("track", timestamp="soon"),
     "timestamp 'soon' is not ISO-8601 (e.g. '2026-01-31T12:00:00Z')"),
    (_with("track", timestamp=LONG),
     f"timestamp {'w' * 40!r} is not ISO-8601 (e.g. '2026-01-31T12:00:00Z')"),
    (_with("track", timestamp="1999-12-31T23:59:59Z"),
     "timestamp 946684799 is before 2000-01-01T00:00:00Z (an unset device clock?); "
     "lower the floor (`earliest`) to accept older events"),
    (_with("track", timestamp="2100-01-01T00:00:00Z"),
     "timestamp 4102444800 is at or after 2100-01-01 (a corrupt clock or field)"),
    (_with("context", signals={"temperature_c": 1e308}),
     "signals.temperature_c=1e+308 is not a finite number within ±1e+06"),
    (_with("context", signals={"rain": "x"}), "signals.rain must be a number, got str"),
    (_with("context", signals={"rain": True}), "signals.rain must be a number, got bool"),
    (_with("context", signals=[1]), "signals must be a JSON object, got list"),
    (_with("context", region=DROP), "context records need a `region`"),
    (_with("context", region=[1]), "region must be a string, got list"),
    (_with("track", userId=["u"]), "userId must be a string, got list"),
    (_with("track", anonymousId=1.5), "anonymousId must be a string, got float"),
    (_with("track", messageId=False), "messageId must be a string, got bool"),
    (_with("track", userId=DROP), "set `userId` or `anonymousId`"),
    (_with("track", properties=3), "properties must be a JSON object, got int"),
    (_with("identify", traits="t"), "traits must be a JSON object, got str"),
    (_with("track", context=[]), "context must be a JSON object, got list"),
    (_with("track", event=DROP), "track calls need an `event` name"),
    (_with("track", event=[1]), "event must be a string, got list"),
    (_with("page", name=2.5), "name must be a string, got float"),
    (_with("alias", previousId=DROP), "alias calls need `previousId` and `userId`"),
    (_with("alias", previousId={}), "previousId must be a string, got dict"),
]


@pytest.mark.parametrize(("raw", "message"), MESSAGES,
                         ids=[f"{i}" for i in range(len(MESSAGES))])
def test_each_rejection_says_exactly_what_and_how_to_fix(raw, message):
    with pytest.raises(DecodeError) as e:
        decode(raw)
    assert str(e.value) == message


def test_messages_that_embed_the_parser_or_the_clock():
    with pytest.raises(DecodeError) as e:
        decode(b'{"type": "track"')
    assert str(e.value).startswith("not valid JSON: ") and len(str(e.value)) > 20
    with pytest.raises(DecodeError) as e:
        decode(_with("track", timestamp="2026-03-02T10:20:00Z"), now=EPOCH)
    assert str(e.value) == ("timestamp is 1200 s ahead of the clock (limit 900 s); send "
                            "`sentAt` so the collector can correct the device's clock")
    with pytest.raises(DecodeError) as e:
        decode(_with("track", timestamp="1995-06-01T00:00:00Z"), earliest=EPOCH)
    assert str(e.value).startswith("timestamp 801964800 is before 2026-03-02T10:00:00Z ")
    with pytest.raises(ValueError) as v:
        decode(_with("track"), earliest=LATEST)
    assert str(v.value) == "earliest=4102444800.0 must be before 2100-01-01 (4102444800)"
    for value, text in ((float("nan"), "timestamp nan is not a finite number"),
                        (float("inf"), "timestamp inf is not a finite number")):
        with pytest.raises(DecodeError) as e:
            parse_timestamp(value)
        assert str(e.value) == text


def test_naive_timestamps_are_utc_whatever_the_machine_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "XST-5:30")  # POSIX rule, UTC+5:30: needs no tz database
    time.tzset()
    try:
        assert time.localtime(EPOCH).tm_gmtoff == 19800
        assert parse_timestamp("2026-03-02T10:00:00") == EPOCH
        assert decode(_with("track", timestamp="2026-03-02T10:00:00")).ts == EPOCH
        with pytest.raises(DecodeError, match="is before 2026-03-02T10:00:00Z "):
            decode(_with("track", timestamp="2020-01-01T00:00:00Z"), earliest=EPOCH)
    finally:
        monkeypatch.undo()
        time.tzset()
