"""Helpers shared by the Vscan conformance tests (test_client_vscan*.py, test_vscan_*.py).

Decisions tested are those of docs/vscan.md; the contract is ../shared/spec/vscan.md.
"""

import hashlib
import io
import os
import time
import zipfile
from pathlib import Path

from netapp_ontap.resources import Account, Cluster

from conftest import unique

# The EICAR test file, assembled at run time from reversed pieces so that no source
# file of the suite is itself flagged by a scanner.
_REVERSED = ("$}7)CC7)^P(45XZP\\4[PA@%P!O5X", "-DRADNATS-RACIE", "*H+H$!ELIF-TSET-SURIVITNA")
EICAR = "".join(p[::-1] for p in _REVERSED).encode()
assert len(EICAR) == 68 and hashlib.md5(EICAR).hexdigest() == "44d88612fea8a8f36de82e1278abb02f"

PW = "Vscan-Secret-123"
VSCAN = "/api/protocols/vscan"
TWO_GIB = 2147483648
TEN_GIB = 10737418240
DEFAULT_CIFS = "default_CIFS"

# default_CIFS as docs/vscan.md describes it (also the standalone POST defaults)
DEFAULT_ON_ACCESS_SCOPE = {
    "include_extensions": ["*"],
    "max_file_size": TWO_GIB,
    "scan_without_extension": True,
    "only_execute_access": False,
    "scan_readonly_volumes": False,
}
DEFAULT_ON_DEMAND_SCOPE = {
    "include_extensions": ["*"],
    "max_file_size": TEN_GIB,
    "scan_without_extension": True,
}


def pools_url(svm_uuid, name=None):
    base = f"{VSCAN}/{svm_uuid}/scanner-pools"
    return base if name is None else f"{base}/{name}"


def oa_url(svm_uuid, name=None):
    base = f"{VSCAN}/{svm_uuid}/on-access-policies"
    return base if name is None else f"{base}/{name}"


def od_url(svm_uuid, name=None):
    base = f"{VSCAN}/{svm_uuid}/on-demand-policies"
    return base if name is None else f"{base}/{name}"


def check_err(r, status, code, *fragments, target=None):
    """Asserts an ONTAP error body: HTTP status, code as a JSON string, and that the
    message names each fragment (case-insensitive). Returns the error object."""
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["code"], str), err
    assert err["code"] == str(code), (r.request.method, r.request.url, err)
    msg = err.get("message")
    assert isinstance(msg, str) and msg, err
    for f in fragments:
        assert str(f).lower() in msg.lower(), (f, err)
    if target is not None:
        assert err.get("target") == target, err
    return err


def client_resp(excinfo):
    """The HTTP response behind a NetAppRestError."""
    return excinfo.value.http_err_response.http_response


def pool_body(name, servers=("10.0.0.1",), users=("cifs\\u1",), **extra):
    return {"name": name, "servers": list(servers), "privileged_users": list(users), **extra}


def cluster_info():
    c = Cluster()
    c.get()
    return {"uuid": c.uuid, "name": c.name}


def make_tree(root: Path) -> Path:
    """An SVM namespace root with volumes and files for on-demand policies:
    /vol1/{reports,cifs,cold}, /vol2/data, /vol1/file.txt, /vol1/fifo (not scannable)."""
    root.mkdir(parents=True, exist_ok=True)
    for d in ("vol1/reports", "vol1/cifs", "vol1/cold", "vol2/data", "vol0/report_dir"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "vol1" / "file.txt").write_text("hello\n")
    fifo = root / "vol1" / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    return root


def svm_with_tree(svm_factory, tmp_path, name=None):
    """A new SVM whose namespace root is a fresh directory tree (make_tree)."""
    root = make_tree(tmp_path / unique("ns"))
    svm = svm_factory(name, root_path=str(root))
    svm["root"] = root
    return svm


def ensure_pool(raw, svm_uuid, name=None, role="primary"):
    name = name or unique("pool")
    r = raw.post(pools_url(svm_uuid), json=pool_body(name, role=role))
    assert r.status_code == 201, r.text
    return name


def enable_vscan(raw, svm_uuid):
    """Gives the SVM an active pool (default_CIFS is enabled already) and enables Vscan."""
    ensure_pool(raw, svm_uuid)
    r = raw.patch(f"{VSCAN}/{svm_uuid}", json={"enabled": True})
    assert r.status_code == 200, r.text


def get_policy(raw, svm_uuid, name):
    r = raw.get(oa_url(svm_uuid, name), params={"fields": "*"})
    assert r.status_code == 200, r.text
    return r.json()


def enabled_policies(raw, svm_uuid):
    r = raw.get(oa_url(svm_uuid), params={"enabled": "true", "fields": "name"})
    assert r.status_code == 200, r.text
    return sorted(p["name"] for p in r.json()["records"])


def make_account(svm_name_or_none, role):
    """A vsadmin account of an SVM (by name) or a cluster account; returns its name."""
    name = unique("va")
    kw = {"name": name, "password": PW, "role": {"name": role}}
    if svm_name_or_none is not None:
        kw["owner"] = {"name": svm_name_or_none}
    Account(**kw).post()
    return name


def changed(resource, **attrs):
    """Sets attributes after construction, so that the client's patch() sends them (it
    sends only what changed since the object was built or fetched)."""
    for k, v in attrs.items():
        setattr(resource, k, v)
    return resource


def zip_of(members):
    """A deflated zip of `(name, bytes)` members (fixed member times, so the same bytes
    every time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 2, 3, 4, 5))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def poll(what, probe, timeout=60, every=0.1):
    """Calls `probe` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
