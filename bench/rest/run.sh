#!/usr/bin/env bash
# Load benchmark of `vigil serve` over plain HTTP (and one HTTPS line), on demand, not in CI.
#
# Builds the release binary, starts a server on a fresh data directory, creates
# $SVMS SVMs through the REST API, then runs wrk against:
#   (a) GET /api/svm/svms            the whole collection, default fields
#   (b) GET /api/svm/svms?fields=*   the whole collection, all standard fields
#   (c) GET /api/cluster             the cheapest route
#   (d) GET /api/cluster over HTTPS  (the server restarted on the same data dir)
# and prints requests/s and p99 latency of each, and the ratios to (c).
#
# Needs: cargo, curl, python3, wrk (Debian: apt-get install wrk).
# Knobs (environment): DURATION=10s THREADS=2 CONNECTIONS=16 SVMS=1000 HTTPS=1
#                      CARGO_TARGET_DIR (default <repo>/target)
set -euo pipefail

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
SVMS=${SVMS:-1000}
HTTPS=${HTTPS:-1}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
command -v wrk >/dev/null || { echo "run.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }

echo "== building: cargo build --release --bin vigil"
(cd "$root" && cargo build --release --bin vigil)
bin=$target/release/vigil

data=$(mktemp -d /tmp/vigil-bench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user=admin
password=bench-$RANDOM$RANDOM
auth="Basic $(printf '%s:%s' "$user" "$password" | base64 -w0)"
pid=

stop() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=
    fi
}
cleanup() {
    stop
    rm -rf "$data"
}
trap cleanup EXIT

start() { # start SCHEME
    VIGIL_ADMIN_PASSWORD=$password VIGIL_LOG=${VIGIL_LOG:-warn} \
        "$bin" serve --listen "$1://127.0.0.1:$port" --data-dir "$data" --scanner-listen off \
        >>"$data/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        if curl -ksf -o /dev/null -H "Authorization: $auth" "$1://127.0.0.1:$port/api/cluster"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$data/server.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "run.sh: server did not answer on $1://127.0.0.1:$port" >&2
    cat "$data/server.log" >&2
    exit 1
}

start http
base=http://127.0.0.1:$port
echo "== server: $bin serve --listen $base --data-dir $data"
echo "== creating $SVMS SVMs"
python3 "$here/create_svms.py" "$base" "$user" "$password" "$SVMS" 8
bytes=$(curl -sf -o /dev/null -w '%{size_download}' -H "Authorization: $auth" "$base/api/svm/svms")
bytes_all=$(curl -sf -o /dev/null -w '%{size_download}' -H "Authorization: $auth" "$base/api/svm/svms?fields=*")
echo "   GET /api/svm/svms: $bytes bytes; ?fields=*: $bytes_all bytes"

# Runs wrk and prints "<requests/s> <p99 in ms> <non-2xx count>".
measure() {
    local out rps p99 bad
    out=$(wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: $auth" "$1")
    echo "$out" >>"$data/wrk.log"
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/, "", v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v*=1000}; print v}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    echo "$rps $p99 ${bad:-0}"
}

declare -a names rpss p99s bads
run() { # run LABEL URL
    local r
    read -r -a r <<<"$(measure "$2")"
    names+=("$1"); rpss+=("${r[0]}"); p99s+=("${r[1]}"); bads+=("${r[2]}")
    printf '   %-40s %10s req/s   p99 %8.2f ms   non-2xx %s\n' "$1" "${r[0]}" "${r[1]}" "${r[2]}"
}

echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (one after the other)"
run "(a) GET /api/svm/svms" "$base/api/svm/svms"
run "(b) GET /api/svm/svms?fields=*" "$base/api/svm/svms?fields=*"
run "(c) GET /api/cluster" "$base/api/cluster"
if [ "$HTTPS" = 1 ]; then
    stop
    start https
    run "(d) GET /api/cluster (HTTPS)" "https://127.0.0.1:$port/api/cluster"
fi

echo "== summary"
for i in "${!names[@]}"; do
    awk -v n="${names[$i]}" -v r="${rpss[$i]}" -v p="${p99s[$i]}" -v c="${rpss[2]}" \
        'BEGIN {printf "   %-40s %10.1f req/s   p99 %8.2f ms   %6.3fx of (c)\n", n, r, p, r / c}'
done
awk -v a="${rpss[0]}" -v c="${rpss[2]}" \
    'BEGIN {printf "   (c)/(a): the cheapest route serves %.1fx the requests of the %s-record collection\n", c / a, '"$SVMS"'}'
for b in "${bads[@]}"; do
    [ "$b" = 0 ] || { echo "run.sh: some responses were not 2xx (see above)" >&2; exit 1; }
done
