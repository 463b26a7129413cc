#!/usr/bin/env bash
# S3 PUT throughput with on-access scanning on vs off, in one run against one server:
# 1 MiB objects from CONCURRENCY boto3 clients, the built-in engine (a pool on Vigil's own
# scanner socket). The phases alternate off/on ROUNDS times (PATCH s3_scanning) so that
# drift of a shared machine hits both alike; the ratio is on/off of the summed rates.
# Target (issue #16): scanning costs <= 25%, i.e. ratio >= 0.75.
# Usage: [VIGIL=BINARY] bench/s3/scan.sh [SECONDS_PER_PHASE=10] [CONCURRENCY=16] [ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/../.."
PHASE=${1:-10}
CONCURRENCY=${2:-16}
ROUNDS=${3:-2}
OUT=$PWD/bench/out/s3-scan
RUN=$OUT/run
PY=${PY:-$PWD/.venv/bin/python}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${VIGIL:-}" ]; then
  cargo build --release --bin vigil
  VIGIL=$CARGO_TARGET_DIR/release/vigil
fi
rm -rf "$RUN"
mkdir -p "$RUN/ns"
cleanup() { [ -n "${VIGIL_PID:-}" ] && kill "$VIGIL_PID" 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
S3PORT=$(free_port)
VIGIL_ADMIN_PASSWORD=Bench-Pass-1 "$VIGIL" serve --data-dir "$RUN/data" --listen "http://127.0.0.1:$PORT" \
  --scanner-listen off --vscan-check-interval-ms 500 > "$RUN/vigil.log" 2>&1 &
VIGIL_PID=$!
"$PY" - "$PORT" "$S3PORT" "$RUN" "$PHASE" "$CONCURRENCY" "$ROUNDS" <<'PYEOF'
import concurrent.futures, json, os, sys, threading, time
import boto3, requests
from botocore.config import Config

port, s3port, run, phase, conc, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
api = f"http://127.0.0.1:{port}/api"
s = requests.Session()
s.auth = ("admin", "Bench-Pass-1")
for _ in range(600):
    try:
        if s.get(f"{api}/cluster", timeout=5).ok:
            break
    except requests.RequestException:
        pass
    time.sleep(0.1)
r = s.post(f"{api}/svm/svms?return_timeout=60", json={"name": "bench", "root_path": f"{run}/ns"})
r.raise_for_status()
svm = r.headers["Location"].rsplit("/", 1)[1]
sock = f"unix://{run}/data/scanner.sock"
r = s.post(f"{api}/protocols/vscan", json={"svm": {"uuid": svm}, "scanner_pools": [
    {"name": "p", "servers": [sock], "privileged_users": ["d\\u"], "role": "primary"}]})
assert r.ok, r.text
for _ in range(600):
    recs = s.get(f"{api}/protocols/vscan/server-status", params={"fields": "state,server"}).json()["records"]
    if any(x["server"] == sock and x["state"] == "connected" for x in recs):
        break
    time.sleep(0.1)
else:
    sys.exit("the embedded scanner never connected")
r = s.post(f"{api}/protocols/s3/services", json={"svm": {"uuid": svm}, "name": "bench", "is_http_enabled": True,
                                                  "is_https_enabled": False, "port": s3port})
assert r.ok, r.text
user = s.post(f"{api}/protocols/s3/services/{svm}/users", json={"name": "bench"}).json()["records"][0]
local = threading.local()

def client():
    if not hasattr(local, "c"):
        local.c = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3port}", aws_access_key_id=user["access_key"],
                               aws_secret_access_key=user["secret_key"], region_name="us-east-1",
                               config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                             max_pool_connections=conc))
    return local.c

for _ in range(600):
    try:
        client().create_bucket(Bucket="bench")
        break
    except Exception:
        time.sleep(0.1)
body = os.urandom(1024 * 1024)

def phase_rate(scanning):
    r = s.patch(f"{api}/protocols/vscan/{svm}", json={"s3_scanning": scanning})
    assert r.ok, r.text
    stop = time.monotonic() + phase
    counts = [0] * conc

    def worker(i):
        n = 0
        while time.monotonic() < stop:
            client().put_object(Bucket="bench", Key=f"w{i}/{n}", Body=body)
            n += 1
        counts[i] = n

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(conc) as pool:
        list(pool.map(worker, range(conc)))
    return sum(counts) / (time.monotonic() - started)

phase_rate(False)  # warm-up
rates = {False: [], True: []}
for _ in range(rounds):
    for scanning in (False, True):
        rates[scanning].append(phase_rate(scanning))
off, on = sum(rates[False]), sum(rates[True])
runs = s.get(f"{api}/protocols/vscan/{svm}/on-demand-runs", params={"fields": "type,files_scanned"}).json()["records"]
scanned = sum(r["files_scanned"] for r in runs if r["type"] == "ACTIVE")
print(f"1 MiB PUTs, {conc} clients, {rounds} x {phase:.0f} s per mode")
print("scanning off: " + ", ".join(f"{r:.1f}" for r in rates[False]) + " PUT/s")
print("scanning on:  " + ", ".join(f"{r:.1f}" for r in rates[True]) + " PUT/s")
print(f"ratio on/off: {on / off:.3f} (target >= 0.75); ACTIVE record counted {scanned} scanned uploads")
PYEOF
