#!/usr/bin/env bash
# On-demand runs through the REST API (PATCH .../on-demand-policies/{name}?action=run) over
# the generated benchmark tree, against the peers on the same tree in the same run:
#   embedded engine (pool on Vigil's own socket, scanned in-process) vs `yr scan -r`;
#   pool on a real clamd (FILDES through the dispatcher) vs `clamdscan --multiscan --fdpass`;
#   each run again with the scan cache warm vs clamd's own warm rescan.
# Usage: [VIGIL=BINARY] bench/ondemand/run.sh [FILES=10000] [TOTAL_MB=500]
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=${1:-10000}
TOTAL_MB=${2:-500}
YARA_X_VERSION=1.22.1 # keep equal to the yara-x pin in crates/scan/Cargo.toml
OUT=$PWD/bench/out/ondemand
NS=$OUT/ns
TREE=$NS/tree
RUN=$OUT/run
THREADS=$(nproc)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$OUT" "$RUN" "$NS/reports"
# VIGIL=path/to/vigil compares another build (say, the previous commit's) on the same tree.
if [ -z "${VIGIL:-}" ]; then
  cargo build --release --bin vigil
  VIGIL=$CARGO_TARGET_DIR/release/vigil
fi
YR=$PWD/bench/out/yr/bin/yr
[ -x "$YR" ] || cargo install yara-x-cli --version "$YARA_X_VERSION" --locked --root "$PWD/bench/out/yr"
[ -f "$TREE/planted.txt" ] || python3 bench/scan/gen_tree.py "$TREE" "$FILES" "$TOTAL_MB"
PLANTED=$(wc -l < "$TREE/planted.txt")
RULES=$PWD/crates/scan/rules/default.yar

DB=$RUN/clamd-db
mkdir -p "$DB"
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
{
  echo "Vigil.Test.EICAR:0:*:$(hexof 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')"
  echo "Vigil.Test.GTUBE:0:*:$(hexof 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X')"
} > "$DB/bench.ndb"
grep -v '^#' crates/scan/rules/default.hdb > "$DB/bench.hdb"
cat > "$RUN/clamd.conf" <<CONF
DatabaseDirectory $DB
LocalSocket $RUN/clamd.sock
Foreground yes
LogFile $RUN/clamd.log
User root
CONF
rm -rf "$RUN/clamd.sock" "$RUN/data"
cleanup() {
  [ -n "${VIGIL_PID:-}" ] && kill "$VIGIL_PID" 2>/dev/null || true
  [ -n "${CLAMD_PID:-}" ] && kill "$CLAMD_PID" 2>/dev/null || true
}
trap cleanup EXIT
clamd -c "$RUN/clamd.conf" > /dev/null 2>&1 &
CLAMD_PID=$!
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
VIGIL_ADMIN_PASSWORD=Bench-Pass-1 "$VIGIL" serve --data-dir "$RUN/data" --listen "http://127.0.0.1:$PORT" \
  --scanner-listen off --vscan-check-interval-ms 500 > "$RUN/vigil.log" 2>&1 &
VIGIL_PID=$!
for _ in $(seq 600); do [ -S "$RUN/clamd.sock" ] && [ -S "$RUN/data/scanner.sock" ] && break; sleep 0.1; done
API=http://127.0.0.1:$PORT/api
C=(curl -sS -u admin:Bench-Pass-1)
# The scanner socket can appear before the REST listener does (a loaded machine).
for _ in $(seq 600); do "${C[@]}" -o /dev/null "$API/cluster" 2>/dev/null && break; sleep 0.1; done
SVM=$("${C[@]}" -X POST "$API/svm/svms?return_timeout=60" -d "{\"name\":\"bench\",\"root_path\":\"$NS\"}" -D - -o /dev/null \
  | sed -n 's/^[Ll]ocation: .*\/\([0-9a-f-]*\)\r$/\1/p')
VSCAN_REPLY=$("${C[@]}" -X POST "$API/protocols/vscan" -d "{\"svm\":{\"uuid\":\"$SVM\"},
  \"scanner_pools\":[{\"name\":\"p\",\"servers\":[\"unix://$RUN/data/scanner.sock\"],\"privileged_users\":[\"d\\\\u\"]}],
  \"on_demand_policies\":[{\"name\":\"bench\",\"log_path\":\"/reports\",\"scan_paths\":[\"/tree\"]}]}")
[ "$VSCAN_REPLY" = "{}" ] || { echo "Vscan configuration failed: $VSCAN_REPLY (SVM $SVM)"; exit 1; }
connected() { # waits until the pool's server is seen connected
  for _ in $(seq 200); do
    "${C[@]}" "$API/protocols/vscan/server-status?fields=state,server" | python3 -c '
import json, sys
sys.exit(0 if any(r["server"] == sys.argv[1] and r["state"] == "connected" for r in json.load(sys.stdin)["records"]) else 1)' "$1" && return
    sleep 0.1
  done
  echo "server $1 never connected"; exit 1
}
declare -A SECONDS_OF MESSAGE_OF
run_policy() { # name
  # Timed: the request that starts the run and, with return_timeout, answers when its
  # job has ended (curl's own total time, so no shell or parser start-up is counted).
  local reply job seconds
  reply=$("${C[@]}" -w '\n%{time_total}' -X PATCH "$API/protocols/vscan/$SVM/on-demand-policies/bench?action=run&return_timeout=120")
  seconds=${reply##*$'\n'}
  reply=${reply%$'\n'*}
  job=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["job"]["_links"]["self"]["href"])' "$reply") \
    || { echo "run failed: $reply"; exit 1; }
  if ! "${C[@]}" "http://127.0.0.1:$PORT$job?fields=state" | grep -q '"state":"\(success\|failure\)"'; then
    # return_timeout is at most 120 s (ONTAP's bound): a longer run is polled to its end
    # and timed from the shell.
    local start end
    start=$(date +%s.%N)
    until "${C[@]}" "http://127.0.0.1:$PORT$job?fields=state" | grep -q '"state":"\(success\|failure\)"'; do
      sleep 0.05
    done
    end=$(date +%s.%N)
    seconds=$(echo "$seconds + $end - $start" | bc -l)
  fi
  SECONDS_OF[$1]=$seconds
  MESSAGE_OF[$1]=$("${C[@]}" "http://127.0.0.1:$PORT$job?fields=message" | python3 -c 'import json,sys; print(json.load(sys.stdin)["message"])')
}
measure() { # name, command...
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$RUN/$name.out" 2> "$RUN/$name.err" || true
  end=$(date +%s.%N)
  SECONDS_OF[$name]=$(echo "$end - $start" | bc -l)
}
# Warm the page cache so every tool reads from memory.
find "$TREE" -type f -print0 | xargs -0 -P "$THREADS" -n 256 cat > /dev/null
COUNT=$(find "$TREE" -type f ! -name planted.txt | wc -l)
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $THREADS CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); tree: $COUNT files, $TOTAL_MB MB, $PLANTED planted"

connected "unix://$RUN/data/scanner.sock"
# CPU time Vigil spends on the first run (user + system, in clock ticks): steadier than
# wall time on a machine shared with other work.
# The server and its scan-worker processes (process isolation scans in children).
cpu_ticks() {
  local ticks=0 pid
  for pid in "$VIGIL_PID" $(pgrep -P "$VIGIL_PID" || true); do
    ticks=$((ticks + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$ticks"
}
TICKS_BEFORE=$(cpu_ticks)
run_policy embedded
VIGIL_CPU=$(echo "($(cpu_ticks) - $TICKS_BEFORE) / $(getconf CLK_TCK)" | bc -l)
run_policy embedded_cached
measure yr "$YR" scan --recursive --threads "$THREADS" --disable-console-logs "$RULES" "$TREE"
"${C[@]}" -X PATCH "$API/protocols/vscan/$SVM/scanner-pools/p" -d "{\"servers\":[\"unix://$RUN/clamd.sock\"]}" > /dev/null
# clamd keeps its own cache of clean files (by content hash): each first run gets a
# freshly started clamd, so neither side finds the other's work in it.
restart_clamd() {
  kill "$CLAMD_PID"; wait "$CLAMD_PID" 2>/dev/null || true
  rm -f "$RUN/clamd.sock"
  clamd -c "$RUN/clamd.conf" > /dev/null 2>&1 &
  CLAMD_PID=$!
  for _ in $(seq 600); do [ -S "$RUN/clamd.sock" ] && break; sleep 0.1; done
}
echo "LocalSocket $RUN/clamd.sock" > "$RUN/clamdscan.conf"
measure clamdscan clamdscan --config-file="$RUN/clamdscan.conf" --multiscan --fdpass --no-summary "$TREE"
measure clamdscan_warm clamdscan --config-file="$RUN/clamdscan.conf" --multiscan --fdpass --no-summary "$TREE"
restart_clamd
connected "unix://$RUN/clamd.sock"
run_policy clamd_pool
run_policy clamd_pool_cached

row() { printf '%-52s %8.2f s   %s\n' "$1" "${SECONDS_OF[$2]}" "${MESSAGE_OF[$2]:-}"; }
row "on-demand run, embedded engine (first)" embedded
row "on-demand run, embedded engine (cache warm)" embedded_cached
printf '%-52s %8.2f s\n' "  Vigil CPU time of that first run" "$VIGIL_CPU"
row "yr scan -r ($YARA_X_VERSION, $THREADS threads)" yr
row "on-demand run, pool on clamd (first)" clamd_pool
row "on-demand run, pool on clamd (cache warm)" clamd_pool_cached
row "clamdscan --multiscan --fdpass (clamd)" clamdscan
row "clamdscan --multiscan --fdpass (clamd, warm rescan)" clamdscan_warm
echo
ratio() { printf '%-52s %7.2fx\n' "$1" "$(echo "${SECONDS_OF[$3]} / ${SECONDS_OF[$2]}" | bc -l)"; }
ratio "first run, embedded / yr scan (throughput)" embedded yr
ratio "first run, clamd pool / clamdscan (throughput)" clamd_pool clamdscan
ratio "cached rerun / clamd warm rescan (speed-up)" embedded_cached clamdscan_warm
ratio "cached rerun on clamd pool / clamd warm rescan" clamd_pool_cached clamdscan_warm
