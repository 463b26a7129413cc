"""The S3 data operations beyond the basics, with boto3 against the real server:
multipart uploads (boto3's managed transfer of a >100 MiB object and every low-level
call), CopyObject, DeleteObjects, ListObjects v1, conditional requests, object
tagging, Content-MD5 and x-amz-checksum-*, presigned URLs. Decisions are docs/s3.md's."""

import base64
import datetime
import hashlib
import os
import time
import zlib

import botocore.httpchecksum
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import unique
from s3_common import (  # noqa: F401 (s3env is a fixture)
    S3, bucket_dir, client, free_port, make_service, make_user, s3_error_code, s3env, wait_listening,
)

MiB = 1024 * 1024


def status(exc_info) -> int:
    return exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def staged_uploads(raw, env, bucket: str) -> list:
    d = bucket_dir(raw, env["svm"]["uuid"], env["root"], bucket) / ".uploads"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def temp_files(raw, env, bucket: str) -> list:
    d = bucket_dir(raw, env["svm"]["uuid"], env["root"], bucket) / ".tmp"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_managed_transfer_of_a_large_object(s3env, raw, tmp_path):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="large")
    size = 105 * MiB + 123
    src = tmp_path / "big.bin"
    chunk = os.urandom(MiB)
    with open(src, "wb") as f:
        for i in range(size // MiB):
            f.write(bytes([i % 251]) + chunk[1:])
        f.write(chunk[: size % MiB])
    data = src.read_bytes()
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    s3.upload_file(str(src), "large", "dir/big.bin", Config=config)
    head = s3.head_object(Bucket="large", Key="dir/big.bin")
    assert head["ContentLength"] == size
    parts = [data[i : i + 8 * MiB] for i in range(0, size, 8 * MiB)]
    assert head["ETag"] == multipart_etag(parts)
    out = tmp_path / "back.bin"
    s3.download_file("large", "dir/big.bin", str(out), Config=config)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    # Nothing staged or half-written stays behind.
    assert staged_uploads(raw, s3env, "large") == []
    assert temp_files(raw, s3env, "large") == []
    assert s3.list_multipart_uploads(Bucket="large").get("Uploads", []) == []


def test_multipart_calls_and_their_errors(s3env, raw):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="mpu")
    first, second = os.urandom(5 * MiB), b"the short last part"
    source = os.urandom(300)
    s3.put_object(Bucket="mpu", Key="source", Body=source)

    up = s3.create_multipart_upload(
        Bucket="mpu", Key="joined/obj", ContentType="application/x-joined",
        Metadata={"origin": "parts"}, Tagging="stage=final",
    )
    uid = up["UploadId"]
    p1 = s3.upload_part(Bucket="mpu", Key="joined/obj", UploadId=uid, PartNumber=1, Body=first)
    p2 = s3.upload_part(Bucket="mpu", Key="joined/obj", UploadId=uid, PartNumber=2, Body=b"replaced below")
    p2 = s3.upload_part(Bucket="mpu", Key="joined/obj", UploadId=uid, PartNumber=2, Body=second)
    assert p2["ETag"] == f'"{hashlib.md5(second).hexdigest()}"'
    p3 = s3.upload_part_copy(
        Bucket="mpu", Key="joined/obj", UploadId=uid, PartNumber=3,
        CopySource={"Bucket": "mpu", "Key": "source"}, CopySourceRange="bytes=100-199",
    )
    assert p3["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source[100:200]).hexdigest()}"'

    listed = s3.list_parts(Bucket="mpu", Key="joined/obj", UploadId=uid)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MiB), (2, len(second)), (3, 100)]
    page = s3.list_parts(Bucket="mpu", Key="joined/obj", UploadId=uid, MaxParts=2)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket="mpu", Key="joined/obj", UploadId=uid, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]

    other = s3.create_multipart_upload(Bucket="mpu", Key="aborted")["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket="mpu")["Uploads"]
    assert sorted((u["Key"], u["UploadId"]) for u in uploads) == [("aborted", other), ("joined/obj", uid)]
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="mpu", Prefix="joined/")["Uploads"]] == ["joined/obj"]
    s3.abort_multipart_upload(Bucket="mpu", Key="aborted", UploadId=other)
    for call in (
        lambda: s3.abort_multipart_upload(Bucket="mpu", Key="aborted", UploadId=other),
        lambda: s3.upload_part(Bucket="mpu", Key="aborted", UploadId=other, PartNumber=1, Body=b"x"),
        lambda: s3.list_parts(Bucket="mpu", Key="aborted", UploadId=other),
        # An id that is not one of ours, however it is spelled, names nothing.
        lambda: s3.upload_part(Bucket="mpu", Key="joined/obj", UploadId="../../x", PartNumber=1, Body=b"x"),
        # The right id with another key.
        lambda: s3.list_parts(Bucket="mpu", Key="other", UploadId=uid),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert s3_error_code(e) == "NoSuchUpload"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket="mpu", Key="joined/obj", UploadId=uid, PartNumber=10001, Body=b"x")
    assert s3_error_code(e) == "InvalidArgument"

    def complete(parts):
        return s3.complete_multipart_upload(
            Bucket="mpu", Key="joined/obj", UploadId=uid, MultipartUpload={"Parts": parts}
        )

    e1 = {"PartNumber": 1, "ETag": p1["ETag"]}
    e2 = {"PartNumber": 2, "ETag": p2["ETag"]}
    e3 = {"PartNumber": 3, "ETag": p3["CopyPartResult"]["ETag"]}
    for parts, code in [
        ([e1, {"PartNumber": 2, "ETag": '"0123456789abcdef0123456789abcdef"'}], "InvalidPart"),
        ([e1, {"PartNumber": 4, "ETag": p2["ETag"]}], "InvalidPart"),
        ([e2, e1], "InvalidPartOrder"),
        ([e2, e3], "EntityTooSmall"),
    ]:
        with pytest.raises(ClientError) as e:
            complete(parts)
        assert s3_error_code(e) == code, parts
        with pytest.raises(ClientError):
            s3.head_object(Bucket="mpu", Key="joined/obj")
    done = complete([e1, e2])
    assert done["ETag"] == multipart_etag([first, second])
    got = s3.get_object(Bucket="mpu", Key="joined/obj")
    assert got["Body"].read() == first + second
    assert got["ContentType"] == "application/x-joined"
    assert got["Metadata"] == {"origin": "parts"}
    assert got["ETag"] == done["ETag"]
    assert s3.get_object_tagging(Bucket="mpu", Key="joined/obj")["TagSet"] == [{"Key": "stage", "Value": "final"}]
    # Completed: the upload and its staged parts are gone.
    with pytest.raises(ClientError) as e:
        complete([e1, e2])
    assert s3_error_code(e) == "NoSuchUpload"
    assert staged_uploads(raw, s3env, "mpu") == []
    assert temp_files(raw, s3env, "mpu") == []


def test_copy_object_metadata_directives(s3env):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="copy-a")
    s3.create_bucket(Bucket="copy-b")
    body = os.urandom(70_000)
    put = s3.put_object(
        Bucket="copy-a", Key="src", Body=body, ContentType="text/x-src",
        Metadata={"m": "1"}, Tagging="t=1",
    )
    out = s3.copy_object(Bucket="copy-b", Key="dst/copied", CopySource={"Bucket": "copy-a", "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == put["ETag"]
    got = s3.get_object(Bucket="copy-b", Key="dst/copied")
    assert got["Body"].read() == body
    assert (got["ContentType"], got["Metadata"]) == ("text/x-src", {"m": "1"})
    assert s3.get_object_tagging(Bucket="copy-b", Key="dst/copied")["TagSet"] == [{"Key": "t", "Value": "1"}]

    s3.copy_object(
        Bucket="copy-b", Key="replaced", CopySource="copy-a/src", MetadataDirective="REPLACE",
        ContentType="text/x-new", Metadata={"n": "2"}, TaggingDirective="REPLACE", Tagging="u=2",
    )
    head = s3.head_object(Bucket="copy-b", Key="replaced")
    assert (head["ContentType"], head["Metadata"]) == ("text/x-new", {"n": "2"})
    assert s3.get_object_tagging(Bucket="copy-b", Key="replaced")["TagSet"] == [{"Key": "u", "Value": "2"}]

    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="copy-a", Key="src", CopySource="copy-a/src")
    assert s3_error_code(e) == "InvalidRequest"
    s3.copy_object(
        Bucket="copy-a", Key="src", CopySource="copy-a/src", MetadataDirective="REPLACE", Metadata={"m": "3"}
    )
    assert s3.head_object(Bucket="copy-a", Key="src")["Metadata"] == {"m": "3"}
    assert s3.get_object(Bucket="copy-a", Key="src")["Body"].read() == body

    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="copy-b", Key="x", CopySource="copy-a/missing")
    assert s3_error_code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="copy-b", Key="x", CopySource="copy-a/src", CopySourceIfMatch='"0000"')
    assert s3_error_code(e) == "PreconditionFailed"
    s3.copy_object(Bucket="copy-b", Key="x", CopySource="copy-a/src", CopySourceIfMatch=put["ETag"])
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="copy-b", Key="../x", CopySource="copy-a/src")
    assert s3_error_code(e) == "InvalidArgument"


def test_delete_objects_quiet_and_verbose(s3env):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="bulk")
    for k in ["a", "b", "c/d", "e"]:
        s3.put_object(Bucket="bulk", Key=k, Body=k.encode())
    out = s3.delete_objects(
        Bucket="bulk",
        Delete={"Objects": [{"Key": "a"}, {"Key": "c/d"}, {"Key": "never-was"}, {"Key": "../evil"}]},
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == ["a", "c/d", "never-was"]
    assert [(x["Key"], x["Code"]) for x in out["Errors"]] == [("../evil", "InvalidArgument")]
    quiet = s3.delete_objects(Bucket="bulk", Delete={"Objects": [{"Key": "b"}], "Quiet": True})
    assert quiet.get("Deleted", []) == [] and quiet.get("Errors", []) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="bulk")["Contents"]] == ["e"]


def test_list_objects_v1_prefix_delimiter_marker(s3env):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="listing-v1")
    keys = ["a/1", "a/2", "b", "c/x/1", "c/y", "d"]
    for k in keys:
        s3.put_object(Bucket="listing-v1", Key=k, Body=b"x")
    full = s3.list_objects(Bucket="listing-v1")
    assert [o["Key"] for o in full["Contents"]] == keys
    assert full["IsTruncated"] is False
    top = s3.list_objects(Bucket="listing-v1", Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["b", "d"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "c/"]
    sub = s3.list_objects(Bucket="listing-v1", Prefix="c/", Delimiter="/")
    assert [o["Key"] for o in sub["Contents"]] == ["c/y"]
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["c/x/"]
    seen, marker = [], ""
    while True:
        page = s3.list_objects(Bucket="listing-v1", MaxKeys=2, Marker=marker)
        seen += [o["Key"] for o in page["Contents"]]
        if not page["IsTruncated"]:
            break
        marker = page["NextMarker"]
    assert seen == keys
    # boto3's paginator follows NextMarker too.
    pages = s3.get_paginator("list_objects").paginate(Bucket="listing-v1", PaginationConfig={"PageSize": 4})
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys


def test_conditional_get_head_and_put(s3env):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="cond")
    etag = s3.put_object(Bucket="cond", Key="k", Body=b"v1")["ETag"]
    modified = s3.head_object(Bucket="cond", Key="k")["LastModified"]
    hour = datetime.timedelta(hours=1)
    earlier, later = modified - hour, modified + hour

    for call in (s3.get_object, s3.head_object):
        call(Bucket="cond", Key="k", IfMatch=etag)
        call(Bucket="cond", Key="k", IfNoneMatch='"0123"')
        call(Bucket="cond", Key="k", IfModifiedSince=earlier)
        call(Bucket="cond", Key="k", IfUnmodifiedSince=later)
        # A true If-Match overrides a false If-Unmodified-Since.
        call(Bucket="cond", Key="k", IfMatch=etag, IfUnmodifiedSince=earlier)
        for kwargs, code in [
            ({"IfMatch": '"0123"'}, 412),
            ({"IfUnmodifiedSince": earlier}, 412),
            ({"IfNoneMatch": etag}, 304),
            ({"IfNoneMatch": "*"}, 304),
            ({"IfModifiedSince": later}, 304),
        ]:
            with pytest.raises(ClientError) as e:
                call(Bucket="cond", Key="k", **kwargs)
            assert status(e) == code, (call, kwargs)
    assert s3.get_object(Bucket="cond", Key="k", IfMatch=etag)["Body"].read() == b"v1"

    # Conditional writes: If-None-Match: * only creates.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="cond", Key="k", Body=b"v2", IfNoneMatch="*")
    assert s3_error_code(e) == "PreconditionFailed" and status(e) == 412
    assert s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"v1"
    s3.put_object(Bucket="cond", Key="new", Body=b"n", IfNoneMatch="*")
    assert s3.get_object(Bucket="cond", Key="new")["Body"].read() == b"n"
    # If-Match writes only over the expected version.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="cond", Key="k", Body=b"v2", IfMatch='"0123"')
    assert s3_error_code(e) == "PreconditionFailed"
    s3.put_object(Bucket="cond", Key="k", Body=b"v2", IfMatch=etag)
    assert s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"v2"


def test_object_tagging(s3env):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="tags")
    s3.put_object(Bucket="tags", Key="k", Body=b"x", Tagging="colour=blue&size=big%20one")
    tags = s3.get_object_tagging(Bucket="tags", Key="k")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("colour", "blue"), ("size", "big one")]
    assert s3.get_object(Bucket="tags", Key="k")["TagCount"] == 2
    s3.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": [{"Key": "only", "Value": "this"}]})
    assert s3.get_object_tagging(Bucket="tags", Key="k")["TagSet"] == [{"Key": "only", "Value": "this"}]
    # Tagging leaves the object itself alone.
    assert s3.get_object(Bucket="tags", Key="k")["Body"].read() == b"x"
    s3.delete_object_tagging(Bucket="tags", Key="k")
    assert s3.get_object_tagging(Bucket="tags", Key="k")["TagSet"] == []
    too_many = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket="tags", Key="k", Tagging=too_many)
    assert status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="tags", Key="dup", Body=b"x", Tagging="a=1&a=2")
    assert s3_error_code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket="tags", Key="missing")
    assert s3_error_code(e) == "NoSuchKey"


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bit by bit: botocore needs the CRT package for it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_checksums_are_computed_and_kept(s3env, algorithm):
    s3 = s3env["s3"]
    bucket = f"sums-{algorithm.lower()}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(20_000)
    field = f"Checksum{algorithm}"
    expected = {
        "CRC32": b64(zlib.crc32(body).to_bytes(4, "big")),
        "CRC32C": b64(crc32c(body).to_bytes(4, "big")),
        "SHA1": b64(hashlib.sha1(body).digest()),
        "SHA256": b64(hashlib.sha256(body).digest()),
    }[algorithm]
    if algorithm == "CRC32C":
        # botocore cannot compute it without the CRT, but can send a value given.
        put = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumCRC32C=expected)
    else:
        put = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm=algorithm)
    assert put[field] == expected
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[field] == expected
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got[field] == expected
    assert field not in s3.head_object(Bucket=bucket, Key="k")


def test_wrong_digests_are_refused_and_nothing_is_stored(s3env, raw):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="digests")
    body = b"the real body"
    wrong_sha = b64(hashlib.sha256(b"another body").digest())
    cases = [
        ({"ChecksumSHA256": wrong_sha}, "BadDigest"),
        ({"ChecksumCRC32": b64((zlib.crc32(body) ^ 1).to_bytes(4, "big"))}, "BadDigest"),
        ({"ChecksumCRC32C": b64((crc32c(body) ^ 1).to_bytes(4, "big"))}, "BadDigest"),
        ({"ChecksumSHA1": "not-a-checksum"}, "InvalidRequest"),
        ({"ContentMD5": b64(hashlib.md5(b"another body").digest())}, "BadDigest"),
        ({"ContentMD5": "bm90IDE2IGJ5dGVz"}, "InvalidDigest"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="digests", Key="k", Body=body, **kwargs)
        assert s3_error_code(e) == code, kwargs
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket="digests", Key="k")
        assert status(e) == 404
    assert temp_files(raw, s3env, "digests") == []
    # A wrong checksum on a part refuses the part, and the upload goes on.
    uid = s3.create_multipart_upload(Bucket="digests", Key="mp")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket="digests", Key="mp", UploadId=uid, PartNumber=1, Body=body, ChecksumSHA256=wrong_sha)
    assert s3_error_code(e) == "BadDigest"
    assert s3.list_parts(Bucket="digests", Key="mp", UploadId=uid).get("Parts", []) == []
    p = s3.upload_part(
        Bucket="digests", Key="mp", UploadId=uid, PartNumber=1, Body=body,
        ChecksumSHA256=b64(hashlib.sha256(body).digest()),
    )
    s3.complete_multipart_upload(
        Bucket="digests", Key="mp", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]},
    )
    assert s3.get_object(Bucket="digests", Key="mp")["Body"].read() == body
    # The right ones are accepted.
    s3.put_object(
        Bucket="digests", Key="k", Body=body, ContentMD5=b64(hashlib.md5(body).digest()),
        ChecksumSHA256=b64(hashlib.sha256(body).digest()),
    )
    assert s3.get_object(Bucket="digests", Key="k")["Body"].read() == body


def test_presigned_urls(s3env):
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="presigned")
    s3.put_object(Bucket="presigned", Key="dir/get-me", Body=b"fetched without a client")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "dir/get-me"}, ExpiresIn=600)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"fetched without a client"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "presigned", "Key": "put-me"}, ExpiresIn=600)
    r = requests.put(put_url, data=b"uploaded through a presigned URL", timeout=30)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket="presigned", Key="put-me")["Body"].read() == b"uploaded through a presigned URL"
    # A tampered URL (another key) is refused.
    r = requests.get(url.replace("dir/get-me", "put-me"), timeout=30)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text, r.text
    # An expired one is refused once its second has passed.
    short = s3.generate_presigned_url("get_object", Params={"Bucket": "presigned", "Key": "dir/get-me"}, ExpiresIn=1)
    deadline = time.monotonic() + 60
    while True:
        r = requests.get(short, timeout=30)
        if r.status_code != 200:
            break
        assert time.monotonic() < deadline, "the presigned URL never expired"
        time.sleep(0.5)
    assert r.status_code == 403, r.text
    assert "<Code>AccessDenied</Code>" in r.text, r.text


def test_tags_checksums_and_uploads_survive_a_restart(fresh_server):
    raw = fresh_server.session()
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("svm")})
    assert r.status_code in (200, 201), r.text
    svm_uuid = r.headers["Location"].rsplit("/", 1)[1]
    service = make_service(raw, svm_uuid)
    keys = make_user(raw, svm_uuid, "durable")
    wait_listening(service["port"])
    s3 = client(service["port"], keys)
    s3.create_bucket(Bucket="durable")
    body = b"tagged and summed"
    s3.put_object(Bucket="durable", Key="k", Body=body, Tagging="keep=yes", ChecksumAlgorithm="SHA256")
    part1 = os.urandom(5 * MiB)
    uid = s3.create_multipart_upload(Bucket="durable", Key="mp")["UploadId"]
    e1 = s3.upload_part(Bucket="durable", Key="mp", UploadId=uid, PartNumber=1, Body=part1)["ETag"]
    fresh_server.restart()
    wait_listening(service["port"])
    s3 = client(service["port"], keys)
    assert s3.get_object_tagging(Bucket="durable", Key="k")["TagSet"] == [{"Key": "keep", "Value": "yes"}]
    head = s3.head_object(Bucket="durable", Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64(hashlib.sha256(body).digest())
    # The upload in progress is still there and can be finished.
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="durable")["Uploads"]] == [uid]
    e2 = s3.upload_part(Bucket="durable", Key="mp", UploadId=uid, PartNumber=2, Body=b"tail")["ETag"]
    s3.complete_multipart_upload(
        Bucket="durable", Key="mp", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert s3.get_object(Bucket="durable", Key="mp")["Body"].read() == part1 + b"tail"
    raw.close()


def test_trailing_checksums_over_https(server, raw, svm_factory, monkeypatch):
    """Over HTTPS botocore sends the body aws-chunked with the checksum in a trailer."""
    svm = svm_factory()
    port = free_port()
    make_service(raw, svm["uuid"], is_http_enabled=False, is_https_enabled=True, secure_port=port)
    keys = make_user(raw, svm["uuid"], "trailer-user")
    wait_listening(port)
    s3 = client(port, keys, scheme="https")
    s3.create_bucket(Bucket="trailers")
    body = os.urandom(300_000)
    sent = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **kw: sent.append(dict(request.headers)))
    put = s3.put_object(Bucket="trailers", Key="k", Body=body, ChecksumAlgorithm="SHA256")
    assert sent[-1].get("X-Amz-Trailer") == b"x-amz-checksum-sha256", sent[-1]
    assert put["ChecksumSHA256"] == b64(hashlib.sha256(body).digest())
    assert s3.get_object(Bucket="trailers", Key="k")["Body"].read() == body
    # Fault injected on the client (no other way to send a wrong trailer): botocore's
    # SHA-256 reports the digest of other bytes.
    wrong = hashlib.sha256(b"other bytes").digest()
    monkeypatch.setattr(botocore.httpchecksum.Sha256Checksum, "digest", lambda self: wrong)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="trailers", Key="k", Body=b"replacement", ChecksumAlgorithm="SHA256")
    assert s3_error_code(e) == "BadDigest"
    monkeypatch.undo()
    assert s3.get_object(Bucket="trailers", Key="k")["Body"].read() == body
    s3.delete_object(Bucket="trailers", Key="k")
    s3.delete_bucket(Bucket="trailers")
    raw.delete(f"{S3}/services/{svm['uuid']}")


def test_listings_carry_awkward_keys(s3env):
    """boto3 asks for encoding-type=url and decodes the names; every key comes back as is."""
    s3 = s3env["s3"]
    s3.create_bucket(Bucket="awkward")
    keys = sorted(["dir/a b+c%d.txt", "dir/é&<x>", "plus+sign", "semi;colon=eq?q"])
    for k in keys:
        s3.put_object(Bucket="awkward", Key=k, Body=k.encode())
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="awkward")["Contents"]] == keys
    assert [o["Key"] for o in s3.list_objects(Bucket="awkward")["Contents"]] == keys
    top = s3.list_objects(Bucket="awkward", Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/"]
    nxt = s3.list_objects(Bucket="awkward", Delimiter="/", Marker=top["NextMarker"])
    assert [o["Key"] for o in nxt["Contents"]] == ["semi;colon=eq?q"]
    uid = s3.create_multipart_upload(Bucket="awkward", Key="dir/a b+c%d.txt")["UploadId"]
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="awkward")["Uploads"]] == ["dir/a b+c%d.txt"]
    s3.abort_multipart_upload(Bucket="awkward", Key="dir/a b+c%d.txt", UploadId=uid)
    for k in keys:
        assert s3.get_object(Bucket="awkward", Key=k)["Body"].read() == k.encode()
