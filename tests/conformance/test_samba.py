"""On-access scanning through Samba (issue #17), with the real smbd and smbclient of the
Debian packages: the test writes a standalone smb.conf whose share (a subdirectory of the
SVM's namespace root) has `vfs objects = virusfilter` pointed at Vigil's per-SVM socket
`<data-dir>/samba/<svm>.sock`, starts smbd on a free port, and reads and writes files with
smbclient. Decisions: docs/on-access.md ("Samba").

EICAR is assembled at run time so that this file is never flagged itself."""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import unique
from s3_common import free_port
from test_mav_service import mav, xmllint
from vscan_common import VSCAN, oa_url, pools_url

_REVERSED = ("$}7)CC7)^P(45XZP\\4[PA@%P!O5X", "-DRADNATS-RACIE", "*H+H$!ELIF-TSET-SURIVITNA")
EICAR = "".join(p[::-1] for p in _REVERSED).encode()
assert hashlib.md5(EICAR).hexdigest() == "44d88612fea8a8f36de82e1278abb02f"
DEADLINE = 60
SMB_USER = "root"
SMB_PASSWORD = "Samba-Test-1"
DENIED = "NT_STATUS_ACCESS_DENIED"


def poll(what, probe, timeout=DEADLINE, every=0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def tool(name):
    exe = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    assert exe, f"{name} is not installed; run scripts/install-test-deps.sh (samba, smbclient, samba-vfs-modules)"
    return exe


class Samba:
    """A standalone smbd of its own: every directory it writes is under `base`, it
    listens on a free loopback port, and its one share `share` is `path` with
    vfs_virusfilter asking `socket`."""

    def __init__(self, base: Path, path: Path, socket_path: Path):
        self.base = base
        self.port = free_port()
        for d in ("private", "lock", "state", "cache", "pid", "log"):
            (base / d).mkdir(parents=True, exist_ok=True)
        self.conf = base / "smb.conf"
        self.conf.write_text(f"""[global]
  server role = standalone server
  workgroup = VIGILTEST
  smb ports = {self.port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  private dir = {base}/private
  lock directory = {base}/lock
  state directory = {base}/state
  cache directory = {base}/cache
  pid directory = {base}/pid
  passdb backend = tdbsam:{base}/private/passdb.tdb
  log file = {base}/log/log.%m
  log level = 1 vfs:2
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes

[share]
  path = {path}
  read only = no
  vfs objects = virusfilter
  virusfilter:scanner = clamav
  virusfilter:socket path = {socket_path}
  virusfilter:scan on open = yes
  virusfilter:scan on close = yes
  virusfilter:block access on error = yes
  virusfilter:infected file action = nothing
  virusfilter:min file size = 0
""")
        r = subprocess.run([tool("smbpasswd"), "-c", str(self.conf), "-a", "-s", SMB_USER],
                           input=f"{SMB_PASSWORD}\n{SMB_PASSWORD}\n", capture_output=True, text=True)
        assert r.returncode == 0, r.stderr + r.stdout
        self.out = open(base / "smbd.out", "ab")
        self.proc = subprocess.Popen(
            [tool("smbd"), "--foreground", "--no-process-group", "--debug-stdout",
             f"--configfile={self.conf}"],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.out,
            # smbd signals its whole process group when it stops: a group of its own
            # (made here; smbd is told not to make one), not pytest's.
            start_new_session=True)
        poll("smbd to listen", self._listening, timeout=30)

    def _listening(self):
        assert self.proc.poll() is None, (self.base / "smbd.out").read_text()
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def client(self, *commands):
        """Runs smbclient commands in one session; returns its output."""
        r = subprocess.run(
            [tool("smbclient"), "//127.0.0.1/share", "-p", str(self.port),
             "-U", f"{SMB_USER}%{SMB_PASSWORD}", "-c", "; ".join(commands)],
            capture_output=True, text=True, timeout=120, cwd=self.base)
        return r.stdout + r.stderr

    def put(self, local: Path, name: str):
        return self.client(f'put "{local}" "{name}"')

    def get(self, name: str, local: Path):
        """The file's bytes, or smbclient's output when it was not read."""
        if local.exists():
            local.unlink()
        out = self.client(f'get "{name}" "{local}"')
        return local.read_bytes() if local.exists() else out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


class Shared:
    """An SVM rooted at a fresh directory with Vscan on: a pool on the embedded scanner
    (or on `servers`), its own enabled on-access policy `smbscan` in place of
    default_CIFS, and a Samba share on `<root>/share` wired to its socket."""

    def __init__(self, server, raw, tmp_path, servers=None, **policy):
        self.server, self.raw = server, raw
        self.root = tmp_path / unique("ns")
        self.share = self.root / "share"
        self.share.mkdir(parents=True)
        self.local = tmp_path / "local"
        self.local.mkdir()
        self.name = unique("smb")
        r = raw.post("/api/svm/svms?return_timeout=30", json={"name": self.name, "root_path": str(self.root)})
        assert r.status_code in (200, 201), r.text
        self.svm = r.headers["Location"].rsplit("/", 1)[1]
        embedded = f"unix://{server.data_dir / 'scanner.sock'}"
        r = raw.post(pools_url(self.svm), json={
            "name": "embedded", "servers": servers or [embedded],
            "privileged_users": ["cifs\\scanner"], "role": "primary",
        })
        assert r.status_code == 201, r.text
        r = raw.patch(oa_url(self.svm, "default_CIFS"), json={"enabled": False})
        assert r.status_code == 200, r.text
        body = {"name": "smbscan", "enabled": True, "mandatory": True, **policy}
        r = raw.post(oa_url(self.svm), json=body)
        assert r.status_code == 201, r.text
        self.socket = server.data_dir / "samba" / f"{self.name}.sock"
        self.vscan(True)
        if servers is None:
            poll("the embedded scanner to connect", lambda: [
                s for s in raw.get(f"{VSCAN}/server-status", params={"svm.uuid": self.svm, "fields": "state,ip"}).json()["records"]
                if s["state"] == "connected" and s["ip"] == embedded
            ])
        self.samba = Samba(tmp_path / "samba", self.share, self.socket)

    def vscan(self, on: bool):
        r = self.raw.patch(f"{VSCAN}/{self.svm}", json={"enabled": on})
        assert r.status_code == 200, r.text
        poll(f"the Samba socket to {'appear' if on else 'go'}", lambda: self.socket.is_socket() == on)

    def policy(self, **fields):
        r = self.raw.patch(oa_url(self.svm, "smbscan"), json=fields)
        assert r.status_code == 200, r.text

    def staged(self, data: bytes) -> Path:
        p = self.local / f"staged-{uuid.uuid4().hex[:8]}"
        p.write_bytes(data)
        return p

    def put(self, name: str, data: bytes):
        return self.samba.put(self.staged(data), name)

    def get(self, name: str):
        return self.samba.get(name, self.local / f"got-{uuid.uuid4().hex[:8]}")

    def events(self, kind=None, path=None):
        params = {"fields": "*", "max_records": 10000}
        if kind:
            params["type"] = kind
        if path:
            params["file_path"] = path
        r = self.raw.get(f"{VSCAN}/{self.svm}/events", params=params)
        assert r.status_code == 200, r.text
        return r.json()["records"]

    def active(self):
        r = self.raw.get(f"{VSCAN}/{self.svm}/on-demand-runs", params={"fields": "*", "type": "ACTIVE"})
        assert r.status_code == 200, r.text
        return r.json()["records"]

    def close(self):
        self.samba.stop()
        self.raw.delete(f"/api/svm/svms/{self.svm}?return_timeout=30")


@pytest.fixture
def shared(server, raw, tmp_path):
    s = Shared(server, raw, tmp_path, scope={"exclude_extensions": ["log"]})
    yield s
    s.close()


def test_infected_file_is_refused_and_clean_one_round_trips(shared):
    out = shared.put("clean.txt", b"just text\n")
    assert "putting file" in out, out
    assert shared.get("clean.txt") == b"just text\n"
    # The upload itself goes through (scan on close reports), the next open is refused.
    shared.put("eicar.com", EICAR)
    assert (shared.share / "eicar.com").read_bytes() == EICAR, "remediation is report"
    got = shared.get("eicar.com")
    assert isinstance(got, str) and DENIED in got, got
    detections = poll("the detection event", lambda: shared.events("file_infected", "/share/eicar.com"))
    assert detections[0]["file_path"] == "/share/eicar.com", detections
    # Files in subdirectories are named by their SVM path too.
    out = shared.samba.client("mkdir sub", f'put "{shared.staged(EICAR)}" "sub\\x.com"')
    got = shared.get("sub\\x.com")
    assert isinstance(got, str) and DENIED in got, (out, got)
    poll("the subdirectory's detection", lambda: shared.events("file_infected", "/share/sub/x.com"))


def test_excluded_extension_opens_without_a_scan(shared):
    # EICAR in a .log file: the policy excludes .log, so nothing is scanned and the
    # file reads as written.
    shared.put("notes.log", EICAR)
    assert shared.get("notes.log") == EICAR
    shared.put("eicar.txt", EICAR)  # a scanned neighbour, to know events have arrived
    poll("the neighbour's detection", lambda: shared.events("file_infected", "/share/eicar.txt"))
    assert shared.events(path="/share/notes.log") == []
    record = poll("the ACTIVE record", lambda: [r for r in shared.active() if r["files_skipped"] >= 1])[0]
    assert all(i["path"] != "/share/notes.log" for i in record["infected"]), record


def test_quarantine_is_applied_once_by_vigil(shared):
    shared.policy(remediation="quarantine")
    shared.put("eicar.com", EICAR)
    poll("the file to be quarantined", lambda: not (shared.share / "eicar.com").exists())
    items = shared.raw.get(f"{VSCAN}/{shared.svm}/quarantine", params={"fields": "*"}).json()["records"]
    assert [i["path"] for i in items] == ["/share/eicar.com"], items
    got = shared.get("eicar.com")
    assert isinstance(got, str) and "NT_STATUS_OBJECT_NAME_NOT_FOUND" in got, got
    assert shared.events("file_quarantined", "/share/eicar.com")


def test_scanners_down_deny_when_mandatory_and_allow_otherwise(server, raw, tmp_path):
    down = [f"127.0.0.1:{free_port()}"]
    s = Shared(server, raw, tmp_path, servers=down)
    try:
        # Written behind Samba's back, so that only the open is asked about.
        (s.share / "any.txt").write_bytes(b"clean")
        got = s.get("any.txt")
        assert isinstance(got, str) and DENIED in got, got
        # A new file is not asked about when it is created (Samba scans existing files
        # on open) and a failed close scan only reports: the upload goes through, the
        # next open of it is refused.
        out = s.put("new.txt", b"clean")
        assert "putting file" in out, out
        got = s.get("new.txt")
        assert isinstance(got, str) and DENIED in got, got
        s.policy(mandatory=False)
        assert s.get("any.txt") == b"clean"
        s.put("new.txt", b"clean too")
        assert (s.share / "new.txt").read_bytes() == b"clean too"
    finally:
        s.close()


def test_scans_are_active_scans_in_the_mav_report(shared, tmp_path):
    shared.put("clean.txt", b"clean")
    shared.put("eicar.com", EICAR)
    record = poll("the ACTIVE record", lambda: [
        r for r in shared.active() if r["infected_count"] >= 1 and r["files_scanned"] >= 2])[0]
    assert record["type"] == "ACTIVE" and record["trigger"] == "on_access", record
    assert record["policy"] == "smbscan"
    assert "/share/eicar.com" in [i["path"] for i in record["infected"]]

    key = "rmm-key-" + uuid.uuid4().hex
    r = shared.raw.post("/api/security/mav-keys", json={"name": unique("rmm"), "key": key})
    assert r.status_code == 201, r.text
    device = shared.raw.get(f"/api/svm/svms/{shared.svm}", params={"fields": "mav_device_id"}).json()["mav_device_id"]
    xml = mav(shared.server, apikey=key, service="list_mav_scans",
              deviceid=str(device), details="YES", v="1")
    xmllint(xml, "list_mav_scans-detail-v1.xsd", tmp_path)
    active = [s for s in ET.fromstring(xml).findall("scan") if s.findtext("type") == "ACTIVE"]
    assert len(active) == 1, xml
    assert "/share/eicar.com" in ET.tostring(active[0], encoding="unicode"), xml


def ask(sock: Path, request: bytes) -> bytes:
    """One request on the socket, as vfs_virusfilter sends it; the whole reply."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(DEADLINE)
        s.connect(str(sock))
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(4096):
            out += chunk
        return out


def test_the_socket_speaks_clamd_and_refuses_paths_outside(shared, tmp_path):
    sock = shared.socket
    assert ask(sock, b"zPING\0") == b"PONG\0"
    assert ask(sock, b"nPING\n") == b"PONG\n"
    assert ask(sock, b"zVERSION\0").startswith(b"Vigil ")
    assert ask(sock, b"zHELLO\0") == b"UNKNOWN COMMAND\0"
    assert ask(sock, b"zINSTREAM\0").endswith(b" ERROR\0")
    share = bytes(shared.share)
    # Names are echoed byte for byte, newline and invalid UTF-8 included.
    odd = share + b"/caf\xe9\nname.txt"
    Path(os.fsdecode(odd)).write_bytes(b"clean")
    assert ask(sock, b"zSCAN " + odd + b"\0") == odd + b": OK\0"
    bad = share + b"/\xff.com"
    Path(os.fsdecode(bad)).write_bytes(EICAR)
    reply = ask(sock, b"zSCAN " + bad + b"\0")
    assert reply.startswith(bad + b": ") and reply.endswith(b" FOUND\0"), reply
    for cmd in (b"SCAN", b"CONTSCAN"):
        assert ask(sock, b"z" + cmd + b" " + share + b"/caf\xe9\nname.txt\0") == odd + b": OK\0"
    # Outside the SVM root, by `..`, by a symbolic link, or plainly: clamd's ERROR form.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(EICAR)
    (shared.share / "link").symlink_to(outside)
    for path in (share + b"/../../outside/secret.txt", share + b"/link/secret.txt",
                 bytes(outside / "secret.txt")):
        reply = ask(sock, b"zSCAN " + path + b"\0")
        assert reply == path + b": Access denied: the path leads outside the SVM namespace. ERROR\0", reply
    missing = share + b"/none.txt"
    assert ask(sock, b"zSCAN " + missing + b"\0") == \
        missing + b": File path check failure: No such file or directory. ERROR\0"
    assert ask(sock, b"zSCAN relative.txt\0") == \
        b"relative.txt: File path check failure: No such file or directory. ERROR\0"
    # The socket follows the SVM's Vscan switch.
    shared.vscan(False)
    shared.vscan(True)
    assert ask(sock, b"zPING\0") == b"PONG\0"
