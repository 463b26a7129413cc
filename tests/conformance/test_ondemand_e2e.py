"""On-demand scanning end to end (issue 7's acceptance), through the real binary over
HTTPS: an SVM whose namespace holds infected files (plain, inside zip and tar.gz
archives, a zip inside a zip) among clean ones, a scanner pool on the embedded scanner,
a policy on an interval schedule with `remediation: quarantine`; then everything a run
leaves behind: the run record, the namespace, the quarantine, the report, the Vscan
events, the RMM `list_mav_scans` history (validated with xmllint), and restores.
Also: cancelling a run (REST and CLI), incremental (QUICK) runs, directory symbolic
links, and run record retention.

EICAR is assembled at run time so that this file is never flagged itself."""

import io
import os
import re
import sqlite3
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER, VigilServer, unique, vigil_binary, wait_job
from test_mav_service import mav, xmllint
from vscan_common import EICAR, VSCAN, check_err, od_url, poll, pools_url, zip_of


EICAR_NAME = "Vigil.Test.EICAR"
# EICAR at offset 512 of the gunzipped tar stream: the engine's rule for EICAR anywhere
# but at offset 0 matches that stream before the tar member is reached.
EICAR_EMBEDDED_NAME = "Vigil.Test.EICAR-Embedded"
MAV_KEY = "e2e-rmm-key-0123456789abcdef0123"
DEADLINE = 60
RUN_RE = re.compile(
    r"On-Demand run (?P<uuid>[0-9a-f-]{36}) \((?P<type>[A-Z]+)\) (?P<status>[a-z_]+): "
    r"(?P<scanned>\d+) files scanned, (?P<infected>\d+) infected, (?P<errors>\d+) errors; "
    r"report (?P<report>\S+)$"
)


# -- building blocks ---------------------------------------------------------------------


def tgz_of(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_577_934_245
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def plant(root: Path, svm_path: str, data: bytes, mode=0o644, mtime=None) -> Path:
    """Writes a file at an SVM path of the namespace rooted at `root`."""
    p = root / svm_path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    os.chmod(p, mode)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


def svm_files(root: Path, under: str = "/data") -> dict:
    """Every regular file (no links) under an SVM path: {svm path: bytes}."""
    base = root / under.lstrip("/")
    out = {}
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            p = Path(dirpath) / f
            if p.is_symlink() or not p.is_file():
                continue
            out["/" + str(p.relative_to(root))] = p.read_bytes()
    return out


def utc(t: str) -> datetime:
    return datetime.fromisoformat(t.replace("Z", "+00:00"))


def mav_time(t: str) -> str:
    """A run record's time as list_mav_scans shows it (UTC, to the second)."""
    return utc(t).strftime("%Y-%m-%d %H:%M:%S")


# -- server-side set-up ------------------------------------------------------------------


class Env:
    """A data SVM over a fresh namespace (/data for the tree, /reports for reports)
    with a scanner pool on the server's embedded scanner and Vscan enabled."""

    def __init__(self, srv: VigilServer, tmp_path: Path):
        self.srv = srv
        self.raw = srv.session()
        self.root = tmp_path / "ns"
        (self.root / "data").mkdir(parents=True)
        (self.root / "reports").mkdir()
        self.name = unique("e2e")
        r = self.raw.post("/api/svm/svms?return_timeout=30", json={"name": self.name, "root_path": str(self.root)})
        assert r.status_code in (200, 201), r.text
        self.svm = r.headers["Location"].rsplit("/", 1)[1]
        self.socket = f"unix://{srv.data_dir / 'scanner.sock'}"
        r = self.raw.post(pools_url(self.svm), json={
            "name": "embedded", "servers": [self.socket], "privileged_users": ["cifs\\scanner"],
        })
        assert r.status_code == 201, r.text
        r = self.raw.patch(f"{VSCAN}/{self.svm}", json={"enabled": True})
        assert r.status_code == 200, r.text
        # runs use the servers seen connected: wait for the embedded one
        poll("the embedded scanner to connect", lambda: [
            s for s in self.raw.get(f"{VSCAN}/server-status", params={"svm.uuid": self.svm, "fields": "state,ip"}).json()["records"]
            if s["state"] == "connected" and s["ip"] == self.socket
        ])

    def policy(self, name, **fields):
        body = {"name": name, "scan_paths": ["/data"], "log_path": "/reports", **fields}
        r = self.raw.post(od_url(self.svm), json=body)
        assert r.status_code == 201, r.text
        return od_url(self.svm, name)

    def runs(self):
        """The run records, newest first."""
        r = self.raw.get(f"{VSCAN}/{self.svm}/on-demand-runs", params={"fields": "*", "max_records": 10000})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    def run_record(self, uuid):
        r = self.raw.get(f"{VSCAN}/{self.svm}/on-demand-runs/{uuid}", params={"fields": "*"})
        assert r.status_code == 200, r.text
        return r.json()

    def start(self, policy, query=""):
        """`PATCH ...?action=run[&query]`: 202 with a job; returns the job's href."""
        r = self.raw.patch(f"{od_url(self.svm, policy)}?action=run{query}")
        assert r.status_code == 202, r.text
        assert set(r.json()) == {"job"}, r.text
        return r.json()["job"]["_links"]["self"]["href"]

    def run(self, policy, query=""):
        """Runs the policy on request and waits; returns (job message match, run record)."""
        job = wait_job(self.raw, self.start(policy, query), timeout=DEADLINE)
        assert job["state"] == "success", job
        m = RUN_RE.match(job["message"])
        assert m, job["message"]
        record = self.run_record(m["uuid"])
        # the job's summary is the record's
        assert (m["type"], m["status"].upper(), int(m["scanned"]), int(m["infected"]), int(m["errors"]), m["report"]) == (
            record["type"], record["status"], record["files_scanned"], record["infected_count"],
            record["error_count"], record["report"]), (job["message"], record)
        return m, record

    def device(self):
        r = self.raw.get(f"/api/svm/svms/{self.svm}", params={"fields": "mav_device_id"})
        assert r.status_code == 200, r.text
        return r.json()["mav_device_id"]

    def mav_key(self):
        r = self.raw.post("/api/security/mav-keys", json={"name": unique("rmm"), "key": MAV_KEY})
        assert r.status_code == 201, r.text
        return MAV_KEY

    def events(self, **params):
        r = self.raw.get(f"{VSCAN}/{self.svm}/events", params={"fields": "*", "max_records": 10000, **params})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    def quarantine(self):
        r = self.raw.get(f"{VSCAN}/{self.svm}/quarantine", params={"fields": "*", "max_records": 10000})
        assert r.status_code == 200, r.text
        return r.json()["records"]


def list_mav_scans(env: Env, key, details, v, tmp_path):
    """The SVM's scans, validated against the strict schema of the form and the general
    one; returns the <scan> elements."""
    xml = mav(env.srv, apikey=key, service="list_mav_scans", deviceid=str(env.device()), details=details, v=v)
    form = "detail" if details == "YES" else "summary"
    xmllint(xml, f"list_mav_scans-{form}-v{v}.xsd", tmp_path)
    xmllint(xml, "list_mav_scans.xsd", tmp_path)
    root = ET.fromstring(xml)
    assert root.tag == "result" and root.get("status") == "OK", xml
    return root.findall("scan")


def expected_report(env: Env, policy: str, record: dict, infected, skipped=0, unchanged=None, cached=0) -> str:
    """The report a run writes (crates/vigil/src/ondemand/report.rs), line for line."""
    lines = [
        "Vigil On-Demand scan report",
        f"SVM: {env.name}",
        f"Policy: {policy}",
        f"Run: {record['uuid']}",
        f"Start: {record['start_time']}",
        f"End: {record['end_time']}",
        f"Scan paths: {', '.join(record['scan_paths'])}",
        f"Type: {record['type']}",
    ]
    if record.get("changed_since"):
        lines.append(f"Files changed since: {record['changed_since']}")
    lines += [
        f"Status: {record['status']}",
        f"Folders scanned: {record['folders_scanned']}",
        f"Files scanned: {record['files_scanned']} ({cached} known clean from the scan cache)",
        f"Files skipped by scope: {skipped}",
    ]
    if unchanged is not None:
        lines.append(f"Files unchanged since the baseline run: {unchanged}")
    lines.append(f"Infected files: {len(infected)}")
    for i in infected:
        qid = f" (quarantine id {i['quarantine_id']})" if i.get("quarantine_id") else ""
        lines.append(f"  INFECTED {i['path']}: {i['threat']} [{i['action']}]{qid}")
    lines.append("Errors: 0")
    return "\n".join(lines) + "\n"


def partials(*dirs):
    return [p for d in dirs if d.exists() for p in d.rglob("*.partial")]


# -- 1. the acceptance story -------------------------------------------------------------

INTERVAL_S = 5


def test_scheduled_run_quarantines_reports_and_restores(fresh_server, tmp_path):
    srv = fresh_server
    env = Env(srv, tmp_path)
    raw, root = env.raw, env.root

    # the tree: 4 infected files, 40 clean ones (one a zip) in 5 directories
    inner = zip_of([("eicar.com", EICAR)])
    infected = {
        "/data/eicar.com": (EICAR, EICAR_NAME, 0o640, 1_600_000_000),
        "/data/archives/eicar.zip": (zip_of([("docs/eicar.com", EICAR), ("readme.txt", b"see eicar.com\n")]), EICAR_NAME, 0o600, 1_600_000_100),
        "/data/archives/eicar.tar.gz": (tgz_of([("dir/eicar.com", EICAR)]), EICAR_EMBEDDED_NAME, 0o644, 1_600_000_200),
        "/data/docs/deep/nested.zip": (zip_of([("inner.zip", inner), ("notes.txt", b"nothing\n")]), EICAR_NAME, 0o664, 1_600_000_300),
    }
    clean = {"/data/readme.txt": b"The data volume of the e2e test.\n"}
    for i in range(15):
        clean[f"/data/docs/report-{i:02}.txt"] = f"Quarterly report {i}\n".encode() * (i + 1)
    for i in range(12):
        clean[f"/data/docs/deep/notes-{i:02}.md"] = f"# Notes {i}\n\n- item\n".encode() * (3 * i + 1)
    for i in range(11):
        clean[f"/data/bin/blob-{i:02}.dat"] = bytes((j * 7 + i) % 256 for j in range(512 * (i + 1)))
    clean["/data/archives/clean.zip"] = zip_of([(f"doc{i}.txt", f"clean member {i}\n".encode() * 40) for i in range(5)])
    assert len(clean) == 40
    for path, (data, _threat, mode, mtime) in infected.items():
        plant(root, path, data, mode, mtime)
    for path, data in clean.items():
        plant(root, path, data, 0o644)
    folders = 5  # /data, /data/archives, /data/docs, /data/docs/deep, /data/bin
    assert svm_files(root) == {**clean, **{p: v[0] for p, v in infected.items()}}

    # an interval schedule and a quarantining policy on it: nothing is started by hand
    schedule = unique("every")
    r = raw.post("/api/cluster/schedules", json={"name": schedule, "interval": f"PT{INTERVAL_S}S"})
    assert r.status_code == 201, r.text
    policy = unique("nightly")
    url = env.policy(policy, schedule={"name": schedule}, remediation="quarantine")
    got = raw.get(url, params={"fields": "schedule,scan_paths,log_path,remediation"}).json()
    assert (got["schedule"]["name"], got["scan_paths"], got["log_path"], got["remediation"]) == (
        schedule, ["/data"], "/reports", "quarantine")

    def first_done():
        runs = env.runs()
        done = [r for r in runs if r["status"] != "RUNNING"]
        return done and min(done, key=lambda r: r["start_time"])

    run = poll("the scheduled run", first_done)
    # unschedule at once: the next run is due INTERVAL_S after this one's start
    r = raw.patch(url, json={"schedule": None})
    assert r.status_code == 200, r.text
    unscheduled = time.time()
    assert "schedule" not in raw.get(url, params={"fields": "schedule"}).json()
    start = utc(run["start_time"]).timestamp()
    if unscheduled >= start + INTERVAL_S - 0.5:
        # a slow machine: a tick that read the policy before the PATCH may still start
        # one more run; let the scheduler (1 s ticks) pass twice and that run end
        poll("the scheduler to settle", lambda: time.time() > unscheduled + 2.5
             and all(r["status"] != "RUNNING" for r in env.runs()))
    runs = env.runs()
    assert runs[-1]["uuid"] == run["uuid"], "the first run is the oldest record"

    # the run found exactly the planted files and quarantined each
    run = env.run_record(run["uuid"])
    assert run["status"] == "COMPLETED", run
    assert (run["policy"], run["trigger"], run["type"], run["scan_paths"]) == (policy, "schedule", "CUSTOM", ["/data"])
    assert run["files_scanned"] == len(clean) + len(infected) == 44
    assert (run["folders_scanned"], run["files_skipped"]) == (folders, 0)
    assert (run["infected_count"], run["error_count"], run["errors"]) == (4, 0, [])
    assert [(i["path"], i["threat"], i["action"]) for i in run["infected"]] == [
        (p, infected[p][1], "quarantine") for p in sorted(infected)]
    qids = {i["path"]: i["quarantine_id"] for i in run["infected"]}
    assert all(re.fullmatch(r"[0-9a-f-]{36}", q) for q in qids.values()) and len(set(qids.values())) == 4, qids
    assert utc(run["start_time"]) <= utc(run["end_time"])
    # later runs (only on a slow machine, see above) found nothing left to find
    for later in runs[:-1]:
        assert (later["status"], later["infected_count"], later["files_scanned"]) == ("COMPLETED", 0, len(clean)), later

    # the namespace: the infected files are gone, every clean file is untouched
    assert svm_files(root) == clean
    for path in clean:
        assert (root / path.lstrip("/")).stat().st_mode & 0o777 == 0o644

    # the quarantine lists each one
    items = {i["id"]: i for i in env.quarantine()}
    assert set(items) == set(qids.values())
    for path, qid in qids.items():
        item = items[qid]
        assert (item["path"], item["threat"], item["size"], item["svm"]["uuid"]) == (
            path, infected[path][1], len(infected[path][0]), env.svm), item
        assert utc(run["start_time"]) <= utc(item["quarantine_time"]) <= utc(run["end_time"]), item
    qdir = srv.data_dir / "quarantine" / env.svm
    for qid in qids.values():
        assert (qdir / f"{qid}.data").read_bytes() == infected[items[qid]["path"]][0]

    # the report: in /reports, under the name the record gives, exactly as expected
    assert re.fullmatch(rf"/reports/vscan_ondemand_{policy}_\d{{8}}-\d{{6}}-\d{{6}}\.log", run["report"]), run["report"]
    report = root / run["report"].lstrip("/")
    assert report.read_text() == expected_report(env, policy, run, run["infected"])
    assert len(list((root / "reports").glob("*.log"))) == len(runs)
    assert partials(root, qdir) == []

    # events: one file_infected and one file_quarantined per planted file, no failure
    events = env.events()
    kinds = Counter((e["type"], e.get("file_path")) for e in events if e["type"] != "scanner_connected")
    assert kinds == Counter({**{("file_infected", p): 1 for p in infected}, **{("file_quarantined", p): 1 for p in infected}}), kinds
    for e in events:
        if e["type"] == "file_infected":
            assert (e["server"], e["vendor"], e["svm"]["uuid"]) == (env.socket, "Vigil", env.svm), e

    # the RMM history: every form valid, the run with its files, threats and quarantine
    key = env.mav_key()
    for details in ("YES", "NO"):
        for v in ("1", "2"):
            scans = list_mav_scans(env, key, details, v, tmp_path)
            assert len(scans) == len(runs), (details, v)
            scan = scans[-1]  # newest first: the run is the oldest
            assert [c.tag for c in scan] == [
                "type", "status", "start", "end", "cookies_scanned", "registry_scanned",
                "files_scanned", "folders_scanned", "processes_scanned",
                *(["threats"] if details == "YES" else ["threat_count", "quarantine_count", "error_count"]),
                *(["engine"] if v == "2" else [])]
            assert (scan.findtext("type"), scan.findtext("status")) == ("CUSTOM", "FINISHED")
            assert (scan.findtext("start"), scan.findtext("end")) == (mav_time(run["start_time"]), mav_time(run["end_time"]))
            assert (scan.findtext("files_scanned"), scan.findtext("folders_scanned")) == ("44", str(folders))
            assert [scan.findtext(c) for c in ("cookies_scanned", "registry_scanned", "processes_scanned")] == ["0", "0", "0"]
            if details == "NO":
                assert (scan.findtext("threat_count"), scan.findtext("quarantine_count"), scan.findtext("error_count")) == ("4", "4", "0")
                assert scan.find("threats") is None
            else:
                assert scan.find("threat_count") is None and scan.find("errors") is None
                threats = [
                    (t.findtext("name"), t.findtext("category"), t.findtext("status"),
                     [(q.findtext("guid"), q.findtext("count"), q.findtext("deleted")) for q in t.findall("quarantine/item")],
                     [(tr.findtext("type"), tr.findtext("description")) for tr in t.findall("traces/trace")])
                    for t in scan.findall("threats/threat")
                ]
                assert threats == [
                    (infected[p][1], "Vigil.Test", "QUARANTINED", [("{" + qids[p].upper() + "}", "1", "NO")], [("FILE", p)])
                    for p in sorted(infected)
                ]
            engine = scan.find("engine")
            if v == "2":
                assert engine is not None and list(scan)[-1] is engine
                assert (engine.text, engine.get("name")) == ("VIPRE", "Vigil")
            else:
                assert engine is None

    # restore every item but one: each file back byte-identical with its mode and mtime;
    # the last one is discarded from quarantine instead
    purged_path = sorted(qids)[-1]
    for path, qid in qids.items():
        if path == purged_path:
            continue
        r = raw.patch(f"{VSCAN}/{env.svm}/quarantine/{qid}?action=restore")
        assert r.status_code == 200, r.text
        p = root / path.lstrip("/")
        data, _threat, mode, mtime = infected[path]
        assert p.read_bytes() == data, path
        st = p.stat()
        assert (st.st_mode & 0o7777, int(st.st_mtime)) == (mode, mtime), path
    r = raw.delete(f"{VSCAN}/{env.svm}/quarantine/{qids[purged_path]}")
    assert r.status_code == 200, r.text
    assert env.quarantine() == []
    assert svm_files(root) == {**clean, **{p: v[0] for p, v in infected.items() if p != purged_path}}
    assert partials(root, qdir) == []
    # the run record and the RMM history say what became of each file: restored ones are
    # RELEASED (item kept, not deleted), the discarded one QUARANTINED with its item deleted
    items = {i["path"]: i for i in env.run_record(run["uuid"])["infected"]}
    assert {p: (i.get("released", False), i.get("purged", False)) for p, i in items.items()} == {
        p: (p != purged_path, p == purged_path) for p in infected
    }
    scan = list_mav_scans(env, key, "YES", "2", tmp_path)[-1]
    threats = [
        (t.findtext("status"), [(q.findtext("guid"), q.findtext("deleted")) for q in t.findall("quarantine/item")])
        for t in scan.findall("threats/threat")
    ]
    assert threats == [
        ("QUARANTINED" if p == purged_path else "RELEASED", [("{" + qids[p].upper() + "}", "YES" if p == purged_path else "NO")])
        for p in sorted(infected)
    ]
    # and no scheduled run came along to move them again
    assert [r["uuid"] for r in env.runs()] == [r["uuid"] for r in runs]
    raw.close()


# -- 2. cancel -----------------------------------------------------------------------------


# The embedded scanner gets through ~3000 small files in 30-60 ms on a 2-core VM, and a
# cancel lands 1-4 ms after the run's 202: 12000 files leave a wide margin.
CANCEL_TREE = 12000
CANCEL_DIRS = 60


def test_cancel_a_running_run(fresh_server, tmp_path):
    srv = fresh_server
    env = Env(srv, tmp_path)
    raw, root = env.raw, env.root
    for d in range(CANCEL_DIRS):
        for i in range(CANCEL_TREE // CANCEL_DIRS):
            plant(root, f"/data/d{d:02}/f{i:03}.txt", f"clean file {d}/{i}\n".encode() * 20)
    policy = unique("bulk")
    url = env.policy(policy)

    # nothing runs yet: 400 with an ONTAP error body, from REST and from the CLI
    check_err(raw.patch(f"{url}?action=cancel"), 400, 262186, f'On-Demand policy "{policy}" is not running.')
    cli = subprocess.run(
        [str(vigil_binary()), "vscan", "on-demand", "cancel", "--svm", env.name, policy,
         "-k", "--url", srv.origin, "--user", ADMIN_USER],
        env={**os.environ, "VIGIL_PASSWORD": ADMIN_PASSWORD}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )
    assert cli.returncode == 1, (cli.returncode, cli.stdout, cli.stderr)
    assert cli.stdout == ""
    assert cli.stderr == f'error: On-Demand policy "{policy}" is not running. (code 262186)\n', cli.stderr

    # start a run and cancel it at once
    job_href = env.start(policy)
    r = raw.patch(f"{url}?action=cancel")
    assert r.status_code == 200, r.text
    job = wait_job(raw, job_href, timeout=DEADLINE)
    assert job["state"] == "success", job
    m = RUN_RE.match(job["message"])
    assert m and m["status"] == "canceled", job["message"]
    run = env.run_record(m["uuid"])
    assert (run["status"], run["type"], run["trigger"], run["policy"]) == ("CANCELED", "CUSTOM", "request", policy)
    assert run["files_scanned"] < CANCEL_TREE, f"the run ended before the cancel landed: {run}"
    assert int(m["scanned"]) == run["files_scanned"]
    assert (run["infected_count"], run["error_count"]) == (0, 0), run
    assert "end_time" in run
    report = (root / run["report"].lstrip("/")).read_text()
    assert "Status: CANCELED\n" in report and f"Files scanned: {run['files_scanned']} (" in report

    # once over, nothing to cancel again; the tree is untouched
    check_err(raw.patch(f"{url}?action=cancel"), 400, 262186, "is not running")
    assert len(svm_files(root)) == CANCEL_TREE

    # the RMM history shows it CANCELED, with its end and what it scanned
    key = env.mav_key()
    for v in ("1", "2"):
        [scan] = list_mav_scans(env, key, "YES", v, tmp_path)
        assert (scan.findtext("type"), scan.findtext("status")) == ("CUSTOM", "CANCELED")
        assert scan.findtext("end") == mav_time(run["end_time"])
        assert scan.findtext("files_scanned") == str(run["files_scanned"])
    [scan] = list_mav_scans(env, key, "NO", "2", tmp_path)
    assert (scan.findtext("status"), scan.findtext("threat_count")) == ("CANCELED", "0")

    # the run list filters on the new status
    r = raw.get(f"{VSCAN}/{env.svm}/on-demand-runs", params={"status": "CANCELED", "fields": "uuid"})
    assert r.status_code == 200 and [x["uuid"] for x in r.json()["records"]] == [run["uuid"]], r.text

    # cancelled in the middle of a quarantining run: what it found is in quarantine
    # (recorded, with its events), everything it did not reach is where it was
    planted = {}
    for d in range(CANCEL_DIRS):
        for k in range(5):
            path = f"/data/d{d:02}/infected-{k}.com"
            plant(root, path, EICAR)
            planted[path] = EICAR
    total = CANCEL_TREE + len(planted)
    mid = unique("mid")
    url = env.policy(mid, remediation="quarantine")
    qdir = srv.data_dir / "quarantine" / env.svm
    job_href = env.start(mid)
    poll("the run to quarantine a few files", lambda: qdir.is_dir() and len(list(qdir.glob("*.json"))) >= 5, every=0.01)
    r = raw.patch(f"{url}?action=cancel")
    assert r.status_code == 200, r.text
    job = wait_job(raw, job_href, timeout=DEADLINE)
    m = RUN_RE.match(job["message"])
    assert job["state"] == "success" and m and m["status"] == "canceled", job
    run = env.run_record(m["uuid"])
    assert run["status"] == "CANCELED" and 0 < run["files_scanned"] < total, run
    assert 5 <= run["infected_count"] < len(planted) and run["error_count"] == 0, run
    moved = {i["path"]: i["quarantine_id"] for i in run["infected"]}
    assert len(moved) == run["infected_count"] and all(i["action"] == "quarantine" for i in run["infected"])
    assert {i["id"]: i["path"] for i in env.quarantine()} == {q: p for p, q in moved.items()}
    files = svm_files(root)
    assert len(files) == total - len(moved)
    for path in planted:
        assert (path in files) != (path in moved), path
    quarantined = Counter(e["file_path"] for e in env.events(type="file_quarantined"))
    assert quarantined == Counter(list(moved)), quarantined
    assert partials(root, qdir) == []
    raw.close()


# -- 3. incremental (QUICK) runs ---------------------------------------------------------


@pytest.mark.real_clock
def test_incremental_runs_scan_only_changed_files(fresh_server, tmp_path):
    srv = fresh_server
    env = Env(srv, tmp_path)
    raw, root = env.raw, env.root
    clean = {}
    for i in range(8):
        clean[f"/data/f{i}.txt"] = f"top file {i}\n".encode()
    for i in range(12):
        clean[f"/data/sub/g{i:02}.txt"] = f"sub file {i}\n".encode() * 3
    for path, data in clean.items():
        plant(root, path, data)
    total = len(clean)
    # outside the policy's first scan path, as old as the rest
    plant(root, "/more/old-eicar.com", EICAR)

    policy = unique("quick")
    url = env.policy(policy, incremental=True)
    # an extension: shown only when named
    assert "incremental" not in raw.get(url, params={"fields": "*"}).json()
    assert raw.get(url, params={"fields": "incremental"}).json()["incremental"] is True
    r = raw.patch(f"{url}?action=run&incremental=maybe")
    check_err(r, 400, 262197, '"maybe" is an invalid value for field "incremental"', target="incremental")
    assert env.runs() == []

    # the baseline counts files changed up to 1 s before its start as changed: let the
    # planted tree be older than that
    time.sleep(1.5)

    # no complete run yet: the first one scans everything
    _m, first = env.run(policy)
    assert (first["type"], first["status"], first["files_scanned"], first["infected_count"]) == ("CUSTOM", "COMPLETED", total, 0)
    assert first["files_unchanged"] == 0 and "changed_since" not in first, first

    # one clean file changed, one infected file added: a QUICK run scans those two
    changed = root / "data" / "sub" / "g05.txt"
    changed.write_bytes(b"changed since the first run\n")
    clean["/data/sub/g05.txt"] = changed.read_bytes()
    plant(root, "/data/sub/new/eicar.com", EICAR)
    _m, quick = env.run(policy)
    assert (quick["type"], quick["status"]) == ("QUICK", "COMPLETED"), quick
    assert (quick["files_scanned"], quick["files_unchanged"]) == (2, total - 1), quick
    assert quick["changed_since"] == first["start_time"], quick
    assert [(i["path"], i["threat"], i["action"]) for i in quick["infected"]] == [("/data/sub/new/eicar.com", EICAR_NAME, "report")]
    assert quick["folders_scanned"] == 3
    report = (root / quick["report"].lstrip("/")).read_text()
    assert report == expected_report(env, policy, quick, quick["infected"], unchanged=total - 1)

    # incremental=false: a full run again
    _m, full = env.run(policy, "&incremental=false")
    assert (full["type"], full["status"], full["files_scanned"]) == ("CUSTOM", "COMPLETED", total + 1), full
    assert [i["path"] for i in full["infected"]] == ["/data/sub/new/eicar.com"]
    assert "files_unchanged" not in full and "changed_since" not in full, full
    assert svm_files(root) == {**clean, "/data/sub/new/eicar.com": EICAR}, "report only: nothing moved"

    # the RMM history: newest first, the QUICK run as QUICK
    key = env.mav_key()
    for details, v in (("YES", "2"), ("YES", "1"), ("NO", "1"), ("NO", "2")):
        scans = list_mav_scans(env, key, details, v, tmp_path)
        assert [(s.findtext("type"), s.findtext("status"), s.findtext("files_scanned")) for s in scans] == [
            ("CUSTOM", "FINISHED", str(total + 1)), ("QUICK", "FINISHED", "2"), ("CUSTOM", "FINISHED", str(total))]
        q = scans[1]
        assert q.findtext("start") == mav_time(quick["start_time"])
        if details == "YES":
            assert [(t.findtext("name"), t.findtext("status"), t.findtext("traces/trace/description"))
                    for t in q.findall("threats/threat")] == [(EICAR_NAME, "REPORTED", "/data/sub/new/eicar.com")]
            assert q.find("threats/threat/quarantine") is None
        else:
            assert (q.findtext("threat_count"), q.findtext("quarantine_count")) == ("1", "0")

    # a run over other paths or another scope is no baseline: files it never looked at
    # may be unchanged (here an old infected file in a newly added path)
    assert raw.patch(url, json={"scan_paths": ["/data", "/more"]}).status_code == 200
    _m, widened = env.run(policy)
    assert (widened["type"], widened["files_scanned"], widened["files_unchanged"]) == ("CUSTOM", total + 2, 0), widened
    assert [i["path"] for i in widened["infected"]] == ["/data/sub/new/eicar.com", "/more/old-eicar.com"]
    assert raw.patch(url, json={"scope": {"max_file_size": 1048576}}).status_code == 200
    _m, rescoped = env.run(policy)
    assert (rescoped["type"], rescoped["files_scanned"], rescoped["infected_count"]) == ("CUSTOM", total + 2, 2), rescoped
    _m, again = env.run(policy)
    assert (again["type"], again["changed_since"]) == ("QUICK", rescoped["start_time"]), again

    # a policy over the whole namespace: its first (full) run is DEEP
    whole = unique("whole")
    env.policy(whole, scan_paths=["/"], incremental=True)
    _m, deep = env.run(whole)
    assert (deep["type"], deep["scan_paths"], deep["status"]) == ("DEEP", ["/"], "COMPLETED"), deep
    assert deep["infected_count"] == 2
    raw.close()


# -- 4. symbolic links to directories ------------------------------------------------------


def test_directory_symlink_out_of_the_namespace_is_not_followed(fresh_server, tmp_path):
    srv = fresh_server
    env = Env(srv, tmp_path)
    raw, root = env.raw, env.root
    outside = tmp_path / "outside"
    (outside / "deeper").mkdir(parents=True)
    (outside / "eicar.com").write_bytes(EICAR)
    (outside / "deeper" / "eicar.com").write_bytes(EICAR)
    plant(root, "/data/docs/a.txt", b"clean\n")
    plant(root, "/data/b.txt", b"clean too\n")
    os.symlink(outside, root / "data" / "docs" / "elsewhere")
    os.symlink(outside / "eicar.com", root / "data" / "file-link.com")
    policy = unique("links")
    env.policy(policy, remediation="quarantine")

    _m, run = env.run(policy)
    assert (run["status"], run["files_scanned"], run["folders_scanned"]) == ("COMPLETED", 2, 2), run
    assert (run["infected_count"], run["infected"], run["error_count"]) == (0, [], 0), run
    for p in (outside / "eicar.com", outside / "deeper" / "eicar.com"):
        assert p.read_bytes() == EICAR, p
    assert os.readlink(root / "data" / "docs" / "elsewhere") == str(outside)
    assert os.readlink(root / "data" / "file-link.com") == str(outside / "eicar.com")
    assert env.quarantine() == []
    assert [e for e in env.events() if e["type"] != "scanner_connected"] == []
    report = (root / run["report"].lstrip("/")).read_text()
    assert report == expected_report(env, policy, run, [])
    # nor can a policy be pointed through the link
    r = raw.post(od_url(env.svm), json={"name": unique("via"), "scan_paths": ["/data/docs/elsewhere"], "log_path": "/reports"})
    assert r.status_code == 400 and r.json()["error"]["target"] == "scan_paths", r.text
    raw.close()


# -- 5. run record retention ----------------------------------------------------------------


@pytest.fixture
def server_keeping_3_runs(tmp_path):
    srv = VigilServer(tmp_path / "data", extra_args=["--vscan-runs-max", "3"])
    srv.start()
    yield srv
    assert srv.stop() == 0


def test_run_records_beyond_the_maximum_are_trimmed(server_keeping_3_runs, tmp_path):
    srv = server_keeping_3_runs
    env = Env(srv, tmp_path)
    plant(env.root, "/data/a.txt", b"one clean file\n")
    policy = unique("kept")
    env.policy(policy)
    done = []
    for n in range(5):
        m, run = env.run(policy)
        assert run["status"] == "COMPLETED", run
        done.append(m["uuid"])
        assert [r["uuid"] for r in env.runs()] == done[::-1][:3], n
    runs = env.runs()
    assert [r["uuid"] for r in runs] == [done[4], done[3], done[2]]
    for gone in done[:2]:
        assert env.raw.get(f"{VSCAN}/{env.svm}/on-demand-runs/{gone}").status_code == 404
    # the reports stay: retention is about records
    assert len(list((env.root / "reports").glob("*.log"))) == 5
    env.raw.close()


# -- 6. deleting the SVM -------------------------------------------------------------------


def test_deleting_the_svm_takes_its_history_quarantine_and_schedules(fresh_server, tmp_path):
    """What an SVM's on-demand work left goes with it: run records, quarantined copies
    and job schedules scoped to it. Its MAV device id is not given to the next SVM, and
    the namespace's own files stay."""
    srv = fresh_server
    env = Env(srv, tmp_path)
    raw, root = env.raw, env.root
    plant(root, "/data/eicar.com", EICAR)
    plant(root, "/data/clean.txt", b"clean\n")
    sched = unique("own")
    r = raw.post("/api/cluster/schedules", json={"name": sched, "svm": {"uuid": env.svm}, "interval": "P1D"})
    assert r.status_code == 201, r.text
    sched_uuid = raw.get("/api/cluster/schedules", params={"name": sched}).json()["records"][0]["uuid"]
    policy = unique("gone")
    env.policy(policy, remediation="quarantine", schedule={"name": sched})
    _m, run = env.run(policy)
    assert run["infected_count"] == 1, run
    qdir = srv.data_dir / "quarantine" / env.svm
    assert len(list(qdir.glob("*.data"))) == 1
    device = env.device()

    def runs_stored():
        # WAL mode: a reader sees what the server committed
        with sqlite3.connect(f"file:{srv.data_dir / 'vigil.db'}?mode=ro", uri=True) as db:
            return db.execute(
                "SELECT count(*) FROM docs WHERE kind = 'vscan_run' AND body LIKE ?", (f"%{env.svm}%",)
            ).fetchone()[0]

    assert runs_stored() == 1
    r = raw.delete(f"/api/svm/svms/{env.svm}?return_timeout=30")
    assert r.status_code == 200, r.text
    assert not qdir.exists()
    assert raw.get(f"/api/cluster/schedules/{sched_uuid}").status_code == 404
    # no API reaches a deleted SVM's runs: look in the database
    assert runs_stored() == 0
    # the report and the clean file are the namespace's: they stay
    assert (root / "data" / "clean.txt").read_bytes() == b"clean\n"
    assert (root / run["report"].lstrip("/")).is_file()

    # a new SVM gets a new device id, never the deleted one's
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("next")})
    assert r.status_code in (200, 201), r.text
    new = r.headers["Location"].rsplit("/", 1)[1]
    r = raw.get(f"/api/svm/svms/{new}", params={"fields": "mav_device_id"})
    assert r.json()["mav_device_id"] > device, r.text
    raw.close()


# -- 7. a stopped SVM ----------------------------------------------------------------------


def test_a_stopped_svm_runs_nothing_and_drops_its_scanners(fresh_server, tmp_path):
    """Stopping an SVM (ONTAP: it serves no data) disconnects its scan servers and
    refuses runs of its policies; started again, both come back."""
    srv = fresh_server
    env = Env(srv, tmp_path)
    raw, root = env.raw, env.root
    plant(root, "/data/eicar.com", EICAR)
    policy = unique("halt")
    env.policy(policy)

    def connected():
        return [
            s for s in raw.get(f"{VSCAN}/server-status", params={"svm.uuid": env.svm, "fields": "state"}).json()["records"]
            if s["state"] == "connected"
        ]

    r = raw.patch(f"/api/svm/svms/{env.svm}?return_timeout=30", json={"state": "stopped"})
    assert r.status_code == 200, r.text
    poll("the stopped SVM's scanner to disconnect", lambda: not connected())
    r = raw.patch(f"{od_url(env.svm, policy)}?action=run")
    check_err(r, 400, "10027175", "is not running")
    assert env.runs() == []

    r = raw.patch(f"/api/svm/svms/{env.svm}?return_timeout=30", json={"state": "running"})
    assert r.status_code == 200, r.text
    poll("the scanner to reconnect", connected)
    _m, run = env.run(policy)
    assert (run["status"], run["infected_count"]) == ("COMPLETED", 1), run
    raw.close()
