"""Every Vscan object survives a restart of the real binary on the same data dir: pools
(own and the cluster's, with per-SVM roles), on-access policies (own, the cluster's,
per-SVM enabled choices incl. default_CIFS), the switch, on-demand policies with a
schedule, and the admin SVM's objects."""

from netapp_ontap.resources import Schedule, Vscan, VscanOnAccess, VscanOnDemand, VscanScannerPool

from conftest import unique
from vscan_common import DEFAULT_CIFS, VSCAN, cluster_info, make_tree, oa_url, od_url, pool_body, pools_url


def _snapshot(raw, uuids):
    out = {}
    for u in uuids:
        out[u] = {
            "config": raw.get(f"{VSCAN}/{u}", params={"fields": "*"}).json(),
            "pools": raw.get(pools_url(u), params={"fields": "*", "order_by": "name"}).json()["records"],
            "on_access": raw.get(oa_url(u), params={"fields": "*", "order_by": "name"}).json()["records"],
            "on_demand": raw.get(od_url(u), params={"fields": "*", "order_by": "name"}).json()["records"],
        }
    return out


def test_vscan_objects_survive_restart(fresh_server, tmp_path):
    srv = fresh_server
    srv.use_as_default()
    raw = srv.session()
    cl = cluster_info()
    root = make_tree(tmp_path / "ns")
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("rs"), "root_path": str(root)})
    assert r.status_code in (200, 201), r.text
    a = r.headers["Location"].rsplit("/", 1)[1]
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("rs")})
    assert r.status_code in (200, 201), r.text
    b = r.headers["Location"].rsplit("/", 1)[1]
    sched = Schedule(name=unique("rsched"), cron={"minutes": [15], "hours": [3]})
    sched.post()

    # the cluster's objects
    assert raw.post(pools_url(cl["uuid"]), json=pool_body("clpool", servers=["clamd://av.example.com:3312"])).status_code == 201
    assert raw.post(oa_url(cl["uuid"]), json={"name": "clpol", "enabled": False,
                                              "scope": {"include_extensions": ["exe"]}}).status_code == 201
    # SVM a: own pools with each role, the cluster pool made primary here, own policies,
    # default_CIFS disabled, the cluster policy enabled here, Vscan on, a scheduled task
    VscanScannerPool(a, name="p-primary", servers=["10.0.0.1", "[fd20::1]:3311"],
                     privileged_users=["Dom\\Scan"], role="primary").post()
    VscanScannerPool(a, name="p-secondary", servers=["unix:///run/clamd.sock"],
                     privileged_users=["d\\u"], role="secondary").post()
    VscanScannerPool(a, name="p-idle", servers=["icap://h/avscan"], privileged_users=["d\\u"], role="idle").post()
    assert raw.patch(pools_url(a, "clpool"), json={"role": "primary"}).status_code == 200
    VscanOnAccess(a, name="own1", enabled=False, mandatory=False,
                  scope={"exclude_paths": ["\\vol1\\cold\\"], "exclude_extensions": ["tmp"],
                         "max_file_size": 4096, "only_execute_access": True}).post()
    assert raw.patch(oa_url(a, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert raw.patch(oa_url(a, "clpol"), json={"enabled": True}).status_code == 200
    assert raw.patch(f"{VSCAN}/{a}", json={"enabled": True, "cache_clear": True}).status_code == 200
    VscanOnDemand(a, name="task-1", log_path="/vol1/reports", scan_paths=["/vol1", "/vol2/data"],
                  schedule={"name": sched.name},
                  scope={"exclude_paths": ["/vol1/cold"], "max_file_size": 2048}).post()
    VscanOnDemand(a, name="task-2", log_path="/vol0/report_dir", scan_paths=["/vol1/file.txt"]).post()
    # SVM b: untouched except one own enabled policy after disabling default_CIFS
    assert raw.patch(oa_url(b, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert raw.post(oa_url(b), json={"name": "b-on"}).status_code == 201

    before = _snapshot(raw, [a, b, cl["uuid"]])
    # sanity of what is being compared
    assert before[a]["config"]["enabled"] is True
    assert {p["name"]: p["role"] for p in before[a]["pools"]} == {
        "p-primary": "primary", "p-secondary": "secondary", "p-idle": "idle", "clpool": "primary"}
    assert {p["name"]: p["role"] for p in before[b]["pools"]} == {"clpool": "idle"}
    assert {p["name"]: p["enabled"] for p in before[a]["on_access"]} == {
        "own1": False, DEFAULT_CIFS: False, "clpol": True}
    assert {p["name"]: p["enabled"] for p in before[b]["on_access"]} == {
        "b-on": True, DEFAULT_CIFS: False, "clpol": False}
    assert before[a]["on_demand"][0]["schedule"]["uuid"] == sched.uuid
    raw.close()

    srv.restart()
    srv.use_as_default()
    raw = srv.session()
    after = _snapshot(raw, [a, b, cl["uuid"]])
    for u in (a, b, cl["uuid"]):
        for key in ("config", "pools", "on_access", "on_demand"):
            assert after[u][key] == before[u][key], (u, key)

    # still behaving: the rules hold over the restored state
    v = Vscan(svm={"uuid": a})
    v.get()
    assert v.enabled is True
    r = raw.patch(oa_url(a, "clpol"), json={"enabled": False})
    assert r.status_code == 400 and r.json()["error"]["code"] == "10027250", r.text
    r = raw.post(od_url(a), json={"name": "task-3", "log_path": "/vol1/reports", "scan_paths": ["/vol1"],
                                  "schedule": {"name": "daily"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "10027255", r.text
    r = raw.patch(f"{VSCAN}/{a}", json={"enabled": True})
    assert r.status_code == 400 and r.json()["error"]["code"] == "10027009", r.text
    raw.close()
