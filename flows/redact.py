"""Erased customers leave the flow's output files too: in-place, same-length redaction.

A decision line names its customer (`customer_id`, the raw id a sender needs) and carries her
rendered message; a dead letter written before her erasure keeps what she sent. After an
erasure, `redact_file` rewrites every complete line of a decisions or dead-letter JSONL file
that belongs to an erased state key (`features.identity.customer_key` of its `known_id` or
`device_id`) as a JSON object of the same byte length, padded with spaces: a decision keeps
only its `decision_id`, a dead letter its reason, class, stream and origin (as
`DeadLetter.redact`), both with `"redacted": true`. The length is kept so that the offsets
bytewax snapshots for its file sinks (resume truncates to them) stay true, and so that the
flow may go on appending while a redaction runs (the sink appends at the end; a last line
without its newline is left for the next pass).

Matching needs only the erased keys (keyed hashes), never a raw id kept for later. The keys
not yet redacted are journaled (`RedactionJournal`, beside the decisions file) so that a
crash between an erasure and its redaction is made good at the next start.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from features.deadletter import DeadLetter
from features.identity import customer_key, device_id, known_id, payload_ids

__all__ = ["RedactionJournal", "line_ids", "redact_file", "redacted_line"]

log = logging.getLogger(__name__)

_MINIMAL = b'{"redacted":true}'


def line_ids(record: dict[str, Any]) -> list[str]:
    """The ids (as state keys hash them) a decision or dead-letter record belongs to."""
    cid = record.get("customer_id")
    if isinstance(cid, str) and cid:  # a decision: known customer or device
        return [known_id(cid), device_id(cid)]
    # a dead letter: its payload, read as the flow reads a rejected record's identity (bytes
    # that are not UTF-8, kept as base64, are no JSON object and name no one)
    payload = record.get("payload")
    return [i for i, _ in payload_ids(payload.encode())] if isinstance(payload, str) else []


def redacted_line(record: dict[str, Any], length: int) -> bytes:
    """`record` redacted, as exactly `length` bytes of JSON (space-padded)."""
    if "customer_id" in record:
        keep: dict[str, Any] = {"decision_id": record.get("decision_id"), "redacted": True}
        out = orjson.dumps(keep)
    else:
        letter = DeadLetter(reason=str(record.get("reason", "")), message="", payload=b"",
                            stream=str(record.get("stream", "events")),
                            origin=str(record.get("origin", "")),
                            error_class=str(record.get("error_class", "")))
        out = letter.redact().to_json()
    if len(out) > length:
        out = _MINIMAL
    if len(out) > length:
        msg = f"a {length}-byte line cannot hold a redacted record"
        raise ValueError(msg)
    return out + b" " * (length - len(out))


def redact_file(path: Path, erased: Iterable[str], secret: bytes) -> int:
    """Redact, in place, every complete line of `path` that belongs to one of the `erased`
    state keys; returns how many lines were rewritten (0 when the file does not exist)."""
    keys = set(erased)
    if not keys or not path.is_file():
        return 0
    done = 0
    with path.open("r+b") as f:
        offset = 0
        for line in iter(f.readline, b""):
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n"):
                break  # being appended: the next pass sees it whole
            body = line.rstrip(b"\r\n")
            try:
                record = orjson.loads(body)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(record, dict) or record.get("redacted") is True:
                continue
            if not any(customer_key(i, secret) in keys for i in line_ids(record)):
                continue
            f.seek(start)
            f.write(redacted_line(record, len(body)))
            f.flush()
            f.seek(offset)
            done += 1
    if done:
        log.info("%s: %d lines of erased customers redacted", path, done)
    return done


class RedactionJournal:
    """Erased state keys whose output lines are not redacted yet, one per line in `path`
    (appended and fsynced at each erasure, rewritten once a pass is done): what a crash
    interrupted is redacted at the next start. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        if path.is_file():
            self._keys = {k for k in path.read_text().split() if k}

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._keys)

    def add(self, key: str) -> None:
        """Journal `key` (durably) until a pass has redacted it (kept in memory for this
        run's passes even if the file cannot be written: then `OSError`)."""
        with self._lock:
            if key in self._keys:
                return
            self._keys.add(key)
            with self.path.open("a") as f:
                f.write(key + "\n")
                f.flush()
                os.fsync(f.fileno())

    def keys(self) -> set[str]:
        """Every key still to redact."""
        with self._lock:
            return set(self._keys)

    def done(self, keys: set[str]) -> None:
        """`keys` were redacted: rewrite the journal with what is left (atomically)."""
        with self._lock:
            self._keys -= keys
            if not self._keys:
                self.path.unlink(missing_ok=True)
                return
            tmp = self.path.with_name(self.path.name + ".tmp")
            with tmp.open("w") as f:
                f.write("".join(k + "\n" for k in sorted(self._keys)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
