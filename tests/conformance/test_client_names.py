"""Names shared between the cluster (admin SVM) and SVMs, and renames as seen through
the objects that reference them."""

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Account, Cluster, Schedule, Svm

from conftest import unique

PW = "Rename-Pass-123"


def _resp(e):
    return e.value.http_err_response.http_response


def test_svm_rename_shows_in_references(server):
    svm = Svm(name=unique("before"))
    svm.post()
    acct = Account(name=unique("vsr"), password=PW, owner={"uuid": svm.uuid}, role={"name": "vsadmin"})
    acct.post()
    sched = Schedule(name=unique("svs"), cron={"minutes": [3]}, svm={"uuid": svm.uuid})
    sched.post()
    s = Schedule(uuid=sched.uuid)
    s.get()
    assert s.scope == "svm" and s.svm.name == svm.name

    new_name = unique("after")
    svm.name = new_name
    svm.patch()

    a = Account.find(name=acct.name)
    assert a.owner.uuid == svm.uuid
    assert a.owner.name == new_name, "account owner.name still shows the SVM's old name"
    assert Account.count_collection(**{"owner.name": new_name}) == 1
    s.get()
    assert s.svm.name == new_name, "schedule svm.name still shows the SVM's old name"
    # the SVM administrator keeps working under the new name
    vs = server.connection(acct.name, PW)
    assert [x.name for x in Svm.get_collection(connection=vs)] == [new_name]

    s.delete()
    svm.delete()


def test_cluster_and_svm_names_are_one_namespace(fresh_server):
    srv = fresh_server
    srv.use_as_default()
    cluster = Cluster()
    cluster.get()
    # an SVM cannot take the cluster's name …
    with pytest.raises(NetAppRestError) as e:
        Svm(name=cluster.name.upper()).post()
    assert _resp(e).status_code == 409
    assert _resp(e).json()["error"]["code"] == "13434908"
    # … nor the cluster an SVM's
    svm = Svm(name=unique("taken"))
    svm.post()
    c = Cluster()
    c.get()
    c.name = svm.name.upper()
    with pytest.raises(NetAppRestError) as e:
        c.patch()
    assert _resp(e).status_code == 409
    assert _resp(e).json()["error"]["target"] == "name"
    after = Cluster()
    after.get()
    assert after.name == cluster.name

    # a cluster rename shows as the owner name of cluster-scoped accounts
    c = Cluster()
    c.get()
    c.name = unique("renamed")
    c.patch()
    admin = Account.find(name="admin")
    assert admin.owner.uuid == cluster.uuid
    assert admin.owner.name == c.name
    # and the new name is accepted as an owner reference
    ro = Account(name=unique("ro"), password=PW, owner={"name": c.name}, role={"name": "readonly"})
    ro.post()
    assert ro.owner.uuid == cluster.uuid
