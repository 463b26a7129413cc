"""VscanScannerPool through the official client (and raw HTTP where the client refuses
the input): CRUD, filters, fields=*, collection PATCH/DELETE, server address syntax,
privileged users, roles, the cluster reference, and pools the cluster owns."""

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Vscan, VscanScannerPool

from conftest import unique
from vscan_common import (
    VSCAN,
    check_err,
    client_resp,
    cluster_info,
    ensure_pool,
    pool_body,
    pools_url,
)


def test_pool_crud(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    cl = cluster_info()
    pool = VscanScannerPool(u, name="scanner-1", servers=["1.1.1.1", "10.72.204.27", "vmwin204-27.fsct.nb"],
                            privileged_users=["cifs\\u1", "cifs\\u2"])
    resp = pool.post()
    assert resp.http_response.status_code == 201
    assert resp.http_response.headers["Location"] == f"{VSCAN}/{u}/scanner-pools/scanner-1"

    got = VscanScannerPool(u, name="scanner-1")
    got.get()
    assert got.role == "primary"  # REST default
    assert got.servers == ["1.1.1.1", "10.72.204.27", "vmwin204-27.fsct.nb"]
    assert got.privileged_users == ["cifs\\u1", "cifs\\u2"]
    assert got.cluster.uuid == cl["uuid"] and got.cluster.name == cl["name"]
    assert got.svm.uuid == u and got.svm.name == svm["name"]

    VscanScannerPool(u, name="scanner-2", servers=["av2.example.com"], privileged_users=["dom\\scan"],
                     role="secondary").post()
    VscanScannerPool(u, name="scanner-3", servers=["10.0.0.3"], privileged_users=["dom\\scan"],
                     role="IDLE").post()

    def names(**q):
        return sorted(p.name for p in VscanScannerPool.get_collection(u, **q))

    assert names() == ["scanner-1", "scanner-2", "scanner-3"]
    assert names(role="secondary") == ["scanner-2"]
    assert names(role="idle") == ["scanner-3"]  # stored lowercase
    assert names(role="!idle") == ["scanner-1", "scanner-2"]
    assert names(servers="10.72.204.27") == ["scanner-1"]
    assert names(privileged_users="dom\\scan") == ["scanner-2", "scanner-3"]
    assert names(name="scanner-1|scanner-3") == ["scanner-1", "scanner-3"]
    assert names(**{"cluster.name": cl["name"]}) == ["scanner-1", "scanner-2", "scanner-3"]
    assert names(**{"svm.name": svm["name"]}) == ["scanner-1", "scanner-2", "scanner-3"]
    assert names(**{"svm.name": "!" + svm["name"]}) == []
    assert VscanScannerPool.count_collection(u) == 3
    full = list(VscanScannerPool.get_collection(u, fields="*"))
    assert all(p.cluster.uuid == cl["uuid"] and p.svm.uuid == u for p in full)
    assert {p.name: p.role for p in full} == {"scanner-1": "primary", "scanner-2": "secondary", "scanner-3": "idle"}
    found = VscanScannerPool.find(u, name="scanner-2")
    assert found.servers == ["av2.example.com"]

    got.servers = ["10.0.0.9", "fd20::9"]
    got.privileged_users = ["cifs\\other"]
    got.role = "Secondary"
    assert got.patch().http_response.status_code == 200
    again = VscanScannerPool(u, name="scanner-1")
    again.get(fields="*")
    assert again.servers == ["10.0.0.9", "fd20::9"]
    assert again.privileged_users == ["cifs\\other"]
    assert again.role == "secondary"

    # the pools appear in the SVM's Vscan configuration
    v = Vscan(svm={"uuid": u})
    v.get(fields="scanner_pools")
    assert sorted(p.name for p in v.scanner_pools) == ["scanner-1", "scanner-2", "scanner-3"]

    assert again.delete().http_response.status_code == 200
    with pytest.raises(NetAppRestError) as e:
        VscanScannerPool(u, name="scanner-1").get()
    check_err(client_resp(e), 404, "4")
    assert names() == ["scanner-2", "scanner-3"]


def test_pool_collection_patch_and_delete(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    for n in ("a1", "a2", "b1"):
        ensure_pool(raw, u, n)
    resp = VscanScannerPool.patch_collection({"role": "idle"}, u, name="a*")
    assert resp.http_response.json()["num_records"] == 2
    roles = {p.name: p.role for p in VscanScannerPool.get_collection(u, fields="role")}
    assert roles == {"a1": "idle", "a2": "idle", "b1": "primary"}
    resp = VscanScannerPool.patch_collection({"servers": ["10.1.1.1"]}, u, role="idle")
    assert resp.http_response.json()["num_records"] == 2
    assert {p.name for p in VscanScannerPool.get_collection(u, servers="10.1.1.1")} == {"a1", "a2"}
    resp = VscanScannerPool.delete_collection(u, name="a*")
    assert resp.http_response.json()["num_records"] == 2
    assert [p.name for p in VscanScannerPool.get_collection(u)] == ["b1"]
    resp = VscanScannerPool.delete_collection(u, name="zz*")
    assert resp.http_response.json()["num_records"] == 0


def test_pool_defaults_and_dedup(server, svm_factory, raw):
    u = svm_factory()["uuid"]
    r = raw.post(pools_url(u), json=pool_body(
        "dd", servers=["10.0.0.1", "10.0.0.1", "av.example.com"],
        users=["Dom\\Scanner", "dom\\scanner", "DOM\\SCANNER", "dom\\other"]))
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == pools_url(u, "dd")
    body = raw.get(pools_url(u, "dd"), params={"fields": "*"}).json()
    assert body["servers"] == ["10.0.0.1", "av.example.com"]
    # stored as given, duplicates compared case-insensitively dropped
    assert body["privileged_users"] == ["Dom\\Scanner", "dom\\other"]
    assert body["role"] == "primary"
    assert body["name"] == "dd"
    assert body["_links"]["self"]["href"] == pools_url(u, "dd")
    # a 256-character name is accepted, 257 is not (raw: the client checks lengths itself)
    long = "n" * 256
    r = raw.post(pools_url(u), json=pool_body(long))
    assert r.status_code == 201, r.text
    assert raw.get(pools_url(u, long)).status_code == 200
    for bad in ("n" * 257, "has space", "semi;colon", "slash/x", "ü", ""):
        r = raw.post(pools_url(u), json=pool_body(bad))
        check_err(r, 400, "262197", target="name")
    r = raw.post(pools_url(u), json=pool_body("dd"))
    check_err(r, 409, "1", "dd")
    # privileged users: 256 characters in all is the limit
    u256 = "d\\" + "u" * 254
    assert len(u256) == 256
    r = raw.post(pools_url(u), json=pool_body("u256", users=[u256]))
    assert r.status_code == 201, r.text
    assert raw.get(pools_url(u, "u256")).json()["privileged_users"] == [u256]
    check_err(raw.post(pools_url(u), json=pool_body("u257", users=[u256 + "x"])), 400, "10027108",
              target="privileged_users")
    r = raw.post(pools_url(u), json={"name": "noservers", "privileged_users": ["d\\u"]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["target"] == "servers", r.text
    r = raw.post(pools_url(u), json=pool_body("badrole", role="active"))
    check_err(r, 400, "262197", target="role")
    r = raw.patch(pools_url(u, "dd"), json={"name": "renamed"})
    check_err(r, 400, "262196", target="name")


ACCEPTED = [
    "10.0.0.1",
    "fd20::1",
    "av1.example.com",
    "host:3311",
    "[fd20::1]:3311",
    "clamd://host",
    "clamd://host:3312",
    "unix:///run/clamd.sock",
    "icap://host/avscan",
    "icap://host:1345/avscan",
    "vmwin204-27.fsct.nb",
]

REJECTED = [
    "",
    " ",
    "not a host",
    "10.0.0.1:99999",
    "host:0",
    "host:port",
    "fd20::1:3311:zz",
    "[fd20::1",
    "http://host",
    "ftp://host/x",
    "unix://relative/sock",
    "unix://",
    "icap://host",
    "clamd://",
    "-bad-.example.com",
    "host_name!",
    "a" * 300,
    "0.0.0.0",
    "10.0.0.256",
    "fe80::1%eth0",
    "clamd://host/path",
    "user@host",
]


@pytest.mark.parametrize("address", ACCEPTED)
def test_server_address_accepted(server, svm_factory, raw, address):
    u = _addr_svm(svm_factory)
    name = unique("ok")
    pool = VscanScannerPool(u, name=name, servers=[address], privileged_users=["d\\u"])
    pool.post()
    got = VscanScannerPool(u, name=name)
    got.get()
    assert got.servers == [address]
    # and through PATCH
    got.servers = ["10.9.9.9", address]
    got.patch()
    assert raw.get(pools_url(u, name)).json()["servers"] == ["10.9.9.9", address]


@pytest.mark.parametrize("address", REJECTED, ids=lambda a: (a[:24] + ("..." if len(a) > 24 else "")) or "empty")
def test_server_address_rejected(server, svm_factory, raw, address):
    u = _addr_svm(svm_factory)
    name = unique("bad")
    r = raw.post(pools_url(u), json=pool_body(name, servers=["10.0.0.1", address]))
    check_err(r, 400, "10027086", address[:50], target="servers")  # the message names the entry
    assert raw.get(pools_url(u, name)).status_code == 404
    ensure_pool(raw, u, name)
    r = raw.patch(pools_url(u, name), json={"servers": [address]})
    check_err(r, 400, "10027086", address[:50], target="servers")
    assert raw.get(pools_url(u, name)).json()["servers"] == ["10.0.0.1"]


_ADDR_SVM = {}


def _addr_svm(svm_factory):
    if "u" not in _ADDR_SVM:
        _ADDR_SVM["u"] = svm_factory()["uuid"]
    return _ADDR_SVM["u"]


@pytest.mark.parametrize("user", [
    "nodomain", "\\user", "domain\\", "dom\\u\\x", "dom\\a:b", "dom\\a*b", "dom\\a@b", "dom\\a|b",
    "dom\\a\tb", "d\\" + "u" * 300, "dom/user", " \\user",
])
def test_privileged_user_rejected(server, svm_factory, raw, user):
    u = _addr_svm(svm_factory)
    name = unique("pu")
    r = raw.post(pools_url(u), json=pool_body(name, users=["good\\user", user]))
    check_err(r, 400, "10027108", target="privileged_users")
    assert raw.get(pools_url(u, name)).status_code == 404


def test_empty_lists_10027107(server, svm_factory, raw):
    u = _addr_svm(svm_factory)
    r = raw.post(pools_url(u), json=pool_body(unique("e"), servers=[]))
    check_err(r, 400, "10027107", "server", target="servers")
    r = raw.post(pools_url(u), json=pool_body(unique("e"), users=[]))
    check_err(r, 400, "10027107", "privileged user", target="privileged_users")
    name = ensure_pool(raw, u)
    r = raw.patch(pools_url(u, name), json={"servers": []})
    check_err(r, 400, "10027107")
    r = raw.patch(pools_url(u, name), json={"privileged_users": []})
    check_err(r, 400, "10027107")


def test_cluster_reference(server, svm_factory, raw):
    u = _addr_svm(svm_factory)
    cl = cluster_info()
    for ref in ({"name": cl["name"]}, {"uuid": cl["uuid"]}, cl):
        name = unique("cr")
        r = raw.post(pools_url(u), json=pool_body(name, cluster=ref))
        assert r.status_code == 201, (ref, r.text)
        body = raw.get(pools_url(u, name), params={"fields": "cluster"}).json()
        assert body["cluster"]["uuid"] == cl["uuid"] and body["cluster"]["name"] == cl["name"]
    ghost = "11111111-2222-3333-4444-555555555555"
    r = raw.post(pools_url(u), json=pool_body(unique("cr"), cluster={"uuid": ghost}))
    check_err(r, 400, "10027256", ghost)
    r = raw.post(pools_url(u), json=pool_body(unique("cr"), cluster={"name": "no-such-cluster"}))
    check_err(r, 400, "10027258", "no-such-cluster")
    r = raw.post(pools_url(u), json=pool_body(unique("cr"), cluster={"uuid": cl["uuid"], "name": "other-cl"}))
    check_err(r, 400, "10027257", "other-cl")
    name = ensure_pool(raw, u)
    r = raw.patch(pools_url(u, name), json={"role": "idle", "cluster": {"uuid": ghost}})
    check_err(r, 400, "10027256")
    r = raw.patch(pools_url(u, name), json={"role": "idle", "cluster": {"name": "nope"}})
    check_err(r, 400, "10027258")
    r = raw.patch(pools_url(u, name), json={"role": "idle", "cluster": {"uuid": cl["uuid"], "name": "nope"}})
    check_err(r, 400, "10027257")
    assert raw.get(pools_url(u, name)).json()["role"] == "primary"  # nothing applied
    r = raw.patch(pools_url(u, name), json={"role": "idle", "cluster": {"name": cl["name"]}})
    assert r.status_code == 200, r.text
    assert raw.get(pools_url(u, name)).json()["role"] == "idle"


def test_last_active_pool_rules(server, svm_factory, raw):
    svm = svm_factory()
    u = svm["uuid"]
    ensure_pool(raw, u, "only")
    ensure_pool(raw, u, "spare", role="idle")
    assert raw.patch(f"{VSCAN}/{u}", json={"enabled": True}).status_code == 200
    with pytest.raises(NetAppRestError) as e:
        VscanScannerPool(u, name="only").delete()
    check_err(client_resp(e), 400, "10027070", "only")
    assert raw.get(pools_url(u, "only")).status_code == 200
    # an idle pool can go
    assert raw.delete(pools_url(u, "spare")).status_code == 200
    # making the last active pool idle is allowed (docs/vscan.md)
    r = raw.patch(pools_url(u, "only"), json={"role": "idle"})
    assert r.status_code == 200, r.text
    # with a second active pool the first can be deleted
    ensure_pool(raw, u, "second", role="secondary")
    assert raw.patch(pools_url(u, "only"), json={"role": "primary"}).status_code == 200
    assert raw.delete(pools_url(u, "only")).status_code == 200
    r = raw.delete(pools_url(u, "second"))
    check_err(r, 400, "10027070", "second")
    assert raw.patch(f"{VSCAN}/{u}", json={"enabled": False}).status_code == 200
    assert raw.delete(pools_url(u, "second")).status_code == 200


def test_cluster_owned_pools(fresh_server):
    srv = fresh_server
    srv.use_as_default()
    raw = srv.session()
    cl = cluster_info()
    svms = []
    for _ in range(2):
        r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("cp")})
        assert r.status_code in (200, 201), r.text
        svms.append(r.headers["Location"].rsplit("/", 1)[1])
    a, b = svms
    # the admin SVM owns a pool: every data SVM lists it, idle
    r = raw.post(pools_url(cl["uuid"]), json=pool_body("clpool", servers=["10.5.5.5"]))
    assert r.status_code == 201, r.text
    assert raw.get(pools_url(cl["uuid"], "clpool")).json()["role"] == "primary"
    for s in (a, b):
        p = raw.get(pools_url(s, "clpool"), params={"fields": "*"}).json()
        assert p["role"] == "idle", p
        assert p["servers"] == ["10.5.5.5"]
        assert p["svm"]["uuid"] == s
    # an idle inherited pool does not allow enabling
    check_err(raw.patch(f"{VSCAN}/{a}", json={"enabled": True}), 400, "10027015")
    # a data SVM may give it a role, for itself only
    pool = VscanScannerPool(a, name="clpool")
    pool.get()
    pool.role = "primary"
    pool.patch()
    assert raw.get(pools_url(a, "clpool")).json()["role"] == "primary"
    assert raw.get(pools_url(b, "clpool")).json()["role"] == "idle"
    assert raw.patch(f"{VSCAN}/{a}", json={"enabled": True}).status_code == 200
    # ... but not change anything else, nor delete it
    r = raw.patch(pools_url(a, "clpool"), json={"servers": ["10.6.6.6"]})
    check_err(r, 400, "10027063", "clpool")
    r = raw.patch(pools_url(a, "clpool"), json={"privileged_users": ["x\\y"], "role": "idle"})
    check_err(r, 400, "10027063", "clpool")
    assert raw.get(pools_url(a, "clpool")).json()["role"] == "primary"
    with pytest.raises(NetAppRestError) as e:
        VscanScannerPool(a, name="clpool").delete()
    check_err(client_resp(e), 400, "10027064", "clpool")
    # the owner's edits reach every SVM, each keeping its role
    r = raw.patch(pools_url(cl["uuid"], "clpool"), json={"servers": ["10.7.7.7"]})
    assert r.status_code == 200, r.text
    assert raw.get(pools_url(a, "clpool")).json()["servers"] == ["10.7.7.7"]
    assert raw.get(pools_url(b, "clpool")).json()["servers"] == ["10.7.7.7"]
    assert raw.get(pools_url(a, "clpool")).json()["role"] == "primary"
    # names: a data SVM cannot reuse a cluster pool's name, nor the cluster a data SVM's
    check_err(raw.post(pools_url(b, ), json=pool_body("clpool")), 409, "1", "clpool")
    ensure_pool(raw, b, "bpool", role="idle")
    check_err(raw.post(pools_url(cl["uuid"]), json=pool_body("bpool")), 409, "1", "bpool")
    # the admin SVM cannot delete it while it is the only active pool of a, Vscan enabled
    r = raw.delete(pools_url(cl["uuid"], "clpool"))
    check_err(r, 400, "10027070", "clpool")
    # nor delete its whole configuration: 10027259 naming what blocks it (the pool, or
    # default_CIFS, the cluster's own enabled policy, which docs/vscan.md also makes a blocker)
    r = raw.delete(f"{VSCAN}/{cl['uuid']}?return_timeout=30")
    err = check_err(r, 400, "10027259", "Failed to delete")
    assert "clpool" in err["message"] or "default_CIFS" in err["message"], err
    assert raw.get(pools_url(cl["uuid"], "clpool")).status_code == 200
    assert raw.patch(f"{VSCAN}/{a}", json={"enabled": False}).status_code == 200
    assert raw.delete(pools_url(cl["uuid"], "clpool")).status_code == 200
    for s in (a, b):
        assert raw.get(pools_url(s, "clpool")).status_code == 404
    # a cluster pool created again under the same name starts idle again in a
    r = raw.post(pools_url(cl["uuid"]), json=pool_body("clpool"))
    assert r.status_code == 201, r.text
    assert raw.get(pools_url(a, "clpool")).json()["role"] == "idle"
    raw.close()
