"""What the workers of one process share: the decision core, context table, and the loop.

Built once per process per `Settings` (bytewax worker threads share it). Learner state lives
in the flow's keyed `learn` step (so it is snapshotted); learners publish into this board.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from engine import metrics
from engine.catalog import load_catalog
from engine.core import CoreConfig, DecisionCore
from engine.decision import Decision
from features.watermark import Watermark
from flows.collector import QueueForwarder
from flows.kafka import LagMonitor
from flows.redact import RedactionJournal, redact_file
from flows.settings import Settings
from flows.store import LiveScrub

__all__ = ["Runtime", "get_runtime"]

log = logging.getLogger(__name__)


class Runtime:
    """Per-process shared state of a running flow."""

    def __init__(self, settings: Settings) -> None:
        catalog = load_catalog(settings.catalog or None)
        self.settings = settings
        self.core = DecisionCore(
            catalog, CoreConfig(seed=settings.seed, control_share=settings.control_share))
        self.secret = settings.secret.encode()
        self.clock = Watermark(settings.watermark_quorum)
        self.watermark = 0.0
        """Event time timer sweeps, expiry and end-of-input timers follow: the time
        `--watermark-quorum` recent events reached (`features.watermark`), so one event
        dated far ahead moves nothing."""
        self.events = 0
        self.decisions = 0
        self.dead_letters = 0
        self._lock = threading.Lock()
        self._mailbox: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._done: dict[str, int] = {}
        self.owners: dict[str, str] = {}
        self.collector_queue = QueueForwarder(settings.collector_capacity,
                                              settings.collector_limit)
        """Events the embedded HTTP collector accepted, for `--source collector`."""
        self.lag: LagMonitor | None = None
        """Consumer-lag probe, with `--source kafka`."""
        self.scrubs: LiveScrub | None = None
        """Rewrites the recovery store after erasures, with `--recovery-dir`."""
        self.output_scrub: LiveScrub | None = None
        """Redacts the output files after erasures (`redact_outputs`), when they are files."""
        self.redactions: RedactionJournal | None = None
        """Erased keys whose output lines are still to redact (kept across a crash), when
        the flow writes output files (`journey run`)."""

    def observe(self, ts: float) -> None:
        """Count a decoded event and advance the event-time watermark (timer sweeps read it)."""
        with self._lock:
            self.events += 1
            self.watermark = self.clock.observe(ts)

    def restore_watermark(self, ts: float) -> None:
        """Advance the watermark by an event time recovered from a snapshot (a key's last
        event): as an observed event, so one resumed outlier moves nothing either."""
        with self._lock:
            self.watermark = self.clock.observe(ts)

    def deliver(self, decisions: list[Decision]) -> None:
        """Hand decisions to the embedded world (only customers a simulator owns)."""
        with self._lock:
            self.decisions += len(decisions)
            for d in decisions:
                owner = self.owners.get(d.customer_id)
                if owner is not None:
                    self._mailbox[owner].append(d.to_dict())

    def take_mail(self, origin: str) -> list[dict[str, Any]]:
        """Decisions for the customers of simulator partition `origin`."""
        with self._lock:
            return self._mailbox.pop(origin, [])

    def track(self, origin: str) -> None:
        """Count acknowledgements for `origin` (a simulator partition waiting on them)."""
        with self._lock:
            self._done[origin] = self._done.get(origin, 0)

    def ack(self, origin: str) -> None:
        """One record from `origin` has been fully handled (counted for tracked origins)."""
        if origin in self._done:
            with self._lock:
                self._done[origin] += 1

    def done(self, origin: str) -> int:
        """How many records from a tracked `origin` have been fully handled."""
        with self._lock:
            return self._done.get(origin, 0)

    def erased(self, key: str) -> None:
        """State key `key` (a customer or device) was erased: its superseded snapshots must
        leave the recovery store's files, not only its tables (`flows.store.LiveScrub`), and
        its lines the output files (`redact_outputs`)."""
        if self.scrubs is not None:
            self.scrubs.due()
        if self.redactions is not None:
            try:
                self.redactions.add(key)
            except OSError:  # (a full disk) the erasure stands; this key's lines wait for
                log.exception("journaling an erasure for the output files failed")  # a stop
            if self.output_scrub is not None:
                self.output_scrub.due()

    def output_files(self) -> list[Path]:
        """The decisions and dead-letter files this flow writes (not streams or topics)."""
        return [Path(p) for p in dict.fromkeys(self.settings.file_outputs.values())]

    def journal_redactions(self) -> RedactionJournal | None:
        """Start journaling erasures for `redact_outputs` (beside the first output file);
        None when the flow writes no files."""
        files = self.output_files()
        if files:
            self.redactions = RedactionJournal(
                files[0].with_name(files[0].name + ".redact-pending"))
        return self.redactions

    def redact_outputs(self) -> int:
        """Redact the lines of every journaled erased key from the output files
        (`flows.redact`); the keys stay journaled if a file cannot be read."""
        if self.redactions is None:
            return 0
        keys = self.redactions.keys()
        if not keys:
            return 0
        done = sum(redact_file(p, keys, self.secret) for p in self.output_files())
        self.redactions.done(keys)
        metrics.OUTPUT_LINES_REDACTED.inc(done)
        return done

    def count_dead_letter(self) -> None:
        """Progress counter (the Prometheus metric is counted by reason elsewhere)."""
        with self._lock:
            self.dead_letters += 1


_RUNTIMES: dict[Settings, Runtime] = {}
_LOCK = threading.Lock()


def get_runtime(settings: Settings) -> Runtime:
    """The process's runtime for `settings` (created on first use)."""
    with _LOCK:
        rt = _RUNTIMES.get(settings)
        if rt is None:
            rt = _RUNTIMES[settings] = Runtime(settings)
        return rt
