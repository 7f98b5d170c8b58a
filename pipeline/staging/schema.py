"""Types of Braze's standard export fields (reference 4.4), for the JSON parser and for Polars.

The parser gets an explicit schema for the standard fields, so it never guesses from the first
lines and never drops a key first seen late; custom attributes and any key not listed here are
inferred. Dates come in two forms: `created_at` as `2020-07-10 15:00:00.000 UTC`, read as text and
parsed by Polars (either form accepted), and every other date in ISO 8601 with `Z`, which the JSON
parser converts itself at no measurable cost (Polars' parse of the nested ones doubled the
per-file time). A date that fits neither makes its line quarantined, naming the field.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

CUSTOM = "custom_attributes"
CUSTOM_PREFIX = f"{CUSTOM}."
KEY = "braze_id"
UTC_MICROS = pl.Datetime("us", "UTC")

_S, _I, _F, _B = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_T = pa.timestamp("us", tz="UTC")


def _objects(*fields: tuple[str, pa.DataType]) -> pa.DataType:
    return pa.list_(pa.struct(list(fields)))


_SUMMARY = _objects(("name", _S), ("first", _T), ("last", _T), ("count", _I))

STANDARD = pa.schema(
    [
        (KEY, _S),
        ("external_id", _S),
        ("created_at", _S),
        ("created_from", _S),
        ("first_name", _S),
        ("last_name", _S),
        ("email", _S),
        ("phone", _S),
        ("dob", _S),
        ("gender", _S),
        ("home_city", _S),
        ("country", _S),
        ("language", _S),
        ("time_zone", _S),
        ("random_bucket", _I),
        ("total_revenue", _F),
        ("email_subscribe", _S),
        ("push_subscribe", _S),
        ("push_opted_in_at", _T),
        ("uninstalled_at", _T),
        ("attributed_campaign", _S),
        ("attributed_source", _S),
        ("attributed_adgroup", _S),
        ("attributed_ad", _S),
        ("user_aliases", _objects(("alias_name", _S), ("alias_label", _S))),
        ("last_coordinates", pa.list_(_F)),
        ("custom_events", _SUMMARY),
        ("purchases", _SUMMARY),
        (
            "apps",
            _objects(
                ("name", _S), ("platform", _S), ("version", _S), ("sessions", _I), ("first_used", _T), ("last_used", _T)
            ),
        ),
        (
            "devices",
            _objects(("model", _S), ("os", _S), ("carrier", _S), ("device_id", _S), ("ad_tracking_enabled", _B)),
        ),
        (
            "push_tokens",
            _objects(
                ("app", _S),
                ("platform", _S),
                ("token", _S),
                ("device_id", _S),
                ("notifications_enabled", _B),
                ("provisionally_opted_in", _B),
            ),
        ),
    ]
)

# Standard fields the JSON parser reads as text and Polars parses.
TEXT_TIME_FIELDS = ("created_at",)
DATE_FIELDS = ("dob",)

_ISO = "%Y-%m-%dT%H:%M:%S%.fZ"  # 2021-06-28T17:02:43.032Z
_BRAZE = "%Y-%m-%d %H:%M:%S%.f UTC"  # 2020-07-10 15:00:00.000 UTC


def parse_time(text: pl.Expr) -> pl.Expr:
    """Either of Braze's date forms as Datetime(us, UTC); anything else becomes null."""
    naive = pl.Datetime("us")
    return pl.coalesce(
        text.str.strptime(naive, _ISO, strict=False), text.str.strptime(naive, _BRAZE, strict=False)
    ).dt.replace_time_zone("UTC")


def parse_date(text: pl.Expr) -> pl.Expr:
    return text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def polars_type(name: str) -> pl.DataType:
    """The staged type of standard field `name`."""
    if name in TEXT_TIME_FIELDS:
        return UTC_MICROS
    if name in DATE_FIELDS:
        return pl.Date()
    return pl.from_arrow(pa.table({name: pa.array([], STANDARD.field(name).type)})).schema[name]
