"""Prometheus metrics (issue 19): `GET /metrics` read with prometheus_client's own text
parser after a known workload on a private server (scans, REST and S3 requests, audit),
whose counts must match exactly what was done; counters never go backwards between
scrapes; who may scrape (allow-list, bearer token, `--metrics false`).

Every count is a difference between two scrapes around the workload, so what the server
did before (start-up, set-up requests) does not matter."""

import socket
import struct

import botocore.exceptions
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import ADMIN_PASSWORD, ADMIN_USER, VigilServer, unique, wait_job
from s3_common import client, make_service, make_user, wait_listening
from test_ondemand_e2e import EICAR, Env, plant
from vscan_common import VSCAN

CLEAN = 7
INFECTED = 3
TOKEN = "scrape-token-0123456789"


# -- reading /metrics --------------------------------------------------------------------


def scrape(srv: VigilServer, headers=None) -> requests.Response:
    return requests.get(srv.url("/metrics"), headers=headers or {}, verify=False, timeout=30)


class Scrape:
    """One scrape, parsed: {(sample name, labels): value} and each family's type."""

    def __init__(self, srv: VigilServer):
        r = scrape(srv)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/plain"), r.headers
        self.values = {}
        self.types = {}
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                self.values[key] = s.value
                self.types[key] = family.type

    def get(self, name, **labels) -> float:
        """A sample's value; a series not yet created counts 0, as Prometheus reads it."""
        return self.values.get((name, tuple(sorted(labels.items()))), 0.0)

    def sum(self, name, **labels) -> float:
        """The sum over every series of `name` whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.values.items() if n == name and want <= set(ls))


def delta(before: Scrape, after: Scrape, name, **labels) -> float:
    return after.get(name, **labels) - before.get(name, **labels)


def never_backwards(before: Scrape, after: Scrape):
    """Every counter (and histogram count, sum and bucket) of `before` is still there in
    `after`, at least as large."""
    checked = 0
    for key, value in before.values.items():
        if before.types[key] not in ("counter", "histogram"):
            continue
        assert key in after.values, f"{key} vanished"
        assert after.values[key] >= value, f"{key} went from {value} to {after.values[key]}"
        checked += 1
    assert checked > 0


# -- the clamd protocol on the scanner socket --------------------------------------------


def instream(path, data: bytes) -> bytes:
    """zINSTREAM of `data` on a clamd-protocol unix socket; returns the reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(str(path))
        s.sendall(b"zINSTREAM\0" + struct.pack(">I", len(data)) + data + struct.pack(">I", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            chunk = s.recv(4096)
            assert chunk, f"connection closed after {reply!r}"
            reply += chunk
    return reply[:-1]


# -- the workload ------------------------------------------------------------------------


def test_counts_match_the_workload_exactly(fresh_server, tmp_path):
    srv = fresh_server
    env = Env(srv, tmp_path)
    raw = env.raw
    clean = {f"/data/docs/clean-{i}.txt": f"clean file {i}\n".encode() * (i + 1) for i in range(CLEAN)}
    infected = {f"/data/eicar-{i}.com": EICAR for i in range(INFECTED)}
    for path, data in {**clean, **infected}.items():
        plant(env.root, path, data)
    clean_bytes = sum(len(d) for d in clean.values())
    policy = unique("metrics")
    env.policy(policy, remediation="report")

    # 1. a first on-demand run: nothing cached yet
    first = Scrape(srv)
    _, record = env.run(policy)
    assert (record["files_scanned"], record["infected_count"]) == (CLEAN + INFECTED, INFECTED), record
    after_first = Scrape(srv)
    scans = "vigil_scans_total"
    on_demand = {"trigger": "on_demand", "engine": "builtin"}
    assert delta(first, after_first, scans, verdict="clean", **on_demand) == CLEAN
    assert delta(first, after_first, scans, verdict="infected", **on_demand) == INFECTED
    assert after_first.sum(scans, trigger="on_demand") - first.sum(scans, trigger="on_demand") == CLEAN + INFECTED
    assert delta(first, after_first, "vigil_scanned_bytes_total", **on_demand) == clean_bytes + INFECTED * len(EICAR)
    assert delta(first, after_first, "vigil_scan_duration_seconds_count", trigger="on_demand") == CLEAN + INFECTED
    assert delta(first, after_first, "vigil_scan_duration_seconds_bucket", trigger="on_demand", le="+Inf") == CLEAN + INFECTED
    assert delta(first, after_first, "vigil_scan_cache_lookups_total", result="miss") == CLEAN + INFECTED
    assert delta(first, after_first, "vigil_scan_cache_lookups_total", result="hit") == 0
    assert delta(first, after_first, "vigil_vscan_events_total", type="file_infected") == INFECTED
    assert delta(first, after_first, "vigil_ondemand_runs_total", status="COMPLETED") == 1
    assert after_first.get("vigil_ondemand_runs_running") == 0
    assert delta(first, after_first, "vigil_jobs_total", state="success") == 1
    assert after_first.get("vigil_jobs_running") == 0
    assert after_first.get("vigil_pool_servers", role="primary", state="connected") == 1
    assert after_first.get("vigil_pool_servers", role="primary", state="disconnected") == 0
    assert delta(first, after_first, "vigil_scan_failovers_total") == 0

    # 2. a second run: the clean files come from the scan cache, EICAR is scanned again
    _, record = env.run(policy)
    assert record["files_from_cache"] == CLEAN, record
    after_second = Scrape(srv)
    assert delta(after_first, after_second, scans, trigger="on_demand", engine="cache", verdict="clean") == CLEAN
    assert delta(after_first, after_second, scans, verdict="clean", **on_demand) == 0
    assert delta(after_first, after_second, scans, verdict="infected", **on_demand) == INFECTED
    assert delta(after_first, after_second, "vigil_scanned_bytes_total", **on_demand) == INFECTED * len(EICAR)
    assert delta(after_first, after_second, "vigil_scan_cache_lookups_total", result="hit") == CLEAN
    assert delta(after_first, after_second, "vigil_scan_cache_lookups_total", result="miss") == INFECTED
    assert delta(after_first, after_second, "vigil_ondemand_runs_total", status="COMPLETED") == 1
    never_backwards(first, after_first)
    never_backwards(after_first, after_second)

    # 3. clamd-protocol clients on the scanner socket: one EICAR, one clean stream
    sock = srv.data_dir / "scanner.sock"
    assert instream(sock, EICAR) == b"stream: Vigil.Test.EICAR FOUND"
    assert instream(sock, b"nothing to see here\n" * 10) == b"stream: OK"
    after_clamd = Scrape(srv)
    clamd = {"trigger": "clamd_protocol", "engine": "builtin"}
    assert delta(after_second, after_clamd, scans, verdict="infected", **clamd) == 1
    assert delta(after_second, after_clamd, scans, verdict="clean", **clamd) == 1
    assert delta(after_second, after_clamd, "vigil_scanned_bytes_total", **clamd) == len(EICAR) + 200
    assert delta(after_second, after_clamd, "vigil_scan_duration_seconds_count", trigger="clamd_protocol") == 2
    # the scanner's own verdicts are not Vscan events and not on-demand scans
    assert after_clamd.sum(scans, trigger="on_demand") == after_second.sum(scans, trigger="on_demand")
    assert delta(after_second, after_clamd, "vigil_vscan_events_total", type="file_infected") == 0

    # 4. REST requests, by route template and status
    for _ in range(5):
        assert raw.get("/api/cluster").status_code == 200
    wrong = requests.get(srv.url("/api/cluster"), auth=(ADMIN_USER, "wrong"), verify=False, timeout=30)
    assert wrong.status_code == 401
    assert raw.get(f"/api/svm/svms/{env.svm}").status_code == 200
    assert raw.get(f"/api/svm/svms/{env.svm}", params={"fields": "name"}).status_code == 200
    assert raw.get("/api/no/such/thing").status_code == 404
    after_rest = Scrape(srv)
    rest = "vigil_rest_requests_total"
    assert delta(after_clamd, after_rest, rest, method="GET", route="/api/cluster", status="200") == 5
    assert delta(after_clamd, after_rest, rest, method="GET", route="/api/cluster", status="401") == 1
    assert delta(after_clamd, after_rest, rest, method="GET", route="/api/svm/svms/{uuid}", status="200") == 2
    assert delta(after_clamd, after_rest, rest, method="GET", route="unmatched", status="404") == 1
    assert after_rest.sum(rest) - after_clamd.sum(rest) == 9
    assert delta(after_clamd, after_rest, "vigil_rest_request_duration_seconds_count", method="GET", route="/api/cluster") == 6
    # raw paths (the SVM's uuid) are never labels
    assert not [k for k in after_rest.values if any(env.svm in v for _, v in k[1])]

    # 5. S3 audit: enabling writes nothing; a rotation on request is counted
    (env.root / "audit").mkdir()
    audit = f"/api/protocols/audit/{env.svm}/object-store"
    r = raw.post(f"{audit}?return_timeout=30", json={"log_path": "/audit"})
    assert r.status_code in (200, 201, 202), r.text
    if r.status_code == 202:
        assert wait_job(raw, r.json()["job"]["_links"]["self"]["href"])["state"] == "success"
    before_rotation = Scrape(srv)
    r = raw.patch(f"{audit}?return_timeout=30", json={"log": {"rotation": {"now": True}}})
    assert r.status_code in (200, 202), r.text
    if r.status_code == 202:
        assert wait_job(raw, r.json()["job"]["_links"]["self"]["href"])["state"] == "success"
    after_rotation = Scrape(srv)
    assert delta(before_rotation, after_rotation, "vigil_audit_log_rotations_total", cause="request") == 1
    assert delta(before_rotation, after_rotation, "vigil_audit_records_total", result="refused") == 0
    never_backwards(after_second, after_clamd)
    never_backwards(after_clamd, after_rest)
    never_backwards(first, after_rotation)


def test_s3_requests_by_operation_and_status(fresh_server):
    """A known boto3 workload on an SVM's S3 server, counted by ONTAP's operation names
    and the status the client got; refused requests count under their operation, a
    request with an unknown access key under `unknown`."""
    srv = fresh_server
    raw = srv.session()
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("s3m")})
    assert r.status_code in (200, 201), r.text
    svm = r.headers["Location"].rsplit("/", 1)[1]
    service = make_service(raw, svm)
    owner = client(service["port"], make_user(raw, svm, "owner"))
    stranger = client(service["port"], make_user(raw, svm, "stranger"))
    nobody = client(service["port"], {"access_key": "NOSUCHKEY0123456789A", "secret_key": "x" * 40})
    wait_listening(service["port"])
    bucket = unique("metrics").replace("_", "-").lower()

    def fails(call, status):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status, e.value.response

    before = Scrape(srv)
    owner.create_bucket(Bucket=bucket)
    for i in range(3):
        owner.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * (i + 1))
    for _ in range(2):
        assert owner.get_object(Bucket=bucket, Key="k1")["Body"].read() == b"xx"
    assert owner.list_objects_v2(Bucket=bucket)["KeyCount"] == 3
    owner.delete_object(Bucket=bucket, Key="k0")
    fails(lambda: owner.head_object(Bucket=bucket, Key="k0"), 404)
    fails(lambda: stranger.get_object(Bucket=bucket, Key="k1"), 403)
    fails(lambda: nobody.list_buckets(), 403)
    after = Scrape(srv)

    requests_total = "vigil_s3_requests_total"
    expected = {
        ("CreateBucket", "200"): 1,
        ("PutObject", "200"): 3,
        ("GetObject", "200"): 2,
        ("ListBucket", "200"): 1,
        ("DeleteObject", "204"): 1,
        ("HeadObject", "404"): 1,
        ("GetObject", "403"): 1,
        ("unknown", "403"): 1,
    }
    for (operation, status), count in expected.items():
        assert delta(before, after, requests_total, operation=operation, status=status) == count, (operation, status)
    assert after.sum(requests_total) - before.sum(requests_total) == sum(expected.values())
    timed = "vigil_s3_request_duration_seconds_count"
    assert delta(before, after, timed, operation="GetObject") == 3
    assert delta(before, after, timed, operation="PutObject") == 3
    assert after.sum(timed) - before.sum(timed) == sum(expected.values())
    assert delta(before, after, "vigil_s3_request_duration_seconds_bucket", operation="PutObject", le="+Inf") == 3
    assert after.types[(requests_total, (("operation", "PutObject"), ("status", "200")))] == "counter"
    # bucket names, keys and access keys are never labels
    assert not [k for k in after.values if k[0].startswith("vigil_s3") and any(bucket in v or "NOSUCHKEY" in v for _, v in k[1])]
    never_backwards(before, after)
    raw.delete(f"/api/protocols/s3/services/{svm}")


def test_help_and_types(fresh_server):
    """Each family has its HELP text and the type the docs give it."""
    r = scrape(fresh_server)
    assert r.status_code == 200, r.text
    # a REST request creates the REST series
    assert fresh_server.session().get("/api/cluster").status_code == 200
    text = scrape(fresh_server).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["vigil_rest_requests"].type == "counter"
    assert families["vigil_rest_requests"].documentation
    assert families["vigil_rest_request_duration_seconds"].type == "histogram"
    buckets = {s.labels["le"] for s in families["vigil_rest_request_duration_seconds"].samples if s.name.endswith("_bucket")}
    assert {0.0005, 1.0, 60.0, float("inf")} <= {float(b) for b in buckets}, buckets


# -- who may scrape ----------------------------------------------------------------------


def started(tmp_path, *args) -> VigilServer:
    srv = VigilServer(tmp_path / unique("data"), extra_args=args)
    srv.start()
    return srv


@pytest.fixture
def servers(tmp_path):
    made = []

    def make(*args):
        srv = started(tmp_path, *args)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        assert srv.stop() == 0


def test_loopback_reads_without_a_token_and_a_wrong_token_is_refused(servers):
    srv = servers()
    assert scrape(srv).status_code == 200
    r = scrape(srv, {"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 401, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # ONTAP credentials are not metrics credentials, nor needed
    assert requests.get(srv.url("/metrics"), auth=(ADMIN_USER, ADMIN_PASSWORD), verify=False, timeout=30).status_code == 200


def test_an_address_outside_the_allow_list_is_forbidden(servers):
    srv = servers("--metrics-allow", "192.0.2.0/24,2001:db8::/32")
    r = scrape(srv)
    assert r.status_code == 403, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "metrics" in r.text


def test_a_token_lets_in_from_anywhere_and_only_the_right_one(servers):
    srv = servers("--metrics-allow", "none", "--metrics-token", TOKEN)
    assert scrape(srv).status_code == 401
    assert scrape(srv, {"Authorization": "Bearer not-the-token"}).status_code == 401
    assert scrape(srv, {"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    r = scrape(srv, {"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert "# TYPE" in r.text or r.text == ""


def test_metrics_off(servers):
    srv = servers("--metrics", "false")
    r = scrape(srv)
    assert r.status_code == 404, r.text
    # the REST API is unaffected
    assert srv.session().get("/api/cluster").status_code == 200


# -- docs and dashboard ------------------------------------------------------------------


def test_docs_and_dashboard_name_only_metrics_that_exist():
    """Every metric the telemetry crate defines is documented, and the Grafana dashboard
    (valid JSON) queries only documented metrics."""
    import json
    import re

    from conftest import REPO

    source = "\n".join(p.read_text() for p in (REPO / "crates/telemetry/src").glob("*.rs"))
    defined = set(re.findall(r'pub const [A-Z_]+: &str = "(vigil_[a-z0-9_]+)";', source))
    assert len(defined) == 17, defined
    docs = (REPO / "docs/metrics.md").read_text()
    documented = set(re.findall(r"^\| `(vigil_[a-z0-9_]+)` \|", docs, re.M))
    assert documented == defined
    dashboard = json.loads((REPO / "docs/grafana-vigil.json").read_text())
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queried |= set(re.findall(r"\b(vigil_[a-z0-9_]+)", target["expr"]))
    queried = {re.sub(r"_(bucket|count|sum)$", "", q) for q in queried}
    assert queried <= documented, queried - documented
    assert len(queried) >= 14, queried
