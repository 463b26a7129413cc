"""The Debian package (issue 19): `packaging/build-deb.sh` packages the release binary the
suite tests ($VIGIL_BIN), `dpkg -i` installs it on this machine, and, since systemd is not
PID 1 here, the installed unit's `ExecStart` line runs as the unit's `User=` and serves
`/api/cluster` to the admin password its first start printed. `dpkg -r` keeps
/var/lib/vigil; `dpkg --purge` deletes it.

The test changes the machine (a package, the `vigil` system user, /var/lib/vigil): it
runs as root, one run at a time (a lock), refuses to replace an install it did not make,
and purges the package whatever happens. The `vigil` user stays, as Debian packages
leave their system users."""

import fcntl
import os
import pwd
import re
import shlex
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO, vigil_binary

PACKAGE = "vigil"
UNIT = Path("/usr/lib/systemd/system/vigil.service")
WANTS = Path("/etc/systemd/system/multi-user.target.wants/vigil.service")
DATA = Path("/var/lib/vigil")
LOCK = Path("/tmp/vigil-package-test.lock")
LISTENING = re.compile(r"vigil: listening on https://127\.0\.0\.1:(\d+)")
PASSWORD = re.compile(r'vigil: created account "admin" with password (\S+)')


def dpkg(*args) -> subprocess.CompletedProcess:
    """dpkg, waiting (boundedly) while another dpkg or apt holds the dpkg lock."""
    deadline = time.monotonic() + 300
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    while True:
        r = subprocess.run(["dpkg", *args], capture_output=True, text=True, env=env)
        if r.returncode != 0 and "locked" in r.stderr and time.monotonic() < deadline:
            time.sleep(1)
            continue
        return r


def status() -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", PACKAGE], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else "not-installed"


def unit_settings(path: Path) -> dict:
    """The `[Service]` settings of a unit file: {key: value}, the last one winning."""
    settings, section = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


class Installed:
    """The package's lifecycle on this machine; the server the test starts from its unit."""

    def __init__(self, deb: Path, log: Path):
        self.deb = deb
        self.log = log
        self.proc = None

    def start(self, exec_start, user: pwd.struct_passwd, umask: int) -> subprocess.Popen:
        # What systemd gives a system service: a clean environment, its user's identity
        # and groups, no new privileges, the unit's umask, the root directory.
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": user.pw_dir,
            "USER": user.pw_name,
            "LOGNAME": user.pw_name,
        }
        setpriv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--no-new-privs", "--"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*setpriv, *exec_start], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env=env, cwd="/", umask=umask,
            )
        return self.proc

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, pattern: re.Pattern) -> re.Match:
        deadline = time.monotonic() + 60
        while True:
            found = pattern.search(self.output())
            if found:
                return found
            assert self.proc.poll() is None, f"vigil exited with {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"vigil printed no {pattern.pattern!r}:\n{self.output()}"
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        dpkg("--purge", PACKAGE)


@pytest.fixture
def package(tmp_path):
    assert os.geteuid() == 0, "this test installs a Debian package: run the suite as root (scripts/test-all.sh does)"
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert status() in ("not-installed", "unknown ok not-installed", "deinstall ok not-installed"), (
            f"the vigil package is on this machine already ({status()}); the test would replace it: dpkg --purge vigil"
        )
        assert not DATA.exists(), f"{DATA} exists without the package; the test would take it over"
        built = subprocess.run(
            [str(REPO / "packaging/build-deb.sh"), "--bin", str(vigil_binary()), "--out", str(tmp_path)],
            capture_output=True, text=True,
        )
        assert built.returncode == 0, built.stderr
        deb = Path(built.stdout.strip().splitlines()[-1])
        installed = Installed(deb, tmp_path / "vigil.log")
        try:
            yield installed
        finally:
            installed.cleanup()


def test_the_package_installs_a_service_that_serves_and_keeps_its_data(package):
    binary_version = subprocess.run([str(vigil_binary()), "--version"], capture_output=True, text=True).stdout.split()[1]
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    assert package.deb.name == f"vigil_{binary_version}_{arch}.deb"
    fields = subprocess.run(["dpkg-deb", "-f", str(package.deb), "Package", "Version", "Depends"], capture_output=True, text=True)
    assert fields.returncode == 0, fields.stderr
    assert f"Version: {binary_version}" in fields.stdout and "libc6" in fields.stdout, fields.stdout
    contents = subprocess.run(["dpkg-deb", "-c", str(package.deb)], capture_output=True, text=True).stdout
    for path in ("./usr/bin/vigil", f".{UNIT}", "./etc/vigil/vigil.toml", "./usr/share/doc/vigil/copyright"):
        assert f" {path}\n" in contents, (path, contents)

    # 1. dpkg -i: the user, the data directory, the enabled unit
    r = dpkg("-i", str(package.deb))
    assert r.returncode == 0, r.stdout + r.stderr
    assert status() == "install ok installed"
    user = pwd.getpwnam("vigil")
    assert user.pw_uid < 1000 and user.pw_shell.endswith("nologin"), user
    info = DATA.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (user.pw_uid, user.pw_gid, 0o750)
    assert WANTS.resolve() == UNIT.resolve()
    verified = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True)
    assert verified.returncode == 0 and "vigil.service" not in verified.stderr, verified.stderr

    # 2. the unit's ExecStart as its user, on a port of its own: the options file the
    # unit names says where to listen, as an admin would set it
    unit = unit_settings(UNIT)
    assert (unit["User"], unit["NoNewPrivileges"], unit["ProtectSystem"]) == ("vigil", "yes", "strict"), unit
    assert unit["CapabilityBoundingSet"] == "", "the base unit grants no capability"
    exec_start = shlex.split(unit["ExecStart"])
    assert exec_start[:2] == ["/usr/bin/vigil", "serve"], exec_start
    assert exec_start[exec_start.index("--data-dir") + 1] == str(DATA), exec_start
    config = Path(exec_start[exec_start.index("--config") + 1])
    text = config.read_text()
    assert re.search(r'^listen = "https://127\.0\.0\.1:8443"$', text, re.M), text
    config.write_text(re.sub(r"^listen = .*$", 'listen = "https://127.0.0.1:0"', text, flags=re.M)
                      + 'scanner_listen = "127.0.0.1:0"\n')
    package.start(exec_start, user, int(unit["UMask"], 8))
    port = int(package.wait_for(LISTENING).group(1))
    password = package.wait_for(PASSWORD).group(1)
    url = f"https://127.0.0.1:{port}/api/cluster"
    r = requests.get(url, auth=("admin", password), verify=False, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "vigil" and r.json()["uuid"], r.json()
    assert requests.get(url, auth=("admin", password + "x"), verify=False, timeout=30).status_code == 401
    assert package.stop() == 0, package.output()
    made = sorted(p.name for p in DATA.iterdir())
    assert "vigil.db" in made, made
    assert all(p.stat().st_uid == user.pw_uid for p in DATA.iterdir()), made

    # 3. dpkg -r: the program goes, the data and the options stay
    r = dpkg("-r", PACKAGE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert status() == "deinstall ok config-files"
    assert not Path("/usr/bin/vigil").exists() and not UNIT.exists()
    assert sorted(p.name for p in DATA.iterdir()) == made
    assert config.exists()

    # 4. dpkg --purge: the data directory goes too
    r = dpkg("--purge", PACKAGE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not DATA.exists() and not config.exists()
    assert not WANTS.is_symlink()
