#!/usr/bin/env bash
# Run the whole test suite. Starts a local Apache Kafka broker for the Kafka tests (see
# scripts/kafka.sh) unless JOURNEY_TEST_BROKERS already points at one, and stops it after;
# fetches Debian's Prometheus server for the metrics tests (scripts/prometheus.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PY="$root/.venv/bin/python"
started=0
# Set before the broker starts: a broker that misses its readiness window (kafka.sh exits 1
# under `set -e`) or a run interrupted at any point is still stopped.
cleanup() { if [[ $started == 1 ]]; then bash scripts/kafka.sh stop || true; fi; }
trap cleanup EXIT
if [[ -z "${JOURNEY_TEST_BROKERS:-}" && -f scripts/kafka.sh ]]; then
  started=1
  PYTHON="$PY" bash scripts/kafka.sh start
  export JOURNEY_TEST_BROKERS="127.0.0.1:${KAFKA_PORT:-19092}"
fi
if [[ -z "${JOURNEY_TEST_PROMETHEUS_BIN:-}" ]]; then
  JOURNEY_TEST_PROMETHEUS_BIN="$(bash scripts/prometheus.sh fetch)"
  export JOURNEY_TEST_PROMETHEUS_BIN
fi
"$PY" -m ruff check flows engine features bench tests
"$PY" -m pytest "$@"
