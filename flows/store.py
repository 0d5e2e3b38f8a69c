"""The recovery store: bytewax's SQLite partitions, kept so that an erasure leaves the file.

bytewax replaces a key's snapshot by writing a new row and deleting the old one, and its
SQLite connection does not overwrite deleted content: a forgotten customer's last snapshot
(raw id, first name) would stay readable in freed pages, in the free space of pages still in
use, and in the WAL's old frames. Three measures close that:

* `auto_vacuum = FULL` (kept in the file's header, so bytewax's own connection honours it):
  pages freed while the flow runs leave the file at every commit. A snapshot too large to
  share its page (most customer states) goes with its page.
* `scrub` rewrites every partition (VACUUM, then a truncating WAL checkpoint): at start
  (`init_store`) and after a clean stop, while no flow holds the store.
* `LiveScrub`, while the flow runs: an erasure makes a scrub due once bytewax has written
  the tombstone and deleted the superseded snapshots (`scrub_delay`); erasures close
  together share one. It runs `scrub` in a child process (`scrub_live`): bytewax links its
  own copy of SQLite, and two copies in one process do not see each other's POSIX locks
  (a write of one would be lost under the other). bytewax opens each partition in WAL mode
  with a 5 s busy timeout and holds no transaction between its commits, so it waits out
  the scrub's short write lock; a partition too large to rewrite well within that
  (`flows.vacuum.LIVE_MAX_BYTES`) is left to the next start, with a warning.

A marker file (`MARKER`: the partition count, the catalog version, when) is written beside
the partitions when the store is created: a directory whose marker says it held a store but
whose database files are gone is refused (`RecoveryError`), never silently re-initialised,
unless `reset` is asked for. `resumed_parts` reads which partitions a step holds resume state
for (bytewax keys a file source's or sink's by its path).
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
from bytewax.recovery import init_db_dir

from engine import metrics
from features.errors import RecoveryError
from flows.vacuum import LIVE_TIMEOUT, rewrite_all

__all__ = ["MARKER", "LiveScrub", "init_store", "resumed_parts", "scrub",
           "scrub_delay", "scrub_live"]

log = logging.getLogger(__name__)

MARKER = "journey-recovery.json"
"""Written beside the partitions when a store is created: `{"partitions", "catalog_version",
"created"}`."""


def _parts(path: Path) -> list[Path]:
    return sorted(path.glob("part-*.sqlite3"))


def _held(marker: Path) -> int:
    """The partition count a marker records."""
    try:
        held = orjson.loads(marker.read_bytes())["partitions"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        msg = (f"cannot read {str(marker)!r} ({e}): it records the store this directory held; "
               "restore it, or delete it if the directory holds no store you want to resume")
        raise RecoveryError(msg) from e
    if not isinstance(held, int) or held < 1:
        msg = f"{str(marker)!r} records {held!r} partitions; restore the file or delete it"
        raise RecoveryError(msg)
    return held


def _write_marker(marker: Path, partitions: int, catalog_version: str) -> None:
    marker.write_bytes(orjson.dumps({
        "partitions": partitions, "catalog_version": catalog_version,
        "created": datetime.now(UTC).isoformat(timespec="seconds")}, option=orjson.OPT_INDENT_2))


def init_store(path: Path, partitions: int = 1, *, reset: bool = False,
               catalog_version: str = "") -> None:
    """Create a recovery directory with `partitions` partitions if it never held a store;
    `scrub` it.

    Raises `RecoveryError` where its marker says it held a store whose database files are
    gone (deleted?), unless `reset`: then what is left of it goes and an empty store starts
    (an intact store is never touched by `reset`).
    """
    marker = path / MARKER
    parts = _parts(path)
    if marker.exists():
        held = _held(marker)
        if len(parts) < held:
            if not reset:
                msg = (f"the recovery store in {str(path)!r} is gone: {MARKER} says it held "
                       f"{held} partition(s) and {held - len(parts)} of them are missing "
                       "(deleted?). Restore them to resume, or pass --recovery-reset "
                       "(JOURNEY_RECOVERY_RESET=1) to start from an empty store (customer "
                       "state and learned models start over)")
                raise RecoveryError(msg)
            log.warning("%s: %d of %d partitions missing; --recovery-reset: starting an "
                        "empty store", path, held - len(parts), held)
            for part in parts:
                part.unlink()
            parts = []
    if not parts:
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("part-*.sqlite3-*"):  # a WAL or shm left by a deleted file
            stale.unlink()
        init_db_dir(path, partitions)
        _write_marker(marker, partitions, catalog_version)
    elif not marker.exists():  # a store from before markers: adopt it
        _write_marker(marker, len(parts), catalog_version)
    scrub(path)


def resumed_parts(path: Path, step_id: str) -> list[str]:
    """The partitions step `step_id` (`flow.step`) holds resume state for in the store at
    `path` (empty if none, or if the store's layout is not bytewax 0.21's)."""
    keys: set[str] = set()
    for part in _parts(path):
        con = sqlite3.connect(part)
        try:
            rows = con.execute(
                "SELECT state_key FROM snaps s WHERE step_id = ? AND ser_change IS NOT NULL "
                "AND snap_epoch = (SELECT MAX(snap_epoch) FROM snaps t "
                "WHERE t.step_id = s.step_id AND t.state_key = s.state_key)",
                (step_id,)).fetchall()
        except sqlite3.Error as e:
            log.debug("%s: no resume state readable (%s)", part, e)
            rows = []
        finally:
            con.close()
        keys.update(k for (k,) in rows)
    return sorted(keys)


def scrub(path: Path) -> None:
    """Rewrite every partition of the store at `path` (`flows.vacuum`): deleted rows leave
    no bytes in the file or its WAL, and freed pages leave the file from now on (full
    auto-vacuum). In the flow's own process only while no flow holds the store;
    `scrub_live` otherwise."""
    rewrite_all(path)


def scrub_live(path: Path) -> bool:
    """`scrub` the store of a running flow, in a child process (see the module docstring);
    never raises: a failure is logged and counted (`journey_store_scrubs_total`)."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    try:
        done = subprocess.run([sys.executable, "-m", "flows.vacuum", str(path)], env=env,
                              start_new_session=True,  # a Ctrl-C of the flow lets it finish
                              capture_output=True, timeout=LIVE_TIMEOUT, check=False)
        failure = done.stderr.decode(errors="replace").strip().splitlines()[-1:] \
            if done.returncode else None
    except (OSError, subprocess.SubprocessError) as e:
        failure = [str(e)]
    if failure is not None:
        log.warning("%s: live scrub failed, an erased customer's bytes may stay in the store "
                    "until the next start: %s", path, " ".join(failure) or "no reason given")
        metrics.STORE_SCRUBS.labels("failed").inc()
        return False
    metrics.STORE_SCRUBS.labels("ok").inc()
    return True


def scrub_delay(snapshot_interval: float, backup_interval: float) -> float:
    """Seconds after an erasure by which bytewax has deleted the key's superseded snapshots:
    the tombstone is written when the erasure's epoch closes, the older snapshots deleted when
    the epoch `backup_interval` later closes; one epoch and a second of slack on top."""
    epochs = math.ceil(backup_interval / snapshot_interval) if backup_interval > 0 else 0
    return (epochs + 2) * snapshot_interval + 1.0


class LiveScrub:
    """Runs `scrub` (default `scrub_live` of `path`) at least `delay` seconds after each
    erasure (`due`), on a daemon thread. Erasures close together share one scrub: each one
    moves a pending scrub to `delay` after it, but never beyond `2 * delay` after the first
    it waits for (a steady stream of erasures still gets one that often). `stop` ends the
    thread (a pending scrub is left to the clean-stop scrub, or the next start)."""

    def __init__(self, path: Path, delay: float,
                 scrub: Callable[[Path], object] = scrub_live) -> None:
        self.path, self.delay, self._scrub = path, delay, scrub
        self._cond = threading.Condition()
        self._pending: float | None = None  # when the next scrub runs
        self._first = self._last = -math.inf  # the first erasure it waits for, the latest
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="journey-store-scrub",
                                        daemon=True)

    def start(self) -> LiveScrub:
        self._thread.start()
        return self

    def due(self) -> None:
        """An erasure was processed just now."""
        now = time.monotonic()
        with self._cond:
            self._last = now
            if self._pending is None:
                self._first, self._pending = now, now + self.delay
            else:
                self._pending = min(now + self.delay, self._first + 2 * self.delay)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                        self._pending is None or self._pending > time.monotonic()):
                    self._cond.wait(None if self._pending is None
                                    else self._pending - time.monotonic())
                if self._stopped:
                    return
                started = time.monotonic()
                self._pending = None
            try:
                self._scrub(self.path)
            except Exception:  # a scrub must never take the flow down
                log.exception("%s: live scrub failed", self.path)
            with self._cond:  # an erasure too recent for this scrub gets the next one
                if self._pending is None and self._last + self.delay > started:
                    self._first, self._pending = self._last, self._last + self.delay
