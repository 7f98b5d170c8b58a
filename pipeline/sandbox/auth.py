"""Bearer keys with per-key permissions (reference 1.1, 1.3, 1.4).

A keys file, JSON or YAML: `{"keys": [{"name": "readonly", "key": "...", "permissions":
["segments.list", "segments.details"]}]}`. `"permissions": "all"` (or omitting them) grants
every permission. Key values are never logged; the request log shows the key's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.sandbox.documents import read_document
from pipeline.sandbox.settings import ALL_PERMISSIONS

_BEARER = re.compile(r"Bearer ([A-Za-z0-9._~+/=-]+)")


class KeyConfigError(ValueError):
    """A keys definition is malformed; the message names the entry and the fix."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    key: str
    permissions: frozenset[str]

    def __repr__(self) -> str:  # never show the key itself
        return f"ApiKey(name={self.name!r}, permissions={sorted(self.permissions)})"

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "permissions": sorted(self.permissions)}


def bearer_token(header: str | None) -> str | None:
    """The key of `Authorization: Bearer KEY`; None when missing or malformed (quoted, no scheme)."""
    if not header:
        return None
    match = _BEARER.fullmatch(header)
    return match.group(1) if match else None


def full_access_key(key: str, name: str = "default") -> ApiKey:
    return ApiKey(name, key, ALL_PERMISSIONS)


def parse_keys(entries: Iterable[Any], source: str = "keys") -> list[ApiKey]:
    keys = []
    for index, entry in enumerate(entries):
        where = f"{source}[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str) or not entry["key"]:
            raise KeyConfigError(f"{where}: needs a non-empty string 'key' (and 'name', 'permissions')")
        if bearer_token(f"Bearer {entry['key']}") is None:
            raise KeyConfigError(f"{where}: the key may hold only letters, digits and ._~+/=-")
        permissions = entry.get("permissions", "all")
        if permissions == "all":
            granted = ALL_PERMISSIONS
        elif isinstance(permissions, list) and all(isinstance(p, str) for p in permissions):
            unknown = sorted(set(permissions) - ALL_PERMISSIONS)
            if unknown:
                raise KeyConfigError(f"{where}: unknown permissions {unknown}; use {sorted(ALL_PERMISSIONS)}")
            granted = frozenset(permissions)
        else:
            raise KeyConfigError(f"{where}: 'permissions' must be a list of permission names or \"all\"")
        keys.append(ApiKey(str(entry.get("name") or f"key-{index}"), entry["key"], granted))
    return keys


def load_keys_file(path: Path) -> list[ApiKey]:
    document = read_document(path)
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise KeyConfigError(f'{path}: expected {{"keys": [{{"name", "key", "permissions"}}, ...]}}')
    return parse_keys(document["keys"], source=f"{path}: keys")
