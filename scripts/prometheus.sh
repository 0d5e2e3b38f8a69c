#!/usr/bin/env bash
# Debian's Prometheus server and promtool, for the metrics tests: no Docker, no root install.
#
#   scripts/prometheus.sh fetch   # prints the directory holding `prometheus` and `promtool`
#
# Uses binaries on PATH when both exist; otherwise unpacks Debian's `prometheus` package
# (apt-get download + dpkg-deb -x) into .cache/prometheus.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/prometheus"
bin="$dest/usr/bin"

fetch() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    dirname "$(command -v prometheus)"; return 0
  fi
  if [[ -x "$bin/prometheus" && -x "$bin/promtool" ]]; then echo "$bin"; return 0; fi
  command -v apt-get >/dev/null || { echo "prometheus.sh: needs apt-get (Debian/Ubuntu) or prometheus on PATH" >&2; exit 1; }
  local tmp; tmp="$(mktemp -d)"
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || {
      echo "prometheus.sh: apt-get download prometheus failed" >&2; rm -rf "$tmp"; exit 1; }
  fi
  rm -rf "$dest" && mkdir -p "$dest"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$dest"
  rm -rf "$tmp"
  echo "$bin"
}

case "${1:-fetch}" in
  fetch) fetch ;;
  *) echo "usage: $0 fetch" >&2; exit 2 ;;
esac
