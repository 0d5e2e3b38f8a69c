"""`journey`: run the flow (simulator, JSONL, Kafka or HTTP collector); replay; collect;
subscribe; forget.

Every flag has a `JOURNEY_*` environment twin, named in `--help`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from bytewax.recovery import RecoveryConfig
from bytewax.run import cli_main

from engine.kernels import warm_up
from features.dedupe import RecentIds
from features.errors import JourneyError, RecoveryError
from features.intake import forget_request
from flows.collector import Collector, KafkaForwarder
from flows.dataflow import build_flow
from flows.httpserver import BackgroundServer, serve_metrics
from flows.kafka import ensure_topics
from flows.progress import Progress, events_seen
from flows.runtime import get_runtime
from flows.settings import DEV_SECRET, ENV_PREFIX, Settings, kafka_settings
from flows.sources import JsonlSource
from flows.store import LiveScrub, init_store, resumed_parts, scrub, scrub_delay
from flows.subscriber import DecisionSubscriber

__all__ = ["main"]

_SKIP = {"replay": {"source", "input", "customers", "events", "sim_partitions", "bad_rate"}}
_ONLY = {"collect": {"brokers", "kafka_config", "kafka_timeout", "events_topic", "context_topic",
                     "outcomes_topic", "decisions_topic", "dead_letter_topic", "partitions",
                     "secret", "collector_host", "collector_port", "write_keys",
                     "admin_keys", "collector_timeout", "collector_connections",
                     "collector_dead_letter_budget", "collector_capacity",
                     "collector_dedupe_ids", "metrics_host",
                     "metrics_port"},
         "subscribe": {"brokers", "kafka_config", "decisions_topic"},
         "forget": {"brokers", "kafka_config", "kafka_timeout", "events_topic", "secret"}}


def _add_flags(p: argparse.ArgumentParser, command: str) -> None:
    for f in fields(Settings):
        if f.name in _SKIP.get(command, set()) or f.name not in _ONLY.get(command, {f.name}):
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
    collect = sub.add_parser(
        "collect", help="serve the Segment HTTP API and forward events to the events topic")
    _add_flags(collect, "collect")
    subscribe = sub.add_parser(
        "subscribe", help="print decisions from the decisions topic as JSONL, once per id")
    subscribe.add_argument("--group", default="journey-subscriber", help="consumer group")
    subscribe.add_argument("--max-idle", type=float, default=None,
                           help="stop after this many seconds without a decision")
    _add_flags(subscribe, "subscribe")
    forget = sub.add_parser(
        "forget", help="ask the flow to erase a customer (a 'User Deleted' event on the "
                       "events topic): state, timers and later events of the id")
    forget.add_argument("--user-id", default=None, help="the customer's userId")
    forget.add_argument("--anonymous-id", default=None, help="a device's anonymousId")
    _add_flags(forget, "forget")
    return p


def _forget(settings: Settings, user_id: str | None, anonymous_id: str | None) -> dict[str, Any]:
    """`journey forget`: one erasure event, produced and flushed before returning."""
    if not settings.brokers:
        msg = "journey forget needs --brokers host:port (or JOURNEY_BROKERS)"
        raise JourneyError(msg)
    try:
        request = forget_request(user_id, anonymous_id, time.time())
    except ValueError as e:
        raise JourneyError(str(e)) from e
    ensure_topics(settings, [settings.events_topic])
    forwarder = KafkaForwarder(settings, 1)
    forwarder.offer([request], [])
    forwarder.close()
    if forwarder.failed:
        msg = "the forget request was not delivered to Kafka (see the log); send it again"
        raise JourneyError(msg)
    return {"forget_requested": True, "topic": settings.events_topic}


def _subscribe(settings: Settings, group: str, max_idle: float | None) -> dict[str, Any]:
    if not settings.brokers:
        msg = "journey subscribe needs --brokers host:port (or JOURNEY_BROKERS)"
        raise JourneyError(msg)
    n = 0
    with DecisionSubscriber(settings.brokers, topic=settings.decisions_topic, group=group,
                            config=kafka_settings(settings)) as sub:
        try:
            for d in sub.decisions(max_idle=max_idle):
                sys.stdout.write(orjson.dumps(d).decode() + "\n")
                n += 1
        except KeyboardInterrupt:
            pass
    return {"decisions": n, "duplicates_dropped": sub.duplicates}


def _collector(settings: Settings, forwarder: Any) -> Collector:
    return Collector(forwarder, write_keys=settings.write_key_set,
                     admin_keys=settings.admin_key_set, host=settings.collector_host,
                     port=settings.collector_port,
                     dedupe=RecentIds(settings.collector_dedupe_ids),
                     dead_letter_budget=settings.collector_dead_letter_budget,
                     timeout=settings.collector_timeout,
                     max_connections=settings.collector_connections).start()


def _metrics(settings: Settings) -> BackgroundServer | None:
    if not settings.metrics_port:
        return None
    return serve_metrics(settings.metrics_host, settings.metrics_port)


def _on_stop(drain: Any) -> None:
    """SIGINT and SIGTERM call `drain` (on a thread) once; a second signal interrupts."""
    state = {"signals": 0}

    def handler(signum: int, _frame: Any) -> None:
        state["signals"] += 1
        if state["signals"] > 1:
            raise KeyboardInterrupt
        print(f"journey: {signal.Signals(signum).name}: draining (again to interrupt)",
              file=sys.stderr, flush=True)
        threading.Thread(target=drain, name="drain", daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _collect(settings: Settings) -> dict[str, Any]:
    """`journey collect`: HTTP in, Kafka out, until SIGINT or SIGTERM."""
    if not settings.brokers:
        msg = "journey collect needs --brokers host:port (or JOURNEY_BROKERS)"
        raise JourneyError(msg)
    ensure_topics(settings, [settings.events_topic, settings.dead_letter_topic])
    server = _metrics(settings)
    forwarder = KafkaForwarder(settings, settings.collector_capacity)
    collector = _collector(settings, forwarder)
    print(f"journey: collector listening on {collector.url}", file=sys.stderr, flush=True)
    stop = threading.Event()
    _on_stop(stop.set)
    while not stop.wait(0.5):  # a timed wait, so signal handlers run promptly
        pass
    collector.stop()  # 503 from now on; what was acknowledged is in Kafka already
    if server is not None:
        server.stop()
    # a record the broker never confirmed was never acknowledged (its request got a 503 and
    # is the client's to retry): counted, nothing lost
    return {**collector.summary(), "undelivered": forwarder.failed}


def _recovery(settings: Settings, catalog_version: str) -> RecoveryConfig | None:
    """bytewax recovery in `--recovery-dir`, initialised (one partition) on first use,
    refused if its database is gone (unless `--recovery-reset`) or if it resumes files
    other than those named now, and scrubbed at every start (`flows.store`)."""
    if not settings.recovery_dir:
        return None
    path = Path(settings.recovery_dir)
    init_store(path, 1, reset=settings.recovery_reset, catalog_version=catalog_version)
    _check_resumed_files(settings, path)
    return RecoveryConfig(path, backup_interval=timedelta(seconds=settings.backup_interval))


def _check_resumed_files(settings: Settings, path: Path) -> None:
    """bytewax keys a file source's or sink's resume state by its path and cannot resume it
    under another (an obscure routing-map error once running): refuse at start, naming both.
    Resuming writes where the last run stopped (truncating what came after its last
    snapshot), so a changed path cannot be followed without splitting the output."""
    checks: list[tuple[str, str, str, list[str]]] = []
    if settings.source == "jsonl":
        checks.append(("read_events", "the input", settings.input,
                       JsonlSource(settings.input).list_parts()))
    steps = {"--out": "write_decisions", "--dead-letters": "write_dead_letters"}
    for flag, target in settings.file_outputs.items():
        checks.append((steps[flag], flag, target, [str(Path(target))]))
    for step, what, given, names in checks:
        held = resumed_parts(path, f"journey.{step}")
        if held and not set(held) & set(names):
            old = held[0].split("::", 1)[-1] if step == "read_events" else held[0]
            msg = (f"{what} is {given!r}, but the recovery store in {str(path)!r} resumes "
                   f"{'reading' if step == 'read_events' else 'writing'} {old!r} (bytewax "
                   f"keys its resume state by the path): pass {old!r} again, or use a new "
                   "--recovery-dir to start over")
            raise RecoveryError(msg)


def _execute(settings: Settings) -> dict[str, Any]:
    rt = get_runtime(settings)
    recovery = _recovery(settings, rt.core.catalog.version)
    warm_up()
    server = _metrics(settings)
    flow = build_flow(settings)
    if rt.journal_redactions() is not None and rt.redactions:
        rt.redact_outputs()  # erasures a crash left unredacted, before anything is served
    collector = None
    interrupted = False
    if settings.source == "collector":
        collector = _collector(settings, rt.collector_queue)
        print(f"journey: collector listening on {collector.url}", file=sys.stderr, flush=True)
        _on_stop(collector.drain)  # the source ends once the drained queue is empty
    else:
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C
    run = {"workers_per_process": settings.workers, "recovery_config": recovery,
           "epoch_interval": timedelta(seconds=settings.snapshot_interval)}
    if settings.recovery_dir:  # after erasures, while running (`flows.store`)
        rt.scrubs = LiveScrub(Path(settings.recovery_dir), scrub_delay(
            settings.snapshot_interval, settings.backup_interval)).start()
    if rt.redactions is not None:  # an erased customer's earlier lines (`flows.redact`)
        rt.output_scrub = LiveScrub(Path(settings.out), settings.snapshot_interval + 1.0,
                                    lambda _path: rt.redact_outputs()).start()
    started = time.perf_counter()
    try:
        if settings.progress:
            with Progress(rt):
                cli_main(flow, **run)
        else:
            cli_main(flow, **run)
        if rt.scrubs is not None:  # a clean stop: nothing of a deleted snapshot stays
            rt.scrubs.stop()
            scrub(Path(settings.recovery_dir))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if rt.scrubs is not None:
            rt.scrubs.stop()
            rt.scrubs = None
        if rt.output_scrub is not None:  # every erasure so far, whatever the delay left
            rt.output_scrub.stop()
            rt.output_scrub = None
            try:
                rt.redact_outputs()
            except (OSError, ValueError):
                logging.getLogger(__name__).exception(
                    "redacting the output files of erased customers failed")
        if collector is not None:
            collector.stop()
        if rt.lag is not None:
            rt.lag.stop()
        if server is not None:
            server.stop()
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
        **({"interrupted": True} if interrupted else {}),
        **({"collector": collector.summary()} if collector is not None else {}),
    }


def _warn_dev_secret(settings: Settings, command: str) -> None:
    demo = command == "replay" or (command == "run" and settings.source in ("simulator",
                                                                              "jsonl"))
    if settings.secret == DEV_SECRET and not demo and command != "subscribe":
        print("journey: WARNING: customer ids are hashed with the built-in development "
              "secret, which is public:\njourney: WARNING: anyone can recompute them. Set "
              "JOURNEY_SECRET (or --secret) to a random value, e.g. `openssl rand -hex 32`.",
              file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `journey` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = vars(_parser().parse_args(argv))
    command = args.pop("command")
    if command == "replay":
        args["source"], args["input"] = "jsonl", args.pop("file")
    extra = {k: args.pop(k) for k in ("group", "max_idle", "user_id", "anonymous_id")
             if k in args}
    try:
        settings = Settings.from_env(**args)
        _warn_dev_secret(settings, command)
        if command == "collect":
            summary = _collect(settings)
        elif command == "subscribe":
            summary = _subscribe(settings, **extra)
        elif command == "forget":
            summary = _forget(settings, **extra)
        else:
            summary = _execute(settings)
    except JourneyError as e:
        print(f"journey: {e}", file=sys.stderr)
        return 2
    sys.stderr.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
