"""The web console in real headless Chromium (WebDriver): login, live updates from the
streaming endpoint without reloading, on-demand runs with their progress, quarantine
restore, RBAC (readonly sees no action buttons, gets 403 when posting anyway), wrong
passwords and CSRF-less posts refused. Every test saves screenshots under
tests/conformance/artifacts/console/ (or $VIGIL_TEST_ARTIFACTS/console/).

EICAR is assembled at run time (test_ondemand_e2e) so that this file is never flagged."""

import json
import os
from pathlib import Path

import pytest
import requests

from conftest import ADMIN_PASSWORD, ADMIN_USER, REPO, unique
from test_ondemand_e2e import EICAR, EICAR_NAME, Env, plant
from webdriver import Browser

ARTIFACTS = Path(os.environ.get("VIGIL_TEST_ARTIFACTS", REPO / "tests" / "conformance" / "artifacts")) / "console"
PW = "Console-Test-Pw-1"


@pytest.fixture
def browser(request, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    b = Browser(tmp_path / "chromedriver.log")
    b.shots = []

    def shot(name):
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        b.screenshot(path)
        b.shots.append(path)

    b.shot = shot
    yield b
    try:
        shot("end")
    finally:
        b.close()
    for p in b.shots:
        assert p.stat().st_size > 1000, f"screenshot {p} is empty"


@pytest.fixture
def env(server, tmp_path):
    e = Env(server, tmp_path)
    yield e
    e.raw.delete(f"/api/svm/svms/{e.svm}?return_timeout=30")


def login(b: Browser, server, user=ADMIN_USER, password=ADMIN_PASSWORD):
    b.get(server.url("/console/login"))
    b.type("#username", user)
    b.type("#password", password)
    b.click("#login")
    b.wait("the overview after login", lambda: b.js("return document.title") == "Overview · Vigil")


def mark_page(b: Browser):
    """Marks the loaded page; the mark survives only if the page is not reloaded."""
    b.js("window.__vigilMark = 'not reloaded'")


def still_same_page(b: Browser) -> bool:
    return b.js("return window.__vigilMark") == "not reloaded"


def live(b: Browser):
    b.wait("the stream to connect", lambda: b.js("return document.getElementById('live-state').textContent") == "live")


def plant_tree(env: Env, clean=300):
    plant(env.root, "/data/eicar.com", EICAR)
    for i in range(clean):
        plant(env.root, f"/data/clean/{i // 50}/f{i}.txt", f"clean file {i}\n".encode() * 10)


def readonly_account(server) -> str:
    name = unique("ro")
    r = server.session().post("/api/security/accounts", json={"name": name, "password": PW, "role": {"name": "readonly"}})
    assert r.status_code == 201, r.text
    return name


def xhr_post(b: Browser, path, fields) -> int:
    """A form post made by script from the page (a user bypassing the buttons)."""
    return b.js(
        "var x = new XMLHttpRequest(); x.open('POST', arguments[0], false);"
        "x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');"
        "x.send(arguments[1]); return x.status;",
        path, "&".join(f"{k}={requests.utils.quote(v, safe='')}" for k, v in fields.items()))


def page_csrf(b: Browser) -> str:
    return b.js("return document.querySelector('form[action=\"/console/logout\"] input[name=csrf]').value")


# -- tests ----------------------------------------------------------------------------


def test_wrong_password_is_refused_then_login_and_logout(server, browser):
    b = browser
    b.get(server.url("/console/"))
    b.wait("the login page", lambda: b.js("return document.title") == "Log in · Vigil")
    b.type("#username", ADMIN_USER)
    b.type("#password", "not-the-password")
    b.click("#login")
    b.wait("the refusal", lambda: b.js("var e = document.getElementById('login-error'); return e && e.textContent"))
    assert b.text("#login-error") == "Wrong user name or password."
    b.shot("wrong-password")
    # no session was made: the overview still sends to the login page
    b.get(server.url("/console/"))
    assert b.js("return document.title") == "Log in · Vigil"

    login(b, server)
    assert ADMIN_USER in b.text("#signed-in")
    live(b)
    b.shot("overview")
    b.click("form[action='/console/logout'] button")
    b.wait("the login page after logout", lambda: b.js("return document.title") == "Log in · Vigil")
    b.get(server.url("/console/events"))
    assert b.js("return document.title") == "Log in · Vigil"


def test_eicar_from_an_on_demand_run_appears_live_in_events_and_overview(server, env, browser):
    b = browser
    plant_tree(env, clean=20)
    env.policy("live", remediation="report")
    login(b, server)
    overview = b.window()
    live(b)
    before = int(b.text("#threats-24h"))
    mark_page(b)
    events = b.new_window()
    b.switch(events)
    b.get(server.url(f"/console/events?svm={env.svm}&type=file_infected"))
    live(b)
    mark_page(b)

    m, record = env.run("live")
    assert record["infected_count"] == 1, record

    b.wait("the detection in the events page", lambda: b.js(
        "return Array.from(document.querySelectorAll('#events tbody tr')).some("
        "function (tr) { return tr.textContent.indexOf('/data/eicar.com') >= 0; })"))
    assert still_same_page(b)
    b.shot("events")
    b.switch(overview)
    b.wait("the detection on the overview", lambda: b.js(
        "return Array.from(document.querySelectorAll('#threats tbody tr')).some("
        "function (tr) { return tr.textContent.indexOf('/data/eicar.com') >= 0; })"))
    assert still_same_page(b)
    b.wait("the threat count to grow", lambda: int(b.text("#threats-24h")) >= before + 1)
    b.shot("overview")
    # what the page showed live is what the API has
    ev = env.events(type="file_infected")
    assert [e["file_path"] for e in ev] == ["/data/eicar.com"]


def test_run_now_and_live_progress_to_100_percent(server, env, browser):
    b = browser
    plant_tree(env, clean=600)
    env.policy("progress", remediation="report")
    login(b, server)
    b.get(server.url("/console/on-demand"))
    live(b)
    mark_page(b)
    before = set(b.js("return Array.from(document.querySelectorAll('#runs tr[data-run]')).map(function (t) { return t.dataset.run; })"))

    # a run started elsewhere shows up and progresses without a reload
    job = env.start("progress")
    row = b.wait("a new run row", lambda: [u for u in b.js(
        "return Array.from(document.querySelectorAll('#runs tr[data-run]')).map(function (t) { return t.dataset.run; })")
        if u not in before])[0]
    sel = f"#runs tr[data-run='{row}']"
    b.wait("the run to reach 100%", lambda: b.js(
        "var tr = document.querySelector(arguments[0]); return tr.querySelector('progress').value === 100"
        " && tr.querySelector('.status').textContent === 'COMPLETED'", sel), timeout=120)
    assert still_same_page(b)
    assert b.text(f"{sel} .percent") == "100%"
    b.shot("progress-100")
    rec = env.run_record(row)
    assert rec["status"] == "COMPLETED" and rec["files_scanned"] == 601, rec
    assert b.text(f"{sel} .files") == "601"
    assert b.text(f"{sel} .infected") == "1"
    # the report link of the finished run opens the report
    assert b.find_all(f"{sel} a.report")

    # the run-now button starts one more run as the signed-in user
    # the shared server lists other tests' policies too: this SVM's own button
    b.click(f"#policies form:has(input[name=svm][value='{env.svm}']) button[type=submit]")
    b.wait("the note", lambda: b.js("var n = document.querySelector('.note'); return n && n.textContent") == "Started a run of progress.")
    b.wait("the button's run to complete", lambda: len(
        [r for r in env.runs() if r["policy"] == "progress" and r["status"] == "COMPLETED"]) == 2, timeout=120)
    b.get(server.url("/console/on-demand"))
    b.wait("both runs listed at 100%", lambda: b.js(
        "return Array.from(document.querySelectorAll('#runs tr[data-run]')).filter(function (tr) {"
        " return tr.querySelector('.status').textContent === 'COMPLETED' && tr.querySelector('progress').value === 100; }).length") >= 2)
    b.shot("on-demand")
    r = env.raw.get(job)
    assert r.status_code == 200 and r.json()["state"] == "success", r.text


def test_restore_a_quarantined_file_from_the_console(server, env, browser):
    b = browser
    plant_tree(env, clean=5)
    env.policy("q", remediation="quarantine")
    _, record = env.run("q")
    assert record["infected"][0]["action"] == "quarantine", record
    target = env.root / "data" / "eicar.com"
    assert not target.exists()

    login(b, server)
    b.get(server.url("/console/quarantine"))
    b.shot("quarantine")
    # this SVM's row (the shared server may hold others'); its first button restores
    b.click(f"#quarantine form:has(input[name=svm][value='{env.svm}']) button[type=submit]")
    b.wait("the restore note", lambda: b.js("var n = document.querySelector('.note'); return n && n.textContent") == "Restored /data/eicar.com.")
    assert target.read_bytes() == EICAR
    assert env.quarantine() == []
    b.shot("restored")


def test_delete_from_quarantine_asks_first(server, env, browser):
    b = browser
    plant_tree(env, clean=1)
    env.policy("qd", remediation="quarantine")
    env.run("qd")
    assert len(env.quarantine()) == 1
    login(b, server)
    b.get(server.url("/console/quarantine"))
    b.click(f"#quarantine form[action='/console/quarantine/delete']:has(input[name=svm][value='{env.svm}']) button")
    b.wait("the confirmation page", lambda: b.js("return document.title") == "Delete from quarantine · Vigil")
    assert len(env.quarantine()) == 1, "nothing is deleted before the confirmation"
    b.shot("confirm")
    b.click("form[action='/console/quarantine/delete'] button.danger")
    b.wait("the delete note", lambda: b.js("var n = document.querySelector('.note'); return n && n.textContent") == "Deleted the quarantined copy of /data/eicar.com.")
    assert env.quarantine() == []
    assert not (env.root / "data" / "eicar.com").exists()


def test_readonly_sees_no_action_buttons_and_gets_403_when_posting(server, env, browser):
    b = browser
    plant_tree(env, clean=1)
    env.policy("ro", remediation="quarantine")
    env.run("ro")
    quarantined = env.quarantine()
    assert len(quarantined) == 1
    user = readonly_account(server)
    login(b, server, user, PW)
    assert "readonly" in b.text("#signed-in")
    for page in ("/console/on-demand", "/console/quarantine", "/console/s3"):
        b.get(server.url(page))
        assert b.js("return document.title").endswith("· Vigil")
        assert b.find_all("main button") == [], f"{page} shows action buttons to a readonly user"
        assert b.find_all("main form[method=post]") == []
    # the policy and the quarantined file are listed all the same
    b.get(server.url("/console/on-demand"))
    assert "ro" in b.text("#policies")
    b.get(server.url("/console/quarantine"))
    assert "/data/eicar.com" in b.text("#quarantine")
    b.shot("readonly-quarantine")
    csrf = page_csrf(b)
    item = quarantined[0]
    assert xhr_post(b, "/console/quarantine/restore", {"csrf": csrf, "svm": env.svm, "id": item["id"], "path": item["path"]}) == 403
    assert xhr_post(b, "/console/on-demand/run", {"csrf": csrf, "svm": env.svm, "policy": "ro"}) == 403
    assert len(env.quarantine()) == 1
    assert len(env.runs()) == 1


def test_posts_without_the_csrf_token_are_refused(server, env, browser):
    b = browser
    plant_tree(env, clean=1)
    env.policy("csrf", remediation="quarantine")
    env.run("csrf")
    item = env.quarantine()[0]
    login(b, server)
    b.get(server.url("/console/quarantine"))
    fields = {"svm": env.svm, "id": item["id"], "path": item["path"], "confirm": "yes"}
    assert xhr_post(b, "/console/quarantine/delete", fields) == 403
    assert xhr_post(b, "/console/quarantine/delete", {**fields, "csrf": "forged"}) == 403
    assert xhr_post(b, "/console/on-demand/run", {"svm": env.svm, "policy": "csrf"}) == 403
    assert len(env.quarantine()) == 1
    assert len(env.runs()) == 1
    # the same post with the page's token goes through
    assert xhr_post(b, "/console/quarantine/delete", {**fields, "csrf": page_csrf(b)}) == 200
    assert env.quarantine() == []
    # a login form post without its token makes no session
    s = requests.Session()
    r = s.post(server.url("/console/login"), data={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
               verify=False, allow_redirects=False)
    assert r.status_code == 403 and "vigil_session" not in s.cookies


def test_every_page_renders(server, env, browser):
    """Each page for the docs' screenshots, with something on it."""
    b = browser
    plant_tree(env, clean=30)
    env.policy("pages", remediation="quarantine")
    env.run("pages")
    login(b, server)
    for path, name in [("/console/", "overview"), ("/console/events", "events"),
                       ("/console/on-demand", "on-demand"), ("/console/quarantine", "quarantine"),
                       ("/console/s3-audit", "s3-audit"), ("/console/s3", "s3")]:
        b.get(server.url(path))
        assert b.js("return document.title").endswith("· Vigil")
        assert b.find_all("main h1")
        b.shot(name)


def test_stream_with_basic_auth_and_bad_topics(server, env):
    """The endpoint the CLI follows: Basic auth, ONTAP error bodies."""
    s = server.session()
    r = s.get("/api/vigil/stream?topics=nope")
    assert r.status_code == 400 and r.json()["error"]["target"] == "topics", r.text
    r = requests.get(server.url("/api/vigil/stream"), verify=False, timeout=30)
    assert r.status_code == 401 and "error" in r.json()
    plant_tree(env, clean=3)
    env.policy("sse", remediation="report")
    with s.get("/api/vigil/stream?topics=events,runs", stream=True, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        env.start("sse")
        seen = {"events": False, "runs": False}
        kind = None
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                kind = line[len("event: "):]
            elif line.startswith("data: ") and kind in seen:
                data = json.loads(line[len("data: "):])
                assert data["svm"]["uuid"] == env.svm, data
                if kind == "events" and data["type"] == "file_infected":
                    seen["events"] = True
                if kind == "runs" and data["status"] == "COMPLETED":
                    assert data["files_done"] == data["files_queued"] == 4, data
                    seen["runs"] = True
            if all(seen.values()):
                break
    assert all(seen.values()), seen


def test_s3_pages_and_key_regeneration_shows_the_secret_once(server, env, browser):
    from s3_common import S3, client, make_service, make_user, wait_listening
    b = browser
    service = make_service(env.raw, env.svm)
    wait_listening(service["port"])
    r = env.raw.post(f"{S3}/services/{env.svm}/buckets?return_timeout=30", json={"name": "console-bucket"})
    assert r.status_code in (200, 201), r.text
    old = make_user(env.raw, env.svm, "console-user")
    r = env.raw.post(f"/api/protocols/audit/{env.svm}/object-store?return_timeout=30", json={"log_path": "/reports"})
    assert r.status_code in (200, 201), r.text
    login(b, server)
    b.get(server.url("/console/s3-audit"))
    assert "/reports" in b.text("main")
    b.shot("s3-audit")
    b.get(server.url("/console/s3"))
    assert service["name"] in b.text("#s3-services")
    assert "console-bucket" in b.text("#s3-buckets")
    assert old["access_key"] in b.text("#s3-users")
    assert old["secret_key"] not in b.js("return document.documentElement.outerHTML")
    b.shot("s3")
    b.click("#s3-users form[action='/console/s3/regenerate'] button")
    b.wait("the new keys", lambda: b.js("var e = document.getElementById('secret-key'); return e && e.textContent"))
    new = {"access_key": b.text("#access-key"), "secret_key": b.text("#secret-key")}
    assert new["access_key"] != old["access_key"] and new["secret_key"] != old["secret_key"]
    b.shot("new-keys")
    # the keys shown work, the old ones no longer do, and the secret is not shown again
    names = [x["Name"] for x in client(service["port"], new).list_buckets()["Buckets"]]
    assert "console-bucket" in names
    with pytest.raises(Exception):
        client(service["port"], old).list_buckets()
    b.get(server.url("/console/s3"))
    assert new["access_key"] in b.text("#s3-users")
    assert new["secret_key"] not in b.js("return document.documentElement.outerHTML")


def test_an_svm_scoped_account_sees_and_acts_on_its_svm_only(server, env, svm_factory, browser):
    b = browser
    other = svm_factory()
    plant_tree(env, clean=1)
    env.policy("mine", remediation="quarantine")
    env.run("mine")
    name = unique("vs")
    r = env.raw.post("/api/security/accounts", json={"name": name, "password": PW, "role": {"name": "vsadmin"},
                                                     "owner": {"name": env.name}})
    assert r.status_code == 201, r.text
    login(b, server, name, PW)
    assert env.name in b.text("#signed-in")
    assert env.name in b.text("#svms") and other["name"] not in b.text("#svms")
    assert "/data/eicar.com" in b.text("#threats")
    b.get(server.url("/console/quarantine"))
    assert "/data/eicar.com" in b.text("#quarantine")
    assert b.find_all("#quarantine form[action='/console/quarantine/restore'] button")
    b.get(server.url("/console/on-demand"))
    assert b.find_all("#policies form[action='/console/on-demand/run'] button")
    b.shot("vsadmin")
    # another SVM's objects are the API's 404/403, not the console's guess
    assert xhr_post(b, "/console/on-demand/run", {"csrf": page_csrf(b), "svm": other["uuid"], "policy": "mine"}) in (403, 404)
