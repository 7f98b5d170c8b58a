"""Every file of the bad-data corpus ends as its `<file>.expect.json` says (issue 8, "close the class")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bad_corpus import FOLDER, cases, expectation, run


def test_every_corpus_file_has_an_expectation() -> None:
    missing = [case for case in cases() if not (FOLDER / f"{case}.expect.json").is_file()]
    assert missing == [], f"write <file>.expect.json for {missing}"
    assert len(cases()) >= 15


def _contains(reason: str, expected: str, where: str) -> None:
    assert expected in reason, f"{where}: {reason!r} lacks {expected!r}"


@pytest.mark.parametrize("case", cases())
def test_corpus_file(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAZE_API_KEY", "unused")  # nothing here calls Braze
    want = expectation(case)
    got = run(case, tmp_path)
    assert got["outcome"] == want["outcome"], got
    if want["outcome"] == "fails":
        for text in want["error_contains"]:
            _contains(got["error"], text, "error")
        return

    lines = got["quarantined_lines"]
    assert [q["line"] for q in lines] == [q["line"] for q in want["quarantined_lines"]], lines
    for q, w in zip(lines, want["quarantined_lines"], strict=True):
        _contains(q["reason"], w["reason_contains"], f"line {q['line']}")

    fields = got["quarantined_fields"]
    keys = ("line", "braze_id", "field", "raw")
    assert [{k: q[k] for k in keys} for q in fields] == [{k: w[k] for k in keys} for w in want["quarantined_fields"]]
    for q, w in zip(fields, want["quarantined_fields"], strict=True):
        _contains(q["reason"], w["reason_contains"], f"line {q['line']} {q['field']}")

    assert {n: got["types"].get(n) for n in want.get("types", {})} == want.get("types", {})
    assert got["json_text_columns"] == want["json_text_columns"]
    _check_profiles(got, want)
    _check_export(got, want)


def _check_profiles(got: dict[str, Any], want: dict[str, Any]) -> None:
    for external_id, properties in want.get("profiles", {}).items():
        assert got["profiles"].get(external_id) == properties, external_id
    if "profile_count" in want:
        assert len(got["profiles"]) == want["profile_count"], sorted(got["profiles"])
    quarantine = got["profile_quarantine"]
    expected = want.get("profile_quarantine", [])
    assert [(q["braze_id"], q["property"]) for q in quarantine] == [(w["braze_id"], w["property"]) for w in expected]
    for q, w in zip(quarantine, expected, strict=True):
        _contains(q["reason"], w["reason_contains"], f"{q['braze_id']} {q['property']}")


def _check_export(got: dict[str, Any], want: dict[str, Any]) -> None:
    dead = got["dead_letters"]
    expected = want.get("dead_letters", [])
    assert [(d["external_id"], d["attribute"]) for d in dead] == [(w["external_id"], w["attribute"]) for w in expected]
    for d, w in zip(dead, expected, strict=True):
        _contains(d["reason"], w["reason_contains"], f"{d['external_id']} {d['attribute']}")
    for external_id, attributes in want.get("sent", {}).items():
        sent = got["sent"].get(external_id, {})
        assert {a: sent.get(a) for a in attributes} == attributes, external_id
    for absent in want.get("not_sent", []):
        assert absent["attribute"] not in got["sent"].get(absent["external_id"], {}), absent
    for values in got["sent"].values():
        assert None not in values.values()  # an export value is never null because of bad data
