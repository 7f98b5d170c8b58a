"""What one import goal does to profiles: its identifiers, field strategies and remaining fields.

Plain frozen dataclasses, so the engine stays free of the pydantic mapping model: the Dagster
layer builds a `GoalRules` from the validated YAML. The checks here are the few the merge
itself relies on (reserved names, known strategies); the YAML validator reports the rest
with file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

Strategy = Literal["set", "add", "sum", "set_if_empty", "clear"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
BRAZE_IDENTIFIERS = ("external_id", "braze_id", "email", "phone")
USER_ALIAS = "user_alias:"
RESERVED = ("profile_id",)


def check_property(name: str, where: str) -> None:
    """Property names become columns beside `profile_id`, `_created` and `_updated`."""
    if not name or name.startswith("_") or name in RESERVED:
        raise ValueError(
            f"{where}: property name {name!r} is reserved; use a name not starting with '_' nor 'profile_id'"
        )


def check_strategy(strategy: str, where: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"{where}: unknown merge strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


@dataclass(frozen=True)
class IdentifierRule:
    """Braze identifier (`external_id`, `braze_id`, `email`, `phone`, `user_alias:<label>`) → profile identifier."""

    braze: str
    profile: str

    def __post_init__(self) -> None:
        alias = self.braze.startswith(USER_ALIAS) and len(self.braze) > len(USER_ALIAS)
        if self.braze not in BRAZE_IDENTIFIERS and not alias:
            raise ValueError(
                f"identifier {self.braze!r}: use one of {', '.join(BRAZE_IDENTIFIERS)} or user_alias:<label>"
            )
        if not self.profile:
            raise ValueError(f"identifier {self.braze!r}: name the profile identifier it fills, e.g. external_id")


@dataclass(frozen=True)
class FieldRule:
    """Braze field (a column, or `custom_attributes.a.b` inside a struct column) → property, by a strategy."""

    braze: str
    profile: str
    strategy: Strategy = "set"

    def __post_init__(self) -> None:
        check_property(self.profile, f"field {self.braze!r}")
        check_strategy(self.strategy, f"field {self.braze!r}")


@dataclass(frozen=True)
class RemainingRule:
    """Every Braze column no rule of the goal uses → property `prefix + name`.

    Custom attributes drop their `custom_attributes.` part (`custom_attributes.plan` →
    `braze_plan`) unless a standard field of the same name is also there."""

    prefix: str
    strategy: Strategy = "set"
    leave_out: frozenset[str] = frozenset()  # columns an export goal of the store writes: ours, not Braze's

    def __post_init__(self) -> None:
        check_strategy(self.strategy, "remaining fields")
        if self.prefix.startswith("_"):
            raise ValueError(f"remaining fields: prefix {self.prefix!r} starts with '_', which is reserved")


@dataclass(frozen=True)
class GoalRules:
    """One import goal. `name` must be unique within the profile store (qualify it: `connection/goal`),
    because sum bases and profile ids are keyed by it."""

    name: str
    identifiers: list[IdentifierRule]
    allow_create: bool
    fields: list[FieldRule] = field(default_factory=list)
    remaining: RemainingRule | None = None

    def __post_init__(self) -> None:
        if not self.identifiers:
            raise ValueError(f"goal {self.name!r}: map at least one identifier, e.g. external_id → external_id")
        seen = [rule.profile for rule in self.fields]
        duplicates = sorted({name for name in seen if seen.count(name) > 1})
        if duplicates:
            raise ValueError(f"goal {self.name!r}: properties {duplicates} are written twice; map each once per goal")

    def identifier_columns(self) -> set[str]:
        """Braze columns the identifiers read; remaining fields leave them out."""
        return {"user_aliases" if rule.braze.startswith(USER_ALIAS) else rule.braze for rule in self.identifiers}
