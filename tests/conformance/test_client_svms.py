"""Svm through the official client: every SVM write is a job the client polls."""

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Job, Svm

from conftest import polled_job_uuid, unique


def test_svm_post_get_patch_delete(server, raw):
    name = unique("vs")
    svm = Svm(name=name, comment="created by the conformance suite")
    resp = svm.post()
    # async create: the client took the uuid from Location and waited for the job
    assert len(svm.uuid) == 36
    job = raw.get(f"/api/cluster/jobs/{polled_job_uuid(resp)}").json()
    assert job["state"] == "success"
    assert job["description"] == "POST /api/svm/svms"

    got = Svm(uuid=svm.uuid)
    got.get()
    assert got.name == name
    assert got.state == "running"
    assert got.subtype == "default"
    assert got.comment == "created by the conformance suite"
    assert got.language.lower() == "c.utf_8"
    assert got.ipspace.name == "Default"
    assert got.to_dict()["_links"]["self"]["href"] == f"/api/svm/svms/{svm.uuid}"
    # expensive property absent from the default instance GET, present with **
    assert not hasattr(got, "snapmirror")
    expensive = Svm(uuid=svm.uuid)
    expensive.get(fields="**")
    assert expensive.snapmirror.is_protected is False

    got.comment = "patched"
    got.state = "stopped"
    polled_job_uuid(got.patch())
    again = Svm(uuid=svm.uuid)
    again.get()
    assert again.comment == "patched"
    assert again.state == "stopped"

    renamed = unique("vsren")
    again.name = renamed
    again.patch()
    assert Svm.find(name=renamed).uuid == svm.uuid
    assert Svm.find(name=name) is None

    polled_job_uuid(again.delete())
    with pytest.raises(NetAppRestError) as e:
        Svm(uuid=svm.uuid).get()
    assert e.value.http_err_response.http_response.status_code == 404
    assert e.value.http_err_response.http_response.json()["error"]["code"] == "4"


def test_svm_post_hydrate(server):
    name = unique("vshy")
    svm = Svm(name=name, language="en_us.utf_8")
    svm.post(hydrate=True)
    try:
        # hydrate=True: GET <instance>?fields=* after the job, so standard fields are set
        assert svm.name == name
        assert svm.state == "running"
        assert svm.language == "en_us.utf_8"
        assert svm.subtype == "default"
        assert svm.ipspace.name == "Default"
    finally:
        svm.delete()


def test_svm_post_duplicate_name_fails_synchronously(server, svm_factory):
    existing = svm_factory()
    with pytest.raises(NetAppRestError) as e:
        Svm(name=existing["name"].upper()).post()
    resp = e.value.http_err_response.http_response
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "13434908"


def test_svm_post_invalid_values(server, raw):
    with pytest.raises(NetAppRestError) as e:
        Svm(name="has space").post()
    assert e.value.http_err_response.http_response.status_code == 400
    r = raw.post("/api/svm/svms", json={"name": unique("vs"), "language": "en_us"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "13434885"
    r = raw.post("/api/svm/svms", json={"name": unique("vs"), "subtype": "bogus"})
    assert r.status_code == 400
    assert r.json()["error"] == {
        "message": r.json()["error"]["message"],
        "code": "262197",
        "target": "subtype",
    }
    r = raw.post("/api/svm/svms", json={"comment": "no name"})
    assert r.status_code == 400
    assert r.json()["error"]["target"] == "name"
    # like ONTAP (and its client, which never posts it), an SVM is created running:
    # `state` changes by PATCH only
    r = raw.post("/api/svm/svms", json={"name": unique("vs"), "state": "stopped"})
    assert r.status_code == 400
    assert (r.json()["error"]["code"], r.json()["error"]["target"]) == ("262196", "state")
    assert raw.get("/api/svm/svms", params={"state": "stopped", "return_records": "false"}).status_code == 200


def test_svm_find_and_filters(server, svm_factory):
    tag = unique("flt")
    a = svm_factory(f"{tag}_a", comment="alpha")
    b = svm_factory(f"{tag}_b", comment="beta")
    c = svm_factory(f"{tag}_c", comment="gamma")

    found = Svm.find(name=a["name"])
    assert found.uuid == a["uuid"]
    assert found.comment == "alpha"  # find adds fields=*

    def names(**q):
        return sorted(s.name for s in Svm.get_collection(**q))

    assert names(name=f"{tag}_*") == [a["name"], b["name"], c["name"]]
    assert names(name=f"{tag}_*", comment="alpha|gamma") == [a["name"], c["name"]]
    assert names(name=f"{tag}_*", comment="!beta") == [a["name"], c["name"]]
    assert names(name=f"{tag}_a..{tag}_b") == [a["name"], b["name"]]
    assert names(name=f"{tag}_*", comment="!null") == [a["name"], b["name"], c["name"]]
    assert names(name=f"{tag}_*", comment="null") == []
    assert names(name=f"{tag}_*", comment=">=beta") == [b["name"], c["name"]]
    assert names(name=f"{tag}_*", comment="<beta") == [a["name"]]
    # uuid exact match
    assert names(uuid=b["uuid"]) == [b["name"]]
    # filter fields come back in the records even without fields=
    recs = list(Svm.get_collection(name=f"{tag}_*", comment="alpha"))
    assert len(recs) == 1 and recs[0].comment == "alpha"
    assert not hasattr(recs[0], "state")

    with pytest.raises(NetAppRestError):
        Svm.find(name=f"{tag}_*")  # more than one match

    assert Svm.count_collection(name=f"{tag}_*") == 3
    assert Svm.count_collection(name=f"{tag}_*", comment="beta") == 1


def test_svm_fields_and_order_by(server, svm_factory):
    tag = unique("ord")
    made = [svm_factory(f"{tag}_{i}", comment=c) for i, c in enumerate(["m", "z", "a", "q"])]

    recs = list(Svm.get_collection(name=f"{tag}_*", fields="comment,state", order_by="comment desc"))
    assert [r.comment for r in recs] == ["z", "q", "m", "a"]
    assert all(r.state == "running" for r in recs)
    assert all(not hasattr(r, "language") for r in recs)

    recs = list(Svm.get_collection(name=f"{tag}_*", fields="*", order_by="comment"))
    assert [r.comment for r in recs] == ["a", "m", "q", "z"]
    assert all(r.language for r in recs)
    assert all(not hasattr(r, "snapmirror") for r in recs)

    recs = list(Svm.get_collection(name=f"{tag}_*", fields="**"))
    assert all(r.snapmirror.protected_volumes_count == 0 for r in recs)

    recs = list(Svm.get_collection(name=f"{tag}_*", fields="*,!comment,!language"))
    assert all(r.state and not hasattr(r, "comment") and not hasattr(r, "language") for r in recs)

    recs = list(Svm.get_collection(name=f"{tag}_*", fields="ipspace.name"))
    assert all(r.ipspace.name == "Default" and not hasattr(r.ipspace, "uuid") for r in recs)
    assert {r.uuid for r in recs} == {m["uuid"] for m in made}


def test_svm_paging_across_pages(server, svm_factory):
    tag = unique("pg")
    made = {svm_factory(f"{tag}_{i:02d}")["uuid"] for i in range(9)}
    seen = [s.uuid for s in Svm.get_collection(name=f"{tag}_*", max_records=2)]
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen)) == 9
    # with order_by, paging continues by offset
    seen = [s.name for s in Svm.get_collection(name=f"{tag}_*", max_records=4, order_by="name desc")]
    assert seen == sorted((f"{tag}_{i:02d}" for i in range(9)), reverse=True)


def test_svm_patch_and_delete_collection(server, svm_factory):
    tag = unique("bulk")
    made = [svm_factory(f"{tag}_{i}") for i in range(3)]
    other = svm_factory(unique("keep"))

    resp = Svm.patch_collection({"comment": "bulk-patched"}, name=f"{tag}_*")
    body = resp.http_response.json()
    assert body["num_records"] == 3
    assert len(body["jobs"]) == 3  # one job per SVM, all awaited by the client
    for s in made:
        x = Svm(uuid=s["uuid"])
        x.get()
        assert x.comment == "bulk-patched"
    k = Svm(uuid=other["uuid"])
    k.get()
    assert k.comment == ""

    resp = Svm.delete_collection(name=f"{tag}_*")
    assert resp.http_response.json()["num_records"] == 3
    assert Svm.count_collection(name=f"{tag}_*") == 0
    assert Svm.find(name=other["name"]).uuid == other["uuid"]


def test_svm_post_without_poll_then_poll(server):
    svm = Svm(name=unique("vsnp"))
    resp = svm.post(poll=False)
    # the raw reply: 202, Location with the key, job link in the body
    assert resp.http_response.status_code == 202
    assert resp.is_job
    assert resp.http_response.headers["Location"] == f"/api/svm/svms/{svm.uuid}"
    job_uuid = resp.http_response.json()["job"]["uuid"]
    done = svm.poll()
    assert polled_job_uuid(done) == job_uuid
    svm.get()
    assert svm.state == "running"
    svm.delete()


def test_svm_job_record(server, raw):
    name = unique("vsjob")
    svm = Svm(name=name)
    resp = svm.post()
    job = Job(uuid=polled_job_uuid(resp))
    job.get()
    assert job.state == "success"
    assert job.code == 0
    assert "POST" in job.description and "/api/svm/svms" in job.description
    assert job.start_time is not None and job.end_time is not None
    assert job.end_time >= job.start_time
    svm.delete()


def test_svm_failed_job_raises_in_client(server, raw):
    """A job that fails: the client's poll raises `Job failed: <message>`, the job
    record carries state failure, the code and an error object, and no SVM is left."""
    name = unique("vsfail")
    # the default namespace root is <data-dir>/svms/<name>; a file there breaks the job
    blocker = server.data_dir / "svms" / name
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")
    try:
        svm = Svm(name=name)
        with pytest.raises(NetAppRestError) as e:
            svm.post()
        assert "Job failed" in str(e.value)
        r = raw.get("/api/cluster/jobs", params={"description": "POST /api/svm/svms", "state": "failure",
                                                 "fields": "state,message,code,error,end_time"})
        failed = r.json()["records"]
        assert failed, r.text
        job = failed[-1]
        assert job["state"] == "failure"
        assert job["code"] == 13434880
        assert job["error"]["code"] == "13434880"
        assert job["error"]["message"] == job["message"]
        assert job["message"] in str(e.value)
        assert Svm.find(name=name) is None
    finally:
        blocker.unlink()
