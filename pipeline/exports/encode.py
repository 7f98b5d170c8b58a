"""Canonical JSON text of whole columns, for the values that certainly need no Python.

`values.canonical(values.check(attribute, values.to_braze(v)))` is the one definition of an
export value's text. Running it per value costs seconds per million values, so the payload
builds the text with Polars expressions instead, and uses them only where they provably give
the same bytes: `encoded(column, dtype, attribute)` returns the text and a `fast` flag. Rows
where `fast` is false (a float Polars prints differently, a text that may break a Braze limit,
an e-mail the fast pattern does not cover, a struct) go through the Python definition, which
also words the dead-letter reason. The fast patterns accept a subset of what `rules` accepts,
never more, so a value Braze would refuse always reaches the Python check.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from pipeline.braze import rules
from pipeline.exports.values import SUBSCRIPTION_ATTRIBUTES

# Subsets of rules.is_valid_email / is_valid_phone / parse_dob: ASCII only, at most 64 characters
# (so no domain label passes 63), a local part of 2+ characters (Gmail's rule), on Microsoft domains
# (a host containing msn, hotmail, outlook or live) also their local-part rule before any `+`; real
# dates but 29 February. Unbounded repeats keep the regex on its fast engine.
_FAST_EMAIL_CHARS = 64
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = rf"^[A-Za-z0-9_+-][A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"
_MICROSOFT_DOMAIN = r"(?i)@.*(?:msn|hotmail|outlook|live)"
_MICROSOFT_LOCAL = r"^[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*(?:\+[^@]*)?@"  # rules._MICROSOFT_LOCAL, then +...
_PHONE = r"^\+1[0-9]{10}$"  # NANP: libphonenumber finds every +1 with 10 digits possible; others vary by country
_DOB = (r"^[1-9][0-9]{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
        r"|(?:0[13578]|1[02])-31)$")
_FLOAT_TYPES = (pl.Float32, pl.Float64)
CHECKED_ATTRIBUTES = frozenset({"email", "phone", "dob", *SUBSCRIPTION_ATTRIBUTES})


class Encoded(NamedTuple):
    text: pl.Expr  # canonical JSON text; meaningful only where `fast`
    fast: pl.Expr  # True: `text` is what the Python definition gives, and the value passes `check`


def json_string(expr: pl.Expr) -> pl.Expr:
    """A String expression as a JSON string literal, escaped exactly as `json.dumps(ensure_ascii=False)`."""
    return pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")


def string_valid(expr: pl.Expr, attribute: str) -> pl.Expr:
    """True where a text value certainly passes `values.check` for `attribute`."""
    fits = expr.str.len_chars() <= rules.MAX_STRING_CHARS
    if attribute == "email":
        short = expr.str.len_bytes() <= _FAST_EMAIL_CHARS
        microsoft_ok = ~expr.str.contains(_MICROSOFT_DOMAIN) | expr.str.contains(_MICROSOFT_LOCAL)
        return short & expr.str.contains(_EMAIL) & microsoft_ok
    if attribute == "phone":
        return expr.str.contains(_PHONE)
    if attribute == "dob":
        return expr.str.contains(_DOB)
    if attribute in SUBSCRIPTION_ATTRIBUTES:
        return expr.is_in(sorted(rules.SUBSCRIPTION_STATES))
    return fits


def _float_text(expr: pl.Expr) -> Encoded:
    """Python's repr of a float: Polars prints the same shortest digits, but writes exponents
    as `e-7` (Python `e-07`) and values of 1e-5 and below 1e-4 in fixed notation; those go to Python."""
    value = expr.cast(pl.Float64)
    text = value.cast(pl.String).str.replace(r"e-(\d)$", "e-0${1}")
    tiny = (value.abs() < 1e-4) & (value != 0) & ~value.cast(pl.String).str.contains("e")
    return Encoded(text, value.is_finite() & ~tiny)


def _scalar(expr: pl.Expr, dtype: pl.DataType) -> Encoded | None:
    """Text of a scalar column's values, before any attribute rule; None: only Python knows."""
    if dtype == pl.String:
        return Encoded(json_string(expr), expr.str.len_chars() <= rules.MAX_STRING_CHARS)
    if dtype == pl.Boolean or dtype.is_integer():
        return Encoded(expr.cast(pl.String), pl.lit(True))
    if dtype in _FLOAT_TYPES:
        return _float_text(expr)
    if dtype == pl.Date:
        return Encoded(pl.format('"{}"', expr.dt.strftime("%Y-%m-%d")), expr.dt.year() >= 1)
    if isinstance(dtype, pl.Datetime):
        moment = expr.dt.convert_time_zone("UTC") if dtype.time_zone else expr
        return Encoded(pl.format('"{}"', moment.dt.strftime("%Y-%m-%dT%H:%M:%S.%3fZ")), moment.dt.year() >= 1)
    return None


def _list(expr: pl.Expr, inner: pl.DataType) -> Encoded | None:
    """Lists of strings, integers or booleans: de-duplicated in order, as `check` does."""
    if not (inner == pl.String or inner == pl.Boolean or inner.is_integer()):
        return None  # floats, dates, structs: their items' text needs Python
    distinct = expr.list.unique(maintain_order=True)
    text = pl.struct(distinct.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
    fast = distinct.list.len() <= rules.MAX_ARRAY_ITEMS
    if inner == pl.String:
        longest = expr.list.eval(pl.element().str.len_chars()).list.max().fill_null(0)
        fast = fast & (longest <= rules.MAX_STRING_CHARS)
    return Encoded(text, fast)


def encoded(expr: pl.Expr, dtype: pl.DataType, attribute: str) -> Encoded:
    """Canonical text of `expr` (of `dtype`) sent as `attribute`, and where it is certain."""
    if isinstance(dtype, pl.List):
        found = None if attribute in CHECKED_ATTRIBUTES else _list(expr, dtype.inner)
    elif attribute in CHECKED_ATTRIBUTES:
        found = Encoded(json_string(expr), string_valid(expr, attribute)) if dtype == pl.String else None
    else:
        found = _scalar(expr, dtype)
    if found is None:
        return Encoded(pl.lit(None, pl.String), pl.lit(False))
    return Encoded(found.text, found.fast.fill_null(False))
