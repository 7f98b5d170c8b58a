"""The segment language: what it parses to, what it refuses (and where), and what it selects."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.profiles import Segment, SegmentSyntaxError, evaluate_segments, parse_segment
from pipeline.profiles.segment_tree import (
    And,
    Between,
    Compare,
    Constant,
    Contains,
    InList,
    IsNull,
    Not,
    Or,
    Property,
    Value,
)

# --- parsing ------------------------------------------------------------------------------------


def test_parse_keeps_text_tree_and_properties() -> None:
    segment = parse_segment("points >= 800 and email_consent != 'unsubscribed'")
    assert segment == Segment(
        "points >= 800 and email_consent != 'unsubscribed'",
        And(
            (
                Compare(Property("points", 0), ">=", Value(800, 10)),
                Compare(Property("email_consent", 18), "!=", Value("unsubscribed", 35)),
            )
        ),
        frozenset({"points", "email_consent"}),
        (Property("points", 0), Property("email_consent", 18)),
    )


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_comparison(op: str) -> None:
    assert parse_segment(f"points {op} 5").tree == Compare(Property("points", 0), op, Value(5, len(op) + 8))


def test_angle_brackets_mean_not_equal() -> None:
    assert parse_segment("x <> 1").tree == Compare(Property("x", 0), "!=", Value(1, 5))


@pytest.mark.parametrize(("op", "flipped"), [("<", ">"), ("<=", ">="), (">", "<"), (">=", "<="), ("=", "=")])
def test_value_first_is_turned_around(op: str, flipped: str) -> None:
    assert parse_segment(f"5 {op} points").tree == Compare(Property("points", len(op) + 3), flipped, Value(5, 0))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x = 12", 12),
        ("x = -3", -3),
        ("x = 2.50", 2.5),
        ("x = 'NL'", "NL"),
        ("x = 'O''Brien'", "O'Brien"),
        ("x = ''", ""),
        ("x = true", True),
        ("x = FALSE", False),
        ("x = date '2026-01-31'", dt.date(2026, 1, 31)),
        ("x = DATE '2024-02-29'", dt.date(2024, 2, 29)),
    ],
)
def test_literals(text: str, value: object) -> None:
    tree = parse_segment(text).tree
    assert isinstance(tree, Compare) and tree.value.value == value and type(tree.value.value) is type(value)


def test_null_in_list_between_contains() -> None:
    assert parse_segment("x is null").tree == IsNull(Property("x", 0))
    assert parse_segment("x IS NOT NULL").tree == IsNull(Property("x", 0), negated=True)
    assert parse_segment("x in ('a', 'b', 3)").tree == InList(
        Property("x", 0), (Value("a", 6), Value("b", 11), Value(3, 16))
    )
    assert parse_segment("x not in (1)").tree == InList(Property("x", 0), (Value(1, 10),), negated=True)
    assert parse_segment("x contains 'a'").tree == Contains(Property("x", 0), Value("a", 11))
    assert parse_segment("x not contains 'a'").tree == Contains(Property("x", 0), Value("a", 15), negated=True)
    assert parse_segment("x between 1 and 5").tree == Between(Property("x", 0), Value(1, 10), Value(5, 16))
    assert parse_segment("x not between 1 and 5").tree.negated  # type: ignore[union-attr]


def test_boolean_structure_and_precedence() -> None:
    a, b, c = (Compare(Property(n, o), "=", Value(1, o + 4)) for n, o in (("a", 0), ("b", 9), ("c", 19)))
    assert parse_segment("a = 1 or b = 1 and c = 1").tree == Or((a, And((b, c))))
    tree = parse_segment("not (a = 1 or b = 1)").tree
    assert isinstance(tree, Not) and isinstance(tree.operand, Or)
    assert parse_segment("NOT a = 1").tree == Not(Compare(Property("a", 4), "=", Value(1, 8)))
    assert parse_segment("true").tree == Constant(True)
    assert parse_segment(" False ").tree == Constant(False)
    assert parse_segment("true = flag").tree == Compare(Property("flag", 7), "=", Value(True, 0))


def test_quoted_property_names() -> None:
    segment = parse_segment('"braze_custom.x" = 1 and "date" >= date \'2026-01-01\' and "a""b" is null')
    assert segment.properties == frozenset({"braze_custom.x", "date", 'a"b'})
    assert [p.offset for p in segment.references] == [0, 25, 57]


def test_sql_words_may_name_properties_when_used_as_one() -> None:
    assert parse_segment("order = 1 and group is null").properties == frozenset({"order", "group"})


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset", "message", "fix"),
    [
        ("read_csv('x')", 0, "'read_csv(' is a function call", "function calls are not part"),
        ("points >= abs(3)", 10, "'abs(' is a function call", "use comparisons such as points >= 100"),
        ("count(*) > 1", 0, "'count(' is a function call", "function calls"),
        ("x = date(1)", 4, "'date(' is a function call", "date '2026-01-31'"),
        ("select * from profiles", 0, "sub-queries ('select')", "one condition"),
        ("points >= (select 1)", 11, "sub-queries are not part", "one condition"),
        ("(select 1) = x", 1, "sub-queries are not part", "one condition"),
        ("x in (select id from t)", 6, "sub-queries ('select')", "one condition"),
        ("exists (select 1)", 0, "sub-queries ('exists')", "one condition"),
        ("x = 1 union select 1", 6, "SQL statements and clauses ('union')", "one condition"),
        (";", 0, "';' separates SQL statements", "one condition"),
        ("x = 1; drop table p", 5, "';' separates SQL statements", "one condition"),
        ("x = 1 -- comment", 6, "expected and, or or the end, found '-'", "join conditions"),
        ("x == 1", 2, "'==' is not an operator", "did you mean '='?"),
        ("x = 'abc", 4, "text is not closed", "close it with '"),
        ('"abc = 1', 0, "property name is not closed", 'close it with "'),
        ("x + 1 > 2", 2, "operator '+' is not part", "one condition"),
        ("x like 'a%'", 2, "'like' is not part", "use contains"),
        ("", 0, "segment expression is empty", "write a condition"),
        ("   ", 0, "segment expression is empty", "write a condition"),
        ("x", 1, "expected a comparison after 'x', found the end", "x is null"),
        ("x not = 1", 6, "expected in, contains or between after 'x'", "x >= 100"),
        ("x = y", 4, "expected a value after '=', found property 'y'", "quote text: 'y'"),
        ('x = "NL"', 4, '"NL" is a property name (double quotes), not text', "single quotes: 'NL'"),
        ("x = null", 4, "null cannot follow '='", "prop is null"),
        ("x in (1, null)", 9, "null cannot follow ','", "prop is null"),
        ("x is 1", 5, "'is' is only followed by null or not null", "x is null"),
        ("x in ()", 6, "the list after 'in' is empty", "at least one value"),
        ("x in 'a'", 5, "'in' needs a list in parentheses", "('NL', 'BE')"),
        ("x in ('a' 'b')", 10, "expected ',' or ')' in the list", "('a', 'b')"),
        ("x between 1 and 'z'", 16, "different types", "two numbers"),
        ("x between 1 or 2", 12, "'between' needs 'and'", "between 1 and 5"),
        ("x = date '2026-02-30'", 9, "'2026-02-30' is not a day", "date '2026-01-31'"),
        ("x = date '31-01-2026'", 9, "is not a day in YYYY-MM-DD form", "real day"),
        ("x = date", 8, "'date' needs a quoted day", "date '2026-01-31'"),
        ("date = 1", 0, "'date' is a keyword, not a property", 'write "date" in double quotes'),
        ("1 = 1", 4, "a comparison needs a property on one side", "points >= 100"),
        ("1 in (1)", 2, "expected a comparison (=, !=, <, <=, >, >=) after '1'", "points >= 100"),
        ("a = 1 b = 2", 6, "expected and, or or the end, found 'b'", "join conditions"),
        ("a = 1 and", 9, "expected a condition, found the end", "points >= 100"),
        ("a = 1 and or b = 1", 10, "expected a condition, found 'or'", "points >= 100"),
        ("(a = 1", 6, "expected ')' to close the '(' at character 0", "add ')'"),
        ("a = 1)", 5, "')' closes nothing", "matching '('"),
        ("x = 1abc", 4, "'1abc' is not a number", "digits"),
        ("x = 99999999999999999999", 4, "too large", "below"),
        ("x = 1 & y = 2", 6, "operator '&' is not part", "one condition"),
        ("x = $1", 4, "unexpected character '$'", "one condition"),
    ],
)
def test_refused_with_offset_and_fix(text: str, offset: int, message: str, fix: str) -> None:
    with pytest.raises(SegmentSyntaxError) as raised:
        parse_segment(text)
    error = raised.value
    assert (error.offset, message in error.message, fix in error.fix) == (offset, True, True), error
    assert str(error) == f"{error.message} (at character {offset}); {error.fix}"


def test_nesting_is_bounded() -> None:
    with pytest.raises(SegmentSyntaxError, match="nested more than 64"):
        parse_segment("(" * 100 + "a = 1" + ")" * 100)
    with pytest.raises(SegmentSyntaxError, match="nested more than 64"):
        parse_segment("not " * 100 + "a = 1")
    assert parse_segment("(" * 30 + "a = 1" + ")" * 30).properties == {"a"}


# --- evaluation -----------------------------------------------------------------------------------


@pytest.fixture
def profiles() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "profile_id": ["p1", "p2", "p3", "p4"],
            "_created": [dt.date(2026, 1, 1)] * 4,
            "_updated": [dt.date(2026, 1, 2)] * 4,
            "points": [900, None, 50, 800],
            "rate": [1.5, 2.0, None, 3.0],
            "consent": ["opted_in", "unsubscribed", None, "subscribed"],
            "interests": [["bike", "run"], None, ["swim"], ["bike"]],
            "lucky": [[7, 3], [1], None, None],
            "seen": [dt.date(2026, 1, 1), None, dt.date(2025, 1, 1), None],
            "login": [dt.datetime(2026, 1, 1, 23), None, None, dt.datetime(2025, 1, 1)],
            "dob": ["1990-01-01", None, "unknown", "2000-05-05T00:00:00Z"],
            "flag": [True, False, None, True],
            "nothing": pl.Series([None] * 4, dtype=pl.Null),
        }
    )


def select(profiles: pl.DataFrame, **texts: str) -> dict[str, list[str]]:
    """The profile ids each segment selects, for compact assertions."""
    found = evaluate_segments(profiles, {n: parse_segment(t) for n, t in texts.items()})
    return {n: found.filter(pl.col(n))["profile_id"].to_list() for n in texts}


def test_evaluate_gives_a_boolean_column_per_segment(profiles: pl.DataFrame) -> None:
    segments = {"vip": parse_segment("points >= 800 and consent != 'unsubscribed'"), "all": parse_segment("true")}
    expected = pl.DataFrame(
        {"profile_id": ["p1", "p2", "p3", "p4"], "vip": [True, False, False, True], "all": [True] * 4}
    )
    assert_frame_equal(evaluate_segments(profiles, segments), expected)
    empty = evaluate_segments(profiles.head(0), segments)
    assert_frame_equal(empty, expected.head(0))


def test_comparisons_and_null_logic(profiles: pl.DataFrame) -> None:
    assert select(
        profiles,
        eq="points = 900",
        ne="points != 900",
        lt="points < 800",
        ge="800 <= points",
        between="points between 50 and 800",
        not_between="points not between 50 and 800",
        rate="rate > 1.75",
        text="consent = 'subscribed'",
        text_order="consent < 'p'",
        flag="flag = true",
        not_flag="not flag = true",
        is_null="points is null",
        not_null="points is not null",
        not_ne="not (points = 900)",
    ) == {
        "eq": ["p1"],
        "ne": ["p3", "p4"],  # no value: every condition but `is null` is false
        "lt": ["p3"],
        "ge": ["p1", "p4"],
        "between": ["p3", "p4"],
        "not_between": ["p1"],
        "rate": ["p2", "p4"],
        "text": ["p4"],
        "text_order": ["p1"],
        "flag": ["p1", "p4"],
        "not_flag": ["p2", "p3"],  # `not` inverts the false of a missing value
        "is_null": ["p2"],
        "not_null": ["p1", "p3", "p4"],
        "not_ne": ["p2", "p3", "p4"],
    }


def test_in_lists(profiles: pl.DataFrame) -> None:
    assert select(
        profiles,
        text="consent in ('opted_in', 'subscribed')",
        mixed="points in (900, 'x', 50.0)",
        floats="rate in (2, 3)",
        not_in="points not in (900)",
        wrong_type="consent in (1, 2)",
        wrong_type_not="consent not in (1, 2)",
    ) == {
        "text": ["p1", "p4"],
        "mixed": ["p1", "p3"],  # members of the wrong type are ignored
        "floats": ["p2", "p4"],
        "not_in": ["p3", "p4"],
        "wrong_type": [],
        "wrong_type_not": [],
    }


def test_contains_on_lists_and_text(profiles: pl.DataFrame) -> None:
    assert select(
        profiles,
        list_text="interests contains 'bike'",
        not_list="interests not contains 'bike'",
        list_number="lucky contains 3",
        list_float="lucky contains 3.0",
        list_wrong="lucky contains 'x'",
        text="consent contains 'sub'",
        text_number="consent contains 1",
    ) == {
        "list_text": ["p1", "p4"],
        "not_list": ["p3"],
        "list_number": ["p1"],
        "list_float": ["p1"],
        "list_wrong": [],
        "text": ["p2", "p4"],
        "text_number": [],
    }


def test_dates(profiles: pl.DataFrame) -> None:
    assert select(
        profiles,
        date="seen >= date '2026-01-01'",
        datetime="login = date '2026-01-01'",
        text="dob < date '2001-01-01'",
        created="_created = date '2026-01-01'",
    ) == {"date": ["p1"], "datetime": ["p1"], "text": ["p1", "p4"], "created": ["p1", "p2", "p3", "p4"]}


def test_wrong_types_are_false_not_errors(profiles: pl.DataFrame) -> None:
    assert select(
        profiles,
        number_vs_text="points = '900'",
        text_vs_number="consent = 1",
        list_vs_text="interests = 'bike'",
        bool_vs_number="flag = 1",
        negated="points != 'x'",
        between="points between 'a' and 'z'",
    ) == {
        "number_vs_text": [],
        "text_vs_number": [],
        "list_vs_text": [],
        "bool_vs_number": [],
        "negated": [],
        "between": [],
    }


def test_missing_property_makes_an_empty_segment(profiles: pl.DataFrame) -> None:
    assert select(
        profiles,
        missing="nobody_has_it = 1",
        missing_not_in="nobody_has_it not in ('a')",
        missing_null="nobody_has_it is null",
        missing_not_null="nobody_has_it is not null",
        all_null_column="nothing = 1",
        all_null_is_null="nothing is null",
        mixed="nobody_has_it = 1 or points = 900",
    ) == {
        "missing": [],
        "missing_not_in": [],
        "missing_null": ["p1", "p2", "p3", "p4"],
        "missing_not_null": [],
        "all_null_column": [],
        "all_null_is_null": ["p1", "p2", "p3", "p4"],
        "mixed": ["p1"],
    }


def test_without_a_schema_columns_are_taken_as_written(profiles: pl.DataFrame) -> None:
    expr = parse_segment("points >= 800 or consent contains 'sub'").to_polars()
    assert profiles.filter(expr)["profile_id"].to_list() == ["p1", "p2", "p4"]


def test_a_segment_cannot_be_called_profile_id(profiles: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="may not be named 'profile_id'"):
        evaluate_segments(profiles, {"profile_id": parse_segment("true")})


def test_long_chains_stay_flat(profiles: pl.DataFrame) -> None:
    text = " or ".join(f"points = {n}" for n in range(1000, 3000)) + " or points = 50"
    assert select(profiles, many=text) == {"many": ["p3"]}
