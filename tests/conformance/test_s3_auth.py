"""Who may do what on an SVM's S3 server: groups and named policies through the
netapp-ontap client (S3Group, S3Policy), bucket policies over REST
(S3BucketSvm.policy.statements) and S3 (Get/Put/DeleteBucketPolicy), the decisions
boto3 sees (allowed, denied, explicit deny over allow, anonymous), and versioning.
The rule is docs/s3.md's "Who may do what"."""

import json

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import S3Group, S3Policy, S3User

from s3_common import S3, client, make_service, make_user, s3_error_code, service_url, wait_listening


def rest_error(resp):
    return resp.status_code, resp.json()["error"]


@pytest.fixture
def s3auth(server, raw, svm_factory):
    svm = svm_factory()
    service = make_service(raw, svm["uuid"])
    wait_listening(service["port"])
    yield {"svm": svm, "uuid": svm["uuid"], "port": service["port"]}
    raw.delete(service_url(svm["uuid"]))


def rest_bucket(raw, svm_uuid, name, **fields):
    r = raw.post(f"{S3}/services/{svm_uuid}/buckets?return_timeout=30", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def anonymous(port):
    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def denied(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # A HEAD reply has no body, so boto3 can only report the status.
    expected = "403" if call.__name__.startswith("head_") else "AccessDenied"
    assert s3_error_code(e) == expected, e.value.response


def test_policies_with_the_client(s3auth, raw):
    uuid = s3auth["uuid"]
    # The built-in policies are on every server, read-only.
    builtin = {p.name: p for p in S3Policy.get_collection(uuid, fields="name,read-only,statements")}
    assert {"FullAccess", "NoS3Access", "ReadOnlyAccess"} <= set(builtin)
    assert builtin["FullAccess"].read_only is True
    assert builtin["NoS3Access"].statements[0].effect == "deny"

    policy = S3Policy(uuid, name="readers", comment="read one bucket", statements=[
        {"effect": "allow", "actions": ["GetObject", "ListBucket"], "resources": ["data", "data/*"], "sid": "r1"},
    ])
    assert policy.post().http_response.status_code == 201
    got = S3Policy(uuid, name="readers")
    got.get(fields="*")
    assert got.comment == "read one bucket" and got.read_only is False
    assert got.statements[0].actions == ["GetObject", "ListBucket"]
    assert got.statements[0].resources == ["data", "data/*"]
    assert got.statements[0].sid == "r1"

    got.statements = [{"effect": "deny", "actions": ["*"], "resources": ["*"]}]
    got.comment = "changed"
    got.patch()
    again = S3Policy(uuid, name="readers")
    again.get(fields="*")
    assert again.comment == "changed" and again.statements[0].effect == "deny"

    cases = [
        ({"name": "readers", "statements": []}, 409, "1"),
        ({"name": "FullAccess"}, 409, "1"),
        ({"name": "bad/name"}, 400, "262197"),
        ({"name": "p" * 129}, 400, "262197"),
        ({"name": "p1", "statements": [{"effect": "allow", "actions": ["FlyAway"], "resources": ["*"]}]}, 400, "262197"),
        ({"name": "p2", "statements": [{"effect": "allow", "actions": ["*"]}]}, 400, "262197"),
        ({"name": "p3", "statements": [{"effect": "maybe", "actions": ["*"], "resources": ["*"]}]}, 400, "262197"),
        ({"name": "p4", "statements": [{"actions": ["*"], "resources": ["*"]}]}, 400, "262212"),
        ({"name": "p5", "statements": [{"effect": "allow", "actions": ["*"], "resources": ["*"],
                                         "principals": ["x"]}]}, 400, "262179"),
        ({"name": "p6", "read-only": True}, 400, None),
    ]
    for body, status, code in cases:
        r = raw.post(f"{S3}/services/{uuid}/policies", json=body)
        assert r.status_code == status, (body, r.text)
        if code:
            assert r.json()["error"]["code"] == code, (body, r.text)
    r = raw.patch(f"{S3}/services/{uuid}/policies/FullAccess", json={"comment": "mine"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "2", r.text
    r = raw.delete(f"{S3}/services/{uuid}/policies/ReadOnlyAccess")
    assert r.status_code == 400 and r.json()["error"]["code"] == "2", r.text
    assert raw.get(f"{S3}/services/{uuid}/policies/nope").status_code == 404

    again.delete()
    assert "readers" not in [p.name for p in S3Policy.get_collection(uuid)]


def test_groups_with_the_client(s3auth, raw):
    uuid = s3auth["uuid"]
    make_user(raw, uuid, "ann")
    make_user(raw, uuid, "ben")
    S3Policy(uuid, name="pol-a", statements=[{"effect": "allow", "actions": ["*"], "resources": ["*"]}]).post()

    # (A plain dict as a user trips the client itself: S3User has a `keys` field, which
    # marshmallow reads as dict.keys. So users go in as S3User objects.)
    def users(*names):
        return [S3User.from_dict({"name": n}) for n in names]

    group = S3Group(uuid, name="team", comment="the team", users=users("ann"), policies=[{"name": "pol-a"}])
    assert group.post().http_response.status_code == 201
    listed = list(S3Group.get_collection(uuid, fields="*"))
    assert [(g.name, g.id) for g in listed] == [("team", listed[0].id)]
    gid = listed[0].id
    assert isinstance(gid, int)
    got = S3Group(uuid, id=gid)
    got.get(fields="*")
    assert got.comment == "the team"
    assert [u.name for u in got.users] == ["ann"]
    assert [p.name for p in got.policies] == ["pol-a"]

    got.users = users("ann", "ben")
    got.policies = [{"name": "pol-a"}, {"name": "ReadOnlyAccess"}]
    got.name = "team-2"
    got.patch()
    again = S3Group(uuid, id=gid)
    again.get(fields="*")
    assert again.name == "team-2"
    assert [u.name for u in again.users] == ["ann", "ben"]

    second = S3Group(uuid, name="all-policies", users=users("ben"), policies=[{"name": "*"}])
    second.post()
    assert sorted(g.id for g in S3Group.get_collection(uuid)) == [gid, gid + 1]

    cases = [
        ({"name": "team-2", "users": [{"name": "ann"}], "policies": [{"name": "pol-a"}]}, 409, "1"),
        ({"name": "g1", "users": [{"name": "nobody"}], "policies": [{"name": "pol-a"}]}, 400, "262197"),
        ({"name": "g2", "users": [{"name": "ann"}], "policies": [{"name": "no-such-policy"}]}, 400, "262197"),
        ({"name": "g3", "policies": [{"name": "pol-a"}]}, 400, "262212"),
        ({"name": "g4", "users": [{"name": "ann"}]}, 400, "262212"),
        ({"name": "bad name", "users": [{"name": "ann"}], "policies": [{"name": "pol-a"}]}, 400, "262197"),
        ({"name": "g5", "id": 99, "users": [{"name": "ann"}], "policies": [{"name": "pol-a"}]}, 400, None),
    ]
    for body, status, code in cases:
        r = raw.post(f"{S3}/services/{uuid}/groups", json=body)
        assert r.status_code == status, (body, r.text)
        if code:
            assert r.json()["error"]["code"] == code, (body, r.text)

    # A policy a group names cannot be deleted; "*" does not pin any one policy.
    r = raw.delete(f"{S3}/services/{uuid}/policies/pol-a")
    assert r.status_code == 409 and r.json()["error"]["code"] == "8", r.text

    # A deleted user leaves its groups.
    assert raw.delete(f"{S3}/services/{uuid}/users/ben").status_code == 200
    again.get(fields="users")
    assert [u.name for u in again.users] == ["ann"]

    again.delete()
    with pytest.raises(NetAppRestError):
        S3Group(uuid, id=gid).get()
    assert raw.delete(f"{S3}/services/{uuid}/policies/pol-a").status_code == 200


def test_group_policies_allow_deny_and_explicit_deny_wins(s3auth, raw):
    uuid, port = s3auth["uuid"], s3auth["port"]
    rest_bucket(raw, uuid, "shared")
    keys = {n: make_user(raw, uuid, n) for n in ["root", "reader", "writer", "loner"]}
    s3 = {n: client(port, k) for n, k in keys.items()}

    # root may do everything: it fills the bucket made over REST.
    s3["root"].put_object(Bucket="shared", Key="pub/a", Body=b"a")
    s3["root"].put_object(Bucket="shared", Key="secret/b", Body=b"b")

    # A user in no group, on a bucket it does not own, may do nothing there.
    denied(s3["loner"].get_object, Bucket="shared", Key="pub/a")
    denied(s3["loner"].list_objects_v2, Bucket="shared")
    denied(s3["loner"].put_object, Bucket="shared", Key="x", Body=b"x")
    # But it lists the buckets and makes (and owns) its own.
    assert [b["Name"] for b in s3["loner"].list_buckets()["Buckets"]] == ["shared"]
    s3["loner"].create_bucket(Bucket="lonely")
    s3["loner"].put_object(Bucket="lonely", Key="k", Body=b"mine")
    assert s3["loner"].get_object(Bucket="lonely", Key="k")["Body"].read() == b"mine"
    denied(s3["reader"].get_object, Bucket="lonely", Key="k")

    raw.post(f"{S3}/services/{uuid}/policies", json={"name": "read-shared", "statements": [
        {"effect": "allow", "actions": ["GetObject", "ListBucket"], "resources": ["shared", "shared/*"]},
    ]})
    raw.post(f"{S3}/services/{uuid}/policies", json={"name": "no-secrets", "statements": [
        {"effect": "deny", "actions": ["GetObject"], "resources": ["shared/secret/*"]},
    ]})
    raw.post(f"{S3}/services/{uuid}/policies", json={"name": "write-pub", "statements": [
        {"effect": "allow", "actions": ["PutObject", "DeleteObject"], "resources": ["shared/pub/*"]},
    ]})
    r = raw.post(f"{S3}/services/{uuid}/groups", json={
        "name": "readers", "users": [{"name": "reader"}, {"name": "writer"}],
        "policies": [{"name": "read-shared"}, {"name": "no-secrets"}]})
    assert r.status_code == 201, r.text
    r = raw.post(f"{S3}/services/{uuid}/groups", json={
        "name": "writers", "users": [{"name": "writer"}], "policies": [{"name": "write-pub"}]})
    assert r.status_code == 201, r.text

    # Allowed.
    assert s3["reader"].get_object(Bucket="shared", Key="pub/a")["Body"].read() == b"a"
    assert [o["Key"] for o in s3["reader"].list_objects_v2(Bucket="shared")["Contents"]] == ["pub/a", "secret/b"]
    s3["writer"].put_object(Bucket="shared", Key="pub/new", Body=b"new")
    # Denied: nothing allows it.
    denied(s3["reader"].put_object, Bucket="shared", Key="pub/nope", Body=b"x")
    denied(s3["writer"].put_object, Bucket="shared", Key="secret/nope", Body=b"x")
    denied(s3["reader"].delete_object, Bucket="shared", Key="pub/a")
    # Denied explicitly, although read-shared allows GetObject on shared/*.
    denied(s3["reader"].get_object, Bucket="shared", Key="secret/b")
    denied(s3["reader"].head_object, Bucket="shared", Key="secret/b")
    # Nothing a refused request asked for happened.
    names = [o["Key"] for o in s3["root"].list_objects_v2(Bucket="shared")["Contents"]]
    assert names == ["pub/a", "pub/new", "secret/b"]

    # A policy change applies to the next request.
    r = raw.patch(f"{S3}/services/{uuid}/policies/no-secrets", json={"statements": [
        {"effect": "deny", "actions": ["GetObject"], "resources": ["shared/pub/*"]}]})
    assert r.status_code == 200, r.text
    assert s3["reader"].get_object(Bucket="shared", Key="secret/b")["Body"].read() == b"b"
    denied(s3["reader"].get_object, Bucket="shared", Key="pub/a")

    # NoS3Access shuts a user out of everything, its own bucket included.
    r = raw.post(f"{S3}/services/{uuid}/groups", json={
        "name": "locked", "users": [{"name": "loner"}], "policies": [{"name": "NoS3Access"}]})
    assert r.status_code == 201, r.text
    denied(s3["loner"].get_object, Bucket="lonely", Key="k")
    denied(s3["loner"].list_buckets)
    denied(s3["loner"].create_bucket, Bucket="lonely-2")

    # Bulk deletes are checked key by key: one refused key deletes nothing.
    with pytest.raises(ClientError) as e:
        s3["writer"].delete_objects(Bucket="shared", Delete={"Objects": [{"Key": "pub/new"}, {"Key": "secret/b"}]})
    assert s3_error_code(e) == "AccessDenied", e.value.response
    assert [o["Key"] for o in s3["root"].list_objects_v2(Bucket="shared")["Contents"]] == names

    for key in names:
        s3["root"].delete_object(Bucket="shared", Key=key)
    s3["root"].delete_object(Bucket="lonely", Key="k")


def test_bucket_policy_over_rest_and_s3(s3auth, raw):
    uuid, port = s3auth["uuid"], s3auth["port"]
    root = client(port, make_user(raw, uuid, "root"))
    guest_keys = make_user(raw, uuid, "guest")
    guest = client(port, guest_keys)
    anon = anonymous(port)
    statements = [
        {"effect": "allow", "actions": ["GetObject"], "principals": ["*"], "resources": ["site/public/*"], "sid": "pub"},
        {"effect": "allow", "actions": ["PutObject", "GetObject", "ListBucket"], "principals": ["guest"],
         "resources": ["site", "site/*"]},
        {"effect": "deny", "actions": ["GetObject"], "principals": ["guest"], "resources": ["site/private/*"]},
    ]
    bucket_uuid = rest_bucket(raw, uuid, "site", policy={"statements": statements})
    got = raw.get(f"{S3}/services/{uuid}/buckets/{bucket_uuid}?fields=policy").json()
    # Read back with a sid for every statement (its position when none was given).
    assert got["policy"]["statements"] == [
        {"sid": str(i + 1), **s, "conditions": []} for i, s in enumerate(statements)]

    root.put_object(Bucket="site", Key="public/index.html", Body=b"<html>")
    root.put_object(Bucket="site", Key="private/diary", Body=b"dear diary")

    # Anonymous: allowed only where the policy names "*".
    assert anon.get_object(Bucket="site", Key="public/index.html")["Body"].read() == b"<html>"
    denied(anon.get_object, Bucket="site", Key="private/diary")
    denied(anon.put_object, Bucket="site", Key="public/x", Body=b"x")
    denied(anon.list_objects_v2, Bucket="site")
    denied(anon.list_buckets)
    denied(anon.get_object, Bucket="no-such-bucket", Key="k")
    # A raw unsigned request gets S3 error XML too.
    r = requests.get(f"http://127.0.0.1:{port}/site/private/diary", timeout=30)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text

    # The named user: allowed, and denied explicitly under private/.
    guest.put_object(Bucket="site", Key="uploads/g", Body=b"g")
    assert guest.get_object(Bucket="site", Key="uploads/g")["Body"].read() == b"g"
    denied(guest.get_object, Bucket="site", Key="private/diary")
    denied(guest.delete_object, Bucket="site", Key="uploads/g")

    # The same policy through S3, spelled the S3 way.
    doc = json.loads(root.get_bucket_policy(Bucket="site")["Policy"])
    assert doc["Statement"][0] == {"Sid": "pub", "Effect": "Allow", "Principal": "*",
                                   "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::site/public/*"]}
    assert doc["Statement"][1]["Principal"] == {"AWS": ["guest"]}
    # Only those allowed GetBucketPolicy read it.
    denied(guest.get_bucket_policy, Bucket="site")

    # PutBucketPolicy replaces it, and REST shows the new one.
    new_doc = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::000000000000:user/guest"]},
        "Action": "s3:*", "Resource": ["arn:aws:s3:::site", "arn:aws:s3:::site/*"]}]}
    root.put_bucket_policy(Bucket="site", Policy=json.dumps(new_doc))
    got = raw.get(f"{S3}/services/{uuid}/buckets/{bucket_uuid}?fields=policy").json()
    assert got["policy"]["statements"] == [{"effect": "allow", "actions": ["*"], "principals": ["guest"],
                                            "resources": ["site", "site/*"], "sid": "1", "conditions": []}]
    assert guest.get_object(Bucket="site", Key="private/diary")["Body"].read() == b"dear diary"
    denied(anon.get_object, Bucket="site", Key="public/index.html")

    # Malformed documents are refused and change nothing.
    bad_docs = [
        "not json",
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                   "Resource": "arn:aws:s3:::other-bucket/*"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:Teleport",
                                   "Resource": "arn:aws:s3:::site/*"}]}),
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                   "Resource": "arn:aws:s3:::site/*",
                                   "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}),
    ]
    for bad in bad_docs:
        with pytest.raises(ClientError) as e:
            root.put_bucket_policy(Bucket="site", Policy=bad)
        assert s3_error_code(e) == "MalformedPolicy", bad
    assert json.loads(root.get_bucket_policy(Bucket="site")["Policy"])["Statement"][0]["Principal"] == {"AWS": ["guest"]}

    # REST refuses what it cannot honour.
    r = raw.patch(f"{S3}/services/{uuid}/buckets/{bucket_uuid}?return_timeout=30", json={"policy": {"statements": [
        {"effect": "allow", "actions": ["GetObject"], "principals": ["*"], "resources": ["site/*"],
         "conditions": [{"operator": "ip_address", "source_ips": ["10.0.0.0/8"]}]}]}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "2", r.text
    r = raw.patch(f"{S3}/services/{uuid}/buckets/{bucket_uuid}?return_timeout=30", json={"policy": {"statements": [
        {"effect": "allow", "actions": ["GetObject"], "principals": ["nasgroup/staff"], "resources": ["site/*"]}]}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "262197", r.text

    # DeleteBucketPolicy empties it on both sides.
    root.delete_bucket_policy(Bucket="site")
    with pytest.raises(ClientError) as e:
        root.get_bucket_policy(Bucket="site")
    assert s3_error_code(e) == "NoSuchBucketPolicy"
    got = raw.get(f"{S3}/services/{uuid}/buckets/{bucket_uuid}?fields=policy").json()
    assert got["policy"]["statements"] == []
    denied(guest.get_object, Bucket="site", Key="uploads/g")

    for key in ["public/index.html", "private/diary", "uploads/g"]:
        root.delete_object(Bucket="site", Key=key)


def test_versioning_over_s3_and_rest(s3auth, raw):
    uuid, port = s3auth["uuid"], s3auth["port"]
    s3 = client(port, make_user(raw, uuid, "vers"))
    s3.create_bucket(Bucket="vers")
    assert "Status" not in s3.get_bucket_versioning(Bucket="vers")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket="vers", VersioningConfiguration={"Status": "Enabled"})
    assert s3_error_code(e) == "NotImplemented"
    assert "Status" not in s3.get_bucket_versioning(Bucket="vers")

    s3.put_bucket_versioning(Bucket="vers", VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket="vers")["Status"] == "Suspended"
    r = raw.get(f"{S3}/services/{uuid}/buckets?name=vers&fields=versioning_state")
    assert r.json()["records"][0]["versioning_state"] == "suspended"
    bucket_uuid = r.json()["records"][0]["uuid"]

    r = raw.patch(f"{S3}/services/{uuid}/buckets/{bucket_uuid}?return_timeout=30", json={"versioning_state": "enabled"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "2", r.text
    assert r.json()["error"]["target"] == "versioning_state"
    r = raw.post(f"{S3}/services/{uuid}/buckets?return_timeout=30", json={"name": "vers-2", "versioning_state": "enabled"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "2", r.text
    s3.delete_bucket(Bucket="vers")
