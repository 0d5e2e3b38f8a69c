"""Event schema and validation, per-customer state, online features and vectorization.

Never imports bytewax: the flow wraps these plain functions and classes.
"""

from __future__ import annotations

from features.context import ContextTable
from features.deadletter import DeadLetter
from features.decode import REASONS, decode
from features.errors import CatalogError, ConfigError, DecodeError, JourneyError
from features.identity import customer_key, routing_id
from features.schema import MAX_EVENT_BYTES, Event
from features.stage import Lifecycle, Stage
from features.state import CustomerState, Layout
from features.update import apply_event
from features.vector import FeatureSpace
from features.world import Trait, World

__all__ = [
    "MAX_EVENT_BYTES",
    "REASONS",
    "CatalogError",
    "ConfigError",
    "ContextTable",
    "CustomerState",
    "DeadLetter",
    "DecodeError",
    "Event",
    "FeatureSpace",
    "JourneyError",
    "Layout",
    "Lifecycle",
    "Stage",
    "Trait",
    "World",
    "apply_event",
    "customer_key",
    "decode",
    "routing_id",
]
