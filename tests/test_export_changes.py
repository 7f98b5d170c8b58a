"""`diff_payload` on frames: what a day sends against the newest acknowledged baseline and its as-of days."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.exports.changes import CHANGES_SCHEMA, diff_payload
from pipeline.exports.payload import PAYLOAD_SCHEMA
from pipeline.push import BASELINE_SCHEMA

D1, D2, D3 = "2026-11-01", "2026-11-02", "2026-11-03"
U1, U2, U3 = '{"external_id":"u1"}', '{"external_id":"u2"}', '{"external_id":"u3"}'


def payload(*rows: tuple[str, str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [(f"p-{identity[-4:-2]}", identity, attribute, value) for identity, attribute, value in rows],
        schema=PAYLOAD_SCHEMA,
        orient="row",
    )


def baseline(*rows: tuple[str, str, str | None, str]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=BASELINE_SCHEMA, orient="row")


def changes(*rows: tuple[str, str, str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [(ident, attribute, value, previous, f"p-{ident[-4:-2]}") for ident, attribute, value, previous in rows],
        schema=CHANGES_SCHEMA,
        orient="row",
    )


ACKNOWLEDGED = baseline(
    (U1, "cdp_points", "990", D2),  # day 2 pushed 990
    (U1, "tier", '"gold"', D1),
    (U2, "cdp_points", None, D2),  # day 2 removed it
    (U2, "tier", '"silver"', D1),
)
DAY1 = payload((U1, "cdp_points", "861"), (U1, "tier", '"gold"'), (U2, "cdp_points", "5"), (U2, "tier", '"bronze"'),
               (U3, "cdp_points", "7"))  # fmt: skip


def test_a_re_run_of_an_old_day_holds_back_values_braze_holds_from_a_later_day() -> None:
    diff = diff_payload(DAY1, ACKNOWLEDGED, attributes=["cdp_points", "tier"], day=D1)
    assert_frame_equal(diff.changes, changes((U2, "tier", '"bronze"', '"silver"'), (U3, "cdp_points", "7", None)))
    # 861 would overwrite day 2's 990; 5 would bring back what day 2 removed.
    assert_frame_equal(diff.held_back, changes((U1, "cdp_points", "861", "990"), (U2, "cdp_points", "5", None)))


def test_the_same_and_later_days_are_diffed_against_the_newest_values() -> None:
    day3 = payload((U1, "cdp_points", "1005"), (U1, "tier", '"gold"'), (U2, "tier", '"silver"'))
    for day in (D2, D3):
        diff = diff_payload(day3, ACKNOWLEDGED, attributes=["cdp_points", "tier"], day=day)
        assert_frame_equal(diff.changes, changes((U1, "cdp_points", "1005", "990")))
        assert diff.held_back.is_empty()
    unchanged = diff_payload(payload((U1, "cdp_points", "990")), ACKNOWLEDGED, attributes=["cdp_points"], day=D3)
    assert unchanged.changes.is_empty() and unchanged.held_back.is_empty()


def test_a_value_equal_to_the_newer_one_is_neither_sent_nor_counted_as_held_back() -> None:
    diff = diff_payload(payload((U1, "cdp_points", "990")), ACKNOWLEDGED, attributes=["cdp_points"], day=D1)
    assert diff.changes.is_empty() and diff.held_back.is_empty()


@pytest.mark.parametrize("on_leave", ["ignore", "clear"])
def test_profiles_mode_never_resends_a_newer_pair_of_a_touched_profile(on_leave: str) -> None:
    diff = diff_payload(DAY1, ACKNOWLEDGED, attributes=["cdp_points", "tier"], day=D1, delta="profiles",
                        on_leave=on_leave)  # fmt: skip
    assert_frame_equal(
        diff.changes,
        changes((U2, "tier", '"bronze"', '"silver"'), (U3, "cdp_points", "7", None)),
    )  # u2's cdp_points (removed on day 2) stays out although u2 is touched
    assert diff.held_back.height == 2


def test_a_leaver_is_not_cleared_by_an_old_day_when_a_later_day_set_its_value() -> None:
    leavers = baseline((U1, "tier", '"gold"', D2), (U2, "tier", '"silver"', D1))
    diff = diff_payload(payload((U3, "tier", '"gold"')), leavers, attributes=["tier"], day=D1, on_leave="clear")
    expected = changes((U2, "tier", None, '"silver"'), (U3, "tier", '"gold"', None))
    assert_frame_equal(diff.changes.drop("profile_id"), expected.drop("profile_id"))  # leavers have no profile id
    assert_frame_equal(diff.held_back.drop("profile_id"), changes((U1, "tier", None, '"gold"')).drop("profile_id"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_wide_payload_diffs_exactly_as_its_rows_do(seed: int) -> None:
    """`narrow_wide` (one row per identity, only differing identities expanded) gives the diff the
    (identity, attribute, value) rows give, on random days: values kept, changed, added, removed,
    removals Braze accepted, values as of a later day, leavers, members never sent, subscriptions."""
    import random

    from pipeline.exports.changes import narrow, narrow_wide
    from pipeline.exports.payload import expand

    rng = random.Random(seed)
    attributes = ["cdp_points", "email_subscribe", "tier"]
    values = ['"gold"', '"silver"', "1", "2", '"opted_in"', '"unsubscribed"']

    def pick() -> str | None:
        return rng.choice(values) if rng.random() < 0.7 else None

    wide_rows = [(f"p{i:03d}", f'{{"external_id":"u{i}"}}' if i % 17 else None, *(pick() for _ in attributes))
                 for i in range(300)]  # fmt: skip
    wide = pl.DataFrame(wide_rows, schema=["profile_id", "identity", "v0", "v1", "v2"], orient="row")
    rows = expand(wide, attributes)
    acknowledged = []
    for identity, attribute, value in rows.select("identity", "attribute", "value").iter_rows():
        draw = rng.random()
        if draw < 0.8:
            acknowledged.append((identity, attribute, value, rng.choice([D1, D2, D3])))
        elif draw < 0.9:
            acknowledged.append((identity, attribute, pick(), rng.choice([D1, D3])))
    acknowledged += [(f'{{"external_id":"gone{i}"}}', rng.choice(attributes), pick(), D1) for i in range(20)]
    acknowledged += [(f'{{"external_id":"u{i}"}}', "tier", None, D1) for i in range(300, 310)]
    held = baseline(*acknowledged).sort("identity", "attribute")
    assert held["value"].null_count() and rows.height > 400  # the case has removals and values to compare
    for delta in ("attributes", "profiles"):
        for on_leave in ("ignore", "clear"):
            options = {"attributes": attributes, "day": D2, "delta": delta, "on_leave": on_leave}
            want = diff_payload(*narrow(rows, held, attributes), **options)  # type: ignore[arg-type]
            assert want.changes.height and want.held_back.height
            for acknowledged in (held, held.sample(fraction=1, shuffle=True, seed=seed)):  # sorted, as kept, or not
                got = diff_payload(*narrow_wide(wide, attributes, acknowledged), **options, narrowed=True)  # type: ignore[arg-type]
                assert_frame_equal(got.changes, want.changes)
                assert_frame_equal(got.held_back, want.held_back)
