"""`journey replay` over hostile files: a non-UTF-8 byte is one dead letter, not a crash (also
on resume from `--recovery-dir`), and gzip-compressed files are read as such."""

from __future__ import annotations

import base64
import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from flows.sources import MAX_LINE, jsonl_source

ROOT = Path(__file__).resolve().parents[2]
POISON = b'{"type": "page", "userId": "p\xff\xfe", "timestamp": "2026-03-02T10:00:00Z"}'


def _lines(make_event: Any, users: list[str], minute: int) -> list[bytes]:
    return [orjson.dumps(make_event("page", "Home", user=u, minute=minute + i,
                                    properties={"placement": "home_hero"}))
            for i, u in enumerate(users)]


def _replay(src: Path, tmp: Path, *extra: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "replay", str(src), "--out", str(tmp / "d.jsonl"),
         "--dead-letters", str(tmp / "dl.jsonl"), "--metrics-port", "0", "--no-progress",
         *extra], cwd=ROOT, capture_output=True, timeout=180)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err[-3000:]
    return orjson.loads(err[err.index("{"):])


def _dead(tmp: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in (tmp / "dl.jsonl").read_bytes().splitlines()]


@pytest.mark.parametrize("compress", [False, True])
def test_a_non_utf8_line_is_dead_lettered_and_the_replay_goes_on(tmp_path, make_event,
                                                                 compress):
    lines = [*_lines(make_event, ["u1", "u2"], 0), POISON, *_lines(make_event, ["u3"], 5)]
    data = b"\n".join(lines) + b"\n"
    src = tmp_path / ("events.jsonl.gz" if compress else "events.jsonl")
    src.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    summary = _replay(src, tmp_path)
    assert (summary["events"], summary["dead_letters"]) == (3, 1)
    [dead] = _dead(tmp_path)
    assert dead["reason"] == "invalid_utf8" and dead["origin"] == str(src)
    assert base64.b64decode(dead["payload_b64"]) == POISON  # the line, byte for byte
    customers = {orjson.loads(x)["customer_id"]
                 for x in (tmp_path / "d.jsonl").read_text().splitlines()}
    assert customers == {"u1", "u2", "u3"}  # the line after the poison was decided too


def test_resume_from_the_recovery_dir_reads_past_a_poison_line(tmp_path, make_event):
    src, rec = tmp_path / "events.jsonl", tmp_path / "recovery"
    src.write_bytes(b"\n".join(_lines(make_event, ["u1", "u2"], 0)) + b"\n")
    first = _replay(src, tmp_path, "--recovery-dir", str(rec))
    assert (first["events"], first["dead_letters"]) == (2, 0)
    # more traffic lands in the file, starting with a poison line: the resume starts there
    with src.open("ab") as f:
        f.write(POISON + b"\n" + b"\n".join(_lines(make_event, ["u3", "u4"], 10)) + b"\n")
    second = _replay(src, tmp_path, "--recovery-dir", str(rec))
    assert (second["events"], second["dead_letters"]) == (2, 1)
    assert [d["reason"] for d in _dead(tmp_path)] == ["invalid_utf8"]
    third = _replay(src, tmp_path, "--recovery-dir", str(rec))  # nothing new: nothing redone
    assert (third["events"], third["dead_letters"]) == (0, 0)


def _read_all(src: Path, batch: int = 2) -> list[bytes]:
    part = jsonl_source(src, batch).build_part("read", "p", None)
    out: list[bytes] = []
    try:
        while True:
            out += [r.payload for r in part.next_batch()]
    except StopIteration:
        pass
    finally:
        part.close()
    return out


def test_the_source_yields_raw_lines_and_resumes_at_its_offset(tmp_path):
    src = tmp_path / "e.jsonl"
    src.write_bytes(b"a\n\xff\n\ncrlf\r\n" + b"x" * (MAX_LINE + 10) + b"\nlast")
    got = _read_all(src)
    assert got[:4] == [b"a", b"\xff", b"", b"crlf\r"]
    assert len(got[4]) == MAX_LINE and got[5:] == [b"last"]  # an endless line is cut, skipped
    part = jsonl_source(src, 2).build_part("read", "p", None)
    assert [r.payload for r in part.next_batch()] == [b"a", b"\xff"]
    offset = part.snapshot()
    part.close()
    assert offset == 4
    resumed = jsonl_source(src, 2).build_part("read", "p", offset)
    assert [r.payload for r in resumed.next_batch()] == [b"", b"crlf\r"]
    resumed.close()


def test_gzip_is_recognised_by_its_bytes_and_resumes_by_uncompressed_offset(tmp_path):
    src = tmp_path / "no-suffix"
    src.write_bytes(gzip.compress(b"one\ntwo\nthree\n", mtime=0))
    assert _read_all(src) == [b"one", b"two", b"three"]
    part = jsonl_source(src, 1).build_part("read", "p", None)
    part.next_batch()
    assert part.snapshot() == 4
    part.close()
    resumed = jsonl_source(src, 5).build_part("read", "p", 4)
    assert [r.payload for r in resumed.next_batch()] == [b"two", b"three"]
    resumed.close()
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(gzip.compress(b"line\n" * 5000, mtime=0)[:-20])
    with pytest.raises(Exception, match="truncated or corrupt gzip"):
        _read_all(truncated, 10_000)
