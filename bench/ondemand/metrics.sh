#!/usr/bin/env bash
# The cost of metrics on on-demand scanning, on demand, not in CI.
#
# Starts two servers from one release binary, side by side: one with metrics on (the
# default), one with `--metrics false`, each with an SVM over the same benchmark tree
# (bench/scan/gen_tree.py, shared with run.sh) and a pool on its own embedded scanner.
# Then, $ROUNDS times, alternating which server goes first, each server does a full run
# (`cache_clear` first, so every file is scanned) and a cached rerun. For each run it
# prints the wall time (curl's own time of the run request, which answers when the run
# has ended) and the CPU time of the server and its scan workers, which moves far less
# than wall time on a shared machine. The summary gives the ratios on/off of the
# medians; the target is a cost of at most 3%.
#
# Usage: [VIGIL=BINARY] bench/ondemand/metrics.sh [FILES=10000] [TOTAL_MB=500]
# Knobs (environment): ROUNDS=5, CARGO_TARGET_DIR (default <repo>/target)
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=${1:-10000}
TOTAL_MB=${2:-500}
ROUNDS=${ROUNDS:-5}
OUT=$PWD/bench/out/ondemand
NS=$OUT/ns
TREE=$NS/tree
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${VIGIL:-}" ]; then
  cargo build --release --bin vigil
  VIGIL=$CARGO_TARGET_DIR/release/vigil
fi
mkdir -p "$OUT"
[ -f "$TREE/planted.txt" ] || python3 bench/scan/gen_tree.py "$TREE" "$FILES" "$TOTAL_MB"
WORK=$(mktemp -d /tmp/vigil-bench-ondemand-metrics.XXXXXX)
PASSWORD=Bench-Pass-1
declare -A PID PORT SVM
cleanup() {
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PID[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
C=(curl -sS -u "admin:$PASSWORD")

start() { # start NAME ARGS...
  local name=$1 port
  shift
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$NS/reports-$name"
  VIGIL_ADMIN_PASSWORD=$PASSWORD VIGIL_LOG=warn "$VIGIL" serve --data-dir "$WORK/$name" \
    --listen "http://127.0.0.1:$port" --scanner-listen off --vscan-check-interval-ms 500 "$@" \
    > "$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  PORT[$name]=$port
  for _ in $(seq 600); do "${C[@]}" -o /dev/null "http://127.0.0.1:$port/api/cluster" 2>/dev/null && break; sleep 0.1; done
  local api=http://127.0.0.1:$port/api svm reply
  svm=$("${C[@]}" -X POST "$api/svm/svms?return_timeout=60" -d "{\"name\":\"bench\",\"root_path\":\"$NS\"}" -D - -o /dev/null \
    | sed -n 's/^[Ll]ocation: .*\/\([0-9a-f-]*\)\r$/\1/p')
  [ -n "$svm" ] || { echo "metrics.sh: no SVM on server $name"; cat "$WORK/$name.log"; exit 1; }
  SVM[$name]=$svm
  reply=$("${C[@]}" -X POST "$api/protocols/vscan" -d "{\"svm\":{\"uuid\":\"$svm\"},
    \"scanner_pools\":[{\"name\":\"p\",\"servers\":[\"unix://$WORK/$name/scanner.sock\"],\"privileged_users\":[\"d\\\\u\"]}],
    \"on_demand_policies\":[{\"name\":\"bench\",\"log_path\":\"/reports-$name\",\"scan_paths\":[\"/tree\"]}]}")
  [ "$reply" = "{}" ] || { echo "metrics.sh: Vscan configuration failed on $name: $reply"; exit 1; }
  for _ in $(seq 200); do
    "${C[@]}" "$api/protocols/vscan/server-status?fields=state" | grep -q '"state":"connected"' && return
    sleep 0.1
  done
  echo "metrics.sh: the embedded scanner of $name never connected"; exit 1
}

cpu_ticks() { # utime+stime of a server and its scan workers (and of workers it reaped)
  local ticks=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    ticks=$((ticks + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$ticks"
}

# One run on one server; prints "<wall seconds> <CPU seconds> <job message>".
run() { # run NAME full|cached
  local name=$1 api=http://127.0.0.1:${PORT[$1]}/api before after reply seconds job message
  if [ "$2" = full ]; then
    "${C[@]}" -o /dev/null -X PATCH "$api/protocols/vscan/${SVM[$name]}" -d '{"cache_clear":true}'
  fi
  before=$(cpu_ticks "${PID[$name]}")
  reply=$("${C[@]}" -w '\n%{time_total}' -X PATCH \
    "$api/protocols/vscan/${SVM[$name]}/on-demand-policies/bench?action=run&return_timeout=120")
  after=$(cpu_ticks "${PID[$name]}")
  seconds=${reply##*$'\n'}
  job=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["job"]["_links"]["self"]["href"])' "${reply%$'\n'*}")
  message=$("${C[@]}" "http://127.0.0.1:${PORT[$name]}$job?fields=state,message" \
    | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j.get("message", ""))')
  case "$message" in success*) ;; *) echo "metrics.sh: run on $name did not end in time: $message" >&2; exit 1 ;; esac
  echo "$seconds $(echo "($after - $before) / $(getconf CLK_TCK)" | bc -l) ${message#success }"
}

start on
start off --metrics false
find "$TREE" -type f -print0 | xargs -0 -P "$(nproc)" -n 256 cat > /dev/null
COUNT=$(find "$TREE" -type f | wc -l)
echo "== on-demand runs over $COUNT files ($TOTAL_MB MB), $ROUNDS rounds, alternating; $(nproc) CPUs"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# one untimed run each: scan workers started, rules compiled, directories cached
run on full > /dev/null
run off full > /dev/null
declare -A WALL CPU
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="on off"; else order="off on"; fi
  for kind in full cached; do
    for name in $order; do
      read -r wall cpu message <<<"$(run "$name" "$kind")"
      printf '   round %d  %-6s metrics %-3s %7.3f s wall  %7.3f s CPU   %s\n' "$round" "$kind" "$name" "$wall" "$cpu" "$message"
      WALL[$kind.$name]+="$wall "
      CPU[$kind.$name]+="$cpu "
    done
  done
done
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
series=$("${C[@]}" "http://127.0.0.1:${PORT[on]}/metrics" | grep -c '^vigil_scans_total' || true)
echo "   the metrics server holds $series vigil_scans_total series"

median() { printf '%s\n' $1 | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "== summary (medians of $ROUNDS rounds; cost = on/off - 1)"
for kind in full cached; do
  awk -v k="$kind" -v a="$(median "${WALL[$kind.on]}")" -v b="$(median "${WALL[$kind.off]}")" \
      -v c="$(median "${CPU[$kind.on]}")" -v d="$(median "${CPU[$kind.off]}")" 'BEGIN {
    printf "   %-6s wall  on %7.3f s  off %7.3f s  on/off %.3f  (cost %+.1f%%)\n", k, a, b, a / b, (a / b - 1) * 100
    printf "   %-6s CPU   on %7.3f s  off %7.3f s  on/off %.3f  (cost %+.1f%%)\n", k, c, d, c / d, (c / d - 1) * 100
  }'
done
