"""On-access scanning of S3 (issue #16), through the real binary with boto3 and the
aws CLI: uploads by PUT, multipart, CopyObject and UploadPartCopy are scanned by the
embedded scanner before they become visible; infected ones are refused (403
VirusDetected) and never listed; a mandatory policy with every scan server down refuses
(503); scope exclusions hold; objects stored while S3 scanning was off are scanned when
read and get the policy's remediation; the scans are ACTIVE scans in list_mav_scans and
Vscan events. Decisions: docs/s3.md ("On-access scanning") and docs/on-access.md.

EICAR is assembled at run time so that this file is never flagged itself."""

import os
import subprocess
import uuid
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from conftest import unique
from s3_common import (  # noqa: F401 (s3env is a fixture)
    S3, bucket_dir, free_port, s3_error_code, s3env,
)
from test_mav_service import mav, xmllint
from vscan_common import EICAR, VSCAN, check_err, oa_url, poll, pools_url, zip_of

INFECTED = "VirusDetected"
MIB = 1024 * 1024


def status(exc_info) -> int:
    return exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def keys(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


class Scanned:
    """An SVM with an S3 server and a bucket, a scanner pool on the embedded scanner (or
    on `servers`), its own enabled on-access policy `s3scan` and Vscan enabled."""

    def __init__(self, server, raw, env, servers=None, **policy):
        self.raw, self.env, self.s3 = raw, env, env["s3"]
        self.svm = env["svm"]["uuid"]
        self.bucket = unique("scan").replace("_", "-")
        self.s3.create_bucket(Bucket=self.bucket)
        self.dir = bucket_dir(raw, self.svm, env["root"], self.bucket)
        self.prefix = "\\.vigil-s3\\" + self.dir.name
        self.socket = f"unix://{server.data_dir / 'scanner.sock'}"
        r = raw.post(pools_url(self.svm), json={
            "name": "embedded", "servers": servers or [self.socket],
            "privileged_users": ["cifs\\scanner"], "role": "primary",
        })
        assert r.status_code == 201, r.text
        # The SVM's own policy instead of the cluster's default_CIFS.
        r = raw.patch(oa_url(self.svm, "default_CIFS"), json={"enabled": False})
        assert r.status_code == 200, r.text
        body = {"name": "s3scan", "enabled": True, "mandatory": True, **policy}
        r = raw.post(oa_url(self.svm), json=body)
        assert r.status_code == 201, r.text
        r = raw.patch(f"{VSCAN}/{self.svm}", json={"enabled": True})
        assert r.status_code == 200, r.text
        if servers is None:
            poll("the embedded scanner to connect", lambda: [
                s for s in raw.get(f"{VSCAN}/server-status", params={"svm.uuid": self.svm, "fields": "state,ip"}).json()["records"]
                if s["state"] == "connected" and s["ip"] == self.socket
            ])

    def policy(self, **fields):
        r = self.raw.patch(oa_url(self.svm, "s3scan"), json=fields)
        assert r.status_code == 200, r.text

    def s3_scanning(self, on: bool):
        r = self.raw.patch(f"{VSCAN}/{self.svm}", json={"s3_scanning": on})
        assert r.status_code == 200, r.text
        r = self.raw.get(f"{VSCAN}/{self.svm}", params={"fields": "s3_scanning"})
        assert r.json()["s3_scanning"] is on, r.text

    def svm_path(self, key):
        return f"/.vigil-s3/{self.dir.name}/{key}"

    def events(self, kind):
        r = self.raw.get(f"{VSCAN}/{self.svm}/events", params={"fields": "*", "type": kind, "max_records": 10000})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    def active(self):
        r = self.raw.get(f"{VSCAN}/{self.svm}/on-demand-runs", params={"fields": "*", "type": "ACTIVE"})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    def refused(self, call, code=INFECTED, http=403):
        with pytest.raises(ClientError) as e:
            call()
        assert (s3_error_code(e), status(e)) == (code, http), e.value.response
        return e

    def nothing_left_behind(self):
        """No upload's temporary file stays in the bucket directory."""
        tmp = self.dir / ".tmp"
        left = [p.name for p in tmp.iterdir() if p.suffix == ".part"] if tmp.exists() else []
        assert left == [], left


@pytest.fixture
def scanned(server, raw, s3env):
    return Scanned(server, raw, s3env, scope={"exclude_paths": [], "exclude_extensions": ["log"]})


def test_infected_uploads_are_refused_and_never_listed(scanned):
    s3, b = scanned.s3, scanned.bucket
    archive = zip_of([("readme.txt", b"hello\n"), ("eicar.com", EICAR)])
    scanned.refused(lambda: s3.put_object(Bucket=b, Key="eicar.com", Body=EICAR))
    scanned.refused(lambda: s3.put_object(Bucket=b, Key="docs/pack.zip", Body=archive))
    # Multipart: the EICAR in the second part, after 5 MiB of clean bytes.
    up = s3.create_multipart_upload(Bucket=b, Key="multi.bin")
    p1 = s3.upload_part(Bucket=b, Key="multi.bin", UploadId=up["UploadId"], PartNumber=1, Body=b"a" * (5 * MIB))
    p2 = s3.upload_part(Bucket=b, Key="multi.bin", UploadId=up["UploadId"], PartNumber=2, Body=EICAR)
    parts = [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]
    scanned.refused(lambda: s3.complete_multipart_upload(
        Bucket=b, Key="multi.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}))
    # An infected archive in a single-part multipart upload.
    up = s3.create_multipart_upload(Bucket=b, Key="multi.zip")
    p1 = s3.upload_part(Bucket=b, Key="multi.zip", UploadId=up["UploadId"], PartNumber=1, Body=archive)
    scanned.refused(lambda: s3.complete_multipart_upload(
        Bucket=b, Key="multi.zip", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}]}))
    assert keys(s3, b) == []
    scanned.nothing_left_behind()

    # A clean object passes, by PUT and by multipart, and reads back.
    s3.put_object(Bucket=b, Key="clean.txt", Body=b"nothing to see here\n")
    up = s3.create_multipart_upload(Bucket=b, Key="clean-multi.bin")
    p1 = s3.upload_part(Bucket=b, Key="clean-multi.bin", UploadId=up["UploadId"], PartNumber=1, Body=b"b" * (5 * MIB))
    p2 = s3.upload_part(Bucket=b, Key="clean-multi.bin", UploadId=up["UploadId"], PartNumber=2, Body=b"tail")
    s3.complete_multipart_upload(Bucket=b, Key="clean-multi.bin", UploadId=up["UploadId"], MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    assert sorted(keys(s3, b)) == ["clean-multi.bin", "clean.txt"]
    assert s3.get_object(Bucket=b, Key="clean.txt")["Body"].read() == b"nothing to see here\n"
    assert s3.get_object(Bucket=b, Key="clean-multi.bin")["Body"].read() == b"b" * (5 * MIB) + b"tail"

    # Every refusal is a file_infected event naming the object's SVM path.
    paths = poll("file_infected events", lambda: (
        lambda got: got if {scanned.svm_path(k) for k in ("eicar.com", "docs/pack.zip", "multi.bin", "multi.zip")} <= got else None
    )({e["file_path"] for e in scanned.events("file_infected")}))
    assert scanned.svm_path("clean.txt") not in paths


def test_infected_copies_are_refused(scanned):
    """CopyObject and UploadPartCopy of an infected object stored while S3 scanning was
    off: the copies are refused, and so is reading the source."""
    s3, b = scanned.s3, scanned.bucket
    scanned.s3_scanning(False)
    s3.put_object(Bucket=b, Key="stored-off/eicar.com", Body=EICAR)
    scanned.s3_scanning(True)
    src = {"Bucket": b, "Key": "stored-off/eicar.com"}
    scanned.refused(lambda: s3.copy_object(Bucket=b, Key="copy.com", CopySource=src))
    up = s3.create_multipart_upload(Bucket=b, Key="part-copy.com")
    part = s3.upload_part_copy(Bucket=b, Key="part-copy.com", UploadId=up["UploadId"], PartNumber=1, CopySource=src)
    scanned.refused(lambda: s3.complete_multipart_upload(
        Bucket=b, Key="part-copy.com", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]}))
    assert keys(s3, b) == ["stored-off/eicar.com"]
    # The policy reports only (no remediation): the source stays and is never served.
    for _ in range(2):
        scanned.refused(lambda: s3.get_object(Bucket=b, Key="stored-off/eicar.com"))
    assert keys(s3, b) == ["stored-off/eicar.com"]
    # A clean copy passes.
    s3.put_object(Bucket=b, Key="ok.txt", Body=b"fine")
    s3.copy_object(Bucket=b, Key="ok-copy.txt", CopySource={"Bucket": b, "Key": "ok.txt"})
    assert s3.get_object(Bucket=b, Key="ok-copy.txt")["Body"].read() == b"fine"


def test_the_aws_cli_is_refused_too(scanned, tmp_path):
    env = dict(os.environ,
               AWS_ACCESS_KEY_ID=scanned.env["keys"]["access_key"],
               AWS_SECRET_ACCESS_KEY=scanned.env["keys"]["secret_key"],
               AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1")
    endpoint = f"http://127.0.0.1:{scanned.env['port']}"
    infected = tmp_path / "eicar.com"
    infected.write_bytes(EICAR)
    clean = tmp_path / "clean.txt"
    clean.write_bytes(b"clean\n")

    def aws(*args):
        return subprocess.run(["aws", "--endpoint-url", endpoint, *args], env=env,
                              capture_output=True, text=True, timeout=120)

    r = aws("s3api", "put-object", "--bucket", scanned.bucket, "--key", "cli.com", "--body", str(infected))
    assert r.returncode != 0 and INFECTED in r.stderr, (r.stdout, r.stderr)
    r = aws("s3", "cp", str(infected), f"s3://{scanned.bucket}/cli-cp.com")
    assert r.returncode != 0 and INFECTED in r.stderr, (r.stdout, r.stderr)
    r = aws("s3", "cp", str(clean), f"s3://{scanned.bucket}/clean.txt")
    assert r.returncode == 0, r.stderr
    assert keys(scanned.s3, scanned.bucket) == ["clean.txt"]


def test_scope_exclusions_are_honoured(scanned):
    s3, b = scanned.s3, scanned.bucket
    scanned.policy(scope={"exclude_paths": [scanned.prefix + "\\skip"], "exclude_extensions": ["log"]})
    s3.put_object(Bucket=b, Key="skip/eicar.com", Body=EICAR)
    s3.put_object(Bucket=b, Key="logs/eicar.log", Body=EICAR)
    scanned.refused(lambda: s3.put_object(Bucket=b, Key="skipped/eicar.com", Body=EICAR))
    assert sorted(keys(s3, b)) == ["logs/eicar.log", "skip/eicar.com"]
    # Outside the scope on read too.
    assert s3.get_object(Bucket=b, Key="skip/eicar.com")["Body"].read() == EICAR
    # Too large for max_file_size: not scanned.
    scanned.policy(scope={"max_file_size": 1024})
    s3.put_object(Bucket=b, Key="big.bin", Body=b"x" * 2048 + EICAR)
    # Rules updated since: what the scope now covers is scanned when read.
    scanned.policy(scope={"exclude_paths": [], "exclude_extensions": [], "max_file_size": 2147483648})
    for key in ("skip/eicar.com", "logs/eicar.log", "big.bin"):
        scanned.refused(lambda: s3.get_object(Bucket=b, Key=key))


def test_objects_stored_unscanned_are_scanned_when_read_and_remediated(scanned):
    s3, b = scanned.s3, scanned.bucket
    scanned.s3_scanning(False)
    s3.put_object(Bucket=b, Key="old/eicar.com", Body=EICAR)
    s3.put_object(Bucket=b, Key="old/clean.txt", Body=b"clean")
    assert s3.get_object(Bucket=b, Key="old/eicar.com")["Body"].read() == EICAR
    scanned.s3_scanning(True)
    scanned.policy(remediation="delete")
    r = scanned.raw.get(oa_url(scanned.svm, "s3scan"), params={"fields": "remediation"})
    assert r.json()["remediation"] == "delete", r.text
    scanned.refused(lambda: s3.get_object(Bucket=b, Key="old/eicar.com"))
    # Deleted: no longer listed, and a read is NoSuchKey.
    assert keys(s3, b) == ["old/clean.txt"]
    scanned.refused(lambda: s3.get_object(Bucket=b, Key="old/eicar.com"), code="NoSuchKey", http=404)
    assert s3.get_object(Bucket=b, Key="old/clean.txt")["Body"].read() == b"clean"
    poll("the file_deleted event", lambda: [
        e for e in scanned.events("file_deleted") if e["file_path"] == scanned.svm_path("old/eicar.com")])


def test_a_bad_switch_or_remediation_is_an_ontap_error(scanned):
    r = scanned.raw.patch(oa_url(scanned.svm, "s3scan"), json={"remediation": "explode"})
    check_err(r, 400, 262197, "remediation", target="remediation")
    r = scanned.raw.patch(f"{VSCAN}/{scanned.svm}", json={"s3_scanning": "maybe"})
    check_err(r, 400, 262197, "s3_scanning", target="s3_scanning")
    # Nothing changed.
    r = scanned.raw.get(oa_url(scanned.svm, "s3scan"), params={"fields": "remediation"})
    assert r.json()["remediation"] == "report", r.text
    assert scanned.raw.get(f"{VSCAN}/{scanned.svm}", params={"fields": "s3_scanning"}).json()["s3_scanning"] is True


def test_mandatory_policy_with_every_server_down_refuses(server, raw, s3env):
    down = [f"127.0.0.1:{free_port()}"]
    env = Scanned(server, raw, s3env, servers=down)
    s3, b = env.s3, env.bucket
    env.refused(lambda: s3.put_object(Bucket=b, Key="any.txt", Body=b"clean"), code="ServiceUnavailable", http=503)
    up = s3.create_multipart_upload(Bucket=b, Key="multi.txt")
    p1 = s3.upload_part(Bucket=b, Key="multi.txt", UploadId=up["UploadId"], PartNumber=1, Body=b"clean")
    env.refused(lambda: s3.complete_multipart_upload(
        Bucket=b, Key="multi.txt", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}]}), code="ServiceUnavailable", http=503)
    assert keys(s3, b) == []
    env.nothing_left_behind()
    poll("a scan_failed event", lambda: [e for e in env.events("scan_failed") if e["file_path"] == env.svm_path("any.txt")])
    # Not mandatory: stored unscanned.
    env.policy(mandatory=False)
    s3.put_object(Bucket=b, Key="any.txt", Body=b"clean")
    assert keys(s3, b) == ["any.txt"]
    assert s3.get_object(Bucket=b, Key="any.txt")["Body"].read() == b"clean"
    # And with S3 scanning switched off nothing is asked of the scanners.
    env.policy(mandatory=True)
    env.s3_scanning(False)
    s3.put_object(Bucket=b, Key="off.txt", Body=b"clean")
    assert sorted(keys(s3, b)) == ["any.txt", "off.txt"]


def test_scans_are_active_scans_in_the_mav_report(scanned, tmp_path):
    s3, b = scanned.s3, scanned.bucket
    s3.put_object(Bucket=b, Key="clean.txt", Body=b"clean")
    scanned.refused(lambda: s3.put_object(Bucket=b, Key="eicar.com", Body=EICAR))
    record = poll("the ACTIVE record", lambda: [
        r for r in scanned.active() if r["infected_count"] >= 1 and r["files_scanned"] >= 2])[0]
    assert record["type"] == "ACTIVE" and record["trigger"] == "on_access", record
    assert record["policy"] == "s3scan"
    assert [i["path"] for i in record["infected"]] == [scanned.svm_path("eicar.com")]
    # One record for the day, however many uploads.
    for i in range(5):
        s3.put_object(Bucket=b, Key=f"more-{i}.txt", Body=b"x")
    poll("the counts to grow", lambda: [r for r in scanned.active() if r["files_scanned"] >= 7])
    assert len(scanned.active()) == 1

    key = "rmm-key-" + uuid.uuid4().hex
    r = scanned.raw.post("/api/security/mav-keys", json={"name": unique("rmm"), "key": key})
    assert r.status_code == 201, r.text
    device = scanned.raw.get(f"/api/svm/svms/{scanned.svm}", params={"fields": "mav_device_id"}).json()["mav_device_id"]
    xml = mav(scanned.raw.server, apikey=key, service="list_mav_scans",
              deviceid=str(device), details="YES", v="1")
    xmllint(xml, "list_mav_scans-detail-v1.xsd", tmp_path)
    scans = ET.fromstring(xml).findall("scan")
    active = [s for s in scans if s.findtext("type") == "ACTIVE"]
    assert len(active) == 1, xml
    assert scanned.svm_path("eicar.com") in ET.tostring(active[0], encoding="unicode"), xml
