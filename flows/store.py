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
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bytewax.recovery import init_db_dir

__all__ = ["init_store", "scrub"]


def init_store(path: Path, partitions: int = 1) -> None:
    """Create a recovery directory with `partitions` partitions if it has none; `scrub` it."""
    if not any(path.glob("part-*.sqlite3")):
        path.mkdir(parents=True, exist_ok=True)
        init_db_dir(path, partitions)
    scrub(path)


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
