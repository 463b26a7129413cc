"""Account (RBAC with second connections) and Job through the official client."""

import pytest
import requests
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Account, Cluster, Job, Node, Schedule, Svm

from conftest import ADMIN_PASSWORD, polled_job_uuid, unique

PW = "Secret-Pass-123"


def _status(excinfo):
    return excinfo.value.http_err_response.http_response.status_code


def on(resource, connection):
    """Binds a resource to a connection (instance get() takes no connection argument)."""
    resource.set_connection(connection)
    return resource


def _error(excinfo):
    return excinfo.value.http_err_response.http_response.json()["error"]


@pytest.fixture(scope="module")
def cluster_owner(server):
    c = Cluster()
    c.get()
    return {"uuid": c.uuid, "name": c.name}


def test_admin_account_listed(server, cluster_owner):
    accounts = list(Account.get_collection(fields="role,scope"))
    admin = [a for a in accounts if a.name == "admin"]
    assert len(admin) == 1
    assert admin[0].role.name == "admin"
    assert admin[0].scope == "cluster"
    assert admin[0].owner.uuid == cluster_owner["uuid"]
    # password is write-only: never returned, even with **
    raw_rec = Account(owner={"uuid": cluster_owner["uuid"]}, name="admin")
    raw_rec.get(fields="**")
    assert not hasattr(raw_rec, "password")
    assert raw_rec.to_dict()["_links"]["self"]["href"] == f"/api/security/accounts/{cluster_owner['uuid']}/admin"


def test_readonly_account(server, cluster_owner, raw):
    name = unique("ro")
    acct = Account(name=name, password=PW, role={"name": "readonly"}, owner={"uuid": cluster_owner["uuid"]},
                   applications=[{"application": "http", "authentication_methods": ["password"]}])
    resp = acct.post()
    assert resp.http_response.status_code == 201
    assert resp.http_response.headers["Location"] == f"/api/security/accounts/{cluster_owner['uuid']}/{name}"
    assert acct.owner.uuid == cluster_owner["uuid"] and acct.name == name

    got = Account(owner={"uuid": cluster_owner["uuid"]}, name=name)
    got.get()
    assert got.role.name == "readonly"
    assert got.scope == "cluster"
    assert got.applications[0].application == "http"

    ro = server.connection(name, PW)
    # GET works everywhere
    c = on(Cluster(), ro)
    c.get()
    assert c.name == cluster_owner["name"]
    assert len(list(Node.get_collection(connection=ro))) == 1
    assert Schedule.find(connection=ro, name="daily") is not None
    # writes → 403 code 6
    with pytest.raises(NetAppRestError) as e:
        Schedule(name=unique("x"), cron={"minutes": [1]}).post(connection=ro)
    assert _status(e) == 403 and _error(e)["code"] == "6"
    daily = Schedule.find(name="daily", connection=ro)
    daily.cron = {"minutes": [11]}
    with pytest.raises(NetAppRestError) as e:
        daily.patch()
    assert _status(e) == 403
    with pytest.raises(NetAppRestError) as e:
        daily.delete()
    assert _status(e) == 403
    with pytest.raises(NetAppRestError) as e:
        Svm(name=unique("vs")).post(connection=ro)
    assert _status(e) == 403
    assert Schedule.find(name="daily").cron.minutes == [10]

    # wrong password → 401
    bad = server.connection(name, "wrong-password")
    with pytest.raises(NetAppRestError) as e:
        on(Cluster(), bad).get()
    assert _status(e) == 401
    r = requests.get(server.url("/api/cluster"), auth=(name, "wrong-password"), verify=False)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert r.json()["error"]["code"]  # a standard error object
    r = requests.get(server.url("/api/cluster"), verify=False)
    assert r.status_code == 401

    # password change through PATCH, then the old one stops working
    got.password = "Another-Pass-456"
    got.patch()
    with pytest.raises(NetAppRestError) as e:
        on(Cluster(), server.connection(name, PW)).get()
    assert _status(e) == 401
    on(Cluster(), server.connection(name, "Another-Pass-456")).get()

    # locking disables the login
    got.locked = True
    got.patch()
    with pytest.raises(NetAppRestError) as e:
        on(Cluster(), server.connection(name, "Another-Pass-456")).get()
    assert _status(e) == 401

    got.delete()
    assert Account.find(name=name) is None


def test_vsadmin_account(server, svm_factory):
    mine = svm_factory()
    other = svm_factory()
    name = unique("vsa")
    acct = Account(name=name, password=PW, owner={"name": mine["name"]}, role={"name": "vsadmin"})
    acct.post()
    assert acct.owner.uuid == mine["uuid"]
    found = Account.find(name=name)
    assert found.scope == "svm"
    assert found.role.name == "vsadmin"
    assert found.owner.name == mine["name"]

    vs = server.connection(name, PW)
    # sees only its own SVM
    visible = [s.uuid for s in Svm.get_collection(connection=vs)]
    assert visible == [mine["uuid"]]
    assert Svm.count_collection(connection=vs) == 1
    own = on(Svm(uuid=mine["uuid"]), vs)
    own.get()
    assert own.name == mine["name"]
    with pytest.raises(NetAppRestError) as e:
        on(Svm(uuid=other["uuid"]), vs).get()
    assert _status(e) in (403, 404)
    # cannot create/modify/delete SVMs
    with pytest.raises(NetAppRestError) as e:
        Svm(name=unique("vs")).post(connection=vs)
    assert _status(e) == 403 and _error(e)["code"] == "6"
    own.comment = "nope"
    with pytest.raises(NetAppRestError) as e:
        own.patch()
    assert _status(e) == 403
    # cluster-level endpoints refused
    with pytest.raises(NetAppRestError) as e:
        list(Node.get_collection(connection=vs))
    assert _status(e) == 403 and _error(e)["code"] == "6"
    with pytest.raises(NetAppRestError) as e:
        list(Account.get_collection(connection=vs))
    assert _status(e) == 403

    # role validity per scope
    with pytest.raises(NetAppRestError) as e:
        Account(name=unique("bad"), password=PW, owner={"uuid": mine["uuid"]}, role={"name": "admin"}).post()
    assert _status(e) == 400 and _error(e)["code"] == "5636129"
    # (the client itself refuses passwords under 8 characters, so check the server raw)
    r = server.session().post("/api/security/accounts",
                              json={"name": unique("bad"), "password": "short", "role": {"name": "readonly"}})
    assert r.status_code == 400 and r.json()["error"]["target"] == "password"
    assert r.json()["error"]["code"] == "7077906"

    # deleting the SVM takes its accounts with it
    Svm(uuid=mine["uuid"]).delete()
    assert Account.find(name=name) is None
    with pytest.raises(NetAppRestError) as e:
        on(Cluster(), vs).get()
    assert _status(e) == 401


def test_account_collection_ops(server, cluster_owner):
    tag = unique("acc")
    for i in range(3):
        Account(name=f"{tag}{i}", password=PW, role={"name": "readonly"}).post()
    assert Account.count_collection(name=f"{tag}*") == 3
    resp = Account.patch_collection({"comment": "bulk"}, name=f"{tag}*")
    assert resp.http_response.json()["num_records"] == 3
    assert {a.comment for a in Account.get_collection(name=f"{tag}*", fields="comment")} == {"bulk"}
    resp = Account.delete_collection(name=f"{tag}*")
    assert resp.http_response.json()["num_records"] == 3
    assert Account.count_collection(name=f"{tag}*") == 0
    # admin cannot delete itself
    with pytest.raises(NetAppRestError) as e:
        Account(owner={"uuid": cluster_owner["uuid"]}, name="admin").delete()
    assert _status(e) == 400
    on(Cluster(), server.connection("admin", ADMIN_PASSWORD)).get()


def test_jobs_collection_and_cancel(server, raw):
    svm = Svm(name=unique("vsjc"))
    job_uuid = polled_job_uuid(svm.post())
    svm.delete()

    jobs = list(Job.get_collection(fields="state,description"))
    assert job_uuid in {j.uuid for j in jobs}
    assert all(j.state in ("queued", "running", "paused", "success", "failure") for j in jobs)
    assert Job.find(uuid=job_uuid).state == "success"
    assert Job.count_collection(state="success") >= 2
    ok = [j.uuid for j in Job.get_collection(state="success", description="POST*")]
    assert job_uuid in ok

    # cancelling a finished job → ONTAP's job error code, not a crash
    with pytest.raises(NetAppRestError) as e:
        Job(uuid=job_uuid).patch(action="cancel")
    assert _status(e) == 400
    assert _error(e)["code"] == "458762"
    r = raw.patch(f"/api/cluster/jobs/{job_uuid}?action=explode", json={})
    assert r.status_code == 400 and r.json()["error"]["code"] == "262197"
    r = raw.patch(f"/api/cluster/jobs/{job_uuid}", json={"state": "failure"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "262196"
    r = raw.post("/api/cluster/jobs", json={})
    assert r.status_code == 405
    with pytest.raises(NetAppRestError) as e:
        Job(uuid="00000000-0000-0000-0000-000000000000").get()
    assert _status(e) == 404


def test_account_key_encoding(server, cluster_owner, raw):
    """Path keys with a space and a slash: Location is percent-encoded, the client
    re-encodes with quote_plus (space → '+', '/' → %2F) and the server decodes both."""
    name = "svc user/" + unique("k")
    acct = Account(name=name, password=PW, role={"name": "readonly"})
    resp = acct.post()
    loc = resp.http_response.headers["Location"]
    assert "/" not in loc.rsplit(f"{cluster_owner['uuid']}/", 1)[1]  # the slash is encoded
    assert acct.name == name
    got = Account(owner={"uuid": cluster_owner["uuid"]}, name=name)
    got.get()
    assert got.role.name == "readonly"
    r = raw.get(loc)
    assert r.status_code == 200 and r.json()["name"] == name
    assert r.json()["_links"]["self"]["href"] == loc
    # the account can log in with its odd name
    assert server.session(name, PW).get("/api/cluster").status_code == 200
    got.delete()
    assert raw.get(loc).status_code == 404
