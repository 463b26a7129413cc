"""The Vscan examples of seed 000_c58ff469c50c4f16.txt reproduced with raw HTTP, response
shapes compared: GET /api/protocols/vscan/{svm.uuid} (all fields and chosen fields),
PATCH, DELETE and the error body. (server-status and events belong to a later issue.)"""

import pytest

from conftest import wait_job
from vscan_common import (
    DEFAULT_CIFS,
    VSCAN,
    check_err,
    cluster_info,
    oa_url,
    od_url,
    pool_body,
    pools_url,
    svm_with_tree,
)

HAL = "application/hal+json"

# The objects of the seed's "Retrieve the Vscan configuration for an SVM" example.
SEED_POOL = {
    "name": "scanner-1",
    "privileged_users": ["cifs\\u1", "cifs\\u2"],
    "role": "primary",
    "servers": ["1.1.1.1", "10.72.204.27", "vmwin204-27.fsct.nb"],
}
SEED_ON_ACCESS = {
    "name": "on-access-test",
    "protocol": "CIFS",
    "scope": {
        "exclude_extensions": ["mp*", "txt"],
        "exclude_paths": ["\\dir1\\dir2\\name", "\\vol\\a b", "\\vol\\a,b\\"],
        "include_extensions": ["mp*", "txt"],
        "max_file_size": 2147483648,
    },
}
SEED_ON_DEMAND = {
    "log_path": "/vol0/report_dir",
    "name": "task-1",
    "scan_paths": ["/vol1/", "/vol2/cifs/"],
    "schedule": {"name": "weekly"},
    "scope": {
        "exclude_extensions": ["mp3", "mp4"],
        "exclude_paths": ["/voll/cold-files/", "/voll/cifs/names"],
        "include_extensions": ["vmdk", "mp*"],
        "max_file_size": 10737418240,
    },
}


def _seed_svm(raw, svm_factory, tmp_path):
    svm = svm_with_tree(svm_factory, tmp_path)
    (svm["root"] / "vol2" / "cifs").mkdir()
    r = raw.post(VSCAN, json={"svm": {"name": svm["name"]}, "enabled": True,
                              "scanner_pools": [SEED_POOL], "on_access_policies": [SEED_ON_ACCESS],
                              "on_demand_policies": [SEED_ON_DEMAND]})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"{VSCAN}/{svm['uuid']}"
    return svm


def test_seed_get_vscan_for_svm(raw, svm_factory, tmp_path):
    svm = _seed_svm(raw, svm_factory, tmp_path)
    u = svm["uuid"]
    cl = cluster_info()
    weekly = raw.get("/api/cluster/schedules", params={"name": "weekly"}).json()["records"][0]
    r = raw.get(f"{VSCAN}/{u}", params={"fields": "*"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == HAL
    body = r.json()
    assert set(body) == {"_links", "enabled", "on_access_policies", "on_demand_policies", "scanner_pools", "svm"}
    assert body["_links"] == {"self": {"href": f"{VSCAN}/{u}"}}
    assert body["enabled"] is True
    assert body["svm"]["uuid"] == u and body["svm"]["name"] == svm["name"]
    assert body["svm"]["_links"]["self"]["href"] == f"/api/svm/svms/{u}"

    [pool] = body["scanner_pools"]
    assert set(pool) == {"cluster", "name", "privileged_users", "role", "servers"}, pool
    assert {k: pool[k] for k in SEED_POOL} == SEED_POOL
    assert set(pool["cluster"]) == {"_links", "name", "uuid"}
    assert pool["cluster"]["name"] == cl["name"] and pool["cluster"]["uuid"] == cl["uuid"]
    assert pool["cluster"]["_links"]["self"]["href"]

    pols = {p["name"]: p for p in body["on_access_policies"]}
    assert set(pols) == {"on-access-test", DEFAULT_CIFS}
    p = pols["on-access-test"]
    assert set(p) == {"name", "enabled", "mandatory", "protocol", "scope"}, p  # no svm/owner nested
    assert p["enabled"] is False and p["mandatory"] is True and p["protocol"] == "CIFS"
    assert p["scope"] == {**SEED_ON_ACCESS["scope"], "scan_without_extension": True,
                          "only_execute_access": False, "scan_readonly_volumes": False}
    d = pols[DEFAULT_CIFS]
    assert set(d["scope"]) == {"include_extensions", "max_file_size", "scan_without_extension",
                               "only_execute_access", "scan_readonly_volumes"}

    [od] = body["on_demand_policies"]
    assert set(od) == {"log_path", "name", "scan_paths", "schedule", "scope"}, od
    assert od["log_path"] == "/vol0/report_dir" and od["scan_paths"] == ["/vol1/", "/vol2/cifs/"]
    assert set(od["schedule"]) == {"_links", "name", "uuid"}
    assert od["schedule"]["name"] == "weekly" and od["schedule"]["uuid"] == weekly["uuid"]
    assert od["schedule"]["_links"]["self"]["href"] == f"/api/cluster/schedules/{weekly['uuid']}"
    assert od["scope"] == {**SEED_ON_DEMAND["scope"], "scan_without_extension": True}

    # the collection carries the same record
    r = raw.get(VSCAN, params={"fields": "*", "svm.uuid": u})
    assert r.status_code == 200
    coll = r.json()
    assert coll["num_records"] == 1
    rec = coll["records"][0]
    assert {k: v for k, v in rec.items() if k != "_links"} == {k: v for k, v in body.items() if k != "_links"}


def test_fields_selects_members(raw, svm_factory, tmp_path):
    """fields= returns the key (svm) and what was asked for: arrays not asked for are
    left out, and a nested member selects only that member."""
    svm = _seed_svm(raw, svm_factory, tmp_path)
    u = svm["uuid"]
    r = raw.get(f"{VSCAN}/{u}", params={"fields": "enabled,scanner_pools.name"})
    assert r.status_code == 200
    b = r.json()
    assert b["enabled"] is True
    assert b["scanner_pools"] == [{"name": "scanner-1"}]
    assert b["svm"]["uuid"] == u
    assert set(b) == {"svm", "enabled", "scanner_pools", "_links"}, b
    r = raw.get(f"{VSCAN}/{u}", params={"fields": "enabled"})
    assert set(r.json()) == {"svm", "enabled", "_links"}, r.json()



def test_default_collection_get_shape(raw, svm_factory):
    """Without fields=, a collection record carries its key (svm) and link only, as every
    other collection of the API does (e.g. schedules: uuid, name, _links)."""
    svm = svm_factory()
    u = svm["uuid"]
    r = raw.get(VSCAN, params={"svm.uuid": u})
    rec = r.json()["records"][0]
    assert rec["svm"]["uuid"] == u and rec["svm"]["name"] == svm["name"]
    assert rec["_links"]["self"]["href"] == f"{VSCAN}/{u}"
    assert set(rec) == {"svm", "_links"}, rec


def test_seed_sub_resource_shapes(raw, svm_factory, tmp_path):
    svm = _seed_svm(raw, svm_factory, tmp_path)
    u = svm["uuid"]
    pool = raw.get(pools_url(u, "scanner-1"), params={"fields": "*"}).json()
    assert set(pool) == {"_links", "cluster", "name", "privileged_users", "role", "servers", "svm"}
    assert pool["_links"]["self"]["href"] == pools_url(u, "scanner-1")
    oa = raw.get(oa_url(u, "on-access-test"), params={"fields": "*"}).json()
    assert set(oa) == {"_links", "name", "enabled", "mandatory", "protocol", "scope", "svm", "owner"}
    assert oa["owner"] == "vserver"
    od = raw.get(od_url(u, "task-1"), params={"fields": "*"}).json()
    assert set(od) == {"_links", "name", "log_path", "scan_paths", "schedule", "scope", "svm"}
    assert od["_links"]["self"]["href"] == od_url(u, "task-1")
    coll = raw.get(pools_url(u)).json()
    assert set(coll) >= {"records", "num_records"}
    assert coll["records"][0]["name"] == "scanner-1"
    assert coll["records"][0]["_links"]["self"]["href"] == pools_url(u, "scanner-1")


def test_seed_patch_and_delete(raw, svm_factory, tmp_path):
    svm = _seed_svm(raw, svm_factory, tmp_path)
    u = svm["uuid"]
    # PATCH: enabled / cache_clear, 200
    r = raw.patch(f"{VSCAN}/{u}", json={"enabled": False, "cache_clear": True})
    assert r.status_code == 200, r.text
    assert r.text.strip() in ("", "{}"), r.text
    assert raw.get(f"{VSCAN}/{u}").json()["enabled"] is False
    r = raw.patch(f"{VSCAN}/{u}", json={"enabled": True})
    assert r.status_code == 200, r.text
    # DELETE: the active policy must be disabled first. on-access-test is disabled and
    # default_CIFS is the cluster's, so the DELETE goes through (a job)
    r = raw.delete(f"{VSCAN}/{u}")
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"job"}
    assert body["job"]["_links"]["self"]["href"] == f"/api/cluster/jobs/{body['job']['uuid']}"
    job = wait_job(raw, body["job"]["_links"]["self"]["href"])
    assert job["state"] == "success", job
    after = raw.get(f"{VSCAN}/{u}", params={"fields": "*"}).json()
    assert after["enabled"] is False
    assert after.get("scanner_pools", []) == [] and after.get("on_demand_policies", []) == []
    assert [p["name"] for p in after["on_access_policies"]] == [DEFAULT_CIFS]


def test_seed_error_body(raw):
    ghost = "02c9e252-41be-11e9-81d5-00a0986138f7"
    r = raw.get(f"{VSCAN}/{ghost}")
    err = check_err(r, 404, "4", target="svm.uuid")
    assert set(err) <= {"message", "code", "target", "arguments"}
    r = raw.delete(f"{VSCAN}/{ghost}")
    check_err(r, 404, "4")
    r = raw.patch(f"{VSCAN}/{ghost}", json={"enabled": False})
    check_err(r, 404, "4")
    r = raw.get(pools_url("11111111-1111-1111-1111-111111111111"))
    check_err(r, 404, "4")
    # an unknown pool/policy name in an existing SVM: 404 code 4
    uuid = cluster_info()["uuid"]
    check_err(raw.get(pools_url(uuid, "nope")), 404, "4")
    check_err(raw.get(oa_url(uuid, "nope")), 404, "4")
    check_err(raw.get(od_url(uuid, "nope")), 404, "4")
    # unknown fields / query parameters: the generic codes
    r = raw.get(VSCAN, params={"bogus": "1"})
    check_err(r, 400, "262179")
    r = raw.post(VSCAN, json={"svm": {"uuid": uuid}, "enabled": False, "bogus": 1})
    check_err(r, 400, "262179")
    r = raw.patch(f"{VSCAN}/{uuid}", json={})
    check_err(r, 400, "262190")


def test_sub_collection_conventions(raw, svm_factory):
    """Paging with a next link, order_by, return_records=false, nested-member filters on
    the Vscan collection, 405 for unsupported methods, filters required for collection
    PATCH/DELETE."""
    svm = svm_factory()
    u = svm["uuid"]
    for n in ("pa", "pb", "pc", "pd", "pe"):
        assert raw.post(pools_url(u), json={"name": n, "servers": ["10.0.0.1"],
                                            "privileged_users": ["d\\u"]}).status_code == 201
    r = raw.get(pools_url(u), params={"max_records": 2})
    body = r.json()
    assert [p["name"] for p in body["records"]] == ["pa", "pb"]
    seen = [p["name"] for p in body["records"]]
    while "next" in body.get("_links", {}):
        body = raw.get(body["_links"]["next"]["href"]).json()
        seen += [p["name"] for p in body["records"]]
    assert seen == ["pa", "pb", "pc", "pd", "pe"]
    r = raw.get(pools_url(u), params={"order_by": "name desc"})
    assert [p["name"] for p in r.json()["records"]] == ["pe", "pd", "pc", "pb", "pa"]
    r = raw.get(pools_url(u), params={"return_records": "false"})
    assert r.json()["num_records"] == 5 and "records" not in r.json()
    r = raw.get(VSCAN, params={"scanner_pools.name": "pc", "svm.uuid": u})
    assert r.json()["num_records"] == 1
    r = raw.get(VSCAN, params={"scanner_pools.name": "nope", "svm.uuid": u})
    assert r.json()["num_records"] == 0
    check_err(raw.put(f"{VSCAN}/{u}", json={}), 405, "3")
    check_err(raw.post(f"{VSCAN}/{u}", json={}), 405, "3")
    check_err(raw.patch(VSCAN, json={"cache_clear": True}), 400, "2")
    check_err(raw.delete(pools_url(u)), 400, "2")
    assert raw.get(pools_url(u)).json()["num_records"] == 5


@pytest.mark.parametrize("kind", ["scanner-pools", "on-access-policies", "on-demand-policies"])
@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_refused_or_addressable(raw, svm_factory, tmp_path, kind, name):
    """Names are 1–256 of A-Za-z0-9_-. — but "." and ".." are dot-segments in a URL path:
    clients and servers collapse them, so /scanner-pools/.. names the SVM's whole Vscan
    configuration. Such a name must be refused (262197), or stay addressable with %2E —
    and a DELETE meant for it must never remove anything else."""
    svm = svm_with_tree(svm_factory, tmp_path)
    u = svm["uuid"]
    keep = {"scanner-pools": pool_body("keepme"),
            "on-access-policies": {"name": "keepme", "enabled": False},
            "on-demand-policies": {"name": "keepme", "log_path": "/vol1/reports", "scan_paths": ["/vol1"]}}[kind]
    base = f"{VSCAN}/{u}/{kind}"
    assert raw.post(base, json=keep).status_code == 201
    body = dict(keep, name=name)
    r = raw.post(base, json=body)
    if r.status_code != 201:
        check_err(r, 400, "262197", target="name")
        return
    encoded = name.replace(".", "%2E")
    r = raw.get(f"{base}/{encoded}")
    got = r.json().get("name") if r.status_code == 200 else None
    assert got == name, f"GET {base}/{encoded} answered {r.status_code} with {r.text[:160]}"
    r = raw.delete(f"{base}/{encoded}")
    assert r.status_code == 200, r.text
    assert raw.get(f"{base}/keepme").status_code == 200  # nothing else removed
