"""The Polars payload builder gives byte for byte what the per-value Python builder gave.

`payload_reference.py` is the former builder (one Python call per member and field, the
definition of every value's text); both run on a frame that holds every value type and
source, every Braze limit and each way the fast path could differ from Python's JSON.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import payload_reference
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline import layout
from pipeline.exports.members import members
from pipeline.exports.payload import Previous, build_payload, expand
from pipeline.exports.steps import differing, read_payload, run_payload, run_segment_members
from pipeline.mapping import load_connection_file
from pipeline.profiles import read_snapshot, write_snapshot
from pipeline.profiles.report import DayReport
from pipeline.profiles.snapshot import Snapshot, canonical_profiles, empty_snapshot
from pipeline.storage.local import LocalStore
from pipeline.storage.parquet import read_parquet, write_parquet

D1, D2 = "2026-11-01", "2026-11-02"
PROPERTIES = ["text", "n", "f", "flag", "born", "seen", "seen_local", "tags", "nums", "floats", "obj", "mail",
              "tel", "birthday", "consent", "objs"]  # fmt: skip
CONNECTION = """\
connection: acme
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {{rest_endpoint: "http://127.0.0.1:9", api_key: "${{BRAZE_API_KEY}}"}}
storage: {{root: /tmp/x, braze_exports: /tmp/x}}
profile_properties: [{properties}]
permissions:
  email: {{property: consent, levels: {{granted: opted_in, "no": unsubscribed, "sí": subscribed}}}}
segments:
  everyone: "true"
  high: "n > 10"
export:
  - goal: out
    segment: everyone
    identifiers: [{{profile: external_id, braze: external_id}}, {{profile: crm, braze: "user_alias:crm id"}},
                  {{profile: email, braze: email}}]
    fields:
{fields}
"""
FIELDS = [*((p, p) for p in PROPERTIES if p not in ("mail", "tel", "birthday")),
          ("mail", "email"), ("tel", "phone"), ("birthday", "dob"), ("text", "first_name"),
          ("tags", "email_subscribe")]  # fmt: skip
OTHER_SOURCES = """\
      - {from: {identifier: email}, braze: contact}
      - {from: segments, braze: cdp_segments}
      - {from: interactions, braze: seen_interactions}
      - {from: {permission: email}, braze: push_subscribe}
      - {from: {static: "prof\\u00e9\\"sync"}, braze: source}
      - {from: {static: 1.5e-05}, braze: weight}
"""

TEXTS = ['plain', 'quo"te', "back\\slash", "new\nline\ttab\x00\x1f\x7f", "é😀\u2028\u2029", "", "x" * 255,
         "y" * 256, "{\"json\": 1}", "\u00a0nbsp"]  # fmt: skip
FLOATS = [1.0, 1e16, 0.1, 1e-5, 1.5e-5, 2.5e-7, 1e-4, 9.99e-5, -0.0, 0.0, 1e15, 12345678901234567.0, 5e-324,
          1.7976931348623157e308, -3.25, math.inf, -math.inf, math.nan, 123456.789]  # fmt: skip
EMAILS = ["a.b+c@example.com", "x@example.com", "ab@gmail.com", "a@gmail.com", "bob@hotmail.com", "-x@hotmail.com",
          "no at sign", "ünï@example.com", "user@ex_ample.com", "user@example.123", "AB.cd@Example.COM",
          "ab.c+x.y@outlook.com", "_a-b.c+d@delivery.com", "a-@hotmail.com", "+ab@live.com", "a+b@msn.com",
          "x.-y@hotmail.com", "a_b@mail.live.co.uk", ""]  # fmt: skip
PHONES = ["+15555550123", "+1 (555) 555-0123", "5555550123", "+0123456789", "+1234567", "abc", "+123456789012345"]
DOBS = ["1980-02-28", "1980-02-29", "1981-02-29", "0000-01-01", "1980-13-01", "80-1-1", "2000-12-31", "2001-04-30",
        "2001-04-31", "2001-02-30", "2001-01-31", "2001-11-31", "1999-12-29", "0999-01-30"]  # fmt: skip
LEVELS = ["granted", "no", "sí", "maybe", "", None]


def _profiles(rng: random.Random, n: int) -> pl.DataFrame:
    def pick(values: list[Any]) -> Any:
        return values[rng.randrange(len(values))] if rng.random() > 0.1 else None

    rows = []
    for i in range(n):
        floats = [*FLOATS, rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-12, 20)]
        rows.append({
            "profile_id": f"p{i:04d}", "_created": date(2026, 11, 1), "_updated": date(2026, 11, 1),
            "text": pick(TEXTS), "n": pick([0, -1, 11, 2**62, 42]), "f": pick(floats), "flag": pick([True, False]),
            "born": pick([date(1, 1, 1), date(1999, 12, 31), date(2024, 2, 29)]),
            "seen": pick([datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)]),
            "seen_local": pick([datetime(2026, 1, 2, 3, 4, 5, 999), datetime(2000, 6, 1, 23, 59, 59, 999999)]),
            "tags": pick([["a", "b", "a"], [], ["é", None, '"'], ["z" * 256], [f"t{k}" for k in range(501)],
                          [f"t{k % 500}" for k in range(700)], ["opted_in"]]),
            "nums": pick([[1, 1, 2], [], [None, 3]]),
            "floats": pick([[1.0, 1.0, 1e16], [math.nan], [0.1, -0.0, 0.0]]),
            "obj": pick([{"b": 1, "a": "x"}, {"b": None, "a": "é"}]),
            "objs": pick([[{"k": 1.5}], [{"k": math.inf}]]),
            "mail": pick(EMAILS), "tel": pick(PHONES), "birthday": pick(DOBS), "consent": pick(LEVELS),
        })  # fmt: skip
    return canonical_profiles(pl.DataFrame(rows, infer_schema_length=None))


def _identifiers(rng: random.Random, n: int) -> pl.DataFrame:
    rows = []
    for i in range(n):
        draw = rng.random()
        if draw < 0.6:
            rows.append((f"p{i:04d}", "external_id", rng.choice([f"u{i}", f"ü\"{i}", "x" * 988])))
        if draw < 0.1:
            rows.append((f"p{i:04d}", "external_id", f"second-{i}"))
        if 0.6 <= draw < 0.75:
            rows.append((f"p{i:04d}", "crm", rng.choice([f"c{i}", "n" * 237, f"é{i}"])))
        if draw < 0.9:
            rows.append((f"p{i:04d}", "email", rng.choice(EMAILS[:-1]).replace("@", f"{i}@", 1)))
    return pl.DataFrame(rows, schema=["profile_id", "kind", "value"], orient="row").sort("profile_id", "kind", "value")


def _interactions(identifiers: pl.DataFrame, rng: random.Random) -> pl.DataFrame:
    ids = identifiers.filter(pl.col("kind") == "external_id").head(50)
    rows = [(kind, value, f"item-{rng.randrange(8)}", datetime(2026, 1, 1, rng.randrange(24), tzinfo=UTC))
            for _, kind, value in ids.iter_rows() for _ in range(rng.randrange(4))]  # fmt: skip
    return pl.DataFrame(rows, schema={"kind": pl.String, "value": pl.String, "interaction_id": pl.String,
                                      "viewed_at": pl.Datetime("us", "UTC")}, orient="row")  # fmt: skip


def _case(tmp_path: Path, seed: int) -> tuple[Any, ...]:
    rng = random.Random(seed)
    fields = "".join(f"      - {{from: {{property: {p}}}, braze: {b}}}\n" for p, b in FIELDS) + OTHER_SOURCES
    path = tmp_path / "acme.yaml"
    path.write_text(CONNECTION.format(properties=", ".join([*PROPERTIES, "crm"]), fields=fields))
    connection = load_connection_file(path)
    (goal,) = connection.exports
    profiles = _profiles(rng, 400)
    identifiers = _identifiers(rng, 400)
    base = empty_snapshot()
    snapshot = Snapshot(profiles, identifiers, base.sum_basis, base.merges, base.quarantine)
    return snapshot, connection, goal, members(snapshot, connection, goal), _interactions(identifiers, rng)


SNAPSHOT_REST = ("identifiers", "sum_basis", "merges", "quarantine")


def _letters(letters: list[dict[str, Any]]) -> list[str]:
    return sorted(repr(sorted(d.items())) for d in letters)


@pytest.mark.parametrize(("seed", "every_profile_identified"), [(1, False), (2, False), (3, True)])
def test_the_polars_builder_matches_the_python_one_byte_for_byte(
    tmp_path: Path, seed: int, every_profile_identified: bool
) -> None:
    """With every profile holding an identifier, identifiers are placed by their runs, not searched."""
    snapshot, connection, goal, current, interactions = _case(tmp_path, seed)
    if every_profile_identified:
        held = snapshot.profiles["profile_id"].is_in(snapshot.identifiers["profile_id"].implode())
        snapshot = Snapshot(snapshot.profiles.filter(held), *(getattr(snapshot, f) for f in SNAPSHOT_REST))
        current = members(snapshot, connection, goal)
    want = payload_reference.build_payload(snapshot, connection, goal, current, interactions)
    got = build_payload(snapshot, connection, goal, current, interactions)
    assert want.rows.height > 3000 and len(want.dead_letters) > 300  # the case exercises both outcomes
    assert_frame_equal(got.rows, want.rows)
    assert _letters(got.dead_letters) == _letters(want.dead_letters)


def test_floats_print_as_python_repr() -> None:
    """Shortest round-trip digits everywhere in the float range, as `json.dumps` writes them."""
    rng = random.Random(3)
    values = [rng.uniform(-1, 1) * 10 ** rng.randint(-320, 308) for _ in range(20_000)]
    values += [float(k) for k in range(-1000, 1000)] + [k / 1000 for k in range(1000)]
    frame = pl.DataFrame({"profile_id": [f"p{i}" for i in range(len(values))], "v": values})
    from pipeline.exports.encode import encoded

    text, fast = encoded(pl.col("v"), pl.Float64(), "weight")
    out = frame.select(text.alias("text"), fast.alias("fast"), "v").filter("fast")
    assert out.height > 19_000
    assert out["text"].to_list() == [repr(v) for v in out["v"].to_list()]


def _day2(snapshot: Snapshot, changed: list[str], quietly: str) -> Snapshot:
    """`changed` profiles get a new text and n (stamped as changed on day 2); `quietly` gets a new n
    without the stamp, which only a rebuild would see."""
    touched = pl.col("profile_id").is_in(changed)
    profiles = snapshot.profiles.with_columns(
        pl.when(touched).then(pl.lit('new "text" ü')).otherwise("text").alias("text"),
        pl.when(touched | (pl.col("profile_id") == quietly)).then(pl.lit(777)).otherwise("n").alias("n"),
        pl.when(touched).then(pl.lit(date(2026, 11, 2))).otherwise("_updated").alias("_updated"),
    )
    return Snapshot(profiles, snapshot.identifiers, snapshot.sum_basis, snapshot.merges, snapshot.quarantine)


def test_the_next_day_rebuilds_only_changed_members_and_matches_a_full_rebuild(tmp_path: Path) -> None:
    snapshot, connection, goal, current, interactions = _case(tmp_path, 4)
    day1 = build_payload(snapshot, connection, goal, current, interactions)
    previous = Previous("2026-11-01", day1.values, day1.fingerprint, "v1", "v1")
    has_identity = day1.rows["profile_id"].unique().sort()
    changed = has_identity.gather([3, 50, 120]).to_list()
    quietly = has_identity[7]
    day2 = _day2(snapshot, changed, quietly)
    stayed = current.filter(pl.col("profile_id") != has_identity[9])  # a leaver
    full = build_payload(day2, connection, goal, stayed, interactions)
    incremental = build_payload(day2, connection, goal, stayed, interactions, previous)

    reused = pl.col("profile_id") != quietly
    assert_frame_equal(incremental.rows.filter(reused), full.rows.filter(reused))
    assert _letters(incremental.dead_letters) == _letters(full.dead_letters)
    # the quiet change proves its values were taken from day 1, not rebuilt
    n_of = pl.col("profile_id").eq(quietly) & pl.col("attribute").eq("n")
    assert full.rows.filter(n_of)["value"].unique().to_list() == ["777"]
    assert incremental.rows.filter(n_of)["value"].to_list() == day1.rows.filter(n_of)["value"].to_list() != ["777"]
    assert full.rebuilt == full.values["profile_id"].n_unique() == incremental.values["profile_id"].n_unique()
    assert incremental.rebuilt == len(changed)


def test_a_changed_property_type_rebuilds_everyone(tmp_path: Path) -> None:
    snapshot, connection, goal, current, interactions = _case(tmp_path, 5)
    day1 = build_payload(snapshot, connection, goal, current, interactions)
    previous = Previous("2026-11-01", day1.values, day1.fingerprint, "v1", "v1")
    floats = snapshot.profiles.with_columns(pl.col("n").cast(pl.Float64))  # 5 is now sent as 5.0
    day2 = Snapshot(floats, snapshot.identifiers, snapshot.sum_basis, snapshot.merges, snapshot.quarantine)
    incremental = build_payload(day2, connection, goal, current, interactions, previous)
    assert incremental.rebuilt == build_payload(day2, connection, goal, current, interactions).rebuilt
    assert "42.0" in incremental.rows.filter(pl.col("attribute") == "n")["value"].to_list()


def test_values_built_from_a_snapshot_a_backfill_replaced_are_not_reused(tmp_path: Path) -> None:
    """Day 1's snapshot rebuilt with other values (as a backfill does: same `_updated` days), then
    day 2's payload: it must not reuse the values built from the replaced snapshot."""
    snapshot, connection, goal, _, interactions = _case(tmp_path, 6)
    store = LocalStore(tmp_path / "store")

    def publish(day: str, profiles: Snapshot) -> None:
        write_snapshot(store, day, profiles, DayReport(day))
        write_parquet(store, layout.interactions(day), interactions)
        run_segment_members(store, connection, goal, day)

    def payload(day: str) -> pl.DataFrame:
        wide, attributes = read_payload(store, connection, goal, day)
        assert attributes is not None  # written one row per member, with its attributes recorded
        return expand(wide, attributes)

    changed = snapshot.profiles["profile_id"].gather([3, 50]).to_list()
    publish(D1, snapshot)
    run_payload(store, connection, goal, D1)
    publish(D2, _day2(snapshot, changed, changed[0]))
    first = run_payload(store, connection, goal, D2)
    assert first["members_rebuilt"] <= len(changed) < first["members"]  # incremental while nothing was replaced

    same_type = snapshot.profiles.schema["n"]  # a new type alone would rebuild everyone (the mapping check)
    backfilled = snapshot.profiles.with_columns(pl.lit(4242, same_type).alias("n"))  # `_updated` stays day 1
    day1 = Snapshot(backfilled, snapshot.identifiers, snapshot.sum_basis, snapshot.merges, snapshot.quarantine)
    publish(D1, day1)
    publish(D2, _day2(day1, changed, changed[0]))
    again = run_payload(store, connection, goal, D2)

    stored = read_snapshot(store, D2)
    assert stored is not None
    members_now = read_parquet(store, layout.segment_members(connection.name, goal.name, D2))
    full = build_payload(stored, connection, goal, members_now, interactions)
    assert_frame_equal(payload(D2), full.rows)
    assert "4242" in payload(D2).filter(pl.col("attribute") == "n")["value"].to_list()
    assert again["members_rebuilt"] == full.rebuilt == full.values["profile_id"].n_unique() > first["members_rebuilt"]
    assert "snapshot of 2026-11-01 was rebuilt" in again["rebuild_reason"]


def test_a_store_written_one_row_per_attribute_is_read_and_rebuilt_with_the_reason(tmp_path: Path) -> None:
    """A day whose payload.parquet is from before one row per member (a row per attribute, no
    recorded mapping): its changes are still computed from it, and the next day rebuilds every
    member, saying why."""
    snapshot, connection, goal, _, interactions = _case(tmp_path, 7)
    store = LocalStore(tmp_path / "store")
    for day in (D1, D2):
        write_snapshot(store, day, snapshot, DayReport(day))
        write_parquet(store, layout.interactions(day), interactions)
        run_segment_members(store, connection, goal, day)
    run_payload(store, connection, goal, D1)
    wide, attributes = read_payload(store, connection, goal, D1)
    acknowledged = expand(wide, attributes or []).filter(pl.col("attribute") != "n").select(
        "identity", "attribute", "value", as_of=pl.lit(D1)
    )  # Braze holds every value but `n`
    compared = sorted({f.braze for f in goal.fields})
    new = differing(wide, attributes, acknowledged, compared)
    write_parquet(store, layout.export_payload(connection.name, goal.name, D1), expand(wide, attributes or []))
    old, names = read_payload(store, connection, goal, D1)
    assert names is None  # now in the old layout: read as rows
    assert old.height == new[0] == expand(wide, attributes or []).height
    for got, want in zip(differing(old, names, acknowledged, compared)[1:], new[1:], strict=True):
        assert_frame_equal(got.sort(got.columns), want.sort(want.columns))
    assert "n" in new[1]["attribute"].to_list()  # identities whose `n` Braze lacks are expanded
    day2 = run_payload(store, connection, goal, D2)
    assert day2["members_rebuilt"] == read_payload(store, connection, goal, D2)[0]["profile_id"].n_unique()
    assert "older format" in day2["rebuild_reason"]


def test_fast_email_and_dob_patterns_accept_only_what_the_rules_accept() -> None:
    """Gmail and Microsoft addresses and dates past the 28th are settled in Polars, never more than
    `rules` accepts (a value wrongly marked fast would be sent unchecked)."""
    from pipeline.braze import rules
    from pipeline.exports.encode import string_valid

    cases = {"email": (EMAILS, rules.is_valid_email), "dob": (DOBS, lambda v: rules.parse_dob(v) is not None)}
    for attribute, (values, valid) in cases.items():
        fast = pl.DataFrame({"v": values}).select(string_valid(pl.col("v"), attribute)).to_series().to_list()
        assert all(valid(v) for v, f in zip(values, fast, strict=True) if f), attribute
    fast_emails = {v for v, f in zip(EMAILS, pl.DataFrame({"v": EMAILS}).select(string_valid(pl.col("v"), "email"))
                                    .to_series(), strict=True) if f}  # fmt: skip
    assert {"ab@gmail.com", "ab.c+x.y@outlook.com", "a_b@mail.live.co.uk"} <= fast_emails
    assert not {"a@gmail.com", "+ab@live.com", "-x@hotmail.com"} & fast_emails
    dobs = pl.DataFrame({"v": ["2001-04-30", "2001-01-31", "1999-12-29", "2001-04-31", "2001-02-30"]})
    assert dobs.select(string_valid(pl.col("v"), "dob")).to_series().to_list() == [True, True, True, False, False]
