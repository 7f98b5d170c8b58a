"""`braze_push` against the sandbox over HTTP, with stores on a local folder and on moto's S3 server."""

from __future__ import annotations

import json
import re
from collections import Counter

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline import layout
from pipeline.braze.rules import MAX_BODY_BYTES
from pipeline.push import (
    BASELINE_SCHEMA,
    CHANGES_SCHEMA,
    PushError,
    PushInputError,
    baseline_version,
    canonical,
    push_changes,
    read_baseline,
    read_dead_letters,
    read_journal,
)
from pipeline.push.frames import JOURNAL_SCHEMA
from pipeline.push.objects import body_size, payload_points, user_objects
from pipeline.sandbox.track import FAULT_REJECTION
from pipeline.storage import open_store
from pipeline.storage.parquet import write_parquet

C, G = "acme", "vip"
D1, D2, D3 = "2026-03-01", "2026-03-02", "2026-03-03"
REMOVE = None
ROW = ["identity", "attribute", "value"]


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    return open_store(f"s3://{request.getfixturevalue('bucket')}/root")


@pytest.fixture
def local_store(tmp_path):
    return open_store(str(tmp_path / "store"))


def uid(i: int) -> str:
    return canonical({"external_id": f"u{i:03d}"})


def frame(rows: list[tuple[str, str, object]]) -> pl.DataFrame:
    """A changes frame (or payload) from (identity, attribute, python value or REMOVE) rows."""
    return pl.DataFrame(
        [
            (ident, attr, None if value is REMOVE else canonical(value), None, f"p-{json.loads(ident)}")
            for ident, attr, value in rows
        ],
        schema=CHANGES_SCHEMA,
        orient="row",
    ).sort("identity", "attribute")


def diff(payload: pl.DataFrame, baseline: pl.DataFrame) -> pl.DataFrame:
    """What export_changes does, for a payload that only sets values: rows Braze does not hold."""
    held = baseline.rename({"value": "held"})
    joined = payload.drop("previous").join(held, on=["identity", "attribute"], how="left")
    changed = joined.filter(pl.col("value").ne_missing(pl.col("held")))
    return changed.select("identity", "attribute", "value", pl.col("held").alias("previous"), "profile_id")


def as_baseline(payload: pl.DataFrame) -> pl.DataFrame:
    """The values Braze holds after `payload` was accepted."""
    return payload.filter(pl.col("value").is_not_null()).select(ROW).sort("identity", "attribute")


def held(store) -> pl.DataFrame:
    """The values the acknowledged baseline says Braze holds (without as-of days and removals)."""
    return read_baseline(store, C, G).filter(pl.col("value").is_not_null()).select(ROW)


def track_bodies(sandbox, since: int = 0) -> list[list[dict]]:
    return [e["body"]["attributes"] for e in sandbox.admin.requests(since) if e["path"] == "/users/track"]


def sent_identities(bodies: list[list[dict]]) -> list[str]:
    return [canonical({"external_id": obj["external_id"]}) for body in bodies for obj in body]


def delivered_ids(entries: list[dict]) -> list[str]:
    return sent_identities([e["body"]["attributes"] for e in entries])


def push(sandbox, store, day: str, changes: pl.DataFrame, *, allow_create: bool = True, **options):
    with sandbox.client(max_retries=options.pop("max_retries", 2)) as client:
        return push_changes(client, store, C, G, day, changes, allow_create=allow_create, **options)


# -- objects and batches -------------------------------------------------------------------------


def test_one_object_per_user_with_exactly_its_changes_in_batches_of_75(sandbox, store) -> None:
    sandbox.admin.upsert_users([{"external_id": f"u{i:03d}", "tier": "bronze", "old": "x"} for i in range(160)])
    rows = [(uid(i), "tier", "gold") for i in range(160)]
    rows += [(uid(i), "old", REMOVE) for i in range(0, 160, 4)]
    rows += [(uid(i), "points", i) for i in range(0, 160, 5)]
    changes = frame(rows)
    messages: list[str] = []

    report = push(sandbox, store, D1, changes, max_in_flight=3, progress=messages.append)

    bodies = track_bodies(sandbox)
    assert sorted(len(body) for body in bodies) == [10, 75, 75]
    assert sorted(sent_identities(bodies)) == [uid(i) for i in range(160)]  # each user once
    objects = {obj["external_id"]: obj for body in bodies for obj in body}
    assert objects["u000"] == {"external_id": "u000", "tier": "gold", "old": None, "points": 0}
    assert objects["u004"] == {"external_id": "u004", "tier": "gold", "old": None}
    assert objects["u005"] == {"external_id": "u005", "tier": "gold", "points": 5}
    assert objects["u001"] == {"external_id": "u001", "tier": "gold"}  # no flag: creation allowed
    assert sandbox.admin.user("external_id", "u004")["custom_attributes"] == {"tier": "gold"}
    assert sandbox.admin.user("external_id", "u001")["custom_attributes"] == {"tier": "gold", "old": "x"}

    assert_frame_equal(held(store), as_baseline(changes))
    assert (report.users_to_send, report.attributes_to_send) == (160, changes.height)
    assert (report.users_accepted, report.attributes_accepted, report.users_rejected) == (160, changes.height, 0)
    assert (report.batches, report.requests, report.rate_limited, report.retries) == (3, 3, 0, 0)
    assert report.baseline_rows == changes.filter(pl.col("value").is_not_null()).height
    assert json.loads(store.read_bytes(layout.push_summary(C, G, D1)))["users_accepted"] == 160
    assert store.exists(layout.push_dead_letter(C, G, D1)) and read_dead_letters(store, C, G, D1) == []
    assert layout.push_dead_letter(C, G, D1) == f"connections/{C}/{G}/braze_push/{D1}/dead_letter.jsonl"
    assert "/160 users sent" in messages[1] and "done" in messages[-1]


def test_update_existing_only_when_creation_is_not_allowed(sandbox, local_store) -> None:
    sandbox.admin.upsert_users([{"external_id": "u001", "tier": "bronze"}])
    push(sandbox, local_store, D1, frame([(uid(1), "tier", "gold"), (uid(2), "tier", "gold")]), allow_create=False)
    assert all(obj["_update_existing_only"] is True for body in track_bodies(sandbox) for obj in body)
    assert sandbox.admin.user("external_id", "u001")["custom_attributes"] == {"tier": "gold"}
    assert sandbox.admin.user("external_id", "u002") is None

    alias = canonical({"user_alias": {"alias_label": "crm", "alias_name": "a-1"}})
    since = sandbox.admin.last_seq()
    push(sandbox, local_store, D2, frame([(uid(3), "tier", "silver"), (alias, "tier", "silver")]), allow_create=True)
    objects = sorted((obj for body in track_bodies(sandbox, since) for obj in body), key=lambda o: "user_alias" in o)
    assert objects[0] == {"external_id": "u003", "tier": "silver"}
    # Braze creates alias-only users only when the flag is explicitly false (reference 3.3).
    assert objects[1]["_update_existing_only"] is False
    assert sandbox.admin.user("external_id", "u003")["custom_attributes"] == {"tier": "silver"}
    assert sandbox.admin.user("alias", "crm:a-1")["custom_attributes"] == {"tier": "silver"}


def test_legacy_per_array_mode_also_sends_at_most_75_objects(sandbox, local_store) -> None:
    sandbox.admin.configure(track_object_limit_mode="per_array")
    push(sandbox, local_store, D1, frame([(uid(i), "n", i) for i in range(80)]), object_limit_mode="per_array")
    assert [len(body) for body in track_bodies(sandbox)] in ([75, 5], [5, 75])
    with pytest.raises(ValueError, match="object_limit_mode"):
        push(sandbox, local_store, D1, frame([(uid(1), "n", 1)]), object_limit_mode="bulk")


def test_requests_stay_under_4_mb_and_a_user_too_big_alone_is_dead_lettered(sandbox, local_store) -> None:
    text = "x" * 250
    rows = [(uid(i), f"a{k:03d}", text) for i in range(75) for k in range(240)]  # ~63 KB a user
    rows += [(uid(999), f"b{k:05d}", text) for k in range(16_500)]  # ~4.3 MB alone
    changes = frame(rows)
    report = push(sandbox, local_store, D1, changes)

    entries = [e for e in sandbox.admin.requests() if e["path"] == "/users/track"]
    assert len(entries) == 2 and all(e["status"] == 201 for e in entries)
    assert all(len(json.dumps(e["body"])) <= MAX_BODY_BYTES for e in entries)
    assert max(len(json.dumps(e["body"])) for e in entries) > MAX_BODY_BYTES // 2  # filled, not split early
    assert (report.users_accepted, report.users_rejected, report.users_sent) == (75, 1, 75)
    [letter] = read_dead_letters(local_store, C, G, D1)
    assert letter["identity"] == uid(999) and "4,194,304-byte body limit" in letter["reason"]
    objects = list(user_objects(changes.head(480), allow_create=True))
    assert body_size(objects) == len(json.dumps({"attributes": [o.body for o in objects]}))


def test_changes_breaking_the_contract_are_refused_before_sending(sandbox, local_store) -> None:
    cases = {
        "repeat an .identity, attribute. pair": [(uid(1), "tier", "a"), (uid(1), "tier", "b")],
        "set an identifier or flag": [(uid(1), "external_id", "u9")],
        "the identity's own lookup key": [(canonical({"email": "a@example.com"}), "email", "b@example.com")],
    }
    for message, rows in cases.items():
        changes = pl.concat([frame(rows[:1]), frame(rows[1:])]) if len(rows) > 1 else frame(rows)
        with pytest.raises(PushInputError, match=message):
            push(sandbox, local_store, D1, changes)
    bad_json = frame([(uid(1), "tier", "a")]).with_columns(value=pl.lit("not json"))
    with pytest.raises(PushInputError, match="not JSON text"):
        push(sandbox, local_store, D1, bad_json)
    assert track_bodies(sandbox) == []


# -- rejections, reruns, failures -------------------------------------------------------------------


def test_minor_errors_are_dead_lettered_kept_out_of_the_baseline_and_resent(sandbox, store) -> None:
    payload = frame([(uid(i), a, v) for i in range(20) for a, v in (("tier", "gold"), ("email", f"u{i}@example.com"))])
    payload = payload.with_columns(
        value=pl.when(pl.col("identity") == uid(7), pl.col("attribute") == "email")
        .then(pl.lit(canonical("not an email")))
        .otherwise("value")
    )
    report = push(sandbox, store, D1, diff(payload, read_baseline(store, C, G)))

    assert (report.users_accepted, report.users_rejected, report.attributes_rejected) == (19, 1, 2)
    [letter] = read_dead_letters(store, C, G, D1)
    assert letter == {
        "identity": uid(7),
        "profile_id": payload.filter(pl.col("identity") == uid(7))["profile_id"][0],
        "attributes": {"email": "not an email", "tier": "gold"},
        "reason": "EMAIL_BAD_FORMAT: The value provided for the 'email' field is not a valid email.",
    }
    assert sandbox.admin.user("external_id", "u007") is None
    baseline = read_baseline(store, C, G)
    assert_frame_equal(held(store), as_baseline(payload.filter(pl.col("identity") != uid(7))))

    since = sandbox.admin.last_seq()
    again = diff(payload, baseline)
    assert again["identity"].unique().to_list() == [uid(7)] and again.height == 2
    push(sandbox, store, D2, again)
    assert track_bodies(sandbox, since) == [[{"external_id": "u007", "email": "not an email", "tier": "gold"}]]
    # Alone in its request, the bad object makes Braze refuse the request whole (a fatal 400 naming it).
    assert [letter["reason"] for letter in read_dead_letters(store, C, G, D2)] == [letter["reason"]]

    fixed = payload.with_columns(value=pl.col("value").str.replace("not an email", "u7@example.com", literal=True))
    push(sandbox, store, D3, diff(fixed, read_baseline(store, C, G)))
    assert_frame_equal(held(store), as_baseline(fixed))
    assert read_dead_letters(store, C, G, D3) == []


def test_partial_error_faults_are_dead_lettered_and_sent_again_next_run(sandbox, local_store) -> None:
    sandbox.admin.set_faults(track_reject_rate=0.2, seed=11)
    payload = frame([(uid(i), "tier", f"t{i % 3}") for i in range(200)])
    report = push(sandbox, local_store, D1, payload)
    letters = read_dead_letters(local_store, C, G, D1)
    injected = sandbox.admin.faults()["injected"]["track_rejected"]
    assert 0 < len(letters) == report.users_rejected == injected
    assert {letter["reason"] for letter in letters} == {FAULT_REJECTION}

    sandbox.admin.clear_faults()
    since = sandbox.admin.last_seq()
    report = push(sandbox, local_store, D2, diff(payload, read_baseline(local_store, C, G)))
    assert sorted(sent_identities(track_bodies(sandbox, since))) == sorted(letter["identity"] for letter in letters)
    assert report.users_rejected == 0
    assert_frame_equal(held(local_store), as_baseline(payload))


def test_rerunning_a_completed_day_sends_nothing_and_rewrites_the_same_baseline(sandbox, local_store) -> None:
    changes = frame([(uid(i), "tier", "gold") for i in range(100)])
    push(sandbox, local_store, D1, changes)
    first = local_store.read_bytes(layout.baseline(C, G))
    since = sandbox.admin.last_seq()

    report = push(sandbox, local_store, D1, changes)
    assert sandbox.admin.requests(since) == []
    assert (report.already_acknowledged, report.users_to_send, report.requests, report.data_points) == (100, 0, 0, 0)
    assert local_store.read_bytes(layout.baseline(C, G)) == first


def test_a_restart_skips_only_rows_journaled_with_the_same_value(sandbox, local_store) -> None:
    push(sandbox, local_store, D1, frame([(uid(i), "tier", "gold") for i in range(10)]))
    since = sandbox.admin.last_seq()
    # The day's changes were recomputed: u003 now gets another value, u010 and u011 are new.
    rows = [(uid(i), "tier", "silver" if i == 3 else "gold") for i in range(12)]
    report = push(sandbox, local_store, D1, frame(rows))
    assert sorted(sent_identities(track_bodies(sandbox, since))) == [uid(3), uid(10), uid(11)]
    assert report.already_acknowledged == 9
    assert_frame_equal(held(local_store), as_baseline(frame(rows)))


def test_a_failed_run_keeps_its_journal_and_the_retry_sends_only_the_rest(sandbox, store) -> None:
    payload = frame([(uid(i), "tier", "gold") for i in range(600)])  # 8 batches
    progress: list[str] = []

    def break_braze_after_three_batches(message: str) -> None:
        progress.append(message)
        if sum("users sent" in m for m in progress) == 3:
            sandbox.admin.set_faults(error_rate_5xx=1.0, error_status=503, endpoints=["/users/track"])

    with pytest.raises(PushError, match="failed after the client's retries") as caught:
        push(sandbox, store, D1, payload, max_in_flight=1, max_retries=1, progress=break_braze_after_three_batches)
    message = str(caught.value)
    assert "HTTP 503" in message and "rerunning this day sends only the rest" in message
    assert store.uri(layout.push_journal_folder(C, G, D1)) in message
    first = [e for e in sandbox.admin.requests() if e["path"] == "/users/track"]
    accepted = [e for e in first if e["status"] == 201]
    assert 3 <= len(accepted) < 8
    journal = [info.key for info in store.list(layout.push_journal_folder(C, G, D1))]
    assert len(journal) == len(accepted)
    failed_batches = (len(first) - len(accepted)) // 2  # each tried twice (max_retries=1)
    assert failed_batches in (1, 2)  # the one that met the fault, and maybe the one queued behind it
    assert caught.value.report.users_failed == 75 * failed_batches
    assert caught.value.report.users_accepted == 75 * len(accepted)
    # What Braze accepted is in the baseline at once, as of the day, so older days hold back against it.
    assert_frame_equal(held(store), as_baseline(payload.filter(pl.col("identity").is_in(delivered_ids(accepted)))))
    assert (
        store.exists(layout.push_dead_letter(C, G, D1)) and read_dead_letters(store, C, G, D1) == []
    )  # failed whole: no letters

    sandbox.admin.clear_faults()
    since = sandbox.admin.last_seq()
    report = push(sandbox, store, D1, payload)
    resent = sent_identities(track_bodies(sandbox, since))
    delivered = sent_identities([e["body"]["attributes"] for e in accepted])
    assert not set(resent) & set(delivered)
    assert sorted(resent + delivered) == [uid(i) for i in range(600)]
    assert report.already_acknowledged == len(delivered)
    assert_frame_equal(held(store), as_baseline(payload))


def test_an_old_days_push_after_a_later_days_holds_back_what_braze_holds_newer(sandbox, store) -> None:
    push(sandbox, store, D1, frame([(uid(1), "cdp_points", 861)]))  # accepted: the day's journal holds 861
    push(sandbox, store, D2, frame([(uid(1), "cdp_points", 990), (uid(2), "tier", REMOVE)]))
    version = baseline_version(store, C, G)
    assert version is not None and version.startswith(f"{D2}/")  # the run that wrote it, from the file's footer
    since = sandbox.admin.last_seq()

    # Day 1 again, with changes computed before day 2 was pushed (the journal path and fresh rows).
    rows = [(uid(1), "cdp_points", 861), (uid(2), "tier", "gold"), (uid(3), "tier", "gold")]
    report = push(sandbox, store, D1, frame(rows))

    assert track_bodies(sandbox, since) == [[{"external_id": "u003", "tier": "gold"}]]
    assert (report.already_acknowledged, report.held_back, report.users_accepted) == (1, 1, 1)
    assert sandbox.admin.user("external_id", "u001")["custom_attributes"] == {"cdp_points": 990}
    expected = pl.DataFrame(
        [(uid(1), "cdp_points", "990", D2), (uid(2), "tier", None, D2), (uid(3), "tier", '"gold"', D1)],
        schema=BASELINE_SCHEMA,
        orient="row",
    )
    assert_frame_equal(read_baseline(store, C, G), expected)  # day 1's journal did not roll back day 2
    assert json.loads(store.read_bytes(layout.push_summary(C, G, D1)))["held_back"] == 1
    assert baseline_version(store, C, G).startswith(f"{D1}/")  # u003 was added
    push(sandbox, store, D1, frame(rows))
    assert baseline_version(store, C, G).startswith(f"{D1}/")

    since = sandbox.admin.last_seq()
    report = push(sandbox, store, D3, frame([(uid(1), "cdp_points", 1005)]))  # later days still converge
    assert track_bodies(sandbox, since) == [[{"external_id": "u001", "cdp_points": 1005}]]
    assert report.held_back == 0
    assert sandbox.admin.user("external_id", "u001")["custom_attributes"]["cdp_points"] == 1005


def test_a_store_with_per_day_baselines_only_starts_from_the_latest_as_of_its_day(local_store) -> None:
    older = pl.DataFrame([(uid(1), "tier", '"bronze"')], schema=JOURNAL_SCHEMA, orient="row")
    write_parquet(local_store, layout.legacy_baseline(C, G, D1), older)
    write_parquet(local_store, layout.legacy_baseline(C, G, D2), older.with_columns(value=pl.lit('"gold"')))
    expected = pl.DataFrame([(uid(1), "tier", '"gold"', D2)], schema=BASELINE_SCHEMA, orient="row")
    assert_frame_equal(read_baseline(local_store, C, G), expected)
    assert baseline_version(local_store, C, G) == f"legacy {D2}"
    assert baseline_version(open_store(str(local_store.folder / "empty")), C, G) is None


# -- lost answers -----------------------------------------------------------------------------------

LOST_TWICE = re.compile(
    r"Braze did not answer /users/track within 1 s twice for batch (\d+) \((\d+) users\)"
    r"(?: \(and \d+ more batch(?:es)? the same way\))?; it may have applied it: "
    r"up to ([\d,]+) data points may have been spent twice\. The push stopped; "
    r"re-run to resend what was not journaled \(raise braze\.request_timeout_s if Braze is slow\)$"
)


def test_a_batch_whose_answer_is_lost_is_resent_once_then_the_push_stops(sandbox, local_store) -> None:
    payload = frame([(uid(i), "tier", "gold") for i in range(450)])  # 6 batches of 75
    progress: list[str] = []

    def slow_braze_after_the_first_batch(message: str) -> None:
        progress.append(message)
        if sum("users sent" in m for m in progress) == 1:
            sandbox.admin.set_faults(answer_delay_ms=2000, endpoints=["/users/track"])

    with sandbox.client(timeout=1.0, max_retries=4) as client, pytest.raises(PushError) as caught:
        push_changes(client, local_store, C, G, D1, payload, allow_create=True, max_in_flight=1,
                     progress=slow_braze_after_the_first_batch)  # fmt: skip
    first = [e for e in sandbox.admin.requests() if e["path"] == "/users/track"]
    times_sent = Counter(tuple(obj["external_id"] for obj in e["body"]["attributes"]) for e in first)
    assert sorted(times_sent.values(), reverse=True)[0] == 2, times_sent.values()  # resent once, never more
    match = LOST_TWICE.search(str(caught.value))
    assert match, str(caught.value)
    answered = {batch for batch, n in times_sent.items() if n == 1}
    lost = {batch for batch, n in times_sent.items() if n == 2}
    assert answered and lost and len(answered) + len(lost) <= 4  # it stopped
    assert int(match.group(2)) == 75
    report = caught.value.report
    assert (report.timeouts, report.resends_after_timeout) == (2 * len(lost), len(lost))
    assert report.data_points_maybe_twice == 75 * len(lost) == int(match.group(3))
    assert report.data_points == 75 * len(answered)
    assert sandbox.admin.datapoints()["total"] == report.data_points + 2 * report.data_points_maybe_twice
    assert report.users_failed == 75 * len(lost)
    journaled = read_journal(local_store, C, G, D1)
    assert sorted(journaled["identity"]) == sorted(uid(int(x[1:])) for batch in answered for x in batch)
    assert sorted(held(local_store)["identity"]) == sorted(journaled["identity"])  # nothing Braze did not answer

    sandbox.admin.clear_faults()
    since = sandbox.admin.last_seq()
    with sandbox.client(timeout=1.0) as client:
        again = push_changes(client, local_store, C, G, D1, payload, allow_create=True)
    resent = sent_identities(track_bodies(sandbox, since))
    assert sorted(resent) == sorted(set(payload["identity"]) - set(journaled["identity"]))
    assert (again.timeouts, again.resends_after_timeout, again.data_points_maybe_twice) == (0, 0, 0)
    assert_frame_equal(held(local_store), as_baseline(payload))


def test_a_batch_answered_on_its_resend_counts_the_data_points_maybe_spent_twice(sandbox, local_store) -> None:
    payload = frame([(uid(i), "tier", "gold") for i in range(100)])  # batches of 75 and 25
    sandbox.admin.set_faults(answer_delay_ms=2000, answer_delay_count=1, endpoints=["/users/track"])
    with sandbox.client(timeout=1.0) as client:
        report = push_changes(client, local_store, C, G, D1, payload, allow_create=True, max_in_flight=1)
    assert (report.timeouts, report.resends_after_timeout) == (1, 1)
    assert report.data_points_maybe_twice == 75  # the first batch went out twice
    assert report.data_points == 100
    assert sandbox.admin.datapoints()["total"] == report.data_points + report.data_points_maybe_twice
    summary = json.loads(local_store.read_bytes(layout.push_summary(C, G, D1)))
    assert (summary["timeouts"], summary["resends_after_timeout"], summary["data_points_maybe_twice"]) == (1, 1, 75)
    assert_frame_equal(held(local_store), as_baseline(payload))


# -- data points ----------------------------------------------------------------------------------


def test_data_points_are_counted_as_the_sandbox_charges_them(sandbox, local_store) -> None:
    sandbox.admin.upsert_users([{"external_id": "u000", "gone": 1}])
    rows = [
        (uid(0), "gone", REMOVE),  # 1: a removal is billed
        (uid(0), "profile", {"plan": "pro", "address": {"city": "Oslo", "zip": "0150"}}),  # 3 nested keys
        (uid(0), "tags", ["a", "b", "c"]),  # 1: a whole array
        (uid(0), "email", "u0@example.com"),  # 1: not the lookup key here
        (uid(0), "email_subscribe", "opted_in"),  # free
        (uid(1), "first_name", "Ana"),  # 1
        (uid(2), "email", "bad email"),  # rejected: costs nothing
    ]
    report = push(sandbox, local_store, D1, frame(rows))
    assert report.users_rejected == 1
    assert report.data_points == 7 == sandbox.admin.datapoints()["total"]


def test_full_profile_points_price_each_changed_user_whole(sandbox, local_store) -> None:
    payload = frame([(uid(i), a, f"{a}-{i}") for i in range(30) for a in ("a", "b", "c", "d")])
    push(sandbox, local_store, D1, payload)
    spent = sandbox.admin.datapoints()["total"]
    changed = payload.with_columns(
        value=pl.when(pl.col("attribute") == "a", pl.col("identity").is_in([uid(i) for i in range(10)]))
        .then(pl.lit(canonical("new")))
        .otherwise("value")
    )
    report = push(sandbox, local_store, D2, diff(changed, read_baseline(local_store, C, G)))
    assert report.data_points == 10 == sandbox.admin.datapoints()["total"] - spent
    assert report.data_points_full_profile == 40  # ten users, four attributes each


def test_payload_points_price_rows_as_attribute_points_prices_objects() -> None:
    alias = canonical({"user_alias": {"alias_label": "crm", "alias_name": "a{1}"}})
    phone = canonical({"phone": "+15555550123"})
    rows = [
        (uid(1), "tier", "gold"),
        (uid(1), "gone", REMOVE),
        (uid(1), "tags", ["a", "b"]),
        (uid(1), "visits", [{"at": {"$time": "2026-01-01"}, "page": "home"}, {"page": "cart"}]),
        (uid(1), "profile", {"plan": "pro", "address": {"city": "Oslo"}}),
        (uid(1), "points", {"inc": 2}),
        (uid(1), "current_location", {"latitude": 1, "longitude": 2}),  # standard: 1 whatever its shape
        (uid(1), "email_subscribe", "opted_in"),
        (alias, "tier", "silver"),
        (alias, "subscription_groups", [{"subscription_group_id": "g", "subscription_state": "subscribed"}]),
        (phone, "email", "p@example.com"),  # becomes the lookup key: free, and the phone is billed
        (phone, "tier", "gold"),
        (canonical({"email": "e@example.com", "external_id": "u9"}), "tier", "gold"),  # the email is billed
    ]
    payload = frame(rows)
    by_objects = sum(obj.points for obj in user_objects(payload, allow_create=None))
    assert payload_points(payload) == by_objects == 15
