"""The Journey dataflow: wiring only (logic lives in `features/` and `engine/`).

    read_events → decode_event ─┬─ errors ─┬─ naming no one ───────────→ write_dead_letters
                                │          └─ naming a customer or device: through its
                                │             keyed step below (redacted there if erased)
                                └─ oks ─┬─ context → update_context
                                        └─ customer events
      anonymousId? → resolve_identity (keyed by device) ─┬─ forward ─┐
      userId only  ──────────────────────────────────────┴───────────┴→ update_and_decide
      (keyed by customer) → decisions → write_decisions
                          → dead letters → write_dead_letters
                          → labels and finished decisions → learn (one key: the shared
                            response and value models) → publish to the scorer

A dead letter's identity is read from its raw bytes (`payload_routing_id`: the
`anonymousId`, whose step passes it on to the `userId` beside it or the linked customer,
else the `userId`); it is acknowledged where it leaves a keyed step, or (naming no one) on
its way out, so acknowledged = processed + dead-lettered stays exact.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from engine import metrics
from engine.routing import Forward
from features.deadletter import DeadLetter
from features.decode import decode
from features.errors import DecodeError
from features.identity import customer_key, known_id, payload_routing_id, routing_id
from features.schema import Decoded, RawRecord
from flows.kafka import (
    LagMonitor,
    dead_letter_message,
    decision_message,
    ensure_topics,
    kafka_sink,
    kafka_source,
    raw_record,
)
from flows.logic import ContextLogic, DeviceLogic, KnownLogic, LearnLogic, Out
from flows.runtime import Runtime, get_runtime
from flows.settings import Settings
from flows.sinks import LineSink, jsonl_sink
from flows.sources import CollectorSource, SimulatorSource, jsonl_source

__all__ = ["build_flow"]


def _decode(rt: Runtime) -> Any:
    tolerance = rt.settings.future_tolerance
    earliest = rt.settings.earliest_ts()

    def decode_event(rec: RawRecord | DeadLetter) -> Decoded | DeadLetter:
        if isinstance(rec, DeadLetter):  # rejected upstream (the collector), kept as is
            return rec
        try:
            ev = decode(rec.payload, now=time.time() if tolerance else None,
                        max_ahead=tolerance, earliest=earliest)
        except DecodeError as e:
            return DeadLetter(e.reason, str(e), rec.payload, rec.stream, rec.origin)
        metrics.events_by(ev.label).inc()
        rt.observe(ev.ts)
        return Decoded(ev, rec.origin, rec.payload)

    return decode_event


def _default_source(settings: Settings, rt: Runtime) -> Source[Any]:
    if settings.source == "jsonl":
        return jsonl_source(settings.input)
    if settings.source == "kafka":
        ensure_topics(settings)
        return kafka_source(settings)
    if settings.source == "collector":
        return CollectorSource(rt.collector_queue, settings.batch_size)
    return SimulatorSource(rt)


def build_flow(settings: Settings, *, source: Source[Any] | None = None,
               decisions: Sink[Any] | None = None, dead_letters: Sink[Any] | None = None,
               runtime: Runtime | None = None) -> Dataflow:
    """Wire the flow; sources, sinks and the process runtime default to what `settings` names."""
    rt = runtime or get_runtime(settings)
    secret = rt.secret
    flow = Dataflow("journey")
    raw = op.input("read_events", flow, source or _default_source(settings, rt))
    if settings.source == "kafka" and source is None:
        rt.lag = rt.lag or LagMonitor(settings)
        raw = op.filter_map("wrap_messages", raw, raw_record(settings, rt.lag))
    decoded = op.map("decode_event", raw, _decode(rt))
    split = op.branch("split_errors", decoded, lambda r: isinstance(r, Decoded))
    named = op.branch("split_named_dead",
                      op.map("name_dead_letters", split.falses,
                             lambda d: (payload_routing_id(d.payload), d)),
                      lambda p: p[0] is not None)
    dead_tier = op.branch("split_dead_tier", named.trues, lambda p: p[0][1])

    def keyed_dead(p: tuple[tuple[str, bool], DeadLetter]) -> tuple[str, tuple[str, DeadLetter]]:
        key = customer_key(p[0][0], secret)
        return key, (key, p[1])
    kinds = op.branch("split_context", split.trues,
                      lambda r: r.event.type not in ("context", "group"))

    regions = op.key_on("key_by_region", kinds.falses, lambda r: r.event.region or "")
    op.stateful("update_context", regions, lambda resume: ContextLogic(rt, resume))

    anon = op.branch("split_identity", kinds.trues, lambda r: not routing_id(r.event)[1])
    device_keyed = op.key_on("key_by_device", anon.trues,
                             lambda r: customer_key(routing_id(r.event)[0], secret))
    device_in = op.merge("merge_device",
                         op.map("with_device_key", device_keyed, lambda kv: (kv[0], kv)),
                         op.map("key_dead_devices", dead_tier.falses, keyed_dead))
    device_out = op.stateful("resolve_identity", device_in,
                             lambda resume: DeviceLogic(rt, resume))
    device_flat = op.map("drop_device_key", device_out, lambda kv: kv[1])
    fwd_split = op.branch("split_forwards", device_flat, lambda o: o[0] == "forward")

    def direct(r: Decoded) -> tuple[str, tuple[Forward, Decoded]]:
        assert r.event.user_id is not None
        key = customer_key(known_id(r.event.user_id), secret)
        return key, (Forward(key, r.event.user_id, r.event), r)

    def forwarded(o: Out) -> tuple[str, Any]:
        head, _item = o[1]  # (forward, decoded), or (customer key, dead letter)
        return (head if isinstance(head, str) else head.user_key), o[1]

    known_in = op.merge(
        "merge_known",
        op.map("key_direct", anon.falses, direct),
        op.map("key_forwards", fwd_split.trues, forwarded),
        op.map("key_dead_customers", dead_tier.trues, keyed_dead),
    )
    known_out = op.stateful("update_and_decide", known_in, lambda resume: KnownLogic(rt, resume))
    results = op.merge("merge_results", fwd_split.falses,
                       op.map("drop_customer_key", known_out, lambda kv: kv[1]))
    failed = op.branch("split_failed", results, lambda o: o[0] == "dead")
    by_kind = op.branch("split_decisions", failed.falses, lambda o: o[0] == "decision")
    to_kafka = settings.kafka_sink and decisions is None
    out = op.map("serialize_decision", by_kind.trues,
                 (lambda o: decision_message(settings, o[1])) if to_kafka else
                 (lambda o: (o[1].decision_id, o[1].to_json().decode())))
    op.output("write_decisions", out,
              decisions or (kafka_sink(settings) if to_kafka else _sink(settings.out, err=False)))
    _wire_learning(rt, by_kind.falses)

    def acked(p: tuple[None, DeadLetter]) -> DeadLetter:
        rt.ack(p[1].origin)  # naming no one (the keyed steps ack the dead letters they see)
        return p[1]

    dl_to_kafka = settings.kafka_sink and dead_letters is None

    def dead_letter(d: DeadLetter) -> Any:
        metrics.dead_letters_by(d.reason).inc()
        rt.count_dead_letter()
        if dl_to_kafka:
            return dead_letter_message(settings, d)
        return d.reason, d.to_json().decode()

    all_dead = op.merge("merge_dead_letters", op.map("ack_rejected", named.falses, acked),
                        op.map("unwrap_failed", failed.trues, lambda o: o[1]))
    dl = op.map("count_dead_letters", all_dead, dead_letter)
    op.output("write_dead_letters", dl, dead_letters or (
        kafka_sink(settings) if dl_to_kafka else _sink(settings.dead_letters, err=True)))
    return flow


def _wire_learning(rt: Runtime, learning: op.Stream[Out]) -> None:
    items = op.key_on("key_by_model", learning, lambda _o: "model")
    op.stateful("learn", op.map("unwrap_item", items, lambda kv: (kv[0], kv[1][1])),
                lambda resume: LearnLogic(rt, resume))


def _sink(target: str, *, err: bool) -> Sink[Any]:
    if target == "-":
        return LineSink(sys.stderr if err else sys.stdout)
    return jsonl_sink(target)

