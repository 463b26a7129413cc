"""S3Audit (/api/protocols/audit/{svm.uuid}/object-store) through the official client,
and raw-HTTP reproductions of every example of the seed (002_6828d59f2a77e838), with
the response bodies compared to the documented ones."""

import json
import os
from pathlib import Path

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import S3Audit

from conftest import polled_job_uuid, unique, wait_job


def audit_url(svm_uuid: str) -> str:
    return f"/api/protocols/audit/{svm_uuid}/object-store"


def svm_root(session, svm_uuid: str) -> Path:
    r = session.get(f"/api/svm/svms/{svm_uuid}?fields=root_path")
    assert r.status_code == 200, r.text
    return Path(r.json()["root_path"])


def without_links(value):
    """The body minus every `_links` member (the seed's examples omit them)."""
    if isinstance(value, dict):
        return {k: without_links(v) for k, v in value.items() if k != "_links"}
    if isinstance(value, list):
        return [without_links(v) for v in value]
    return value


def error_of(exc_info):
    resp = exc_info.value.http_err_response.http_response
    return resp.status_code, resp.json()["error"]


# -- the client ---------------------------------------------------------------------


def test_s3audit_post_get_patch_delete(server, raw, svm_factory):
    svm = svm_factory()
    (svm_root(raw, svm["uuid"]) / "audit").mkdir(parents=True, exist_ok=True)

    audit = S3Audit(svm["uuid"])
    audit.log_path = "/audit"
    audit.log = {"retention": {"count": 5}, "rotation": {"size": 2048000}}
    audit.post(hydrate=True)  # waits for the job, then GET ?fields=*
    assert audit.enabled is True
    assert audit.events.data is True and audit.events.management is False
    assert audit.log.format == "json"
    assert audit.log.retention.count == 5
    assert audit.log.retention.duration == "0s"
    assert audit.log.rotation.size == 2048000
    assert audit.svm.name == svm["name"]

    got = S3Audit(svm["uuid"])
    got.get()
    assert got.log_path == "/audit"
    assert got.to_dict()["svm"]["uuid"] == svm["uuid"]

    # PATCH events: the client sends the object; a member left out becomes false.
    got.events = {"management": True}
    polled_job_uuid(got.patch())
    again = S3Audit(svm["uuid"])
    again.get()
    assert again.events.data is False and again.events.management is True

    # Retention switch from count to duration, sending the record back as read.
    again.log.retention.count = 0
    again.log.retention.duration = "PT12H"
    again.patch()
    again.get()
    assert again.log.retention.count == 0
    assert again.log.retention.duration == "PT12H"

    # rotation.now: PATCH-only, rotates at once (an archive file appears).
    logdir = svm_root(raw, svm["uuid"]) / "audit"
    # (attributes set after construction: the client PATCHes only what changed since)
    rotate = S3Audit(svm["uuid"])
    rotate.log = {"rotation": {"now": True}}
    rotate.patch()
    assert [p for p in os.listdir(logdir) if p.startswith("audit_D")], os.listdir(logdir)

    # `enabled` has to travel alone.
    mixed = S3Audit(svm["uuid"])
    mixed.enabled = False
    mixed.log_path = "/"
    with pytest.raises(NetAppRestError) as e:
        mixed.patch()
    status, err = error_of(e)
    assert (status, err["code"]) == (400, "140902479")

    # Delete while enabled is refused; disabled, it goes.
    with pytest.raises(NetAppRestError) as e:
        S3Audit(svm["uuid"]).delete()
    status, err = error_of(e)
    assert (status, err["code"]) == (400, "140902421")
    off = S3Audit(svm["uuid"])
    off.enabled = False
    polled_job_uuid(off.patch())
    polled_job_uuid(S3Audit(svm["uuid"]).delete())
    with pytest.raises(NetAppRestError) as e:
        S3Audit(svm["uuid"]).get()
    status, err = error_of(e)
    assert (status, err["code"]) == (404, "4")


def test_s3audit_collection_over_star_and_force_delete(server, raw, svm_factory):
    a, b = svm_factory(), svm_factory()
    for svm, management in ((a, False), (b, True)):
        S3Audit(
            svm["uuid"], log_path="/", events={"data": True, "management": management}
        ).post()
    records = list(S3Audit._get_collection("*", fields="*"))
    mine = {r.svm.uuid: r for r in records if r.svm.uuid in (a["uuid"], b["uuid"])}
    assert set(mine) == {a["uuid"], b["uuid"]}
    assert mine[b["uuid"]].events.management is True
    assert mine[a["uuid"]].log.rotation.size == 104857600
    # Filters on the collection form; get() on `*` works when one record matches.
    one = S3Audit("*")
    one.get(**{"svm.name": b["name"]})
    assert one.svm.uuid == b["uuid"]
    # `force` deletes an enabled configuration.
    for svm in (a, b):
        polled_job_uuid(S3Audit(svm["uuid"]).delete(force=True))
    left = [r.svm.uuid for r in S3Audit._get_collection("*")]
    assert a["uuid"] not in left and b["uuid"] not in left


def test_s3audit_errors_through_client(server, raw, svm_factory):
    svm = svm_factory()
    root = svm_root(raw, svm["uuid"])
    (root / "afile").write_text("x")
    cases = [
        ({"log_path": ""}, 400, "140902459"),
        ({"log_path": "/missing"}, 400, "140902456"),
        ({"log_path": "/afile"}, 400, "140902457"),
        ({"log_path": "relative"}, 400, "140902458"),
        ({"log_path": "/" + "x" * 900}, 400, "140902470"),
        ({"log_path": "/", "log": {"rotation": {"size": 1024}}}, 400, "140902460"),
    ]
    for fields, status, code in cases:
        with pytest.raises(NetAppRestError) as e:
            S3Audit(svm["uuid"], **fields).post()
        got_status, err = error_of(e)
        assert (got_status, err["code"]) == (status, code), (fields, err)
    with pytest.raises(NetAppRestError) as e:
        S3Audit("00000000-0000-4000-8000-00000000beef", log_path="/").post()
    status, err = error_of(e)
    assert (status, err["code"], err["message"]) == (404, "9699340", "SVM UUID lookup failed")
    S3Audit(svm["uuid"], log_path="/").post()
    with pytest.raises(NetAppRestError) as e:
        S3Audit(svm["uuid"], log_path="/").post()
    status, err = error_of(e)
    assert (status, err["code"]) == (409, "140902402")
    S3Audit(svm["uuid"]).delete(force=True)


# -- raw reproductions of the seed's examples ------------------------------------------


def test_seed_examples_raw(fresh_server):
    s = fresh_server.session()
    uuids = {}
    for name in ("vs1", "vs3"):
        r = s.post("/api/svm/svms?return_timeout=30", json={"name": name})
        assert r.status_code == 201, r.text
        uuids[name] = r.headers["Location"].rsplit("/", 1)[1]
    vs1, vs3 = uuids["vs1"], uuids["vs3"]

    # Example 1, as printed: the body has a typo ("enabled"::) -> invalid JSON.
    typo = '{ "enabled":: true, "events": { "data": false, "management": false}, "log": { "format": "json", "retention": { "count": 10 }, "rotation": { "size": 2048000 }}, "log_path": "/"}'
    r = s.post(audit_url(vs1) + "?return_records=true", data=typo,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "262199", r.text

    # Example 1, corrected.
    r = s.post(
        audit_url(vs1) + "?return_records=true",
        headers={"accept": "application/json"},
        json={"enabled": True, "events": {"data": False, "management": False},
              "log": {"format": "json", "retention": {"count": 10}, "rotation": {"size": 2048000}},
              "log_path": "/"},
    )
    assert r.status_code == 202, r.text  # default return_timeout=0: the job is still running
    assert r.headers["Location"] == audit_url(vs1)
    body = r.json()
    assert wait_job(s, "/api/cluster/jobs/" + body["job"]["uuid"])["state"] == "success"
    expected_vs1 = {
        "svm": {"uuid": vs1, "name": "vs1"},
        "enabled": True,
        "events": {"data": False, "management": False},
        "log": {"format": "json", "rotation": {"size": 2048000},
                "retention": {"count": 10, "duration": "0s"}},
        "log_path": "/",
    }
    assert body["num_records"] == 1
    assert without_links(body["records"]) == [expected_vs1]

    # Example 2: schedule rotation, duration retention. The doc's echo says
    # enabled=true although false was sent; Vigil echoes what it stored.
    r = s.post(
        audit_url(vs3) + "?return_records=true",
        headers={"accept": "application/json"},
        json={"enabled": False, "events": {"data": True, "management": True},
              "log": {"format": "json", "retention": {"duration": "P4DT12H30M5S"},
                      "rotation": {"schedule": {"days": [1, 5, 10, 15], "hours": [0, 1, 6, 12, 18, 23],
                                                "minutes": [10, 15, 30, 45, 59], "months": [0],
                                                "weekdays": [0, 2, 5]}}},
              "log_path": "/"},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    wait_job(s, "/api/cluster/jobs/" + body["job"]["uuid"])
    expected_vs3 = {
        "svm": {"uuid": vs3, "name": "vs3"},
        "enabled": False,
        "events": {"data": True, "management": True},
        "log": {"format": "json",
                "rotation": {"schedule": {"minutes": [10, 15, 30, 45, 59],
                                          "hours": [0, 1, 6, 12, 18, 23],
                                          "weekdays": [0, 2, 5], "days": [1, 5, 10, 15],
                                          "months": [0]}},
                "retention": {"count": 0, "duration": "P4DT12H30M5S"}},
        "log_path": "/",
    }
    assert without_links(body["records"]) == [expected_vs3]
    # Record order on the wire follows the seed too (svm, enabled, events, log, log_path).
    assert list(body["records"][0].keys())[:5] == ["svm", "enabled", "events", "log", "log_path"]

    # Example 3: all SVMs, fields=* (the path as the Python client encodes `*`, too).
    for star in ("*", "%2A"):
        r = s.get(audit_url(star) + "?fields=*&return_records=true&return_timeout=15",
                  headers={"accept": "application/json"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["num_records"] == 2
        assert sorted(without_links(body["records"]), key=lambda x: x["svm"]["name"]) == [
            expected_vs1, expected_vs3]

    # Example 4: filter on both event switches -> only svm and events come back.
    r = s.get(audit_url("*") + "?events.data=true&events.management=true&return_records=true&return_timeout=15",
              headers={"accept": "application/json"})
    assert r.status_code == 200, r.text
    assert without_links(r.json()) == {
        "records": [{"svm": {"uuid": vs3, "name": "vs3"}, "events": {"data": True, "management": True}}],
        "num_records": 1,
    }

    # Example 5: one SVM, no fields -> the whole object, unwrapped.
    r = s.get(audit_url(vs1) + "/", headers={"accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.text.startswith("{")
    assert without_links(r.json()) == expected_vs1

    # Example 6: PATCH {"enabled": false} -> job.
    r = s.patch(audit_url(vs1) + "/", headers={"accept": "application/json"}, json={"enabled": False})
    assert r.status_code == 202, r.text
    assert wait_job(s, "/api/cluster/jobs/" + r.json()["job"]["uuid"])["state"] == "success"
    assert s.get(audit_url(vs1)).json()["enabled"] is False

    # Example 7: DELETE (now disabled) -> job, then gone.
    r = s.delete(audit_url(vs1), headers={"accept": "application/json"})
    assert r.status_code == 202, r.text
    assert wait_job(s, "/api/cluster/jobs/" + r.json()["job"]["uuid"])["state"] == "success"
    r = s.get(audit_url(vs1))
    assert r.status_code == 404 and r.json()["error"]["code"] == "4", r.text

    # Persistence: vs3's configuration survives a restart unchanged.
    fresh_server.restart()
    s2 = fresh_server.session()
    r = s2.get(audit_url(vs3))
    assert r.status_code == 200
    assert without_links(r.json()) == expected_vs3
    s.close()
    s2.close()


def test_return_timeout_gives_final_status(server, raw, svm_factory):
    svm = svm_factory()
    r = raw.post(audit_url(svm["uuid"]) + "?return_timeout=10", json={"log_path": "/"})
    assert r.status_code == 201, r.text
    assert r.json()["job"]["uuid"]
    r = raw.patch(audit_url(svm["uuid"]) + "?return_timeout=10", json={"enabled": False})
    assert r.status_code == 200, r.text
    r = raw.delete(audit_url(svm["uuid"]) + "?return_timeout=10")
    assert r.status_code == 200, r.text
    r = raw.post(audit_url(svm["uuid"]) + "?return_timeout=121", json={"log_path": "/"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "262197", r.text
