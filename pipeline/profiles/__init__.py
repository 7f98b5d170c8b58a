"""Persistent profiles: an immutable daily snapshot = the previous snapshot + the day's changes.

`build_day(previous, [(rules, changes[, json_text]), ...], day)` applies each import goal's
changes frame (from the delta step) in declared order; `apply_goal` is one goal's step. Both are
pure. `json_text` names the changes columns holding JSON text (staging's mixed-type attributes,
`pipeline.staging.json_text_columns`): their values are decoded, and only their JSON numbers count
as numbers for `sum`.
`write_snapshot` / `read_snapshot` / `read_previous_snapshot` move snapshots through the
object store; `find_profile` answers `profilesync profiles show external_id=u1`.

Snapshot layout, under `profiles/<day>/`
---------------------------------------
- `profiles.parquet`: `profile_id` String, `_created` Date, `_updated` Date (the last day a
  property or identifier really changed value), then one column per property, sorted by
  name; `add` properties are List columns. Rows sorted by `profile_id`. Empty values (null,
  "", empty list) are stored as null. When a property's values change type, the column moves
  to a type that holds both (Int+Float → Float64, scalar+list → list, otherwise String with
  lists and structs as JSON), so no value is lost.
- `identifiers.parquet`: `profile_id`, `kind` (the profile identifier name, e.g.
  external_id), `value` String; sorted by all three. Identifiers accumulate: a profile may hold
  several values of one kind (a changed e-mail adds the new one). A (kind, value) belongs to
  at most one profile.
- `sum_basis.parquet`: `goal`, `braze_id`, `property`, `value` Float64, sorted by the first
  three: the last Braze value seen for every `sum` property, kept when the user leaves.
- `merges.parquet`: the day's merges, sorted by (goal, merged_id): `goal`, `braze_id` (the
  smallest record of the linking group that matched the merged profile), `survivor_id`,
  `merged_id`, `identifiers` List(String) (`kind=value` that record matched it on).
- `quarantine.jsonl`: the day's rejected values, sorted by (goal, braze_id, property):
  `goal`, `braze_id`, `property`, `value` (as text), `reason`.
- `manifest.json`, deleted first and written last: keys, row counts and sizes of the files,
  property types, and the day's report. A day without a manifest does not exist for readers.
- `provenance.parquet`: `profile_id`, then one Categorical column per property, sorted by
  profile_id: `<connection/goal>\x1f<YYYY-MM-DD>`, the goal and day that last changed the value
  (null: never set since origins were kept). A merged profile's origins move to the survivor;
  per property the first in profile_id order wins. One row per profile, 4 bytes a cell
  (`provenance.py`); the long form of earlier versions is widened on read. A snapshot from
  before provenance has none.
Same inputs give byte-identical files. Columns starting with `_` are reserved for the store.

Identity and merging
--------------------
A record (added or changed) matches a profile on any mapped identifier value. Goal names must
be unique in the store (`connection/goal`). A new profile's id is a stable hash of (day, goal,
braze_id) of the record that created it. When one record, or several records of the batch
sharing an identifier value, link profiles A and B, they merge: the survivor is the profile
created earliest (`_created`), ties broken by the smaller `profile_id`; identifiers are
united; numeric properties that any goal writes with `sum` are added; list properties are
united (survivor's values first); every other property keeps the survivor's value or, when
that is empty, the first non-empty value of the others in survivor-rule order. Each merged
profile gets a row in `merges.parquet`. New records of a batch that share an identifier value
become one profile, created by the smallest braze_id. Records of one goal that land on one
profile are applied in braze_id order. Records with no identifier value are skipped.

Strategies
----------
Only for fields named in the record's `_changed_fields`; removed records change nothing.
`set` replaces (an empty value leaves the property alone); `add` appends values not yet present;
`sum` adds the change of the Braze value since the last value seen (the whole value the first
time, empty counts as 0, a non-number is quarantined and changes nothing); `set_if_empty`
writes only into an empty property; `clear` empties the property on an empty value, else sets.
"""

from pipeline.profiles.apply import apply_goal
from pipeline.profiles.day import build_day
from pipeline.profiles.identity import new_profile_ids
from pipeline.profiles.report import DayReport, GoalReport
from pipeline.profiles.rules import FieldRule, GoalRules, IdentifierRule, RemainingRule, Strategy
from pipeline.profiles.segments import Segment, SegmentSyntaxError, evaluate_segments, parse_segment
from pipeline.profiles.snapshot import Snapshot, empty_snapshot, find_profile
from pipeline.profiles.store import read_previous_snapshot, read_snapshot, write_snapshot

__all__ = [
    "DayReport",
    "FieldRule",
    "GoalReport",
    "GoalRules",
    "IdentifierRule",
    "RemainingRule",
    "Segment",
    "SegmentSyntaxError",
    "Snapshot",
    "Strategy",
    "apply_goal",
    "build_day",
    "empty_snapshot",
    "evaluate_segments",
    "find_profile",
    "new_profile_ids",
    "parse_segment",
    "read_previous_snapshot",
    "read_snapshot",
    "write_snapshot",
]
