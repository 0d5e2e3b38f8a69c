"""Catalog, contact policy, numba scoring kernels, online learners and the `Engine` API.

Never imports bytewax: the flow wraps `DecisionCore`; `Engine` drives it in-process.
"""

from __future__ import annotations

from engine.catalog import Action, Catalog, load_catalog, parse_catalog
from engine.core import CoreConfig, DecisionCore, StepResult
from engine.decision import Decision
from engine.engine import Engine
from engine.errors import CatalogError, ConfigError, JourneyError

__all__ = [
    "Action",
    "Catalog",
    "CatalogError",
    "ConfigError",
    "CoreConfig",
    "Decision",
    "DecisionCore",
    "Engine",
    "JourneyError",
    "StepResult",
    "load_catalog",
    "parse_catalog",
]
