"""Persistence across a restart of the real binary on the same data dir."""

from netapp_ontap.resources import Account, Cluster, Job, Schedule, Svm

from conftest import ADMIN_PASSWORD, polled_job_uuid, unique


def test_restart_keeps_everything(fresh_server):
    srv = fresh_server
    srv.use_as_default()
    cluster = Cluster()
    cluster.get()
    cluster.location = "before restart"
    cluster.patch()

    svm = Svm(name=unique("keep"), comment="persisted")
    job_uuid = polled_job_uuid(svm.post())
    sched = Schedule(name=unique("keep"), cron={"minutes": [7], "hours": [1, 13]})
    sched.post()
    acct = Account(name=unique("keep"), password="Persisted-Pass-1", role={"name": "vsadmin"},
                   owner={"uuid": svm.uuid})
    acct.post()
    daily = Schedule.find(name="daily")
    daily.delete()  # a deleted built-in schedule stays deleted
    node_before = list(srv.session().get("/api/cluster/nodes").json()["records"])
    cert = srv.data_dir / "tls-cert.pem"
    cert_before = cert.read_bytes()
    pid_before = srv.proc.pid

    srv.restart()
    assert srv.starts == 2 and srv.proc.pid != pid_before
    srv.use_as_default()

    c = Cluster()
    c.get()
    assert c.uuid == cluster.uuid
    assert c.location == "before restart"

    s = Svm(uuid=svm.uuid)
    s.get()
    assert s.name == svm.name
    assert s.comment == "persisted"
    assert s.state == "running"

    sc = Schedule(uuid=sched.uuid)
    sc.get()
    assert sc.name == sched.name
    assert sc.cron.minutes == [7] and sc.cron.hours == [1, 13]
    assert Schedule.find(name="daily") is None
    assert Schedule.find(name="weekly") is not None  # built-ins not re-created twice
    assert Schedule.count_collection(name="weekly") == 1

    j = Job(uuid=job_uuid)
    j.get()
    assert j.state == "success"
    assert j.end_time is not None

    a = Account.find(name=acct.name)
    assert a.owner.uuid == svm.uuid and a.role.name == "vsadmin"
    # the account's password survived (only a hash is stored)
    vs = srv.connection(acct.name, "Persisted-Pass-1")
    assert [x.uuid for x in Svm.get_collection(connection=vs)] == [svm.uuid]

    # node identity is stable; the admin password from the first start still works
    assert srv.session().get("/api/cluster/nodes").json()["records"] == node_before
    assert srv.session("admin", ADMIN_PASSWORD).get("/api/cluster").status_code == 200
    # the TLS certificate was reused, not regenerated
    assert cert.read_bytes() == cert_before


def test_restart_password_env_does_not_reset_admin(fresh_server):
    """VIGIL_ADMIN_PASSWORD only applies when the admin account is first created."""
    srv = fresh_server
    s = srv.session()
    r = s.get("/api/security/accounts?name=admin")
    owner = r.json()["records"][0]["owner"]["uuid"]
    r = s.patch(f"/api/security/accounts/{owner}/admin", json={"password": "Changed-Admin-2"})
    assert r.status_code == 200, r.text
    srv.restart()
    assert srv.session().get("/api/cluster").status_code == 401
    assert srv.session("admin", "Changed-Admin-2").get("/api/cluster").status_code == 200
