#!/usr/bin/env bash
# OpenTelemetry export, end to end: a `pulse` built with `--features otel`
# sends one span per RPC, named after the method and carrying its gRPC
# status code, to an OTLP collector (a fake one, in Python).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c "import grpc, opentelemetry.proto" 2>/dev/null \
  || python3 -m pip install --quiet grpcio opentelemetry-proto
cargo build --quiet --features otel
bin=target/debug/pulse
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
collector=127.0.0.1:$(port)
addr=127.0.0.1:$(port)
python3 tests/otel/fake_collector.py "$collector" 60 > "$work/spans.txt" &
for _ in $(seq 1 100); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "${collector#*:}" 2>/dev/null && break
  sleep 0.1
done
"$bin" serve --otlp-endpoint "http://$collector" --listen "$addr" \
  --database-url "sqlite://$work/p.db?mode=rwc" > "$work/out.txt" 2> "$work/err.txt" &
server=$!
for _ in $(seq 1 100); do grep -q 'ak_' "$work/out.txt" 2>/dev/null && break; sleep 0.1; done
export PULSE_ADDR=http://$addr PULSE_ADMIN_TOKEN=$(grep -o 'ak_[A-Za-z0-9]*' "$work/out.txt")
"$bin" env create Production > /dev/null
! "$bin" env get env_missing 2> /dev/null
kill -TERM "$server"; wait "$server"   # flushes the batch exporter
for _ in $(seq 1 50); do grep -q GetEnvironment "$work/spans.txt" && break; sleep 0.1; done
cat "$work/spans.txt"; grep -iE "warn|error" "$work/err.txt" || true
grep -qx '/pulse.v1.EnvironmentService/CreateEnvironment 0' "$work/spans.txt"
grep -qx '/pulse.v1.EnvironmentService/GetEnvironment 5' "$work/spans.txt"
echo "otel: spans exported with method names and status codes"
