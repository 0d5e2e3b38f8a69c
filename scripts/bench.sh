#!/usr/bin/env bash
# Run the benchmarks with a local Kafka broker for the round-trip benchmark.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PY="$root/.venv/bin/python"
started=0
if [[ -z "${JOURNEY_BENCH_BROKERS:-}" ]]; then
  PYTHON="$PY" bash scripts/kafka.sh start
  started=1
  export JOURNEY_BENCH_BROKERS="127.0.0.1:${KAFKA_PORT:-19092}"
fi
cleanup() { if [[ $started == 1 ]]; then bash scripts/kafka.sh stop || true; fi; }
trap cleanup EXIT
"$PY" -m bench "$@"
