"""Output sinks for `(key, json line)` items: JSONL files and standard streams."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TextIO

from bytewax.connectors.files import FileSink
from bytewax.outputs import DynamicSink, StatefulSinkPartition, StatelessSinkPartition

__all__ = ["JsonlSink", "LineSink", "jsonl_sink"]

log = logging.getLogger(__name__)

_WRITE_LOCK = threading.Lock()


class _JsonlPartition(StatefulSinkPartition[str, int]):
    """bytewax's file sink partition, but a file shorter than the snapshot's offset (deleted
    or truncated by someone) is appended to, never padded up to the offset with NUL bytes."""

    def __init__(self, path: Path, resume_state: int | None, end: str) -> None:
        self._end = end
        offset = resume_state or 0
        size = path.stat().st_size if path.exists() else 0
        if offset > size:
            log.warning("%s is %d bytes, shorter than the %d it had at the last snapshot "
                        "(deleted or truncated?): appending from its end", path, size, offset)
            offset = size
        self._f = path.open("a")
        self._f.seek(offset)
        self._f.truncate()

    def write_batch(self, values: list[str]) -> None:
        for value in values:
            self._f.write(value)
            self._f.write(self._end)
        self._f.flush()
        os.fsync(self._f.fileno())

    def snapshot(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()


class JsonlSink(FileSink):
    """bytewax's `FileSink` (one partition, truncated to the last snapshot on resume) that
    survives its file being deleted between runs."""

    def build_part(self, step_id: str, for_part: str,
                   resume_state: int | None) -> _JsonlPartition:
        return _JsonlPartition(self._path, resume_state, self._end)


def jsonl_sink(path: str | Path) -> JsonlSink:
    """A resumable JSONL file sink (see `JsonlSink`)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return JsonlSink(p)


class _LinePartition(StatelessSinkPartition[tuple[str, str]]):
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write_batch(self, items: list[tuple[str, str]]) -> None:
        text = "".join(line + "\n" for _, line in items)
        with _WRITE_LOCK:
            self.stream.write(text)
            self.stream.flush()


class LineSink(DynamicSink[tuple[str, str]]):
    """Writes the line of each `(key, line)` item to a text stream (stdout, stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LinePartition:
        return _LinePartition(self.stream)
