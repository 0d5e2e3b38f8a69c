"""Dead-letter records: the original bytes plus why they were rejected (or, for a record of
an erased customer, only why)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace

import orjson

__all__ = ["REDACTED", "DeadLetter"]

REDACTED = "redacted: the customer was erased"
"""The message of a redacted dead letter (its payload is empty)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected record, in the spirit of Kafka Connect's `__connect.errors.*` headers."""

    reason: str
    message: str
    payload: bytes
    stream: str = "events"
    origin: str = ""
    error_class: str = "DecodeError"
    redacted: bool = False
    """The payload and the message (which may quote it) were dropped: the record named a
    customer or device that had been erased."""

    def redact(self) -> DeadLetter:
        """This record without what the customer sent: the reason, stream, origin and error
        class stay (the rejection is still counted and traceable), the bytes go."""
        return replace(self, message=REDACTED, payload=b"", redacted=True)

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers describing the error (the value stays the original bytes)."""
        headers = [
            ("journey.errors.reason", self.reason.encode()),
            ("journey.errors.class", self.error_class.encode()),
            ("journey.errors.message", self.message.encode()[:1000]),
            ("journey.errors.stream", self.stream.encode()),
            ("journey.errors.origin", self.origin.encode()),
        ]
        if self.redacted:
            headers.append(("journey.errors.redacted", b"true"))
        return headers

    @classmethod
    def from_headers(cls, payload: bytes,
                     headers: list[tuple[str, bytes]] | None) -> DeadLetter | None:
        """The dead letter a record carrying `headers()` stands for (the collector sends its
        rejections that name someone through the events topic); None for any other record."""
        fields = {k: v.decode(errors="replace") for k, v in headers or ()
                  if k.startswith("journey.errors.")}
        reason = fields.get("journey.errors.reason")
        if reason is None:
            return None
        return cls(reason, fields.get("journey.errors.message", ""), payload,
                   fields.get("journey.errors.stream", "events"),
                   fields.get("journey.errors.origin", ""),
                   fields.get("journey.errors.class", "DecodeError"),
                   fields.get("journey.errors.redacted") == "true")

    def to_json(self) -> bytes:
        """One JSON line; the payload is kept as UTF-8 text when it is, else base64
        (`"redacted": true` marks a redacted record, whose payload is empty)."""
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
        if self.redacted:
            record["redacted"] = True
        if text is not None:
            record["payload"] = text
        else:
            record["payload_b64"] = base64.b64encode(self.payload).decode()
        return orjson.dumps(record)
