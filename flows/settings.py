"""Settings: the only reader of `JOURNEY_*` environment variables.

Every CLI flag falls back to its environment twin (named in `--help`), as bytewax's `run.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from features.decode import LATEST
from features.errors import ConfigError
from features.watermark import QUORUM, SPAN

__all__ = ["DEV_SECRET", "ENV_PREFIX", "Settings", "kafka_settings"]

ENV_PREFIX = "JOURNEY_"

DEV_SECRET = "journey-development-secret"
"""The built-in hashing secret: fine for the simulator and replays, public everywhere else."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Run configuration; field `x` is read from `JOURNEY_X` when not given."""

    source: str = field(default="simulator",
                        metadata={"help": "simulator | jsonl | kafka | collector (HTTP)"})
    input: str = field(default="", metadata={"help": "JSONL file for --source jsonl"})
    sink: str = field(default="auto", metadata={
        "help": "file | kafka | auto (kafka topics when the source is kafka, else files)"})
    out: str = field(default="out/decisions.jsonl",
                     metadata={"help": "decisions JSONL file, '-' for stdout"})
    dead_letters: str = field(default="out/dead-letters.jsonl",
                              metadata={"help": "dead-letter JSONL file, '-' for stderr"})
    catalog: str = field(default="", metadata={"help": "action catalog YAML (default: shipped)"})
    seed: int = field(default=7, metadata={"help": "seed for simulator and exploration"})
    customers: int = field(default=5000, metadata={"help": "simulated customers"})
    events: int = field(default=200_000, metadata={"help": "simulated events (0 = endless)"})
    sim_partitions: int = field(default=1, metadata={"help": "simulator source partitions"})
    bad_rate: float = field(default=0.001,
                            metadata={"help": "share of malformed records the simulator injects"})
    control_share: float = field(default=0.05, metadata={"help": "share on the control policy"})
    secret: str = field(default=DEV_SECRET, metadata={
        "help": "key for customer-id hashes, any length (set it outside demo runs)"})
    metrics_port: int = field(default=9464, metadata={"help": "Prometheus /metrics port, 0=off"})
    metrics_host: str = field(default="127.0.0.1",
                              metadata={"help": "address /metrics binds (0.0.0.0 in containers)"})
    progress: bool = field(default=True, metadata={"help": "progress line on stderr"})
    brokers: str = field(default="", metadata={"help": "Kafka bootstrap servers host:port[,..]"})
    kafka_config: str = field(default="", metadata={
        "help": "extra librdkafka settings, k=v;k=v (e.g. security.protocol=SASL_SSL;...)"})
    kafka_timeout: float = field(default=30.0, metadata={
        "help": "seconds to wait for the broker at start-up, retrying with backoff"})
    events_topic: str = field(default="journey.events", metadata={"help": "events topic"})
    context_topic: str = field(default="journey.context", metadata={"help": "context topic"})
    outcomes_topic: str = field(default="journey.outcomes", metadata={"help": "outcomes topic"})
    decisions_topic: str = field(default="journey.decisions",
                                 metadata={"help": "decisions topic (with --source kafka)"})
    dead_letter_topic: str = field(default="journey.dead-letter",
                                   metadata={"help": "dead-letter topic (with --source kafka)"})
    partitions: int = field(default=3, metadata={"help": "partitions of topics Journey creates"})
    tail: bool = field(default=True, metadata={
        "help": "keep reading Kafka at the end of the topics (--no-tail stops there)"})
    collector_host: str = field(default="127.0.0.1",
                                metadata={"help": "address the Segment-compatible collector binds"})
    collector_port: int = field(default=8088, metadata={"help": "collector HTTP port"})
    write_keys: str = field(default="", metadata={
        "help": "write keys the collector accepts, comma-separated (empty: any key)"})
    admin_keys: str = field(default="", metadata={
        "help": "server-side keys the collector accepts erasure and consent changes from,"
                " comma-separated (never put them in browser code)"})
    collector_timeout: float = field(default=10.0, metadata={
        "help": "seconds a collector client has to send a whole request, or the next one"})
    collector_connections: int = field(default=1000, metadata={
        "help": "open collector connections at most (the longest idle is closed beyond)"})
    collector_dead_letter_budget: int = field(default=1 << 20, metadata={
        "help": "bytes of dead letters per minute one client address or write key may store"
                " (0 = no bound)"})
    collector_dedupe_ids: int = field(default=100_000, metadata={
        "help": "messageIds the collector remembers (24 h) to drop client retries; beyond, the"
                " oldest are forgotten (the flow still drops a customer's last 32)"})
    collector_capacity: int = field(default=10_000, metadata={
        "help": "events the collector buffers before answering 429"})
    collector_limit: int = field(default=0, metadata={
        "help": "--source collector: stop after this many records (0 = run until stopped)"})
    recovery_dir: str = field(default="", metadata={
        "help": "bytewax recovery directory (created and initialised when empty); off if unset"})
    recovery_reset: bool = field(default=False, metadata={
        "help": "start an empty store where --recovery-dir held one whose database files are"
                " gone (refused otherwise); an intact store is never reset"})
    snapshot_interval: float = field(default=5.0, metadata={
        "help": "seconds between snapshots (bytewax epoch interval)"})
    backup_interval: float = field(default=0.0, metadata={
        "help": "seconds superseded snapshots are kept (0: deleted at the next snapshot)"})
    timer_sweep: float = field(default=1.0, metadata={
        "help": "least wall-clock seconds between a key's checks of its timers against the"
                " watermark"})
    dedupe_window: float = field(default=86_400.0, metadata={
        "help": "event-time seconds a messageId is remembered per customer (last 32 ids)"})
    state_ttl: float = field(default=90 * 86_400.0, metadata={
        "help": "event-time seconds of inactivity after which a customer's state is dropped"
                " (0 = never)"})
    tombstone_ttl: float = field(default=0.0, metadata={
        "help": "event-time seconds an erased customer's tombstone is kept (0 = forever)"})
    wake_limit: float = field(default=300.0, metadata={
        "help": "most wall-clock seconds a key with pending timers or an expiry sleeps before"
                " re-checking the event-time watermark"})
    watermark_quorum: int = field(default=QUORUM, metadata={
        "help": "events (of any 10,000 in a row) that must reach an event time before the"
                " watermark moves there: timer sweeps, expiry and end-of-input timers follow"
                " it, so fewer events dated far ahead move nothing (1 = the newest time)"})
    future_tolerance: float = field(default=900.0, metadata={
        "help": "seconds an event time may be ahead of the clock before it is dead-lettered"
                " as future_timestamp (0 = no check, e.g. replaying synthetic data)"})
    earliest: str = field(default="2000-01-01", metadata={
        "help": "event-time floor: earlier events are dead-lettered as bad_timestamp"
                " (ISO-8601 date or time, or epoch seconds; lower it to replay history)"})
    until: str = field(default="", metadata={
        "help": "when the input ends, fire every timer due up to this event time (ISO-8601 or"
                " epoch seconds; empty = the watermark: the last event time enough events"
                " reached, see --watermark-quorum; 'off' = none), so a replay completes the"
                " last customers' journeys"})
    batch_size: int = field(default=500, metadata={"help": "source batch size"})
    workers: int = field(default=1, metadata={"help": "worker threads (journey run only)"})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **given: Any) -> Settings:
        """Build from explicit values, then `JOURNEY_*` variables, then defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if given.get(f.name) is not None:
                values[f.name] = given[f.name]
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _parse(f.name, f.type, raw)
        settings = cls(**values)
        settings.validate()
        return settings

    @property
    def write_key_set(self) -> tuple[str, ...]:
        """The collector's accepted write keys (empty: any non-empty key)."""
        return tuple(k.strip() for k in self.write_keys.split(",") if k.strip())

    @property
    def admin_key_set(self) -> tuple[str, ...]:
        """The collector's privileged (server-side) keys."""
        return tuple(k.strip() for k in self.admin_keys.split(",") if k.strip())

    @property
    def kafka_sink(self) -> bool:
        """Whether decisions and dead letters go to Kafka topics."""
        return self.sink == "kafka" or (self.sink == "auto" and self.source == "kafka")

    @property
    def file_outputs(self) -> dict[str, str]:
        """The outputs written to files, by flag (`--out`, `--dead-letters`): none when they
        go to Kafka, and not `-` (a standard stream)."""
        if self.kafka_sink:
            return {}
        return {flag: path for flag, path in (("--out", self.out),
                                              ("--dead-letters", self.dead_letters))
                if path != "-"}

    def earliest_ts(self) -> float:
        """The event-time floor `--earliest` names (epoch seconds)."""
        return _event_time(self.earliest)

    def until_ts(self, last_event: float) -> float | None:
        """The event time `--until` names: None for 'off', `last_event` when empty."""
        text = self.until.strip()
        if text.lower() == "off":
            return None
        if not text:
            return last_event
        return _event_time(text)

    def validate(self) -> None:
        """Fail at construction with a message that says how to fix it."""
        try:
            self.until_ts(0.0)
        except ValueError as e:
            msg = f"--until must be ISO-8601, epoch seconds, 'off' or empty, got {self.until!r}"
            raise ConfigError(msg) from e
        try:
            floor = self.earliest_ts()
        except ValueError as e:
            msg = f"--earliest must be an ISO-8601 date or time or epoch seconds, got " \
                  f"{self.earliest!r}"
            raise ConfigError(msg) from e
        if floor >= LATEST:
            msg = f"--earliest must be before 2100-01-01, got {self.earliest!r}"
            raise ConfigError(msg)
        if self.source not in ("simulator", "jsonl", "kafka", "collector"):
            msg = f"source must be simulator, jsonl, kafka or collector, got {self.source!r}"
            raise ConfigError(msg)
        if self.sink not in ("auto", "file", "kafka"):
            msg = f"sink must be auto, file or kafka, got {self.sink!r}"
            raise ConfigError(msg)
        if self.sink == "kafka" and not self.brokers:
            msg = "--sink kafka needs --brokers host:port (or JOURNEY_BROKERS)"
            raise ConfigError(msg)
        if self.source == "jsonl" and not Path(self.input).is_file():
            msg = f"--input {self.input!r} is not a file (needed with --source jsonl)"
            raise ConfigError(msg)
        if self.source == "kafka" and not self.brokers:
            msg = "--source kafka needs --brokers host:port (or JOURNEY_BROKERS)"
            raise ConfigError(msg)
        for item in filter(None, self.kafka_config.split(";")):
            if "=" not in item:
                msg = f"--kafka-config entries are key=value separated by ';', got {item!r}"
                raise ConfigError(msg)
        if not 0.0 <= self.control_share <= 1.0 or not 0.0 <= self.bad_rate <= 1.0:
            msg = "control_share and bad_rate are shares between 0 and 1"
            raise ConfigError(msg)
        if min(self.dedupe_window, self.state_ttl, self.tombstone_ttl,
               self.future_tolerance) < 0 or min(
                self.wake_limit, self.timer_sweep) <= 0:
            msg = ("dedupe_window, state_ttl, tombstone_ttl, future_tolerance >= 0; "
                   "wake_limit, timer_sweep > 0")
            raise ConfigError(msg)
        if min(self.customers, self.sim_partitions, self.batch_size, self.collector_capacity,
               self.collector_connections, self.collector_dedupe_ids,
               self.watermark_quorum) < 1:
            msg = ("customers, sim_partitions, batch_size, collector_capacity, "
                   "collector_connections, collector_dedupe_ids and watermark_quorum must be"
                   " >= 1")
            raise ConfigError(msg)
        if self.watermark_quorum > SPAN:
            msg = f"watermark_quorum must be at most {SPAN}, got {self.watermark_quorum!r}"
            raise ConfigError(msg)
        if self.collector_timeout <= 0 or self.collector_dead_letter_budget < 0:
            msg = "collector_timeout must be > 0 and collector_dead_letter_budget >= 0"
            raise ConfigError(msg)
        if not self.secret:
            msg = ("the secret is empty, which would leave customer-id hashes unkeyed: set "
                   "JOURNEY_SECRET (or --secret) to a random value, e.g. `openssl rand -hex 32`")
            raise ConfigError(msg)


def _event_time(text: str) -> float:
    """Epoch seconds from an ISO-8601 date/time (UTC unless it says) or a number."""
    try:
        return float(text)
    except ValueError:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _parse(name: str, kind: Any, raw: str) -> Any:
    kind = kind if isinstance(kind, str) else kind.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError as e:
        msg = f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}"
        raise ConfigError(msg) from e
    return raw


def kafka_settings(settings: Settings) -> dict[str, str]:
    """librdkafka settings from `--kafka-config` (passed through as given)."""
    out: dict[str, str] = {}
    for item in filter(None, settings.kafka_config.split(";")):
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out
