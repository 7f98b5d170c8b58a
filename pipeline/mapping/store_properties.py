"""The profile properties a store can hold, so segments and exports name only real ones.

Connections with the same `storage.root` (compared as written, after `${VAR}` substitution)
share one profile store, so a property any of them feeds is known to all of them:

- the `profile:` of every import goal's field mapping;
- any name starting with an import goal's `remaining_fields.prefix` (`braze_` → `braze_country`);
- the `property` of every permission channel;
- the names under `profile_properties:`, for properties the data engineer's own assets write.

Read from the raw documents, not the models, so one broken file does not hide the properties of
the others (its own errors are reported on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.mapping.yaml_positions import Document

_SHOWN = 12  # known names listed in a message; more would bury the fix


@dataclass(frozen=True)
class KnownProperties:
    """The properties of one store: exact names and prefixes of remaining fields."""

    root: str | None = None
    names: frozenset[str] = frozenset()
    prefixes: frozenset[str] = field(default_factory=frozenset)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.names or name.startswith(tuple(self.prefixes)))

    def __or__(self, other: KnownProperties) -> KnownProperties:
        return KnownProperties(self.root, self.names | other.names, self.prefixes | other.prefixes)

    def describe(self) -> str:
        """What a message lists as the choices."""
        shown = sorted(self.names)[:_SHOWN] + [f"{p}..." for p in sorted(self.prefixes)]
        more = ", ..." if len(self.names) > _SHOWN else ""
        return ", ".join(shown) + more if shown else "none yet"


def storage_root(data: Any) -> str | None:
    storage = data.get("storage") if isinstance(data, dict) else None
    root = storage.get("root") if isinstance(storage, dict) else None
    return root if isinstance(root, str) else None


def own_properties(data: Any) -> KnownProperties:
    """What one connection file itself feeds."""
    if not isinstance(data, dict):
        return KnownProperties()
    names: list[Any] = []
    prefixes: list[Any] = []
    for goal in _list(data.get("import")):
        names += [f.get("profile") for f in _list(goal.get("fields"))]
        remaining = goal.get("remaining_fields")
        prefixes.append(remaining.get("prefix") if isinstance(remaining, dict) else None)
    permissions = data.get("permissions")
    if isinstance(permissions, dict):
        names += [p.get("property") for p in permissions.values() if isinstance(p, dict)]
    listed = data.get("profile_properties")
    names += listed if isinstance(listed, list) else []
    return KnownProperties(storage_root(data), _texts(names), _texts(prefixes))


def known_properties(doc: Document, store: Iterable[Document]) -> KnownProperties:
    """What `doc` may use: its own properties and those of every document of `store` on its root."""
    own = own_properties(doc.data)
    known = own
    for other in store:
        if other is not doc and own.root is not None and storage_root(other.data) == own.root:
            known = known | own_properties(other.data)
    return known


def _list(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _texts(values: list[Any]) -> frozenset[str]:
    return frozenset(v for v in values if isinstance(v, str) and v)
