"""The RMM reporting service through the real binary: an on-demand run with quarantine,
then `GET /api/?apikey=…&service=list_mav_scans` in both `details` forms and both `v`
values, each validated with xmllint against the schemas in crates/mav/schema; keys
managed at /api/security/mav-keys; RMM-form errors for bad input."""

import shutil
import subprocess
import xml.etree.ElementTree as ET

import requests

from conftest import REPO
from test_vscan_ondemand_runs import _run, _setup

SCHEMAS = REPO / "crates" / "mav" / "schema"
KEY = "rmm-test-key-0123456789abcdef"


def xmllint(xml: str, schema: str, tmp_path):
    exe = shutil.which("xmllint")
    assert exe, "xmllint is not installed; run scripts/install-test-deps.sh (libxml2-utils)"
    doc = tmp_path / "doc.xml"
    doc.write_text(xml)
    r = subprocess.run([exe, "--noout", "--schema", str(SCHEMAS / schema), str(doc)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"{schema}: {r.stderr}\n{xml}"


def mav(srv, **params):
    # no Basic auth: the service authenticates by apikey alone
    r = requests.get(srv.url("/api/"), params=params, verify=False, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/xml"), r.headers
    return r.text


def error_code(xml):
    root = ET.fromstring(xml)
    assert root.get("status") == "FAIL", xml
    return root.findtext(".//errorcode")


def test_list_mav_scans_reports_the_run(fresh_server, tmp_path):
    srv = fresh_server
    raw, svm, root = _setup(srv, tmp_path)
    policy = f"/api/protocols/vscan/{svm}/on-demand-policies/nightly"
    assert raw.patch(policy, json={"remediation": "quarantine"}).status_code == 200
    assert "2 files scanned, 1 infected, 0 errors" in _run(raw, svm)
    r = raw.post("/api/security/mav-keys", json={"name": "rmm", "key": KEY})
    assert r.status_code == 201, r.text
    keys = raw.get("/api/security/mav-keys", params={"fields": "*"}).json()["records"]
    assert [k["name"] for k in keys] == ["rmm"] and "key" not in keys[0] and "digest" not in keys[0]
    device = raw.get(f"/api/svm/svms/{svm}", params={"fields": "mav_device_id"}).json()["mav_device_id"]

    # discovery: the SVM is a device of the cluster's one client
    devices = mav(srv, apikey=KEY, service="list_devices_at_client", clientid="1", devicetype="server")
    xmllint(devices, "list_devices_at_client.xsd", tmp_path)
    assert str(device) in devices and "od_svm" in devices

    for details, form in (("YES", "detail"), ("NO", "summary")):
        for v in ("1", "2"):
            xml = mav(srv, apikey=KEY, service="list_mav_scans", deviceid=str(device), details=details, v=v)
            xmllint(xml, f"list_mav_scans-{form}-v{v}.xsd", tmp_path)
            scans = ET.fromstring(xml).findall(".//scan")
            assert len(scans) == 1, xml
            scan = scans[0]
            assert scan.findtext("type") == "CUSTOM" and scan.findtext("status") == "FINISHED"
            assert scan.findtext("files_scanned") == "2"
            assert int(scan.findtext("folders_scanned")) >= 4
            if details == "NO":
                assert scan.findtext("threat_count") == "1"
                assert scan.findtext("quarantine_count") == "1"
            else:
                threat = scan.find(".//threat")
                assert threat.findtext("name") == "Vigil.Test.EICAR"
                assert threat.findtext("status") == "QUARANTINED"
                assert threat.find(".//quarantine//guid") is not None
                assert threat.findtext(".//trace/description") == "/vol1/docs/deep/eicar.com"
            assert (scan.find("engine") is not None) == (v == "2")

    # bad input, in the RMM error form
    assert error_code(mav(srv, apikey="wrong-key", service="list_mav_scans", deviceid=str(device), details="YES")) == "3"
    assert error_code(mav(srv, service="list_mav_scans", deviceid=str(device), details="YES")) == "3"
    bad = mav(srv, apikey=KEY, service="list_mav_scans", deviceid="notanumber", details="YES")
    xmllint(bad, "error.xsd", tmp_path)
    assert error_code(bad) == "4"
    assert error_code(mav(srv, apikey=KEY, service="list_mav_scans", deviceid=str(device), details="MAYBE")) == "4"
    assert error_code(mav(srv, apikey=KEY, service="list_mav_scans", deviceid=str(device), details="YES", v="3")) == "4"
    assert error_code(mav(srv, apikey=KEY, service="list_mav_scans", deviceid="999999", details="YES")) == "4"
    assert error_code(mav(srv, apikey=KEY, service="no_such_service")) in ("2", "4")

    # a key scoped to another SVM does not see this device
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": "other_svm"})
    assert r.status_code in (200, 201), r.text
    other = r.headers["Location"].rsplit("/", 1)[1]
    assert raw.post("/api/security/mav-keys", json={"name": "scoped", "key": KEY + "-scoped", "svms": [{"uuid": other}]}).status_code == 201
    assert error_code(mav(srv, apikey=KEY + "-scoped", service="list_mav_scans", deviceid=str(device), details="YES")) == "4"
    # revoked keys stop working
    uuid = [k["uuid"] for k in raw.get("/api/security/mav-keys").json()["records"] if k["name"] == "rmm"][0]
    assert raw.delete(f"/api/security/mav-keys/{uuid}").status_code == 200
    assert error_code(mav(srv, apikey=KEY, service="list_mav_scans", deviceid=str(device), details="YES")) == "3"
    # weak keys are refused
    r = raw.post("/api/security/mav-keys", json={"name": "weak", "key": "short"})
    assert r.status_code == 400 and r.json()["error"]["target"] == "key", r.text
    raw.close()
