"""Dead-letter records: the original bytes plus why they were rejected."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

__all__ = ["DeadLetter"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected record, in the spirit of Kafka Connect's `__connect.errors.*` headers."""

    reason: str
    message: str
    payload: bytes
    stream: str = "events"
    origin: str = ""
    error_class: str = "DecodeError"

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers describing the error (the value stays the original bytes)."""
        return [
            ("journey.errors.reason", self.reason.encode()),
            ("journey.errors.class", self.error_class.encode()),
            ("journey.errors.message", self.message.encode()[:1000]),
            ("journey.errors.stream", self.stream.encode()),
            ("journey.errors.origin", self.origin.encode()),
        ]

    def to_json(self) -> bytes:
        """One JSON line; the payload is kept as UTF-8 text when it is, else base64."""
        try:
            text: str | None = self.payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        record = {
            "reason": self.reason,
            "error_class": self.error_class,
            "message": self.message,
            "stream": self.stream,
            "origin": self.origin,
        }
        if text is not None:
            record["payload"] = text
        else:
            record["payload_b64"] = base64.b64encode(self.payload).decode()
        return orjson.dumps(record)
