"""Output sinks for `(key, json line)` items: JSONL files and standard streams."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TextIO

from bytewax.connectors.files import FileSink
from bytewax.outputs import DynamicSink, StatelessSinkPartition

__all__ = ["LineSink", "jsonl_sink"]

_WRITE_LOCK = threading.Lock()


def jsonl_sink(path: str | Path) -> FileSink:
    """bytewax's file sink: one partition, resumable (it truncates to the last snapshot)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return FileSink(p)


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
