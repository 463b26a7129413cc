"""Vscan (per-SVM configuration) through the official client: get/get_collection with
filters and fields=*, nested POST (atomic), PATCH enabled/cache_clear, the DELETE job,
collection PATCH/DELETE. Decisions: docs/vscan.md."""

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Schedule, Vscan, VscanOnAccess, VscanOnDemand, VscanScannerPool

from conftest import polled_job_uuid, unique, wait_job
from vscan_common import (
    changed,
    DEFAULT_CIFS,
    DEFAULT_ON_ACCESS_SCOPE,
    TWO_GIB,
    VSCAN,
    check_err,
    client_resp,
    cluster_info,
    ensure_pool,
    oa_url,
    od_url,
    pool_body,
    pools_url,
    svm_with_tree,
)


def _cfg(uuid, fields="*"):
    v = Vscan(svm={"uuid": uuid})
    v.get(fields=fields)
    return v


def test_new_svm_has_disabled_config_with_default_cifs(server, svm_factory, raw):
    svm = svm_factory()
    v = _cfg(svm["uuid"])
    assert v.svm.uuid == svm["uuid"] and v.svm.name == svm["name"]
    assert v.enabled is False
    assert list(getattr(v, "scanner_pools", [])) == []
    assert list(getattr(v, "on_demand_policies", [])) == []
    names = [p.name for p in v.on_access_policies]
    assert names == [DEFAULT_CIFS]
    d = v.on_access_policies[0]
    assert d.enabled is True and d.mandatory is True and d.protocol == "CIFS"
    assert d.scope.to_dict() == DEFAULT_ON_ACCESS_SCOPE
    # cache_clear is PATCH-only and never returned
    body = raw.get(f"{VSCAN}/{svm['uuid']}", params={"fields": "*"}).json()
    assert "cache_clear" not in body

    # the standalone resource shows owner=cluster
    pol = VscanOnAccess(svm["uuid"], name=DEFAULT_CIFS)
    pol.get(fields="*")
    assert pol.owner == "cluster"
    assert pol.enabled is True
    assert pol.svm.uuid == svm["uuid"]
    assert pol.scope.max_file_size == TWO_GIB


def test_collection_lists_data_svms_and_filters(server, svm_factory):
    tag = unique("vcol")
    a = svm_factory(f"{tag}_a")
    b = svm_factory(f"{tag}_b")
    recs = list(Vscan.get_collection(fields="*"))
    by_uuid = {r.svm.uuid: r for r in recs}
    assert a["uuid"] in by_uuid and b["uuid"] in by_uuid
    assert by_uuid[a["uuid"]].enabled is False
    # the admin SVM (the cluster) is not listed, but reachable by its uuid
    cl = cluster_info()
    assert cl["uuid"] not in by_uuid
    adm = _cfg(cl["uuid"])
    assert adm.svm.uuid == cl["uuid"]
    assert adm.enabled is False

    only = list(Vscan.get_collection(**{"svm.name": a["name"]}))
    assert [r.svm.uuid for r in only] == [a["uuid"]]
    assert Vscan.count_collection(**{"svm.name": f"{tag}_*"}) == 2
    assert [r.svm.name for r in Vscan.get_collection(**{"svm.uuid": b["uuid"]})] == [b["name"]]
    found = Vscan.find(**{"svm.name": b["name"]})
    assert found.svm.uuid == b["uuid"] and found.enabled is False


def test_nested_post_creates_everything(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    weekly = Schedule.find(name="weekly")
    v = Vscan(
        svm={"name": svm["name"]},
        enabled=True,
        scanner_pools=[
            pool_body("sp1", servers=["1.1.1.1", "av1.example.com"], users=["cifs\\u1", "CIFS\\u2"]),
            pool_body("sp2", role="secondary"),
        ],
        on_access_policies=[
            {"name": "oa1", "mandatory": False, "scope": {"include_extensions": ["doc", "exe"],
                                                          "exclude_paths": ["\\vol1\\cold"]}},
        ],
        on_demand_policies=[
            {"name": "od1", "log_path": "/vol1/reports", "scan_paths": ["/vol1/cifs", "/vol2/data"],
             "schedule": {"name": "weekly"}},
        ],
    )
    resp = v.post()
    assert resp.http_response.status_code == 201
    assert resp.http_response.headers["Location"] == f"{VSCAN}/{svm['uuid']}"
    assert v.svm.uuid == svm["uuid"]

    got = _cfg(svm["uuid"])
    assert got.enabled is True
    pools = {p.name: p for p in got.scanner_pools}
    assert set(pools) == {"sp1", "sp2"}
    assert pools["sp1"].role == "primary" and pools["sp2"].role == "secondary"
    assert pools["sp1"].servers == ["1.1.1.1", "av1.example.com"]
    assert pools["sp1"].privileged_users == ["cifs\\u1", "CIFS\\u2"]
    cl = cluster_info()
    assert pools["sp1"].cluster.uuid == cl["uuid"] and pools["sp1"].cluster.name == cl["name"]
    pols = {p.name: p for p in got.on_access_policies}
    assert set(pols) == {"oa1", DEFAULT_CIFS}
    # nested on-access policies are created disabled
    assert pols["oa1"].enabled is False
    assert pols["oa1"].mandatory is False
    assert pols["oa1"].scope.include_extensions == ["doc", "exe"]
    assert pols["oa1"].scope.exclude_paths == ["\\vol1\\cold"]
    assert pols["oa1"].scope.max_file_size == TWO_GIB
    assert pols[DEFAULT_CIFS].enabled is True
    [od] = got.on_demand_policies
    assert od.name == "od1"
    assert od.log_path == "/vol1/reports"
    assert od.scan_paths == ["/vol1/cifs", "/vol2/data"]
    assert od.schedule.name == "weekly" and od.schedule.uuid == weekly.uuid

    # the same objects through their own endpoints
    assert VscanScannerPool.count_collection(svm["uuid"]) == 2
    assert VscanOnDemand.find(svm["uuid"], name="od1").schedule.name == "weekly"

    # a second POST to the same SVM adds to what is there (switch applied as given)
    on = Vscan(svm={"uuid": svm["uuid"]})
    on.enabled = False
    on.patch()
    v2 = Vscan(svm={"uuid": svm["uuid"]}, enabled=False, scanner_pools=[pool_body("sp3")])
    assert v2.post().http_response.status_code == 201
    got = _cfg(svm["uuid"])
    assert {p.name for p in got.scanner_pools} == {"sp1", "sp2", "sp3"}
    assert {p.name for p in got.on_access_policies} == {"oa1", DEFAULT_CIFS}
    assert [p.name for p in got.on_demand_policies] == ["od1"]
    assert got.enabled is False


def _nothing_but_defaults(raw, svm_uuid):
    body = raw.get(f"{VSCAN}/{svm_uuid}", params={"fields": "*"}).json()
    assert body["enabled"] is False, body
    assert body.get("scanner_pools", []) == [], body
    assert [p["name"] for p in body.get("on_access_policies", [])] == [DEFAULT_CIFS], body
    assert body.get("on_demand_policies", []) == [], body


def test_nested_post_is_atomic(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    # a failing nested on-access policy (size out of range) after a valid pool
    with pytest.raises(NetAppRestError) as e:
        Vscan(svm={"uuid": u}, enabled=False,
              scanner_pools=[pool_body("okpool")],
              on_access_policies=[{"name": "badpol", "scope": {"max_file_size": 10}}]).post()
    err = check_err(client_resp(e), 400, "10027259", "badpol", "Retry the operation")
    assert "max_file_size" in err["message"] or "1024" in err["message"], err
    _nothing_but_defaults(raw, u)

    # a failing nested pool: bad server address
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "enabled": False,
                              "scanner_pools": [pool_body("p1", servers=["not a host!"])]})
    check_err(r, 400, "10027259", "p1", "not a host!")
    _nothing_but_defaults(raw, u)

    # a failing nested on-demand policy (missing scan path) after a pool and an on-access policy
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "enabled": False,
                              "scanner_pools": [pool_body("p1")],
                              "on_access_policies": [{"name": "oa1"}],
                              "on_demand_policies": [{"name": "od1", "log_path": "/vol1/reports",
                                                      "scan_paths": ["/no/such/dir"]}]})
    check_err(r, 400, "10027259", "od1", "/no/such/dir")
    _nothing_but_defaults(raw, u)

    # enabling fails (only an idle pool): its own code, and nothing left behind
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "enabled": True,
                              "scanner_pools": [pool_body("idlepool", role="idle")],
                              "on_access_policies": [{"name": "oa2"}]})
    check_err(r, 400, "10027015", svm["name"])
    _nothing_but_defaults(raw, u)

    # a nested policy asking to be enabled while default_CIFS is: 10027259, nothing left
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "enabled": False,
                              "scanner_pools": [pool_body("p1")],
                              "on_access_policies": [{"name": "wants-on", "enabled": True}]})
    check_err(r, 400, "10027259", "wants-on", DEFAULT_CIFS)
    _nothing_but_defaults(raw, u)

    # an object that already exists: 10027260 / 409, and the rest is not created
    ensure_pool(raw, u, "exists")
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "enabled": False,
                              "on_access_policies": [{"name": "oa3"}],
                              "scanner_pools": [pool_body("fresh"), pool_body("exists")]})
    check_err(r, 409, "10027260", "exists")
    names = {p["name"] for p in raw.get(pools_url(u)).json()["records"]}
    assert names == {"exists"}
    assert raw.get(oa_url(u, "oa3")).status_code == 404
    # twice in one body: 10027260 too
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "enabled": False,
                              "scanner_pools": [pool_body("twice"), pool_body("twice")]})
    check_err(r, 409, "10027260", "twice")
    assert raw.get(pools_url(u, "twice")).status_code == 404
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "enabled": False,
                              "on_access_policies": [{"name": DEFAULT_CIFS}]})
    check_err(r, 409, "10027260", DEFAULT_CIFS)


def test_nested_post_enabled_policy_and_schedule_need_switch(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    # scheduling a nested on-demand policy with the switch off: refused, nothing left
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "enabled": False,
                              "scanner_pools": [pool_body("p1")],
                              "on_demand_policies": [{"name": "od1", "log_path": "/vol1/reports",
                                                      "scan_paths": ["/vol1"], "schedule": {"name": "daily"}}]})
    check_err(r, 400, "10027259", "od1")
    _nothing_but_defaults(raw, u)
    # no enabled on-access policy when enabling: 10027023 and nothing left
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "scanner_pools": [pool_body("p1")],
                              "on_access_policies": [{"name": "oa1"}]})
    check_err(r, 400, "10027023", svm["name"])
    assert raw.get(pools_url(u)).json()["num_records"] == 0
    assert raw.get(oa_url(u, "oa1")).status_code == 404
    # a nested policy with enabled=true (default_CIFS disabled) makes enabling possible
    r = raw.post(VSCAN, json={"svm": {"uuid": u}, "scanner_pools": [pool_body("p1")],
                              "on_access_policies": [{"name": "oa1", "enabled": True}]})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{VSCAN}/{u}"
    body = raw.get(f"{VSCAN}/{u}", params={"fields": "*"}).json()
    assert body["enabled"] is True
    assert {p["name"]: p["enabled"] for p in body["on_access_policies"]} == {"oa1": True, DEFAULT_CIFS: False}


def test_post_svm_lookup_errors(server, svm_factory, raw):
    svm = svm_factory()
    other = svm_factory()
    with pytest.raises(NetAppRestError) as e:
        Vscan(svm={"name": "no_such_svm_" + unique("x")}, enabled=False).post()
    check_err(client_resp(e), 404, "2621462", "no_such_svm_")
    r = raw.post(VSCAN, json={"svm": {"uuid": svm["uuid"], "name": other["name"]}, "enabled": False})
    check_err(r, 400, "2621706", other["name"])
    r = raw.post(VSCAN, json={"svm": {"uuid": "00000000-0000-0000-0000-000000000000"}, "enabled": False})
    check_err(r, 404, "2621462", "00000000-0000-0000-0000-000000000000")
    r = raw.post(VSCAN, json={"enabled": False})
    check_err(r, 400, "262212", target="svm.uuid")


def test_post_admin_svm_uuid_name_mismatch(server, svm_factory, raw):
    """The admin SVM is accepted by uuid or by the cluster's name; both given must agree
    (2621706), as for a data SVM."""
    cl = cluster_info()
    r = raw.post(VSCAN, json={"svm": {"uuid": cl["uuid"], "name": "not-the-cluster"}, "enabled": False})
    check_err(r, 400, "2621706", "not-the-cluster")
    svm = svm_factory()
    r = raw.post(VSCAN, json={"svm": {"uuid": svm["uuid"], "name": cl["name"]}, "enabled": False})
    check_err(r, 400, "2621706", cl["name"])


def test_patch_enable_disable_and_cache_clear(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    v = Vscan(svm={"uuid": u})
    v.enabled = True
    with pytest.raises(NetAppRestError) as e:
        v.patch()
    check_err(client_resp(e), 400, "10027015", svm["name"])
    # an idle pool is not active
    ensure_pool(raw, u, "idle1", role="idle")
    with pytest.raises(NetAppRestError) as e:
        changed(Vscan(svm={"uuid": u}), enabled=True).patch()
    check_err(client_resp(e), 400, "10027015")
    # a secondary pool is active
    ensure_pool(raw, u, "sec1", role="secondary")
    resp = changed(Vscan(svm={"uuid": u}), enabled=True).patch()
    assert resp.http_response.status_code == 200
    assert _cfg(u).enabled is True
    # already enabled
    with pytest.raises(NetAppRestError) as e:
        changed(Vscan(svm={"uuid": u}), enabled=True).patch()
    check_err(client_resp(e), 400, "10027009", svm["name"])
    # cache_clear alone, true and false; combined with enabled
    r = raw.patch(f"{VSCAN}/{u}", json={"cache_clear": True})
    assert r.status_code == 200, r.text
    r = raw.patch(f"{VSCAN}/{u}", json={"cache_clear": False})
    assert r.status_code == 200, r.text
    changed(Vscan(svm={"uuid": u}), cache_clear=True, enabled=False).patch()
    got = raw.get(f"{VSCAN}/{u}", params={"fields": "*"}).json()
    assert got["enabled"] is False and "cache_clear" not in got
    with pytest.raises(NetAppRestError) as e:
        changed(Vscan(svm={"uuid": u}), enabled=False).patch()
    check_err(client_resp(e), 400, "10027010", svm["name"])
    r = raw.patch(f"{VSCAN}/{u}", json={"cache_clear": "yes"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "262197", r.text


def test_delete_is_a_job_and_resets(server, svm_factory, tmp_path, raw):
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    r = raw.post(VSCAN, json={
        "svm": {"uuid": u},
        "scanner_pools": [pool_body("p1"), pool_body("p2", role="idle")],
        "on_access_policies": [{"name": "oa1"}, {"name": "oa2"}],
        "on_demand_policies": [{"name": "od1", "log_path": "/vol1/reports", "scan_paths": ["/vol1"],
                                "schedule": {"name": "daily"}}],
    })
    assert r.status_code == 201, r.text
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 400  # Vscan on
    assert raw.patch(f"{VSCAN}/{u}", json={"enabled": False}).status_code == 200
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert raw.patch(f"{VSCAN}/{u}", json={"enabled": True}).status_code == 400  # no enabled policy

    resp = Vscan(svm={"uuid": u}).delete()
    job = polled_job_uuid(resp)
    job_rec = raw.get(f"/api/cluster/jobs/{job}").json()
    assert job_rec["state"] == "success", job_rec
    assert job_rec["description"].startswith(f"DELETE {VSCAN}/{u}"), job_rec
    # back to the initial state: default_CIFS enabled again
    _nothing_but_defaults(raw, u)
    assert raw.get(oa_url(u, DEFAULT_CIFS)).json()["enabled"] is True
    assert raw.get(od_url(u)).json()["num_records"] == 0
    # the objects can be created again under the same names
    ensure_pool(raw, u, "p1")
    # raw: 202 + job link, and 200 with return_timeout
    r = raw.delete(f"{VSCAN}/{u}")
    assert r.status_code == 202, r.text
    job = wait_job(raw, r.json()["job"]["_links"]["self"]["href"])
    assert job["state"] == "success", job
    assert raw.get(pools_url(u)).json()["num_records"] == 0
    ensure_pool(raw, u, "p1")
    r = raw.delete(f"{VSCAN}/{u}?return_timeout=30")
    assert r.status_code == 200, r.text
    assert raw.get(pools_url(u)).json()["num_records"] == 0


def test_delete_refused_while_own_policy_enabled(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    ensure_pool(raw, u, "p1")
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    r = raw.post(oa_url(u), json={"name": "mine"})  # enabled by default
    assert r.status_code == 201, r.text
    with pytest.raises(NetAppRestError) as e:
        Vscan(svm={"uuid": u}).delete()
    err = check_err(client_resp(e), 400, "10027259", "mine", "disabled before being deleted")
    assert err["message"].startswith('Failed to delete On-Access policy "mine"'), err
    # nothing was removed
    assert raw.get(pools_url(u, "p1")).status_code == 200
    assert raw.get(oa_url(u, "mine")).json()["enabled"] is True
    # raw DELETE gives the error as well (at once or through a failed job)
    r = raw.delete(f"{VSCAN}/{u}?return_timeout=30")
    check_err(r, 400, "10027259", "mine")
    assert raw.patch(oa_url(u, "mine"), json={"enabled": False}).status_code == 200
    polled_job_uuid(Vscan(svm={"uuid": u}).delete())
    assert raw.get(oa_url(u, "mine")).status_code == 404


def test_collection_patch_and_delete(server, svm_factory, raw):
    tag = unique("vcp")
    svms = [svm_factory(f"{tag}_{i}") for i in range(3)]
    for s in svms:
        ensure_pool(raw, s["uuid"], "p1")
    resp = Vscan.patch_collection({"enabled": True}, **{"svm.name": f"{tag}_*"})
    assert resp.http_response.json()["num_records"] == 3
    assert {v.svm.name: v.enabled for v in Vscan.get_collection(fields="enabled", **{"svm.name": f"{tag}_*"})} \
        == {s["name"]: True for s in svms}
    assert Vscan.count_collection(enabled=True, **{"svm.name": f"{tag}_*"}) == 3
    resp = Vscan.patch_collection({"cache_clear": True}, **{"svm.name": f"{tag}_*"})
    assert resp.http_response.json()["num_records"] == 3
    resp = Vscan.patch_collection({"enabled": False}, **{"svm.name": f"{tag}_0|{tag}_1"})
    assert resp.http_response.json()["num_records"] == 2
    assert sorted(v.svm.name for v in Vscan.get_collection(enabled=False, **{"svm.name": f"{tag}_*"})) \
        == [f"{tag}_0", f"{tag}_1"]

    resp = Vscan.delete_collection(**{"svm.name": f"{tag}_*"})
    body = resp.http_response.json()
    assert body["num_records"] == 3
    assert len(body["jobs"]) == 3  # one DELETE job per SVM, awaited
    for s in svms:
        _nothing_but_defaults(raw, s["uuid"])
    # an SVM is still listed after its configuration is deleted
    assert Vscan.count_collection(**{"svm.name": f"{tag}_*"}) == 3


def test_patch_rejects_nested_and_svm(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    for field, value in [("scanner_pools", [pool_body("x")]),
                         ("on_access_policies", [{"name": "x"}]),
                         ("on_demand_policies", [{"name": "x"}]),
                         ("svm", {"name": "other"})]:
        r = raw.patch(f"{VSCAN}/{u}", json={field: value})
        check_err(r, 400, "262196", target=field)
    assert raw.get(pools_url(u)).json()["num_records"] == 0


def test_unknown_svm_in_paths(server, raw):
    ghost = "00000000-0000-0000-0000-00000000dead"
    for url in (f"{VSCAN}/{ghost}", pools_url(ghost), oa_url(ghost), od_url(ghost),
                pools_url(ghost, "p"), oa_url(ghost, DEFAULT_CIFS)):
        r = raw.get(url)
        check_err(r, 404, "4", target="svm.uuid")
    r = raw.post(pools_url(ghost), json=pool_body("p"))
    check_err(r, 404, "4", target="svm.uuid")
    r = raw.patch(f"{VSCAN}/{ghost}", json={"enabled": True})
    check_err(r, 404, "4")


def test_admin_svm_cannot_be_enabled(server, raw):
    cl = cluster_info()
    with pytest.raises(NetAppRestError) as e:
        changed(Vscan(svm={"uuid": cl["uuid"]}), enabled=True).patch()
    check_err(client_resp(e), 400, "10027012", cl["name"])
    r = raw.post(VSCAN, json={"svm": {"name": cl["name"]}, "enabled": True})
    check_err(r, 400, "10027012")


def test_svm_delete_takes_its_vscan_configuration(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    ensure_pool(raw, u, "p1")
    assert raw.patch(oa_url(u, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert raw.post(oa_url(u), json={"name": "mine"}).status_code == 201
    assert raw.patch(f"{VSCAN}/{u}", json={"enabled": True}).status_code == 200
    r = raw.delete(f"/api/svm/svms/{u}?return_timeout=30")
    assert r.status_code == 200, r.text
    for url in (f"{VSCAN}/{u}", pools_url(u), oa_url(u, "mine")):
        check_err(raw.get(url), 404, "4", target="svm.uuid")
    assert u not in {v.svm.uuid for v in Vscan.get_collection()}


def test_admin_svm_on_demand_is_refused_cleanly(server, raw):
    """On-demand policies are for data SVMs (spec 3.8): the admin SVM has no namespace.
    Whatever the code, the answer is a 4xx ONTAP error, never a 500."""
    cl = cluster_info()
    r = raw.post(od_url(cl["uuid"]), json={"name": "od-admin", "log_path": "/", "scan_paths": ["/"]})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    err = r.json()["error"]
    assert isinstance(err["code"], str) and err["message"], err
    assert raw.get(od_url(cl["uuid"], "od-admin")).status_code == 404
