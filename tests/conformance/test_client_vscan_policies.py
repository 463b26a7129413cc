"""VscanOnAccess and VscanOnDemand through the official client (raw HTTP where the
client refuses the input): CRUD, defaults, filters, fields=*, collection PATCH/DELETE,
enable/disable rules, default_CIFS and cluster-owned policies, namespace paths and
schedules. Decisions: docs/vscan.md."""

import os

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Schedule, Vscan, VscanOnAccess, VscanOnDemand

from conftest import unique
from vscan_common import (
    changed,
    DEFAULT_CIFS,
    DEFAULT_ON_ACCESS_SCOPE,
    DEFAULT_ON_DEMAND_SCOPE,
    TEN_GIB,
    TWO_GIB,
    VSCAN,
    check_err,
    client_resp,
    cluster_info,
    enable_vscan,
    enabled_policies,
    ensure_pool,
    get_policy,
    oa_url,
    od_url,
    svm_with_tree,
)

# ---------------------------------------------------------------- on-access


def test_on_access_crud_and_defaults(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    pol = VscanOnAccess(u, name="oa-test", enabled=False)
    resp = pol.post()
    assert resp.http_response.status_code == 201
    assert resp.http_response.headers["Location"] == f"{VSCAN}/{u}/on-access-policies/oa-test"
    got = VscanOnAccess(u, name="oa-test")
    got.get(fields="*")
    assert got.enabled is False
    assert got.mandatory is True
    assert got.protocol == "CIFS"
    assert got.owner == "vserver"
    assert got.svm.uuid == u and got.svm.name == svm["name"]
    assert got.scope.to_dict() == DEFAULT_ON_ACCESS_SCOPE  # empty exclusion lists omitted

    seed_scope = {
        "exclude_extensions": ["mp*", "txt"],
        "exclude_paths": ["\\dir1\\dir2\\name", "\\vol\\a b", "\\vol\\a,b\\"],
        "include_extensions": ["mp*", "txt", "vmdk?"],
        "max_file_size": 10000,
        "scan_without_extension": False,
        "only_execute_access": True,
        "scan_readonly_volumes": True,
    }
    p2 = VscanOnAccess(u, name="oa2", enabled=False, mandatory=False, protocol="cifs", scope=seed_scope)
    p2.post()
    body = get_policy(raw, u, "oa2")
    assert body["protocol"] == "CIFS"
    assert body["mandatory"] is False
    assert body["scope"] == seed_scope

    def names(**q):
        return sorted(p.name for p in VscanOnAccess.get_collection(u, **q))

    assert names() == sorted([DEFAULT_CIFS, "oa-test", "oa2"])
    assert names(enabled=True) == [DEFAULT_CIFS]
    assert names(mandatory=False) == ["oa2"]
    assert names(owner="vserver") == ["oa-test", "oa2"]
    assert names(owner="cluster") == [DEFAULT_CIFS]
    assert names(**{"scope.max_file_size": 10000}) == ["oa2"]
    assert names(**{"scope.max_file_size": ">10000"}) == sorted([DEFAULT_CIFS, "oa-test"])
    assert names(**{"scope.include_extensions": "txt"}) == ["oa2"]
    assert names(**{"scope.exclude_paths": "\\vol\\a b"}) == ["oa2"]
    assert names(**{"scope.only_execute_access": True}) == ["oa2"]
    assert VscanOnAccess.count_collection(u) == 3
    full = {p.name: p for p in VscanOnAccess.get_collection(u, fields="*")}
    assert full["oa2"].scope.exclude_extensions == ["mp*", "txt"]
    assert full[DEFAULT_CIFS].owner == "cluster"

    # PATCH scope: given members replace (lists wholesale), others kept; null → default
    got.mandatory = False
    got.scope = {"include_extensions": ["exe", "dll"], "max_file_size": 4096}
    got.patch()
    body = get_policy(raw, u, "oa-test")
    assert body["mandatory"] is False
    assert body["scope"]["include_extensions"] == ["exe", "dll"]
    assert body["scope"]["max_file_size"] == 4096
    assert body["scope"]["scan_without_extension"] is True
    r = raw.patch(oa_url(u, "oa-test"), json={"scope": {"exclude_extensions": ["bak"]}})
    assert r.status_code == 200, r.text
    body = get_policy(raw, u, "oa-test")
    assert body["scope"]["exclude_extensions"] == ["bak"]
    assert body["scope"]["include_extensions"] == ["exe", "dll"]
    r = raw.patch(oa_url(u, "oa-test"), json={"scope": {"max_file_size": None, "include_extensions": None,
                                                        "exclude_extensions": []}})
    assert r.status_code == 200, r.text
    body = get_policy(raw, u, "oa-test")
    assert body["scope"]["max_file_size"] == TWO_GIB
    assert body["scope"]["include_extensions"] == ["*"]
    assert "exclude_extensions" not in body["scope"]
    r = raw.patch(oa_url(u, "oa-test"), json={"protocol": "nfs"})
    check_err(r, 400, "262197", target="protocol")
    r = raw.patch(oa_url(u, "oa-test"), json={"name": "x"})
    check_err(r, 400, "262196", target="name")

    assert got.delete().http_response.status_code == 200
    assert raw.get(oa_url(u, "oa-test")).status_code == 404
    r = raw.post(oa_url(u), json={"name": "oa2", "enabled": False})
    check_err(r, 409, "1", "oa2")


def test_on_access_post_enabled_by_default(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    # default_CIFS is enabled: the new policy is saved disabled, 10027249, no Location
    with pytest.raises(NetAppRestError) as e:
        VscanOnAccess(u, name="wants-on").post()
    resp = client_resp(e)
    check_err(resp, 400, "10027249", "wants-on", DEFAULT_CIFS)
    assert "Location" not in resp.headers
    assert get_policy(raw, u, "wants-on")["enabled"] is False
    assert enabled_policies(raw, u) == [DEFAULT_CIFS]
    # with default_CIFS disabled the standalone POST enables the new policy
    p = VscanOnAccess(u, name=DEFAULT_CIFS)
    p.enabled = False
    p.patch()
    r = raw.post(oa_url(u), json={"name": "on-now"})
    assert r.status_code == 201, r.text
    assert enabled_policies(raw, u) == ["on-now"]


def test_on_access_enable_disable_rules(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    for n in ("p1", "p2"):
        assert raw.post(oa_url(u), json={"name": n, "enabled": False}).status_code == 201
    # enabling while default_CIFS is enabled: 10027250, nothing changes
    with pytest.raises(NetAppRestError) as e:
        changed(VscanOnAccess(u, name="p1"), enabled=True).patch()
    check_err(client_resp(e), 400, "10027250", "p1", DEFAULT_CIFS)
    assert enabled_policies(raw, u) == [DEFAULT_CIFS]
    # with other settings too: those are saved, 10027249
    r = raw.patch(oa_url(u, "p1"), json={"enabled": True, "mandatory": False})
    check_err(r, 400, "10027249", "p1")
    body = get_policy(raw, u, "p1")
    assert body["mandatory"] is False and body["enabled"] is False
    # switching: disable default_CIFS, enable p1
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert raw.patch(oa_url(u, "p1"), json={"enabled": True}).status_code == 200
    assert enabled_policies(raw, u) == ["p1"]
    check_err(raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": True}), 400, "10027250", "p1")
    # enabling the enabled one again is not a toggle
    assert raw.patch(oa_url(u, "p1"), json={"enabled": True}).status_code == 200
    # with Vscan enabled the enabled policy cannot be disabled
    ensure_pool(raw, u)
    assert raw.patch(f"{VSCAN}/{u}", json={"enabled": True}).status_code == 200
    check_err(raw.patch(oa_url(u, "p1"), json={"enabled": False}), 400, "10027250", "p1")
    r = raw.patch(oa_url(u, "p1"), json={"enabled": False, "scope": {"max_file_size": 2048}})
    check_err(r, 400, "10027249", "p1")
    body = get_policy(raw, u, "p1")
    assert body["enabled"] is True and body["scope"]["max_file_size"] == 2048
    # deleting an enabled policy: 10027040
    with pytest.raises(NetAppRestError) as e:
        VscanOnAccess(u, name="p1").delete()
    check_err(client_resp(e), 400, "10027040", "p1")
    # disabled ones can be deleted
    assert raw.delete(oa_url(u, "p2")).status_code == 200
    assert raw.patch(f"{VSCAN}/{u}", json={"enabled": False}).status_code == 200
    assert raw.patch(oa_url(u, "p1"), json={"enabled": False}).status_code == 200
    assert raw.delete(oa_url(u, "p1")).status_code == 200
    assert enabled_policies(raw, u) == []
    # re-enabling default_CIFS in this SVM works
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": True}).status_code == 200
    assert enabled_policies(raw, u) == [DEFAULT_CIFS]


def test_default_cifs_is_owned_by_the_cluster(server, svm_factory, raw):
    svm = svm_factory()
    other = svm_factory()
    u = svm["uuid"]
    pol = VscanOnAccess(u, name=DEFAULT_CIFS)
    pol.get()
    pol.mandatory = False
    with pytest.raises(NetAppRestError) as e:
        pol.patch()
    check_err(client_resp(e), 400, "10027033", DEFAULT_CIFS)
    for body in ({"scope": {"max_file_size": 4096}}, {"protocol": "CIFS"}, {"enabled": False, "mandatory": False}):
        check_err(raw.patch(oa_url(u, DEFAULT_CIFS), json=body), 400, "10027033", DEFAULT_CIFS)
    assert get_policy(raw, u, DEFAULT_CIFS)["enabled"] is True
    with pytest.raises(NetAppRestError) as e:
        VscanOnAccess(u, name=DEFAULT_CIFS).delete()
    check_err(client_resp(e), 400, "10027034", DEFAULT_CIFS)
    # disabling it is per SVM
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert get_policy(raw, u, DEFAULT_CIFS)["enabled"] is False
    assert get_policy(raw, other["uuid"], DEFAULT_CIFS)["enabled"] is True
    # still 10027034 when disabled
    check_err(raw.delete(oa_url(u, DEFAULT_CIFS)), 400, "10027034")
    # the cluster sees it too, owned, and unchanged
    cl = cluster_info()
    body = get_policy(raw, cl["uuid"], DEFAULT_CIFS)
    assert body["owner"] == "cluster"
    assert body["scope"] == DEFAULT_ON_ACCESS_SCOPE
    assert body["mandatory"] is True


def test_on_access_limit_counts_owned_policies(server, svm_factory, raw):
    u = svm_factory()["uuid"]
    for i in range(10):
        r = raw.post(oa_url(u), json={"name": f"lim{i}", "enabled": False})
        assert r.status_code == 201, (i, r.text)
    assert VscanOnAccess.count_collection(u) == 11  # default_CIFS does not count
    with pytest.raises(NetAppRestError) as e:
        VscanOnAccess(u, name="lim10", enabled=False).post()
    check_err(client_resp(e), 400, "10027043", "10")
    assert raw.get(oa_url(u, "lim10")).status_code == 404
    assert raw.delete(oa_url(u, "lim0")).status_code == 200
    assert raw.post(oa_url(u), json={"name": "lim10", "enabled": False}).status_code == 201


def test_on_access_collection_patch_and_delete(server, svm_factory, raw):
    u = svm_factory()["uuid"]
    for n in ("c1", "c2", "d1"):
        assert raw.post(oa_url(u), json={"name": n, "enabled": False}).status_code == 201
    resp = VscanOnAccess.patch_collection({"mandatory": False, "scope": {"max_file_size": 8192}}, u, name="c*")
    assert resp.http_response.json()["num_records"] == 2
    got = {p.name: (p.mandatory, p.scope.max_file_size)
           for p in VscanOnAccess.get_collection(u, owner="vserver", fields="mandatory,scope")}
    assert got == {"c1": (False, 8192), "c2": (False, 8192), "d1": (True, TWO_GIB)}
    resp = VscanOnAccess.delete_collection(u, mandatory=False)
    assert resp.http_response.json()["num_records"] == 2
    assert sorted(p.name for p in VscanOnAccess.get_collection(u)) == sorted([DEFAULT_CIFS, "d1"])
    # a collection DELETE that meets default_CIFS stops there with 10027034
    with pytest.raises(NetAppRestError) as e:
        VscanOnAccess.delete_collection(u, name=DEFAULT_CIFS)
    check_err(client_resp(e), 400, "10027034")


def test_cluster_owned_policies(fresh_server):
    srv = fresh_server
    srv.use_as_default()
    raw = srv.session()
    cl = cluster_info()
    svms = []
    for _ in range(2):
        r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("cpol")})
        assert r.status_code in (200, 201), r.text
        svms.append(r.headers["Location"].rsplit("/", 1)[1])
    a, b = svms
    # the cluster's default_CIFS is enabled for the cluster itself too? it is owned there
    body = get_policy(raw, cl["uuid"], DEFAULT_CIFS)
    assert body["owner"] == "cluster"
    # the admin SVM creates a policy: inherited by every data SVM, disabled there
    r = raw.post(oa_url(cl["uuid"]), json={"name": "clpol", "enabled": False, "scope": {"include_extensions": ["exe"]}})
    assert r.status_code == 201, r.text
    for s in (a, b):
        p = get_policy(raw, s, "clpol")
        assert p["owner"] == "cluster" and p["enabled"] is False
        assert p["scope"]["include_extensions"] == ["exe"]
    # a data SVM can enable it (after disabling default_CIFS), for itself only
    assert raw.patch(oa_url(a, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert raw.patch(oa_url(a, "clpol"), json={"enabled": True}).status_code == 200
    assert enabled_policies(raw, a) == ["clpol"]
    assert enabled_policies(raw, b) == [DEFAULT_CIFS]
    check_err(raw.patch(oa_url(a, "clpol"), json={"mandatory": False}), 400, "10027033", "clpol")
    check_err(raw.delete(oa_url(a, "clpol")), 400, "10027034", "clpol")
    # the owner's edits reach every SVM
    assert raw.patch(oa_url(cl["uuid"], "clpol"), json={"scope": {"include_extensions": ["dll"]}}).status_code == 200
    assert get_policy(raw, a, "clpol")["scope"]["include_extensions"] == ["dll"]
    assert get_policy(raw, b, "clpol")["scope"]["include_extensions"] == ["dll"]
    assert get_policy(raw, a, "clpol")["enabled"] is True
    # the owner cannot delete it while a data SVM has it enabled
    check_err(raw.delete(oa_url(cl["uuid"], "clpol")), 400, "10027040", "clpol")
    # inherited policies do not count toward a data SVM's limit of 10
    for i in range(10):
        assert raw.post(oa_url(b), json={"name": f"own{i}", "enabled": False}).status_code == 201
    check_err(raw.post(oa_url(b), json={"name": "own10", "enabled": False}), 400, "10027043")
    # names: the cluster cannot take a data SVM's policy name, nor a data SVM the cluster's
    check_err(raw.post(oa_url(cl["uuid"]), json={"name": "own3", "enabled": False}), 409, "1", "own3")
    check_err(raw.post(oa_url(a), json={"name": "clpol", "enabled": False}), 409, "1", "clpol")
    # disabled everywhere: the owner can delete it, and it disappears from the data SVMs
    assert raw.patch(oa_url(a, "clpol"), json={"enabled": False}).status_code == 200
    assert raw.delete(oa_url(cl["uuid"], "clpol")).status_code == 200
    for s in (a, b):
        assert raw.get(oa_url(s, "clpol")).status_code == 404
    raw.close()


# ---------------------------------------------------------------- on-demand


def test_on_demand_crud_and_defaults(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    od = VscanOnDemand(u, name="task-1", log_path="/vol0/report_dir", scan_paths=["/vol1/", "/vol2/data"])
    resp = od.post()
    assert resp.http_response.status_code == 201
    assert resp.http_response.headers["Location"] == f"{VSCAN}/{u}/on-demand-policies/task-1"
    got = VscanOnDemand(u, name="task-1")
    got.get(fields="*")
    assert got.log_path == "/vol0/report_dir"
    assert got.scan_paths == ["/vol1/", "/vol2/data"]
    assert got.scope.to_dict() == DEFAULT_ON_DEMAND_SCOPE
    assert got.svm.uuid == u
    assert not hasattr(got, "schedule")
    body = raw.get(od_url(u, "task-1"), params={"fields": "*"}).json()
    assert "only_execute_access" not in body["scope"] and "scan_readonly_volumes" not in body["scope"]
    assert body["scope"]["max_file_size"] == TEN_GIB

    scope = {"exclude_extensions": ["mp3", "mp4"], "exclude_paths": ["/voll/cold-files/", "/voll/cifs/names"],
             "include_extensions": ["vmdk", "mp*"], "max_file_size": 10737418240, "scan_without_extension": False}
    VscanOnDemand(u, name="task-2", log_path="/vol1/reports", scan_paths=["/vol1/file.txt"], scope=scope).post()
    assert raw.get(od_url(u, "task-2"), params={"fields": "scope"}).json()["scope"] == scope

    def names(**q):
        return sorted(p.name for p in VscanOnDemand.get_collection(u, **q))

    assert names() == ["task-1", "task-2"]
    assert names(log_path="/vol1/reports") == ["task-2"]
    assert names(scan_paths="/vol1/file.txt") == ["task-2"]
    assert names(**{"scope.include_extensions": "vmdk"}) == ["task-2"]
    assert names(**{"scope.scan_without_extension": True}) == ["task-1"]
    assert VscanOnDemand.count_collection(u) == 2

    got.log_path = "/vol1/reports"
    got.scan_paths = ["/vol1/cifs"]
    got.scope = {"max_file_size": 1024, "exclude_paths": ["/vol1/cold"]}
    got.patch()
    body = raw.get(od_url(u, "task-1"), params={"fields": "*"}).json()
    assert body["log_path"] == "/vol1/reports"
    assert body["scan_paths"] == ["/vol1/cifs"]
    assert body["scope"]["max_file_size"] == 1024
    assert body["scope"]["exclude_paths"] == ["/vol1/cold"]
    assert body["scope"]["include_extensions"] == ["*"]
    v = Vscan(svm={"uuid": u})
    v.get(fields="on_demand_policies")
    assert sorted(p.name for p in v.on_demand_policies) == ["task-1", "task-2"]

    assert got.delete().http_response.status_code == 200
    assert names() == ["task-2"]
    check_err(raw.post(od_url(u), json={"name": "task-2", "log_path": "/vol1", "scan_paths": ["/vol1"]}),
              409, "1", "task-2")
    check_err(raw.patch(od_url(u, "task-2"), json={"name": "x"}), 400, "262196", target="name")
    check_err(raw.delete(od_url(u, "nope")), 404, "4")


def test_on_demand_schedules(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    weekly = Schedule.find(name="weekly")
    daily = Schedule.find(name="daily")
    base = {"log_path": "/vol1/reports", "scan_paths": ["/vol1"]}
    # Vscan disabled: scheduling refused
    r = raw.post(od_url(u), json={"name": "s1", "schedule": {"name": "weekly"}, **base})
    check_err(r, 400, "10027164", target="schedule")
    assert raw.get(od_url(u, "s1")).status_code == 404
    enable_vscan(raw, u)
    # by name
    VscanOnDemand(u, name="s1", schedule={"name": "weekly"}, **base).post()
    s1 = raw.get(od_url(u, "s1"), params={"fields": "schedule"}).json()["schedule"]
    assert s1["name"] == "weekly" and s1["uuid"] == weekly.uuid
    # only one scheduled policy per SVM
    r = raw.post(od_url(u), json={"name": "s2", "schedule": {"uuid": daily.uuid}, **base})
    check_err(r, 400, "10027255", "s1")
    assert raw.post(od_url(u), json={"name": "s2", **base}).status_code == 201
    check_err(raw.patch(od_url(u, "s2"), json={"schedule": {"name": "daily"}}), 400, "10027255", "s1")
    # re-scheduling the scheduled one is fine; by uuid; filters on schedule
    p = VscanOnDemand(u, name="s1")
    p.schedule = {"uuid": daily.uuid}
    p.patch()
    assert [x.name for x in VscanOnDemand.get_collection(u, **{"schedule.name": "daily"})] == ["s1"]
    assert [x.name for x in VscanOnDemand.get_collection(u, **{"schedule.uuid": daily.uuid})] == ["s1"]
    # unknown schedules, inconsistent name/uuid
    check_err(raw.patch(od_url(u, "s1"), json={"schedule": {"name": "no-such-sched"}}), 400, "10027167",
              "no-such-sched")
    check_err(raw.patch(od_url(u, "s1"), json={"schedule": {"uuid": "11111111-2222-3333-4444-555555555555"}}),
              400, "10027167")
    check_err(raw.patch(od_url(u, "s1"), json={"schedule": {"uuid": weekly.uuid, "name": "daily"}}),
              400, "10027167")
    # unschedule with null, then with {}
    assert raw.patch(od_url(u, "s1"), json={"schedule": None}).status_code == 200
    assert "schedule" not in raw.get(od_url(u, "s1"), params={"fields": "*"}).json()
    assert raw.patch(od_url(u, "s2"), json={"schedule": {"name": "daily"}}).status_code == 200
    assert raw.patch(od_url(u, "s2"), json={"schedule": {}}).status_code == 200
    assert "schedule" not in raw.get(od_url(u, "s2"), params={"fields": "*"}).json()
    # a schedule created by the admin works by name, and is shown with its uuid
    sched = Schedule(name=unique("odsch"), cron={"minutes": [5]})
    sched.post()
    assert raw.patch(od_url(u, "s2"), json={"schedule": {"name": sched.name}}).status_code == 200
    shown = raw.get(od_url(u, "s2"), params={"fields": "schedule"}).json()["schedule"]
    assert shown["name"] == sched.name and shown["uuid"] == sched.uuid
    # SVM not running: 10027175
    assert raw.patch(od_url(u, "s2"), json={"schedule": None}).status_code == 200
    r = raw.patch(f"/api/svm/svms/{u}?return_timeout=30", json={"state": "stopped"})
    assert r.status_code == 200, r.text
    try:
        check_err(raw.patch(od_url(u, "s2"), json={"schedule": {"name": "daily"}}), 400, "10027175", svm["name"])
    finally:
        r = raw.patch(f"/api/svm/svms/{u}?return_timeout=30", json={"state": "running"})
        assert r.status_code == 200, r.text
    assert raw.patch(od_url(u, "s2"), json={"schedule": {"name": "daily"}}).status_code == 200


def test_on_demand_paths(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    root = svm["root"]
    outside = tmp_path / unique("outside")
    outside.mkdir()
    os.symlink(outside, root / "vol1" / "escape")
    os.symlink(root / "vol2" / "data", root / "vol1" / "inside")

    def post(name, **kw):
        body = {"name": name, "log_path": "/vol1/reports", "scan_paths": ["/vol1"]}
        body.update(kw)
        return raw.post(od_url(u), json=body)

    # log_path
    for bad in ("/no/such", "vol1/reports", "reports", "/vol1/escape", "/../../" + str(outside).lstrip("/")):
        r = post(unique("lp"), log_path=bad)
        check_err(r, 400, "10027176", target="log_path")
    check_err(post(unique("lp"), log_path="/vol1/file.txt"), 400, "10027177", "/vol1/file.txt", target="log_path")
    # scan_paths
    for bad in ("/no/such", "vol1", "/vol1/escape", "/vol1/missing.txt"):
        r = post(unique("sp"), scan_paths=["/vol1", bad])
        check_err(r, 400, "10027168", bad, target="scan_paths")
    check_err(post(unique("sp"), scan_paths=[]), 400, "10027168", target="scan_paths")
    check_err(post(unique("sp"), scan_paths=["/vol1/fifo"]), 400, "10027169", "/vol1/fifo", target="scan_paths")
    # fine: a file, a symlink staying inside, the root itself, .. resolved lexically
    assert post("okpaths", scan_paths=["/vol1/file.txt", "/vol1/inside", "/", "/vol2/../vol1"],
                log_path="/vol1/inside").status_code == 201
    # exclude paths must be /-paths
    for bad in ("\\vol1\\cold", "vol1/cold", ""):
        check_err(post(unique("ex"), scope={"exclude_paths": [bad]}), 400, "10027174")
    # PATCH checks the same
    check_err(raw.patch(od_url(u, "okpaths"), json={"log_path": "/nope"}), 400, "10027176")
    check_err(raw.patch(od_url(u, "okpaths"), json={"scan_paths": ["/nope"]}), 400, "10027168", "/nope")
    check_err(raw.patch(od_url(u, "okpaths"), json={"scope": {"exclude_paths": ["x"]}}), 400, "10027174")
    assert raw.get(od_url(u, "okpaths")).json()["log_path"] == "/vol1/inside"


def test_on_demand_limit_and_collection_ops(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    for i in range(10):
        r = raw.post(od_url(u), json={"name": f"t{i}", "log_path": "/vol1/reports", "scan_paths": ["/vol1"]})
        assert r.status_code == 201, (i, r.text)
    with pytest.raises(NetAppRestError) as e:
        VscanOnDemand(u, name="t10", log_path="/vol1/reports", scan_paths=["/vol1"]).post()
    check_err(client_resp(e), 400, "10027173", "10")
    resp = VscanOnDemand.patch_collection({"scope": {"max_file_size": 2048}}, u, name="t0|t1|t2")
    assert resp.http_response.json()["num_records"] == 3
    assert sorted(p.name for p in VscanOnDemand.get_collection(u, **{"scope.max_file_size": 2048})) \
        == ["t0", "t1", "t2"]
    resp = VscanOnDemand.delete_collection(u, **{"scope.max_file_size": 2048})
    assert resp.http_response.json()["num_records"] == 3
    assert VscanOnDemand.count_collection(u) == 7
    assert raw.post(od_url(u), json={"name": "t10", "log_path": "/vol1/reports", "scan_paths": ["/vol1"]}).status_code == 201


def test_deleted_schedule_leaves_a_consistent_policy(server, svm_factory, tmp_path, raw):
    """A policy whose schedule is deleted: either the schedule DELETE is refused while in
    use, or the policy is unscheduled — then it neither shows a schedule nor blocks
    scheduling another policy (10027255 must name a policy that shows a schedule)."""
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    enable_vscan(raw, u)
    sched = Schedule(name=unique("gone"), cron={"minutes": [9]})
    sched.post()
    base = {"log_path": "/vol1/reports", "scan_paths": ["/vol1"]}
    assert raw.post(od_url(u), json={"name": "s1", "schedule": {"name": sched.name}, **base}).status_code == 201
    r = raw.delete(f"/api/cluster/schedules/{sched.uuid}")
    if r.status_code >= 400:
        shown = raw.get(od_url(u, "s1"), params={"fields": "schedule"}).json()
        assert shown["schedule"]["uuid"] == sched.uuid
        return
    assert "schedule" not in raw.get(od_url(u, "s1"), params={"fields": "*"}).json()
    r = raw.post(od_url(u), json={"name": "s2", "schedule": {"name": "daily"}, **base})
    assert r.status_code == 201, r.text


def test_admin_config_delete_keeps_policies_enabled_in_data_svms(fresh_server):
    """DELETE of the admin SVM's configuration deletes the cluster's own policies. A
    cluster policy counts as enabled while any SVM has it enabled (docs/vscan.md, 10027040),
    so the DELETE must be refused (10027259 naming it) while a data SVM uses it —
    otherwise that SVM is left with Vscan enabled and no policy, and default_CIFS is gone
    for every SVM."""
    srv = fresh_server
    srv.use_as_default()
    raw = srv.session()
    cl = cluster_info()
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("adm")})
    assert r.status_code in (200, 201), r.text
    a = r.headers["Location"].rsplit("/", 1)[1]
    ensure_pool(raw, a, "pool1")
    assert raw.patch(f"{VSCAN}/{a}", json={"enabled": True}).status_code == 200
    # the cluster disables default_CIFS for itself only; a keeps it enabled
    assert raw.patch(oa_url(cl["uuid"], DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert get_policy(raw, a, DEFAULT_CIFS)["enabled"] is True
    # deleting it directly is refused (enabled in a) ...
    check_err(raw.delete(oa_url(cl["uuid"], DEFAULT_CIFS)), 400, "10027040", DEFAULT_CIFS)
    # ... and so must deleting the cluster's whole configuration
    r = raw.delete(f"{VSCAN}/{cl['uuid']}?return_timeout=30")
    check_err(r, 400, "10027259", DEFAULT_CIFS)
    assert get_policy(raw, a, DEFAULT_CIFS)["enabled"] is True
    assert enabled_policies(raw, a) == [DEFAULT_CIFS]
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("adm")})
    b = r.headers["Location"].rsplit("/", 1)[1]
    assert enabled_policies(raw, b) == [DEFAULT_CIFS]
    raw.close()


def test_owner_is_read_only_and_on_demand_needs_no_enabled_policy(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    r = raw.post(oa_url(u), json={"name": "own", "enabled": False, "owner": "cluster"})
    check_err(r, 400, "262196", target="owner")
    assert raw.get(oa_url(u, "own")).status_code == 404
    assert raw.post(oa_url(u), json={"name": "own", "enabled": False}).status_code == 201
    check_err(raw.patch(oa_url(u, "own"), json={"owner": "cluster"}), 400, "262196", target="owner")
    check_err(raw.patch(oa_url(u, "own"), json={"svm": {"uuid": u}}), 400, "262196", target="svm")
    assert get_policy(raw, u, "own")["owner"] == "vserver"
    # no enabled on-access policy at all: an on-demand policy can still be created
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert enabled_policies(raw, u) == []
    od = VscanOnDemand(u, name="nopol", log_path="/vol1/reports", scan_paths=["/vol1"])
    assert od.post().http_response.status_code == 201
