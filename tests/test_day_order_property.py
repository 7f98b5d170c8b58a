"""Any order of running days ends where running them in order does.

An operator runs days in whatever order life brings: gaps, re-runs, a backfill after later
days. Generated here: the staged copy of each day (fixed once staged, as a day keeps its first
export) and a sequence of attempts. Two properties, over the engine's own steps on a real store:

- safety: a day's profiles, when published while every day up to it is staged, equal that day's
  profiles when every day ran in order (a run that cannot build on the right snapshot fails);
- liveness: re-running the last day and following each failure's advice (`run_first`) ends
  with every day's profiles equal to the in-order ones, backfilled days included.
"""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pipeline import layout
from pipeline.day_order import DayOrderError
from pipeline.imports import run_changes, run_profiles
from pipeline.mapping import Connection, load_connection_file
from pipeline.profiles import read_snapshot
from pipeline.storage import ObjectStore, open_store
from pipeline.storage.parquet import write_parquet

START = date(2026, 11, 1)
DAYS = [(START + timedelta(days=i)).isoformat() for i in range(4)]
SCHEMA = pl.Schema(
    {
        "braze_id": pl.String,
        "external_id": pl.String,
        "custom_attributes.points": pl.Int64,
        "custom_attributes.tags": pl.List(pl.String),
        "first_name": pl.String,
    }
)
CONNECTION = """\
connection: acme
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {rest_endpoint: "http://127.0.0.1:9", api_key: "${BRAZE_API_KEY}"}
storage: {root: "ROOT", braze_exports: "ROOT-exports"}
import:
  - goal: members
    segment: "All users"
    identifiers: [{braze: external_id, profile: external_id}]
    allow_create: true
    fields:
      - {braze: custom_attributes.points, profile: points, strategy: sum}
      - {braze: custom_attributes.tags, profile: interests, strategy: add}
      - {braze: first_name, profile: first_name, strategy: set}
"""

user = st.fixed_dictionaries(
    {
        "custom_attributes.points": st.one_of(st.none(), st.integers(0, 50)),
        "custom_attributes.tags": st.one_of(st.none(), st.lists(st.sampled_from("abc"), max_size=2, unique=True)),
        "first_name": st.one_of(st.none(), st.sampled_from(["Ann", "Bo"])),
    }
)
day_copy = st.dictionaries(st.sampled_from(["b1", "b2", "b3"]), user, max_size=3)
attempts = st.lists(st.integers(0, len(DAYS) - 1), max_size=8)


def connection_at(folder: Path) -> Connection:
    path = folder / "acme.yaml"
    path.write_text(textwrap.dedent(CONNECTION).replace("ROOT", str(folder / "store")))
    return load_connection_file(path)


class Operator:
    """Runs days of one connection the way `profilesync run --date D` runs its import steps."""

    def __init__(self, folder: Path, copies: list[dict[str, dict]]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.connection = connection_at(folder)
        self.goal = self.connection.imports[0]
        self.store: ObjectStore = open_store(self.connection.storage.root)
        self.copies = copies

    def stage(self, day: str) -> None:
        key = layout.staged_users("acme", "members", day)
        if not self.store.exists(key):  # a day keeps its first export
            users = self.copies[DAYS.index(day)]
            rows = [{"braze_id": b, "external_id": f"u{b[1:]}", **v} for b, v in sorted(users.items())]
            write_parquet(self.store, key, pl.DataFrame(rows, schema=SCHEMA))

    def run(self, day: str) -> DayOrderError | None:
        self.stage(day)
        run_changes(self.store, self.connection, self.goal, day)
        try:
            run_profiles(self.store, [(self.connection, self.goal)], day)
        except DayOrderError as refused:
            return refused
        return None


def assert_same_profiles(store: ObjectStore, reference: ObjectStore, day: str) -> None:
    got, want = read_snapshot(store, day), read_snapshot(reference, day)
    assert got is not None and want is not None
    assert_frame_equal(got.profiles, want.profiles)
    assert_frame_equal(got.identifiers, want.identifiers)
    assert_frame_equal(got.sum_basis, want.sum_basis)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(day_copy, min_size=len(DAYS), max_size=len(DAYS)), attempts)
def test_any_order_of_runs_publishes_only_in_order_profiles_and_ends_complete(
    tmp_path_factory, copies: list[dict], order: list[int]
) -> None:
    folder = tmp_path_factory.mktemp("order")
    in_order = Operator(folder / "in_order", copies)
    for day in DAYS:
        assert in_order.run(day) is None
    operator = Operator(folder / "any_order", copies)

    def attempt(day: str) -> DayOrderError | None:
        complete = all(operator.store.exists(layout.staged_users("acme", "members", d)) for d in DAYS if d < day)
        refused = operator.run(day)
        if refused is None and complete:
            assert_same_profiles(operator.store, in_order.store, day)
        return refused

    for index in order:
        attempt(DAYS[index])
    for day in DAYS:  # days never run are backfilled now, in any order the generator chose above
        operator.stage(day)
    for _ in range(2 * len(DAYS) * len(DAYS)):  # the next scheduled run: re-run the last day, follow the advice
        day = DAYS[-1]
        while (refused := attempt(day)) is not None:
            day = refused.run_first
        if all(read_snapshot(operator.store, d) is not None for d in DAYS) and day == DAYS[-1]:
            break
    else:
        raise AssertionError("following the advice never published the last day")
    for day in DAYS:
        assert_same_profiles(operator.store, in_order.store, day)
