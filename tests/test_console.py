"""Human output never passes terminal control sequences from Braze data through."""

from __future__ import annotations

import pytest

from pipeline.console import print_profile


def test_profile_values_with_escape_sequences_are_shown_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    profile = {
        "profile_id": "p1",
        "identifiers": {"external_id": ["u1\x1b]0;owned\x07"]},
        "properties": {"first_name": "\x1b[2J\x1b[31mEve\u009b", "note": "[bold]not markup[/bold]", "rtl": "a\u202eb"},
    }
    print_profile("2026-11-01", profile, as_json=False)
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x07" not in shown and "\u009b" not in shown and "\u202e" not in shown
    assert "\\x1b[2J\\x1b[31mEve\\x9b" in shown
    assert "[bold]not markup[/bold]" in shown  # Braze text is not rich markup
    assert "a\\u202eb" in shown
