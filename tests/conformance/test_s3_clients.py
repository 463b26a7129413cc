"""Real S3 clients, unchanged, against an SVM's S3 server: aws CLI (`aws s3` and
`aws s3api`, from the venv), rclone and s3cmd (Debian packages, installed by
scripts/install-test-deps.sh). Every test checks the bytes that come back."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from s3_common import s3env  # noqa: F401 (a fixture)

MiB = 1024 * 1024
VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def run(cmd: list, env: dict, timeout: float = 600) -> str:
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p.stdout


def fill(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def base_env(tmp_path: Path) -> dict:
    """The test's environment without anything that could point a client elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env["HOME"] = str(tmp_path / "home")
    Path(env["HOME"]).mkdir(exist_ok=True)
    return env


@pytest.fixture
def aws(s3env, tmp_path):
    exe = VENV_BIN / "aws"
    assert exe.exists(), "aws CLI is installed into .venv by scripts/install-test-deps.sh"
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = base_env(tmp_path) | {
        "AWS_ACCESS_KEY_ID": s3env["keys"]["access_key"],
        "AWS_SECRET_ACCESS_KEY": s3env["keys"]["secret_key"],
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }
    endpoint = f"http://127.0.0.1:{s3env['port']}"

    def call(*args, timeout=600):
        return run([str(exe), "--endpoint-url", endpoint, *args], env, timeout)

    return call


def test_aws_cli_s3_commands(aws, tmp_path):
    src = tmp_path / "src"
    small = fill(src / "small.txt", 1234)
    fill(src / "nested" / "a.bin", 70_000)
    fill(src / "nested" / "deeper" / "b.bin", 9 * MiB)
    aws("s3", "mb", "s3://cli-bucket")
    assert "cli-bucket" in aws("s3", "ls")

    aws("s3", "cp", str(src / "small.txt"), "s3://cli-bucket/dir/small.txt")
    listing = aws("s3", "ls", "s3://cli-bucket/dir/")
    assert "small.txt" in listing and "1234" in listing
    aws("s3", "cp", "s3://cli-bucket/dir/small.txt", str(tmp_path / "small.back"))
    assert (tmp_path / "small.back").read_bytes() == small

    # A >100 MiB object: aws s3 cp goes multipart (8 MiB parts) both ways.
    big = fill(tmp_path / "big.bin", 101 * MiB + 7)
    aws("s3", "cp", str(tmp_path / "big.bin"), "s3://cli-bucket/big.bin")
    aws("s3", "cp", "s3://cli-bucket/big.bin", str(tmp_path / "big.back"))
    assert hashlib.sha256((tmp_path / "big.back").read_bytes()).digest() == hashlib.sha256(big).digest()
    head = json.loads(aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "big.bin"))
    assert head["ContentLength"] == len(big) and head["ETag"].endswith('-13"'), head

    aws("s3", "sync", str(src), "s3://cli-bucket/synced/")
    back = tmp_path / "synced-back"
    aws("s3", "sync", "s3://cli-bucket/synced/", str(back))
    assert tree(back) == tree(src)
    # A second sync has nothing to do.
    assert aws("s3", "sync", str(src), "s3://cli-bucket/synced/").strip() == ""

    aws("s3", "rm", "s3://cli-bucket/dir/small.txt")
    assert "dir/small.txt" not in aws("s3", "ls", "--recursive", "s3://cli-bucket")
    aws("s3", "rm", "--recursive", "s3://cli-bucket/")
    assert aws("s3", "ls", "--recursive", "s3://cli-bucket").strip() == ""
    aws("s3", "rb", "s3://cli-bucket")
    assert "cli-bucket" not in aws("s3", "ls")


def test_aws_cli_s3api_calls(aws, tmp_path):
    body = fill(tmp_path / "body.bin", 50_000)
    aws("s3api", "create-bucket", "--bucket", "api-bucket")
    put = json.loads(aws(
        "s3api", "put-object", "--bucket", "api-bucket", "--key", "k/one", "--body", str(tmp_path / "body.bin"),
        "--content-type", "application/x-api", "--metadata", "who=cli", "--tagging", "t=1",
    ))
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    out = tmp_path / "got.bin"
    got = json.loads(aws("s3api", "get-object", "--bucket", "api-bucket", "--key", "k/one", str(out)))
    assert out.read_bytes() == body
    assert got["ContentType"] == "application/x-api" and got["Metadata"] == {"who": "cli"}
    aws("s3api", "copy-object", "--bucket", "api-bucket", "--key", "k/two", "--copy-source", "api-bucket/k/one")
    tags = json.loads(aws("s3api", "get-object-tagging", "--bucket", "api-bucket", "--key", "k/two"))
    assert tags["TagSet"] == [{"Key": "t", "Value": "1"}]
    listed = json.loads(aws("s3api", "list-objects-v2", "--bucket", "api-bucket", "--prefix", "k/"))
    assert [o["Key"] for o in listed["Contents"]] == ["k/one", "k/two"]
    v1 = json.loads(aws("s3api", "list-objects", "--bucket", "api-bucket"))
    assert [o["Key"] for o in v1["Contents"]] == ["k/one", "k/two"]
    deleted = json.loads(aws(
        "s3api", "delete-objects", "--bucket", "api-bucket",
        "--delete", json.dumps({"Objects": [{"Key": "k/one"}, {"Key": "k/two"}]}),
    ))
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["k/one", "k/two"]
    aws("s3api", "delete-bucket", "--bucket", "api-bucket")


@pytest.fixture
def rclone(s3env, tmp_path):
    exe = shutil.which("rclone")
    assert exe, "rclone is installed by scripts/install-test-deps.sh"
    env = base_env(tmp_path) | {
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
        "RCLONE_CONFIG_VIGIL_TYPE": "s3",
        "RCLONE_CONFIG_VIGIL_PROVIDER": "Other",
        "RCLONE_CONFIG_VIGIL_ACCESS_KEY_ID": s3env["keys"]["access_key"],
        "RCLONE_CONFIG_VIGIL_SECRET_ACCESS_KEY": s3env["keys"]["secret_key"],
        "RCLONE_CONFIG_VIGIL_ENDPOINT": f"http://127.0.0.1:{s3env['port']}",
        "RCLONE_CONFIG_VIGIL_REGION": "us-east-1",
        "RCLONE_CONFIG_VIGIL_FORCE_PATH_STYLE": "true",
        # Small chunks so that the larger file goes through multipart.
        "RCLONE_S3_UPLOAD_CUTOFF": "5M",
        "RCLONE_S3_CHUNK_SIZE": "5M",
    }

    def call(*args):
        return run([exe, *args], env)

    return call


# rclone (Go) reads the clock without libc, so under faketime its signatures are 400
# days behind the server's clock and refused as skewed.
@pytest.mark.real_clock
def test_rclone_copy_ls_check_delete(rclone, tmp_path):
    src = tmp_path / "src"
    fill(src / "one.txt", 100)
    fill(src / "sub" / "two.bin", 64_000)
    fill(src / "sub" / "large.bin", 12 * MiB + 3)
    rclone("mkdir", "vigil:rclone-bucket")
    rclone("copy", str(src), "vigil:rclone-bucket/data")
    listing = rclone("ls", "vigil:rclone-bucket")
    for name, size in [("data/one.txt", 100), ("data/sub/two.bin", 64_000), ("data/sub/large.bin", 12 * MiB + 3)]:
        assert f"{size} {name}" in " ".join(listing.split()), listing
    rclone("check", str(src), "vigil:rclone-bucket/data")
    back = tmp_path / "back"
    rclone("copy", "vigil:rclone-bucket/data", str(back))
    assert tree(back) == tree(src)
    rclone("delete", "vigil:rclone-bucket/data/sub")
    assert [line.split()[-1] for line in rclone("ls", "vigil:rclone-bucket").splitlines()] == ["data/one.txt"]
    rclone("purge", "vigil:rclone-bucket")
    assert "rclone-bucket" not in rclone("lsd", "vigil:")


@pytest.fixture
def s3cmd(s3env, tmp_path):
    exe = shutil.which("s3cmd")
    assert exe, "s3cmd is installed by scripts/install-test-deps.sh"
    host = f"127.0.0.1:{s3env['port']}"
    config = tmp_path / "s3cfg"
    # host_bucket without %(bucket)s: path-style requests.
    config.write_text(
        "[default]\n"
        f"access_key = {s3env['keys']['access_key']}\n"
        f"secret_key = {s3env['keys']['secret_key']}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        "bucket_location = us-east-1\n"
        "use_https = False\n"
        "signature_v2 = False\n"
    )
    env = base_env(tmp_path)

    def call(*args):
        return run([exe, "-c", str(config), *args], env)

    return call


def test_s3cmd_put_get_ls_del(s3cmd, tmp_path):
    small = fill(tmp_path / "small.txt", 4321)
    # Above s3cmd's 15 MiB multipart chunk: a multipart upload.
    large = fill(tmp_path / "large.bin", 20 * MiB + 11)
    s3cmd("mb", "s3://s3cmd-bucket")
    assert "s3://s3cmd-bucket" in s3cmd("ls")
    s3cmd("put", str(tmp_path / "small.txt"), "s3://s3cmd-bucket/dir/small.txt")
    s3cmd("put", str(tmp_path / "large.bin"), "s3://s3cmd-bucket/large.bin")
    listing = s3cmd("ls", "--recursive", "s3://s3cmd-bucket")
    assert "s3://s3cmd-bucket/dir/small.txt" in listing and "s3://s3cmd-bucket/large.bin" in listing
    s3cmd("get", "s3://s3cmd-bucket/dir/small.txt", str(tmp_path / "small.back"))
    s3cmd("get", "s3://s3cmd-bucket/large.bin", str(tmp_path / "large.back"))
    assert (tmp_path / "small.back").read_bytes() == small
    assert (tmp_path / "large.back").read_bytes() == large
    s3cmd("del", "s3://s3cmd-bucket/dir/small.txt", "s3://s3cmd-bucket/large.bin")
    assert "s3cmd-bucket/" not in s3cmd("ls", "--recursive", "s3://s3cmd-bucket")
    s3cmd("rb", "s3://s3cmd-bucket")
