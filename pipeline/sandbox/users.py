"""The sandbox's user profiles and their lookup indexes (braze_id, external_id, alias, email, phone).

Callers hold the sandbox lock. Braze ids and random buckets come from a seeded generator, so a
reset sandbox fed the same requests builds the same profiles.
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol

# Export-only fields a seed can set; the REST API never writes them.
EXTRA_FIELDS = (
    "apps", "devices", "attributed_campaign", "attributed_source", "attributed_adgroup", "attributed_ad",
    "uninstalled_at", "created_from", "push_opted_in_at", "campaigns_received", "canvases_received",
    "cards_clicked",
)  # fmt: skip


def iso_ms(moment: datetime) -> str:
    """`2021-06-28T17:02:43.032Z`, Braze's form for event and app dates."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def created_at_text(moment: datetime) -> str:
    """`2020-07-10 15:00:00.000 UTC`, Braze's form for `created_at` in exports."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def to_json(value: Any) -> Any:
    """Stored values as JSON: times become ISO strings with milliseconds."""
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


@dataclass
class User:
    braze_id: str
    created_at: datetime
    random_bucket: int
    external_id: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # alias_label -> alias_name
    standard: dict[str, Any] = field(default_factory=dict)  # email, phone, first_name, ...
    custom: dict[str, Any] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> first, last, count
    purchases: dict[str, dict[str, Any]] = field(default_factory=dict)  # product_id -> first, last, count
    total_revenue: float = 0.0
    subscription_groups: dict[str, str] = field(default_factory=dict)
    push_tokens: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    updated: int = 0  # order of last update, for "most recently updated" lookups

    def document(self) -> dict[str, Any]:
        """The whole profile, export-shaped, with every field the sandbox holds."""
        doc: dict[str, Any] = {
            "created_at": created_at_text(self.created_at),
            "external_id": self.external_id,
            "braze_id": self.braze_id,
            "user_aliases": [{"alias_name": n, "alias_label": lbl} for lbl, n in sorted(self.aliases.items())],
            **to_json(self.standard),
            "random_bucket": self.random_bucket,
            "custom_attributes": to_json(self.custom),
            "custom_events": _summaries(self.events),
            "purchases": _summaries(self.purchases),
            "subscription_groups": [
                {"subscription_group_id": group, "subscription_state": state}
                for group, state in sorted(self.subscription_groups.items())
            ],
            "push_tokens": [dict(t) for t in self.push_tokens],
            **self.extra,
        }
        if self.purchases:
            doc["total_revenue"] = round(self.total_revenue, 2)
        return doc

    def export(self, fields: list[str], custom_names: list[str] | None = None) -> dict[str, Any]:
        """One exported user (reference 4.4): requested fields only, nothing null or empty."""
        doc = self.document()
        out: dict[str, Any] = {}
        for name in fields:
            if name == "custom_attributes":
                continue
            value = doc.get(name)
            if value is not None and value != "" and value != [] and value != {}:
                out[name] = value
        if "custom_attributes" in fields:
            chosen = doc["custom_attributes"]
        elif custom_names:
            chosen = {k: v for k, v in doc["custom_attributes"].items() if k in set(custom_names)}
        else:
            chosen = {}
        if chosen:
            out["custom_attributes"] = chosen
        return out


def _summaries(items: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": name, "first": iso_ms(s["first"]), "last": iso_ms(s["last"]), "count": s["count"]}
        for name, s in sorted(items.items())
    ]


_SETTLED_FIELDS = tuple(f for f in fields(User) if f.name not in ("custom", "updated"))


def _same(left: Any, right: Any) -> bool:
    """Equal and of the same types all the way down (Python holds `True == 1` and `1 == 1.0`)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(v, right[k]) for k, v in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


class Base(Protocol):
    """Users generated on read (`generated.DemoBase`): numbered 1..count, found by identifier."""

    count: int

    def build(self, index: int) -> User: ...
    def index_of_external(self, external_id: str) -> int | None: ...
    def index_of_braze(self, braze_id: str) -> int | None: ...
    def index_of_email(self, email: str) -> int | None: ...


class BrazeIndex:
    """`store.by_braze`: users by braze_id, generated base users included (read as a mapping)."""

    def __init__(self, store: UserStore) -> None:
        self._store = store

    def get(self, braze_id: str) -> User | None:
        return self._store.get_braze(braze_id)

    def __contains__(self, braze_id: object) -> bool:
        return isinstance(braze_id, str) and self._store.get_braze(braze_id) is not None

    def __getitem__(self, braze_id: str) -> User:
        user = self._store.get_braze(braze_id)
        if user is None:
            raise KeyError(braze_id)
        return user


class UserStore:
    """Stored users (the overlay) over an optional generated base.

    A base user is built on read; the first lookup that finds it by an identifier stores it
    (`_taken`), since the caller may change it, and from then on the stored copy is the user.
    Iteration walks the base in index order (stored copies in place of taken users), then the
    other stored users, without storing anything.

    `settle` folds a stored copy that differs from its base user only in custom attributes back
    into a patch of those attributes (a few hundred bytes, against ~3 KB for the whole user), so
    a push to millions of demo users leaves the sandbox small enough for a 10M-user day.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._clock = 0
        self._users: dict[str, User] = {}
        self.by_braze = BrazeIndex(self)
        self.base: Base | None = None
        self._taken: dict[int, str] = {}  # base index -> braze_id of its stored copy
        self._patches: dict[int, bytes] = {}  # base index -> pickled (custom set, custom removed, updated)
        self._unsettled: set[int] = set()  # base indexes taken since the last `settle`
        self._external: dict[str, str] = {}
        self._alias: dict[tuple[str, str], str] = {}
        self._email: dict[str, set[str]] = {}
        self._phone: dict[str, set[str]] = {}

    def __len__(self) -> int:
        base = self.base.count - len(self._taken) if self.base else 0
        return base + len(self._users)

    def __iter__(self) -> Iterator[User]:
        return self.iter_from(0)

    def iter_from(self, position: int) -> Iterator[User]:
        """Users from `position` on (0-based, base first); stored users are a snapshot taken now."""
        count = self.base.count if self.base else 0
        for index in range(position + 1, count + 1):
            yield self.base_user(index)  # type: ignore[misc]
        taken = set(self._taken.values())
        rest = [u for u in list(self._users.values()) if u.braze_id not in taken]
        yield from rest[max(position - count, 0) :]

    def base_user(self, index: int) -> User:
        """Base user `index`: its stored copy if it has one, else built (and not stored)."""
        assert self.base is not None
        bid = self._taken.get(index)
        return self._users[bid] if bid is not None else self._built(index)

    def _built(self, index: int) -> User:
        """Base user `index` as built, with its settled patch applied."""
        assert self.base is not None
        user = self.base.build(index)
        patch = self._patches.get(index)
        if patch is not None:
            changed, removed, user.updated = pickle.loads(patch)
            for name in removed:
                user.custom.pop(name, None)
            user.custom.update(changed)
        return user

    def settle(self) -> None:
        """Fold users taken since the last call back into patches where only custom attributes differ.

        A user that changed anything else (an identifier, a standard field, an event) stays stored
        whole. Values are compared with their types, so `True` never settles as the base's `1`."""
        for index in self._unsettled:
            bid = self._taken.get(index)
            user = self._users.get(bid) if bid is not None else None
            if user is None or self.base is None:
                continue
            base = self.base.build(index)
            if not all(_same(getattr(user, f.name), getattr(base, f.name)) for f in _SETTLED_FIELDS):
                continue
            changed = {k: v for k, v in user.custom.items() if k not in base.custom or not _same(v, base.custom[k])}
            removed = tuple(k for k in base.custom if k not in user.custom)
            self._patches[index] = pickle.dumps((changed, removed, user.updated), protocol=pickle.HIGHEST_PROTOCOL)
            del self._taken[index]
            self._forget(user)
        self._unsettled.clear()

    def _forget(self, user: User) -> None:
        """Drop a stored user and its index entries (its base user answers for it again)."""
        del self._users[user.braze_id]
        if user.external_id is not None and self._external.get(user.external_id) == user.braze_id:
            del self._external[user.external_id]
        for label, name in user.aliases.items():
            if self._alias.get((label, name)) == user.braze_id:
                del self._alias[(label, name)]
        for kind, index in (("email", self._email), ("phone", self._phone)):
            value = user.standard.get(kind)
            if value is None:
                continue
            key = value.lower() if kind == "email" else value
            holders = index.get(key)
            if holders is not None:
                holders.discard(user.braze_id)
                if not holders:
                    del index[key]

    def set_base(self, base: Base) -> None:
        self.base = base

    def claim(self, index: int, user: User) -> None:
        """Stand `user` (already stored) in for base user `index`."""
        self._taken[index] = user.braze_id

    def _take(self, index: int | None) -> User | None:
        """Base user `index` stored (it may be about to change), or None when there is none."""
        if index is None or self.base is None:
            return None
        if index in self._taken:
            return None  # the stored copy answers for itself through the indexes
        user = self._built(index)
        self._patches.pop(index, None)
        self._users[user.braze_id] = user
        self._taken[index] = user.braze_id
        self._unsettled.add(index)
        if user.external_id is not None:
            self._external[user.external_id] = user.braze_id
        for label, name in user.aliases.items():
            self._alias[(label, name)] = user.braze_id
        for kind in ("email", "phone"):
            if user.standard.get(kind) is not None:
                self._contact_index(kind, user.standard[kind]).add(user.braze_id)
        return user

    def with_external_prefix(self, prefix: str) -> list[User]:
        return [self._users[b] for e, b in self._external.items() if e.startswith(prefix)]

    def create(self, now: datetime, braze_id: str | None = None, random_bucket: int | None = None) -> User:
        bid = braze_id or f"{self._rng.getrandbits(96):024x}"
        bucket = self._rng.randrange(10_000) if random_bucket is None else random_bucket
        user = User(braze_id=bid, created_at=now, random_bucket=bucket)
        self._users[bid] = user
        self.touch(user)
        return user

    def touch(self, user: User) -> None:
        self._clock += 1
        user.updated = self._clock

    def get_braze(self, braze_id: str) -> User | None:
        user = self._users.get(braze_id)
        if user is None and self.base is not None:
            user = self._take(self.base.index_of_braze(braze_id))
        return user

    def get_external(self, external_id: str) -> User | None:
        bid = self._external.get(external_id)
        if bid is None and self.base is not None:
            return self._take(self.base.index_of_external(external_id))
        return self._users.get(bid) if bid else None

    def get_alias(self, label: str, name: str) -> User | None:
        bid = self._alias.get((label, name))
        return self._users.get(bid) if bid else None

    def get_email(self, email: str) -> User | None:
        """The most recently updated profile with an external_id, else the most recently updated."""
        return self._best(self._email_ids(email))

    def get_phone(self, phone: str) -> User | None:
        return self._best(self._phone.get(phone, set()))

    def all_with_email(self, email: str) -> list[User]:
        return [self._users[b] for b in self._email_ids(email)]

    def _email_ids(self, email: str) -> set[str]:
        if self.base is not None:
            self._take(self.base.index_of_email(email))
        return self._email.get(email.lower(), set())

    def _best(self, ids: set[str]) -> User | None:
        users = [self._users[b] for b in ids]
        if not users:
            return None
        return max(users, key=lambda u: (u.external_id is not None, u.updated))

    def _contact_index(self, kind: str, value: str) -> set[str]:
        index = self._email if kind == "email" else self._phone
        return index.setdefault(value.lower() if kind == "email" else value, set())

    def set_external_id(self, user: User, external_id: str) -> None:
        user.external_id = external_id
        self._external[external_id] = user.braze_id

    def add_alias(self, user: User, label: str, name: str) -> None:
        old = user.aliases.get(label)
        if old is not None:
            self._alias.pop((label, old), None)
        user.aliases[label] = name
        self._alias[(label, name)] = user.braze_id

    def set_contact(self, user: User, kind: str, value: str | None) -> None:
        """Set or remove `email` / `phone`, keeping its index right."""
        index = self._email if kind == "email" else self._phone
        old = user.standard.get(kind)
        if old is not None:
            index.get(old.lower() if kind == "email" else old, set()).discard(user.braze_id)
        if value is None:
            user.standard.pop(kind, None)
        else:
            user.standard[kind] = value
            self._contact_index(kind, value).add(user.braze_id)
