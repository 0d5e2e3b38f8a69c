"""Worlds Journey was not tuned on: config-driven simulated businesses for closed-loop runs.

`load_world("offers", seed=21)` builds a `World` from `bench/worlds/offers.yaml`; "retail" is
the bundled shopper simulator (`engine/simulator.py`) behind the same interface.
"""

from __future__ import annotations

from pathlib import Path

from bench.worlds.config import WorldConfig, WorldError, load_config
from bench.worlds.world import World

__all__ = ["CONFIGS", "WORLD_NAMES", "World", "WorldConfig", "WorldError", "load_world"]

CONFIGS = Path(__file__).resolve().parent
WORLD_NAMES = ("offers", "telco", "retail")


def load_world(name: str, *, seed: int, customers: int | None = None,
               days: float | None = None) -> World:
    """A world by name (a shipped config) or by the path of a YAML config."""
    if name == "retail":
        from bench.worlds.retail import RetailWorld

        return RetailWorld(seed=seed, customers=customers, days=days)  # type: ignore[return-value]
    path = Path(name) if name.endswith((".yaml", ".yml")) else CONFIGS / f"{name}.yaml"
    if not path.exists():
        msg = f"unknown world {name!r}: expected one of {WORLD_NAMES} or a .yaml config path"
        raise WorldError(msg)
    return World(load_config(path), seed=seed, customers=customers, days=days)
