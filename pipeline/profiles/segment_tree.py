"""The syntax tree of a segment expression, shared by its parser and its Polars compiler."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

COMPARE_OPS = frozenset({"=", "!=", "<", "<=", ">", ">=", "<>"})


class SegmentSyntaxError(ValueError):
    """A segment expression that is not part of the language; `offset` is 0-based in the text."""

    def __init__(self, message: str, offset: int, fix: str) -> None:
        super().__init__(f"{message} (at character {offset}); {fix}")
        self.message, self.offset, self.fix = message, offset, fix


@dataclass(frozen=True)
class Property:
    name: str
    offset: int


@dataclass(frozen=True)
class Value:
    value: int | float | str | bool | dt.date
    offset: int


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class Compare:
    prop: Property
    op: str  # one of COMPARE_OPS; `<>` is stored as `!=`, and `5 < x` as `x > 5`
    value: Value


@dataclass(frozen=True)
class IsNull:
    prop: Property
    negated: bool = False


@dataclass(frozen=True)
class InList:
    prop: Property
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Contains:
    prop: Property
    value: Value
    negated: bool = False


@dataclass(frozen=True)
class Between:
    prop: Property
    low: Value
    high: Value
    negated: bool = False


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Condition = Compare | IsNull | InList | Contains | Between
Node = Constant | Condition | Not | And | Or



def value_kind(value: object) -> str:
    """bool, number, date or text: values of different kinds never compare."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "date" if isinstance(value, dt.date) else "text"
