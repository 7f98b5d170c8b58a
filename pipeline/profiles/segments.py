"""Profile segments: a small filter language over profile properties, compiled to Polars.

A segment is one condition, written in the connection file under `segments:`:

    vip: "points >= 800 and email_consent != 'unsubscribed'"
    dutch_cyclists: "country in ('NL', 'BE') and interests contains 'cycling'"
    lapsed: "not (last_seen >= date '2026-01-01') or last_seen is null"
    everyone: "true"

The language is our own, not SQL: it has no function calls, sub-queries, statements or
arithmetic, so an expression can only ever read the profile columns it names. Anything else is
a `SegmentSyntaxError` with the 0-based character offset and the fix.

Grammar (keywords are case-insensitive; property names are case-sensitive)
---------------------------------------------------------------------------
    expression := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expression ")" | "true" | "false" | condition
    condition  := property compare value | value compare property
                | property "is" ["not"] "null"
                | property ["not"] "in" "(" value ("," value)* ")"
                | property ["not"] "contains" value
                | property ["not"] "between" value "and" value
    compare    := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value      := ["-"] digits ["." digits] | 'text' | "true" | "false" | "date" 'YYYY-MM-DD'
    property   := [A-Za-z_][A-Za-z0-9_]* | "any name in double quotes"

In text, '' is a quote: 'O''Brien'. In a quoted name, "" is a double quote. A property named
like a keyword (date, in, contains, ...) must be quoted: "date" >= date '2026-01-31'. `null`
only follows `is`: `x = null` is refused (it would never be true). `contains` is true when a
list property holds the value, or a text property contains it (case-sensitive). `between` is
inclusive at both ends. Segments cannot refer to other segments: repeat the condition.

Meaning over a profile snapshot
-------------------------------
- Every condition on a property without a value is false, except `is null`; `not (...)` then
  inverts it. So `country != 'NL'` leaves out profiles without a country, while
  `not (country = 'NL')` keeps them.
- A property that is not a column of the snapshot (nobody has it yet) has no value anywhere:
  a segment over it is simply empty, not an error.
- A value of the wrong type for the column makes the condition false instead of failing the
  run: a number column never equals '100', a text column never equals 100, a list column is
  only ever matched by contains. In an `in (...)` list, members of the wrong type are ignored.
  A date value compares with Date columns, with the day of Datetime columns, and with text
  columns whose first ten characters are YYYY-MM-DD (as Braze writes dates).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import NoReturn

import polars as pl

from pipeline.profiles.snapshot import PROFILE_ID

KEYWORDS = frozenset({"and", "or", "not", "is", "null", "in", "contains", "between", "true", "false", "date"})
_STATEMENT_WORDS = frozenset(
    {"select", "from", "where", "with", "union", "intersect", "except", "insert", "update", "delete", "drop"}
    | {"create", "alter", "exec", "execute", "copy", "attach", "pragma", "exists", "join", "group", "order"}
    | {"limit", "having", "into", "values"}
)
_PATTERN_WORDS = frozenset({"like", "ilike", "regexp", "glob", "similar"})  # text matching: contains
_COMPARE: dict[str, Callable[[pl.Expr, object], pl.Expr]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
_COMPARE_OPS = frozenset({*_COMPARE, "<>"})
_VALUE_STARTS = frozenset({"true", "false", "date", "-"})  # tokens that begin a value, besides numbers and text
_FLIPPED = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_MAX_DEPTH = 64
_EXAMPLE = "e.g. points >= 100 and country = 'NL'"
_VALUE_FIX = "write a number, 'text', true, false or date 'YYYY-MM-DD'"
_STATEMENT_FIX = f"a segment is one condition over profile properties, {_EXAMPLE}"
_FUNCTION_FIX = "function calls are not part of the segment language; use comparisons such as points >= 100"
_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<number>\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<string>'(?:[^']|'')*')|(?P<quoted>\"(?:[^\"]|\"\")*\")|(?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|-)"
)
_BAD_CHARACTERS = {
    ";": ("';' separates SQL statements", _STATEMENT_FIX),
    "'": ("text is not closed", "close it with ' and write '' for a quote inside it, e.g. 'O''Brien'"),
    '"': ("property name is not closed", 'close it with ", e.g. "braze_custom.x"'),
}


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
    op: str  # one of _COMPARE; `<>` is stored as `!=`, and `5 < x` as `x > 5`
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


@dataclass(frozen=True)
class Segment:
    """A parsed segment: its text, syntax tree, and the properties it reads (`references` in text order)."""

    text: str
    tree: Node
    properties: frozenset[str]
    references: tuple[Property, ...]

    def to_polars(self, schema: Mapping[str, pl.DataType] | None = None) -> pl.Expr:
        """A Boolean expression, never null, over a profiles frame with this `schema` (`frame.schema`).

        The schema decides how a missing column or a type mismatch is handled (see the module
        docstring). Without one, every property is taken to be a column of the literal's type and
        `contains` means text contains; a mismatch then fails when the expression runs."""
        return _compile(self.tree, schema)


def parse_segment(text: str) -> Segment:
    """Parse `text`; raises SegmentSyntaxError at the first thing that is not part of the language."""
    parser = _Parser(text)
    tree = parser.parse()
    refs = tuple(sorted(parser.references, key=lambda p: p.offset))
    return Segment(text, tree, frozenset(p.name for p in refs), refs)


def evaluate_segments(profiles: pl.DataFrame, segments: Mapping[str, Segment]) -> pl.DataFrame:
    """`profile_id` plus one Boolean column per segment (in the mapping's order), rows as in `profiles`."""
    if PROFILE_ID in segments:
        raise ValueError(f"a segment may not be named {PROFILE_ID!r}: that is the key column; rename it")
    schema = profiles.schema
    return profiles.select(pl.col(PROFILE_ID), *(s.to_polars(schema).alias(n) for n, s in segments.items()))


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # number, word, keyword, string, quoted, op, error, end
    text: str  # keywords lower-cased; strings and quoted names decoded
    offset: int
    fix: str = ""  # error tokens: what to write instead


def _tokenize(text: str) -> list[_Token]:
    """Every token; the first character that starts none becomes an `error` token, raised when reached."""
    tokens: list[_Token] = []
    at = 0
    while at < len(text):
        found = _TOKEN.match(text, at)
        if found is None or (found.lastgroup == "op" and text.startswith("==", at)):
            tokens.append(_bad_character(text, at))
            return tokens
        kind, raw = found.lastgroup or "", found.group()
        if kind == "number" and re.match(r"[A-Za-z_.]", text[found.end() : found.end() + 1]):
            word = re.match(r"[\w.]+", text[at:])
            fix = "write digits with an optional decimal part, e.g. 100 or 2.5; quote text: 'x'"
            tokens.append(_Token("error", f"{word.group() if word else raw!r} is not a number", at, fix))
            return tokens
        if kind == "word" and raw.lower() in KEYWORDS:
            kind, raw = "keyword", raw.lower()
        elif kind == "string":
            raw = raw[1:-1].replace("''", "'")
        elif kind == "quoted":
            raw = raw[1:-1].replace('""', '"')
        if kind != "space":
            tokens.append(_Token(kind, raw, at))
        at = found.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _bad_character(text: str, at: int) -> _Token:
    char = text[at]
    if text.startswith("==", at):
        return _Token(
            "error", "'==' is not an operator", at, "did you mean '='? equality is one =, e.g. country = 'NL'"
        )
    if char in _BAD_CHARACTERS:
        message, fix = _BAD_CHARACTERS[char]
        return _Token("error", message, at, fix)
    if char in "+*/%|&^":
        return _Token("error", f"operator {char!r} is not part of the segment language", at, _STATEMENT_FIX)
    return _Token("error", f"unexpected character {char!r}", at, _STATEMENT_FIX)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.at = 0
        self.depth = 0
        self.references: list[Property] = []

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise SegmentSyntaxError("segment expression is empty", 0, f"write a condition, {_EXAMPLE}")
        tree = self.expression()
        token = self.peek()
        if token.kind != "end":
            self.statement_word(token)
            if _is(token, "op", ")"):
                self.fail(token, "')' closes nothing", "remove it, or add the matching '('")
            self.fail(token, f"expected and, or or the end, found {_show(token)}", f"join conditions: {_EXAMPLE}")
        return tree

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def accept(self, kind: str, text: str) -> bool:
        if _is(self.peek(), kind, text):
            self.take()
            return True
        return False

    def fail(self, token: _Token, message: str, fix: str) -> NoReturn:
        """Raise at `token`; a token that is itself an error (a stray ';', '==') explains itself."""
        if token.kind == "error":
            raise SegmentSyntaxError(token.text, token.offset, token.fix)
        raise SegmentSyntaxError(message, token.offset, fix)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            self.fail(self.peek(), f"nested more than {_MAX_DEPTH} levels deep", "simplify the expression")

    def expression(self) -> Node:
        self.nest()
        operands = [self.term()]
        while self.accept("keyword", "or"):
            operands.append(self.term())
        self.depth -= 1
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def term(self) -> Node:
        operands = [self.factor()]
        while self.accept("keyword", "and"):
            operands.append(self.factor())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def factor(self) -> Node:
        token = self.peek()
        if self.accept("keyword", "not"):
            self.nest()
            node = Not(self.factor())
            self.depth -= 1
            return node
        if self.accept("op", "("):
            if _is_select(self.peek()):
                self.fail(self.peek(), "sub-queries are not part of the segment language", _STATEMENT_FIX)
            node = self.expression()
            if not self.accept("op", ")"):
                self.fail(self.peek(), f"expected ')' to close the '(' at character {token.offset}", "add ')'")
            return node
        constant = token.kind == "keyword" and token.text in ("true", "false")
        if constant and not _is_compare(self.peek(1)):
            self.take()
            return Constant(token.text == "true")
        dated = _is(token, "keyword", "date") and self.peek(1).kind == "string"
        if token.kind in ("number", "string") or _is(token, "op", "-") or constant or dated:
            value = self.value("the start")
            op = self.compare_op(_show(token))
            other = self.peek()
            if other.kind in ("number", "string") or (other.kind in ("keyword", "op") and other.text in _VALUE_STARTS):
                self.fail(other, "a comparison needs a property on one side", f"write {_EXAMPLE}")
            return Compare(self.property(), _FLIPPED[op], value)
        return self.condition(self.property())

    def compare_op(self, after: str) -> str:
        token = self.peek()
        if not _is_compare(token):
            self.fail(token, f"expected a comparison (=, !=, <, <=, >, >=) after {after}", f"write {_EXAMPLE}")
        self.take()
        return "!=" if token.text == "<>" else token.text

    def condition(self, prop: Property) -> Node:
        if _is_compare(self.peek()):
            op = self.compare_op(repr(prop.name))
            return Compare(prop, op, self.value(f"'{op}'"))
        if self.accept("keyword", "is"):
            negated = self.accept("keyword", "not")
            if not self.accept("keyword", "null"):
                self.fail(self.peek(), "'is' is only followed by null or not null", f"write {prop.name} is null")
            return IsNull(prop, negated)
        negated = self.accept("keyword", "not")
        if self.accept("keyword", "in"):
            return InList(prop, self.value_list(), negated)
        if self.accept("keyword", "contains"):
            return Contains(prop, self.value("'contains'"), negated)
        if self.accept("keyword", "between"):
            low = self.value("'between'")
            if not self.accept("keyword", "and"):
                self.fail(self.peek(), "'between' needs 'and' between its two values", "write x between 1 and 5")
            high = self.value("'and'")
            if _kind(low.value) != _kind(high.value):
                fix = "use two numbers, two texts or two dates"
                raise SegmentSyntaxError("the two values of 'between' have different types", high.offset, fix)
            return Between(prop, low, high, negated)
        token = self.peek()
        if token.kind == "word" and token.text.lower() in _PATTERN_WORDS:
            fix = f"use contains: {prop.name} contains 'x'"
            self.fail(token, f"'{token.text}' is not part of the segment language", fix)
        name = prop.name
        fix = f"write e.g. {name} = 'x', {name} >= 100, {name} is null, {name} in ('a', 'b') or {name} contains 'x'"
        expected = "in, contains or between" if negated else "a comparison"
        self.fail(token, f"expected {expected} after {name!r}, found {_show(token)}", fix)

    def property(self) -> Property:
        token = self.peek()
        if token.kind == "word":
            if not _starts_condition(self.peek(1)):
                self.statement_word(token)
            if _is(self.peek(1), "op", "("):
                self.fail(token, f"'{token.text}(' is a function call", _FUNCTION_FIX)
        elif token.kind == "keyword" and token.text not in ("and", "or"):
            fix = f'write "{token.text}" in double quotes to use a property of that name'
            self.fail(token, f"'{token.text}' is a keyword, not a property", fix)
        elif token.kind != "quoted" or not token.text:
            self.fail(token, f"expected a condition, found {_show(token)}", f"write {_EXAMPLE}")
        self.take()
        prop = Property(token.text, token.offset)
        self.references.append(prop)
        return prop

    def value(self, after: str) -> Value:
        token = self.peek()
        if token.kind == "number" or (_is(token, "op", "-") and self.peek(1).kind == "number"):
            digits = self.take().text if token.kind == "number" else self.take().text + self.take().text
            number = float(digits) if "." in digits else int(digits)
            if abs(number) >= 2**63:
                self.fail(token, f"number {digits} is too large", "use a number below 9223372036854775808")
            return Value(number, token.offset)
        if token.kind == "string":
            return Value(self.take().text, token.offset)
        if token.kind == "keyword" and token.text in ("true", "false"):
            return Value(self.take().text == "true", token.offset)
        if _is(token, "keyword", "date"):
            self.take()
            return Value(self.date(token), token.offset)
        if _is(token, "keyword", "null"):
            fix = "write prop is null, or prop is not null"
            self.fail(token, f"null cannot follow {after}: nothing ever equals null", fix)
        if _is(token, "op", "(") and _is_select(self.peek(1)):
            self.fail(self.peek(1), "sub-queries are not part of the segment language", _STATEMENT_FIX)
        if token.kind == "word":
            self.statement_word(token)
            if _is(self.peek(1), "op", "("):
                self.fail(token, f"'{token.text}(' is a function call", _FUNCTION_FIX)
            fix = f"compare a property with a value, not with another property; quote text: '{token.text}'"
            self.fail(token, f"expected a value after {after}, found property {token.text!r}", fix)
        if token.kind == "quoted":
            fix = f"write text in single quotes: '{token.text}'"
            self.fail(token, f'"{token.text}" is a property name (double quotes), not text', fix)
        self.fail(token, f"expected a value after {after}, found {_show(token)}", _VALUE_FIX)

    def value_list(self) -> tuple[Value, ...]:
        if not self.accept("op", "("):
            self.fail(self.peek(), "'in' needs a list in parentheses", "write country in ('NL', 'BE')")
        if _is(self.peek(), "op", ")"):
            self.fail(self.peek(), "the list after 'in' is empty", "list at least one value: country in ('NL')")
        values = [self.value("'in ('")]
        while self.accept("op", ","):
            values.append(self.value("','"))
        if not self.accept("op", ")"):
            self.fail(self.peek(), f"expected ',' or ')' in the list, found {_show(self.peek())}", "write ('a', 'b')")
        return tuple(values)

    def date(self, keyword: _Token) -> dt.date:
        token = self.peek()
        if _is(token, "op", "("):
            self.fail(keyword, "'date(' is a function call", "write a date value as date '2026-01-31'")
        if token.kind != "string":
            self.fail(token, "'date' needs a quoted day after it", "write date '2026-01-31'")
        self.take()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", token.text):
            try:
                return dt.date.fromisoformat(token.text)
            except ValueError:
                pass
        self.fail(token, f"{token.text!r} is not a day in YYYY-MM-DD form", "write a real day, e.g. date '2026-01-31'")

    def statement_word(self, token: _Token) -> None:
        word = token.text.lower()
        if token.kind == "word" and word in _STATEMENT_WORDS:
            what = "sub-queries" if word in ("select", "exists") else "SQL statements and clauses"
            self.fail(token, f"{what} ({token.text!r}) are not part of the segment language", _STATEMENT_FIX)


def _is(token: _Token, kind: str, text: str) -> bool:
    return token.kind == kind and token.text == text


def _is_compare(token: _Token) -> bool:
    return token.kind == "op" and token.text in _COMPARE_OPS


def _is_select(token: _Token) -> bool:
    return token.kind == "word" and token.text.lower() == "select"


def _starts_condition(token: _Token) -> bool:
    return _is_compare(token) or (token.kind == "keyword" and token.text in ("is", "in", "not", "contains", "between"))


def _show(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    if token.kind == "string":
        return f"text '{token.text}'"
    return repr(token.text)


# --- compiling to Polars ---------------------------------------------------------------------


def _compile(node: Node, schema: Mapping[str, pl.DataType] | None) -> pl.Expr:
    if isinstance(node, Constant):
        return pl.lit(node.value)
    if isinstance(node, Not):
        return ~_compile(node.operand, schema)
    if isinstance(node, And | Or):  # flat, so a long chain of conditions is not a deep tree
        combine = pl.all_horizontal if isinstance(node, And) else pl.any_horizontal
        return combine(*(_compile(n, schema) for n in node.operands))
    name = node.prop.name
    dtype = None if schema is None else schema.get(name, pl.Null())
    if dtype == pl.Null:  # no column, or no value anywhere: every condition but `is null` is false
        return pl.lit(isinstance(node, IsNull) and not node.negated)
    expr = _condition(node, pl.col(name), dtype)
    if expr is None:
        return pl.lit(False)
    return (~expr if getattr(node, "negated", False) else expr).fill_null(False)


def _condition(node: Condition, col: pl.Expr, dtype: pl.DataType | None) -> pl.Expr | None:
    """The condition over a column of `dtype` (None: unknown), or None when its values cannot match."""
    if isinstance(node, IsNull):
        return col.is_null()
    if isinstance(node, Compare):
        operand = _operand(col, dtype, node.value.value)
        return None if operand is None else _COMPARE[node.op](operand, node.value.value)
    if isinstance(node, Between):
        operand = _operand(col, dtype, node.low.value)
        return None if operand is None else operand.is_between(node.low.value, node.high.value)
    if isinstance(node, Contains):
        return _contains(col, dtype, node.value.value)
    groups: dict[str, list] = {}
    for value in node.values:
        groups.setdefault(_kind(value.value), []).append(value.value)
    found = [_is_in(col, dtype, values) for values in groups.values()]
    found = [f for f in found if f is not None]
    return reduce(operator.or_, found) if found else None


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "date" if isinstance(value, dt.date) else "text"


def _operand(col: pl.Expr, dtype: pl.DataType | None, value: object) -> pl.Expr | None:
    """The column as something comparable with `value`, or None when the types never match."""
    kind = _kind(value)
    if dtype is None:
        return col
    if kind == "number":
        return col if dtype.is_numeric() else None
    if kind == "bool":
        return col if dtype == pl.Boolean else None
    if kind == "text":
        if dtype == pl.String:
            return col
        return col.cast(pl.String) if dtype == pl.Categorical or isinstance(dtype, pl.Enum) else None
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    return col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False) if dtype == pl.String else None


def _is_in(col: pl.Expr, dtype: pl.DataType | None, values: list) -> pl.Expr | None:
    operand = _operand(col, dtype, values[0])
    if operand is None:
        return None
    target = {"bool": pl.Boolean, "text": pl.String, "date": pl.Date}.get(_kind(values[0]))
    if target is None:  # numbers: exact integers when both sides are integers, else floats
        integers = all(isinstance(v, int) for v in values) and (dtype is None or dtype.is_integer())
        target = pl.Int64 if integers else pl.Float64
        operand = operand.cast(target, strict=False)
    return operand.is_in(pl.Series(values, dtype=target).implode())


def _contains(col: pl.Expr, dtype: pl.DataType | None, value: object) -> pl.Expr | None:
    if dtype is None or not isinstance(dtype, pl.List):
        operand = _operand(col, dtype, value) if isinstance(value, str) else None
        return None if operand is None else operand.str.contains(value, literal=True)
    inner, kind = dtype.inner, _kind(value)
    if kind == "number" and inner.is_numeric():
        target = pl.Int64 if isinstance(value, int) and inner.is_integer() else pl.Float64
        return col.cast(pl.List(target), strict=False).list.contains(pl.lit(value, dtype=target))
    matches = {"bool": inner == pl.Boolean, "text": inner == pl.String, "date": inner == pl.Date}
    return col.list.contains(pl.lit(value, dtype=inner)) if matches.get(kind) else None
