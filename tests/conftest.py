"""Shared fixtures: the default catalog, a fresh engine, sample events; the CI gate on skips
of tests that need real parts (`tests.ci_gate`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, load_catalog
from engine.catalog import Catalog
from tests.ci_gate import (  # noqa: F401 (pytest hooks, found here by name)
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_make_collect_report,
    pytest_runtest_makereport,
)

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "engine" / "decision.schema.json"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def engine(catalog: Catalog) -> Engine:
    return Engine(catalog, seed=7)


@pytest.fixture(scope="session")
def decision_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """Build a Segment event: make_event("track", "Product Viewed", user="u1", minute=3)."""

    def make(kind: str, name: str | None = None, *, user: str | None = "u1",
             anon: str | None = None, minute: float = 0.0, **fields: Any) -> dict[str, Any]:
        ts = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=minute)
        ev: dict[str, Any] = {"type": kind, "timestamp": ts.isoformat().replace("+00:00", "Z")}
        if user is not None:
            ev["userId"] = user
        if anon is not None:
            ev["anonymousId"] = anon
        if name is not None:
            ev["event" if kind == "track" else "name"] = name
        ev.update(fields)
        return ev

    return make
