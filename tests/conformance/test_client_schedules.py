"""Schedule through the official client: synchronous creates (201), paging."""

import pytest
from netapp_ontap.error import NetAppRestError
from netapp_ontap.resources import Schedule

from conftest import unique

DEFAULTS = {"5min", "8hour", "hourly", "daily", "weekly", "monthly"}


def test_default_schedules_exist(server):
    names = {s.name for s in Schedule.get_collection()}
    assert DEFAULTS <= names
    daily = Schedule.find(name="daily")
    assert daily.type == "cron"
    assert daily.cron.minutes == [10]
    assert daily.cron.hours == [0]
    weekly = Schedule.find(name="weekly")
    assert weekly.cron.weekdays == [0]
    five = Schedule.find(name="5min")
    assert five.cron.minutes == list(range(0, 60, 5))
    assert five.scope == "cluster"
    assert five.cluster.name and five.cluster.uuid


def test_schedule_cron_post_get_patch_delete(server):
    name = unique("cron")
    s = Schedule(name=name, cron={"minutes": [30, 5, 5], "hours": [12]})
    resp = s.post()
    assert resp.http_response.status_code == 201
    assert resp.http_response.headers["Location"] == f"/api/cluster/schedules/{s.uuid}"
    assert resp.http_response.text.strip() == "{}"

    got = Schedule(uuid=s.uuid)
    got.get()
    assert got.name == name
    assert got.type == "cron"
    assert got.cron.minutes == [5, 30]  # sorted, deduplicated
    assert got.cron.hours == [12]

    got.cron = {"hours": [1, 2]}
    presp = got.patch()
    assert presp.http_response.status_code == 200
    again = Schedule(uuid=s.uuid)
    again.get()
    assert again.cron.hours == [1, 2]
    assert again.cron.minutes == [5, 30]  # untouched members kept

    dresp = again.delete()
    assert dresp.http_response.status_code == 200
    with pytest.raises(NetAppRestError) as e:
        Schedule(uuid=s.uuid).get()
    assert e.value.http_err_response.http_response.status_code == 404


def test_schedule_interval_and_hydrate(server):
    name = unique("intv")
    s = Schedule(name=name, interval="PT7M30S")
    s.post(hydrate=True)
    assert s.type == "interval"
    assert s.interval == "PT7M30S"
    assert s.scope == "cluster"
    s.interval = "P1D"
    s.patch()
    x = Schedule.find(name=name)
    assert x.interval == "P1D"
    x.delete()


def test_schedule_invalid(server, raw):
    with pytest.raises(NetAppRestError) as e:
        Schedule(name=unique("bad"), cron={"minutes": [60]}).post()
    resp = e.value.http_err_response.http_response
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "458788"
    assert resp.json()["error"]["target"] == "cron.minutes"

    with pytest.raises(NetAppRestError) as e:
        Schedule(name=unique("bad"), interval="seven minutes").post()
    assert e.value.http_err_response.http_response.json()["error"]["code"] == "458788"

    with pytest.raises(NetAppRestError) as e:
        Schedule(name="daily", cron={"minutes": [1]}).post()
    assert e.value.http_err_response.http_response.status_code == 409
    assert e.value.http_err_response.http_response.json()["error"]["code"] == "1"

    # type is read-only; name is create-only
    r = raw.post("/api/cluster/schedules", json={"name": unique("ro"), "type": "cron", "cron": {"minutes": [1]}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "262196"
    daily = Schedule.find(name="daily")
    r = raw.patch(f"/api/cluster/schedules/{daily.uuid}", json={"name": "renamed"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "262196"
    assert r.json()["error"]["target"] == "name"


def test_schedule_paging_25_records(server):
    tag = unique("page")
    created = {}
    for i in range(25):
        s = Schedule(name=f"{tag}_{i:02d}", cron={"minutes": [i]})
        s.post()
        created[s.uuid] = s.name
    # default order (uuid) with start.uuid continuation, 4 per page → 7 pages
    seen = [s.uuid for s in Schedule.get_collection(name=f"{tag}_*", max_records=4)]
    assert len(seen) == 25
    assert set(seen) == set(created)
    assert seen == sorted(seen)  # default order is by key
    # the whole collection, unfiltered, paged: every record exactly once
    everything = [s.uuid for s in Schedule.get_collection(max_records=4)]
    assert len(everything) == len(set(everything))
    assert set(created) <= set(everything)
    assert Schedule.count_collection() == len(everything)
    # explicit order_by pages by offset
    by_min = [s.cron.minutes[0] for s in Schedule.get_collection(
        name=f"{tag}_*", max_records=4, order_by="name desc", fields="cron")]
    assert by_min == list(range(24, -1, -1))

    # fields + filters with operators on an integer array member
    few = sorted(s.name for s in Schedule.get_collection(name=f"{tag}_*", **{"cron.minutes": "<3|>=23"}))
    assert few == [f"{tag}_{i:02d}" for i in (0, 1, 2, 23, 24)]
    rng = sorted(s.name for s in Schedule.get_collection(name=f"{tag}_*", **{"cron.minutes": "10..12"}))
    assert rng == [f"{tag}_{i:02d}" for i in (10, 11, 12)]

    # query-based PATCH and DELETE (synchronous endpoint: no jobs)
    resp = Schedule.patch_collection({"cron": {"hours": [3]}}, name=f"{tag}_1*")
    body = resp.http_response.json()
    assert body["num_records"] == 10
    assert "jobs" not in body
    hours = {s.name: getattr(s.cron, "hours", None) for s in Schedule.get_collection(name=f"{tag}_*", fields="cron")}
    assert all(hours[f"{tag}_{i:02d}"] == [3] for i in range(10, 20))
    assert all(not hours[f"{tag}_{i:02d}"] for i in list(range(10)) + list(range(20, 25)))

    resp = Schedule.delete_collection(name=f"{tag}_*")
    assert resp.http_response.json()["num_records"] == 25
    assert Schedule.count_collection(name=f"{tag}_*") == 0
    assert DEFAULTS <= {s.name for s in Schedule.get_collection()}
