"""The recovery store: bytewax's SQLite partitions, kept so that an erasure leaves the file.

bytewax replaces a key's snapshot by writing a new row and deleting the old one, and its
SQLite connection does not overwrite deleted content: a forgotten customer's last snapshot
(raw id, first name) would stay readable in freed pages and in the free space of pages
still in use. Two measures close that:

* `auto_vacuum = FULL` (kept in the file's header, so bytewax's own connection honours it):
  pages freed while the flow runs leave the file at every commit. A snapshot too large to
  share its page (most customer states) goes with its page.
* `scrub` rewrites every partition (VACUUM) while no flow holds the store: at start
  (`init_store`) and after a clean stop, so what shared a page is gone by then too.

A marker file (`MARKER`: the partition count, the catalog version, when) is written beside
the partitions when the store is created: a directory whose marker says it held a store but
whose database files are gone is refused (`RecoveryError`), never silently re-initialised,
unless `reset` is asked for. `resumed_parts` reads which partitions a step holds resume state
for (bytewax keys a file source's or sink's by its path).
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import orjson
from bytewax.recovery import init_db_dir

from features.errors import RecoveryError

__all__ = ["MARKER", "init_store", "resumed_parts", "scrub"]

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
    """Rewrite every partition of a store no flow has open: deleted rows leave no bytes,
    and freed pages leave the file from now on (full auto-vacuum)."""
    for part in sorted(path.glob("part-*.sqlite3")):
        con = sqlite3.connect(part)
        try:
            con.execute("PRAGMA auto_vacuum = FULL")  # takes effect with the VACUUM
            con.execute("VACUUM")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
