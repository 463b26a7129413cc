"""Vscan RBAC: a vsadmin of SVM A manages A's Vscan objects and can neither see nor
change SVM B's (403/404); collections show only its SVM. A readonly account reads
everything and changes nothing (403, code 6)."""

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Vscan, VscanOnAccess, VscanOnDemand, VscanScannerPool

from vscan_common import (
    changed,
    DEFAULT_CIFS,
    PW,
    VSCAN,
    check_err,
    client_resp,
    ensure_pool,
    make_account,
    oa_url,
    od_url,
    pool_body,
    pools_url,
    svm_with_tree,
)


def _on(resource, connection):
    resource.set_connection(connection)
    return resource


@pytest.fixture
def two_svms(server, svm_factory, tmp_path, raw):
    a = svm_with_tree(svm_factory, tmp_path / "a")
    b = svm_with_tree(svm_factory, tmp_path / "b")
    for s in (a, b):
        ensure_pool(raw, s["uuid"], "pool1")
        assert raw.post(oa_url(s["uuid"]), json={"name": "oa1", "enabled": False}).status_code == 201
        r = raw.post(od_url(s["uuid"]), json={"name": "od1", "log_path": "/vol1/reports", "scan_paths": ["/vol1"]})
        assert r.status_code == 201, r.text
    return a, b


def test_vsadmin_manages_own_svm_only(server, two_svms, raw):
    a, b = two_svms
    ua, ub = a["uuid"], b["uuid"]
    name = make_account(a["name"], "vsadmin")
    vs = server.connection(name, PW)
    s = server.session(name, PW)

    # sees its own SVM's configuration
    assert [v.svm.uuid for v in Vscan.get_collection(connection=vs)] == [ua]
    cfg = _on(Vscan(svm={"uuid": ua}), vs)
    cfg.get(fields="*")
    assert {p.name for p in cfg.scanner_pools} == {"pool1"}
    assert {p.name for p in VscanScannerPool.get_collection(ua, connection=vs)} == {"pool1"}
    # manages it: pools, policies, the switch
    VscanScannerPool(ua, name="vsa-pool", servers=["10.1.1.1"], privileged_users=["d\\u"]).post(connection=vs)
    p = _on(VscanScannerPool(ua, name="vsa-pool"), vs)
    p.get()
    p.role = "secondary"
    p.patch()
    VscanOnAccess(ua, name="vsa-oa", enabled=False).post(connection=vs)
    pol = _on(VscanOnAccess(ua, name=DEFAULT_CIFS), vs)
    pol.get()
    assert pol.enabled is True
    _on(changed(Vscan(svm={"uuid": ua}), enabled=True), vs).patch()
    assert raw.get(f"{VSCAN}/{ua}").json()["enabled"] is True
    _on(changed(Vscan(svm={"uuid": ua}), enabled=False), vs).patch()
    _on(VscanOnDemand(ua, name="od1"), vs).delete()
    assert raw.get(od_url(ua, "od1")).status_code == 404
    _on(VscanScannerPool(ua, name="vsa-pool"), vs).delete()
    # inherited default_CIFS: a vsadmin may disable/enable it for its SVM, not modify it
    assert s.patch(oa_url(ua, DEFAULT_CIFS), json={"enabled": False}).status_code == 200
    assert raw.get(oa_url(ua, DEFAULT_CIFS)).json()["enabled"] is False
    assert raw.get(oa_url(ub, DEFAULT_CIFS)).json()["enabled"] is True
    assert s.patch(oa_url(ua, DEFAULT_CIFS), json={"enabled": True}).status_code == 200
    check_err(s.patch(oa_url(ua, DEFAULT_CIFS), json={"mandatory": False}), 400, "10027033")
    # a nested POST without svm defaults to the vsadmin's own SVM (docs/rest.md)
    r = s.post(VSCAN, json={"enabled": False, "scanner_pools": [pool_body("vsa-nested")]})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{VSCAN}/{ua}"
    assert raw.get(pools_url(ua, "vsa-nested")).status_code == 200
    assert raw.get(pools_url(ub, "vsa-nested")).status_code == 404

    # SVM B: nothing visible, nothing changeable
    for url in (f"{VSCAN}/{ub}", pools_url(ub), pools_url(ub, "pool1"), oa_url(ub), oa_url(ub, "oa1"),
                od_url(ub), od_url(ub, "od1")):
        r = s.get(url)
        assert r.status_code in (403, 404), (url, r.status_code, r.text)
        assert r.json()["error"]["code"] in ("6", "4"), r.text
    with pytest.raises(NetAppRestError) as e:
        _on(Vscan(svm={"uuid": ub}), vs).get()
    assert client_resp(e).status_code in (403, 404)
    writes = [
        ("post", pools_url(ub), pool_body("evil")),
        ("patch", pools_url(ub, "pool1"), {"role": "idle"}),
        ("delete", pools_url(ub, "pool1"), None),
        ("post", oa_url(ub), {"name": "evil", "enabled": False}),
        ("patch", oa_url(ub, "oa1"), {"mandatory": False}),
        ("patch", oa_url(ub, DEFAULT_CIFS), {"enabled": False}),
        ("delete", oa_url(ub, "oa1"), None),
        ("post", od_url(ub), {"name": "evil", "log_path": "/vol1", "scan_paths": ["/vol1"]}),
        ("patch", od_url(ub, "od1"), {"log_path": "/vol2/data"}),
        ("delete", od_url(ub, "od1"), None),
        ("patch", f"{VSCAN}/{ub}", {"enabled": True}),
        ("delete", f"{VSCAN}/{ub}", None),
        ("post", VSCAN, {"svm": {"uuid": ub}, "enabled": False, "scanner_pools": [pool_body("evil")]}),
        ("post", VSCAN, {"svm": {"name": b["name"]}, "enabled": False, "scanner_pools": [pool_body("evil")]}),
    ]
    for method, url, body in writes:
        r = getattr(s, method)(url, json=body) if body is not None else getattr(s, method)(url)
        assert r.status_code in (403, 404), (method, url, r.status_code, r.text)
    # a collection PATCH/DELETE as vsadmin only reaches its own SVM
    r = s.patch(VSCAN + "?svm.name=*", json={"cache_clear": True})
    assert r.status_code == 200, r.text
    assert r.json()["num_records"] == 1
    # B untouched
    bb = raw.get(f"{VSCAN}/{ub}", params={"fields": "*"}).json()
    assert bb["enabled"] is False
    assert [p["name"] for p in bb["scanner_pools"]] == ["pool1"]
    assert bb["scanner_pools"][0]["role"] == "primary"
    assert {p["name"]: (p["enabled"], p["mandatory"]) for p in bb["on_access_policies"]} == \
        {"oa1": (False, True), DEFAULT_CIFS: (True, True)}
    assert [p["name"] for p in bb["on_demand_policies"]] == ["od1"]
    assert bb["on_demand_policies"][0]["log_path"] == "/vol1/reports"
    # the cluster's configuration is not the vsadmin's either
    cl = raw.get("/api/cluster").json()["uuid"]
    r = s.post(pools_url(cl), json=pool_body("evil"))
    assert r.status_code in (403, 404), r.text
    assert raw.get(pools_url(cl, "evil")).status_code == 404
    s.close()


def test_readonly_reads_but_cannot_change(server, two_svms, raw):
    a, b = two_svms
    ua = a["uuid"]
    name = make_account(None, "readonly")
    ro = server.connection(name, PW)
    s = server.session(name, PW)
    uuids = {v.svm.uuid for v in Vscan.get_collection(connection=ro)}
    assert {ua, b["uuid"]} <= uuids
    assert {p.name for p in VscanOnAccess.get_collection(ua, connection=ro)} == {"oa1", DEFAULT_CIFS}
    assert [p.name for p in VscanOnDemand.get_collection(b["uuid"], connection=ro)] == ["od1"]
    with pytest.raises(NetAppRestError) as e:
        VscanScannerPool(ua, name="ro-pool", servers=["10.0.0.1"], privileged_users=["d\\u"]).post(connection=ro)
    check_err(client_resp(e), 403, "6")
    with pytest.raises(NetAppRestError) as e:
        _on(changed(Vscan(svm={"uuid": ua}), enabled=True), ro).patch()
    check_err(client_resp(e), 403, "6")
    writes = [
        ("patch", pools_url(ua, "pool1"), {"role": "idle"}),
        ("delete", pools_url(ua, "pool1"), None),
        ("post", oa_url(ua), {"name": "ro", "enabled": False}),
        ("patch", oa_url(ua, DEFAULT_CIFS), {"enabled": False}),
        ("delete", oa_url(ua, "oa1"), None),
        ("post", od_url(ua), {"name": "ro", "log_path": "/vol1", "scan_paths": ["/vol1"]}),
        ("patch", od_url(ua, "od1"), {"log_path": "/vol2/data"}),
        ("delete", od_url(ua, "od1"), None),
        ("patch", f"{VSCAN}/{ua}", {"cache_clear": True}),
        ("delete", f"{VSCAN}/{ua}", None),
        ("post", VSCAN, {"svm": {"uuid": ua}, "enabled": False}),
        ("patch", VSCAN + "?svm.name=*", {"cache_clear": True}),
        ("delete", pools_url(ua) + "?name=*", None),
    ]
    for method, url, body in writes:
        r = getattr(s, method)(url, json=body) if body is not None else getattr(s, method)(url)
        check_err(r, 403, "6")
    cfg = raw.get(f"{VSCAN}/{ua}", params={"fields": "*"}).json()
    assert [p["name"] for p in cfg["scanner_pools"]] == ["pool1"]
    assert cfg["scanner_pools"][0]["role"] == "primary"
    assert {p["name"] for p in cfg["on_access_policies"]} == {"oa1", DEFAULT_CIFS}
    assert [p["name"] for p in cfg["on_demand_policies"]] == ["od1"]
    s.close()
