"""The recovery store: a deleted snapshot's bytes leave the file; a deleted store is not
silently re-created (flows.store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from bytewax.recovery import init_db_dir

from features.errors import RecoveryError
from flows.store import MARKER, init_store, scrub

SECRET = b"u-secret-4711:"


def _write_and_delete(part: Path, table: str, rows: dict[str, bytes], gone: str) -> None:
    """Write rows, then delete one, as bytewax's connection does: without secure_delete
    (Python's own SQLite build turns it on by default; bytewax's does not)."""
    con = sqlite3.connect(part)
    con.execute("PRAGMA secure_delete = OFF")
    con.execute(f"CREATE TABLE {table} (k TEXT PRIMARY KEY, v BLOB)")
    con.executemany(f"INSERT INTO {table} VALUES (?, ?)", list(rows.items()))
    con.commit()
    con.execute(f"DELETE FROM {table} WHERE k = ?", (gone,))
    con.commit()
    con.close()


def _holds_secret(db: Path) -> bool:
    return any(SECRET in f.read_bytes() for f in db.iterdir())


def _part(db: Path) -> Path:
    [part] = db.glob("part-*.sqlite3")
    return part


def test_a_page_sized_snapshot_leaves_the_file_with_its_page_while_running(tmp_path):
    """Most customer states pickle to a few KB, one row per page: deleting the row frees
    the page, and full auto-vacuum drops it from the file at the commit."""
    db = tmp_path / "db"
    init_store(db)
    rows = {f"k{i}": bytes([i]) * 3900 for i in range(12)}
    rows["gone"] = SECRET * 278  # 3892 bytes
    _write_and_delete(_part(db), "t", rows, "gone")
    assert not _holds_secret(db)


def test_a_small_snapshot_sharing_a_page_is_gone_after_a_scrub(tmp_path):
    db = tmp_path / "db"
    init_store(db)
    _write_and_delete(_part(db), "t", {"keep": b"x" * 100, "gone": SECRET * 4}, "gone")
    assert _holds_secret(db)  # in the free space of a page still in use ...
    scrub(db)  # ... until the store is rewritten (at start and after a clean stop)
    assert not _holds_secret(db)
    con = sqlite3.connect(_part(db))
    assert con.execute("SELECT k FROM t").fetchall() == [("keep",)]
    con.close()


def test_a_plain_bytewax_store_keeps_deleted_bytes_until_converted(tmp_path):
    db = tmp_path / "plain"
    db.mkdir()
    init_db_dir(db, 1)
    _write_and_delete(_part(db), "t", {"gone": SECRET * 600}, "gone")
    assert _holds_secret(db)  # what bytewax's own store does: the bytes stay
    init_store(db)  # an existing store is converted ...
    assert not _holds_secret(db)
    con = sqlite3.connect(_part(db))
    assert con.execute("PRAGMA auto_vacuum").fetchone()[0] == 1  # ... and stays so
    con.close()


def test_reset_never_touches_an_intact_store_and_an_old_store_is_adopted(tmp_path):
    db = tmp_path / "old"
    db.mkdir()
    init_db_dir(db, 1)  # a store from before the marker
    _write_and_delete(_part(db), "t", {"keep": b"x", "gone": b"y"}, "gone")
    init_store(db, reset=True)
    assert orjson.loads((db / MARKER).read_bytes())["partitions"] == 1
    con = sqlite3.connect(_part(db))
    assert con.execute("SELECT k FROM t").fetchall() == [("keep",)]
    con.close()
    _part(db).unlink()
    with pytest.raises(RecoveryError, match="--recovery-reset"):
        init_store(db)
    init_store(db, reset=True)
    con = sqlite3.connect(_part(db))
    assert con.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall() == []
    con.close()
