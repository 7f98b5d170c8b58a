"""The demo users as a generated base under the user store: built from (seed, index) on read.

`demo_users: N` in a seed no longer stores N users. The store keeps only users that something
created or changed (the overlay); demo user i is rebuilt by `build(i)` whenever it is read and
not overlaid, the same way seeding it would have stored it. Every demo identifier names its
index (`demo-000042`, `....42@example.com`, a braze_id ending in the index as 8 hex digits), so
a lookup finds the user without an index of its own, and a 10M-user export needs no more
memory than a 10k one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.sandbox.demo import DEMO_PREFIX, DEMO_SEED, demo_profile, demo_user
from pipeline.sandbox.upsert import upsert
from pipeline.sandbox.users import User, UserStore

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # never used: every demo user carries its created_at
_STANDARD = ("first_name", "last_name", "email", "country", "language", "time_zone", "gender", "dob",
             "email_subscribe")  # fmt: skip


@dataclass(frozen=True)
class DemoBase:
    count: int
    seed: int = DEMO_SEED

    @classmethod
    def grown(cls, base: DemoBase | None, count: int) -> DemoBase:
        """The base with `count` more users after the ones it has."""
        return cls((base.count if base else 0) + count, base.seed if base else DEMO_SEED)

    def build(self, index: int) -> User:
        """Demo user `index` exactly as seeding `demo_user(index)` stores it (a test holds them equal).

        Built straight from the drawn values: going through `upsert` (validation, time parsing)
        cost six times as much, and an export builds every member once."""
        drawn = demo_profile(index, self.seed)
        standard = {name: drawn[name] for name in _STANDARD}
        return User(
            braze_id=drawn["braze_id"],
            created_at=drawn["created_at"],
            random_bucket=drawn["random_bucket"],
            external_id=drawn["external_id"],
            standard=standard,
            custom=drawn["custom_attributes"],
            events={"login": drawn["login"]},
            updated=0,  # older than anything the sandbox was told since
        )

    def seeded(self, index: int) -> User:
        """Demo user `index` stored by the seeding path itself: what `build` must equal."""
        user, _ = upsert(UserStore(self.seed), demo_user(index, self.seed), _EPOCH)
        user.updated = 0
        return user

    def _valid(self, index: int) -> int | None:
        return index if 1 <= index <= self.count else None

    def index_of_external(self, external_id: str) -> int | None:
        digits = external_id[len(DEMO_PREFIX) :] if external_id.startswith(DEMO_PREFIX) else ""
        if not digits.isdigit() or f"{DEMO_PREFIX}{int(digits):06d}" != external_id:
            return None
        return self._valid(int(digits))

    def index_of_braze(self, braze_id: str) -> int | None:
        tail = braze_id[16:] if len(braze_id) == 24 else ""
        try:
            index = self._valid(int(tail, 16))
        except ValueError:
            return None
        return index if index and demo_profile(index, self.seed)["braze_id"] == braze_id else None

    def index_of_email(self, email: str) -> int | None:
        local, _, domain = email.lower().partition("@")
        digits = local.rpartition(".")[2]
        if domain != "example.com" or not digits.isdigit():
            return None
        index = self._valid(int(digits))
        return index if index and demo_profile(index, self.seed)["email"].lower() == email.lower() else None
