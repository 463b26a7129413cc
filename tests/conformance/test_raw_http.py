"""Raw HTTP shapes the client does not exercise, checked with requests."""

import json

import pytest

from conftest import unique, wait_job

HAL = "application/hal+json"


def _err(r, status, code, target=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/")
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["code"], str), err
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"], err
    if target is not None:
        assert err.get("target") == target, err
    return err


# -- collection envelope, links, Accept -------------------------------------------


def test_collection_envelope_hal(raw):
    r = raw.get("/api/cluster/schedules?max_records=2")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == HAL
    assert r.text.startswith("{")
    body = r.json()
    assert set(body) == {"records", "num_records", "_links"}
    assert body["num_records"] == 2 == len(body["records"])
    assert body["_links"]["self"]["href"] == "/api/cluster/schedules?max_records=2"
    nxt = body["_links"]["next"]["href"]
    assert nxt.startswith("/api/cluster/schedules?start.uuid=")
    assert "max_records=2" in nxt
    assert r.headers["Link"] == f'<{nxt}>; rel="next"'
    for rec in body["records"]:
        assert set(rec) == {"uuid", "name", "_links"}
        assert rec["_links"]["self"]["href"] == f"/api/cluster/schedules/{rec['uuid']}"
    # the next link is usable verbatim and does not repeat the page
    r2 = raw.get(nxt)
    assert r2.status_code == 200
    assert {x["uuid"] for x in r2.json()["records"]}.isdisjoint({x["uuid"] for x in body["records"]})


def test_accept_json_strips_links_but_next(raw):
    h = {"Accept": "application/json"}
    r = raw.get("/api/cluster/schedules?max_records=2", headers=h)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body["_links"]) == {"next"}
    assert all("_links" not in rec for rec in body["records"])
    # last page: no _links at all
    r = raw.get("/api/cluster/schedules?name=daily", headers=h)
    body = r.json()
    assert "_links" not in body
    assert body["records"][0].keys() == {"uuid", "name"}
    # instance
    r = raw.get("/api/cluster", headers=h)
    assert "_links" not in r.json()
    # */* (what the Python client sends) keeps HAL links
    r = raw.get("/api/cluster", headers={"Accept": "*/*"})
    assert r.json()["_links"]["self"]["href"] == "/api/cluster"
    assert r.headers["Content-Type"] == HAL
    # errors still in the standard shape
    r = raw.get("/api/cluster?bogus=1", headers=h)
    _err(r, 400, "262179", "bogus")


def test_location_and_job_link_on_202(raw):
    name = unique("loc")
    r = raw.post("/api/svm/svms", json={"name": name})
    assert r.status_code == 202
    loc = r.headers["Location"]
    assert loc.startswith("/api/svm/svms/")
    body = r.json()
    assert set(body) == {"job"}
    job = body["job"]
    assert len(job["uuid"]) == 36
    assert job["_links"]["self"]["href"] == f"/api/cluster/jobs/{job['uuid']}"
    done = wait_job(raw, job["_links"]["self"]["href"])
    assert done["state"] == "success"
    assert done["code"] == 0
    # the job poll the client does
    r = raw.get(f"/api/cluster/jobs/{job['uuid']}?fields=message,state")
    assert set(r.json()) == {"uuid", "message", "state", "_links"}
    r = raw.get(loc)
    assert r.status_code == 200 and r.json()["name"] == name
    # return_timeout lets the job finish inside the request → 200 + job
    r = raw.patch(loc + "?return_timeout=30", json={"comment": "x"})
    assert r.status_code == 200
    assert "job" in r.json()
    r = raw.delete(loc + "?return_timeout=30")
    assert r.status_code == 200
    r = raw.get(loc)
    _err(r, 404, "4", "uuid")


def test_sync_post_201_location_and_return_records(raw):
    name = unique("rr")
    r = raw.post("/api/cluster/schedules?return_records=true", json={"name": name, "cron": {"minutes": [1]}})
    assert r.status_code == 201
    body = r.json()
    assert body["num_records"] == 1
    rec = body["records"][0]
    assert rec["name"] == name and rec["type"] == "cron"
    assert r.headers["Location"] == f"/api/cluster/schedules/{rec['uuid']}"
    r = raw.delete(r.headers["Location"])
    assert r.status_code == 200
    assert r.json() == {}


def test_options_and_allow(raw):
    r = raw.options("/api/svm/svms")
    assert r.status_code == 200
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allow == {"GET", "HEAD", "OPTIONS", "POST", "PATCH", "DELETE"}
    r = raw.options("/api/cluster/nodes")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}
    r = raw.options("/api/cluster")
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS", "PATCH"}
    # 405 carries Allow too
    r = raw.delete("/api/cluster")
    _err(r, 405, "3")
    assert "PATCH" in r.headers["Allow"] and "DELETE" not in r.headers["Allow"]
    r = raw.put("/api/svm/svms", json={})
    _err(r, 405, "3")


def test_head_has_no_body(raw):
    g = raw.get("/api/cluster/schedules")
    h = raw.head("/api/cluster/schedules")
    assert h.status_code == 200
    assert h.content == b""
    assert h.headers["Content-Type"] == g.headers["Content-Type"]
    h = raw.head("/api/svm/svms/00000000-0000-0000-0000-000000000000")
    assert h.status_code == 404
    assert h.content == b""


def test_trailing_slash_and_dot_segments(raw):
    a = raw.get("/api/cluster/schedules?name=daily").json()["records"]
    b = raw.get("/api/cluster/schedules/?name=daily").json()["records"]
    assert a == b and len(a) == 1
    uuid = a[0]["uuid"]
    r = raw.get(f"/api/cluster/schedules/{uuid}/")
    assert r.status_code == 200 and r.json()["name"] == "daily"
    r = raw.get("/api/cluster/")
    assert r.status_code == 200 and "version" in r.json()


def test_percent_encoded_operators(raw, svm_factory):
    tag = unique("enc")
    a = svm_factory(f"{tag}_a", comment="one")
    b = svm_factory(f"{tag}_b", comment="two")
    c = svm_factory(f"{tag}_c", comment="three")

    def names(qs):
        r = raw.get("/api/svm/svms?" + qs)
        assert r.status_code == 200, r.text
        return sorted(x["name"] for x in r.json()["records"])

    every = [a["name"], b["name"], c["name"]]
    assert names(f"name={tag}_%2A") == every
    assert names(f"name={tag}_%2a") == every
    assert names(f"name={tag}_%2A&comment=one%7Cthree") == [a["name"], c["name"]]
    assert names(f"name={tag}_%2A&comment=%21two") == [a["name"], c["name"]]
    assert names(f"name={tag}_%2A&comment=%3Ethree") == [b["name"]]
    assert names(f"name={tag}_%2A&comment=%3E%3Dthree") == [b["name"], c["name"]]
    assert names(f"name={tag}_%2A&comment=%3Cthree") == [a["name"]]
    assert names(f"name={tag}_b..{tag}_z&comment=%21null%7Cone") == [b["name"], c["name"]]
    assert names(f"name={tag}_%2A&comment=%21%7Btwo%7D") == [a["name"], c["name"]]
    assert names(f"name={tag}_a..{tag}_b") == [a["name"], b["name"]]
    assert names(f"name={tag}_a%2E%2E{tag}_b") == [a["name"], b["name"]]
    # fields=name%2Ccomment, and + as space in order_by
    r = raw.get(f"/api/svm/svms?name={tag}_%2A&fields=comment%2Cstate&order_by=comment+desc")
    recs = r.json()["records"]
    assert [x["comment"] for x in recs] == ["two", "three", "one"]
    assert all(set(x) == {"uuid", "name", "comment", "state", "_links"} for x in recs)
    r = raw.get(f"/api/svm/svms?name={tag}_%2A&order_by=comment%20asc")
    assert [x["name"] for x in r.json()["records"]] == [a["name"], c["name"], b["name"]]
    # %2A key in an instance path = all
    r = raw.get("/api/svm/svms/%2A?name=" + tag + "_%2A")
    assert r.status_code == 200
    assert r.json()["num_records"] == 3


def test_fields_variants(raw, svm_factory):
    s = svm_factory(comment="c1")
    base = f"/api/svm/svms/{s['uuid']}"
    assert "snapmirror" not in raw.get(base).json()
    assert "snapmirror" in raw.get(base + "?fields=**").json()
    assert "snapmirror" not in raw.get(base + "?fields=*").json()
    r = raw.get(base + "?fields=ipspace.name,comment").json()
    assert set(r) == {"uuid", "name", "ipspace", "comment", "_links"}
    assert set(r["ipspace"]) == {"name"}
    r = raw.get(base + "?fields=ipspace.{name,uuid}").json()
    assert set(r["ipspace"]) == {"name", "uuid"}
    r = raw.get(base + "?fields=ipspace,!ipspace.uuid").json()
    assert set(r["ipspace"]) == {"name"}
    _err(raw.get(base + "?fields=size"), 400, "262197", "fields")
    _err(raw.get(base + "?fields=ipspace.{name"), 400, "262286")
    r = raw.get(base + "?fields=size,comment&ignore_unknown_fields=true")
    assert r.status_code == 200 and r.json()["comment"] == "c1"


def test_return_records_false_count(raw):
    total = raw.get("/api/cluster/schedules").json()["num_records"]
    r = raw.get("/api/cluster/schedules?return_records=false")
    assert r.status_code == 200
    body = r.json()
    assert "records" not in body
    assert body["num_records"] == total
    r = raw.get("/api/cluster/schedules?return_records=false&name=daily|weekly")
    assert r.json()["num_records"] == 2
    _err(raw.get("/api/cluster/schedules?return_records=maybe"), 400, "262197", "return_records")


def test_error_unknown_argument_and_read_only(raw, svm_factory):
    _err(raw.get("/api/svm/svms?colour=blue"), 400, "262179", "colour")
    _err(raw.get("/api/cluster?name=x"), 400, "262179", "name")
    s = svm_factory()
    _err(raw.patch(f"/api/svm/svms/{s['uuid']}", json={"storage_limit": 5}), 400, "262179", "storage_limit")
    _err(raw.patch(f"/api/svm/svms/{s['uuid']}", json={"uuid": "x"}), 400, "262196", "uuid")
    _err(raw.patch(f"/api/svm/svms/{s['uuid']}", json={"subtype": "default"}), 400, "262196", "subtype")
    _err(raw.patch(f"/api/svm/svms/{s['uuid']}", json={"snapmirror": {"is_protected": True}}), 400, "262196")
    _err(raw.patch(f"/api/svm/svms/{s['uuid']}", json={}), 400, "262190")
    _err(raw.patch(f"/api/svm/svms/{s['uuid']}", json={"state": "weird"}), 400, "262197", "state")
    _err(raw.patch(f"/api/svm/svms/{s['uuid']}", json={"comment": 5}), 400, "262197", "comment")
    _err(raw.get("/api/svm/svms?max_records=0"), 400, "262197", "max_records")
    _err(raw.get("/api/svm/svms?return_timeout=500"), 400, "262197", "return_timeout")
    _err(raw.get("/api/cluster/nodes?uptime=%3Eabc"), 400, "262197", "uptime")
    _err(raw.post("/api/cluster/schedules?name=daily", json={"name": unique("q"), "cron": {"minutes": [1]}}),
         400, "262211", "name")
    _err(raw.get("/api/svm/svms?order_by=nonexistent"), 400, "262268", "order_by")
    _err(raw.get("/api/svm/svms?order_by=name%20sideways"), 400, "262197", "order_by")
    # secrets (write-only fields) never belong in a URL
    _err(raw.get("/api/security/accounts?password=guess"), 400, "262202", "password")
    _err(raw.get("/api/security/mav-keys?key=guess"), 400, "262202", "key")


def test_error_404_and_unknown_path(raw):
    _err(raw.get("/api/svm/svms/00000000-0000-0000-0000-000000000000"), 404, "4", "uuid")
    _err(raw.patch("/api/svm/svms/00000000-0000-0000-0000-000000000000", json={"comment": "x"}), 404, "4")
    _err(raw.delete("/api/svm/svms/00000000-0000-0000-0000-000000000000"), 404, "4")
    r = raw.get("/api/no/such/thing")
    assert r.status_code == 404
    assert isinstance(r.json()["error"]["code"], str)


def test_error_bodies_malformed(raw, svm_factory):
    h = {"Content-Type": "application/json"}
    _err(raw.post("/api/cluster/schedules", data=b'{"name": "x", ', headers=h), 400, "262199")
    _err(raw.post("/api/cluster/schedules", data=b'[1,2]', headers=h), 400, "262199")
    _err(raw.post("/api/cluster/schedules", data=b'{"name": "\xff\xfe"}', headers=h), 400, "262199")
    _err(raw.get("/api/cluster", data=b'{"a":1}', headers=h), 400, "262198")
    s = svm_factory()
    _err(raw.delete(f"/api/svm/svms/{s['uuid']}", data=b'{"comment":"x"}', headers=h), 400, "262198")
    # the client's DELETE sends "{}" and must be accepted
    r = raw.delete(f"/api/svm/svms/{s['uuid']}?return_timeout=30", data=b"{}", headers=h)
    assert r.status_code == 200, r.text


def test_oversized_body(raw):
    big = json.dumps({"name": unique("big"), "cron": {"minutes": [1]}, "comment": "x" * (1 << 20)})
    r = raw.post("/api/cluster/schedules", data=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    err = r.json()["error"]
    assert err["code"] == "262201"
    # the server is still healthy afterwards
    assert raw.get("/api/cluster").status_code == 200


def test_bad_utf8_in_url(raw):
    r = raw.get("/api/svm/svms?name=%FF")
    assert r.status_code == 400
    assert isinstance(r.json()["error"]["code"], str)


def test_openapi_document(raw):
    r = raw.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p in ["/api/cluster", "/api/cluster/nodes", "/api/cluster/nodes/{uuid}", "/api/svm/svms",
              "/api/svm/svms/{uuid}", "/api/cluster/schedules", "/api/cluster/schedules/{uuid}",
              "/api/cluster/jobs", "/api/cluster/jobs/{uuid}", "/api/security/accounts",
              "/api/security/accounts/{owner.uuid}/{name}"]:
        assert p in paths, p
    assert "post" in paths["/api/svm/svms"]
    assert "202" in paths["/api/svm/svms"]["post"]["responses"]
    assert "post" not in paths["/api/cluster/nodes"]
    assert "patch" in paths["/api/cluster"]
    _err(raw.post("/api/openapi.json", json={}), 405, "3")


def test_collection_write_needs_filter(raw):
    _err(raw.patch("/api/cluster/schedules", json={"cron": {"minutes": [1]}}), 400, "2")
    _err(raw.delete("/api/cluster/schedules"), 400, "2")
    r = raw.delete("/api/cluster/schedules?name=no_such_schedule_anywhere")
    assert r.status_code == 200
    assert r.json()["num_records"] == 0


def test_concurrent_creates_same_name(server):
    """Eight clients race to create one SVM name: exactly one SVM results, every other
    request fails cleanly (409 at once, or a failed job) and nothing is left half-made."""
    import concurrent.futures as cf

    name = unique("race")

    def attempt(_):
        with server.session() as s:
            r = s.post("/api/svm/svms", json={"name": name})
            if r.status_code == 202:
                return ("job", wait_job(s, r.json()["job"]["_links"]["self"]["href"])["state"])
            return ("sync", r.status_code, r.json()["error"]["code"])

    with cf.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(attempt, range(8)))
    wins = [r for r in results if r == ("job", "success")]
    assert len(wins) == 1, results
    for r in results:
        assert r in (("job", "success"), ("job", "failure"), ("sync", 409, "13434908")), r
    with server.session() as s:
        recs = s.get(f"/api/svm/svms?name={name}").json()["records"]
        assert len(recs) == 1
        assert s.delete(f"/api/svm/svms/{recs[0]['uuid']}?return_timeout=30").status_code == 200


def test_paging_is_stable_under_inserts(raw):
    """start.<key> continuation: records created between pages neither repeat nor
    shift the rest of the listing."""
    tag = unique("stab")
    for i in range(6):
        assert raw.post("/api/cluster/schedules", json={"name": f"{tag}_{i}", "cron": {"minutes": [i]}}).status_code == 201
    first = raw.get(f"/api/cluster/schedules?name={tag}_*&max_records=3").json()
    # create more records between the pages
    for i in range(6, 9):
        raw.post("/api/cluster/schedules", json={"name": f"{tag}_{i}", "cron": {"minutes": [i]}})
    seen = [r["uuid"] for r in first["records"]]
    href = first["_links"]["next"]["href"]
    while href:
        page = raw.get(href).json()
        seen += [r["uuid"] for r in page["records"]]
        href = page.get("_links", {}).get("next", {}).get("href")
    assert len(seen) == len(set(seen))
    everything = [r["uuid"] for r in raw.get(f"/api/cluster/schedules?name={tag}_*").json()["records"]]
    # page 1 as it was, then every record (old or new) that sorts after its last key
    assert seen == [r["uuid"] for r in first["records"]] + [u for u in everything if u > seen[2]]
    assert raw.delete(f"/api/cluster/schedules?name={tag}_*").json()["num_records"] == 9


def test_plain_http_listener(tmp_path):
    from conftest import VigilServer

    srv = VigilServer(tmp_path / "data", scheme="http")
    srv.start()
    try:
        assert srv.origin.startswith("http://")
        with srv.session() as s:
            r = s.get("/api/cluster")
            assert r.status_code == 200 and r.json()["version"]["generation"] == 9
    finally:
        assert srv.stop() == 0


def test_pathological_wildcards_answer_quickly(raw, svm_factory):
    """`*a*a*…*b` against a long name used to backtrack exponentially: one 25-byte
    query from any account (even readonly) hung the request and then the server."""
    import time

    long_name = "a" * 40
    svm_factory(long_name)
    for pattern in ["*a" * 12 + "*b", "*a" * 20 + "*", "*a" * 5000 + "*b"]:
        t = time.monotonic()
        r = raw.get("/api/svm/svms", params={"name": pattern}, timeout=20)
        assert r.status_code == 200, r.text[:200]
        assert time.monotonic() - t < 5
        names = [x["name"] for x in r.json()["records"]]
        if pattern.endswith("b"):
            assert long_name not in names
        else:
            assert long_name in names
    assert raw.get("/api/cluster", timeout=5).status_code == 200
