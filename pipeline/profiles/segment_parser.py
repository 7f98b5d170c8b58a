"""Parsing segment expressions: tokens, then a recursive-descent parser with offsets for errors.

The grammar is in `pipeline.profiles.segments`; every refusal names the 0-based character
offset and the fix, so `profilesync validate` can point at the exact column in the YAML.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import NoReturn

from pipeline.profiles.segment_tree import (
    COMPARE_OPS,
    And,
    Between,
    Compare,
    Constant,
    Contains,
    InList,
    IsNull,
    Node,
    Not,
    Or,
    Property,
    SegmentSyntaxError,
    Value,
    value_kind,
)

KEYWORDS = frozenset({"and", "or", "not", "is", "null", "in", "contains", "between", "true", "false", "date"})
_STATEMENT_WORDS = frozenset(
    {"select", "from", "where", "with", "union", "intersect", "except", "insert", "update", "delete", "drop"}
    | {"create", "alter", "exec", "execute", "copy", "attach", "pragma", "exists", "join", "group", "order"}
    | {"limit", "having", "into", "values"}
)
_PATTERN_WORDS = frozenset({"like", "ilike", "regexp", "glob", "similar"})  # text matching: contains
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


class Parser:
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
            if value_kind(low.value) != value_kind(high.value):
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
    return token.kind == "op" and token.text in COMPARE_OPS


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

