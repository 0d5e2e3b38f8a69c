"""The JSONL file sink on resume: truncated to the snapshot, never padded with NUL bytes."""

from __future__ import annotations

from pathlib import Path

from flows.sinks import jsonl_sink


def test_resume_truncates_to_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    sink = jsonl_sink(path)
    part = sink.build_part("write", str(path), None)
    part.write_batch(["a", "b"])
    offset = part.snapshot()
    part.write_batch(["after the snapshot"])
    part.close()
    part = sink.build_part("write", str(path), offset)
    part.write_batch(["c"])
    part.close()
    assert path.read_text() == "a\nb\nc\n"


def test_a_deleted_file_is_rewritten_from_empty_not_padded(tmp_path: Path) -> None:
    """bytewax's FileSink seeks to the snapshot offset in the new, empty file and truncates
    there: megabytes of NUL bytes before the first new line."""
    path = tmp_path / "out" / "decisions.jsonl"
    sink = jsonl_sink(path)
    part = sink.build_part("write", str(path), None)
    part.write_batch(["x" * 1000] * 2000)
    offset = part.snapshot()
    part.close()
    path.unlink()
    part = sink.build_part("write", str(path), offset)
    part.write_batch(["new"])
    part.close()
    assert path.read_bytes() == b"new\n"
