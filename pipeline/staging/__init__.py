"""`staged_users`: one day's Braze segment export as one typed, deduplicated, hashed Parquet copy.

Staged frame (`layout.staged_users(connection, goal, day)`, zstd Parquet), the contract other
steps build on:

- `braze_id` String, never null: the record key (always requested, so always exported);
- one column per exported standard field under Braze's own name, typed: text fields String,
  `random_bucket` Int64, `total_revenue` Float64, `created_at` (`2020-07-10 15:00:00.000 UTC`,
  ISO 8601 accepted too), `push_opted_in_at`, `uninstalled_at` (ISO 8601) Datetime(us, UTC), `dob` Date,
  `last_coordinates` List(Float64), `user_aliases` List(Struct{alias_name, alias_label}),
  `custom_events` / `purchases` List(Struct{name, first, last, count}) with `first`/`last`
  Datetime(us, UTC), `apps` (dates `first_used`/`last_used` parsed), `devices`, `push_tokens`
  (see `schema.STANDARD`); a key Braze adds that is not listed there is kept with an inferred type
  (a top-level key starting with `_` is not a Braze field and would be taken for a reserved column);
- one column per custom attribute, `custom_attributes.<name>`, typed Int64 / Float64 / Boolean /
  String / List / Struct (nested objects stay structured), or Datetime(us, UTC) when every value of
  the day is a Braze date;
- `_row_hash` UInt64: a fingerprint of the row's data (`pipeline.staging.rowhash`), its scheme in the
  Parquet metadata under `profilesync.row_hash_scheme`;
- one row per braze_id, sorted by braze_id; columns: braze_id, standard fields by name, custom
  attributes by name, `_row_hash`. Names starting with `_` are reserved.

A column exists when at least one user has a value, or when it is a standard field named in
`fields` (the export's `fields_to_export`). When values of one attribute disagree within the day,
the type most of its values share wins (`pipeline.staging.majority`; Int64 and Float64 are one
type, Float64): a value of another shape is left out of its record and quarantined with its field,
so one bad record never changes a column for everyone. Only when no type holds more than half of
the values does the column become String holding each value's JSON text (`pipeline.staging.types`);
such columns are listed in the Parquet file's key-value metadata
under `profilesync.json_text_columns` (a JSON list; `json_text_columns(store, key)` reads it), since
JSON text cannot be told from plain text by its type.

Quarantine (`layout.staged_quarantine(...)`): JSON lines `{source, line, field, braze_id, reason,
raw}`, `raw` truncated to 2,000 characters, ordered by source, line, field; written even when empty.
`field` is null for a whole line; when set, only that value was left out of a staged row (`raw` is
the value's JSON text, `braze_id` the row's). A line is quarantined when it is not JSON, not an
object, has no (or an empty or non-text) braze_id, has a date in neither of Braze's forms, or
repeats a braze_id that a later line of the same export also has (the later line is staged). A
value is quarantined (its field null in the staged row) when it is a standard field of the wrong
type, not of the column's majority type, or a number that is not finite (NaN, ±Infinity, beyond
±1.8e308). Invariant: `lines_read == rows + quarantined lines` (entries without `field`), with
blank lines counted apart in `blank_lines`.

Memory does not grow with the day beyond its id column (`pipeline.staging.spill`): parsed pieces
are spilled to a local temp folder, removed when staging ends or fails, and the staged table is
finished in buckets of braze_ids; the step publishes from those parts (`staged_export`).
"""

from pipeline.staging.parse import Quarantined
from pipeline.staging.stage import (
    StageResult,
    json_text_columns,
    publish_parquet,
    row_hash_scheme,
    stage_export,
    staged_export,
    write_staged,
)

__all__ = [
    "Quarantined",
    "StageResult",
    "json_text_columns",
    "publish_parquet",
    "row_hash_scheme",
    "stage_export",
    "staged_export",
    "write_staged",
]
