"""Echoes: values Braze shows only because profilesync pushed them, told apart from real changes."""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from pipeline.delta import change_counts, compute_changes, diff
from pipeline.echoes import EchoSources, acknowledged, mark_echoes
from pipeline.imports import goal_rules
from pipeline.mapping import load_connections, validate_folder
from pipeline.mapping.echo_rules import left_out_notes
from pipeline.profiles import (
    FieldRule,
    GoalRules,
    IdentifierRule,
    build_day,
    empty_snapshot,
    find_profile,
    write_snapshot,
)
from pipeline.push import canonical, identity_text
from pipeline.push.checkpoint import write_baseline
from pipeline.push.frames import BASELINE_SCHEMA
from pipeline.staging import stage_export, write_staged
from pipeline.storage import ObjectStore, open_store
from pipeline.storage.parquet import read_parquet

OLD = pl.DataFrame(
    {
        "braze_id": ["b1", "b2", "b3", "b4"],
        "external_id": ["u1", "u2", "u3", "u4"],
        "country": ["NL", "DE", "DE", "FR"],
        "custom_attributes.points": [1, 2, 3, 4],
        "custom_attributes.tags": [["a"], None, None, None],
        "custom_attributes.seen": [None, None, None, datetime(2026, 1, 1)],
    },
    schema_overrides={"custom_attributes.seen": pl.Datetime("us", "UTC")},
)


def baseline(rows: list[tuple[str, str, object, str]]) -> pl.DataFrame:
    """(external_id, attribute, value, as_of) as a baseline frame."""
    return pl.DataFrame(
        [(identity_text({"external_id": e}), a, None if v is None else canonical(v), d) for e, a, v, d in rows],
        schema=BASELINE_SCHEMA,
        orient="row",
    )


def ours(store: ObjectStore, rows: list[tuple[str, str, object, str]], day: str = "2026-01-02") -> pl.DataFrame:
    write_baseline(store, "acme", "to_braze", baseline(rows), "test")
    return acknowledged(store, [("acme", "to_braze")], day)


def test_pushed_values_coming_back_are_echoes_and_others_real_changes(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    new = OLD.with_columns(
        pl.Series("custom_attributes.points", [10, 20, 3, 4]),  # b1: ours; b2: someone else's 20
        pl.Series("country", ["BE", "DE", "DE", "FR"]),  # b1: ours too
        pl.Series("custom_attributes.tags", [["a", "b"], None, ["x"], None]),  # b3: ours
        pl.Series("custom_attributes.seen", [None, None, None, datetime(2026, 1, 5)], pl.Datetime("us", "UTC")),
    )
    acked = ours(
        store,
        [
            ("u1", "points", 10.0, "2026-01-01"),  # 10.0 pushed, Braze shows 10: the same number
            ("u1", "country", "BE", "2026-01-01"),
            ("u2", "points", 19, "2026-01-01"),  # we pushed 19, someone made it 20
            ("u3", "tags", ["x"], "2026-01-01"),
            ("u4", "seen", "2026-01-05T00:00:00.000Z", "2026-01-01"),
            ("u1", "tags", ["a", "b"], "2026-01-02"),  # pushed on the import's own day: not yet seen
        ],
    )
    marked = mark_echoes(diff(new.lazy(), OLD.lazy()), acked).collect()
    got = marked.select("braze_id", "_change", "_changed_fields", "_echo_fields")
    expected = pl.DataFrame(
        {
            "braze_id": ["b1", "b2", "b3", "b4"],
            "_change": ["changed", "changed", "echo", "echo"],
            "_changed_fields": [["custom_attributes.tags"], ["custom_attributes.points"], [], []],
            "_echo_fields": [
                ["country", "custom_attributes.points"], [], ["custom_attributes.tags"], ["custom_attributes.seen"]
            ],
        }
    )  # fmt: skip
    assert_frame_equal(got, expected, check_dtypes=False)
    pushed = marked.filter(pl.col("braze_id") == "b2")["_pushed_values"].to_list()
    assert pushed == [[{"field": "custom_attributes.points", "value": "19"}]]  # what Braze held before the change
    later = mark_echoes(diff(new.lazy(), OLD.lazy()), acked, since="2026-01-02").collect()
    assert later["_pushed_values"].list.len().sum() == 0  # pushed before the previous copy: it showed it
    counts = change_counts(marked, new.height)
    assert counts == {"added": 0, "changed": 2, "removed": 0, "echoes": 2, "seen_changed": 4, "unchanged": 0}


def test_a_removal_braze_accepted_echoes_an_empty_field_and_identities_match_by_any_identifier(
    tmp_path: Path,
) -> None:
    store = open_store(str(tmp_path))
    new = OLD.with_columns(pl.Series("country", [None, "DE", "DE", "FR"]))
    write_baseline(
        store,
        "other",
        "by_braze_id",
        pl.DataFrame(
            [(identity_text({"braze_id": "b1"}), "country", None, "2026-01-01")], BASELINE_SCHEMA, orient="row"
        ),
        "test",
    )
    acked = acknowledged(store, [("other", "by_braze_id"), ("acme", "none_yet")], "2026-01-02")
    marked = mark_echoes(diff(new.lazy(), OLD.lazy()), acked).collect()
    assert marked.select("_change", "_echo_fields").rows() == [("echo", ["country"])]


def test_sum_basis_moves_to_the_echo_without_touching_the_profile() -> None:
    rules = GoalRules(
        "acme/members",
        [IdentifierRule("external_id", "external_id")],
        allow_create=True,
        fields=[FieldRule("custom_attributes.points", "points", "sum")],
    )
    day1 = pl.DataFrame(
        {"braze_id": ["b1"], "_change": ["added"], "_echo_fields": [[]],
         "_changed_fields": [["braze_id", "external_id", "custom_attributes.points"]],
         "external_id": ["u1"], "custom_attributes.points": [5]},
        schema_overrides={"_echo_fields": pl.List(pl.String)},
    )  # fmt: skip
    snapshot, _ = build_day(empty_snapshot(), [(rules, day1)], date(2026, 1, 1))
    # Day 2: another source made it 12 and we pushed 12; Braze shows 12: an echo.
    snapshot = replace(snapshot, profiles=snapshot.profiles.with_columns(pl.lit(12).alias("points")))
    echo = day1.with_columns(
        pl.lit("echo").alias("_change"), pl.lit([], pl.List(pl.String)).alias("_changed_fields"),
        pl.lit(["custom_attributes.points"]).alias("_echo_fields"), pl.lit(12).alias("custom_attributes.points"),
    )  # fmt: skip
    after, report = build_day(snapshot, [(rules, echo)], date(2026, 1, 2))
    assert after.profiles["points"].to_list() == [12]
    assert report.profiles_updated == 0 and report.echoes == 1 and report.changed == 0
    assert after.sum_basis["value"].to_list() == [12.0]
    # Day 3: someone in Braze adds 3 (12 → 15): only those 3 are added.
    real = day1.with_columns(
        pl.lit("changed").alias("_change"), pl.lit(["custom_attributes.points"]).alias("_changed_fields"),
        pl.lit(15).alias("custom_attributes.points"),
    )  # fmt: skip
    final, _ = build_day(after, [(rules, real)], date(2026, 1, 3))
    assert final.profiles["points"].to_list() == [15]


CONNECTION = """\
connection: {name}
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "http://127.0.0.1:9", api_key: "${{BRAZE_API_KEY}}"}}
storage: {{root: "{root}", braze_exports: "s3://exports"}}
"""
IMPORTS = """\
import:
  - goal: everyone
    segment: All
    identifiers: [{braze: external_id, profile: external_id}]
    allow_create: true
    fields: [{braze: custom_attributes.points, profile: points}]
    remaining_fields: {prefix: braze_}
"""
EXPORTS = """\
profile_properties: [points]
segments: {members: "points >= 0"}
export:
  - goal: back
    segment: members
    identifiers: [{profile: external_id, braze: external_id}]
    fields:
      - {from: {property: points}, braze: loyalty_points}
      - {from: {property: points}, braze: points}
      - {from: {static: Amsterdam}, braze: home_city}
"""


def test_remaining_fields_leave_out_what_export_goals_of_the_store_write(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BRAZE_API_KEY", "k" * 36)
    (tmp_path / "a.yaml").write_text(CONNECTION.format(name="a", root="/tmp/shared") + IMPORTS)
    (tmp_path / "b.yaml").write_text(CONNECTION.format(name="b", root="/tmp/shared") + EXPORTS)
    (tmp_path / "c.yaml").write_text(CONNECTION.format(name="c", root="/tmp/other") + IMPORTS)
    a, b, c = load_connections(tmp_path)
    rules = goal_rules(a, a.imports[0], [a, b])
    assert rules.remaining is not None
    assert rules.remaining.leave_out == {"custom_attributes.loyalty_points", "custom_attributes.points", "home_city"}
    assert goal_rules(c, c.imports[0], [c]).remaining.leave_out == frozenset()  # another store: nothing is ours
    # Someone else changed loyalty_points in Braze: still not a Braze field to copy, it is ours.
    changes = pl.DataFrame(
        {"braze_id": ["b1"], "_change": ["added"], "_changed_fields": [["braze_id", "external_id", "home_city",
         "custom_attributes.loyalty_points", "custom_attributes.plan"]], "external_id": ["u1"], "home_city": ["Rome"],
         "custom_attributes.loyalty_points": [7], "custom_attributes.plan": ["pro"]}
    )  # fmt: skip
    snapshot, _ = build_day(empty_snapshot(), [(rules, changes)], date(2026, 11, 1))
    assert snapshot.properties() == ["braze_plan"]
    notes = left_out_notes([a, b, c])
    assert notes == [
        "a.yaml: import goal 'everyone': remaining_fields leaves out custom_attributes.loyalty_points, home_city: "
        "export goal(s) b/back write them to these Braze users, so their values are profilesync's own, not "
        "Braze's; map one under fields: to import it anyway"
    ]


LOOP = """\
import:
  - goal: braze_points
    segment: All
    identifiers: [{braze: external_id, profile: external_id}]
    fields:
      - {braze: custom_attributes.points, profile: points, strategy: sum}
      - {braze: custom_attributes.points, profile: points_seen, strategy: set}
"""


def test_a_feedback_loop_is_refused_at_the_import_field_unless_accepted(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BRAZE_API_KEY", "k" * 36)
    (tmp_path / "a.yaml").write_text(CONNECTION.format(name="a", root="/tmp/shared") + LOOP)
    (tmp_path / "b.yaml").write_text(CONNECTION.format(name="b", root="/tmp/shared") + EXPORTS)
    (error,) = validate_folder(tmp_path)
    assert str(error).startswith(
        f"{tmp_path / 'a.yaml'}:11:17: feedback loop: custom_attributes.points is read with sum and written by "
        "export goal 'back' at b.yaml:14; every push would come back and be added again"
    )
    assert "echo: accept" in str(error)
    (tmp_path / "a.yaml").write_text(
        CONNECTION.format(name="a", root="/tmp/shared") + LOOP.replace("strategy: sum}", "strategy: sum, echo: accept}")
    )
    assert validate_folder(tmp_path) == []
    (tmp_path / "b.yaml").write_text(CONNECTION.format(name="b", root="/tmp/elsewhere") + EXPORTS)
    (tmp_path / "a.yaml").write_text(CONNECTION.format(name="a", root="/tmp/shared") + LOOP)
    assert validate_folder(tmp_path) == []  # another store: no loop


def test_each_property_records_the_goal_and_day_that_last_set_it() -> None:
    crm = GoalRules("a/crm", [IdentifierRule("external_id", "external_id")], True, [FieldRule("country", "country")])
    shop = GoalRules(
        "a/shop", [IdentifierRule("external_id", "external_id")], False,
        [FieldRule("country", "country"), FieldRule("custom_attributes.points", "points", "sum")],
    )  # fmt: skip
    row = {"braze_id": ["b1"], "_change": ["added"], "external_id": ["u1"]}
    day1 = pl.DataFrame({**row, "_changed_fields": [["external_id", "country"]], "country": ["NL"]})
    snapshot, _ = build_day(empty_snapshot(), [(crm, day1)], date(2026, 11, 1))
    day2 = pl.DataFrame(
        {**row, "_changed_fields": [["country", "custom_attributes.points"]], "country": ["NL"],
         "custom_attributes.points": [5]}
    )  # fmt: skip
    snapshot, _ = build_day(snapshot, [(shop, day2)], date(2026, 11, 2))  # same country: its origin stays
    profile = find_profile(snapshot, "external_id", "u1")
    assert profile is not None and profile["provenance"] == {
        "country": {"goal": "a/crm", "day": date(2026, 11, 1)},
        "points": {"goal": "a/shop", "day": date(2026, 11, 2)},
    }


def test_a_change_back_to_an_old_push_is_real_but_a_new_user_showing_it_is_an_echo(tmp_path: Path) -> None:
    """The issue's case: Braze was changed after our push (the previous copy shows that), then
    changed again to the very value we had pushed before the copy: someone else wrote it."""
    store = open_store(str(tmp_path))
    old = OLD.filter(pl.col("braze_id") != "b4")  # b4 is new to the segment today
    new = OLD.with_columns(pl.Series("country", ["BE", "DE", "DE", "BE"]))
    acked = ours(store, [("u1", "country", "BE", "2026-01-01"), ("u4", "country", "BE", "2026-01-01")], "2026-01-04")
    marked = mark_echoes(diff(new.lazy(), old.lazy()), acked, since="2026-01-03").collect()
    got = marked.select("braze_id", "_change", "_echo_fields").rows()
    assert got == [("b1", "changed", []), ("b4", "added", ["country"])]  # b1: pushed before the copy of the 3rd
    pushed_since = mark_echoes(diff(new.lazy(), old.lazy()), acked, since="2026-01-01").collect()
    assert pushed_since["_change"].to_list() == ["echo", "added"]  # pushed after the copy: ours
    # Provenance: an import goal set a property from b4's country on the 2nd, after our push:
    # Braze's value changed after us, so its return to our old value is not ours either.
    evidence = pl.LazyFrame({"braze_id": ["b4"], "field": ["country"], "origin_day": ["2026-01-02"]})
    marked = mark_echoes(diff(new.lazy(), old.lazy()), acked, since="2026-01-01", evidence=evidence).collect()
    assert marked.select("braze_id", "_change", "_echo_fields").rows() == [
        ("b1", "echo", ["country"]),
        ("b4", "added", []),
    ]
    same_day = evidence.with_columns(pl.lit("2026-01-01").alias("origin_day"))  # imported before that day's push
    marked = mark_echoes(diff(new.lazy(), old.lazy()), acked, since="2026-01-01", evidence=same_day).collect()
    assert marked["_echo_fields"].to_list() == [["country"], ["country"]]


def test_lists_and_objects_with_dates_inside_are_echoes_when_equal_to_our_push(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    seen = [datetime(2026, 1, 5, 10, 30, 0, 123456), datetime(2026, 1, 6)]
    visit = {"day": date(2026, 1, 5), "at": datetime(2026, 1, 5, 9), "items": [1, 2], "shop": "Utrecht"}
    new = pl.DataFrame(
        {"braze_id": ["b1", "b2"], "external_id": ["u1", "u2"],
         "custom_attributes.seen": [seen, seen[:1]], "custom_attributes.visit": [visit, {**visit, "items": [3]}]},
        schema_overrides={"custom_attributes.seen": pl.List(pl.Datetime("us", "UTC"))},
    )  # fmt: skip
    old = new.with_columns(
        pl.col("custom_attributes.seen").list.head(1),
        pl.col("custom_attributes.visit").struct.with_fields(pl.lit("Delft").alias("shop")),
    )
    pushed_visit = {"at": "2026-01-05T09:00:00.000Z", "day": "2026-01-05", "items": [1.0, 2], "shop": "Utrecht"}
    acked = ours(
        store,
        [
            ("u1", "seen", ["2026-01-05T10:30:00.123Z", "2026-01-06T00:00:00.000Z"], "2026-01-01"),
            ("u1", "visit", pushed_visit, "2026-01-01"),
            ("u2", "seen", ["2026-01-05T10:30:00.123Z", "2026-01-06T00:00:00.000Z"], "2026-01-01"),  # Braze: 1 of 2
            ("u2", "visit", pushed_visit, "2026-01-01"),  # Braze shows items [3]
        ],
    )
    marked = mark_echoes(diff(new.lazy(), old.lazy()), acked, since="2026-01-01").collect()
    assert marked.select("braze_id", "_change", "_echo_fields").rows() == [
        ("b1", "echo", ["custom_attributes.seen", "custom_attributes.visit"]),
        ("b2", "changed", []),
    ]


def test_json_text_columns_are_compared_by_value_not_by_spelling(tmp_path: Path) -> None:
    """Mixed-type attributes are staged as JSON text; key order, number forms and escapes differ."""
    store = open_store(str(tmp_path))
    texts = ['{"b":[1.0,2],"a":{"y":"é","x":5}}', "5.0", '"\\u00e9t\\u00e9"', '{"a":1}', "[1,2]", "true"]
    users = [f"u{i}" for i in range(len(texts))]
    new = pl.DataFrame(
        {"braze_id": [f"b{i}" for i in range(len(texts))], "external_id": users, "custom_attributes.mix": texts}
    )
    old = new.with_columns(pl.lit("0").alias("custom_attributes.mix"))
    pushed = [{"a": {"x": 5, "y": "é"}, "b": [1, 2]}, 5, "été", {"a": 2}, [2, 1], True]
    acked = ours(store, [(u, "mix", v, "2026-01-01") for u, v in zip(users, pushed, strict=True)])
    marked = mark_echoes(diff(new.lazy(), old.lazy()), acked, ["custom_attributes.mix"], since="2026-01-01").collect()
    assert marked["_change"].to_list() == ["echo", "echo", "echo", "changed", "changed", "echo"]


def test_provenance_from_the_store_disputes_an_old_push_another_goal_saw_overwritten(tmp_path: Path) -> None:
    """Goal `all` imported u1's tier "silver" on the 2nd, after our push of "gold" on the 1st. On
    the 3rd u1 enters goal `vip`'s segment showing "gold": someone else wrote it back."""
    store = open_store(str(tmp_path))
    write_baseline(store, "acme", "gold", baseline([("u1", "tier", "gold", "2026-01-01")]), "test")
    every = GoalRules(
        "acme/all", [IdentifierRule("external_id", "external_id")], True, [FieldRule("custom_attributes.tier", "tier")]
    )
    vip = replace(every, name="acme/vip", allow_create=False)
    silver = pl.DataFrame(
        {"braze_id": ["b1"], "_change": ["added"], "_changed_fields": [["external_id", "custom_attributes.tier"]],
         "external_id": ["u1"], "custom_attributes.tier": ["silver"]}
    )  # fmt: skip
    snapshot, report = build_day(empty_snapshot(), [(every, silver)], date(2026, 1, 2))
    write_snapshot(store, "2026-01-02", snapshot, report)
    key = "segment-export/vip/2026-01-03/part.gz"
    store.write_bytes(key, gzip.compress(b'{"braze_id":"b1","external_id":"u1","custom_attributes":{"tier":"gold"}}\n'))
    write_staged(store, "acme", "vip", "2026-01-03", stage_export(store, [key]))
    readers = (("acme/all", "custom_attributes.tier", "tier"), ("acme/vip", "custom_attributes.tier", "tier"))
    sources = EchoSources(exports=(("acme", "gold"),), rules=vip, readers=readers)
    counts = compute_changes(store, "acme", "vip", "2026-01-03", sources=sources)
    changes = read_parquet(store, str(counts["changes_key"]))
    assert changes.select("_change", "_echo_fields").rows() == [("added", [])]
    assert "custom_attributes.tier" in changes["_changed_fields"][0]
    blind = replace(sources, readers=())  # without provenance: taken for our push
    counts = compute_changes(store, "acme", "vip", "2026-01-03", sources=blind)
    changes = read_parquet(store, str(counts["changes_key"]))
    assert changes["_echo_fields"].to_list() == [["custom_attributes.tier"]]


def test_echoes_judged_per_key_range_give_the_marks_of_one_range(tmp_path: Path) -> None:
    """`compute_changes` judges echoes one key range at a time (the range's pushes and provenance
    only): a user per range gives the same file as one range. u1: our old push, disputed by
    provenance; u2: our push back (echo); u3: someone else's write after our push; u4: never
    pushed; u5 leaves."""
    store = open_store(str(tmp_path))
    pushes = [("u1", "tier", "gold", "2026-01-01"), *[(u, "tier", "gold", "2026-01-02") for u in ("u2", "u3", "u5")]]
    write_baseline(store, "acme", "gold", baseline(pushes), "test")
    every = GoalRules(
        "acme/all", [IdentifierRule("external_id", "external_id")], True, [FieldRule("custom_attributes.tier", "tier")]
    )
    silver = pl.DataFrame(
        {"braze_id": ["b1"], "_change": ["added"], "_changed_fields": [["external_id", "custom_attributes.tier"]],
         "external_id": ["u1"], "custom_attributes.tier": ["silver"]}
    )  # fmt: skip
    snapshot, report = build_day(empty_snapshot(), [(every, silver)], date(2026, 1, 2))
    write_snapshot(store, "2026-01-02", snapshot, report)
    days = {
        "2026-01-02": [("b2", "u2", "bronze", 1), ("b3", "u3", "bronze", 1), ("b5", "u5", "gold", 1)],
        "2026-01-03": [
            ("b1", "u1", "gold", 2), ("b2", "u2", "gold", 1), ("b3", "u3", "platinum", 1), ("b4", "u4", "gold", 2)
        ],
    }  # fmt: skip
    for day, users in days.items():
        lines = [
            f'{{"braze_id":"{b}","external_id":"{u}","custom_attributes":{{"tier":"{t}","visits":{v}}}}}\n'
            for b, u, t, v in users
        ]
        key = f"segment-export/vip/{day}/part.gz"
        store.write_bytes(key, gzip.compress("".join(lines).encode()))
        write_staged(store, "acme", "vip", day, stage_export(store, [key]))
    readers = (("acme/all", "custom_attributes.tier", "tier"), ("acme/vip", "custom_attributes.tier", "tier"))
    sources = EchoSources(exports=(("acme", "gold"),), rules=replace(every, name="acme/vip"), readers=readers)
    counts = compute_changes(store, "acme", "vip", "2026-01-03", sources=sources)
    whole = read_parquet(store, str(counts["changes_key"]))
    tier = "custom_attributes.tier"
    assert whole.select("braze_id", "_change", "_echo_fields").rows() == [
        ("b1", "added", []),  # provenance: Braze's value changed after our push of the 1st
        ("b2", "echo", [tier]),
        ("b3", "changed", []),
        ("b4", "added", []),
        ("b5", "removed", []),
    ]
    assert whole["_pushed_values"].to_list()[2] == [{"field": tier, "value": '"gold"'}]
    assert (counts["echoes"], counts["changed"], counts["added"], counts["removed"]) == (1, 1, 2, 1)
    assert compute_changes(store, "acme", "vip", "2026-01-03", sources=sources, chunk_rows=1) == counts
    assert_frame_equal(read_parquet(store, str(counts["changes_key"])), whole)
