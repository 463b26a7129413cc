"""Scan servers at work (issue 6, first part): Vigil watches the real clamd servers its
pools name and shows them through `VscanServerStatus` and `VscanEvent`.

Real clamd from Debian's clamav-daemon, with a one-signature database, on loopback TCP
ports and a unix socket. Vigil checks servers every 200 ms here
(`--vscan-check-interval-ms`), so state changes show within a second or two; the tests
poll for them with a deadline rather than sleeping a fixed time."""

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from netapp_ontap.resources import Vscan, VscanEvent, VscanScannerPool, VscanServerStatus

from conftest import VigilServer, unique

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clamd:
    """One real clamd on a TCP port (and a unix socket) over a private database."""

    def __init__(self, root: Path):
        exe = shutil.which("clamd") or "/usr/sbin/clamd"
        assert Path(exe).exists(), "clamd is not installed; run scripts/install-test-deps.sh"
        self.exe = exe
        self.dir = root
        (root / "db").mkdir(parents=True)
        (root / "db" / "vigil-test.ndb").write_text(f"Test.EICAR-1:0:*:{EICAR.hex()}\n")
        self.port = free_port()
        self.socket = root / "clamd.sock"
        (root / "clamd.conf").write_text(
            f"DatabaseDirectory {root / 'db'}\nLocalSocket {self.socket}\n"
            f"TCPSocket {self.port}\nTCPAddr 127.0.0.1\nForeground yes\n"
            f"LogFile {root / 'clamd.log'}\nUser root\n"
        )
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.exe, "-c", str(self.dir / "clamd.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, "clamd exited during start"
                time.sleep(0.1)
        raise AssertionError("clamd did not listen within 60 s")

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def clamds(tmp_path):
    servers = [Clamd(tmp_path / f"clamd{i}") for i in range(2)]
    for c in servers:
        c.start()
    yield servers
    for c in servers:
        c.stop()


@pytest.fixture
def watching_server(tmp_path):
    srv = VigilServer(tmp_path / "vigil", extra_args=["--vscan-check-interval-ms", "200"])
    srv.start()
    srv.use_as_default()
    yield srv
    assert srv.stop() == 0


def wait_for(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def by_ip(svm_uuid):
    return {s.ip: s for s in VscanServerStatus.get_collection(fields="*", **{"svm.uuid": svm_uuid})}


def test_server_status_and_events_follow_real_clamd(watching_server, clamds):
    raw = watching_server.session()
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("vs")})
    assert r.status_code in (200, 201), r.text
    svm = r.headers["Location"].rsplit("/", 1)[1]
    primary, secondary = clamds
    Vscan(svm={"uuid": svm}, enabled=True, scanner_pools=[
        {"name": "prim", "servers": [f"127.0.0.1:{primary.port}"], "privileged_users": ["d\\u"], "role": "primary"},
        {"name": "sec", "servers": [f"unix://{secondary.socket}"], "privileged_users": ["d\\u"], "role": "secondary"},
    ]).post()

    def both_connected():
        s = {x.ip: x for x in VscanServerStatus.get_collection(fields="*", **{"svm.uuid": svm})}
        ok = len(s) == 2 and all(x.state == "connected" for x in s.values())
        return s if ok else None

    s = wait_for(both_connected, "both servers connected")
    prim = s["127.0.0.1"]
    assert prim.type == "primary"
    assert prim.vendor == "ClamAV" and prim.version.startswith("1.")
    assert prim.node.name and prim.node.uuid
    assert prim.svm.uuid == svm
    assert any(line.startswith("POOLS:") for line in prim.extended_stats)
    assert prim.update_time is not None
    sec = s[f"unix://{secondary.socket}"]
    assert sec.type == "backup"
    # filters work on live records
    assert [x.ip for x in VscanServerStatus.get_collection(type="backup", **{"svm.uuid": svm})] == [sec.ip]

    connected = wait_for(lambda: list(VscanEvent.get_collection(svm, type="scanner_connected", fields="*")),
                         "scanner_connected events")
    assert {e.server for e in connected} == {"127.0.0.1", f"unix://{secondary.socket}"}
    assert all(e.vendor == "ClamAV" and e.disconnect_reason == "na" for e in connected)
    assert all(e.event_time is not None for e in connected)

    # kill the primary: disconnected, remote_closed, and an event saying so
    primary.stop()
    wait_for(lambda: by_ip(svm)["127.0.0.1"].state == "disconnected", "primary disconnected")
    st = by_ip(svm)["127.0.0.1"]
    assert st.disconnected_reason == "remote_closed"
    events = wait_for(lambda: list(VscanEvent.get_collection(svm, type="scanner_disconnected", fields="*")),
                      "scanner_disconnected event")
    assert events[0].server == "127.0.0.1" and events[0].disconnect_reason == "remote_closed"
    assert events[0].consecutive_occurrence_count == 1

    # back again
    primary.start()
    wait_for(lambda: by_ip(svm)["127.0.0.1"].state == "connected", "primary reconnected")
    wait_for(lambda: len(list(VscanEvent.get_collection(svm, type="scanner_connected", server="127.0.0.1"))) == 1
             and list(VscanEvent.get_collection(svm, type="scanner_connected", server="127.0.0.1",
                                                fields="consecutive_occurrence_count"))[0].consecutive_occurrence_count == 2,
             "the repeated connect folded into one event with count 2")

    # newest first by default; paging one record at a time (offset next links) and the
    # indexed filters give the same events as one unfiltered read
    everything = list(VscanEvent.get_collection(svm, fields="type,event_time,server"))
    times = [e.event_time for e in everything]
    assert times == sorted(times, reverse=True)
    raw_pages, href = [], f"/api/protocols/vscan/{svm}/events?max_records=1&fields=event_time"
    while href:
        page = raw.get(href).json()
        raw_pages += page["records"]
        href = page["_links"].get("next", {}).get("href")
    assert len(raw_pages) == len(everything)
    oldest_first = list(VscanEvent.get_collection(svm, order_by="event_time asc", type="scanner_connected|scanner_disconnected"))
    expected = [e for e in reversed(everything) if e.type in ("scanner_connected", "scanner_disconnected")]
    assert [e.event_time for e in oldest_first] == [e.event_time for e in expected]
    since = everything[len(everything) // 2].event_time.isoformat()
    later = list(VscanEvent.get_collection(svm, event_time=f">={since}"))
    assert len(later) == len([e for e in everything if e.event_time >= everything[len(everything) // 2].event_time])

    # configuration changes apply live: removing the secondary's server, then disabling Vscan
    pool = VscanScannerPool(svm, name="sec")
    pool.servers = [f"unix://{primary.socket}"]
    pool.patch()
    wait_for(lambda: by_ip(svm).get(f"unix://{secondary.socket}") is not None
             and by_ip(svm)[f"unix://{secondary.socket}"].disconnected_reason == "server_removed",
             "the removed server shown as server_removed")
    wait_for(lambda: by_ip(svm).get(f"unix://{primary.socket}") is not None
             and by_ip(svm)[f"unix://{primary.socket}"].state == "connected", "the new server monitored")
    assert len(by_ip(svm)) == 3
    v = Vscan(svm={"uuid": svm})
    v.enabled = False
    v.patch()
    wait_for(lambda: all(x.state == "disconnected" and x.disconnected_reason in ("vscan_disabled", "server_removed")
                         for x in by_ip(svm).values())
             and any(x.disconnected_reason == "vscan_disabled" for x in by_ip(svm).values()),
             "every server disconnected after Vscan was disabled")
    raw.close()


def test_events_filtered_without_an_index_page_like_a_full_read(fresh_server, tmp_path):
    """Filters the events table has no index for (`server`, `file_path`) are applied
    while the table is read in chunks of 4,096; with 10,000 events planted, every page
    of a filtered, paged query equals the matching slice of one unfiltered read, newest
    first and oldest first, and a filter matching nothing gives an empty page."""
    import sqlite3
    from datetime import datetime, timedelta, timezone

    srv = fresh_server
    raw = srv.session()
    r = raw.post("/api/svm/svms?return_timeout=30", json={"name": unique("ev")})
    assert r.status_code in (200, 201), r.text
    svm = r.headers["Location"].rsplit("/", 1)[1]
    srv.stop()
    # planted relative to now: the server's event retention (30 days by default) deletes
    # older events at start, so a fixed date would stop this test working a month later
    start = datetime.now(timezone.utc) - timedelta(days=1)
    rows = []
    for i in range(10_000):
        # bursts of four events share a timestamp, so paging must order by seq too
        t = (start + timedelta(seconds=i // 4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        kind = ("file_infected", "scan_failed", "scanner_connected")[i % 3]
        body = {"type": kind, "event_time": t, "server": f"10.0.0.{i % 7}", "svm": {"uuid": svm},
                "node": {"name": "n"}, "file_path": f"/vol1/f{i}", "disconnect_reason": "na",
                "consecutive_occurrence_count": 1}
        rows.append((svm, t, kind, json.dumps(body)))
    with sqlite3.connect(srv.data_dir / "vigil.db") as db:
        db.executemany("INSERT INTO vscan_events (svm, time, type, body) VALUES (?, ?, ?, ?)", rows)
    srv.start()
    raw = srv.session()
    url = f"/api/protocols/vscan/{svm}/events"

    def paged(params):
        out, href, first = [], url, True
        while href:
            r = raw.get(href, params=params if first else None)
            assert r.status_code == 200, r.text
            out += [e["file_path"] for e in r.json()["records"]]
            href = r.json()["_links"].get("next", {}).get("href")
            first = False
        return out

    everything = [json.loads(b) for *_, b in rows]
    newest_first = [e["file_path"] for e in reversed(everything)]
    want = [p for p, e in zip(newest_first, reversed(everything)) if e["server"] == "10.0.0.3"]
    assert len(want) == 1429
    assert paged({"server": "10.0.0.3", "max_records": 333, "fields": "file_path"}) == want
    oldest = paged({"server": "10.0.0.3", "order_by": "event_time asc", "max_records": 500, "fields": "file_path"})
    assert oldest == list(reversed(want))
    r = raw.get(url, params={"file_path": "/no/such/*", "max_records": 20})
    assert r.status_code == 200 and r.json()["num_records"] == 0, r.text
    raw.close()
