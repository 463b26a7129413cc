"""The S3 server's management API (/api/protocols/s3/...) through the official client
(S3Service, S3BucketSvm, S3Bucket, S3User) and raw HTTP for bodies and error codes."""

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import S3Bucket, S3BucketSvm, S3Service, S3User

from conftest import polled_job_uuid, unique, wait_job
from s3_common import S3, client, free_port, make_service, service_url, wait_closed, wait_listening


def error_of(exc_info):
    resp = exc_info.value.http_err_response.http_response
    return resp.status_code, resp.json()["error"]


def svm_s3(raw, svm_uuid):
    r = raw.get(f"/api/svm/svms/{svm_uuid}?fields=s3")
    assert r.status_code == 200, r.text
    return r.json()["s3"]


def test_service_lifecycle_with_the_client(server, raw, svm_factory):
    svm = svm_factory()
    assert svm_s3(raw, svm["uuid"])["enabled"] is False
    port = free_port()
    service = S3Service(
        svm={"uuid": svm["uuid"]},
        name="s3.vs1.example.com",
        comment="first",
        is_http_enabled=True,
        is_https_enabled=False,
        port=port,
    )
    resp = service.post()
    assert resp.http_response.status_code == 201
    assert resp.http_response.headers["Location"] == service_url(svm["uuid"])
    wait_listening(port)

    got = S3Service(svm={"uuid": svm["uuid"]})
    got.get()
    assert got.name == "s3.vs1.example.com"
    assert got.enabled is True
    assert got.is_http_enabled is True and got.is_https_enabled is False
    assert got.port == port and got.secure_port == 443
    assert got.comment == "first"
    assert got.svm.name == svm["name"]
    s3 = svm_s3(raw, svm["uuid"])
    assert s3["enabled"] is True and s3["name"] == "s3.vs1.example.com"

    names = [s.name for s in S3Service.get_collection(fields="name")]
    assert "s3.vs1.example.com" in names

    got.comment = "second"
    got.patch()
    again = S3Service(svm={"uuid": svm["uuid"]})
    again.get(fields="comment")
    assert again.comment == "second"

    # Disabling stops the listener; enabling starts it again.
    got.enabled = False
    got.patch()
    wait_closed(port)
    assert svm_s3(raw, svm["uuid"])["enabled"] is False
    got.enabled = True
    got.patch()
    wait_listening(port)

    with pytest.raises(NetAppRestError) as e:
        S3Service(svm={"uuid": svm["uuid"]}, name="other-name").post()
    status, err = error_of(e)
    assert (status, err["code"]) == (409, "1")

    got.delete()
    wait_closed(port)
    assert raw.get(service_url(svm["uuid"])).status_code == 404
    assert svm_s3(raw, svm["uuid"])["enabled"] is False


def test_service_post_with_inline_users_and_buckets(server, raw, svm_factory):
    svm = svm_factory()
    r = raw.post(
        f"{S3}/services",
        json={
            "svm": {"name": svm["name"]},
            "name": "inline-server",
            "is_http_enabled": True,
            "is_https_enabled": False,
            "port": free_port(),
            "users": [{"name": "alice"}, {"name": "bob", "comment": "second"}],
            "buckets": [{"name": "inline-bucket", "comment": "from POST"}],
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["num_records"] == 2
    assert [u["name"] for u in body["records"]] == ["alice", "bob"]
    for u in body["records"]:
        assert len(u["access_key"]) == 20 and len(u["secret_key"]) == 40
    r = raw.get(service_url(svm["uuid"]) + "?fields=*")
    assert r.status_code == 200, r.text
    shown = r.json()
    assert [b["name"] for b in shown["buckets"]] == ["inline-bucket"]
    assert sorted(u["name"] for u in shown["users"]) == ["alice", "bob"]
    assert all("secret_key" not in u for u in shown["users"])

    # delete_all=false refuses while users and buckets remain; the default removes them.
    r = raw.delete(service_url(svm["uuid"]) + "?delete_all=false")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "8"
    r = raw.delete(service_url(svm["uuid"]))
    assert r.status_code == 200, r.text
    r = raw.get(f"{S3}/buckets?svm.uuid={svm['uuid']}")
    assert r.status_code == 200 and r.json()["num_records"] == 0, r.text


def test_service_bad_input(server, raw, svm_factory):
    svm = svm_factory()
    base = {"svm": {"uuid": svm["uuid"]}, "is_http_enabled": True, "is_https_enabled": False,
            "port": free_port()}
    cases = [
        ({**base, "name": "ab"}, 400, "92405790", "name"),
        ({**base, "name": "has space"}, 400, "92405789", "name"),
        ({**base, "name": "okname", "port": 0}, 400, "262197", "port"),
        ({**base, "name": "okname", "port": 70000}, 400, "262197", "port"),
        ({**base, "name": "okname", "colour": "red"}, 400, "262179", "colour"),
        ({**base, "name": "okname", "certificate": {"name": "c1"}}, 400, "2", "certificate"),
        ({**base, "name": "okname", "enabled": "yes"}, 400, "262197", "enabled"),
        ({"name": "okname", "svm": {"uuid": "00000000-0000-0000-0000-000000000000"}}, 404, "2621462", "svm.uuid"),
        ({**base}, 400, "262212", "name"),
        ({**base, "name": "okname", "buckets": [{"name": "Bad_Bucket"}]}, 400, "92405785", "name"),
        ({**base, "name": "okname", "users": [{"name": "a/b"}]}, 400, "262197", "users[0].name"),
    ]
    for body, status, code, target in cases:
        r = raw.post(f"{S3}/services", json=body)
        assert r.status_code == status, (body, r.text)
        err = r.json()["error"]
        assert err["code"] == code, (body, err)
        assert err.get("target") == target, (body, err)
    # Nothing was left behind by the refused requests.
    assert raw.get(service_url(svm["uuid"])).status_code == 404

    # A port in use is refused before anything is stored.
    busy = make_service(raw, svm["uuid"])
    other = svm_factory()
    r = raw.post(
        f"{S3}/services",
        json={"svm": {"uuid": other["uuid"]}, "name": "second", "is_http_enabled": True,
              "is_https_enabled": False, "port": busy["port"]},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["target"] == "port"
    assert raw.get(service_url(other["uuid"])).status_code == 404
    raw.delete(service_url(svm["uuid"]))


def test_buckets_per_svm_and_cluster_wide(server, raw, svm_factory):
    svm = svm_factory()
    make_service(raw, svm["uuid"])

    bucket = S3BucketSvm(svm["uuid"], name="bucket-one", comment="c1", size=200 << 30)
    resp = bucket.post()  # a job, polled to success
    polled_job_uuid(resp)
    assert bucket.uuid

    got = S3BucketSvm(svm["uuid"], uuid=bucket.uuid)
    got.get()
    assert got.name == "bucket-one" and got.comment == "c1" and got.size == 200 << 30
    assert got.type == "s3" and got.versioning_state == "disabled"
    assert got.logical_used_size == 0

    got.versioning_state = "suspended"
    got.audit_event_selector = {"access": "write", "permission": "all"}
    polled_job_uuid(got.patch())
    again = S3BucketSvm(svm["uuid"], uuid=bucket.uuid)
    again.get()
    assert again.versioning_state == "suspended"
    assert again.audit_event_selector.access == "write"

    # Once on, versioning is suspended, never disabled.
    r = raw.patch(f"{S3}/services/{svm['uuid']}/buckets/{bucket.uuid}",
                  json={"versioning_state": "disabled"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["target"] == "versioning_state"

    # The cluster-wide view, as Ansible's na_ontap_s3_buckets uses it.
    cluster = [b for b in S3Bucket.get_collection(fields="name,svm") if b.svm.uuid == svm["uuid"]]
    assert [b.name for b in cluster] == ["bucket-one"]
    one = S3Bucket(svm={"uuid": svm["uuid"]}, uuid=bucket.uuid)
    one.get()
    assert one.name == "bucket-one"

    r = raw.post(f"{S3}/buckets?return_timeout=30", json={"svm": {"name": svm["name"]}, "name": "bucket-two"})
    assert r.status_code == 201, r.text
    two_uuid = r.headers["Location"].rsplit("/", 1)[1]
    assert r.headers["Location"] == f"{S3}/buckets/{svm['uuid']}/{two_uuid}"
    r = raw.patch(f"{S3}/buckets/{svm['uuid']}/{two_uuid}?return_timeout=30", json={"comment": "two"})
    assert r.status_code == 200, r.text
    r = raw.get(f"{S3}/services/{svm['uuid']}/buckets?fields=name,comment&order_by=name")
    assert [(b["name"], b.get("comment")) for b in r.json()["records"]] == [
        ("bucket-one", "c1"),
        ("bucket-two", "two"),
    ]

    # Bad input, and what Vigil does not do yet, is refused instead of stored.
    cases = [
        ({"name": "bucket-one"}, 409, "1"),
        ({"name": "ab"}, 400, "92405786"),
        ({"name": "UPPER"}, 400, "92405785"),
        ({"name": "192.168.1.1"}, 400, "92405785"),
        ({"name": "nas-bucket", "type": "nas", "nas_path": "/data"}, 400, "2"),
        ({"name": "pol-bucket", "policy": {"statements": [{"effect": "allow", "actions": ["*"]}]}}, 400, "262197"),
        ({"name": "pol-bucket", "policy": {"statements": [
            {"effect": "allow", "actions": ["*"], "principals": ["*"], "resources": ["pol-bucket/*"],
             "conditions": [{"operator": "ip_address", "source_ips": ["10.0.0.0/8"]}]}]}}, 400, "2"),
        ({"name": "vers-bucket", "versioning_state": "enabled"}, 400, "2"),
        ({"name": "enc-bucket", "encryption": {"enabled": True}}, 400, "2"),
        ({"name": "bad-vers", "versioning_state": "sometimes"}, 400, "262197"),
        ({"name": "tiny", "size": 1024}, 400, "262197"),
    ]
    for body, status, code in cases:
        r = raw.post(f"{S3}/services/{svm['uuid']}/buckets", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.text)

    # A bucket on an SVM without an S3 server.
    bare = svm_factory()
    r = raw.post(f"{S3}/services/{bare['uuid']}/buckets", json={"name": "lonely"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "2", r.text
    r = raw.get(f"{S3}/services/00000000-0000-0000-0000-000000000000/buckets")
    assert r.status_code == 404 and r.json()["error"]["code"] == "92405861", r.text

    got.delete()
    r = raw.delete(f"{S3}/buckets/{svm['uuid']}/{two_uuid}?return_timeout=30")
    assert r.status_code == 200, r.text
    r = raw.get(f"{S3}/services/{svm['uuid']}/buckets")
    assert r.json()["num_records"] == 0, r.text
    raw.delete(service_url(svm["uuid"]))


def test_users_keys_shown_once(server, raw, svm_factory):
    svm = svm_factory()
    make_service(raw, svm["uuid"])

    user = S3User(svm["uuid"], name="user-1", comment="S3 user")
    resp = user.post()
    assert resp.http_response.status_code == 201
    assert resp.http_response.headers["Location"] == f"{S3}/services/{svm['uuid']}/users/user-1"
    created = resp.http_response.json()
    assert created["num_records"] == 1
    keys = created["records"][0]
    assert keys["name"] == "user-1"
    assert len(keys["access_key"]) == 20 and len(keys["secret_key"]) == 40

    got = S3User(svm["uuid"], name="user-1")
    got.get()
    assert got.access_key == keys["access_key"]
    assert got.comment == "S3 user"
    assert not hasattr(got, "secret_key")
    r = raw.get(f"{S3}/services/{svm['uuid']}/users?fields=*")
    assert all("secret_key" not in u for u in r.json()["records"]), r.text
    r = raw.get(f"{S3}/services/{svm['uuid']}/users?fields=secret_key")
    assert r.status_code == 400, r.text

    resp = got.patch(regenerate_keys=True)
    assert resp.http_response.status_code == 200
    fresh = resp.http_response.json()["records"][0]
    assert fresh["access_key"] != keys["access_key"] and fresh["secret_key"] != keys["secret_key"]
    got.get()
    assert got.access_key == fresh["access_key"]

    # Keys given by the administrator are taken as they are; a TTL sets an expiry.
    r = raw.post(
        f"{S3}/services/{svm['uuid']}/users",
        json={"name": "user-2", "access_key": "AKIAVIGILTESTKEY0001",
              "secret_key": "s3cr3t-s3cr3t-s3cr3t-s3cr3t", "key_time_to_live": "P6DT1H5M"},
    )
    assert r.status_code == 201, r.text
    rec = r.json()["records"][0]
    assert rec["access_key"] == "AKIAVIGILTESTKEY0001" and "key_expiry_time" in rec
    dup = raw.post(f"{S3}/services/{svm['uuid']}/users", json={"name": "user-2"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "1", dup.text
    half = raw.post(f"{S3}/services/{svm['uuid']}/users", json={"name": "user-3", "access_key": "AKIAVIGILTESTKEY0002"})
    assert half.status_code == 400 and half.json()["error"]["code"] == "262186", half.text
    bad_ttl = raw.post(f"{S3}/services/{svm['uuid']}/users", json={"name": "user-4", "key_time_to_live": "6 days"})
    assert bad_ttl.status_code == 400 and bad_ttl.json()["error"]["code"] == "262197", bad_ttl.text

    names = sorted(u.name for u in S3User.get_collection(svm["uuid"]))
    assert names == ["user-1", "user-2"]
    S3User(svm["uuid"], name="user-2").delete()
    got.delete()
    assert raw.get(f"{S3}/services/{svm['uuid']}/users").json()["num_records"] == 0
    raw.delete(service_url(svm["uuid"]))


def test_a_key_from_post_works_with_boto3_at_once(server, raw, svm_factory):
    svm = svm_factory()
    service = make_service(raw, svm["uuid"])
    keys = S3User(svm["uuid"], name="quick").post().http_response.json()["records"][0]
    wait_listening(service["port"])
    s3 = client(service["port"], keys)
    assert s3.list_buckets()["Buckets"] == []
    raw.delete(service_url(svm["uuid"]))
