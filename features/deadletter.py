"""Dead-letter records: the original bytes plus why they were rejected (or, for a record of
an erased customer, only why)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace

import orjson

__all__ = ["REDACTED", "REJECTED_PREFIX", "DeadLetter"]

REDACTED = "redacted: the customer was erased"
"""The message of a redacted dead letter (its payload is empty)."""
REJECTED_PREFIX = b"\x00journey.rejected\x00"
"""Leads the value of a rejected record sent through the events topic (`to_record`): no
decoder reads it as an event, so a consumer that ignores headers (an older flow, a mirror
that drops them) can only dead-letter it, never act on it."""


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

    def to_record(self) -> tuple[bytes, list[tuple[str, bytes]]]:
        """(value, headers) of this dead letter as a record of the events topic (see
        `REJECTED_PREFIX`); `from_record` reads it back."""
        return REJECTED_PREFIX + self.payload, self.headers()

    @classmethod
    def from_record(cls, value: bytes,
                    headers: list[tuple[str, bytes | None]] | None) -> DeadLetter | None:
        """The dead letter a `to_record` value stands for; None for any other record."""
        if not value.startswith(REJECTED_PREFIX):
            return None
        fields = {k: v.decode(errors="replace") for k, v in headers or ()
                  if k.startswith("journey.errors.") and isinstance(v, bytes)}
        letter = cls(fields.get("journey.errors.reason", "rejected"),
                     fields.get("journey.errors.message", ""), value[len(REJECTED_PREFIX):],
                     fields.get("journey.errors.stream", "events"),
                     fields.get("journey.errors.origin", ""),
                     fields.get("journey.errors.class", "IntakeError"))
        return letter.redact() if fields.get("journey.errors.redacted") == "true" else letter

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
