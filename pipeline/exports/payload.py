"""`export_payload`: Braze-typed attribute values for every member, checked before anything is sent.

The payload is wide: one row per (member, identity), one column `v<i>` per mapped field holding
its value as canonical JSON (null: nothing to send) and `x<i>`, true where Braze would refuse
the value. Writing it costs one narrow Parquet of a row per member; `export_changes` expands to
(identity, attribute, value) rows (`expand`) only the members whose row differs from what Braze
acknowledged, and the next day reuses the values of members that did not change. A member is sent under
the first export identifier it has (the goal lists them in order of preference); a profile
holding several values of that identifier (after a merge) is sent to each of those Braze
users. A value Braze would refuse goes to the dead letters with the reason and is not sent.

Values are built column by column with Polars (`encode`); the few values whose text or
validity only the Python definition in `values` can settle (see `encode`) are done one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pipeline.exports.encode import Encoded, encoded, json_string
from pipeline.exports.members import SEGMENTS
from pipeline.exports.values import InvalidValue, canonical, check, identity, printable, to_braze
from pipeline.mapping import Connection, ExportGoal
from pipeline.profiles import Snapshot
from pipeline.profiles.snapshot import UPDATED

PAYLOAD_SCHEMA = pl.Schema(
    {"profile_id": pl.String(), "identity": pl.String(), "attribute": pl.String(), "value": pl.String()}
)
MAX_INTERACTIONS = 500  # Braze's array limit: the most recent ones are sent
RAW = "raw"


@dataclass
class Payload:
    wide: pl.DataFrame  # per (member, identity): profile_id, identity, `v<i>` texts, `x<i>` refused
    attributes: list[str]  # the Braze attribute of each `v<i>`
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str = ""
    rebuilt: int = 0  # members whose values were built, not taken from the previous day
    reason: str = ""  # why those members were rebuilt

    @property
    def values(self) -> pl.DataFrame:
        """What the next day reuses: the wide rows (`Previous.values`)."""
        return self.wide

    @property
    def identities(self) -> int:
        return self.wide["identity"].drop_nulls().n_unique()

    @property
    def rows(self) -> pl.DataFrame:
        """The payload as (profile_id, identity, attribute, value) rows: for tests and small days."""
        return expand(self.wide, self.attributes)


def positions(sorted_ids: pl.Series, ids: pl.Series) -> pl.Series:
    """Row of each of `ids` in `sorted_ids` (sorted, unique), null where absent.

    Every frame here is sorted by profile_id, so a binary search aligns them; a hash join on
    the text ids cost several times more at a million profiles."""
    if sorted_ids.is_empty():
        return pl.repeat(None, ids.len(), dtype=pl.UInt32, eager=True)
    at = sorted_ids.search_sorted(ids, side="left").clip(upper_bound=sorted_ids.len() - 1).cast(pl.UInt32)
    return pl.select(pl.when(sorted_ids.gather(at) == ids).then(at)).to_series().alias("row")


def _member_rows(profiles: pl.Series, at: pl.Series, members: pl.Series, ids: pl.Series) -> pl.Series:
    """The member row of each identifier (sorted `ids`, a profile's several in a run), null for
    non-members. `at` is each member's row in `profiles` (sorted, unique).

    When the identifiers' runs are exactly the profiles in order (every profile holds one, as
    usual), a run's number is its profile's row and the member row a lookup by integer; otherwise
    each distinct id is found by binary search."""
    runs = ids.rle_id()
    starts = pl.select(pl.arg_where(runs.ne_missing(runs.shift()))).to_series()
    heads = ids.gather(starts)
    if heads.len() == profiles.len() and not at.null_count() and bool((heads == profiles).all()):
        member_of = pl.repeat(None, profiles.len(), dtype=pl.UInt32, eager=True)
        member_of.scatter(at, pl.int_range(at.len(), dtype=pl.UInt32, eager=True))
        return member_of.gather(runs).alias("_row")
    return positions(members, heads).gather(runs).alias("_row")


def by_profile(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` sorted by profile_id (snapshot files already are: then this only checks)."""
    return frame if frame["profile_id"].is_sorted() else frame.sort("profile_id", maintain_order=True)


def identities(identifiers: pl.DataFrame, goal: ExportGoal) -> pl.DataFrame:
    """(profile_id, braze kind, value, other columns) of the preferred identifier each member has;
    maybe several values. `identifiers` is sorted by (profile_id, kind, value), as snapshots keep it."""
    ranks: dict[str, int] = {}
    brazes: dict[str, str] = {}
    for rank, m in enumerate(goal.identifiers):
        ranks.setdefault(m.profile, rank)
        brazes.setdefault(m.profile, m.braze)
    held = identifiers.filter(pl.col("kind").is_in(list(ranks))).with_columns(
        pl.col("kind").replace_strict(ranks, return_dtype=pl.Int64).alias("rank"),
        pl.col("kind").replace_strict(brazes, return_dtype=pl.String).alias("braze"),
    )
    key = "_row" if "_row" in held.columns else "profile_id"
    held = held.filter(pl.col("rank") == pl.col("rank").min().over(key))
    extra = [c for c in identifiers.columns if c not in ("profile_id", "kind", "value")]
    return held.select("profile_id", "braze", "value", *extra)


def _identity_text(kind: str) -> Encoded:
    """`values.identity(kind, value)` for the values that certainly pass its checks."""
    value = pl.col("value")
    if kind.startswith("user_alias:"):
        label = kind.split(":", 1)[1]
        prefix = '{"user_alias":{"alias_label":' + canonical(label) + ',"alias_name":'
        text = pl.concat_str(pl.lit(prefix), json_string(value), pl.lit("}}"))
        size = value.str.len_bytes()
        label_ok = 0 < len(label.encode()) <= 236
        return Encoded(text, (size > 0) & (size <= 236) & pl.lit(label_ok))
    text = pl.concat_str(pl.lit("{" + canonical(kind) + ":"), json_string(value), pl.lit("}"))
    if kind == "external_id":
        return Encoded(text, (value.str.len_bytes() > 0) & (value.str.len_bytes() <= 987))
    if kind in ("email", "phone"):
        return encoded(value, pl.String(), kind)._replace(text=text)
    return Encoded(text, pl.lit(True))


def _identities(held: pl.DataFrame, dead: list[dict[str, Any]]) -> pl.DataFrame:
    """`held` with the `identity` text of each valid identifier; dead letters for the others."""
    text, fast = pl.lit(None, pl.String), pl.lit(False)
    for kind in held["braze"].unique().sort().to_list():
        kind_text, kind_fast = _identity_text(kind)
        text = pl.when(pl.col("braze") == kind).then(kind_text).otherwise(text)
        fast = pl.when(pl.col("braze") == kind).then(kind_fast.fill_null(False)).otherwise(fast)
    frame = held.with_columns(text.alias("identity"), fast.alias("fast"))
    rows = frame.select(pl.arg_where(~pl.col("fast"))).to_series()
    texts: list[str | None] = []
    for profile_id, kind, value in frame[rows].select("profile_id", "braze", "value").iter_rows():
        try:
            texts.append(identity(kind, value))
        except InvalidValue as exc:
            texts.append(None)
            dead.append(_dead(profile_id, kind, value, str(exc)))
    column = frame["identity"].clone()
    column.scatter(rows, pl.Series(texts, dtype=pl.String))
    return frame.with_columns(column).filter(pl.col("identity").is_not_null()).drop("fast")


def _interaction_lists(identifiers: pl.DataFrame, interactions: pl.DataFrame | None) -> pl.DataFrame:
    if interactions is None or interactions.is_empty():
        return pl.DataFrame(schema={"profile_id": pl.String, RAW: pl.List(pl.String)})
    viewed = interactions.join(identifiers, on=["kind", "value"]).sort("viewed_at", "interaction_id")
    recent = pl.col("interaction_id").unique(maintain_order=True).tail(MAX_INTERACTIONS)
    return viewed.group_by("profile_id").agg(recent.alias(RAW)).sort("profile_id")


def _first_identifiers(identifiers: pl.DataFrame, kind: str) -> pl.DataFrame:
    """(profile_id, value): the smallest value of identifier `kind` each profile holds."""
    held = identifiers.filter(pl.col("kind") == kind).select("profile_id", "value")
    return held.group_by("profile_id").agg(pl.col("value").min())


def _property(source: Any, connection: Connection) -> str:
    """The profile property a property or permission source reads."""
    return source.property if source.kind == "property" else connection.permission(source.permission).property


def reads(connection: Connection, goal: ExportGoal) -> tuple[set[str], set[str] | None]:
    """The profile properties and identifier kinds (None: every kind) a goal's payload reads,
    so the step reads only those from the snapshot. Interactions match on any identifier."""
    properties = {_property(f.source, connection) for f in goal.fields if f.source.kind in ("property", "permission")}
    if any(f.source.kind == "interactions" for f in goal.fields):
        return properties, None
    sources = {f.source.identifier for f in goal.fields if f.source.kind == "identifier"}
    return properties, {m.profile for m in goal.identifiers} | sources


def _raw_inputs(
    snapshot: Snapshot, goal: ExportGoal, connection: Connection, members: pl.DataFrame, identifiers: pl.DataFrame,
    interactions: pl.DataFrame | None, at: pl.Series, fields: list[int], rows: pl.Series,
) -> pl.DataFrame:
    """One row per member at `rows` of `members` (in that order): `profile_id`, `_row` (its row in
    `members`), `_updated`, and the raw value of each of `fields` as `r<i>`. `identifiers` carry
    their member's `_row`; `at` is each member's row in the snapshot's profiles. Only the rows
    asked for are gathered: on a usual day that is the few members being rebuilt."""
    profiles = by_profile(snapshot.profiles)
    n = members.height
    read = [goal.fields[i] for i in fields]
    wanted = {_property(f.source, connection) for f in read if f.source.kind in ("property", "permission")}
    wanted = {w for w in wanted if w in profiles.columns}
    row = pl.int_range(n, dtype=pl.UInt32).alias("_row")
    own = members.select("profile_id", pl.col(SEGMENTS).alias("_segments"), row)
    frame = pl.concat([own.gather(rows), profiles.select(UPDATED, *sorted(wanted)).gather(at.gather(rows))],
                      how="horizontal")  # fmt: skip
    columns = []
    for i in fields:
        export_field = goal.fields[i]
        source, name = export_field.source, f"r{i}"
        match source.kind:
            case "property" | "permission":
                prop = _property(source, connection)
                columns.append(pl.col(prop).alias(name) if prop in wanted else pl.lit(None).alias(name))
            case "identifier":
                held = identifiers.filter(pl.col("kind") == source.identifier)  # sorted: a member's smallest first
                first = held.filter(pl.col("_row").ne_missing(pl.col("_row").shift()))
                column = pl.repeat(None, n, dtype=pl.String, eager=True).alias(f"_id{i}")
                column.scatter(first["_row"], first["value"])
                frame = frame.with_columns(column.gather(rows))
                columns.append(pl.col(f"_id{i}").alias(name))
            case "segments":
                columns.append(pl.col("_segments").alias(name))
            case "interactions":
                lists = _interaction_lists(identifiers.drop("_row"), interactions).rename({RAW: f"_in{i}"})
                frame = frame.join(lists, on="profile_id", how="left", maintain_order="left")
                columns.append(pl.col(f"_in{i}").alias(name))
            case "static":
                columns.append(pl.lit(source.static).alias(name))
            case _:
                raise ValueError(f"unknown export source {source.kind!r}")
    return frame.select("profile_id", "_row", UPDATED, *columns)


def _not_empty(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return raw.is_not_null() & (raw != "")
    if isinstance(dtype, pl.List):
        return raw.is_not_null() & (raw.list.len() > 0)
    return raw.is_not_null()


def _field_text(export_field: Any, raw: pl.Expr, dtype: pl.DataType, connection: Connection) -> Encoded:
    """One field's value text, and where Polars settles it (see `encode`)."""
    source, attribute = export_field.source, export_field.braze
    if source.kind == "permission":
        if dtype != pl.String:
            return Encoded(pl.lit(None, pl.String), pl.lit(False))
        # A handful of levels: each level's text is settled once, then looked up per member.
        levels = connection.permission(source.permission).levels
        states = pl.DataFrame({"level": list(levels), "state": list(levels.values())},
                              schema={"level": pl.String, "state": pl.String})  # fmt: skip
        state_text, state_fast = encoded(pl.col("state"), pl.String(), attribute)
        settled = states.select("level", state_text.alias("text"), state_fast.alias("fast")).filter("fast")
        text = raw.replace_strict(dict(settled.select("level", "text").iter_rows()), default=None,
                                  return_dtype=pl.String)  # fmt: skip
        return Encoded(text, text.is_not_null())
    if source.kind == "static":
        return _static(source.static, attribute)
    return encoded(raw, dtype, attribute)


def _values(
    inputs: pl.DataFrame, goal: ExportGoal, fields: list[int], connection: Connection, dead: list[dict[str, Any]]
) -> pl.DataFrame:
    """Per row of `inputs`, each listed field's value text as `v<i>` (null: nothing to send) and
    `x<i>`, true where the value was refused (its dead letter is added to `dead`)."""
    texts, slow = [], []
    for i in fields:
        raw, dtype = pl.col(f"r{i}"), inputs.schema[f"r{i}"]
        text, fast = _field_text(goal.fields[i], raw, dtype, connection)
        present = _not_empty(raw, dtype)
        texts.append(pl.when(present & fast).then(text).otherwise(None).cast(pl.String).alias(f"v{i}"))
        slow.append((present & ~fast.fill_null(False)).alias(f"s{i}"))
    wide = inputs.select(*texts, *slow)
    columns, refused = [], []
    for i in fields:
        rows = wide.select(pl.arg_where(pl.col(f"s{i}"))).to_series()
        column = wide[f"v{i}"]
        bad = pl.repeat(False, wide.height, dtype=pl.Boolean, eager=True).alias(f"x{i}")
        if not rows.is_empty():  # only these values cost Python calls
            texts_i = _python_texts(goal.fields[i], inputs, f"r{i}", rows, connection, dead)
            column = column.clone()
            column.scatter(rows, pl.Series(texts_i, dtype=pl.String))
            bad.scatter(rows, pl.Series([t is None for t in texts_i], dtype=pl.Boolean))
        columns.append(column)
        refused.append(bad)
    return pl.DataFrame([*columns, *refused])


CACHED_SOURCES = ("property", "permission", "identifier")  # what `_updated` covers


def _fingerprint(snapshot: Snapshot, connection: Connection, goal: ExportGoal) -> str:
    """What yesterday's values depend on besides the profiles' own values: the field mapping,
    the permission levels and the type of every property read. Reuse only when it is equal."""
    fields = [f.model_dump(mode="json") if hasattr(f, "model_dump") else repr(f) for f in goal.fields]
    permissions = {k: v.model_dump(mode="json") for k, v in sorted(connection.permissions.items())}
    read = {_property(f.source, connection) for f in goal.fields if f.source.kind in ("property", "permission")}
    types = {name: str(dtype) for name, dtype in snapshot.profiles.schema.items() if name in read}
    return canonical({"format": 1, "fields": fields, "permissions": permissions, "types": types})


@dataclass(frozen=True)
class Previous:
    """An earlier day's values (`Payload.values`) and that day: members whose profile has not
    changed since (`_updated`) keep their property, permission and identifier values.

    That holds only while the values were built from the snapshot the store holds for that day
    now: a backfill may rebuild it with other values and the same `_updated` days, and values
    built before would then be stale without any profile looking changed. `built_from` is the
    version (`profiles.store.snapshot_version`) they were built from, `snapshot_now` the one the
    store holds now; None is unknown and never equal."""

    day: str
    values: pl.DataFrame
    fingerprint: str  # the mapping they were built with (`_fingerprint`)
    built_from: str | None
    snapshot_now: str | None

    def unusable(self, fingerprint: str) -> str | None:
        """Why these values cannot be reused for a goal of mapping `fingerprint`; None: they can."""
        if not self.fingerprint:
            return f"the payload of {self.day} is in an older format (one row per attribute, no mapping recorded)"
        if self.fingerprint != fingerprint:
            return f"the mapping or property types changed since {self.day}"
        if self.built_from is None or self.snapshot_now is None:
            return f"the values of {self.day} do not record the profile snapshot they were built from"
        if self.built_from != self.snapshot_now:
            return f"the profile snapshot of {self.day} was rebuilt after its values were built (a backfill)"
        return None


Raw = Callable[[list[int], pl.Series], pl.DataFrame]  # `_raw_inputs` of some fields at some rows


def _all_values(
    snapshot: Snapshot, connection: Connection, goal: ExportGoal, base: pl.DataFrame, raw: Raw,
    previous: Previous | None, dead: list[dict[str, Any]],
) -> tuple[pl.DataFrame, int, str]:
    """`profile_id`, `_row`, `v<i>`, `x<i>` for every member in `base` (`profile_id`, `_row`,
    `_updated`), how many members were rebuilt and why. `raw(fields, rows)` gives the raw values
    of `fields` at `rows` of `base`: only the members being rebuilt are read."""
    cached = [i for i, f in enumerate(goal.fields) if f.source.kind in CACHED_SOURCES]
    always = [i for i in range(len(goal.fields)) if i not in cached]
    every = pl.int_range(base.height, dtype=pl.UInt32, eager=True)
    fresh = _values(raw(always, every), goal, always, connection, dead) if always else pl.DataFrame()
    if previous is None:
        reason = "no earlier day's values"
    elif not cached:
        reason = "no field reads profiles"
    else:
        reason = previous.unusable(_fingerprint(snapshot, connection, goal)) or ""
    if reason:
        built = _values(raw(cached, every), goal, cached, connection, dead) if cached else pl.DataFrame()
        return pl.concat([base.select("profile_id", "_row"), fresh, built], how="horizontal"), base.height, reason
    assert previous is not None
    kept = _per_member(by_profile(previous.values))
    at = positions(kept["profile_id"], base["profile_id"])
    names = [f"{c}{i}" for i in cached for c in "vx"]
    old = pl.concat([base.select("_updated"), kept.select(*names).gather(at)], how="horizontal")
    changed = (pl.col("_updated") > pl.lit(previous.day).str.to_date()).fill_null(True)
    stale = pl.lit(at.is_null()) | changed  # a joiner, or a profile changed since that day
    # a value refused before is checked again, so its dead letter is written again
    again = {i: pl.col("_stale") | pl.col(f"x{i}").fill_null(False) for i in cached}
    old = old.with_columns(stale.alias("_stale")).with_columns(pl.any_horizontal(*again.values()).alias("_again"))
    needed = old.select(pl.arg_where("_again")).to_series().cast(pl.UInt32)
    inputs = raw(cached, needed)  # the members some value of which is rebuilt
    columns = []
    for i in cached:
        rows = old.select(pl.arg_where(again[i])).to_series().cast(pl.UInt32)
        rebuilt = _values(inputs[needed.search_sorted(rows)], goal, [i], connection, dead)
        for name in (f"v{i}", f"x{i}"):
            column = (old[name].fill_null(False) if name.startswith("x") else old[name]).clone()
            column.scatter(rows, rebuilt[name])
            columns.append(column)
    stale_rows = int(old["_stale"].sum())
    reason = f"joined, left or changed since {previous.day}"
    return pl.concat([base.select("profile_id", "_row"), fresh, pl.DataFrame(columns)], how="horizontal"), \
        stale_rows, reason  # fmt: skip


def _per_member(wide: pl.DataFrame) -> pl.DataFrame:
    """`wide` (sorted by profile_id) with one row per member: a member sent as several identities
    has the same values on each of its rows."""
    ids = wide["profile_id"]
    if ids.is_empty() or not (ids == ids.shift()).any():
        return wide
    return wide.filter(ids.ne_missing(ids.shift()))


def _python_texts(
    export_field: Any, inputs: pl.DataFrame, column: str, rows: pl.Series, connection: Connection,
    dead: list[dict[str, Any]],
) -> list[str | None]:
    """The Python definition of the values at `rows` (null and a dead letter for a refused one)."""
    source, attribute = export_field.source, export_field.braze
    picked = inputs[rows]
    texts: list[str | None] = []
    for profile_id, raw in picked.select("profile_id", column).iter_rows():
        try:
            value = to_braze(raw)
            if source.kind == "permission":
                value = _permission_state(connection, source.permission, value)
            texts.append(canonical(check(attribute, value)))
        except InvalidValue as exc:
            texts.append(None)
            dead.append({**_dead(profile_id, attribute, raw, str(exc)), "identities": []})
    return texts


def _static(value: Any, attribute: str) -> Encoded:
    try:
        text = canonical(check(attribute, to_braze(value)))
    except InvalidValue:
        return Encoded(pl.lit(None, pl.String), pl.lit(False))  # every member's dead letter says why
    return Encoded(pl.lit(text), pl.lit(True))


def _wide(values: pl.DataFrame, sent_as: pl.DataFrame) -> pl.DataFrame:
    """One row per identity a member is sent as, in member order, its member's values beside it; a
    member Braze would refuse every identifier of keeps one row with a null identity (never sent),
    so the next day can still reuse its values."""
    n = (len(values.columns) - 2) // 2
    cells = values.select(*(f"v{i}" for i in range(n)), *(f"x{i}" for i in range(n)))
    at = values["_row"].search_sorted(sent_as["_row"], side="left")  # every identity's member has values
    wide = pl.concat([sent_as.select("profile_id", "identity", "_row"), cells.gather(at)], how="horizontal")
    unsent = ~values["_row"].is_in(sent_as["_row"].implode())
    if unsent.any():
        alone = pl.concat([values.select("profile_id", pl.lit(None, pl.String).alias("identity"), "_row"), cells],
                          how="horizontal").filter(unsent)  # fmt: skip
        wide = pl.concat([wide, alone]).sort("_row", maintain_order=True)
    return wide.drop("_row")


def value_columns(wide: pl.DataFrame) -> list[str]:
    """The `v<i>` columns of a wide payload, in field order."""
    return sorted((c for c in wide.columns if c.startswith("v") and c[1:].isdigit()), key=lambda c: int(c[1:]))


def expand(wide: pl.DataFrame, attributes: list[str]) -> pl.DataFrame:
    """Wide payload rows as (profile_id, identity, attribute, value) rows (PAYLOAD_SCHEMA), sorted by
    identity and attribute: identities are sorted once and each one's values laid out in attribute order."""
    if not attributes or wide.is_empty():
        return PAYLOAD_SCHEMA.to_frame()
    order = sorted(range(len(attributes)), key=lambda i: attributes[i])
    names = pl.Series([attributes[i] for i in order], dtype=pl.String)
    rows = wide.filter(pl.col("identity").is_not_null()).sort("identity", maintain_order=True).select(
        "profile_id",
        "identity",
        pl.lit(names.implode()).first().alias("attribute"),
        pl.concat_list([pl.col(f"v{i}") for i in order]).alias("value"),
    ).explode(["attribute", "value"])
    return rows.filter(pl.col("value").is_not_null()).select(PAYLOAD_SCHEMA.names()).cast(PAYLOAD_SCHEMA)


def build_payload(
    snapshot: Snapshot,
    connection: Connection,
    goal: ExportGoal,
    members: pl.DataFrame,
    interactions: pl.DataFrame | None,
    previous: Previous | None = None,
) -> Payload:
    """The day's payload; with `previous`, only members whose inputs may have changed are rebuilt."""
    dead: list[dict[str, Any]] = []
    members = by_profile(members)
    identifiers = by_profile(snapshot.identifiers)
    profiles = by_profile(snapshot.profiles)
    at = positions(profiles["profile_id"], members["profile_id"])
    ids = identifiers["profile_id"]
    identifiers = identifiers.with_columns(_member_rows(profiles["profile_id"], at, members["profile_id"], ids))
    identifiers = identifiers.filter(pl.col("_row").is_not_null())
    held = identities(identifiers, goal)
    sent_as = _identities(held, dead)
    # A member whose identifiers Braze would all refuse has their dead letters, not this one;
    # its values are still checked, so their letters show everything to fix at once.
    has = pl.repeat(False, members.height, dtype=pl.Boolean, eager=True)
    has.scatter(held["_row"], True)
    wanted = ", ".join(m.profile for m in goal.identifiers)
    missing = members.filter(~has)["profile_id"].to_list()
    dead += [_dead(p, None, None, f"no export identifier ({wanted})") for p in missing]
    field_dead: list[dict[str, Any]] = []
    sending = pl.select(pl.arg_where(has)).to_series().cast(pl.UInt32)  # members with an export identifier
    base = pl.concat([members.select("profile_id").gather(sending), sending.alias("_row").to_frame(),
                      profiles.select(UPDATED).gather(at.gather(sending))], how="horizontal")  # fmt: skip

    def raw(fields: list[int], rows: pl.Series) -> pl.DataFrame:
        return _raw_inputs(snapshot, goal, connection, members, identifiers, interactions, at, fields,
                           sending.gather(rows))  # fmt: skip

    values, rebuilt, reason = _all_values(snapshot, connection, goal, base, raw, previous, field_dead)
    dead += _with_identities(field_dead, sent_as)
    fingerprint = _fingerprint(snapshot, connection, goal)
    attributes = [f.braze for f in goal.fields]
    return Payload(_wide(values, sent_as), attributes, dead, fingerprint, rebuilt, reason)


def _with_identities(letters: list[dict[str, Any]], sent_as: pl.DataFrame) -> list[dict[str, Any]]:
    """The dead letters of a field, each with the identities its member would have been sent to."""
    if not letters:
        return letters
    ids = pl.DataFrame({"profile_id": [d["profile_id"] for d in letters]})
    mine = sent_as.filter(pl.col("profile_id").is_in(ids["profile_id"].implode()))
    lists = ids.join(mine.group_by("profile_id").agg("identity"), on="profile_id", how="left")
    by_id = dict(zip(lists["profile_id"].to_list(), lists["identity"].to_list(), strict=True))
    return [{**d, "identities": by_id[d["profile_id"]] or []} for d in letters]


def _dead(profile_id: str, attribute: str | None, value: Any, reason: str) -> dict[str, Any]:
    return {"profile_id": profile_id, "attribute": attribute, "value": printable(to_braze(value)), "reason": reason}


def _permission_state(connection: Connection, channel: str, level: Any) -> str:
    levels = connection.permission(channel).levels
    if level not in levels:
        known = ", ".join(sorted(levels))
        raise InvalidValue(f"permission level {level!r} of channel {channel!r} has no Braze state (mapped: {known})")
    return levels[level]
