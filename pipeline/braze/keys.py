"""What a Braze REST API key may hold, checked before the key goes anywhere near a request.

The key travels as `Authorization: Bearer <key>`. A line break in it would start a second
header, so requests refuses it with an error that quotes the whole header, key included; a
character outside Latin-1 cannot be encoded and http.client's error shows that character.
Both errors would reach logs, Dagster's event log and the run history. Braze keys are plain
ASCII (a UUID), so anything but visible ASCII is refused here, by a message that never repeats
the key or any character of it.
"""

from __future__ import annotations

import re

_KEY = re.compile(r"[\x21-\x7e]+")
KEY_FIX = (
    "copy the REST API key again from Braze (Settings > APIs and Identifiers): it holds only letters, "
    "digits and dashes, with no spaces, line breaks or other characters"
)


def key_problem(key: str, variable: str) -> str | None:
    """Why `key` (read from `variable`) cannot be sent, or None when it can.

    Whitespace around the key is allowed (and stripped by the client): `$(cat key.txt)` ends in one."""
    key = key.strip()
    if not key:
        return f"{variable} is not set or empty"
    if not _KEY.fullmatch(key):
        return f"{variable} holds characters a key cannot have"
    return None
