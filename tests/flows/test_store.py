"""The recovery store: a deleted snapshot's bytes leave the file, also while a flow holds it
(the live scrub); a deleted store is not silently re-created (flows.store)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import orjson
import pytest
from bytewax.recovery import init_db_dir
from prometheus_client import REGISTRY

from features.errors import RecoveryError
from flows.store import MARKER, LiveScrub, init_store, scrub, scrub_live

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


def _scrubs(result: str) -> float:
    return REGISTRY.get_sample_value("journey_store_scrubs_total", {"result": result}) or 0.0


def test_a_live_scrub_clears_a_deleted_row_while_a_writer_holds_the_store(tmp_path):
    """As bytewax while the flow runs: one connection in WAL mode (5 s busy timeout, no
    secure_delete) keeps the store open and commits small rows; `scrub_live` rewrites the
    partition from its own process between those commits."""
    db = tmp_path / "db"
    init_store(db)
    con = sqlite3.connect(_part(db), timeout=5.0, isolation_level=None,
                          check_same_thread=False)
    con.execute("PRAGMA secure_delete = OFF")
    con.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
    con.execute("CREATE TABLE w (k TEXT PRIMARY KEY, v BLOB)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [
        ("a", b"x" * 100), ("gone", SECRET * 4), ("b", b"y" * 100)])
    con.execute("DELETE FROM t WHERE k = 'gone'")
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert _holds_secret(db)  # in the WAL's frames and the free space of a page in use
    stop, written, errors = threading.Event(), [], []

    def write() -> None:  # other keys' rows, in other pages
        while not stop.is_set():
            key = f"w{len(written)}"
            try:
                con.execute("INSERT INTO w VALUES (?, ?)", (key, b"w" * 50))
                written.append(key)
            except sqlite3.Error as e:
                errors.append(e)
            time.sleep(0.001)

    writer = threading.Thread(target=write)
    writer.start()
    ok = _scrubs("ok")
    try:
        while len(written) < 20:
            time.sleep(0.01)
        assert scrub_live(db)
        during = len(written)
        while len(written) < during + 20:  # the writer goes on after the scrub
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert _scrubs("ok") == ok + 1
    assert not _holds_secret(db)  # database, WAL and shm, with the writer still connected
    assert [k for (k,) in con.execute("SELECT k FROM t ORDER BY rowid")] == ["a", "b"]
    assert [k for (k,) in con.execute("SELECT k FROM w ORDER BY rowid")] == written
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


def test_a_failed_live_scrub_is_counted_not_raised(tmp_path):
    db = tmp_path / "db"
    init_store(db)
    _part(db).write_bytes(b"not a database" * 100)
    failed = _scrubs("failed")
    assert not scrub_live(db)
    assert _scrubs("failed") == failed + 1


def test_erasures_close_together_share_one_scrub_and_a_later_one_gets_its_own(tmp_path):
    delay = 0.6  # well above the 0.1 s between erasures, so a loaded machine keeps them close
    runs: list[float] = []
    scrubs = LiveScrub(tmp_path, delay, lambda _path: runs.append(time.monotonic())).start()

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 10
        while len(runs) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    try:
        first = time.monotonic()
        for _ in range(3):
            last = time.monotonic()  # read before `due`, which reads the clock after it
            scrubs.due()
            time.sleep(0.1)
        wait_for(1)
        time.sleep(0.5)
        # one, after the last of the three (or at the cap, should a loaded machine spread them)
        assert len(runs) == 1 and runs[0] >= min(last + delay, first + 2 * delay)
        later = time.monotonic()
        scrubs.due()
        wait_for(2)
        time.sleep(0.5)
    finally:
        scrubs.stop()
    assert len(runs) == 2 and runs[1] >= later + delay
    assert not scrubs._thread.is_alive()
