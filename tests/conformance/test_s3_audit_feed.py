"""The S3 audit feed (issue #16, docs/audit.md): which requests of which buckets are
recorded (audit_event_selector access x permission, events.data / events.management),
what a record says, guaranteed mode on a really full log filesystem (a tmpfs the test
mounts), rotation and retention under an upload storm, and kill -9 during a storm.
Real binary, boto3 and the aws CLI."""

import concurrent.futures
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import VigilServer
from s3_common import S3, bucket_dir, client, make_service, make_user, s3_error_code, service_url, wait_listening

AUDIT = "/api/protocols/audit/{}/object-store"


# -- helpers ------------------------------------------------------------------------


def enable_audit(raw, svm_uuid, log_path, data=True, management=False, log=None):
    body = {"log_path": log_path, "events": {"data": data, "management": management}}
    if log:
        body["log"] = log
    r = raw.post(AUDIT.format(svm_uuid) + "?return_timeout=30", json=body)
    assert r.status_code == 201, r.text


def patch_audit(raw, svm_uuid, body):
    r = raw.patch(AUDIT.format(svm_uuid) + "?return_timeout=30", json=body)
    assert r.status_code == 200, r.text


def rest_bucket(raw, svm_uuid, name, selector=None):
    body = {"name": name}
    if selector is not None:
        body["audit_event_selector"] = selector
    r = raw.post(f"{S3}/services/{svm_uuid}/buckets?return_timeout=30", json=body)
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def records(log_dir: Path) -> list:
    """Every record of the log directory, archives (oldest first) then the active file."""
    names = sorted(p.name for p in log_dir.glob("audit_D*.json"))
    out = []
    for name in [*names, "audit_last.json"]:
        path = log_dir / name
        if path.exists():
            out += [json.loads(line) for line in path.read_text().splitlines() if line]
    return out


def final_records(log_dir: Path) -> dict:
    """request_id -> the request's last record (a `revised` record replaces the first)."""
    final = {}
    for r in records(log_dir):
        if r["request_id"] in final:
            assert r.get("revised") is True, r
        final[r["request_id"]] = r
    return final


def request_id(resp) -> str:
    return resp["ResponseMetadata"]["RequestId"]


def error_request_id(exc_info) -> str:
    return exc_info.value.response["ResponseMetadata"]["RequestId"]


@pytest.fixture
def audited(server, raw, svm_factory):
    """An SVM with an S3 server, its `root` user (allowed everything) and `data-user`
    (allowed nothing on buckets made over REST), and an audit log directory."""
    svm = svm_factory()
    service = make_service(raw, svm["uuid"])
    root_keys = make_user(raw, svm["uuid"], "root")
    user_keys = make_user(raw, svm["uuid"], "data-user")
    wait_listening(service["port"])
    root = Path(raw.get(f"/api/svm/svms/{svm['uuid']}?fields=root_path").json()["root_path"])
    (root / "audit").mkdir(parents=True, exist_ok=True)
    yield {
        "svm": svm,
        "uuid": svm["uuid"],
        "port": service["port"],
        "root": root,
        "logs": root / "audit",
        "admin": client(service["port"], root_keys),
        "user": client(service["port"], user_keys),
        "root_keys": root_keys,
    }
    raw.delete(AUDIT.format(svm["uuid"]) + "?return_timeout=30")
    raw.delete(service_url(svm["uuid"]))


# -- which requests -----------------------------------------------------------------


def test_selectors_every_combination(audited, raw):
    env = audited
    enable_audit(raw, env["uuid"], "/audit")
    buckets = {"b-none": None}
    for access in ("read", "write", "all"):
        for permission in ("allow", "deny", "all"):
            buckets[f"b-{access}-{permission}"] = {"access": access, "permission": permission}
    for name, selector in buckets.items():
        rest_bucket(raw, env["uuid"], name, selector)

    # bucket -> {(event, allowed): request id}
    made = {}
    for name in buckets:
        ids = {}
        put = env["admin"].put_object(Bucket=name, Key="dir/k.txt", Body=b"x" * 1000)
        ids[("PutObject", True)] = request_id(put)
        got = env["admin"].get_object(Bucket=name, Key="dir/k.txt")
        assert got["Body"].read() == b"x" * 1000
        ids[("GetObject", True)] = request_id(got)
        with pytest.raises(ClientError) as e:
            env["user"].put_object(Bucket=name, Key="dir/k.txt", Body=b"y")
        assert s3_error_code(e) == "AccessDenied"
        ids[("PutObject", False)] = error_request_id(e)
        with pytest.raises(ClientError) as e:
            env["user"].get_object(Bucket=name, Key="dir/k.txt")
        assert s3_error_code(e) == "AccessDenied"
        ids[("GetObject", False)] = error_request_id(e)
        made[name] = ids

    final = final_records(env["logs"])
    all_ids = [i for ids in made.values() for i in ids.values()]
    assert len(set(all_ids)) == len(all_ids), "request ids are unique"
    for name, selector in buckets.items():
        for (event, allowed), rid in made[name].items():
            if selector is None:
                expected = False
            else:
                write = event == "PutObject"
                access_ok = selector["access"] == "all" or (selector["access"] == "write") == write
                perm_ok = selector["permission"] == "all" or (selector["permission"] == "allow") == allowed
                expected = access_ok and perm_ok
            assert (rid in final) == expected, (name, event, allowed, final.get(rid))
            if expected:
                r = final[rid]
                assert (r["event"], r["bucket"], r["object"]) == (event, name, "dir/k.txt")
                if allowed:
                    assert (r["result"], r["http_status"], r["user"]["name"]) == ("success", 200, "root")
                    assert r["user"]["access_key"] == env["root_keys"]["access_key"]
                else:
                    assert (r["result"], r["http_status"], r["error_code"]) == ("failure", 403, "AccessDenied")
                    assert r["user"]["name"] == "data-user"
    # Bucket-less operations need no selector (the class decides).
    listed = env["admin"].list_buckets()
    assert final_records(env["logs"])[request_id(listed)]["event"] == "ListAllMyBuckets"


def test_record_fields(audited, raw):
    env = audited
    enable_audit(raw, env["uuid"], "/audit")
    rest_bucket(raw, env["uuid"], "fields", {"access": "all", "permission": "all"})
    put = env["admin"].put_object(Bucket="fields", Key="a b/é.bin", Body=b"z" * 4096)
    got = env["admin"].get_object(Bucket="fields", Key="a b/é.bin")
    got["Body"].read()
    with pytest.raises(ClientError) as e:
        env["admin"].get_object(Bucket="fields", Key="missing")
    final = final_records(env["logs"])
    r = final[request_id(put)]
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"] == request_id(got)
    assert r["version"] == 1 and r["source"] == "S3" and r["category"] == "data"
    assert r["svm"] == {"uuid": env["uuid"], "name": env["svm"]["name"]}
    assert r["node"]
    assert r["time"].endswith("Z") and len(r["time"].split(".")[1]) == 7  # 6 digits + Z
    assert r["client"]["ip"] == "127.0.0.1" and r["client"]["port"] > 0
    assert (r["bytes_in"], r["bytes_out"]) == (4096, 0)
    assert r["duration_us"] >= 0
    assert "Boto3" in r["user_agent"] or "botocore" in r["user_agent"]
    g = final[request_id(got)]
    assert (g["event"], g["bytes_out"], g["http_status"]) == ("GetObject", 4096, 200)
    m = final[error_request_id(e)]
    assert (m["result"], m["http_status"], m["error_code"]) == ("failure", 404, "NoSuchKey")


def test_data_and_management_classes_and_switches(audited, raw):
    env = audited
    rest_bucket(raw, env["uuid"], "classes", {"access": "all", "permission": "all"})
    s3 = env["admin"]
    # No audit configuration: nothing is written, requests work.
    s3.put_object(Bucket="classes", Key="k0", Body=b"0")
    assert records(env["logs"]) == []

    enable_audit(raw, env["uuid"], "/audit", data=True, management=False)
    data = [request_id(s3.put_object(Bucket="classes", Key="k1", Body=b"1"))]
    data.append(request_id(s3.head_object(Bucket="classes", Key="k1")))
    data.append(request_id(s3.list_objects_v2(Bucket="classes")))
    data.append(request_id(s3.delete_object(Bucket="classes", Key="k0")))
    mgmt = [request_id(s3.get_bucket_versioning(Bucket="classes"))]
    mgmt.append(request_id(s3.copy_object(Bucket="classes", Key="k2", CopySource="classes/k1")))
    final = final_records(env["logs"])
    assert [final[i]["event"] for i in data] == ["PutObject", "HeadObject", "ListBucket", "DeleteObject"]
    assert final[data[3]]["http_status"] == 204
    assert not any(i in final for i in mgmt)

    patch_audit(raw, env["uuid"], {"events": {"data": False, "management": True}})
    data2 = request_id(s3.get_object(Bucket="classes", Key="k1"))
    mgmt2 = [request_id(s3.get_bucket_versioning(Bucket="classes"))]
    mgmt2.append(request_id(s3.copy_object(Bucket="classes", Key="k3", CopySource="classes/k1")))
    mgmt2.append(request_id(s3.create_bucket(Bucket="made-over-s3")))
    final = final_records(env["logs"])
    assert data2 not in final
    assert [final[i]["event"] for i in mgmt2] == ["GetBucketVersioning", "CopyObject", "PutBucket"]
    assert {final[i]["category"] for i in mgmt2} == {"management"}

    # Disabled: nothing more is written.
    before = len(records(env["logs"]))
    patch_audit(raw, env["uuid"], {"enabled": False})
    s3.put_object(Bucket="classes", Key="k4", Body=b"4")
    s3.get_bucket_versioning(Bucket="classes")
    assert len(records(env["logs"])) == before


def test_aws_cli_requests_are_audited(audited, raw, tmp_path):
    env = audited
    enable_audit(raw, env["uuid"], "/audit")
    rest_bucket(raw, env["uuid"], "cli", {"access": "write", "permission": "all"})
    src = tmp_path / "f.txt"
    src.write_bytes(b"cli" * 100)
    out = aws_cli(env, "s3api", "put-object", "--bucket", "cli", "--key", "from-cli", "--body", str(src))
    assert out.returncode == 0, out.stderr
    out = aws_cli(env, "s3api", "get-object", "--bucket", "cli", "--key", "from-cli", str(tmp_path / "back"))
    assert out.returncode == 0, out.stderr
    mine = [r for r in records(env["logs"]) if r.get("object") == "from-cli"]
    assert [(r["event"], r["bytes_in"]) for r in mine] == [("PutObject", 300)], "read not selected"
    assert "aws-cli" in mine[0]["user_agent"]


def aws_cli(env, *args, keys=None):
    keys = keys or env["root_keys"]
    e = dict(os.environ)
    e.update(
        AWS_ACCESS_KEY_ID=keys["access_key"],
        AWS_SECRET_ACCESS_KEY=keys["secret_key"],
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    venv_aws = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "aws"
    exe = str(venv_aws) if venv_aws.exists() else (shutil.which("aws") or "aws")
    return subprocess.run(
        [exe, "--endpoint-url", f"http://127.0.0.1:{env['port']}", *args],
        capture_output=True, text=True, env=e, timeout=120,
    )


# -- guaranteed mode ----------------------------------------------------------------


def fill(directory: Path) -> Path:
    """Fills the filesystem of `directory` to the last byte; returns the filler file."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
        chunk = b"\0" * 512
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
    return filler


@pytest.fixture
def tmpfs_logs(audited):
    mount = audited["root"] / "auditfs"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the suite runs as root): {r.stderr}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_log_filesystem_refuses_then_recovers(audited, raw, tmpfs_logs):
    env = audited
    enable_audit(raw, env["uuid"], "/auditfs", management=True)
    rest_bucket(raw, env["uuid"], "guarded", {"access": "all", "permission": "all"})
    s3 = env["admin"]
    ok = request_id(s3.put_object(Bucket="guarded", Key="before", Body=b"b"))
    disk = bucket_dir(raw, env["uuid"], env["root"], "guarded")

    filler = fill(tmpfs_logs)
    # The active file's last page may still hold a few records: those uploads succeed
    # (and are audited) until the file needs a page the filesystem does not have.
    acked = ["before"]
    for i in range(200):
        try:
            s3.put_object(Bucket="guarded", Key=f"fits-{i}", Body=b"f")
        except ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.response
            break
        acked.append(f"fits-{i}")
    else:
        pytest.fail("the full log filesystem never refused an upload")
    refused = []
    for i in range(5):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="guarded", Key=f"refused-{i}", Body=b"r" * 10000)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert s3_error_code(e) == "ServiceUnavailable"
        refused.append(error_request_id(e))
    # A copy and a delete are changes too: refused, nothing changes.
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="guarded", Key="copied", CopySource="guarded/before")
    assert s3_error_code(e) == "ServiceUnavailable"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="guarded", Key="before")
    assert s3_error_code(e) == "ServiceUnavailable"
    # Reads are refused as well: their record must be durable before the answer.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="guarded", Key="before")
    assert s3_error_code(e) == "ServiceUnavailable"
    out = aws_cli(env, "s3api", "put-object", "--bucket", "guarded", "--key", "cli-refused")
    assert out.returncode != 0 and "ServiceUnavailable" in out.stderr, out.stderr
    # Nothing of the refused requests is in the bucket (checked on disk: S3 reads are refused).
    stored = sorted(p.name for p in disk.iterdir() if p.name != ".tmp")
    assert stored and all(n.split(".")[0] in acked for n in stored), stored
    assert not (disk / ".tmp").exists() or list((disk / ".tmp").iterdir()) == []

    filler.unlink()
    # Resumes by itself: no restart, no reconfiguration.
    after = request_id(s3.put_object(Bucket="guarded", Key="after", Body=b"a"))
    assert s3.get_object(Bucket="guarded", Key="before")["Body"].read() == b"b"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="guarded")["Contents"])
    assert keys == sorted([*acked, "after"])
    all_records = records(tmpfs_logs)
    ids = [r["request_id"] for r in all_records]
    assert len(ids) == len(set(ids)), "no record duplicated"
    assert ok in ids and after in ids, "no acknowledged record lost"
    assert not set(refused) & set(ids), "refused requests leave no record"
    puts = [r["object"] for r in all_records if r["event"] == "PutObject"]
    assert puts == [*acked, "after"]


def test_rotation_and_retention_under_upload_storm(audited, raw):
    env = audited
    size = 1024 * 1024
    enable_audit(raw, env["uuid"], "/audit", log={"rotation": {"size": size}, "retention": {"count": 0}})
    rest_bucket(raw, env["uuid"], "storm", {"access": "write", "permission": "all"})
    key_pad = "/".join(["k" * 200] * 3)  # long keys: bigger records, more rotations

    def put(i):
        s3 = client(env["port"], env["root_keys"])
        s3.put_object(Bucket="storm", Key=f"{key_pad}/{i}", Body=b"s")
        return i

    n = 3000
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        done = list(pool.map(put, range(n)))
    assert len(done) == n
    logs = env["logs"]
    archives = sorted(logs.glob("audit_D*.json"))
    assert len(archives) >= 2, archives
    for f in [*archives, logs / "audit_last.json"]:
        assert f.stat().st_size <= size, (f, f.stat().st_size)
    objects = [r["object"] for r in records(logs) if r["event"] == "PutObject"]
    assert sorted(objects) == sorted(f"{key_pad}/{i}" for i in range(n)), "each upload exactly once"

    # Retention: keep one archive; applied on the change.
    patch_audit(raw, env["uuid"], {"log": {"retention": {"count": 1}}})
    deadline = time.monotonic() + 30
    while len(list(logs.glob("audit_D*.json"))) > 1:
        assert time.monotonic() < deadline, list(logs.glob("audit_D*.json"))
        time.sleep(0.1)
    kept = sorted(logs.glob("audit_D*.json"))
    assert kept == archives[-1:], "the newest archive stays"


# -- kill -9 ------------------------------------------------------------------------


def test_kill9_during_upload_storm_keeps_record_invariant(tmp_path):
    srv = VigilServer(tmp_path / "data")
    srv.start()
    try:
        raw = srv.session()
        r = raw.post("/api/svm/svms?return_timeout=30", json={"name": "killsvm"})
        assert r.status_code in (200, 201), r.text
        svm_uuid = r.headers["Location"].rsplit("/", 1)[1]
        service = make_service(raw, svm_uuid)
        keys = make_user(raw, svm_uuid, "root")
        wait_listening(service["port"])
        root = Path(raw.get(f"/api/svm/svms/{svm_uuid}?fields=root_path").json()["root_path"])
        (root / "audit").mkdir()
        enable_audit(raw, svm_uuid, "/audit")
        rest_bucket(raw, svm_uuid, "storm", {"access": "all", "permission": "all"})

        acked = {}
        lock = threading.Lock()
        stop = threading.Event()
        body = os.urandom(256 * 1024)

        def uploader(worker):
            s3 = client(service["port"], keys)
            i = 0
            while not stop.is_set():
                key = f"w{worker}/{i}"
                i += 1
                try:
                    resp = s3.put_object(Bucket="storm", Key=key, Body=body)
                except Exception:
                    continue
                with lock:
                    acked[key] = request_id(resp)

        threads = [threading.Thread(target=uploader, args=(w,), daemon=True) for w in range(16)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < 300:
            assert time.monotonic() < deadline, f"only {len(acked)} uploads acknowledged"
            time.sleep(0.01)
        srv.proc.kill()
        srv.proc.wait()
        srv.proc = None
        stop.set()
        for t in threads:
            t.join(timeout=120)
        with lock:
            acknowledged = dict(acked)

        srv.start()
        wait_listening(service["port"])
        final = final_records(root / "audit")
        puts = {}
        for r in final.values():
            if r["event"] == "PutObject":
                puts.setdefault(r["object"], []).append(r)
        for key, rid in acknowledged.items():
            assert rid in final and final[rid]["result"] == "success", key
            successes = [r for r in puts.get(key, []) if r["result"] == "success"]
            assert len(successes) == 1, (key, successes)
        s3 = client(service["port"], keys)
        for key, rs in puts.items():
            for r in rs:
                if r["result"] == "success":
                    s3.head_object(Bucket="storm", Key=key)  # raises if the object is missing
                else:
                    # Settled at start-up: the upload did not commit and was never acknowledged.
                    assert key not in acknowledged
                    with pytest.raises(ClientError):
                        s3.head_object(Bucket="storm", Key=key)
        # The pending files are all settled.
        assert list((srv.data_dir / "s3-audit-pending").glob("*.json")) == []
        raw.close()
    finally:
        if srv.proc is not None:
            srv.stop()
