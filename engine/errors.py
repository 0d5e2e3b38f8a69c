"""Engine exceptions (the tree is drawn in `features.errors`)."""

from __future__ import annotations

from features.errors import CatalogError, ConfigError, JourneyError

__all__ = ["CatalogError", "ConfigError", "JourneyError"]
