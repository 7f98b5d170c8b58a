"""`profilesync undo`: a day's push taken back on the sandbox, read back user by user."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from conftest import run_cli
from polars.testing import assert_frame_equal
from test_push import D1, D2, D3, REMOVE, C, frame, push, track_bodies, uid

from pipeline import layout
from pipeline.console import console, print_runs
from pipeline.push import PushError, canonical, read_baseline
from pipeline.push.undo import UndoRefused, plan_undo, run_undo
from pipeline.runs import list_runs
from pipeline.storage import open_store

DAY1 = [(uid(1), "tier", "bronze"), (uid(1), "tags", ["a", "b"]), (uid(1), "points", 10), (uid(2), "tier", "bronze")]
# u1: two changed, one new, one removed; u2 changed; u3 new to the goal (created); u4 refused by Braze.
DAY2 = [
    (uid(1), "tier", "gold"), (uid(1), "tags", ["a", "c"]), (uid(1), "vip", True), (uid(1), "points", REMOVE),
    (uid(2), "tier", "silver"), (uid(3), "tier", "gold"),
    (uid(4), "tier", "gold"), (uid(4), "email", "not an email"),
]  # fmt: skip
G = "vip"


@pytest.fixture
def store(tmp_path):
    return open_store(str(tmp_path / "store"))


def attributes(sandbox, *ids: int) -> dict[str, dict]:
    """The custom attributes Braze holds for users u<id> (None: no such user)."""
    users = {f"u{i:03d}": sandbox.admin.user("external_id", f"u{i:03d}") for i in ids}
    return {key: user and user["custom_attributes"] for key, user in users.items()}


def undo(sandbox, store, day: str, **options):
    with sandbox.client(max_retries=1) as client:
        return run_undo(client, store, plan_undo(store, C, G, day), **options)


def test_undo_restores_the_previous_day_exactly_and_only_once(sandbox, store) -> None:
    sandbox.admin.upsert_users([{"external_id": "u004"}])
    push(sandbox, store, D1, frame(DAY1))
    day1 = attributes(sandbox, 1, 2, 3, 4)
    assert day1["u001"] == {"tier": "bronze", "tags": ["a", "b"], "points": 10} and day1["u003"] is None
    push(sandbox, store, D2, frame(DAY2))
    assert attributes(sandbox, 1)["u001"] == {"tier": "gold", "tags": ["a", "c"], "vip": True}

    plan = plan_undo(store, C, G, D2)
    assert plan.counts() == {
        "users": 3, "attributes": 6, "restored": 4, "removed": 2, "data_points": 6,
        "held_by_later_days": 0, "not_acknowledged": 2, "users_created": 1,
    }  # fmt: skip
    assert plan.created == [uid(3)] and plan.refusal() is None
    since = sandbox.admin.last_seq()
    report = undo(sandbox, store, D2)

    assert track_bodies(sandbox, since) == [[
        {"external_id": "u001", "points": 10, "tags": ["a", "b"], "tier": "bronze", "vip": None,
         "_update_existing_only": True},
        {"external_id": "u002", "tier": "bronze", "_update_existing_only": True},
        {"external_id": "u003", "tier": None, "_update_existing_only": True},
    ]]  # fmt: skip
    after = attributes(sandbox, 1, 2, 3, 4)
    assert {k: after[k] for k in ("u001", "u002")} == {k: day1[k] for k in ("u001", "u002")}
    assert after["u003"] == {} and after["u004"] == {}  # created by day 2: kept, emptied; refused: untouched
    assert report.users_accepted == 3 and report.data_points == 6
    # The baseline is what Braze now holds, as of the undo; the new attributes are acknowledged removals.
    baseline = read_baseline(store, C, G)
    assert_frame_equal(
        baseline.filter(pl.col("as_of") == layout.undo_day(D2)).select("identity", "attribute", "value"),
        plan.changes.select("identity", "attribute", "value"),
    )
    held = {(json.loads(i)["external_id"], a): json.loads(v) for i, a, v, _ in baseline.iter_rows() if v is not None}
    assert held == {(u, a): v for u, attrs in after.items() if attrs for a, v in attrs.items()}

    with pytest.raises(UndoRefused, match=f"refused: {D2} is already undone"):
        plan_undo(store, C, G, D2)
    since = sandbox.admin.last_seq()
    push(sandbox, store, D2, frame(DAY2))  # a re-run of the undone day cannot bring its values back
    assert [obj["external_id"] for body in track_bodies(sandbox, since) for obj in body] == ["u004"]  # dead letter
    assert attributes(sandbox, 1, 2, 3) == {k: after[k] for k in ("u001", "u002", "u003")}
    assert_frame_equal(read_baseline(store, C, G), baseline)


def test_an_undo_is_refused_while_a_later_day_holds_the_same_attributes(sandbox, store) -> None:
    push(sandbox, store, D1, frame(DAY1))
    push(sandbox, store, D2, frame(DAY2[:5]))
    push(sandbox, store, D3, frame([(uid(1), "tier", "platinum")]))

    since = sandbox.admin.last_seq()
    with pytest.raises(UndoRefused, match=f"since: {D3} pushed tier .1 value.; undo those days first, or pass --force"):
        undo(sandbox, store, D2)
    assert track_bodies(sandbox, since) == []

    undo(sandbox, store, D3)  # undo the later day first: then the earlier one goes through
    assert attributes(sandbox, 1)["u001"]["tier"] == "gold"
    assert plan_undo(store, C, G, D2).refusal() is None
    undo(sandbox, store, D2)
    assert attributes(sandbox, 1, 2) == {
        "u001": {"tier": "bronze", "tags": ["a", "b"], "points": 10},
        "u002": {"tier": "bronze"},
    }


def test_force_undoes_the_rest_and_keeps_what_a_later_day_pushed(sandbox, store) -> None:
    push(sandbox, store, D1, frame(DAY1))
    push(sandbox, store, D2, frame(DAY2[:5]))
    push(sandbox, store, D3, frame([(uid(1), "tier", "platinum")]))
    plan = plan_undo(store, C, G, D2)
    assert plan.later.rows() == [(uid(1), "tier", D3)]
    assert "tier" not in plan.changes.filter(pl.col("identity") == uid(1))["attribute"].to_list()
    undo(sandbox, store, D2, force=True)
    assert attributes(sandbox, 1, 2) == {
        "u001": {"tier": "platinum", "tags": ["a", "b"], "points": 10},
        "u002": {"tier": "bronze"},
    }
    assert read_baseline(store, C, G).filter(pl.col("attribute") == "tier", pl.col("identity") == uid(1)).row(0) == (
        uid(1), "tier", canonical("platinum"), D3,
    )  # fmt: skip


CONNECTION = """\
connection: acme
schedule: "0 3 * * *"
start_date: "2026-03-01"
braze: {{rest_endpoint: "{url}", api_key: "${{PROFILESYNC_TEST_UNDO_KEY}}", max_requests_in_flight: 1}}
storage: {{root: "{root}", braze_exports: "{root}/exports"}}
segments: {{vip: "points >= 100"}}
import:
  - goal: members
    segment: Members
    identifiers: [{{braze: external_id, profile: external_id}}]
    fields: [{{braze: custom_attributes.points, profile: points, strategy: set}}]
export:
  - goal: vip
    segment: vip
    identifiers: [{{profile: external_id, braze: external_id}}]
    fields: [{{from: {{property: points}}, braze: tier}}]
"""


def test_the_command_plans_sends_once_and_records_the_undo(sandbox, store, tmp_path, capsys) -> None:
    push(sandbox, store, D1, frame(DAY1))
    push(sandbox, store, D2, frame(DAY2[:5]))
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "acme.yaml").write_text(CONNECTION.format(url=sandbox.url, root=store.root))
    env = {"PROFILESYNC_MAPPINGS": str(folder), "PROFILESYNC_TEST_UNDO_KEY": sandbox.api_key}
    command = ["undo", "--connection", C, "--goal", G, "--day", D2]

    since = sandbox.admin.last_seq()
    planned = run_cli(*command, "--plan", env=env)
    assert planned.returncode == 0, planned.stderr
    assert re.search(r"users\s+│\s+2\b", planned.stdout) and re.search(r"data points\s+│\s+5\b", planned.stdout)
    assert sandbox.admin.requests(since) == []  # --plan sends nothing

    done = run_cli(*command, env=env)
    assert done.returncode == 0, done.stderr
    assert f"undo {C}/{G} {D2}: done: 2 users restored, 0 rejected" in done.stdout
    assert attributes(sandbox, 1, 2)["u002"] == {"tier": "bronze"}

    again = run_cli(*command, env=env)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.count("\n") == 1 and f"refused: {D2} is already undone" in again.stderr
    [record] = list_runs(store, C)
    assert (record.job, record.day, record.status, record.counts["updated"]) == ("undo", D2, "SUCCESS", 2)
    console.width = 200
    print_runs([record], as_json=False)
    assert f"{D2} (undo)" in capsys.readouterr().out


def test_a_failed_undo_is_resumed_and_sends_only_the_rest(sandbox, store) -> None:
    push(sandbox, store, D1, frame([(uid(i), "tier", "bronze") for i in range(300)]))
    push(sandbox, store, D2, frame([(uid(i), "tier", "gold") for i in range(300)]))  # four batches
    progress: list[str] = []

    def break_braze_after_one_batch(message: str) -> None:
        progress.append(message)
        if sum("users sent" in m for m in progress) == 1:
            sandbox.admin.set_faults(error_rate_5xx=1.0, error_status=503, endpoints=["/users/track"])

    with pytest.raises(PushError, match="rerunning this day sends only the rest") as caught:
        undo(sandbox, store, D2, max_in_flight=1, progress=break_braze_after_one_batch)
    done = caught.value.report.users_accepted
    assert 75 <= done < 300
    sandbox.admin.clear_faults()
    assert plan_undo(store, C, G, D2).refusal() is None  # its own restored values are no later change
    since = sandbox.admin.last_seq()
    report = undo(sandbox, store, D2)
    assert (report.already_acknowledged, report.users_accepted) == (done, 300 - done)
    assert sum(len(body) for body in track_bodies(sandbox, since)) == 300 - done
    assert {attrs["tier"] for attrs in attributes(sandbox, *range(0, 300, 7)).values()} == {"bronze"}
