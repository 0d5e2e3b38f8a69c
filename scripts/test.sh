#!/usr/bin/env bash
# Run the whole test suite. Starts a local Apache Kafka broker for the Kafka tests (see
# scripts/kafka.sh) unless JOURNEY_TEST_BROKERS already points at one, and stops it after;
# fetches Debian's Prometheus server for the metrics tests (scripts/prometheus.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PY="$root/.venv/bin/python"
started=0
if [[ -z "${JOURNEY_TEST_BROKERS:-}" && -f scripts/kafka.sh ]]; then
  PYTHON="$PY" bash scripts/kafka.sh start
  started=1
  export JOURNEY_TEST_BROKERS="127.0.0.1:${KAFKA_PORT:-19092}"
fi
if [[ -z "${JOURNEY_TEST_PROMETHEUS_BIN:-}" ]]; then
  JOURNEY_TEST_PROMETHEUS_BIN="$(bash scripts/prometheus.sh fetch)"
  export JOURNEY_TEST_PROMETHEUS_BIN
fi
cleanup() { if [[ $started == 1 ]]; then bash scripts/kafka.sh stop || true; fi; }
trap cleanup EXIT
"$PY" -m ruff check flows engine features bench tests
"$PY" -m pytest "$@"
