#!/usr/bin/env bash
# The cost of metrics on the hottest REST route, on demand, not in CI.
#
# Starts two servers from one release binary, side by side on fresh data directories:
# one with metrics on (the default) and one with `--metrics false`, then runs wrk
# against `GET /api/cluster` on each in turn, alternating, $ROUNDS times, so that both
# see the same changes of machine load. For each run it prints requests/s and the
# server's CPU time per request (utime+stime from /proc/PID/stat over the run divided by
# the requests served), which moves far less than requests/s on a shared machine. The
# summary gives the ratios on/off of the medians; the target is a cost of at most 3%.
#
# On a shared machine both figures move by more than the cost being measured, so with
# `perf` installed (PERF=1, the default when it is) it also profiles the metrics-on
# server for one more run and prints the share of its CPU samples spent in metrics
# code (the telemetry crate, the metrics facade and exporter, route template lookup):
# a measure of the cost that other processes do not disturb.
#
# Needs: cargo, curl, python3, wrk (Debian: apt-get install wrk); optionally perf.
# Knobs (environment): DURATION=10s THREADS=2 CONNECTIONS=16 ROUNDS=3 BUILD=1 PERF=1
#                      CARGO_TARGET_DIR (default <repo>/target)
set -euo pipefail

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-3}
BUILD=${BUILD:-1}
PERF=${PERF:-1}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
command -v wrk >/dev/null || { echo "metrics.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }

if [ "$BUILD" = 1 ]; then
    echo "== building: cargo build --release --bin vigil"
    (cd "$root" && cargo build --release --bin vigil)
fi
bin=$target/release/vigil

work=$(mktemp -d /tmp/vigil-bench-metrics.XXXXXX)
password=bench-$RANDOM$RANDOM
auth="Basic $(printf 'admin:%s' "$password" | base64 -w0)"
declare -A pids ports
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() { # start NAME ARGS...
    local name=$1 port
    shift
    port=$(free_port)
    mkdir -p "$work/$name"
    VIGIL_ADMIN_PASSWORD=$password VIGIL_LOG=${VIGIL_LOG:-warn} \
        "$bin" serve --listen "http://127.0.0.1:$port" --data-dir "$work/$name" \
        --scanner-listen off --scanner-socket off "$@" >>"$work/$name.log" 2>&1 &
    pids[$name]=$!
    ports[$name]=$port
    for _ in $(seq 200); do
        if curl -sf -o /dev/null -H "Authorization: $auth" "http://127.0.0.1:$port/api/cluster"; then
            return 0
        fi
        kill -0 "${pids[$name]}" 2>/dev/null || { cat "$work/$name.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "metrics.sh: server $name did not answer" >&2
    exit 1
}

cpu_ticks() { # utime + stime of a process, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# Runs wrk on one server; prints "<requests/s> <CPU microseconds per request> <non-2xx>".
measure() { # measure NAME
    local name=$1 out before after rps requests bad
    before=$(cpu_ticks "${pids[$name]}")
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: $auth" \
        "http://127.0.0.1:${ports[$name]}/api/cluster")
    after=$(cpu_ticks "${pids[$name]}")
    echo "$out" >>"$work/wrk.log"
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    awk -v r="$rps" -v n="$requests" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v b="${bad:-0}" \
        'BEGIN {printf "%s %.2f %s\n", r, t / hz * 1e6 / n, b}'
}

start on
start off --metrics false
# warm both up (connection set-up, credential cache)
wrk -t1 -c4 -d2s -H "Authorization: $auth" "http://127.0.0.1:${ports[on]}/api/cluster" >/dev/null
wrk -t1 -c4 -d2s -H "Authorization: $auth" "http://127.0.0.1:${ports[off]}/api/cluster" >/dev/null
curl -sf -o /dev/null "http://127.0.0.1:${ports[on]}/metrics"

echo "== GET /api/cluster, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds, alternating"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -a on_rps off_rps on_cpu off_cpu
for round in $(seq "$ROUNDS"); do
    # alternate which goes first, so neither always gets the quieter half
    if [ $((round % 2)) = 1 ]; then order="on off"; else order="off on"; fi
    for name in $order; do
        read -r -a r <<<"$(measure "$name")"
        [ "${r[2]}" = 0 ] || { echo "metrics.sh: non-2xx responses from $name" >&2; exit 1; }
        printf '   round %d  metrics %-3s %10s req/s  %8s us CPU/request\n' "$round" "$name" "${r[0]}" "${r[1]}"
        if [ "$name" = on ]; then on_rps+=("${r[0]}"); on_cpu+=("${r[1]}"); else off_rps+=("${r[0]}"); off_cpu+=("${r[1]}"); fi
    done
done
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
series=$(curl -sf "http://127.0.0.1:${ports[on]}/metrics" | grep -c '^vigil_rest_requests_total' || true)
echo "   the metrics server holds $series vigil_rest_requests_total series"

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
m_on_rps=$(median "${on_rps[@]}"); m_off_rps=$(median "${off_rps[@]}")
m_on_cpu=$(median "${on_cpu[@]}"); m_off_cpu=$(median "${off_cpu[@]}")
echo "== summary (medians of $ROUNDS rounds)"
awk -v a="$m_on_rps" -v b="$m_off_rps" -v c="$m_on_cpu" -v d="$m_off_cpu" 'BEGIN {
    printf "   requests/s       on %10.1f  off %10.1f  on/off %.3f  (cost %+.1f%%)\n", a, b, a / b, (b / a - 1) * 100
    printf "   CPU us/request   on %10.2f  off %10.2f  on/off %.3f  (cost %+.1f%%)\n", c, d, c / d, (c / d - 1) * 100
}'

if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: $auth" \
        "http://127.0.0.1:${ports[on]}/api/cluster" >/dev/null &
    load=$!
    sleep 1
    perf record -q -F 1999 -g -p "${pids[on]}" -o "$work/perf.data" -- sleep 4 >/dev/null 2>&1 || true
    wait "$load"
    perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
        | awk '/^ +[0-9.]+%/ {
              total += $1
              if ($0 ~ /telemetry::|metrics::|metrics_util::|metrics_exporter_prometheus::|quanta::|route_template|method_label/) {
                  share += $1
              }
          }
          END {printf "   perf: %.2f%% of the metrics-on server'"'"'s CPU samples are in metrics code (of %.0f%% attributed)\n", share, total}'
fi
