"""Journey's exceptions.

Errors are data at the edges (a dead-letter record with a reason) and exceptions inside::

    JourneyError                 base of everything Journey raises
     ├── DecodeError             an input record is malformed (carries a short `reason` code)
     ├── ConfigError             settings or CLI flags are invalid
     ├── CatalogError            the action catalog is invalid (engine.errors re-exports it)
     ├── RecoveryError           snapshots cannot be resumed under the running catalog
     └── TemplateRenderError     a message template failed while rendering (engine.templates)
"""

from __future__ import annotations

__all__ = ["CatalogError", "ConfigError", "DecodeError", "JourneyError", "RecoveryError"]


class JourneyError(Exception):
    """Base class of every error Journey raises."""


class DecodeError(JourneyError):
    """A record could not be decoded or failed validation.

    `reason` is a short stable code (used as a metric label and a dead-letter header);
    the message says what was wrong and how to fix it.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConfigError(JourneyError):
    """Settings, flags or environment variables are invalid."""


class CatalogError(JourneyError):
    """The action catalog failed validation; the message names the field and why."""


class RecoveryError(JourneyError):
    """Snapshots in the recovery store cannot be resumed with the running configuration."""
