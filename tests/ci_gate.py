"""pytest hooks: under `CI=true`, a test that needs a real part (the Kafka broker, the
Prometheus server, a browser, the HTTP collector) and was skipped fails the run instead.

Outside CI those tests skip as before (a laptop without a broker still runs the rest). In CI
a skip means the part was not started, and a green run would claim what was never tested.
xfail is not a skip and is left alone. `tests/conftest.py` installs these hooks.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "MODULE_PARTS",
    "REAL_PARTS",
    "ci_enforced",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_make_collect_report",
    "pytest_runtest_makereport",
]

REAL_PARTS = {
    "kafka": "needs the local Kafka broker (JOURNEY_TEST_BROKERS)",
    "prometheus": "needs the Prometheus server binary (JOURNEY_TEST_PROMETHEUS_BIN)",
    "browser": "needs a real browser",
    "collector": "talks to the HTTP collector over TCP",
}
"""Marker → what it needs. A skipped test carrying one of these fails under CI."""
MODULE_PARTS = {
    "test_kafka.py": "kafka",
    "test_faults.py": "kafka",
    "test_prometheus.py": "prometheus",
    "test_collector.py": "collector",
}
"""Modules whose every test needs a part, marked here so a new skip in them cannot slip by."""


def ci_enforced() -> bool:
    """True when the `CI` environment variable says this is a CI run."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    for name, why in REAL_PARTS.items():
        config.addinivalue_line("markers", f"{name}: {why}; a skip fails the run under CI=true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        part = MODULE_PARTS.get(item.path.name)
        if part is not None and item.get_closest_marker(part) is None:
            item.add_marker(part)


def _parts(item: pytest.Item) -> list[str]:
    return [name for name in REAL_PARTS if item.get_closest_marker(name) is not None]


def _reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and ci_enforced():
        parts = _parts(item)
        if parts:
            report.outcome = "failed"
            report.longrepr = (
                f"CI=true: {item.nodeid} needs {', '.join(parts)} "
                f"({'; '.join(REAL_PARTS[p] for p in parts)}) but was skipped: "
                f"{_reason(report.longrepr)}. Start it (make test runs scripts/test.sh, "
                "which does) or run outside CI.")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    if report.skipped and ci_enforced() and isinstance(collector, pytest.Module):
        part = MODULE_PARTS.get(Path(collector.path).name)
        if part is not None:
            report.outcome = "failed"
            report.longrepr = (
                f"CI=true: module {collector.nodeid} ({REAL_PARTS[part]}) was skipped whole: "
                f"{_reason(report.longrepr)}. Install or start what it needs.")
    return report
