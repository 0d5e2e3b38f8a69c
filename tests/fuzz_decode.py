"""Coverage-guided fuzzing of the raw-bytes decoder (atheris, i.e. libFuzzer).

    .venv/bin/python tests/fuzz_decode.py -runs=200000 -seed=1     # a longer session

The property: `decode` returns an `Event` or raises `DecodeError` with a known reason, for
any bytes; anything else (another exception, a hang) is a crash libFuzzer reports with the
input that caused it. The seed corpus is valid Segment events of every type, so mutations
start from inputs that reach deep into validation. `make test` runs a short, seeded session.
"""

from __future__ import annotations

import sys

import atheris
import orjson

with atheris.instrument_imports(include=["features.decode", "features.schema"]):
    from features.decode import REASONS, decode
    from features.errors import DecodeError

TS = "2026-03-02T10:00:00Z"
SEEDS = [
    {"type": "track", "event": "Product Added", "userId": "u1", "timestamp": TS,
     "properties": {"price": 30.5, "quantity": 2, "category": "shoes"}},
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "timestamp": TS,
     "traits": {"firstName": "Ada", "consent": {"email": True}}},
    {"type": "page", "anonymousId": "a1", "timestamp": TS, "name": "Home",
     "properties": {"placement": "home_hero"}, "context": {"timezone": "Europe/Paris"}},
    {"type": "screen", "userId": 42, "originalTimestamp": TS, "sentAt": TS},
    {"type": "alias", "previousId": "a1", "userId": "u1", "receivedAt": TS},
    {"type": "group", "userId": "u1", "timestamp": TS, "traits": {"plan": "pro"}},
    {"type": "context", "region": "eu-west", "timestamp": TS, "signals": {"rain": 1}},
]


def check(data: bytes) -> None:
    """One fuzz input: decode must answer with an event or a known reason."""
    try:
        ev = decode(data, now=1.8e9)
    except DecodeError as e:
        if e.reason not in REASONS:
            raise AssertionError(e.reason) from e
        return
    if ev.type != "context" and not (ev.user_id or ev.anonymous_id):
        msg = "an event without identity was accepted"
        raise AssertionError(msg)


def seed_corpus(directory: str) -> None:
    """Write the seed events into a libFuzzer corpus directory."""
    from pathlib import Path

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for i, obj in enumerate(SEEDS):
        (d / f"seed-{i}.json").write_bytes(orjson.dumps(obj))


def main(argv: list[str]) -> None:
    atheris.Setup(argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
