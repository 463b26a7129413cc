"""NetApp's own automation against Vigil: the `netapp.ontap` Ansible collection (from
the `ansible` package, installed by scripts/install-test-deps.sh) run as real
`ansible-playbook` processes over HTTPS (`use_rest: always`, `validate_certs: false`).

Each step is a one-task playbook written by `Ansible.run` (tests/ansible/step.yml.j2
is the template it fills); the result comes back through the `ansible.posix.json`
callback and the state it left is checked over REST. Every module goes through
create (check mode first), an idempotent re-run (`changed: false`), modify (check
mode first) and delete, where the module has one.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER, unique

# Playbooks send and check no dates: they run once, with the real clock.
pytestmark = pytest.mark.no_dates

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "tests" / "ansible" / "step.yml.j2"
MODULE_PREFIX = "netapp.ontap."


def ansible_playbook() -> str:
    """The `ansible-playbook` next to this interpreter (the test venv)."""
    path = Path(sys.executable).parent / "ansible-playbook"
    if path.is_file():
        return str(path)
    found = shutil.which("ansible-playbook")
    assert found, "ansible-playbook is not installed: run scripts/install-test-deps.sh"
    return found


class Ansible:
    """Runs one netapp.ontap task against a Vigil server and returns its result."""

    def __init__(self, server, workdir: Path):
        self.server = server
        self.workdir = workdir
        self.count = 0
        self.template = TEMPLATE.read_text()

    def run(self, module: str, args: dict, check: bool = False, user=ADMIN_USER,
            password=ADMIN_PASSWORD, expect_failure: bool = False) -> dict:
        self.count += 1
        playbook = self.workdir / f"step{self.count:03d}.yml"
        task = {"name": module, MODULE_PREFIX + module: args, "check_mode": check}
        playbook.write_text(
            self.template
            .replace("@@PORT@@", str(self.server.port))
            .replace("@@USER@@", json.dumps(user))
            .replace("@@PASSWORD@@", json.dumps(password))
            .replace("@@PYTHON@@", json.dumps(sys.executable))
            # JSON is YAML: the task's arguments need no escaping of their own.
            .replace("@@TASK@@", json.dumps(task))
        )
        env = dict(os.environ)
        env.update({
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_LOCAL_TEMP": str(self.workdir / "tmp"),
            "ANSIBLE_REMOTE_TEMP": str(self.workdir / "tmp"),
            "ANSIBLE_HOME": str(self.workdir / "home"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
        })
        env.pop("ANSIBLE_CONFIG", None)
        proc = subprocess.run(
            [ansible_playbook(), "-i", "localhost,", str(playbook)],
            cwd=self.workdir, env=env, capture_output=True, text=True, timeout=300,
        )
        try:
            report = json.loads(proc.stdout)
            result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            pytest.fail(f"ansible-playbook gave no result (rc {proc.returncode}):\n"
                        f"{proc.stdout}\n{proc.stderr}")
        failed = bool(result.get("failed"))
        assert failed == expect_failure, (
            f"{module} {args} (check={check}): {json.dumps(result, indent=1)[:4000]}"
        )
        return result


@pytest.fixture(scope="module")
def ansible(server, tmp_path_factory):
    return Ansible(server, tmp_path_factory.mktemp("ansible"))


def svm_record(raw, name, fields="comment,state,language"):
    r = raw.get("/api/svm/svms", params={"name": name, "fields": fields})
    assert r.status_code == 200, r.text
    records = r.json()["records"]
    return records[0] if records else None


def cluster_name(raw):
    return raw.get("/api/cluster?fields=name").json()["name"]


@pytest.fixture(scope="module")
def vscan_svm(server, svm_factory):
    """A data SVM with a namespace holding the directories on-demand tasks name."""
    svm = svm_factory(unique("ans"))
    root = server.data_dir / "svms" / svm["name"]
    for d in ("reports", "data", "data2"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return svm


# -- na_ontap_svm -----------------------------------------------------------------


def test_svm(ansible, raw):
    name = unique("ansvm")
    args = {"name": name, "comment": "made by ansible", "language": "c.utf_8"}
    # check mode: reported as a change, nothing created
    assert ansible.run("na_ontap_svm", args, check=True)["changed"] is True
    assert svm_record(raw, name) is None
    assert ansible.run("na_ontap_svm", args)["changed"] is True
    rec = svm_record(raw, name)
    assert rec["comment"] == "made by ansible" and rec["state"] == "running"
    assert rec["language"] == "c.utf_8"
    # idempotent re-run
    assert ansible.run("na_ontap_svm", args)["changed"] is False
    # modify, check mode first
    args["comment"] = "changed by ansible"
    assert ansible.run("na_ontap_svm", args, check=True)["changed"] is True
    assert svm_record(raw, name)["comment"] == "made by ansible"
    assert ansible.run("na_ontap_svm", args)["changed"] is True
    assert svm_record(raw, name)["comment"] == "changed by ansible"
    assert ansible.run("na_ontap_svm", args)["changed"] is False
    # admin_state: stop, then start again
    stopped = dict(args, admin_state="stopped")
    assert ansible.run("na_ontap_svm", stopped)["changed"] is True
    assert svm_record(raw, name)["state"] == "stopped"
    assert ansible.run("na_ontap_svm", stopped)["changed"] is False
    assert ansible.run("na_ontap_svm", dict(args, admin_state="running"))["changed"] is True
    assert svm_record(raw, name)["state"] == "running"
    # rename through from_name
    new_name = name + "_r"
    renamed = dict(args, name=new_name, from_name=name)
    assert ansible.run("na_ontap_svm", renamed)["changed"] is True
    assert svm_record(raw, name) is None and svm_record(raw, new_name) is not None
    # delete: check mode, then for real, then again (nothing to do)
    gone = {"name": new_name, "state": "absent"}
    assert ansible.run("na_ontap_svm", gone, check=True)["changed"] is True
    assert svm_record(raw, new_name) is not None
    assert ansible.run("na_ontap_svm", gone)["changed"] is True
    assert svm_record(raw, new_name) is None
    assert ansible.run("na_ontap_svm", gone)["changed"] is False


# -- Vscan ------------------------------------------------------------------------


def pool(raw, svm, name):
    r = raw.get(f"/api/protocols/vscan/{svm['uuid']}/scanner-pools/{name}",
                params={"fields": "servers,privileged_users,role"})
    return r.json() if r.status_code == 200 else None


def test_vscan_scanner_pool(ansible, raw, vscan_svm):
    svm = vscan_svm
    args = {"vserver": svm["name"], "scanner_pool": "ans_pool", "hostnames": ["127.0.0.1"],
            "privileged_users": ["cifs\\vscan"], "scanner_policy": "primary"}
    assert ansible.run("na_ontap_vscan_scanner_pool", args, check=True)["changed"] is True
    assert pool(raw, svm, "ans_pool") is None
    assert ansible.run("na_ontap_vscan_scanner_pool", args)["changed"] is True
    p = pool(raw, svm, "ans_pool")
    assert p["servers"] == ["127.0.0.1"] and p["role"] == "primary"
    assert p["privileged_users"] == ["cifs\\vscan"]
    assert ansible.run("na_ontap_vscan_scanner_pool", args)["changed"] is False
    args.update(hostnames=["127.0.0.1", "127.0.0.2"], scanner_policy="secondary")
    assert ansible.run("na_ontap_vscan_scanner_pool", args, check=True)["changed"] is True
    assert pool(raw, svm, "ans_pool")["role"] == "primary"
    assert ansible.run("na_ontap_vscan_scanner_pool", args)["changed"] is True
    p = pool(raw, svm, "ans_pool")
    assert p["servers"] == ["127.0.0.1", "127.0.0.2"] and p["role"] == "secondary"
    assert ansible.run("na_ontap_vscan_scanner_pool", args)["changed"] is False
    gone = {"vserver": svm["name"], "scanner_pool": "ans_pool", "state": "absent"}
    assert ansible.run("na_ontap_vscan_scanner_pool", gone, check=True)["changed"] is True
    assert pool(raw, svm, "ans_pool") is not None
    assert ansible.run("na_ontap_vscan_scanner_pool", gone)["changed"] is True
    assert pool(raw, svm, "ans_pool") is None
    assert ansible.run("na_ontap_vscan_scanner_pool", gone)["changed"] is False


def on_access(raw, svm, name):
    r = raw.get(f"/api/protocols/vscan/{svm['uuid']}/on-access-policies/{name}",
                params={"fields": "*"})
    return r.json() if r.status_code == 200 else None


def test_vscan_on_access_policy(ansible, raw, vscan_svm):
    svm = vscan_svm
    args = {"vserver": svm["name"], "policy_name": "ans_oa", "file_ext_to_exclude": ["tmp"],
            "max_file_size": 1048576, "is_scan_mandatory": False, "policy_status": False,
            "scan_readonly_volumes": True, "paths_to_exclude": ["\\archive"]}
    assert ansible.run("na_ontap_vscan_on_access_policy", args, check=True)["changed"] is True
    assert on_access(raw, svm, "ans_oa") is None
    assert ansible.run("na_ontap_vscan_on_access_policy", args)["changed"] is True
    p = on_access(raw, svm, "ans_oa")
    assert p["enabled"] is False and p["mandatory"] is False
    assert p["scope"]["max_file_size"] == 1048576
    assert p["scope"]["exclude_extensions"] == ["tmp"]
    assert p["scope"]["scan_readonly_volumes"] is True
    assert p["scope"]["exclude_paths"] == ["\\archive"]
    assert ansible.run("na_ontap_vscan_on_access_policy", args)["changed"] is False
    # modify: sent as dotted keys (scope.max_file_size, ...)
    args.update(max_file_size=2097152, file_ext_to_exclude=["tmp", "bak"], only_execute_access=True)
    assert ansible.run("na_ontap_vscan_on_access_policy", args, check=True)["changed"] is True
    assert on_access(raw, svm, "ans_oa")["scope"]["max_file_size"] == 1048576
    assert ansible.run("na_ontap_vscan_on_access_policy", args)["changed"] is True
    p = on_access(raw, svm, "ans_oa")
    assert p["scope"]["max_file_size"] == 2097152
    assert p["scope"]["exclude_extensions"] == ["tmp", "bak"]
    assert p["scope"]["only_execute_access"] is True
    assert ansible.run("na_ontap_vscan_on_access_policy", args)["changed"] is False
    gone = {"vserver": svm["name"], "policy_name": "ans_oa", "state": "absent"}
    assert ansible.run("na_ontap_vscan_on_access_policy", gone, check=True)["changed"] is True
    assert on_access(raw, svm, "ans_oa") is not None
    assert ansible.run("na_ontap_vscan_on_access_policy", gone)["changed"] is True
    assert on_access(raw, svm, "ans_oa") is None
    assert ansible.run("na_ontap_vscan_on_access_policy", gone)["changed"] is False


def on_demand(raw, svm, name):
    r = raw.get(f"/api/protocols/vscan/{svm['uuid']}/on-demand-policies/{name}",
                params={"fields": "*"})
    return r.json() if r.status_code == 200 else None


def test_vscan_on_demand_task(ansible, raw, vscan_svm):
    svm = vscan_svm
    args = {"vserver": svm["name"], "task_name": "ans_od", "report_directory": "/reports",
            "scan_paths": ["/data"], "file_ext_to_exclude": ["iso"], "max_file_size": 10485760,
            "scan_files_with_no_ext": True}
    assert ansible.run("na_ontap_vscan_on_demand_task", args, check=True)["changed"] is True
    assert on_demand(raw, svm, "ans_od") is None
    assert ansible.run("na_ontap_vscan_on_demand_task", args)["changed"] is True
    p = on_demand(raw, svm, "ans_od")
    assert p["log_path"] == "/reports" and p["scan_paths"] == ["/data"]
    assert p["scope"]["exclude_extensions"] == ["iso"]
    assert p["scope"]["max_file_size"] == 10485760
    assert ansible.run("na_ontap_vscan_on_demand_task", args)["changed"] is False
    # The module has no modify: a changed task is reported as an error (its own rule).
    gone = {"vserver": svm["name"], "task_name": "ans_od", "state": "absent"}
    assert ansible.run("na_ontap_vscan_on_demand_task", gone, check=True)["changed"] is True
    assert on_demand(raw, svm, "ans_od") is not None
    assert ansible.run("na_ontap_vscan_on_demand_task", gone)["changed"] is True
    assert on_demand(raw, svm, "ans_od") is None
    assert ansible.run("na_ontap_vscan_on_demand_task", gone)["changed"] is False
    # create again with other settings: the module deletes nothing and creates anew
    args.update(task_name="ans_od2", scan_paths=["/data", "/data2"])
    assert ansible.run("na_ontap_vscan_on_demand_task", args)["changed"] is True
    assert on_demand(raw, svm, "ans_od2")["scan_paths"] == ["/data", "/data2"]
    assert ansible.run("na_ontap_vscan_on_demand_task", args)["changed"] is False


def vscan_enabled(raw, svm):
    r = raw.get(f"/api/protocols/vscan/{svm['uuid']}", params={"fields": "enabled"})
    assert r.status_code == 200, r.text
    return r.json()["enabled"]


def test_vscan(ansible, raw, vscan_svm):
    svm = vscan_svm
    # enabling needs an active pool (default_CIFS, inherited, is enabled)
    ansible.run("na_ontap_vscan_scanner_pool", {
        "vserver": svm["name"], "scanner_pool": "ans_vscan_pool", "hostnames": ["127.0.0.1"],
        "privileged_users": ["cifs\\vscan"], "scanner_policy": "primary"})
    on = {"vserver": svm["name"], "enable": True}
    assert ansible.run("na_ontap_vscan", on, check=True)["changed"] is True
    assert vscan_enabled(raw, svm) is False
    assert ansible.run("na_ontap_vscan", on)["changed"] is True
    assert vscan_enabled(raw, svm) is True
    assert ansible.run("na_ontap_vscan", on)["changed"] is False
    off = {"vserver": svm["name"], "enable": False}
    assert ansible.run("na_ontap_vscan", off, check=True)["changed"] is True
    assert vscan_enabled(raw, svm) is True
    assert ansible.run("na_ontap_vscan", off)["changed"] is True
    assert vscan_enabled(raw, svm) is False
    assert ansible.run("na_ontap_vscan", off)["changed"] is False


# -- accounts -----------------------------------------------------------------------


def account(raw, name):
    r = raw.get("/api/security/accounts", params={"name": name, "fields": "*"})
    assert r.status_code == 200, r.text
    records = r.json()["records"]
    return records[0] if records else None


def can_log_in(server, name, password):
    s = server.session(name, password)
    try:
        return s.get("/api/cluster").status_code == 200
    finally:
        s.close()


def test_user(ansible, raw, server):
    name = unique("ansuser")
    password = "Ansible-Pass-1"
    args = {"name": name, "role_name": "readonly", "set_password": password,
            "application_dicts": [
                {"application": "http", "authentication_methods": ["password"]},
                {"application": "ontapi", "authentication_methods": ["password"]},
            ]}
    assert ansible.run("na_ontap_user", args, check=True)["changed"] is True
    assert account(raw, name) is None
    assert ansible.run("na_ontap_user", args)["changed"] is True
    rec = account(raw, name)
    assert rec["role"]["name"] == "readonly" and rec["scope"] == "cluster"
    assert sorted(a["application"] for a in rec["applications"]) == ["http", "ontapi"]
    assert can_log_in(server, name, password)
    # re-run: the same password is refused as reused, which the module reads as no change
    assert ansible.run("na_ontap_user", args)["changed"] is False
    # modify: role and applications, then the password
    args.update(role_name="admin", application_dicts=[
        {"application": "http", "authentication_methods": ["password"]}])
    assert ansible.run("na_ontap_user", args, check=True)["changed"] is True
    assert account(raw, name)["role"]["name"] == "readonly"
    assert ansible.run("na_ontap_user", args)["changed"] is True
    rec = account(raw, name)
    assert rec["role"]["name"] == "admin"
    assert [a["application"] for a in rec["applications"]] == ["http"]
    assert ansible.run("na_ontap_user", args)["changed"] is False
    args["set_password"] = "Ansible-Pass-2"
    assert ansible.run("na_ontap_user", args)["changed"] is True
    assert can_log_in(server, name, "Ansible-Pass-2")
    assert not can_log_in(server, name, password)
    # lock, then unlock
    assert ansible.run("na_ontap_user", dict(args, lock_user=True))["changed"] is True
    assert account(raw, name)["locked"] is True
    assert not can_log_in(server, name, "Ansible-Pass-2")
    assert ansible.run("na_ontap_user", dict(args, lock_user=False))["changed"] is True
    assert account(raw, name)["locked"] is False
    gone = {"name": name, "state": "absent", "application_dicts": args["application_dicts"]}
    assert ansible.run("na_ontap_user", gone, check=True)["changed"] is True
    assert account(raw, name) is not None
    assert ansible.run("na_ontap_user", gone)["changed"] is True
    assert account(raw, name) is None
    assert ansible.run("na_ontap_user", gone)["changed"] is False


def test_user_of_an_svm(ansible, raw, server, vscan_svm):
    name = unique("ansvs")
    args = {"name": name, "vserver": vscan_svm["name"], "role_name": "vsadmin",
            "set_password": "Ansible-Vs-1",
            "application_dicts": [{"application": "http", "authentication_methods": ["password"]}]}
    assert ansible.run("na_ontap_user", args)["changed"] is True
    rec = account(raw, name)
    assert rec["owner"]["name"] == vscan_svm["name"] and rec["scope"] == "svm"
    assert ansible.run("na_ontap_user", args)["changed"] is False
    gone = {"name": name, "vserver": vscan_svm["name"], "state": "absent",
            "application_dicts": args["application_dicts"]}
    assert ansible.run("na_ontap_user", gone)["changed"] is True
    assert account(raw, name) is None


# -- na_ontap_rest_info ------------------------------------------------------------


def test_rest_info(ansible, raw, vscan_svm):
    subsets = ["vscan_info", "svm/svms", "cluster", "cluster/nodes", "cluster/jobs",
               "security/accounts"]
    info = ansible.run("na_ontap_rest_info", {"gather_subset": subsets})["ontap_info"]
    for key in ("protocols/vscan", "svm/svms", "cluster", "cluster/nodes", "cluster/jobs",
                "security/accounts"):
        assert key in info, sorted(info)
        assert "error" not in info[key], info[key]
    assert vscan_svm["name"] in [r["name"] for r in info["svm/svms"]["records"]]
    assert vscan_svm["uuid"] in [r["svm"]["uuid"] for r in info["protocols/vscan"]["records"]]
    assert info["cluster"]["name"] == cluster_name(raw)
    assert info["cluster/nodes"]["num_records"] == 1
    assert ADMIN_USER in [r["name"] for r in info["security/accounts"]["records"]]
    # every field of every record (fields=*), as the module asks with `fields: ['*']`
    info = ansible.run("na_ontap_rest_info", {"gather_subset": ["svm/svms"], "fields": ["*"]})
    rec = [r for r in info["ontap_info"]["svm/svms"]["records"] if r["name"] == vscan_svm["name"]][0]
    assert rec["aggregates"] == [] and rec["ipspace"]["name"] == "Default"
    assert rec["nfs"] == {"enabled": False, "allowed": False}
    # the vscan sub-collections need an owning SVM
    info = ansible.run("na_ontap_rest_info", {
        "gather_subset": ["protocols/vscan/on-access-policies", "protocols/vscan/scanner-pools"],
        "owning_resource": {"svm_name": vscan_svm["name"]}})["ontap_info"]
    names = [r["name"] for r in info["protocols/vscan/on-access-policies"]["records"]]
    assert "default_CIFS" in names


# -- na_ontap_restit ---------------------------------------------------------------


def test_restit(ansible, raw):
    got = ansible.run("na_ontap_restit", {"api": "cluster", "query": {"fields": "name,version"}})
    assert got["response"]["name"] == cluster_name(raw)
    assert got["changed"] is False
    name = unique("ansrestit")
    made = ansible.run("na_ontap_restit", {
        "api": "svm/svms", "method": "POST", "body": {"name": name, "comment.x": 1}},
        expect_failure=True)
    assert "262179" in json.dumps(made), made
    made = ansible.run("na_ontap_restit", {
        "api": "svm/svms", "method": "POST", "body": {"name": name, "comment": "via restit"},
        "wait_for_completion": True})
    assert made["changed"] is True
    rec = svm_record(raw, name)
    assert rec["comment"] == "via restit"
    uuid_ = rec["uuid"]
    # PATCH on the instance with a query term that restates it, as automation does
    patched = ansible.run("na_ontap_restit", {
        "api": f"svm/svms/{uuid_}", "method": "PATCH", "query": {"name": name},
        "body": {"comment": "patched"}, "wait_for_completion": True})
    assert patched["changed"] is True
    assert svm_record(raw, name)["comment"] == "patched"
    # a query term that does not match: the instance is not found, nothing changes
    ansible.run("na_ontap_restit", {
        "api": f"svm/svms/{uuid_}", "method": "PATCH", "query": {"name": "someone_else"},
        "body": {"comment": "not applied"}}, expect_failure=True)
    assert svm_record(raw, name)["comment"] == "patched"
    # a raw `>` in a query value reaches Vigil through the lenient request line
    got = ansible.run("na_ontap_restit", {
        "api": "svm/svms", "query": {"name": name, "fields": "storage", "storage.used": ">=0"}})
    assert [r["name"] for r in got["response"]["records"]] == [name]
    gone = ansible.run("na_ontap_restit", {
        "api": f"svm/svms/{uuid_}", "method": "DELETE", "wait_for_completion": True})
    assert gone["changed"] is True
    assert svm_record(raw, name) is None
