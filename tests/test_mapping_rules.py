"""Every validation rule of connection files, with the exact line and column it reports.

`pos(text, fragment)` finds where the offending node starts in the test's own YAML, so each
assertion says which node an error must point at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.mapping import MappingError, check_segment_expression, validate_folder

# Nine valid lines; tests append sections from line 10 on.
BASE = """\
connection: demo
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze:
  rest_endpoint: https://rest.fra-01.braze.eu
  api_key: ${BRAZE_API_KEY}
storage:
  root: /tmp/profiles
  braze_exports: s3://braze-exports
"""

IMPORT = """\
import:
  - goal: loyal_users
    segment: Loyal users
    identifiers:
      - {braze: external_id, profile: external_id}
    fields:
"""  # lines 10-15; fields from line 16 on

EXPORT = """\
profile_properties: [points]
segments: {vip: "points >= 100"}
export:
  - goal: vip_to_braze
    segment: vip
    identifiers:
      - {profile: external_id, braze: external_id}
    fields:
"""  # lines 10-17; fields from line 18 on

NO_FIELDS = "    fields:\n"


def pos(text: str, fragment: str, nth: int = 1) -> str:
    """`line:column` (1-based) of the nth occurrence of `fragment` in `text`."""
    start = -1
    for _ in range(nth):
        start = text.index(fragment, start + 1)
    line = text.count("\n", 0, start) + 1
    return f"{line}:{start - text.rfind(chr(10), 0, start)}"


def errors(tmp_path: Path, text: str, name: str = "conn.yaml") -> list[str]:
    """Errors of one file as 'line:column: rest', the file name left out."""
    (tmp_path / name).write_text(text)
    found = validate_folder(tmp_path)
    assert all(e.path == tmp_path / name for e in found)
    return [str(e).removeprefix(f"{tmp_path / name}:") for e in found]


def one_error(tmp_path: Path, text: str) -> str:
    found = errors(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def test_pos_helper() -> None:
    assert pos("ab\ncd: x\n", "x") == "2:5"
    assert pos("a a", "a", 2) == "1:3"


def test_base_files_are_valid(tmp_path: Path) -> None:
    assert errors(tmp_path, BASE + IMPORT + "      - {braze: first_name, profile: first_name}\n") == []
    assert errors(tmp_path, BASE + EXPORT + "      - {from: segments, braze: cdp_segments}\n") == []


def test_strategy_typo_suggests_the_closest(tmp_path: Path) -> None:
    text = BASE + IMPORT + "      - {braze: custom_attributes.points, profile: points, strategy: summ}\n"
    assert pos(text, "summ") == "16:70"
    assert one_error(tmp_path, text) == (
        "16:70: unknown strategy 'summ': did you mean 'sum'? (use one of set, add, sum, set_if_empty, clear)"
    )


def test_strategy_far_from_any_lists_them(tmp_path: Path) -> None:
    text = BASE + IMPORT + "      - {braze: email, profile: email, strategy: zzz}\n"
    expected = f"{pos(text, 'zzz')}: unknown strategy 'zzz'; use one of set, add, sum, set_if_empty, clear"
    assert one_error(tmp_path, text) == expected


@pytest.mark.parametrize("strategy", ["set", "add", "sum", "set_if_empty", "clear"])
def test_every_strategy_is_accepted(tmp_path: Path, strategy: str) -> None:
    text = BASE + IMPORT + f"      - {{braze: email, profile: email, strategy: {strategy}}}\n"
    assert errors(tmp_path, text) == []


def test_connection_name_must_be_a_key(tmp_path: Path) -> None:
    found = one_error(tmp_path, BASE.replace("connection: demo", "connection: Demo-CRM"))
    assert found.startswith("1:13: connection name 'Demo-CRM' is not allowed: did you mean 'demo_crm'?")
    assert "Dagster asset keys" in found


@pytest.mark.parametrize("bad", ["9lives", "a__b", "ab-c", "Ab"])
def test_goal_names_must_be_keys(tmp_path: Path, bad: str) -> None:
    text = (
        BASE
        + IMPORT.replace("goal: loyal_users", f"goal: {bad}")
        + "      - {braze: email, profile: email}\n"
    )
    assert one_error(tmp_path, text).startswith(f"{pos(text, bad)}: goal name '{bad}' is not allowed")


def test_goal_names_are_unique_across_import_and_export(tmp_path: Path) -> None:
    text = (
        BASE
        + IMPORT.replace(NO_FIELDS, "")
        + EXPORT.replace("vip_to_braze", "loyal_users").replace(NO_FIELDS, "")
    )
    assert one_error(tmp_path, text) == (
        f"{pos(text, 'loyal_users', 2)}: goal name 'loyal_users' is already used on line 11; "
        "give every import and export goal of a connection its own name"
    )


def test_schedule_needs_five_fields(tmp_path: Path) -> None:
    found = one_error(tmp_path, BASE.replace('"0 3 * * *"', '"0 3 * *"'))
    assert found.startswith("2:11: schedule '0 3 * *' has 4 fields, not 5; write minute hour")


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("61 3 * * *", "is not a valid cron expression"),
        ("0 3 30 2 *", "never fires"),
        ("@daily", "has 1 fields"),
    ],
)
def test_schedule_must_be_a_valid_cron(tmp_path: Path, cron: str, fragment: str) -> None:
    found = one_error(tmp_path, BASE.replace('"0 3 * * *"', f'"{cron}"'))
    assert found.startswith("2:11: ") and fragment in found


def test_start_date_must_be_a_real_day(tmp_path: Path) -> None:
    found = one_error(tmp_path, BASE.replace("2026-11-01", "2026-02-30"))
    assert found == (
        "3:13: start_date '2026-02-30' is not a real date; write a calendar date as "
        "YYYY-MM-DD, e.g. 2026-11-01"
    )
    assert "is not in YYYY-MM-DD form" in one_error(tmp_path, BASE.replace("2026-11-01", "1/11/2026"))
    assert "is not a date" in one_error(tmp_path, BASE.replace('"2026-11-01"', "20261101"))


def test_unquoted_start_date_is_fine(tmp_path: Path) -> None:
    assert errors(tmp_path, BASE.replace('"2026-11-01"', "2026-11-01")) == []


def test_unknown_key_suggests_the_allowed_one(tmp_path: Path) -> None:
    found = one_error(tmp_path, BASE + "descripton: CRM\n")
    assert found.startswith(
        "10:1: unknown key 'descripton': did you mean 'description'? (allowed here: connection,"
    )


def test_unknown_nested_key_points_at_the_key(tmp_path: Path) -> None:
    # the unknown key, and the missing api_key reported at its parent `braze:`
    assert errors(tmp_path, BASE.replace("  api_key: ${BRAZE_API_KEY}", "  apikey: x")) == [
        "4:1: braze has no 'api_key'; add 'api_key:' (The REST API key, always as "
        "${VARIABLE}: the key itself never "
        "goes in this file. It is read when a run calls Braze, so definitions load without it.)",
        "6:3: unknown key 'apikey': did you mean 'api_key'? (allowed here: "
        "rest_endpoint, api_key, export_timeout_s, "
        "export_quiet_period_s, export_size_tolerance, export_poll_interval_s, track_object_limit_mode, "
        "max_requests_in_flight, request_timeout_s)",
    ]


def test_missing_required_keys_are_each_reported(tmp_path: Path) -> None:
    text = 'connection: demo\nbraze: {rest_endpoint: "https://x", api_key: "${K}"}\nstorage: {root: a}\n'
    assert [f.split(";")[0] for f in errors(tmp_path, text)] == [
        "1:1: the file has no 'schedule'",
        "1:1: the file has no 'start_date'",
        "3:1: storage has no 'braze_exports'",
    ]


@pytest.mark.parametrize(
    "field",
    [
        "first_name",
        "email",
        "email_subscribe",
        "home_city",
        "country",
        "dob",
        "custom_attributes.points",
        "custom_attributes.address.city",
        "user_aliases",
        "push_opted_in_at",
    ],
)
def test_import_braze_field_accepts_standard_and_custom(tmp_path: Path, field: str) -> None:
    assert errors(tmp_path, BASE + IMPORT + f"      - {{braze: {field}, profile: p}}\n") == []


@pytest.mark.parametrize(
    ("field", "suggestion"),
    [("first_nam", "first_name"), ("homecity", "home_city"), ("points", "custom_attributes.points")],
)
def test_import_braze_field_typo(tmp_path: Path, field: str, suggestion: str) -> None:
    text = BASE + IMPORT + f"      - {{braze: {field}, profile: p}}\n"
    found = one_error(tmp_path, text)
    assert found.startswith(
        f"{pos(text, field)}: unknown braze field '{field}': did you mean '{suggestion}'?"
    )
    assert "custom_attributes.<name>" in found


def test_import_braze_custom_attribute_needs_a_name(tmp_path: Path) -> None:
    found = one_error(tmp_path, BASE + IMPORT + "      - {braze: custom_attributes., profile: p}\n")
    assert found.startswith("16:17: braze field 'custom_attributes.' has an empty attribute name")


def test_import_identifiers(tmp_path: Path) -> None:
    alias = IMPORT.replace(
        "{braze: external_id, profile: external_id}", "{braze: user_alias:crm_id, profile: crm}"
    )
    assert errors(tmp_path, BASE + alias.replace(NO_FIELDS, "")) == []
    text = BASE + IMPORT.replace("braze: external_id,", "braze: extrnal_id,").replace(NO_FIELDS, "")
    assert one_error(tmp_path, text) == (
        f"{pos(text, 'extrnal_id')}: unknown braze identifier 'extrnal_id': did you mean 'external_id'? "
        "(use one of external_id, braze_id, email, phone or user_alias:<label>)"
    )


def test_import_identifier_alias_needs_a_label(tmp_path: Path) -> None:
    text = BASE + IMPORT.replace("braze: external_id,", 'braze: "user_alias:",').replace(NO_FIELDS, "")
    where = pos(text, '"user_alias:"')
    assert one_error(tmp_path, text).startswith(f"{where}: user alias label in 'user_alias:'")


def test_identifiers_are_listed_once(tmp_path: Path) -> None:
    twice = "      - {braze: external_id, profile: external_id}\n"
    text = BASE + IMPORT.replace(NO_FIELDS, twice)
    assert one_error(tmp_path, text).startswith(
        f"{pos(text, 'external_id', 3)}: braze identifier 'external_id' is"
    )


def test_import_goal_needs_an_identifier(tmp_path: Path) -> None:
    identifiers = "    identifiers:\n      - {braze: external_id, profile: external_id}\n"
    text = BASE + IMPORT.replace(identifiers, "").replace(NO_FIELDS, "")
    assert one_error(tmp_path, text).startswith(f"{pos(text, 'goal:')}: import[0] has no 'identifiers'")
    text = BASE + IMPORT.replace(identifiers, "    identifiers: []\n").replace(NO_FIELDS, "")
    assert one_error(tmp_path, text) == (
        f"{pos(text, '[]')}: identifiers is empty; add at least one, e.g. - {{braze: "
        "external_id, profile: external_id}"
    )


def test_profile_property_is_written_once_per_goal(tmp_path: Path) -> None:
    text = (
        BASE
        + IMPORT
        + "      - {braze: first_name, profile: name}\n      - {braze: last_name, profile: name}\n"
    )
    assert one_error(tmp_path, text) == (
        f"{pos(text, 'name}', 2)}: profile property 'name' is already written on line 16; "
        "map each profile property once per goal"
    )


def test_profile_property_must_be_a_column_name(tmp_path: Path) -> None:
    text = BASE + IMPORT + "      - {braze: email, profile: e-mail}\n"
    expected = f"{pos(text, 'e-mail')}: profile property 'e-mail' is not a valid name: did you mean 'e_mail'?"
    assert one_error(tmp_path, text).startswith(expected)


def test_remaining_fields_prefix(tmp_path: Path) -> None:
    text = BASE + IMPORT.replace(NO_FIELDS, "    remaining_fields: {prefix: 1braze_}\n")
    assert one_error(tmp_path, text).startswith(
        f"{pos(text, '1braze_')}: prefix '1braze_' does not start a valid"
    )
    ok = BASE + IMPORT.replace(NO_FIELDS, "    remaining_fields: {prefix: braze_, strategy: set_if_empty}\n")
    assert errors(tmp_path, ok) == []


def test_max_quarantine_rate_is_a_share(tmp_path: Path) -> None:
    text = BASE + IMPORT.replace(NO_FIELDS, "    max_quarantine_rate: 5\n")
    where = pos(text, "5\n")
    expected = f"{where}: import[0].max_quarantine_rate 5: input should be less than or equal to 1"
    assert one_error(tmp_path, text).startswith(expected)


def test_export_segment_must_be_defined(tmp_path: Path) -> None:
    text = BASE + EXPORT.replace("segment: vip", "segment: vipp") + "      - {from: segments, braze: s}\n"
    assert one_error(tmp_path, text) == (
        f"{pos(text, 'vipp')}: segment 'vipp' is not defined under segments: did you mean 'vip'? "
        "(define it under segments:, or use one of vip)"
    )


def test_export_segment_without_any_segments(tmp_path: Path) -> None:
    text = (
        BASE
        + EXPORT.replace('segments: {vip: "points >= 100"}\n', "")
        + "      - {from: segments, braze: s}\n"
    )
    found = one_error(tmp_path, text)
    where = pos(text, "vip\n")
    assert found.startswith(f"{where}: segment 'vip' is not defined under segments; define it")


def test_export_from_all_six_sources(tmp_path: Path) -> None:
    fields = (
        "      - {from: {property: points}, braze: loyalty_points}\n"
        "      - {from: {identifier: email}, braze: email}\n"
        "      - {from: segments, braze: cdp_segments}\n"
        "      - {from: interactions, braze: seen_interactions}\n"
        "      - {from: {permission: email}, braze: email_subscribe}\n"
        "      - {from: {static: profilesync}, braze: source}\n"
        "      - {from: {static: 3}, braze: version}\n"
    )
    permissions = "permissions: {email: {property: email_consent, levels: {opted_in: opted_in}}}\n"
    assert errors(tmp_path, BASE + permissions + EXPORT + fields) == []


@pytest.mark.parametrize(
    ("source", "node", "expected"),
    [
        ("segment", "segment,", "unknown source 'segment': did you mean 'segments'?"),
        ("{propert: points}", "propert:", "unknown source 'propert': did you mean 'property'?"),
        (
            "{property: a, static: b}",
            "{property",
            "source has 2 keys (property, static); write exactly one of",
        ),
        ("{static: [1, 2]}", "[1, 2]", "static value is not text, a number or true/false"),
        ("property", "property,", "source 'property' needs a name; write {property: <name>}"),
    ],
)
def test_export_from_is_exactly_one_source(tmp_path: Path, source: str, node: str, expected: str) -> None:
    text = BASE + EXPORT + f"      - {{from: {source}, braze: x}}\n"
    assert one_error(tmp_path, text).startswith(f"{pos(text, node)}: {expected}")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ('"$points"', "braze attribute name '$points' starts with '$': did you mean 'points'?"),
        ('".points"', "braze attribute name '.points' starts with '.'"),
        ('""', "braze attribute name is empty"),
        ("a" * 256, "braze attribute name is 256 characters long"),
    ],
)
def test_export_attribute_names(tmp_path: Path, name: str, fragment: str) -> None:
    text = BASE + EXPORT + f"      - {{from: segments, braze: {name}}}\n"
    found = one_error(tmp_path, text)
    assert found.startswith(f"{pos(text, name)}: {fragment}")
    assert "not starting with $ or ." in found


def test_export_attribute_is_sent_once_per_goal(tmp_path: Path) -> None:
    text = BASE + EXPORT + "      - {from: segments, braze: a}\n      - {from: interactions, braze: a}\n"
    expected = f"{pos(text, 'a}', 2)}: braze attribute 'a' is already set on line 18"
    assert one_error(tmp_path, text).startswith(expected)


@pytest.mark.parametrize("braze", ["external_id", "user_alias:crm_id", "braze_id", "email", "phone"])
def test_export_identifiers_accepted(tmp_path: Path, braze: str) -> None:
    text = (
        BASE
        + EXPORT.replace("braze: external_id}", f"braze: {braze}}}")
        + "      - {from: segments, braze: s}\n"
    )
    assert errors(tmp_path, text) == []


def test_export_identifier_unknown(tmp_path: Path) -> None:
    text = (
        BASE + EXPORT.replace("braze: external_id}", "braze: alias}") + "      - {from: segments, braze: s}\n"
    )
    assert one_error(tmp_path, text).startswith(f"{pos(text, 'alias')}: unknown braze identifier 'alias'")


def test_export_goal_needs_an_identifier(tmp_path: Path) -> None:
    text = BASE + EXPORT.replace("      - {profile: external_id, braze: external_id}\n", "").replace(
        "    identifiers:\n", "    identifiers: []\n"
    )
    text = text.replace(NO_FIELDS, "")
    assert one_error(tmp_path, text).startswith(f"{pos(text, '[]')}: identifiers is empty; add at least one")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("delta", "attrs", "unknown delta 'attrs': did you mean 'attributes'?"),
        ("on_leave", "clean", "unknown on_leave 'clean': did you mean 'clear'?"),
        ("allow_create", "maybe", "export[0].allow_create 'maybe': input should be a valid boolean"),
    ],
)
def test_export_choices(tmp_path: Path, key: str, value: str, expected: str) -> None:
    text = (
        BASE
        + EXPORT.replace(NO_FIELDS, f"    {key}: {value}\n{NO_FIELDS}")
        + "      - {from: segments, braze: s}\n"
    )
    assert one_error(tmp_path, text).startswith(f"{pos(text, value)}: {expected}")


def test_export_budget(tmp_path: Path) -> None:
    def with_budget(budget: str) -> str:
        goal = EXPORT.replace(NO_FIELDS, f"    budget: {budget}\n{NO_FIELDS}")
        return BASE + goal + "      - {from: segments, braze: s}\n"

    assert errors(tmp_path, with_budget("{data_points: 0, users: 50000, share_of_segment: 1}")) == []
    assert errors(tmp_path, with_budget("{share_of_segment: 0.2}")) == []
    text = with_budget("{data_point: 10, users: -1, share_of_segment: 0}")
    assert errors(tmp_path, text) == [
        f"{pos(text, 'data_point:')}: unknown key 'data_point': did you mean 'data_points'? "
        "(allowed here: data_points, users, share_of_segment)",
        f"{pos(text, '-1, ')}: -1 is negative; write a whole number >= 0, e.g. 100000; remove the key for no limit",
        f"{pos(text, '0}')}: share_of_segment 0 is not a share; write a number greater than 0 and at most 1, "
        "e.g. 0.2 for 20% of the segment's members",
    ]
    text = with_budget("{share_of_segment: 20, data_points: 1.5}")
    found = errors(tmp_path, text)
    assert [f.split(": ", 1)[0] for f in found] == [pos(text, "20,"), pos(text, "1.5")], found
    assert "share_of_segment 20 is not a share" in found[0] and "write a whole number" in found[1]


def test_notify_emails_and_when(tmp_path: Path) -> None:
    text = BASE + "notify: {emails: [data@example.com, not-an-address, a b@x.io], on: failur}\n"
    assert errors(tmp_path, text) == [
        f"{pos(text, 'not-an')}: 'not-an-address' is not a valid e-mail address; write "
        "name@example.com, without spaces",
        f"{pos(text, 'a b@')}: 'a b@x.io' is not a valid e-mail address; write "
        "name@example.com, without spaces",
        f"{pos(text, 'failur')}: unknown on 'failur': did you mean 'failure'? (use one of "
        "failure, every_run)",
    ]
    assert errors(tmp_path, BASE + "notify: {emails: [data@example.com], on: every_run}\n") == []
    long_label = "ops@" + "a" * 64 + ".com"  # a DNS label holds at most 63 characters (email-validator)
    assert errors(tmp_path, BASE + f"notify: {{emails: [{long_label}]}}\n") == [
        f"10:19: {long_label!r} is not a valid e-mail address; write name@example.com, without spaces"
    ]
    assert errors(tmp_path, BASE + "notify: {emails: []}\n") == [
        "10:18: notify.emails: list should have at least 1 item after validation, not 0; "
        "add at least one item"
    ]


def test_braze_and_storage_settings(tmp_path: Path) -> None:
    text = BASE.replace("https://rest.fra-01.braze.eu", "rest.fra-01.braze.eu").replace(
        "storage:\n  root: /tmp/profiles\n  braze_exports: s3://braze-exports\n",
        "  track_object_limit_mode: per_aray\n  max_requests_in_flight: 0\n"
        "storage: {root: gs://bucket, braze_exports: s3://}\n",
    )
    found = errors(tmp_path, text)
    nodes = ["rest.fra", "per_aray", "0\n", "gs://", "s3://}"]
    assert [":".join(f.split(":")[:2]) for f in found] == [pos(text, node) for node in nodes]
    assert "Braze REST endpoint 'rest.fra-01.braze.eu' is not an http(s) URL" in found[0]
    assert "did you mean 'per_array'?" in found[1]
    assert "input should be greater than or equal to 1" in found[2]
    assert "unsupported storage URI scheme 'gs' in 'gs://bucket'" in found[3]
    assert "'s3://' names no bucket" in found[4]


def test_request_timeout_is_positive_and_bounded(tmp_path: Path) -> None:
    braze = "  api_key: ${BRAZE_API_KEY}\n"
    for value, expected in [("0", "greater than 0"), ("3600", "less than or equal to 600"), ("soon", "number")]:
        text = BASE.replace(braze, braze + f"  request_timeout_s: {value}\n")
        (found,) = errors(tmp_path, text)
        line, column = pos(text, f"request_timeout_s: {value}").split(":")
        assert found.startswith(f"{line}:{int(column) + len('request_timeout_s: ')}:"), found
        assert "braze.request_timeout_s" in found and expected in found, found
    assert errors(tmp_path, BASE.replace(braze, braze + "  request_timeout_s: 2.5\n")) == []


def test_tags(tmp_path: Path) -> None:
    text = BASE + "tags: [crm, has space]\n"
    assert one_error(tmp_path, text).startswith(f"{pos(text, 'has space')}: tag 'has space' is not allowed")


def test_segments(tmp_path: Path) -> None:
    text = BASE + 'profile_properties: [x]\nsegments:\n  vip: ""\n  Big Spenders: "x > 1"\n'
    empty = pos(text, '""')
    assert errors(tmp_path, text) == [
        f"{empty}: segment 'vip': segment expression is empty; write a condition, "
        "e.g. points >= 100 and country = 'NL'",
        f"{pos(text, 'Big')}: segment name 'Big Spenders' is not allowed: did you mean 'big_spenders'? "
        "(use lower-case letters, digits and single underscores, starting with a letter; it becomes part of "
        "Dagster asset keys and `connection__goal` group names)",
    ]


def test_segment_expression_hook_parses_the_expression() -> None:
    empty = check_segment_expression("   ")
    assert empty is not None and (empty.message, empty.offset) == ("segment expression is empty", 0)
    assert check_segment_expression("points >= 100 and country = 'NL'") is None


def test_yaml_null_value_says_to_remove_or_fill(tmp_path: Path) -> None:
    assert one_error(tmp_path, BASE + "description:\n") == (
        "10:13: description: input should be a valid string; give it a value, or remove "
        "the key to use its default"
    )


def test_all_errors_of_a_file_are_reported_together(tmp_path: Path) -> None:
    text = (
        BASE.replace('"0 3 * * *"', '"0 3 * *"')
        + IMPORT
        + ("      - {braze: first_nam, profile: a, strategy: summ}\n      - {braze: email, profile: a}\n")
    )
    assert [f.split(":")[0] for f in errors(tmp_path, text)] == ["2", "16", "16", "17"]


def test_mapping_error_text() -> None:
    error = MappingError(Path("m/a.yaml"), 3, 7, "unknown strategy 'summ'", "sum", "use one of set, sum")
    assert str(error) == "m/a.yaml:3:7: unknown strategy 'summ': did you mean 'sum'? (use one of set, sum)"
    plain = MappingError(Path("a.yaml"), 1, 1, "the file is empty", fix="start with `connection: <name>`")
    assert str(plain) == "a.yaml:1:1: the file is empty; start with `connection: <name>`"
