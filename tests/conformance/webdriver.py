"""A small W3C WebDriver client over plain HTTP, driving Debian's headless Chromium
through chromedriver (packages `chromium` and `chromium-driver`). Only what the console
tests need: navigate, find, click, type, run a script, windows, screenshots."""

import base64
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1366,900",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("chromium is not installed: run scripts/install-test-deps.sh")


class Browser:
    """One chromedriver process and one browser session with a fresh profile."""

    def __init__(self, log_path: Path):
        driver = shutil.which("chromedriver")
        if not driver:
            raise RuntimeError("chromedriver is not installed: run scripts/install-test-deps.sh")
        self.port = _free_port()
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([driver, f"--port={self.port}"], stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        self.profile = tempfile.mkdtemp(prefix="vigil-chromium-")
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.base}/status", timeout=5).json()["value"]["ready"]:
                    break
            except (requests.ConnectionError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline, "chromedriver did not become ready"
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            # the server's certificate is self-signed
            "acceptInsecureCerts": True,
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}"],
            },
        }}}
        value = self._call("POST", "/session", caps, prefix="")
        self.sid = value["sessionId"]

    def _call(self, method, path, body=None, prefix=None):
        url = self.base + (f"/session/{self.sid}" if prefix is None else prefix) + path
        r = requests.request(method, url, json=body if body is not None else ({} if method == "POST" else None),
                             timeout=120)
        data = r.json()
        if r.status_code != 200:
            raise RuntimeError(f"WebDriver {method} {path}: {r.status_code} {data}")
        return data["value"]

    def close(self):
        try:
            self._call("DELETE", "")
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    # -- pages -------------------------------------------------------------------

    def get(self, url):
        self._call("POST", "/url", {"url": url})

    def url(self) -> str:
        return self._call("GET", "/url")

    def js(self, script, *args):
        """Runs `script` (a function body; `arguments` holds args) in the page."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        return self._call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in self._call("POST", "/elements", {"using": "css selector", "value": css})]

    def click(self, css):
        self._call("POST", f"/element/{self.find(css)}/click")

    def type(self, css, text):
        self._call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def text(self, css) -> str:
        return self._call("GET", f"/element/{self.find(css)}/text")

    def wait(self, what, probe, timeout=60):
        """Calls probe() until it returns something truthy; returns that."""
        deadline = time.monotonic() + timeout
        while True:
            got = probe()
            if got:
                return got
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    # -- windows -------------------------------------------------------------------

    def new_window(self) -> str:
        return self._call("POST", "/window/new", {"type": "tab"})["handle"]

    def window(self) -> str:
        return self._call("GET", "/window")

    def switch(self, handle):
        self._call("POST", "/window", {"handle": handle})

    def screenshot(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))
