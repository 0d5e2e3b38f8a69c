"""Event schema and validation, per-customer state, online features and vectorization.

Never imports bytewax: the flow wraps these plain functions and classes.
"""

from __future__ import annotations

from features.context import ContextTable
from features.deadletter import DeadLetter
from features.decode import REASONS, decode
from features.errors import CatalogError, ConfigError, DecodeError, JourneyError
from features.identity import customer_key, routing_id
from features.schema import CHANNELS, MAX_EVENT_BYTES, Event
from features.stage import Stage
from features.state import CustomerState
from features.update import apply_event
from features.vector import FEATURE_NAMES, N_FEATURES, vectorize

__all__ = [
    "CHANNELS",
    "FEATURE_NAMES",
    "MAX_EVENT_BYTES",
    "N_FEATURES",
    "REASONS",
    "CatalogError",
    "ConfigError",
    "ContextTable",
    "CustomerState",
    "DeadLetter",
    "DecodeError",
    "Event",
    "JourneyError",
    "Stage",
    "apply_event",
    "customer_key",
    "decode",
    "routing_id",
    "vectorize",
]
