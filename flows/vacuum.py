"""Rewriting the recovery store's SQLite partitions (`flows.store.scrub` and `scrub_live`).

Only the standard library: `python -m flows.vacuum DIR` is the live scrub's child process,
which must start fast and must not load bytewax's copy of SQLite beside Python's.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

__all__ = ["LIVE_MAX_BYTES", "LIVE_TIMEOUT", "TooLarge", "rewrite", "rewrite_all"]

VACUUM_WAIT = 30.0
"""Seconds a rewrite waits for the write lock (bytewax's commits hold it briefly)."""
CHECKPOINT_WAIT = 1.0
"""Seconds one checkpoint attempt may wait: it holds the write lock meanwhile, and bytewax's
own writes give up (and stop the flow) after 5 s."""
CHECKPOINT_TRIES = 5
LIVE_MAX_BYTES = 256 << 20
"""A partition above this is not rewritten while the flow runs: its VACUUM (some 150 MB/s)
would hold the write lock near bytewax's 5 s busy timeout. The next start rewrites it."""
LIVE_TIMEOUT = 120.0
"""Seconds a live scrub's child process may take before it is killed (SQLite rolls back)."""


class TooLarge(Exception):
    """Partitions above the size bound were left as they were (the others were rewritten)."""


def rewrite(part: Path) -> None:
    """VACUUM one partition (deleted rows leave no bytes; full auto-vacuum from now on), then
    checkpoint its WAL into the file and truncate it, retried while a reader keeps it busy.
    Raises `sqlite3.Error` if either cannot complete."""
    con = sqlite3.connect(part, timeout=VACUUM_WAIT, isolation_level=None)
    try:
        con.execute("PRAGMA secure_delete = ON")
        con.execute("PRAGMA auto_vacuum = FULL")  # takes effect with the VACUUM
        con.execute("VACUUM")
        con.execute(f"PRAGMA busy_timeout = {int(CHECKPOINT_WAIT * 1000)}")
        for _ in range(CHECKPOINT_TRIES):
            busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(CHECKPOINT_WAIT)
        msg = f"{part}: the WAL stayed busy through {CHECKPOINT_TRIES} checkpoints"
        raise sqlite3.OperationalError(msg)
    finally:
        con.close()


def rewrite_all(path: Path, max_bytes: int | None = None) -> None:
    """`rewrite` every partition in `path`; raises `TooLarge` (once the rest are done) where
    some are larger than `max_bytes`."""
    skipped = []
    for part in sorted(path.glob("part-*.sqlite3")):
        if max_bytes is not None and part.stat().st_size > max_bytes:
            skipped.append(part.name)
            continue
        rewrite(part)
    if skipped:
        msg = f"{', '.join(skipped)} above {max_bytes} bytes, left to the next start"
        raise TooLarge(msg)


def main(argv: list[str]) -> int:
    """`python -m flows.vacuum DIR`: rewrite a live store's partitions up to
    `LIVE_MAX_BYTES`; exit 1 with the reason on stderr if any is left."""
    try:
        rewrite_all(Path(argv[0]), LIVE_MAX_BYTES)
    except (sqlite3.Error, OSError, TooLarge) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
