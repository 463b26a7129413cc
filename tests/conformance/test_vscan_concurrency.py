"""Concurrency: 50 parallel PATCH/POST requests (threads, raw HTTP) against one SVM's
Vscan objects leave a consistent state: at most one enabled on-access policy, no lost
or duplicated objects, limits respected, each answer consistent with the end state."""

import threading
from concurrent.futures import ThreadPoolExecutor

from vscan_common import DEFAULT_CIFS, oa_url, od_url, pool_body, pools_url, svm_with_tree

_local = threading.local()


def _session(server):
    s = getattr(_local, "s", None)
    if s is None or s.server is not server:
        s = server.session()
        _local.s = s
    return s


def _run(server, jobs):
    """jobs: list of (method, url, body); runs them 50 at once, returns responses."""
    barrier = threading.Barrier(len(jobs))

    def one(job):
        method, url, body = job
        s = _session(server)
        barrier.wait(timeout=60)
        r = getattr(s, method)(url, json=body)
        return r.status_code, (r.json() if r.content else {})

    with ThreadPoolExecutor(max_workers=len(jobs)) as ex:
        return list(ex.map(one, jobs))


def _code(resp):
    return resp[1].get("error", {}).get("code")


def test_parallel_enable_and_create_on_access(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    for i in range(6):
        assert raw.post(oa_url(u), json={"name": f"p{i}", "enabled": False}).status_code == 201
    jobs = []
    for i in range(50):
        k = i % 5
        if k in (0, 1):  # enable an existing policy (20 requests)
            jobs.append(("patch", oa_url(u, f"p{i % 6}"), {"enabled": True}))
        elif k == 2:  # disable one (10)
            jobs.append(("patch", oa_url(u, f"p{i % 6}"), {"enabled": False}))
        elif k == 3:  # create, asking to be enabled (default) (10)
            jobs.append(("post", oa_url(u), {"name": f"n{i}"}))
        else:  # create disabled, and change settings of an existing one (5 + 5)
            if i % 2:
                jobs.append(("post", oa_url(u), {"name": f"m{i}", "enabled": False}))
            else:
                jobs.append(("patch", oa_url(u, f"p{i % 6}"), {"mandatory": False}))
    results = _run(server, jobs)

    created, refused = set(), set()
    for (method, url, body), resp in zip(jobs, results):
        status, code = resp[0], _code(resp)
        if method == "post":
            if status == 201:
                created.add(body["name"])
            elif code == "10027249":  # saved, disabled
                assert status == 400, resp
                created.add(body["name"])
            else:
                assert (status, code) == (400, "10027043"), (body, resp)
                refused.add(body["name"])
        else:
            assert status == 200 or (status, code) == (400, "10027250"), (url, body, resp)

    listing = raw.get(oa_url(u), params={"fields": "name,enabled,owner", "max_records": 1000}).json()["records"]
    names = [p["name"] for p in listing]
    assert len(names) == len(set(names)), names  # no duplicates
    owned = {p["name"] for p in listing if p["owner"] == "vserver"}
    assert owned == {f"p{i}" for i in range(6)} | created  # nothing lost, nothing extra
    assert not (owned & refused)
    assert len(owned) <= 10  # the limit held
    assert len(owned) == 10  # 15 creations competed for 4 free places
    enabled = [p["name"] for p in listing if p["enabled"]]
    assert len(enabled) <= 1, enabled
    # the single-object view agrees with the listing
    for p in listing:
        one = raw.get(oa_url(u, p["name"]), params={"fields": "enabled"}).json()
        assert one["enabled"] == p["enabled"], (p, one)


def test_parallel_enable_race_single_winner(server, svm_factory, raw):
    """20 different policies enabled at once with none enabled before: exactly one PATCH
    wins (200), the others answer 10027250, and that one is the enabled policy."""
    svm = svm_factory()
    u = svm["uuid"]
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    for i in range(9):
        assert raw.post(oa_url(u), json={"name": f"r{i}", "enabled": False}).status_code == 201
    names = [f"r{i}" for i in range(9)] + [DEFAULT_CIFS]
    jobs = [("patch", oa_url(u, names[i % 10]), {"enabled": True}) for i in range(50)]
    results = _run(server, jobs)
    winners = {jobs[i][1].rsplit("/", 1)[1] for i, r in enumerate(results) if r[0] == 200}
    for r in results:
        assert r[0] == 200 or (r[0], _code(r)) == (400, "10027250"), r
    listing = raw.get(oa_url(u), params={"fields": "enabled"}).json()["records"]
    enabled = [p["name"] for p in listing if p["enabled"]]
    assert len(enabled) == 1, enabled
    assert winners == set(enabled), (winners, enabled)  # repeated enables of the winner are 200 too


def test_parallel_pool_and_on_demand_creation(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    jobs = []
    for i in range(30):  # 10 names, each posted three times
        jobs.append(("post", pools_url(u), pool_body(f"cp{i % 10}", servers=[f"10.0.0.{i % 10 + 1}"])))
    for i in range(20):  # 20 on-demand policies for 10 places
        jobs.append(("post", od_url(u), {"name": f"od{i}", "log_path": "/vol1/reports", "scan_paths": ["/vol1"]}))
    results = _run(server, jobs)
    pool_ok = {}
    od_ok = set()
    for (method, url, body), resp in zip(jobs, results):
        if "scanner-pools" in url:
            if resp[0] == 201:
                pool_ok[body["name"]] = pool_ok.get(body["name"], 0) + 1
            else:
                assert (resp[0], _code(resp)) == (409, "1"), resp
        else:
            if resp[0] == 201:
                od_ok.add(body["name"])
            else:
                assert (resp[0], _code(resp)) == (400, "10027173"), resp
    assert pool_ok == {f"cp{i}": 1 for i in range(10)}  # one winner per name
    pools = raw.get(pools_url(u), params={"fields": "servers"}).json()["records"]
    assert sorted(p["name"] for p in pools) == sorted(pool_ok)
    assert all(p["servers"] == [f"10.0.0.{int(p['name'][2:]) + 1}"] for p in pools)
    assert len(od_ok) == 10
    ods = raw.get(od_url(u)).json()["records"]
    assert sorted(p["name"] for p in ods) == sorted(od_ok)


def test_parallel_switch_and_policy_toggles_keep_invariant(server, svm_factory, raw):
    """Vscan on/off racing policy enable/disable: at the end at most one policy is
    enabled, and if Vscan is enabled exactly one is (disabling the last one is refused
    while Vscan is on). Every answer is 200 or one of the documented refusals."""
    from vscan_common import VSCAN, ensure_pool

    svm = svm_factory()
    u = svm["uuid"]
    ensure_pool(raw, u, "pool1")
    for i in range(4):
        assert raw.post(oa_url(u), json={"name": f"t{i}", "enabled": False}).status_code == 201
    names = [f"t{i}" for i in range(4)] + [DEFAULT_CIFS]
    jobs = []
    for i in range(50):
        k = i % 5
        if k == 0:
            jobs.append(("patch", f"{VSCAN}/{u}", {"enabled": True}))
        elif k == 1:
            jobs.append(("patch", f"{VSCAN}/{u}", {"enabled": False}))
        elif k in (2, 3):
            jobs.append(("patch", oa_url(u, names[i % 5]), {"enabled": True}))
        else:
            jobs.append(("patch", oa_url(u, names[(i // 5) % 5]), {"enabled": False}))
    results = _run(server, jobs)
    allowed = {"10027009", "10027010", "10027023", "10027250"}
    for job, r in zip(jobs, results):
        assert r[0] == 200 or (r[0] == 400 and _code(r) in allowed), (job, r)
    enabled = enabled_names = [p["name"] for p in raw.get(oa_url(u), params={"fields": "enabled"}).json()["records"]
                               if p["enabled"]]
    vscan_on = raw.get(f"{VSCAN}/{u}").json()["enabled"]
    assert len(enabled_names) <= 1, enabled
    if vscan_on:
        assert len(enabled_names) == 1, enabled_names
