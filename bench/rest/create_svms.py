#!/usr/bin/env python3
"""Creates N SVMs (svm0001..) through POST /api/svm/svms, in parallel, and waits
until GET /api/svm/svms?return_records=false reports at least N records.

Usage: create_svms.py BASE_URL USER PASSWORD COUNT [WORKERS]
"""

import base64
import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

base, user, password, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
workers = int(sys.argv[5]) if len(sys.argv) > 5 else 8
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", auth)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def create(i):
    status, body = call("POST", "/api/svm/svms", {"name": f"svm{i:04d}"})
    if status not in (201, 202):
        raise SystemExit(f"POST svm{i:04d}: HTTP {status} {body}")
    return status


start = time.monotonic()
with ThreadPoolExecutor(workers) as pool:
    statuses = list(pool.map(create, range(1, count + 1)))
posted = time.monotonic()
while True:
    status, body = call("GET", "/api/svm/svms?return_records=false")
    if status != 200:
        raise SystemExit(f"GET /api/svm/svms: HTTP {status} {body}")
    if body["num_records"] >= count:
        break
    if time.monotonic() - posted > 300:
        raise SystemExit(f"only {body['num_records']} SVMs after 300 s")
    time.sleep(0.2)
done = time.monotonic()
print(
    f"created {count} SVMs ({statuses.count(202)} x 202) with {workers} workers: "
    f"POSTs {posted - start:.1f} s, all jobs done after {done - start:.1f} s"
)
