"""What segments and export goals may read: the expression language in place, known properties,
permissions. Every error is checked at its exact line:column, found with `pos` in the test's YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.mapping import Connection, MappingsInvalid, Permission, load_connection_file, validate_folder

BASE = """\
connection: acme
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze: {rest_endpoint: "https://rest.fra-01.braze.eu", api_key: "${BRAZE_API_KEY}"}
storage: {root: /tmp/profiles, braze_exports: "s3://braze-exports"}
import:
  - goal: loyal
    segment: Loyal users
    identifiers: [{braze: external_id, profile: external_id}]
    fields:
      - {braze: custom_attributes.points, profile: points}
      - {braze: country, profile: country}
      - {braze: email_subscribe, profile: email_consent}
    remaining_fields: {prefix: braze_}
"""

PERMISSIONS = """\
permissions:
  email:
    property: email_consent
    levels: {opted_in: opted_in, subscribed: subscribed, unsubscribed: unsubscribed, granted: opted_in}
  push: {property: push_consent, levels: {"yes": opted_in, "no": unsubscribed}}
"""

EXPORT = """\
export:
  - goal: to_braze
    segment: vip
    identifiers: [{profile: external_id, braze: external_id}]
    fields:
"""


def pos(text: str, fragment: str, nth: int = 1) -> str:
    """`line:column` (1-based) of the nth occurrence of `fragment` in `text`."""
    start = -1
    for _ in range(nth):
        start = text.index(fragment, start + 1)
    return f"{text.count(chr(10), 0, start) + 1}:{start - text.rfind(chr(10), 0, start)}"


def errors(tmp_path: Path, text: str, name: str = "acme.yaml") -> list[str]:
    """Errors of the file `name` as 'line:column: rest'."""
    (tmp_path / name).write_text(text)
    return [str(e).removeprefix(f"{tmp_path / name}:") for e in validate_folder(tmp_path) if e.path.name == name]


def one_error(tmp_path: Path, text: str) -> str:
    found = errors(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def segments(**texts: str) -> str:
    return "segments:\n" + "".join(f"  {name}: {text}\n" for name, text in texts.items())


def test_valid_file(tmp_path: Path) -> None:
    text = (
        BASE
        + PERMISSIONS
        + segments(vip="\"points >= 800 and email_consent != 'unsubscribed' and braze_gender = 'F'\"")
        + EXPORT
        + "      - {from: {property: points}, braze: loyalty_points}\n"
        + "      - {from: {property: braze_city}, braze: city}\n"
        + "      - {from: {permission: email}, braze: email_subscribe}\n"
        + "      - {from: {permission: push}, braze: push_subscribe}\n"
    )
    assert errors(tmp_path, text) == []
    connection = load_connection_file(tmp_path / "acme.yaml")
    email = connection.permission("email")
    assert isinstance(email, Permission) and email.property == "email_consent"
    assert email.levels == {
        "opted_in": "opted_in",
        "subscribed": "subscribed",
        "unsubscribed": "unsubscribed",
        "granted": "opted_in",
    }
    assert connection.permission("push").levels == {"yes": "opted_in", "no": "unsubscribed"}
    with pytest.raises(KeyError, match=r"declares no permission 'sms' \(declared: email, push\)"):
        connection.permission("sms")


# --- the expression, in place -------------------------------------------------------------------------


def test_unknown_property_in_a_plain_value(tmp_path: Path) -> None:
    text = BASE + segments(vip="points >= 800 and contry = 'NL'")
    assert one_error(tmp_path, text) == (
        f"{pos(text, 'contry')}: segment 'vip' uses unknown property 'contry': did you mean 'country'? "
        "(the profiles of this storage root hold: country, email_consent, points, braze_...; feed contry with "
        "an import goal (- {braze: ..., profile: contry}), or list it under profile_properties: if your own "
        "asset writes it)"
    )


def test_unknown_property_in_quoted_values_counts_quotes_and_escapes(tmp_path: Path) -> None:
    single = BASE + segments(vip="'country = ''it''''s'' and pionts > 1'")
    assert one_error(tmp_path, single).startswith(f"{pos(single, 'pionts')}: segment 'vip' uses unknown property")
    double = BASE + segments(vip='"\\"braze_x\\" = \'caf\\u00e9\\t\' or pionts > 1"')
    assert one_error(tmp_path, double).startswith(f"{pos(double, 'pionts')}: segment 'vip' uses unknown property")


def test_each_unknown_property_is_reported_once_per_segment(tmp_path: Path) -> None:
    text = BASE + segments(a="x = 1 or x = 2 or y = 3", b="x is null")
    assert [e.split(": segment")[0] for e in errors(tmp_path, text)] == [
        pos(text, "x ="),
        pos(text, "y ="),
        pos(text, "x is"),
    ]


@pytest.mark.parametrize(
    ("value", "node", "message"),
    [
        ("points >= read_csv('x')", "read_csv", "'read_csv(' is a function call; function calls are not part"),
        ("'points >= read_csv(''x'')'", "read_csv", "'read_csv(' is a function call"),
        ('"\\"country\\" = \'NL\' or read_csv(1)"', "read_csv", "'read_csv(' is a function call"),
        ('"points >= (select 1)"', "select", "sub-queries are not part of the segment language"),
        ("points >= 1; drop table p", ";", "';' separates SQL statements"),
        ("'country == ''NL'''", "==", "'==' is not an operator; did you mean '='?"),
        ('"country = \'NL"', "'NL", "text is not closed"),
    ],
)
def test_syntax_error_at_its_character(tmp_path: Path, value: str, node: str, message: str) -> None:
    text = BASE + segments(vip=value)
    assert one_error(tmp_path, text).startswith(f"{pos(text, node)}: segment 'vip': {message}")


def test_multi_line_values_point_at_their_start(tmp_path: Path) -> None:
    block = BASE + "segments:\n  vip: |\n    points >= 1 and\n    nope = 1\n"
    assert one_error(tmp_path, block).startswith(f"{pos(block, '|')}: segment 'vip' uses unknown property 'nope'")
    folded = BASE + "segments:\n  vip: \"points >= 1 and\n    read_csv('x')\"\n"
    start = pos(folded, '"points')
    assert one_error(tmp_path, folded).startswith(f"{start}: segment 'vip': 'read_csv(' is a")


def test_substituted_values_point_at_their_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIN_POINTS", "100")
    text = BASE + segments(vip='"points >= ${MIN_POINTS} and nope = 1"')
    start = pos(text, '"points')
    assert one_error(tmp_path, text).startswith(f"{start}: segment 'vip' uses unknown property")


def test_a_segment_cannot_use_another(tmp_path: Path) -> None:
    text = BASE + segments(vip="points >= 800", big="vip = true")
    assert one_error(tmp_path, text) == (
        f"{pos(text, 'vip =')}: segment 'big' uses unknown property 'vip'; a segment cannot use another "
        "segment; repeat the condition of segment 'vip' instead"
    )


def test_the_model_alone_refuses_a_bad_expression() -> None:
    data = {"segments": {"vip": "read_csv('x')"}}
    with pytest.raises(ValidationError, match=r"'read_csv\(' is a function call \(at character 0\)"):
        Connection.model_validate(data)


# --- which properties are known -----------------------------------------------------------------------


def test_export_property_must_be_known(tmp_path: Path) -> None:
    text = BASE + segments(vip="points > 1") + EXPORT + "      - {from: {property: point}, braze: p}\n"
    assert one_error(tmp_path, text).startswith(
        f"{pos(text, 'point}')}: export field uses unknown property 'point': did you mean 'points'? "
        "(the profiles of this storage root hold:"
    )


def test_profile_properties_and_permissions_are_known(tmp_path: Path) -> None:
    text = BASE.replace("import:", "profile_properties: [churn_score, lifetime_value]\nimport:") + (
        "permissions: {sms: {property: sms_consent, levels: {y: opted_in}}}\n"
        + segments(vip="\"churn_score < 0.5 and sms_consent = 'y' and lifetime_valu > 1\"")
        + EXPORT
        + "      - {from: {property: lifetime_value}, braze: ltv}\n"
    )
    assert one_error(tmp_path, text).startswith(
        f"{pos(text, 'lifetime_valu >')}: segment 'vip' uses unknown property 'lifetime_valu': "
        "did you mean 'lifetime_value'? (the profiles of this storage root hold: churn_score, country, "
        "email_consent, lifetime_value, points, sms_consent, braze_...;"
    )


def test_profile_properties_must_be_property_names(tmp_path: Path) -> None:
    text = BASE.replace("import:", "profile_properties: [ok, not-ok]\nimport:")
    assert one_error(tmp_path, text).startswith(f"{pos(text, 'not-ok')}: profile property 'not-ok' is not a valid")


def other(name: str, root: str, extra: str) -> str:
    return (
        textwrap.dedent(f"""\
        connection: {name}
        schedule: "0 3 * * *"
        start_date: "2026-11-01"
        braze: {{rest_endpoint: "https://rest.fra-01.braze.eu", api_key: "${{BRAZE_API_KEY}}"}}
        storage: {{root: {root}, braze_exports: "s3://braze-exports"}}
        """)
        + extra
    )


def test_connections_on_one_root_share_their_properties(tmp_path: Path) -> None:
    (tmp_path / "b_scores.yaml").write_text(other("scores", "/tmp/profiles", "profile_properties: [churn]\n"))
    (tmp_path / "c_elsewhere.yaml").write_text(other("elsewhere", "/tmp/other", "profile_properties: [tier]\n"))
    text = BASE + segments(vip="churn > 0.5 and tier = 'gold'")
    assert one_error(tmp_path, text).startswith(f"{pos(text, 'tier')}: segment 'vip' uses unknown property 'tier'")
    # the other file's segments see this file's import, whichever loads first
    (tmp_path / "b_scores.yaml").write_text(other("scores", "/tmp/profiles", segments(high="points > 1")))
    assert errors(tmp_path, other("scores", "/tmp/profiles", segments(high="points > 1")), "b_scores.yaml") == []


def test_loading_one_file_reads_the_properties_beside_it(tmp_path: Path) -> None:
    (tmp_path / "b_scores.yaml").write_text(other("scores", "/tmp/profiles", "profile_properties: [churn]\n"))
    (tmp_path / "acme.yaml").write_text(BASE + segments(vip="churn > 0.5"))
    assert load_connection_file(tmp_path / "acme.yaml").segments == {"vip": "churn > 0.5"}
    (tmp_path / "b_scores.yaml").unlink()
    with pytest.raises(MappingsInvalid, match="segment 'vip' uses unknown property 'churn'"):
        load_connection_file(tmp_path / "acme.yaml")


# --- permissions --------------------------------------------------------------------------------------


def test_unmappable_level(tmp_path: Path) -> None:
    text = BASE + PERMISSIONS.replace("granted: opted_in", "granted: optin")
    assert one_error(tmp_path, text) == (
        f"{pos(text, 'optin}')}: unmappable level: 'optin' is not a Braze subscription state: did you mean "
        "'opted_in'? (map every level to one of opted_in, subscribed, unsubscribed: the states "
        "email_subscribe and push_subscribe accept)"
    )
    far = BASE + PERMISSIONS.replace('"no": unsubscribed', '"no": maybe')
    assert one_error(tmp_path, far).startswith(f"{pos(far, 'maybe')}: unmappable level: 'maybe' is not a Braze")


def test_permission_shape(tmp_path: Path) -> None:
    text = BASE + "permissions:\n  E-mail: {property: c, levels: {a: opted_in}}\n  push: {property: p, levels: {}}\n"
    assert errors(tmp_path, text) == [
        f"{pos(text, 'E-mail')}: permission channel name 'E-mail' is not allowed: did you mean 'e_mail'? "
        "(use lower-case letters, digits and _, starting with a letter, e.g. email or push)",
        f"{pos(text, '{}')}: levels is empty; add at least one, e.g. {{opted_in: opted_in, unsubscribed: "
        "unsubscribed}",
    ]
    missing = BASE + "permissions:\n  push: {levels: {a: opted_in}}\n"
    assert one_error(tmp_path, missing).startswith(f"{pos(missing, 'push:')}: permissions.push has no 'property'")


def test_permission_source_must_be_declared(tmp_path: Path) -> None:
    fields = "      - {from: {permission: emial}, braze: email_subscribe}\n"
    text = BASE + PERMISSIONS + segments(vip="points > 1") + EXPORT + fields
    assert one_error(tmp_path, text) == (
        f"{pos(text, 'emial')}: permission 'emial' is not declared under permissions: did you mean 'email'? "
        "(declare it under permissions:, or use one of email, push)"
    )
    bare = BASE + segments(vip="points > 1") + EXPORT + fields
    assert one_error(tmp_path, bare) == (
        f"{pos(bare, 'emial')}: permission 'emial' is not declared under permissions; declare it, e.g. "
        "permissions: {email: {property: email_consent, levels: {opted_in: opted_in, subscribed: subscribed, "
        "unsubscribed: unsubscribed}}}"
    )


@pytest.mark.parametrize(
    ("target", "suggestion"), [("email_subscribed", ": did you mean 'email_subscribe'?"), ("opt_in_state", ";")]
)
def test_permission_goes_to_a_subscription_attribute(tmp_path: Path, target: str, suggestion: str) -> None:
    fields = f"      - {{from: {{permission: email}}, braze: {target}}}\n"
    text = BASE + PERMISSIONS + segments(vip="points > 1") + EXPORT + fields
    found = one_error(tmp_path, text)
    assert found.startswith(
        f"{pos(text, target)}: a permission is sent to email_subscribe or push_subscribe, not '{target}'{suggestion}"
    )
    assert "both accept opted_in, subscribed and unsubscribed" in found


def test_permission_channel_in_source_must_be_a_channel_name(tmp_path: Path) -> None:
    fields = "      - {from: {permission: Email}, braze: email_subscribe}\n"
    text = BASE + PERMISSIONS + segments(vip="points > 1") + EXPORT + fields
    assert one_error(tmp_path, text).startswith(
        f"{pos(text, 'Email}')}: permission channel name 'Email' is not allowed: did you mean 'email'?"
    )
