"""A throwaway PostgreSQL server for the tests: Debian's postgresql package, `initdb`
in a temp dir, the server on a loopback port as the `postgres` user (it refuses
root), trust authentication, fsync off. The Rust twin is testkit::RealPostgres."""

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

AS_POSTGRES = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def bin_dir() -> Path:
    found = sorted(p / "bin" for p in Path("/usr/lib/postgresql").glob("*") if (p / "bin" / "initdb").exists())
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/install-test-deps.sh")
    return found[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RealPostgres:
    def __init__(self):
        self.bin = bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = free_port()
        self.proc = None
        subprocess.run(
            [*AS_POSTGRES, str(self.bin / "initdb"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--no-sync", "-D", str(self.data)],
            check=True, stdout=subprocess.DEVNULL,
        )
        self.start()

    def start(self):
        assert self.proc is None
        self.proc = subprocess.Popen(
            [*AS_POSTGRES, str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.dir),
             "-p", str(self.port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "max_connections=400"],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "server.log", "ab"),
        )
        deadline = time.monotonic() + 60
        while subprocess.run([str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode != 0:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.dir / 'server.log').read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not become ready in 60 s")
            time.sleep(0.1)

    def stop(self):
        """A fast shutdown: connections are cut, as in an outage."""
        if self.proc is None:
            return
        subprocess.run([*AS_POSTGRES, str(self.bin / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.data)],
                       stdout=subprocess.DEVNULL, check=False)
        self.proc.wait(timeout=60)
        self.proc = None

    def psql(self, database: str, sql: str) -> str:
        out = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-U", "postgres", "-p", str(self.port), "-d", database, "-c", sql],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()

    def new_database(self) -> str:
        """Creates an empty database; returns its URL."""
        name = "vigil_" + uuid.uuid4().hex[:12]
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
