"""Customer identity: keyed hashes for state keys, and anonymous → known routing."""

from __future__ import annotations

import hashlib

from features.schema import Event

__all__ = ["customer_key", "routing_id"]


def customer_key(customer_id: str, secret: bytes) -> str:
    """Keyed BLAKE2b of a customer id: the only form ids take as state keys or in logs."""
    return hashlib.blake2b(customer_id.encode(), key=secret, digest_size=12).hexdigest()


def routing_id(event: Event) -> tuple[str, bool]:
    """(id, known) an event belongs to before identity resolution.

    Alias calls belong to their `previousId` (the anonymous profile being merged); otherwise
    an event with an `anonymousId` goes to that device profile, which forwards it to the known
    customer once linked; a `userId`-only event goes straight to the known customer.
    """
    if event.type == "alias" and event.previous_id is not None:
        return "a:" + event.previous_id, False
    if event.anonymous_id is not None:
        return "a:" + event.anonymous_id, False
    assert event.user_id is not None
    return "u:" + event.user_id, True
