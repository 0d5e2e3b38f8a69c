"""The hashing secret: any length, never empty, the public default flagged outside demos."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from features.errors import ConfigError
from features.identity import customer_key
from flows.cli import _warn_dev_secret, main
from flows.settings import DEV_SECRET, Settings

LONG = ("ab" * 64).encode()  # `openssl rand -hex 64`: 128 bytes


def test_a_secret_up_to_64_bytes_keys_blake2b_as_before() -> None:
    for secret in (b"k", DEV_SECRET.encode(), b"x" * 64):
        expected = hashlib.blake2b(b"u:1", key=secret, digest_size=12).hexdigest()
        assert customer_key("u:1", secret) == expected  # existing state keys stay valid


def test_a_longer_secret_is_derived_and_still_keys_the_hash() -> None:
    k = customer_key("u:1", LONG)
    assert k == customer_key("u:1", LONG) and len(k) == 24
    assert k != customer_key("u:1", LONG[:64]) != customer_key("u:1", LONG + b"0")
    assert k != hashlib.blake2b(b"u:1", digest_size=12).hexdigest()


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="JOURNEY_SECRET"):
        Settings.from_env({"JOURNEY_SECRET": ""})
    with pytest.raises(ValueError, match="empty"):
        customer_key("u:1", b"")


def test_the_default_secret_is_flagged_outside_demo_runs(
        capsys: pytest.CaptureFixture[str]) -> None:
    for command, source in (("run", "simulator"), ("replay", "jsonl"), ("run", "jsonl")):
        _warn_dev_secret(Settings(source=source), command)
        assert capsys.readouterr().err == ""
    _warn_dev_secret(Settings(source="kafka", secret="s3cr3t"), "run")
    assert capsys.readouterr().err == ""
    for command, source in (("run", "kafka"), ("run", "collector"), ("collect", "simulator"),
                            ("forget", "simulator")):
        _warn_dev_secret(Settings(source=source), command)
        assert "WARNING" in capsys.readouterr().err
    assert main(["collect"]) == 2  # no brokers: refused, after the warning
    err = capsys.readouterr().err
    assert "WARNING" in err and "JOURNEY_SECRET" in err


def test_a_run_with_a_128_byte_secret_makes_decisions(tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--events", "400", "--customers", "20",
         "--secret", LONG.decode(), "--metrics-port", "0", "--no-progress", "--out", str(out),
         "--dead-letters", str(tmp_path / "dead.jsonl")],
        capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 0, proc.stderr.decode()
    assert [orjson.loads(line) for line in out.read_text().splitlines()]
