"""`journey`: run the flow on the simulator, a JSONL file or Kafka; replay a file.

Every flag has a `JOURNEY_*` environment twin, named in `--help`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import fields
from typing import Any

import orjson
from bytewax.run import cli_main
from prometheus_client import start_http_server

from engine.kernels import warm_up
from features.errors import JourneyError
from flows.dataflow import build_flow
from flows.progress import Progress, events_seen
from flows.runtime import get_runtime
from flows.settings import ENV_PREFIX, Settings

__all__ = ["main"]

_SKIP = {"replay": {"source", "input", "customers", "events", "sim_partitions", "bad_rate"}}


def _add_flags(p: argparse.ArgumentParser, command: str) -> None:
    for f in fields(Settings):
        if f.name in _SKIP.get(command, set()):
            continue
        flag = "--" + f.name.replace("_", "-")
        env = ENV_PREFIX + f.name.upper()
        help_ = f"{f.metadata.get('help', '')} [env {env}; default {f.default!r}]"
        if f.type in (bool, "bool"):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=None, help=help_)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(flag, dest=f.name, type=kind, default=None, help=help_)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="journey", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the decision flow (default source: the simulator)")
    _add_flags(run, "run")
    replay = sub.add_parser("replay", help="replay a JSONL file of Segment events")
    replay.add_argument("file", help="JSONL file, one Segment event per line")
    _add_flags(replay, "replay")
    return p


def _execute(settings: Settings) -> dict[str, Any]:
    warm_up()
    rt = get_runtime(settings)
    server = None
    if settings.metrics_port:
        server, _ = start_http_server(settings.metrics_port, addr=settings.metrics_host)
    flow = build_flow(settings)
    started = time.perf_counter()
    try:
        if settings.progress:
            with Progress(rt):
                cli_main(flow, workers_per_process=settings.workers)
        else:
            cli_main(flow, workers_per_process=settings.workers)
    finally:
        if server is not None:
            server.shutdown()
    elapsed = time.perf_counter() - started
    return {
        "events": rt.events,
        "seconds": round(elapsed, 2),
        "events_per_second": round(events_seen() / max(elapsed, 1e-9)),
        "decisions": rt.decisions,
        "dead_letters": rt.dead_letters,
        "model_version": rt.core.model_version,
        **rt.core.uplift.summary(),
        "decisions_out": settings.out,
        "dead_letters_out": settings.dead_letters,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `journey` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = vars(_parser().parse_args(argv))
    command = args.pop("command")
    if command == "replay":
        args["source"], args["input"] = "jsonl", args.pop("file")
    try:
        settings = Settings.from_env(**args)
        summary = _execute(settings)
    except JourneyError as e:
        print(f"journey: {e}", file=sys.stderr)
        return 2
    sys.stderr.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
