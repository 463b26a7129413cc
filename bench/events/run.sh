#!/usr/bin/env bash
# Vscan events at volume: COUNT events in one SVM's table, then filtered, ordered, paged
# queries through the real REST API, each timed over REPEAT runs (median and max).
# Usage: bench/events/run.sh [COUNT=1000000] [REPEAT=20]
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-1000000}
REPEAT=${2:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --bin vigil -p vigil --example events_fill
BIN=$CARGO_TARGET_DIR/release/vigil
DIR=$PWD/bench/out/events
rm -rf "$DIR"; mkdir -p "$DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() {
  VIGIL_ADMIN_PASSWORD=Bench-Pass-1 "$BIN" serve --data-dir "$DIR/data" --listen "http://127.0.0.1:$PORT" \
    --scanner-listen off --scanner-socket off > "$DIR/vigil.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/cluster" && return; sleep 0.1; done
  echo "vigil did not start"; cat "$DIR/vigil.log"; exit 1
}
C=(curl -s -u admin:Bench-Pass-1)
start
SVM=$("${C[@]}" -X POST "http://127.0.0.1:$PORT/api/svm/svms?return_timeout=30" -d '{"name":"bench"}' -D - -o /dev/null \
  | sed -n 's/^[Ll]ocation: .*\/\([0-9a-f-]*\)\r$/\1/p')
kill $PID; wait $PID || true
"$CARGO_TARGET_DIR/release/examples/events_fill" "$DIR/data" "$SVM" "$COUNT"
start
SINCE=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $COUNT events"
for Q in \
  "max_records=20" \
  "type=file_infected&max_records=20" \
  "type=file_infected&event_time=%3E=$SINCE&order_by=event_time%20desc&max_records=20&fields=*" \
  "type=scan_failed%7Cscan_timedout&order_by=event_time%20asc&max_records=50&offset=1000" \
  "type=file_infected&event_time=%3E=$SINCE&server=10.0.1*&max_records=20" \
  "server=10.0.1*&max_records=20" \
  "file_path=/no/such/*&max_records=20" \
  "file_path=/no/such/*&order_by=type&max_records=20"; do
  TIMES=()
  for _ in $(seq "$REPEAT"); do
    TIMES+=("$("${C[@]}" -o "$DIR/out.json" -w '%{time_total}' "http://127.0.0.1:$PORT/api/protocols/vscan/$SVM/events?$Q")")
  done
  N=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["num_records"])' "$DIR/out.json")
  python3 - "$Q" "$N" "${TIMES[@]}" <<'PY'
import statistics, sys
q, n, t = sys.argv[1], sys.argv[2], [float(x) * 1000 for x in sys.argv[3:]]
print(f"{statistics.median(t):8.1f} ms median {max(t):8.1f} ms max  {n:>3} records  {q}")
PY
done
kill $PID; wait $PID || true
rm -rf "$DIR"
