"""Ansible's netapp.ontap S3 modules against Vigil (`use_rest: always`), run by the
`Ansible` runner of test_ansible.py: na_ontap_s3_services, na_ontap_s3_users,
na_ontap_s3_buckets, na_ontap_s3_policies and na_ontap_s3_groups, each through
create (check mode first), an idempotent re-run, modify and delete; the keys
na_ontap_s3_users returns sign boto3 requests, and what the policies and groups made
by Ansible grant is what boto3 gets."""

import pytest
from botocore.exceptions import ClientError

from conftest import unique
from s3_common import S3, client, free_port, s3_error_code, wait_closed, wait_listening
from test_ansible import Ansible

# Playbooks send and check no dates: they run once, with the real clock.
pytestmark = pytest.mark.no_dates


@pytest.fixture(scope="module")
def ansible(server, tmp_path_factory):
    return Ansible(server, tmp_path_factory.mktemp("ansible-s3"))


def test_s3_modules(ansible, raw, svm_factory):
    svm = svm_factory(unique("ans3"))
    vserver, uuid = svm["name"], svm["uuid"]
    port = free_port()

    # -- na_ontap_s3_services
    service = {"vserver": vserver, "name": "s3-ansible", "comment": "made by ansible",
               "is_http_enabled": True, "is_https_enabled": False, "port": port, "enabled": True}
    assert ansible.run("na_ontap_s3_services", service, check=True)["changed"] is True
    assert raw.get(f"{S3}/services/{uuid}").status_code == 404
    assert ansible.run("na_ontap_s3_services", service)["changed"] is True
    assert ansible.run("na_ontap_s3_services", service)["changed"] is False
    wait_listening(port)
    changed = dict(service, comment="changed by ansible")
    assert ansible.run("na_ontap_s3_services", changed, check=True)["changed"] is True
    assert ansible.run("na_ontap_s3_services", changed)["changed"] is True
    assert ansible.run("na_ontap_s3_services", changed)["changed"] is False
    assert raw.get(f"{S3}/services/{uuid}?fields=comment").json()["comment"] == "changed by ansible"

    # -- na_ontap_s3_users: the keys it returns work at once.
    user = {"vserver": vserver, "name": "ans-user", "comment": "first"}
    assert ansible.run("na_ontap_s3_users", user, check=True)["changed"] is True
    made = ansible.run("na_ontap_s3_users", user)
    assert made["changed"] is True and made["access_key"] and made["secret_key"]
    keys = {"access_key": made["access_key"], "secret_key": made["secret_key"]}
    assert ansible.run("na_ontap_s3_users", user)["changed"] is False
    s3 = client(port, keys)
    assert s3.list_buckets()["Buckets"] == []
    user2 = dict(user, comment="second")
    assert ansible.run("na_ontap_s3_users", user2)["changed"] is True
    assert ansible.run("na_ontap_s3_users", user2)["changed"] is False
    regen = ansible.run("na_ontap_s3_users", dict(user2, regenerate_keys=True))
    assert regen["changed"] is True and regen["access_key"] != keys["access_key"]
    with pytest.raises(ClientError) as e:
        s3.list_buckets()
    assert s3_error_code(e) == "InvalidAccessKeyId"
    keys = {"access_key": regen["access_key"], "secret_key": regen["secret_key"]}
    s3 = client(port, keys)
    assert s3.list_buckets()["Buckets"] == []

    # -- na_ontap_s3_buckets (made over REST: no owner, so ans-user cannot use it yet)
    bucket = {"vserver": vserver, "name": "ans-bucket", "comment": "b1", "size": 200 << 30}
    assert ansible.run("na_ontap_s3_buckets", bucket, check=True)["changed"] is True
    assert ansible.run("na_ontap_s3_buckets", bucket)["changed"] is True
    assert ansible.run("na_ontap_s3_buckets", bucket)["changed"] is False
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="ans-bucket", Key="k", Body=b"x")
    assert s3_error_code(e) == "AccessDenied"
    bucket2 = dict(bucket, comment="b2", versioning_state="suspended", policy={"statements": [{
        "sid": "ansible-user", "effect": "allow", "principals": ["ans-user"],
        "actions": ["GetObject", "PutObject", "ListBucket"], "resources": ["ans-bucket", "ans-bucket/*"]}]})
    assert ansible.run("na_ontap_s3_buckets", bucket2, check=True)["changed"] is True
    assert ansible.run("na_ontap_s3_buckets", bucket2)["changed"] is True
    assert ansible.run("na_ontap_s3_buckets", bucket2)["changed"] is False
    r = raw.get(f"{S3}/buckets?name=ans-bucket&fields=comment,versioning_state,policy")
    rec = r.json()["records"][0]
    assert rec["comment"] == "b2" and rec["versioning_state"] == "suspended"
    assert rec["policy"]["statements"][0]["principals"] == ["ans-user"]
    # The bucket policy Ansible set opens the bucket to ans-user.
    s3.put_object(Bucket="ans-bucket", Key="k", Body=b"by ansible's policy")
    assert s3.get_object(Bucket="ans-bucket", Key="k")["Body"].read() == b"by ansible's policy"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="ans-bucket", Key="k")
    assert s3_error_code(e) == "AccessDenied"

    # -- na_ontap_s3_policies and na_ontap_s3_groups: a group policy lets it delete.
    policy = {"vserver": vserver, "name": "ans-delete", "comment": "p1", "statements": [
        {"sid": "del", "effect": "allow", "actions": ["DeleteObject"], "resources": ["ans-bucket/*"]}]}
    assert ansible.run("na_ontap_s3_policies", policy, check=True)["changed"] is True
    assert ansible.run("na_ontap_s3_policies", policy)["changed"] is True
    assert ansible.run("na_ontap_s3_policies", policy)["changed"] is False
    policy2 = dict(policy, comment="p2", statements=[
        {"sid": "del", "effect": "allow", "actions": ["DeleteObject", "GetObject"], "resources": ["ans-bucket/*"]}])
    assert ansible.run("na_ontap_s3_policies", policy2, check=True)["changed"] is True
    assert ansible.run("na_ontap_s3_policies", policy2)["changed"] is True
    assert ansible.run("na_ontap_s3_policies", policy2)["changed"] is False
    got = raw.get(f"{S3}/services/{uuid}/policies/ans-delete?fields=comment,statements").json()
    assert got["comment"] == "p2" and got["statements"][0]["actions"] == ["DeleteObject", "GetObject"]

    group = {"vserver": vserver, "name": "ans-group", "comment": "g1",
             "users": [{"name": "ans-user"}], "policies": [{"name": "ans-delete"}]}
    assert ansible.run("na_ontap_s3_groups", group, check=True)["changed"] is True
    assert ansible.run("na_ontap_s3_groups", group)["changed"] is True
    assert ansible.run("na_ontap_s3_groups", group)["changed"] is False
    s3.delete_object(Bucket="ans-bucket", Key="k")
    group2 = dict(group, comment="g2", policies=[{"name": "ans-delete"}, {"name": "NoS3Access"}])
    assert ansible.run("na_ontap_s3_groups", group2, check=True)["changed"] is True
    assert ansible.run("na_ontap_s3_groups", group2)["changed"] is True
    assert ansible.run("na_ontap_s3_groups", group2)["changed"] is False
    # NoS3Access's deny now wins over every allow.
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="ans-bucket", Key="k2", Body=b"x")
    assert s3_error_code(e) == "AccessDenied"

    # -- delete, in dependency order, each idempotent.
    for module, args in [
        ("na_ontap_s3_groups", {"vserver": vserver, "name": "ans-group"}),
        ("na_ontap_s3_policies", {"vserver": vserver, "name": "ans-delete"}),
        ("na_ontap_s3_buckets", {"vserver": vserver, "name": "ans-bucket"}),
        ("na_ontap_s3_users", {"vserver": vserver, "name": "ans-user"}),
        ("na_ontap_s3_services", {"vserver": vserver, "name": "s3-ansible"}),
    ]:
        gone = dict(args, state="absent")
        assert ansible.run(module, gone, check=True)["changed"] is True, module
        assert ansible.run(module, gone)["changed"] is True, module
        assert ansible.run(module, gone)["changed"] is False, module
    assert raw.get(f"{S3}/services/{uuid}").status_code == 404
    wait_closed(port)
