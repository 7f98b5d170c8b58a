"""`plan` and budgets against the sandbox's request log: the plan is what the next push sends; a budget stops it."""

from __future__ import annotations

import json

import polars as pl
from conftest import SandboxHandle
from import_harness import ImportHarness, step
from polars.testing import assert_frame_equal
from test_export_assets import DAY1, DAY2, IMPORTS, SEGMENTS, exports, harness, tracked  # noqa: F401 (fixture)

from assets.app.plan import chosen_goals, plan_selection, reviewed_plan
from assets.app.run import run_day
from pipeline import layout, notify
from pipeline.mapping import Connection
from pipeline.push import canonical, identity_text
from pipeline.runs import list_runs
from pipeline.storage.parquet import read_parquet

FLAGS = {"_update_existing_only"}


def sent_rows(sandbox: SandboxHandle, since: int) -> pl.DataFrame:
    """(identity, attribute, value) of every attribute /users/track received, values as canonical JSON."""
    rows = []
    for obj in tracked(sandbox, since):
        identity = identity_text({k: v for k, v in obj.items() if k == "external_id"})
        attributes = {name: value for name, value in obj.items() if name not in {"external_id", *FLAGS}}
        rows += [(identity, name, canonical(value)) for name, value in attributes.items()]
    return pl.DataFrame(rows, schema=["identity", "attribute", "value"], orient="row").sort("identity", "attribute")


def plan_only(made: ImportHarness, day: str, connection: Connection) -> None:
    """What `profilesync plan` runs: the day up to export_changes, outside the run history, then the plan's CSV."""
    chosen = chosen_goals([connection], None, None)
    (summary,) = run_day(day, [connection], made.instance, select=plan_selection(chosen), history=False)
    assert summary.success, summary.failures
    assert not any(s.key.endswith("braze_push") for s in summary.steps)
    assert not made.store.exists(layout.export_plan_csv("acme", "vip_to_braze", day))  # the run writes no CSV
    for chosen_connection, goal in chosen:
        reviewed_plan(chosen_connection, goal, day)


def test_the_plan_is_exactly_what_the_next_push_sends(harness: ImportHarness) -> None:  # noqa: F811
    sandbox, store = harness.sandbox, harness.store
    connection = harness.connection(IMPORTS, extra=SEGMENTS, exports=exports())
    assert harness.run(DAY1, connection).success
    harness.track({"external_id": "u1", "points": 170}, {"external_id": "u2", "points": 400})  # u2 joins

    start = sandbox.admin.last_seq()
    plan_only(harness, DAY2, connection)
    assert tracked(sandbox, start) == []  # planning sends nothing
    planned = read_parquet(store, layout.export_plan("acme", "vip_to_braze", DAY2))
    csv = pl.read_csv(store.read_bytes(layout.export_plan_csv("acme", "vip_to_braze", DAY2)), infer_schema=False)
    assert_frame_equal(csv, planned)  # the spreadsheet holds the same rows, nulls as nulls
    u1 = planned.filter(pl.col("identity") == '{"external_id":"u1"}', pl.col("attribute") == "loyalty_points")
    assert u1.select("acknowledged", "value").row(0) == ("150", "170")
    assert planned.filter(pl.col("identity") == '{"external_id":"u2"}')["acknowledged"].is_null().all()
    history = list_runs(store, "acme", last=None)
    assert [r.day for r in history] == [DAY1]  # a plan is not a run of the day

    start = sandbox.admin.last_seq()
    run = harness.run(DAY2, connection)
    assert run.success, run.failures
    assert_frame_equal(sent_rows(sandbox, start), planned.select("identity", "attribute", "value"))
    metadata = step(run, "export_changes")
    assert (metadata["joiners"], metadata["leavers"], metadata["dead_letters"], metadata["members"]) == (1, 0, 0, 3)
    preview = metadata["preview"]
    assert len(preview.records) == planned.height and preview.records[0].data["identity"] == '{"external_id":"u1"}'


def test_a_budget_stops_the_push_and_the_override_sends_it(harness: ImportHarness) -> None:  # noqa: F811
    sandbox, store = harness.sandbox, harness.store
    goal = exports().replace("  fields:\n", "  budget: {data_points: 5, share_of_segment: 0.6}\n  fields:\n")
    connection = harness.connection(IMPORTS, extra=SEGMENTS, exports=goal)

    start = sandbox.admin.last_seq()
    refused = harness.run(DAY1, connection)
    assert not refused.success
    assert tracked(sandbox, start) == [] and step(refused, "export_changes")["data_points_forecast"] == 9
    (failure,) = [f for f in refused.failures if "braze_push" in f]
    expected = (
        "BudgetExceeded: acme/vip_to_braze 2026-11-01: the push's forecast is over budget: 9 data points, over "
        "the budget of 5; 100.0% of the segment (2 users of 2 members), over the budget of 60.0%. Nothing was sent."
    )
    assert expected in failure and "--override-budget" in failure and "plan.parquet" in failure
    (record,) = list_runs(store, "acme")
    assert record.failed_step == "acme/vip_to_braze/braze_push" and expected in notify.body(record)

    overridden = run_day(DAY1, [connection], harness.instance, override_budget=True)[0]
    assert overridden.success, overridden.failures
    assert sorted(o["external_id"] for o in tracked(sandbox, start)) == ["u1", "u3"]
    newest = list_runs(store, "acme")[0]
    assert newest.status == "SUCCESS" and newest.budget_overrides == [
        "acme/vip_to_braze 2026-11-01: pushed over budget by override: 9 data points, over the budget of 5; "
        "100.0% of the segment (2 users of 2 members), over the budget of 60.0%"
    ]
    assert "Pushed over budget by override:" in notify.body(newest)
    assert json.loads(store.read_bytes(layout.push_summary("acme", "vip_to_braze", DAY1)))["users_accepted"] == 2
