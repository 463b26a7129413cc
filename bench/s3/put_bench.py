"""PUT throughput of Vigil's S3 endpoint with auditing off and on, in one run.

One server, two SVMs with an S3 server each: `plain` (no audit configuration) and
`audited` (auditing enabled, events.data, its bucket's audit_event_selector
access=all permission=all, so every PUT is recorded in guaranteed mode). Rounds
alternate plain, audited, plain, ... so both see the same machine load; each round is
OBJECTS PUTs of SIZE bytes from CLIENTS threads (one boto3 client each). Prints MiB/s per
round, the audited/plain ratio of each pair, and the median, min and max of the ratios.

usage: put_bench.py VIGIL_BIN WORKDIR [ROUNDS] [OBJECTS] [CLIENTS] [SIZE]
"""

import concurrent.futures
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests
import urllib3
from botocore.config import Config

urllib3.disable_warnings()
PASSWORD = "Bench-Admin-1"
LISTEN_RE = re.compile(r"vigil: listening on (https?)://([0-9.]+):(\d+)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, work):
    data = work / "data"
    log = open(work / "server.log", "wb")
    env = dict(os.environ, VIGIL_ADMIN_PASSWORD=PASSWORD, VIGIL_LOG=os.environ.get("VIGIL_LOG", "warn"))
    proc = subprocess.Popen(
        [binary, "serve", "--data-dir", str(data), "--listen", "http://127.0.0.1:0", "--scanner-listen", "127.0.0.1:0"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
    )
    for _ in range(600):
        m = LISTEN_RE.search((work / "server.log").read_text(errors="replace"))
        if m:
            return proc, f"http://127.0.0.1:{m.group(3)}"
        if proc.poll() is not None:
            sys.exit("vigil exited:\n" + (work / "server.log").read_text())
        time.sleep(0.1)
    sys.exit("vigil did not start")


def setup(rest, name, audited):
    r = rest.post("/api/svm/svms?return_timeout=30", json={"name": name})
    assert r.status_code in (200, 201), r.text
    svm = r.headers["Location"].rsplit("/", 1)[1]
    port = free_port()
    r = rest.post("/api/protocols/s3/services", json={
        "svm": {"uuid": svm}, "name": name, "is_http_enabled": True, "is_https_enabled": False, "port": port})
    assert r.status_code == 201, r.text
    r = rest.post(f"/api/protocols/s3/services/{svm}/users", json={"name": "root"})
    assert r.status_code == 201, r.text
    keys = r.json()["records"][0]
    bucket = {"name": "bench"}
    if audited:
        root = Path(rest.get(f"/api/svm/svms/{svm}?fields=root_path").json()["root_path"])
        (root / "audit").mkdir(parents=True, exist_ok=True)
        r = rest.post(f"/api/protocols/audit/{svm}/object-store?return_timeout=30",
                      json={"log_path": "/audit", "events": {"data": True, "management": False}})
        assert r.status_code == 201, r.text
        bucket["audit_event_selector"] = {"access": "all", "permission": "all"}
    r = rest.post(f"/api/protocols/s3/services/{svm}/buckets?return_timeout=30", json=bucket)
    assert r.status_code == 201, r.text
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return port, keys


def client(port, keys):
    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      max_pool_connections=4, read_timeout=120),
    )


def round_(port, keys, objects, clients, body, tag):
    per = [client(port, keys) for _ in range(clients)]

    def work(i):
        s3 = per[i]
        for n in range(i, objects, clients):
            s3.put_object(Bucket="bench", Key=f"{tag}/{n}", Body=body)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, range(clients)))
    elapsed = time.monotonic() - t0
    return objects * len(body) / elapsed / 2**20


def main():
    binary, work = sys.argv[1], Path(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    objects = int(sys.argv[4]) if len(sys.argv) > 4 else 400
    clients = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    size = int(sys.argv[6]) if len(sys.argv) > 6 else 1 << 20
    work.mkdir(parents=True, exist_ok=True)
    proc, base = start(binary, work)
    try:
        rest = requests.Session()
        rest.auth = ("admin", PASSWORD)
        rest.verify = False
        orig = rest.request
        rest.request = lambda m, u, *a, **k: orig(m, base + u, *a, **k)
        plain = setup(rest, "plain", False)
        audited = setup(rest, "audited", True)
        body = os.urandom(size)
        # Warm-up (connections, page cache, first directories), not counted.
        round_(*plain, min(objects, 64), clients, body, "warm")
        round_(*audited, min(objects, 64), clients, body, "warm")
        print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.cpu_count()} CPUs; "
              f"{objects} PUTs of {size} bytes per round, {clients} clients; data {work}")
        print(f"{'round':>5} {'plain MiB/s':>12} {'audited MiB/s':>14} {'ratio':>7}")
        ratios = []
        for r in range(rounds):
            p = round_(*plain, objects, clients, body, f"r{r}")
            a = round_(*audited, objects, clients, body, f"r{r}")
            ratios.append(a / p)
            print(f"{r + 1:>5} {p:>12.1f} {a:>14.1f} {a / p:>7.3f}", flush=True)
        print(f"audited/plain: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, "
              f"max {max(ratios):.3f} (cost {100 * (1 - statistics.median(ratios)):.1f}%; target <= 10%)")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
