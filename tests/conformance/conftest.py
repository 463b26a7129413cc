"""Conformance suite: drives the real `vigil` release binary over HTTPS with the
official ONTAP Python client (netapp-ontap) and with raw `requests`.

The binary comes from `$VIGIL_BIN`, else `$CARGO_TARGET_DIR/release/vigil`, else
`target/release/vigil` under the repository root.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import pytest
import requests
import urllib3
from netapp_ontap import config
from netapp_ontap.host_connection import HostConnection

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

REPO = Path(__file__).resolve().parents[2]
ADMIN_USER = "admin"
ADMIN_PASSWORD = "Conformance-Admin-1"
LISTEN_RE = re.compile(r"vigil: listening on (https?)://([0-9.]+):(\d+)")
# Job polling: the client polls once at once, then every poll_interval seconds.
POLL_INTERVAL = 0.2
POLL_TIMEOUT = 30


# VIGIL_TEST_DATABASE=postgres runs every server of the suite on PostgreSQL: one
# throwaway server for the session (tests/conformance/pg.py), a fresh database per
# VigilServer. Unset, servers use their default SQLite file.
_POSTGRES = None


def _database_args(extra_args) -> list:
    global _POSTGRES
    if os.environ.get("VIGIL_TEST_DATABASE") != "postgres" or "--database-url" in extra_args:
        return []
    if _POSTGRES is None:
        from pg import RealPostgres

        _POSTGRES = RealPostgres()
    return ["--database-url", _POSTGRES.new_database()]


def pytest_unconfigure(config):
    if _POSTGRES is not None:
        _POSTGRES.close()


def vigil_binary() -> Path:
    if os.environ.get("VIGIL_BIN"):
        return Path(os.environ["VIGIL_BIN"])
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "vigil"
    return REPO / "target" / "release" / "vigil"


class VigilServer:
    """One `vigil serve` process on an ephemeral HTTPS port over a data dir."""

    def __init__(self, data_dir: Path, scheme: str = "https", extra_args=()):
        self.binary = vigil_binary()
        if not self.binary.is_file():
            raise RuntimeError(
                f"vigil binary not found at {self.binary}; build it with "
                "`cargo build --release --bin vigil` or set VIGIL_BIN"
            )
        self.data_dir = Path(data_dir)
        self.scheme = scheme
        self.extra_args = list(extra_args)
        self.extra_args += _database_args(self.extra_args)
        self.proc = None
        self.port = None
        self.log_path = self.data_dir.parent / (self.data_dir.name + ".log")
        self.starts = 0

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        assert self.proc is None, "already running"
        self.starts += 1
        env = dict(os.environ)
        env["VIGIL_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        env.setdefault("VIGIL_LOG", "info")
        for k in ("VIGIL_CONFIG", "VIGIL_LISTEN", "VIGIL_DATA_DIR", "VIGIL_DATABASE_URL"):
            env.pop(k, None)
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        offset = log.tell()
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--listen",
                f"{self.scheme}://127.0.0.1:0",
                "--scanner-listen",
                "127.0.0.1:0",
                *self.extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
            m = LISTEN_RE.search(text)
            if m:
                assert m.group(1) == self.scheme
                self.port = int(m.group(3))
                break
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"vigil exited with {self.proc.returncode} during start:\n{text}"
                )
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"vigil did not announce its port within {timeout}s")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit status."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError("vigil did not stop within 30 s of SIGTERM")
        return proc.returncode

    def restart(self) -> None:
        """Stops the process and starts a new one on the same data dir (new port)."""
        self.stop()
        self.start()

    # -- clients -----------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def connection(self, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD, **kw) -> HostConnection:
        kw.setdefault("poll_interval", POLL_INTERVAL)
        kw.setdefault("poll_timeout", POLL_TIMEOUT)
        return HostConnection(
            self.host,
            username=user,
            password=password,
            verify=False,
            port=self.port,
            scheme=self.scheme,
            **kw,
        )

    def use_as_default(self) -> HostConnection:
        conn = self.connection()
        config.CONNECTION = conn
        return conn

    def session(self, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> "RawSession":
        return RawSession(self, user, password)


class RawSession(requests.Session):
    """requests.Session with Basic auth, verify=False and paths relative to the server."""

    def __init__(self, server: VigilServer, user: str, password: str):
        super().__init__()
        self.server = server
        self.auth = (user, password)
        self.verify = False

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.server.url(url)
        kwargs.setdefault("timeout", 30)
        # per request: Session.verify loses against REQUESTS_CA_BUNDLE in the environment
        kwargs.setdefault("verify", False)
        return super().request(method, url, *args, **kwargs)


def wait_job(session: requests.Session, job_href: str, timeout: float = 30.0) -> dict:
    """Polls a job by raw HTTP until it is terminal; returns its record."""
    deadline = time.monotonic() + timeout
    while True:
        r = session.get(job_href)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] in ("success", "failure"):
            return job
        assert time.monotonic() < deadline, f"job {job_href} still {job['state']}"
        time.sleep(0.1)


def unique(prefix: str) -> str:
    """A name that is unique per test run and valid as an SVM/schedule name."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared server; netapp_ontap.config.CONNECTION points at it as admin."""
    root = tmp_path_factory.mktemp("vigil")
    srv = VigilServer(root / "data")
    srv.start()
    srv.use_as_default()
    yield srv
    config.CONNECTION = None
    status = srv.stop()
    assert status == 0, f"vigil exited with status {status} after SIGTERM"


@pytest.fixture(autouse=True)
def _default_connection(server):
    """Every test starts with the admin connection of the shared server as default."""
    server.use_as_default()
    yield


@pytest.fixture
def fresh_server(tmp_path):
    """A private server over its own data dir, for restart tests. Restores the shared
    default connection afterwards (the autouse fixture runs first, so we set it back)."""
    srv = VigilServer(tmp_path / "data")
    srv.start()
    previous = config.CONNECTION
    yield srv
    config.CONNECTION = previous
    status = srv.stop()
    assert status == 0, f"vigil exited with status {status} after SIGTERM"


@pytest.fixture
def raw(server) -> RawSession:
    """An admin requests.Session against the shared server."""
    s = server.session()
    yield s
    s.close()


@pytest.fixture(scope="session")
def svm_factory(server):
    """Creates SVMs through raw HTTP (return_timeout so the job ends in the reply) and
    deletes those still present at the end of the session."""
    s = server.session()
    created = []

    def make(name=None, **fields):
        name = name or unique("svm")
        r = s.post("/api/svm/svms?return_timeout=30", json={"name": name, **fields})
        assert r.status_code in (200, 201), r.text
        uuid_ = r.headers["Location"].rsplit("/", 1)[1]
        created.append(uuid_)
        return {"uuid": uuid_, "name": name}

    yield make
    for u in created:
        s.delete(f"/api/svm/svms/{u}?return_timeout=30")
    s.close()


def pytest_report_header(config):
    database = os.environ.get("VIGIL_TEST_DATABASE", "sqlite")
    return f"vigil binary: {vigil_binary()}; database: {database}"


JOB_URL_RE = re.compile(r"/api/cluster/jobs/([0-9a-f-]{36})\?")


def polled_job_uuid(resp) -> str:
    """For a client call on an asynchronous endpoint: the client returns the response
    of its last job poll (`GET /api/cluster/jobs/<uuid>?fields=message,state`).
    Asserts that is what happened and that the job succeeded; returns the job uuid."""
    url = resp.http_response.url
    m = JOB_URL_RE.search(url)
    assert m, f"the client did not end by polling a job: {url}"
    assert "fields=message%2Cstate" in url, url
    body = resp.http_response.json()
    assert body["state"] == "success", body
    return m.group(1)
