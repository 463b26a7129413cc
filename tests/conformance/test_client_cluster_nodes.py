"""Cluster and Node through the official client."""

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Cluster, Job, Node

from conftest import polled_job_uuid


def test_cluster_get(server):
    c = Cluster()
    c.get()
    assert c.name
    assert len(c.uuid) == 36
    assert c.version.generation == 9
    assert isinstance(c.version.major, int)
    assert c.version.full.startswith("NetApp Release ")
    assert c.to_dict()["_links"]["self"]["href"] == "/api/cluster"


def test_cluster_get_fields(server):
    c = Cluster()
    c.get(fields="version")
    assert c.version.generation == 9
    # identity fields are always present, non-requested standard ones are not
    assert c.name and c.uuid
    assert not hasattr(c, "location")


def test_cluster_patch_is_a_polled_job(server, raw):
    before = Cluster()
    before.get()
    c = Cluster()
    c.get()
    c.location = "rack 7, row 3"
    c.contact = "storage-team@example.com"
    resp = c.patch()
    # PATCH /api/cluster is asynchronous: the client got a job and polled it to the end
    job = Job(uuid=polled_job_uuid(resp))
    job.get()
    assert job.state == "success"
    after = Cluster()
    after.get()
    assert after.location == "rack 7, row 3"
    assert after.contact == "storage-team@example.com"
    assert after.name == before.name
    # reset for other tests
    after.location = ""
    after.contact = ""
    after.patch()


def test_cluster_patch_invalid_name_rejected(server):
    c = Cluster()
    c.get()
    c.name = "bad name with spaces"
    with pytest.raises(NetAppRestError) as e:
        c.patch()
    assert e.value.http_err_response.http_response.status_code == 400
    body = e.value.http_err_response.http_response.json()
    assert body["error"]["code"] == "262197"
    assert body["error"]["target"] == "name"


def test_cluster_patch_read_only_field(server, raw):
    r = raw.patch("/api/cluster", json={"uuid": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "262196"
    assert r.json()["error"]["target"] == "uuid"


def test_node_collection_get_find_count(server):
    nodes = list(Node.get_collection())
    assert len(nodes) == 1
    n = nodes[0]
    # collection GET without fields: identity only + _links
    assert n.uuid and n.name
    assert not hasattr(n, "state")
    assert n.to_dict()["_links"]["self"]["href"] == f"/api/cluster/nodes/{n.uuid}"

    assert Node.count_collection() == 1

    full = Node(uuid=n.uuid)
    full.get()
    assert full.state == "up"
    assert full.membership == "member"
    assert full.version.generation == 9
    assert isinstance(full.uptime, int)

    found = Node.find(name=n.name)
    assert found is not None and found.uuid == n.uuid
    assert found.state == "up"  # find() adds fields=*
    assert Node.find(name="no-such-node") is None

    with_fields = list(Node.get_collection(fields="state,model"))
    assert with_fields[0].state == "up"
    assert with_fields[0].model == "Vigil"
    assert not hasattr(with_fields[0], "uptime")


def test_node_filters(server):
    n = list(Node.get_collection())[0]
    assert [x.uuid for x in Node.get_collection(state="up")] == [n.uuid]
    assert list(Node.get_collection(state="down")) == []
    assert [x.uuid for x in Node.get_collection(state="!down")] == [n.uuid]
    assert [x.uuid for x in Node.get_collection(state="down|up")] == [n.uuid]
    assert [x.uuid for x in Node.get_collection(uptime=">=0")] == [n.uuid]
    assert list(Node.get_collection(uptime="<0")) == []
    assert [x.uuid for x in Node.get_collection(name=n.name[:2] + "*")] == [n.uuid]


def test_node_missing_is_404(server):
    with pytest.raises(NetAppRestError) as e:
        Node(uuid="11111111-2222-3333-4444-555555555555").get()
    resp = e.value.http_err_response.http_response
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "4"


def test_node_is_read_only(server, raw):
    n = list(Node.get_collection())[0]
    r = raw.patch(f"/api/cluster/nodes/{n.uuid}", json={"location": "x"})
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "3"
    r = raw.post("/api/cluster/nodes", json={"name": "n2"})
    assert r.status_code == 405
    assert "POST" not in r.headers["Allow"]
