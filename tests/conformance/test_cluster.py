"""A cluster of Vigil nodes on one PostgreSQL database (issue: cluster on PostgreSQL).

Three real `vigil serve` processes with their own data dirs share a real PostgreSQL
server started for this module: what one node writes, the others serve; a write on one
node cannot miss a conflicting write on another; `/api/cluster/nodes` reports each
node, `down` after kill -9 and `up` again after a restart; a database outage answers
writes with 503 and an ONTAP error body, keeps serving reads, and recovers by itself.
"""

import concurrent.futures
import time

import pytest

from conftest import VigilServer, unique
from pg import RealPostgres


@pytest.fixture(scope="module")
def pg():
    server = RealPostgres()
    yield server
    server.close()


def start_node(tmp_path, url, name):
    node = VigilServer(tmp_path / name, extra_args=["--database-url", url, "--node-name", name])
    node.start()
    return node


def eventually(what, check, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def nodes_by_name(node):
    r = node.session().get("/api/cluster/nodes?fields=name,state,uptime,version")
    assert r.status_code == 200, r.text
    return {n["name"]: n for n in r.json()["records"]}


def test_three_nodes_share_writes_and_report_membership(tmp_path, pg):
    url = pg.new_database()
    a, b, c = (start_node(tmp_path, url, n) for n in ("node-a", "node-b", "node-c"))
    try:
        name = unique("svm")
        r = a.session().post("/api/svm/svms?return_timeout=30", json={"name": name})
        assert r.status_code in (200, 201), r.text
        svm_uuid = r.headers["Location"].rsplit("/", 1)[1]

        # Read through B and C at once.
        def seen_by(node):
            return eventually(
                f"{node.data_dir.name} serves the SVM",
                lambda: node.session().get(f"/api/svm/svms/{svm_uuid}").status_code == 200,
            )

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert all(pool.map(seen_by, (b, c)))
        assert b.session().get(f"/api/svm/svms/{svm_uuid}?fields=name").json()["name"] == name

        # A delete through C reaches A.
        r = c.session().delete(f"/api/svm/svms/{svm_uuid}?return_timeout=30")
        assert r.status_code in (200, 202), r.text
        eventually("A no longer serves the deleted SVM",
                   lambda: a.session().get(f"/api/svm/svms/{svm_uuid}").status_code == 404)

        # Every node lists all three, up, with ONTAP's fields.
        for node in (a, b, c):
            listed = eventually("all three nodes are listed up",
                                lambda: (lambda n: len(n) == 3 and all(v["state"] == "up" for v in n.values()) and n)(nodes_by_name(node)))
            assert set(listed) == {"node-a", "node-b", "node-c"}
            assert all("Vigil" in v["version"]["full"] for v in listed.values())

        # kill -9 of C: the others see it down once its heartbeat is stale, and up again
        # after a restart on the same data dir (same node uuid).
        uuid_c = nodes_by_name(a)["node-c"]
        c.proc.kill()
        c.proc.wait()
        c.proc = None
        eventually("A reports node-c down", lambda: nodes_by_name(a)["node-c"]["state"] == "down")
        down = nodes_by_name(b)["node-c"]
        assert down["state"] == "down" and "uptime" not in down
        c.start()
        eventually("B reports node-c up again", lambda: nodes_by_name(b)["node-c"]["state"] == "up")
        assert nodes_by_name(b)["node-c"]["name"] == uuid_c["name"]
        assert len(nodes_by_name(b)) == 3
    finally:
        for node in (a, b, c):
            node.stop()


def test_conflicting_creates_on_two_nodes_make_one_svm(tmp_path, pg):
    url = pg.new_database()
    a, b = (start_node(tmp_path, url, n) for n in ("node-a", "node-b"))
    try:
        for round_ in range(5):
            name = unique(f"twin{round_}")

            def create(node):
                return node.session().post("/api/svm/svms?return_timeout=30", json={"name": name})

            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                replies = list(pool.map(create, (a, b)))
            codes = sorted(r.status_code for r in replies)
            # Exactly one node created it; the other saw it and refused the duplicate,
            # either at once or in its job's failure.
            ok = [r for r in replies if r.status_code in (200, 201) and "error" not in (r.json().get("job") or {})]
            listed = eventually(
                "both nodes list the SVM",
                lambda: all(
                    n.session().get(f"/api/svm/svms?name={name}").json()["num_records"] == 1 for n in (a, b)
                ),
            )
            assert listed
            failed = [r for r in replies if r.status_code >= 400]
            assert len(failed) == 1, (codes, [r.text for r in replies])
            assert failed[0].json()["error"]["code"] == "13434908", failed[0].text  # name in use
            assert len(ok) == 1
    finally:
        for node in (a, b):
            node.stop()


def test_database_outage_refuses_writes_with_503_and_recovers(tmp_path):
    pg = RealPostgres()
    node = None
    try:
        url = pg.new_database()
        node = start_node(tmp_path, url, "node-a")
        s = node.session()
        kept = unique("svm")
        assert s.post("/api/svm/svms?return_timeout=30", json={"name": kept}).status_code in (200, 201)

        pg.stop()
        r = s.post("/api/svm/svms?return_timeout=30", json={"name": unique("svm")})
        assert r.status_code == 503, r.text
        err = r.json()["error"]
        assert err["code"] == "262145" and "database" in err["message"].lower(), err
        # Reads are served from the node's copy meanwhile.
        r = s.get(f"/api/svm/svms?name={kept}")
        assert r.status_code == 200 and r.json()["num_records"] == 1, r.text

        pg.start()
        after = unique("svm")
        eventually(
            "a write succeeds once the database is back",
            lambda: s.post("/api/svm/svms?return_timeout=30", json={"name": after}).status_code in (200, 201),
        )
        names = {v["name"] for v in s.get("/api/svm/svms?fields=name").json()["records"]}
        assert {kept, after} <= names
        assert node.proc.poll() is None, "the node survived the outage"
    finally:
        if node:
            node.stop()
        pg.close()


EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
VSCAN = "/api/protocols/vscan"


def test_a_schedule_fires_once_per_cluster_not_once_per_node(tmp_path, pg):
    url = pg.new_database()
    nodes = [start_node(tmp_path, url, n) for n in ("node-a", "node-b", "node-c")]
    a = nodes[0]
    try:
        raw = a.session()
        root = tmp_path / "ns"
        (root / "vol1" / "reports").mkdir(parents=True)
        (root / "vol1" / "eicar.com").write_bytes(EICAR)
        r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("svm"), "root_path": str(root)})
        assert r.status_code in (200, 201), r.text
        svm = r.headers["Location"].rsplit("/", 1)[1]
        r = raw.post(VSCAN, json={
            "svm": {"uuid": svm},
            "scanner_pools": [{"name": "embedded", "servers": [f"unix://{a.data_dir / 'scanner.sock'}"],
                               "privileged_users": ["d\\u"]}],
            "on_demand_policies": [{"name": "sweep", "scan_paths": ["/vol1"], "log_path": "/vol1/reports"}],
        })
        assert r.status_code == 201, r.text
        r = raw.post("/api/cluster/schedules", json={"name": "every6s", "interval": "PT6S"})
        assert r.status_code == 201, r.text
        r = raw.patch(f"{VSCAN}/{svm}/on-demand-policies/sweep", json={"schedule": {"name": "every6s"}})
        assert r.status_code == 200, r.text

        def finished_runs():
            r = nodes[1].session().get(f"{VSCAN}/{svm}/on-demand-runs?fields=start_time,status,node")
            assert r.status_code == 200, r.text
            runs = [x for x in r.json()["records"] if x["status"] != "RUNNING"]
            return runs if len(runs) >= 4 else None

        runs = eventually("four scheduled runs", finished_runs, timeout=120)
        raw.patch(f"{VSCAN}/{svm}/on-demand-policies/sweep", json={"schedule": None})
        # One node fired them all (the lease holder), one run per interval: three nodes
        # each firing would start runs at the same times.
        assert len({x["node"]["name"] for x in runs}) == 1, runs
        starts = sorted(x["start_time"] for x in runs)
        from datetime import datetime
        times = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in starts]
        gaps = [(b - a_).total_seconds() for a_, b in zip(times, times[1:])]
        assert all(g >= 5 for g in gaps), (starts, gaps)
    finally:
        for node in nodes:
            node.stop()


def test_db_migrate_moves_a_single_node_into_postgres(tmp_path, pg):
    import subprocess

    from conftest import vigil_binary

    single = VigilServer(tmp_path / "single", extra_args=["--database-url", f"sqlite://{tmp_path / 'single.db'}"])
    single.start()
    try:
        raw = single.session()
        root = tmp_path / "ns"
        (root / "vol1" / "reports").mkdir(parents=True)
        r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("svm"), "root_path": str(root)})
        assert r.status_code in (200, 201), r.text
        svm = r.headers["Location"].rsplit("/", 1)[1]
        schedule = unique("sched")
        r = raw.post("/api/cluster/schedules", json={"name": schedule, "interval": "PT1H"})
        assert r.status_code == 201, r.text
        r = raw.post(VSCAN, json={
            "svm": {"uuid": svm},
            "scanner_pools": [{"name": "p1", "servers": ["127.0.0.1:3310"], "privileged_users": ["d\\u"]}],
            "on_access_policies": [{"name": "oa", "scope": {"include_extensions": ["exe", "com"]}}],
            "on_demand_policies": [{"name": "od", "scan_paths": ["/vol1"], "log_path": "/vol1/reports",
                                    "schedule": {"name": schedule}}],
        })
        assert r.status_code == 201, r.text
        r = raw.post("/api/security/accounts", json={"name": "viewer", "role": {"name": "readonly"},
                                                     "password": "Viewer-Password-1"})
        assert r.status_code == 201, r.text
        collections = [
            "/api/svm/svms", "/api/cluster/schedules", VSCAN, f"{VSCAN}/{svm}/scanner-pools",
            f"{VSCAN}/{svm}/on-access-policies", f"{VSCAN}/{svm}/on-demand-policies",
            "/api/security/accounts", f"{VSCAN}/{svm}/events",
        ]

        def snapshot(server):
            s = server.session()
            out = {}
            for c in collections:
                r = s.get(c, params={"fields": "*"})
                assert r.status_code == 200, (c, r.text)
                out[c] = r.json()["records"]
            return out

        before = snapshot(single)
    finally:
        single.stop()

    url = pg.new_database()
    vigil = str(vigil_binary())
    done = subprocess.run([vigil, "db", "migrate", "--from", f"sqlite://{tmp_path / 'single.db'}", "--to", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "copied" in done.stdout and "documents" in done.stdout, done.stdout
    # A second copy into the now non-empty target is refused, exit status 1.
    again = subprocess.run([vigil, "db", "migrate", "--from", f"sqlite://{tmp_path / 'single.db'}", "--to", url],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "not empty" in again.stderr, (again.returncode, again.stderr)

    moved = VigilServer(tmp_path / "single", extra_args=["--database-url", url])
    moved.start()
    try:
        after = snapshot(moved)
        events = f"{VSCAN}/{svm}/events"
        for c in collections:
            if c != events:
                assert after[c] == before[c], c
        # The moved node goes on recording events of its own (its pool's server is
        # down); every event from before is there, unchanged.
        assert all(e in after[events] for e in before[events])
        # The readonly account moved with its password.
        r = moved.session("viewer", "Viewer-Password-1").get("/api/svm/svms")
        assert r.status_code == 200, r.text
    finally:
        moved.stop()
