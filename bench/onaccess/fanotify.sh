#!/usr/bin/env bash
# The fanotify on-access door: open+read of SMALL small files (4 KiB) and of LARGE
# large files (4 MiB) on a tmpfs that is an SVM root, with on-access off (Vscan off on
# the SVM, no marks), on with a cold cache (every file changed since its last verdict)
# and on with a warm cache, ROUNDS times each, as ratios in one run. Reading is one
# `cat` per 500 files (xargs), so process start-up does not drown the opens.
# Needs root (fanotify, mount). Usage:
#   [VIGIL=BINARY] bench/onaccess/fanotify.sh [SMALL=10000] [LARGE=100] [ROUNDS=5]
set -euo pipefail
cd "$(dirname "$0")/../.."
SMALL=${1:-10000}
LARGE=${2:-100}
ROUNDS=${3:-5}
OUT=$PWD/bench/out/onaccess-fanotify
MNT=$OUT/mnt
RUN=$OUT/run
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${VIGIL:-}" ]; then
  cargo build --release --bin vigil
  VIGIL=$CARGO_TARGET_DIR/release/vigil
fi
mkdir -p "$MNT" "$RUN"
mountpoint -q "$MNT" && umount -l "$MNT"
mount -t tmpfs -o size=1g vigil-bench "$MNT"
rm -rf "$RUN/data"
cleanup() {
  [ -n "${VIGIL_PID:-}" ] && kill "$VIGIL_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  umount -l "$MNT" 2>/dev/null || true
}
trap cleanup EXIT

python3 - "$MNT" "$SMALL" "$LARGE" <<'PY'
import os, sys
root, small, large = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{root}/small", exist_ok=True)
os.makedirs(f"{root}/large", exist_ok=True)
for i in range(small):
    d = f"{root}/small/{i // 1000:03d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i}.txt", "wb") as f:
        f.write(os.urandom(4096))
for i in range(large):
    with open(f"{root}/large/f{i}.bin", "wb") as f:
        f.write(os.urandom(4 << 20))
PY

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
VIGIL_ADMIN_PASSWORD=Bench-Pass-1 "$VIGIL" serve --data-dir "$RUN/data" --listen "http://127.0.0.1:$PORT" \
  --scanner-listen off --vscan-check-interval-ms 500 --fanotify true > "$RUN/vigil.log" 2>&1 &
VIGIL_PID=$!
for _ in $(seq 600); do [ -S "$RUN/data/scanner.sock" ] && curl -s "http://127.0.0.1:$PORT/api/cluster" -o /dev/null && break; sleep 0.1; done
API=http://127.0.0.1:$PORT/api
C=(curl -sS -f -u admin:Bench-Pass-1 -H 'content-type: application/json')
"${C[@]}" -X POST "$API/svm/svms?return_timeout=30" -d "{\"name\":\"bench\",\"root_path\":\"$MNT\"}" > /dev/null
SVM=$("${C[@]}" "$API/svm/svms?name=bench" | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["uuid"])')
"${C[@]}" -X POST "$API/protocols/vscan" -d "{\"svm\":{\"uuid\":\"$SVM\"},\"enabled\":false,\"scanner_pools\":[{\"name\":\"p\",\"servers\":[\"unix://$RUN/data/scanner.sock\"],\"privileged_users\":[\"b\\\\s\"]}]}" > /dev/null
POL=$API/protocols/vscan/$SVM/on-access-policies
"${C[@]}" -X PATCH "$POL/default_CIFS" -d '{"enabled":false}' > /dev/null
"${C[@]}" -X POST "$POL" -d '{"name":"bench","enabled":true,"mandatory":true}' > /dev/null
# Off and on by the SVM's Vscan switch (an SVM with Vscan on needs a policy enabled).
VSCAN=$API/protocols/vscan/$SVM
"${C[@]}" -X PATCH "$VSCAN" -d '{"enabled":true}' > /dev/null
connected() {
  for _ in $(seq 600); do
    "${C[@]}" "$API/protocols/vscan/server-status?fields=state" | grep -q '"connected"' && return 0; sleep 0.1
  done
  echo "the embedded scanner never connected" >&2; exit 1
}
connected

# Waits until the door marks the root (1) or nothing (0).
marked() {
  for _ in $(seq 600); do
    n=$("${C[@]}" "$API/protocols/vscan/on-access-status?fields=*" |
      python3 -c 'import json,sys; print(len(json.load(sys.stdin)["records"][0]["fanotify"]["svms"]))')
    [ "$n" = "$1" ] && return 0; sleep 0.1
  done
  echo "the door never reached $1 marked SVM(s)" >&2; exit 1
}
# Seconds to open and read every file of one kind.
readall() {
  local t0 t1
  t0=$(date +%s.%N)
  find "$MNT/$1" -type f -print0 | xargs -0 -n 500 cat > /dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
# Every file changed (utimensat by path: no open), so no clean verdict applies.
chill() { find "$MNT/$1" -type f -exec touch -c {} + ; }

declare -A T
for round in $(seq "$ROUNDS"); do
  for kind in small large; do
    "${C[@]}" -X PATCH "$VSCAN" -d '{"enabled":false}' > /dev/null; marked 0
    T[off,$kind]+="$(readall $kind) "
    chill $kind
    "${C[@]}" -X PATCH "$VSCAN" -d '{"enabled":true}' > /dev/null; marked 1; connected
    T[cold,$kind]+="$(readall $kind) "
    T[cached,$kind]+="$(readall $kind) "
  done
done
"${C[@]}" "$API/protocols/vscan/on-access-status?fields=*" > "$RUN/status.json"

python3 - "$SMALL" "$LARGE" "$ROUNDS" "${T[off,small]}" "${T[cold,small]}" "${T[cached,small]}" \
  "${T[off,large]}" "${T[cold,large]}" "${T[cached,large]}" <<'PY'
import statistics as st, sys
small, large, rounds = sys.argv[1:4]
vals = [list(map(float, a.split())) for a in sys.argv[4:10]]
names = ["off", "on (cold)", "on (cached)"]
print(f"fanotify door, open+read, {rounds} rounds, median [min-max] seconds")
for kind, count, base in (("small 4 KiB", small, 0), ("large 4 MiB", large, 3)):
    off = st.median(vals[base])
    print(f"{count} {kind} files")
    for i, name in enumerate(names):
        v = vals[base + i]
        m = st.median(v)
        print(f"  {name:12} {m:8.3f} [{min(v):.3f}-{max(v):.3f}]  x{m / off:6.2f} of off")
PY
echo "door status after the run: $RUN/status.json"
