"""The one place where profile segment expressions are checked at load time.

Segment expressions (`"points >= 100 and country = 'NL'"`) are filters over profile
properties. Their grammar is parsed in a later step (pipeline/profiles); until then this
check only refuses empty text. When the parser exists, call it here and return its
message, so every connection file gets the same file:line:column errors for free.
"""

from __future__ import annotations


def check_segment_expression(text: str) -> str | None:
    """An error message for `text`, or None when it is acceptable (today: any non-empty text)."""
    if not text.strip():
        return "segment expression is empty"
    return None
