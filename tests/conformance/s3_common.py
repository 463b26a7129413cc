"""Helpers shared by the S3 server tests (test_client_s3_service.py, test_s3_data.py).
Decisions tested are those of docs/s3.md; the contract is ../shared/spec/s3-service.md."""

import socket
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import unique

S3 = "/api/protocols/s3"


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's next ephemeral one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_url(svm_uuid: str) -> str:
    return f"{S3}/services/{svm_uuid}"


def make_service(raw, svm_uuid: str, **fields) -> dict:
    """POSTs an HTTP-only S3 server on a free port; returns the request body used."""
    body = {
        "svm": {"uuid": svm_uuid},
        "name": unique("s3").replace("_", "-"),
        "is_http_enabled": True,
        "is_https_enabled": False,
        "port": free_port(),
        **fields,
    }
    r = raw.post(f"{S3}/services", json=body)
    assert r.status_code == 201, r.text
    return body


def make_user(raw, svm_uuid: str, name: str, **fields) -> dict:
    r = raw.post(f"{S3}/services/{svm_uuid}/users", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["num_records"] == 1, body
    return body["records"][0]


def client(port: int, keys: dict, scheme: str = "http", **config):
    """A boto3 S3 client for a Vigil S3 server, path-style, with a user's keys."""
    return boto3.client(
        "s3",
        endpoint_url=f"{scheme}://127.0.0.1:{port}",
        aws_access_key_id=keys["access_key"],
        aws_secret_access_key=keys["secret_key"],
        region_name="us-east-1",
        verify=False,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": 1},
            connect_timeout=10,
            read_timeout=60,
            **config,
        ),
    )


def wait_listening(port: int, timeout: float = 30.0) -> None:
    """Waits until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.05)


def wait_closed(port: int, timeout: float = 30.0) -> None:
    """Waits until connections to the port are refused."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
        except OSError:
            return
        assert time.monotonic() < deadline, f"{port} still accepts connections"
        time.sleep(0.05)


def s3_error_code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


@pytest.fixture
def s3env(server, raw, svm_factory):
    """An SVM with an HTTP S3 server and one user: its port, keys, a boto3 client and the
    SVM root (buckets live under `<root>/.vigil-s3/<bucket uuid>`)."""
    svm = svm_factory()
    service = make_service(raw, svm["uuid"])
    keys = make_user(raw, svm["uuid"], "data-user")
    wait_listening(service["port"])
    root = Path(raw.get(f"/api/svm/svms/{svm['uuid']}?fields=root_path").json()["root_path"])
    yield {"svm": svm, "port": service["port"], "keys": keys, "s3": client(service["port"], keys), "root": root}
    raw.delete(service_url(svm["uuid"]))


def bucket_dir(raw, svm_uuid: str, root: Path, name: str) -> Path:
    """Where an `s3` bucket's objects are on disk."""
    r = raw.get(f"{S3}/services/{svm_uuid}/buckets?name={name}&fields=uuid")
    return root / ".vigil-s3" / r.json()["records"][0]["uuid"]
