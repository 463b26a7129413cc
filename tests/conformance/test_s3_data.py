"""The S3 protocol of an SVM's S3 server with boto3, using keys returned by the REST
POST: buckets, objects, listings, key traversal, signatures, expiry, HTTPS, restart."""

import datetime
import hashlib
import os
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import unique
from s3_common import (  # noqa: F401 (s3env is a fixture)
    S3, client, free_port, make_service, make_user, s3_error_code, s3env, service_url, wait_listening,
)


def test_buckets_through_s3_are_rest_records(s3env, raw):
    s3, svm = s3env["s3"], s3env["svm"]
    s3.create_bucket(Bucket="made-by-s3")
    s3.head_bucket(Bucket="made-by-s3")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["made-by-s3"]
    r = raw.get(f"{S3}/services/{svm['uuid']}/buckets?fields=name,type")
    assert [(b["name"], b["type"]) for b in r.json()["records"]] == [("made-by-s3", "s3")]
    # And the other way round.
    r = raw.post(f"{S3}/services/{svm['uuid']}/buckets?return_timeout=30", json={"name": "made-by-rest"})
    assert r.status_code == 201, r.text
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == ["made-by-rest", "made-by-s3"]

    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="made-by-s3")
    assert s3_error_code(e) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="no-such-bucket")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    s3.put_object(Bucket="made-by-s3", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="made-by-s3")
    assert s3_error_code(e) == "BucketNotEmpty"
    s3.delete_object(Bucket="made-by-s3", Key="k")
    s3.delete_bucket(Bucket="made-by-s3")
    # A bucket made over REST has no owner: data-user may not delete it (docs/s3.md).
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="made-by-rest")
    assert s3_error_code(e) == "AccessDenied"
    rest_uuid = r.headers["Location"].rsplit("/", 1)[1]
    r = raw.delete(f"{S3}/services/{svm['uuid']}/buckets/{rest_uuid}?return_timeout=30")
    assert r.status_code == 200, r.text
    assert s3.list_buckets()["Buckets"] == []
    assert raw.get(f"{S3}/services/{svm['uuid']}/buckets").json()["num_records"] == 0


def test_objects_put_get_head_delete(s3env, raw):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="objects")
    body = os.urandom(3 * 1024 * 1024 + 17)
    put = s3.put_object(
        Bucket="objects", Key="dir/sub/blob.bin", Body=body,
        ContentType="application/x-test", Metadata={"colour": "blue"},
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket="objects", Key="dir/sub/blob.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket="objects", Key="dir/sub/blob.bin")
    assert head["ContentLength"] == len(body)
    part = s3.get_object(Bucket="objects", Key="dir/sub/blob.bin", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]

    # A key and a "directory" of the same name are both objects.
    s3.put_object(Bucket="objects", Key="dir", Body=b"file named dir")
    assert s3.get_object(Bucket="objects", Key="dir")["Body"].read() == b"file named dir"
    s3.put_object(Bucket="objects", Key="dir/sub/blob.bin", Body=b"overwritten")
    assert s3.get_object(Bucket="objects", Key="dir/sub/blob.bin")["Body"].read() == b"overwritten"
    r = raw.get(f"{S3}/services/{s3env['svm']['uuid']}/buckets?fields=logical_used_size")
    assert r.json()["records"][0]["logical_used_size"] == len(b"file named dir") + len(b"overwritten")

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objects", Key="missing")
    assert s3_error_code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="objects", Key="missing")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="no-such-bucket", Key="k", Body=b"x")
    assert s3_error_code(e) == "NoSuchBucket"

    s3.delete_object(Bucket="objects", Key="dir/sub/blob.bin")
    s3.delete_object(Bucket="objects", Key="dir/sub/blob.bin")  # deleting twice is fine
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="objects", Key="dir/sub/blob.bin")
    assert s3_error_code(e) == "NoSuchKey"
    s3.delete_object(Bucket="objects", Key="dir")
    s3.delete_bucket(Bucket="objects")


def keys_of(page):
    return [o["Key"] for o in page.get("Contents", [])], [p["Prefix"] for p in page.get("CommonPrefixes", [])]


def test_list_objects_v2_prefix_delimiter_continuation(s3env):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="listing")
    keys = ["a/1", "a/2", "a/b/3", "b", "c/x", "c/y/z", "d", "d/"]
    for k in keys:
        s3.put_object(Bucket="listing", Key=k, Body=k.encode())
    assert keys_of(s3.list_objects_v2(Bucket="listing")) == (sorted(keys), [])
    assert keys_of(s3.list_objects_v2(Bucket="listing", Delimiter="/")) == (["b", "d"], ["a/", "c/", "d/"])
    assert keys_of(s3.list_objects_v2(Bucket="listing", Prefix="a/", Delimiter="/")) == (["a/1", "a/2"], ["a/b/"])
    assert keys_of(s3.list_objects_v2(Bucket="listing", Prefix="c")) == (["c/x", "c/y/z"], [])
    assert keys_of(s3.list_objects_v2(Bucket="listing", StartAfter="c/x")) == (["c/y/z", "d", "d/"], [])

    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket="listing", MaxKeys=3, **kw)
        pages += 1
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(keys) and pages == 3

    # The paginator with a delimiter: common prefixes are not repeated across pages.
    paginator = s3.get_paginator("list_objects_v2")
    got_keys, got_prefixes = [], []
    for page in paginator.paginate(Bucket="listing", Delimiter="/", PaginationConfig={"PageSize": 2}):
        k, p = keys_of(page)
        got_keys += k
        got_prefixes += p
    assert (got_keys, got_prefixes) == (["b", "d"], ["a/", "c/", "d/"])
    for k in keys:
        s3.delete_object(Bucket="listing", Key=k)
    s3.delete_bucket(Bucket="listing")


def test_keys_that_could_escape_are_refused(s3env):
    s3, root = s3env["s3"], s3env["root"]
    s3.create_bucket(Bucket="escape")
    before = sorted(str(p) for p in root.parent.rglob("*") if "escape-target" in p.name)
    for key in ["../escape-target", "a/../../escape-target", "./escape-target", "x/./y", "a/.."]:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="escape", Key=key, Body=b"nope")
        assert s3_error_code(e) == "InvalidArgument", key
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, key
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="escape", Key="k" * 1025, Body=b"nope")
    assert s3_error_code(e) == "KeyTooLongError"
    after = sorted(str(p) for p in root.parent.rglob("*") if "escape-target" in p.name)
    assert after == before == []
    assert s3.list_objects_v2(Bucket="escape").get("KeyCount") == 0
    s3.delete_bucket(Bucket="escape")


def test_signatures_and_unknown_keys_are_refused(s3env):
    port, keys = s3env["port"], s3env["keys"]
    wrong = client(port, {"access_key": keys["access_key"], "secret_key": "x" * 40})
    with pytest.raises(ClientError) as e:
        wrong.list_buckets()
    assert s3_error_code(e) == "SignatureDoesNotMatch"
    unknown = client(port, {"access_key": "AKIANOSUCHKEY0000000", "secret_key": keys["secret_key"]})
    with pytest.raises(ClientError) as e:
        unknown.list_buckets()
    assert s3_error_code(e) == "InvalidAccessKeyId"
    # Anonymous requests get S3 error XML, not a listing.
    import requests

    r = requests.get(f"http://127.0.0.1:{port}/", timeout=30)
    assert r.status_code == 403, r.text
    assert "<Code>AccessDenied</Code>" in r.text, r.text


def test_regenerated_and_expired_keys(s3env, raw):
    svm, port = s3env["svm"], s3env["port"]
    old = make_user(raw, svm["uuid"], "rotating")
    client(port, old).list_buckets()
    r = raw.patch(f"{S3}/services/{svm['uuid']}/users/rotating?regenerate_keys=true", json={})
    assert r.status_code == 200, r.text
    new = r.json()["records"][0]
    client(port, new).list_buckets()
    with pytest.raises(ClientError) as e:
        client(port, old).list_buckets()
    assert s3_error_code(e) == "InvalidAccessKeyId"

    short = make_user(raw, svm["uuid"], "short-lived", key_time_to_live="PT2S")
    expiry = datetime.datetime.fromisoformat(short["key_expiry_time"])
    deadline = time.monotonic() + 60
    while datetime.datetime.now(datetime.timezone.utc) <= expiry + datetime.timedelta(seconds=1):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    with pytest.raises(ClientError) as e:
        client(port, short).list_buckets()
    assert s3_error_code(e) == "ExpiredToken"

    r = raw.patch(f"{S3}/services/{svm['uuid']}/users/rotating?delete_keys=true", json={})
    assert r.status_code == 200, r.text
    with pytest.raises(ClientError) as e:
        client(port, new).list_buckets()
    assert s3_error_code(e) == "InvalidAccessKeyId"


def test_https_listener(server, raw, svm_factory):
    svm = svm_factory()
    port = free_port()
    make_service(raw, svm["uuid"], is_http_enabled=False, is_https_enabled=True, secure_port=port)
    keys = make_user(raw, svm["uuid"], "tls-user")
    wait_listening(port)
    s3 = client(port, keys, scheme="https")
    s3.create_bucket(Bucket="secure")
    s3.put_object(Bucket="secure", Key="k", Body=b"over tls")
    assert s3.get_object(Bucket="secure", Key="k")["Body"].read() == b"over tls"
    s3.delete_object(Bucket="secure", Key="k")
    s3.delete_bucket(Bucket="secure")
    raw.delete(service_url(svm["uuid"]))


def test_objects_and_keys_survive_a_restart(fresh_server):
    raw = fresh_server.session()
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("svm")})
    assert r.status_code in (200, 201), r.text
    svm_uuid = r.headers["Location"].rsplit("/", 1)[1]
    service = make_service(raw, svm_uuid)
    keys = make_user(raw, svm_uuid, "durable")
    wait_listening(service["port"])
    s3 = client(service["port"], keys)
    s3.create_bucket(Bucket="durable")
    s3.put_object(Bucket="durable", Key="a/b", Body=b"still here")
    # What a crash mid-upload or mid-commit leaves: gone once the server is back.
    r = raw.get(f"{S3}/services/{svm_uuid}/buckets?fields=uuid")
    root = Path(raw.get(f"/api/svm/svms/{svm_uuid}?fields=root_path").json()["root_path"])
    bucket_dir = root / ".vigil-s3" / r.json()["records"][0]["uuid"]
    leftovers = [bucket_dir / ".tmp" / "crashed.part", bucket_dir / "a.d" / "b.0123abcd.v"]
    for f in leftovers:
        f.write_bytes(b"partial")
    fresh_server.restart()
    assert not any(f.exists() for f in leftovers)
    wait_listening(service["port"])
    s3 = client(service["port"], keys)
    assert s3.get_object(Bucket="durable", Key="a/b")["Body"].read() == b"still here"
    # The database holds no secret in clear.
    db = (fresh_server.data_dir / "vigil.db").read_bytes()
    wal = fresh_server.data_dir / "vigil.db-wal"
    if wal.exists():
        db += wal.read_bytes()
    assert keys["secret_key"].encode() not in db
    raw.close()
