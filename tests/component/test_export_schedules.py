"""Recurring exports: the expressions and their next runs (unit level, DST included), the
schedules API (CRUD, validation, owners, scopes, sandbox) and the minute's tick (each
due run started once, racing ticks, missed ticks, pause, delete, runs to completion, a
lost right pausing the schedule)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.helpers import assert_error, snapshot
from tests.component.jobs_queue import run_jobs
from tests.component.test_exports import _empty_bucket, events_of, seed_products
from tests.conftest import Api, make_user

V = "/api/v1"
S = f"{V}/exports/schedules"
__all__ = ["_empty_bucket"]  # the exports' fixture: the bucket emptied after each test


# -- expressions (no stack) ------------------------------------------------------------

def runs(expr: str, tz: str, after: str, n: int = 3) -> list[str]:
    from chalicelib.core import clock
    from chalicelib.exchange.exports.schedules import timing

    spec, moment, out = timing.parse(expr), clock.parse_iso(after), []
    for _ in range(n):
        moment = timing.next_run(spec, tz, moment)
        out.append(clock.iso(moment)[:16] + "Z")
    return out


@pytest.mark.parametrize(("expr", "tz", "after", "expected"), [
    # Weekdays at 09:00 in Paris (UTC+1 in winter): Friday's passed, then Mon, Tue.
    ("0 9 * * MON-FRI", "Europe/Paris", "2026-12-04T08:00:00Z",
     ["2026-12-07T08:00Z", "2026-12-08T08:00Z", "2026-12-09T08:00Z"]),
    # Both day fields restricted: the 13th OR a Friday (Vixie).
    ("0 0 13 * FRI", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-02T00:00Z", "2026-01-09T00:00Z", "2026-01-13T00:00Z"]),
    # A day field starting with * : both must hold (the 1st, 11th, 21st, 31st AND Friday).
    ("0 0 */10 * 5", "UTC", "2026-01-01T00:00:00Z",
     ["2026-05-01T00:00Z", "2026-07-31T00:00Z", "2026-08-21T00:00Z"]),
    ("*/20 1-2 * jan,Jul 7", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-04T01:00Z", "2026-01-04T01:20Z", "2026-01-04T01:40Z"]),
    ("15 3 1-31/15 * *", "UTC", "2026-02-01T00:00:00Z",
     ["2026-02-01T03:15Z", "2026-02-16T03:15Z", "2026-03-01T03:15Z"]),
    ("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z",
     ["2028-02-29T00:00Z", "2032-02-29T00:00Z", "2036-02-29T00:00Z"]),
    ("@daily", "Asia/Kolkata", "2026-01-01T00:00:00Z",
     ["2026-01-01T18:30Z", "2026-01-02T18:30Z", "2026-01-03T18:30Z"]),
    ("cron(30 5/6 * * *)", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-01T05:30Z", "2026-01-01T11:30Z", "2026-01-01T17:30Z"]),
    # Spring forward in New York (02:00 -> 03:00 on 8 March 2026): 02:30 does not exist
    # that night and runs once, at the jump (03:00 EDT = 07:00Z); then 02:30 EDT.
    ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
     ["2026-03-08T07:00Z", "2026-03-09T06:30Z", "2026-03-10T06:30Z"]),
    # Fall back (02:00 -> 01:00 on 1 November 2026): 01:30 happens twice, runs once.
    ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
     ["2026-11-01T05:30Z", "2026-11-02T06:30Z", "2026-11-03T06:30Z"]),
])
def test_next_runs(expr: str, tz: str, after: str, expected: list[str]) -> None:
    assert runs(expr, tz, after) == expected


def test_an_hourly_schedule_runs_on_both_passes_of_a_repeated_hour() -> None:
    assert runs("*/30 * * * *", "America/New_York", "2026-11-01T04:45:00Z", 5) == [
        "2026-11-01T05:00Z", "2026-11-01T05:30Z",   # 01:00, 01:30 EDT
        "2026-11-01T06:00Z", "2026-11-01T06:30Z",   # 01:00, 01:30 EST
        "2026-11-01T07:00Z"]                        # 02:00 EST


def test_a_rate_counts_from_its_last_slot_and_runs_a_missed_stretch_once() -> None:
    from chalicelib.core import clock
    from chalicelib.exchange.exports.schedules import timing

    spec = timing.parse("rate(1 hour)")
    assert spec == timing.Rate(3600) == timing.parse("RATE( 60 minutes )")
    slot = clock.parse_iso("2026-01-01T10:00:00Z")
    assert timing.next_run(spec, "UTC", slot, previous=slot) == slot + 3600
    # The tick did not run from 10:00 to 13:10: the next slot is 14:00, not 11:00.
    late = clock.parse_iso("2026-01-01T13:10:00Z")
    assert timing.next_run(spec, "UTC", late, previous=slot) == slot + 4 * 3600
    # A first run: one interval from now, on a whole minute.
    first = timing.next_run(timing.parse("rate(5 minutes)"), "UTC",
                            clock.parse_iso("2026-01-01T10:00:30Z"))
    assert clock.iso(first) == "2026-01-01T10:06:00.000Z"


@pytest.mark.parametrize(("expr", "says"), [
    ("rate(0 minutes)", "at least 1 minute"),
    ("rate(5 weeks)", "rate(N"),
    ("rate(367 days)", "at most 366 days"),
    ("61 * * * *", "outside 0-59"),
    ("* * * *", "five cron fields"),
    ("0 0 30 2 *", "never runs"),
    ("5-1 * * * *", "backwards"),
    ("*/0 * * * *", "step"),
    ("0 0 * * FOO", "not a number or a name"),
    ("0 0 ? * MON", "not a number"),
])
def test_invalid_expressions_say_why(expr: str, says: str) -> None:
    from chalicelib.exchange.exports.schedules import timing

    with pytest.raises(timing.Invalid) as caught:
        timing.parse(expr)
    assert says in str(caught.value)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", ""])
def test_invalid_time_zones(name: str) -> None:
    from chalicelib.exchange.exports.schedules import timing

    with pytest.raises(timing.Invalid):
        timing.zone(name)


# -- helpers ---------------------------------------------------------------------------

BODY = {"entity": "products", "format": "csv", "schedule": "rate(1 hour)"}


def create(api: Api, **body: Any) -> dict[str, Any]:
    resp = api.post(S, {**BODY, **body})
    assert resp.status_code == 201, resp.body
    data = resp.json["data"]
    assert resp.headers["Location"] == f"{S}/{data['id']}"
    return dict(data)


def key(admin: Api, scopes: list[str], **extra: Any) -> Api:
    resp = admin.post(f"{V}/api-keys", {"name": "k", "scopes": scopes, **extra})
    assert resp.status_code == 201, resp.body
    return admin.as_key(resp.json["data"]["key"])


def tick() -> dict[str, int]:
    from chalicelib.exchange.exports.schedules import tick as ticker

    return ticker.run_due()


def stored(schedule_id: str) -> Any:
    from chalicelib.exchange.exports.schedules import repo

    return repo.get(schedule_id)


def to_due(schedule_id: str) -> None:
    """The clock moved to the schedule's next run."""
    from chalicelib.core import clock

    clock.advance(clock.parse_iso(stored(schedule_id).next_run_at) - clock.now() + 1)


def export_jobs() -> list[Any]:
    from chalicelib.jobs import repo

    return [repo.of_item(i) for (pk, _), i in snapshot().items()
            if pk.startswith("JOB#") and i.get("kind") == "export"]


def due_entries() -> list[str]:
    return [sk for (pk, sk) in snapshot() if pk == "EXPSCHED#DUE"]


# -- the API -----------------------------------------------------------------------------

def test_create_get_list_change_and_delete(admin: Api) -> None:
    from chalicelib.core import clock

    made = create(admin, schedule="0 6 * * MON-FRI", timezone="Europe/Paris",
                  name="Weekday products", fields=["id", "sku"], filters={"category": "kitchen"})
    assert made["paused"] is False and made["lastRunAt"] is None and made["runs"] == 0
    assert made["fields"] == ["id", "sku"] and made["filters"] == {"category": "kitchen"}
    next_run = clock.parse_iso(made["nextRunAt"])
    assert made["nextRunAt"].endswith("Z") and next_run > clock.now()
    assert next_run - clock.now() <= 3 * 86400 + 3600  # within a long weekend
    assert admin.get(f"{S}/{made['id']}").json["data"] == made
    # The literal path is not taken for an export's id.
    listed = admin.get(S)
    assert listed.status_code == 200, listed.body
    assert [s["id"] for s in listed.json["data"]] == [made["id"]]
    assert listed.json["pagination"]["hasMore"] is False

    changed = admin.patch(f"{S}/{made['id']}", {"schedule": "@hourly", "name": "Hourly"})
    assert changed.status_code == 200, changed.body
    hourly = changed.json["data"]
    assert hourly["schedule"] == "@hourly" and hourly["name"] == "Hourly"
    assert clock.parse_iso(hourly["nextRunAt"]) - clock.now() <= 3600
    assert due_entries() == [f"{hourly['nextRunAt']}#{made['id']}"]

    assert admin.delete(f"{S}/{made['id']}").status_code == 204
    assert_error(admin.get(f"{S}/{made['id']}"), 404, "NOT_FOUND")
    assert_error(admin.delete(f"{S}/{made['id']}"), 404, "NOT_FOUND")
    assert due_entries() == []
    actions = [json.loads(json.dumps(i))["action"] for (pk, _), i in snapshot().items()
               if pk.startswith("AUDIT#") and i.get("targetType") == "export_schedule"]
    assert sorted(actions) == ["export_schedule.create", "export_schedule.delete",
                               "export_schedule.update"]


def test_listing_pages_with_a_cursor_and_filters(admin: Api) -> None:
    ids = [create(admin, name=f"s{i}")["id"] for i in range(3)]
    assert admin.patch(f"{S}/{ids[0]}", {"paused": True}).status_code == 200
    first = admin.get(f"{S}?perPage=2").json
    assert [s["id"] for s in first["data"]] == ids[:0:-1]
    rest = admin.get(f"{S}?perPage=2&cursor={first['pagination']['nextCursor']}").json
    assert [s["id"] for s in rest["data"]] == [ids[0]] and not rest["pagination"]["hasMore"]
    assert [s["id"] for s in admin.get(f"{S}?paused=true").json["data"]] == [ids[0]]
    assert len(admin.get(f"{S}?entity=orders").json["data"]) == 0


@pytest.mark.parametrize(("body", "status", "named"), [
    ({"schedule": "rate(30 seconds)"}, 422, "schedule"),
    ({"schedule": "0 25 * * *"}, 422, "schedule"),
    ({"timezone": "Europe/Atlantis"}, 422, "timezone"),
    ({"schedule": 5}, 422, "schedule"),
    ({"fields": ["id", "colour"]}, 422, "colour"),
    ({"filters": {"colour": "red"}}, 422, "colour"),
    ({"entity": "widgets"}, 422, "entity"),
    ({"format": "pdf"}, 422, "format"),
    ({"every": "day"}, 422, "every"),
])
def test_bad_schedules_answer_naming_the_field_and_write_nothing(
        admin: Api, body: dict[str, Any], status: int, named: str) -> None:
    before = snapshot()
    err = assert_error(admin.post(S, {**BODY, **body}), status, "VALIDATION_ERROR")
    assert named in json.dumps(err["details"]) + err["message"]
    assert [k for k in snapshot() if k not in before and k[0].startswith("EXPSCHED")] == []


def test_malformed_bodies_and_empty_changes(admin: Api) -> None:
    assert_error(admin.post(S, raw="{not json", headers={"Content-Type": "application/json"}),
                 400, "VALIDATION_ERROR")
    assert_error(admin.post(S, {"entity": "products"}), 422, "VALIDATION_ERROR")
    made = create(admin)
    assert_error(admin.patch(f"{S}/{made['id']}", {}), 422, "VALIDATION_ERROR")
    assert_error(admin.patch(f"{S}/{made['id']}", {"paused": "yes"}), 422, "VALIDATION_ERROR")
    err = assert_error(admin.patch(f"{S}/{made['id']}", {"timezone": "Nowhere/Town"}), 422,
                       "VALIDATION_ERROR")
    assert "timezone" in json.dumps(err["details"])
    assert_error(admin.patch(f"{S}/xsc_nothing", {"name": "x"}), 404, "NOT_FOUND")


def test_scopes_exports_run_and_the_entity_read_scope(admin: Api) -> None:
    reader = key(admin, ["products:read"])
    assert_error(reader.post(S, BODY), 403, "AUTHORIZATION_ERROR")
    assert_error(reader.get(S), 403, "AUTHORIZATION_ERROR")
    exporter = key(admin, ["exports:run", "products:read"])
    err = assert_error(exporter.post(S, {**BODY, "entity": "orders"}), 403,
                       "AUTHORIZATION_ERROR")
    assert "orders:read" in err["message"]
    made = create(exporter)
    assert made["runAs"].startswith("api_key:")
    # Changing what it exports is checked as the caller's own export.
    assert_error(exporter.patch(f"{S}/{made['id']}", {"entity": "orders"}), 403,
                 "AUTHORIZATION_ERROR")
    assert stored(made["id"]).export["entity"] == "products"


def test_another_owner_gets_404_and_an_admin_sees_all(admin: Api) -> None:
    alice, _ = make_user(admin, "alice", ["analyst"])
    bob, _ = make_user(admin, "bob", ["integrator"])
    made = create(alice)
    assert_error(bob.get(f"{S}/{made['id']}"), 404, "NOT_FOUND")
    assert_error(bob.patch(f"{S}/{made['id']}", {"paused": True}), 404, "NOT_FOUND")
    assert_error(bob.delete(f"{S}/{made['id']}"), 404, "NOT_FOUND")
    assert bob.get(S).json["data"] == []
    assert stored(made["id"]).paused is False
    assert [s["id"] for s in admin.get(S).json["data"]] == [made["id"]]
    assert admin.patch(f"{S}/{made['id']}", {"paused": True}).json["data"]["paused"] is True


def test_an_owner_holds_a_bounded_number_of_schedules(admin: Api,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.exchange.exports.schedules import service

    monkeypatch.setattr(service, "MAX_PER_OWNER", 2)
    first = create(admin)
    create(admin)
    assert_error(admin.post(S, BODY), 409, "CONFLICT")
    assert admin.delete(f"{S}/{first['id']}").status_code == 204
    create(admin)


# -- the tick ----------------------------------------------------------------------------

def test_a_due_schedule_starts_once_and_its_run_completes(admin: Api) -> None:
    seed_products(3)
    made = create(admin, schedule="rate(5 minutes)")
    assert tick() == {}  # not due yet
    to_due(made["id"])
    assert tick() == {"started": 1}
    assert tick() == {}
    [job] = export_jobs()
    assert job.params["scheduleId"] == made["id"] and job.owner == stored(made["id"]).owner
    assert run_jobs() == 1
    from chalicelib.jobs import repo

    assert repo.get(job.id).status == "completed"
    now = admin_view = stored(made["id"])
    assert admin_view.last_export_id == job.id and now.runs == 1
    [event] = [e for e in events_of("export.completed") if e["data"]["exportId"] == job.id]
    assert event["owner"] == job.owner and event["data"]["rows"] == 3


def test_two_racing_ticks_start_a_run_once(admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first tick reads the due schedule, then the second runs whole before the first
    writes: the first's condition (nextRunAt still the due time read) fails."""
    from chalicelib.exchange.exports.schedules import repo

    made = create(admin, schedule="rate(1 minute)")
    to_due(made["id"])
    read = repo.get_many
    other: list[dict[str, int]] = []

    def read_then_race(ids: list[str]) -> Any:
        found = read(ids)
        if not other:
            other.append({})
            other[0] = tick()
        return found

    monkeypatch.setattr(repo, "get_many", read_then_race)
    first = tick()
    assert other == [{"started": 1}] and first == {"raced": 1}
    assert len(export_jobs()) == 1
    assert stored(made["id"]).runs == 1


def test_a_missed_stretch_runs_once_then_the_next_future_slot(admin: Api) -> None:
    from chalicelib.core import clock

    made = create(admin, schedule="rate(1 hour)")
    slot = clock.parse_iso(made["nextRunAt"])
    clock.advance(slot - clock.now() + 5 * 3600 + 600)  # five hours of ticks missed
    assert tick() == {"started": 1}
    assert tick() == {}
    after = stored(made["id"])
    assert clock.parse_iso(after.next_run_at) == slot + 6 * 3600 > clock.now()
    assert len(export_jobs()) == 1 and len(due_entries()) == 1


def test_pause_and_delete_stop_runs_and_resume_starts_again(admin: Api) -> None:
    from chalicelib.core import clock

    paused = create(admin, schedule="rate(1 minute)")
    deleted = create(admin, schedule="rate(1 minute)")
    answer = admin.patch(f"{S}/{paused['id']}", {"paused": True}).json["data"]
    assert answer["paused"] is True and answer["nextRunAt"] is None
    assert answer["pausedReason"].startswith("Paused by")
    assert admin.delete(f"{S}/{deleted['id']}").status_code == 204
    clock.advance(600)
    assert tick() == {} and export_jobs() == []
    clock.advance(-600)  # the admin's token is an hour's
    resumed = admin.patch(f"{S}/{paused['id']}", {"paused": False}).json["data"]
    assert resumed["paused"] is False and resumed["pausedReason"] is None
    assert clock.parse_iso(resumed["nextRunAt"]) > clock.now()
    to_due(paused["id"])
    assert tick() == {"started": 1}


def test_a_run_still_going_makes_the_next_slot_skip(admin: Api) -> None:
    made = create(admin, schedule="rate(1 minute)")
    to_due(made["id"])
    assert tick() == {"started": 1}
    to_due(made["id"])
    assert tick() == {"skipped": 1}
    run_jobs()
    to_due(made["id"])
    assert tick() == {"started": 1}
    assert stored(made["id"]).skipped_runs == 1 and len(export_jobs()) == 2


def test_an_owner_who_loses_the_right_sees_the_run_fail_and_the_schedule_pause(
        admin: Api) -> None:
    seed_products(2)
    ann, user = make_user(admin, "ann", ["analyst"])
    made = create(ann, schedule="rate(1 minute)")
    assert admin.put(f"{V}/users/{user['id']}", {"roles": ["viewer"]}).status_code == 200
    to_due(made["id"])
    assert tick() == {"paused": 1}
    after = stored(made["id"])
    assert after.paused and after.next_run_at is None and "exports:run" in after.paused_reason
    run_jobs()
    [job] = export_jobs()
    from chalicelib.jobs import repo

    failed = repo.get(job.id)
    assert failed.status == "failed" and failed.errors[0]["code"] == "AUTHORIZATION_ERROR"
    [event] = events_of("export.failed")
    assert event["owner"] == user["id"]
    from chalicelib.core import clock

    clock.advance(600)
    assert tick() == {} and len(export_jobs()) == 1
    assert due_entries() == []


def test_a_schedule_set_by_a_key_pauses_when_the_key_expires(admin: Api) -> None:
    from chalicelib.core import clock

    expiry = clock.iso(clock.now() + 7200)
    short = key(admin, ["exports:run", "products:read"], expiresAt=expiry)
    made = create(short, schedule="rate(1 hour)")
    clock.advance(3 * 3600)
    assert tick() == {"paused": 1}
    assert "expired" in stored(made["id"]).paused_reason and export_jobs() == []


def test_a_schedule_set_by_a_key_pauses_when_the_key_is_revoked(admin: Api) -> None:
    """What a key set up ends with the key: its owner's rights still hold, but the key
    that set the schedule is gone, so no further export runs on its authority."""
    made_key = admin.post(f"{V}/api-keys", {"name": "k", "scopes": ["exports:run",
                                                                     "products:read"]})
    assert made_key.status_code == 201, made_key.body
    made = create(admin.as_key(made_key.json["data"]["key"]), schedule="rate(1 hour)")
    revoked = admin.delete(f"{V}/api-keys/{made_key.json['data']['id']}")
    assert revoked.status_code in (200, 204), revoked.body
    to_due(made["id"])
    assert tick() == {"paused": 1}
    assert "revoked" in stored(made["id"]).paused_reason and export_jobs() == []


def test_a_sandbox_keys_schedule_makes_sandbox_exports(admin: Api) -> None:
    seed_products(2, ns="live")
    seed_products(1, ns="sandbox")
    sandbox = key(admin, ["exports:run", "products:read"], sandbox=True)
    live = create(admin)
    made = create(sandbox, schedule="rate(1 minute)")
    assert made["sandbox"] is True
    assert [s["id"] for s in sandbox.get(S).json["data"]] == [made["id"]]
    assert_error(sandbox.get(f"{S}/{live['id']}"), 404, "NOT_FOUND")
    assert_error(sandbox.patch(f"{S}/{live['id']}", {"paused": True}), 404, "NOT_FOUND")
    to_due(made["id"])
    assert tick() == {"started": 1}
    run_jobs()
    [job] = export_jobs()
    assert job.sandbox is True and job.status == "completed" and job.result["rows"] == 1


# -- review fixes: the tick's pages, unreadable schedules, nulls in a change ------------

def test_a_tick_starts_every_due_schedule_page_after_page(
        admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.exchange.exports.schedules import repo
    from chalicelib.exchange.exports.schedules import tick as ticker

    monkeypatch.setattr(ticker, "MAX_PER_TICK", 3)
    pages: list[int] = []
    read = repo.due

    def counted(*args: Any) -> Any:
        entries, cursor = read(*args)
        pages.append(len(entries))
        return entries, cursor

    monkeypatch.setattr(repo, "due", counted)
    made = [create(admin, schedule="rate(1 hour)")["id"] for _ in range(7)]
    to_due(made[-1])  # created within the same minute or two: all due by then
    assert tick() == {"started": 7}
    assert pages == [3, 3, 1]
    assert all(stored(i).runs == 1 for i in made) and len(export_jobs()) == 7
    assert tick() == {}


def test_a_tick_out_of_time_leaves_the_rest_to_the_next(
        admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.exchange.exports.schedules import tick as ticker

    monkeypatch.setattr(ticker, "MAX_PER_TICK", 2)
    monkeypatch.setattr(ticker, "TICK_BUDGET", 0.0)  # one page, then the budget is spent
    made = [create(admin, schedule="rate(1 hour)")["id"] for _ in range(3)]
    to_due(made[-1])
    assert tick() == {"started": 2, "pending": 1}
    assert tick() == {"started": 1}
    assert sum(stored(i).runs for i in made) == 3


def test_a_failing_run_does_not_stop_the_pages_after_it(
        admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.exchange.exports.schedules import tick as ticker

    monkeypatch.setattr(ticker, "MAX_PER_TICK", 2)
    made = [create(admin, schedule="rate(1 hour)")["id"] for _ in range(5)]
    to_due(made[-1])
    fire = ticker.fire

    def first_fails(s: Any, *args: Any) -> str:
        if s.id == made[0]:
            raise RuntimeError("boom")
        return fire(s, *args)

    monkeypatch.setattr(ticker, "fire", first_fails)
    assert tick() == {"error": 1, "started": 4}  # read once, not again page after page
    assert tick() == {"error": 1}                # still due: tried again next minute


@pytest.mark.parametrize("broken", [{"timezone": "Mars/Olympus_Mons"},
                                    {"schedule": "0 0 31 2 *"}])
def test_a_schedule_that_no_longer_reads_pauses_with_the_reason(
        admin: Api, broken: dict[str, str]) -> None:
    from chalicelib.store import table as store

    made = create(admin, schedule="*/5 * * * *", timezone="Europe/Paris")
    # As a tzdata update dropping the zone (or a stricter parser) would leave it.
    item = store.get(f"EXPSCHED#{made['id']}", "EXPSCHED", consistent=True)
    assert item is not None
    store.put({**item, **broken})
    to_due(made["id"])
    assert tick() == {"paused": 1}
    after = stored(made["id"])
    assert after.paused and after.next_run_at is None and export_jobs() == []
    assert "no longer reads" in after.paused_reason
    assert next(iter(broken.values())) in after.paused_reason
    assert due_entries() == []
    shown = admin.get(f"{S}/{made['id']}").json["data"]
    assert shown["paused"] is True and "no longer reads" in shown["pausedReason"]
    from chalicelib.core import clock


    # Resumed as it is: a 422 saying what to send, and it stays paused.
    err = assert_error(admin.patch(f"{S}/{made['id']}", {"paused": False}), 422,
                       "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "schedule" and stored(made["id"]).paused
    clock.advance(86400)
    assert tick() == {}  # no longer every minute


@pytest.mark.parametrize("field", ["entity", "format", "schedule", "timezone", "paused"])
def test_a_change_may_not_null_what_a_schedule_always_has(admin: Api, field: str) -> None:
    made = create(admin, schedule="rate(1 hour)")
    before = stored(made["id"])
    err = assert_error(admin.patch(f"{S}/{made['id']}", {field: None}), 422,
                       "VALIDATION_ERROR")
    assert field in {d.get("field") for d in err["details"]}, err
    assert stored(made["id"]) == before  # nothing written, the ceiling included


def test_a_change_may_null_the_optional_fields(admin: Api) -> None:
    made = create(admin, name="n", fields=["id", "sku"], filters={"category": "kitchen"})
    changed = admin.patch(f"{S}/{made['id']}", {"name": None, "fields": None,
                                                "filters": None})
    assert changed.status_code == 200, changed.body
    data = changed.json["data"]
    assert data["name"] is None and data["fields"] is None and not data["filters"]


def test_the_change_schema_says_which_fields_take_null() -> None:
    from chalicelib.exchange.exports.schedules.models import UpdateSchedule

    schema = UpdateSchedule.model_json_schema(by_alias=True)
    props = schema["properties"]
    for name in ("entity", "format", "schedule", "timezone", "paused"):
        assert "null" not in json.dumps(props[name]), name
    assert "null" in json.dumps(props["name"]) and schema["minProperties"] == 1
