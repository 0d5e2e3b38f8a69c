#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker+controller) on 127.0.0.1, from
# Maven Central jars cached in .cache/kafka/libs. No Docker needed.
#
#   scripts/kafka.sh fetch | start | stop | restart | status
#
# Environment: KAFKA_PORT (default 19092; the controller uses KAFKA_PORT+1),
# KAFKA_DATA_DIR (default .cache/kafka/run), PYTHON (for the readiness probe),
# KAFKA_READY_TIMEOUT (seconds the broker gets to answer, default 90). A broker that misses
# its readiness window, or a start interrupted while waiting, is stopped: never left behind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
libs="$root/.cache/kafka/libs"
port="${KAFKA_PORT:-19092}"
cport=$((port + 1))
data="${KAFKA_DATA_DIR:-$root/.cache/kafka/run}"
pidfile="$data/broker.pid"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
stamp="$libs/.fetched-$(sha1sum "$root/scripts/kafka/pom.xml" | cut -c1-12)"

fetch() {
  [[ -f "$stamp" ]] && return 0
  command -v java >/dev/null || { echo "kafka.sh: java (17+) is needed" >&2; exit 1; }
  command -v mvn >/dev/null || { echo "kafka.sh: maven is needed to fetch the broker" >&2; exit 1; }
  rm -rf "$libs" && mkdir -p "$libs"
  mvn -B -q -f "$root/scripts/kafka/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  touch "$stamp"
}

ready() {
  "$PYTHON" - "$port" <<'PY'
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{sys.argv[1]}"})
admin.list_topics(timeout=2)
PY
}

status() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && ready 2>/dev/null; }

start() {
  fetch
  if status; then echo "KAFKA_BROKERS=127.0.0.1:$port"; return 0; fi
  stop >/dev/null 2>&1 || true
  mkdir -p "$data/logs"
  cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data/logs
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=33554432
PROPS
  local cp="$libs/*"
  local id
  local log="-Dlog4j.configuration=file:$root/scripts/kafka/log4j.properties -Dkafka.logs.dir=$data"
  id=$(java $log -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  java $log -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$data/server.properties" >/dev/null
  launch
}

launch() {
  local cp="$libs/*"
  if ready 2>/dev/null; then  # someone else's broker: its answers would pass for ours
    echo "kafka.sh: a Kafka broker that is not this one already answers on 127.0.0.1:$port;" \
      "set KAFKA_PORT to a free port" >&2
    exit 1
  fi
  local KAFKA_HEAP="-Xmx512m -Xms128m"
  nohup setsid java $KAFKA_HEAP -XX:+UseSerialGC -Dkafka.logs.dir="$data" \
    -Dlog4j.configuration="file:$root/scripts/kafka/log4j.properties" \
    -cp "$cp" kafka.Kafka "$data/server.properties" >"$data/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  trap 'halt; exit 130' INT TERM
  local deadline=$((SECONDS + ${KAFKA_READY_TIMEOUT:-90}))
  while (( SECONDS < deadline )); do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
    if ready 2>/dev/null; then
      trap - INT TERM
      echo "KAFKA_BROKERS=127.0.0.1:$port"
      return 0
    fi
    sleep 0.5
  done
  trap - INT TERM
  echo "kafka.sh: broker did not become ready on 127.0.0.1:$port; stopping it" >&2
  tail -n 30 "$data/stdout.log" "$data/broker.log" >&2 2>/dev/null || true
  halt
  exit 1
}

halt() {
  if [[ -f "$pidfile" ]]; then
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
}

# A broker outage: stop the process, keep its data, start it again on the same log dirs.
restart() { halt; launch; }

stop() { halt; rm -rf "$data"; }

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  status) status ;;
  *) echo "usage: $0 fetch|start|stop|restart|status" >&2; exit 2 ;;
esac
