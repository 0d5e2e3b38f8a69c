"""The decision record subscribers receive (schema: `engine/decision.schema.json`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["SCHEMA_VERSION", "Decision", "decision_id", "seed_of"]

SCHEMA_VERSION = "journey.decision/2"


def decision_id(customer_key: str, trigger: str, cause: str, placement: str | None) -> str:
    """The idempotency key of a decision: one id per cause (customer, trigger, the event or
    timer behind it, placement), whatever the model; a replay after a crash re-emits the
    same id even where the model moved on, so consumers dedupe on it and keep the first."""
    raw = "|".join((customer_key, trigger, cause, placement or "")).encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def seed_of(decision: str) -> int:
    """The exploration seed of a decision (so a replay explores identically)."""
    return int(decision[:16], 16)


@dataclass(slots=True)
class Decision:
    """One next-best-action decision."""

    decision_id: str
    customer_id: str
    ts: float
    trigger: str
    stage: str
    placement: str | None
    channel: str
    action_id: str
    kind: str
    message: str
    probability: float
    policy: str
    model_version: str
    ranking: list[dict[str, Any]] = field(default_factory=list)
    reasons: dict[str, Any] = field(default_factory=dict)
    latency_us: float = 0.0
    subject: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    coupon: str | None = None
    deep_link: str | None = None
    expected_value: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with ISO-8601 event time and the schema version."""
        d = {name: getattr(self, name) for name in _FIELDS}  # shallow: built fresh per decision
        d["ts"] = datetime.fromtimestamp(self.ts, UTC).isoformat().replace("+00:00", "Z")
        d["schema"] = SCHEMA_VERSION
        return d

    def to_json(self) -> bytes:
        """One JSON document (orjson)."""
        return orjson.dumps(self.to_dict())


_FIELDS = tuple(f.name for f in fields(Decision))
