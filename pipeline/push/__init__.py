"""`braze_push`: send an export goal's changes with `/users/track`, exactly once where it counts.

Contracts (other steps build on these):

**Values and identities.** A value is canonical JSON text (`canonical(v)`: sorted keys, no
spaces, UTF-8 kept). An identity is the canonical JSON of the Braze identifier object, e.g.
`{"external_id":"u1"}` or `{"user_alias":{"alias_label":"crm","alias_name":"x"}}`; it is merged
into the attributes object as is.

**Changes frame** (input; `export_changes` writes it at
`connections/<c>/<goal>/export_changes/<day>/changes.parquet`): `identity`, `attribute`,
`value` (null = send `null`, i.e. remove the attribute), `previous` (what the baseline held,
null when nothing), `profile_id`, all String. One row per (identity, attribute), sorted by them.
Identifiers and flags are not attributes; a lookup `email`/`phone` cannot change itself.

**Baseline** (what Braze acknowledged): one file, `connections/<c>/<goal>/baseline/acknowledged.parquet`,
`identity`, `attribute`, `value`, `as_of` (the day of the payload the value came from), sorted by
identity and attribute: the newest state, whichever day's push wrote it last. A null value is a
removal Braze accepted, kept so an older day cannot bring the value back. `read_baseline(store, c,
goal)` returns it (or an empty frame; a store from before as-of days falls back to its latest
`baseline/<day>/baseline.parquet`, as of that day); `export_changes` diffs the payload against it,
never against the last computed payload, so nothing a failed push did not deliver is forgotten.

**Newest wins.** A push never sends a value older than the newest one Braze acknowledged for
that (identity, attribute): a change row for `day` whose baseline row is as of a later day is
held back (counted in `held_back`, never sent), both in the diff and again at push time, so
changes computed before a later day's push, or an old day's journal, cannot roll Braze back.

**Journal** (checkpoint): after every batch Braze answered 2xx, the worker that sent it writes its
accepted rows (`identity`, `attribute`, `value`; null for a removal) at once to
`connections/<c>/<goal>/braze_push/<day>/journal/<run>-<batch>.parquet` (`<run>` is a UTC start
time plus a random suffix, so keys sort in run order). A push of `day` first reads that day's
journal and skips every change row whose (identity, attribute, value) is already there, so a
crashed or killed run resumes without resending what Braze acknowledged. One window cannot be
closed: a batch Braze accepted whose process died before its journal file was written is sent
again; at most `max_in_flight` batches (those in flight at the kill). Resending plain attribute
sets changes nothing in Braze but costs their data points again.

**Replaced values** (undo's input): before a run sends, it writes the acknowledged value (and its
`as_of`; null when Braze was never sent one) that each row it will send replaces, to
`braze_push/<day>/replaced/<run>.parquet` (`pipeline.push.replaced`). `pipeline.push.undo` sends the
inverse of a day's acknowledged rows from it, as the journaled push of `<day>~undo`.

**Completion.** When every batch is done, or the push stopped on a failed request: the baseline =
the newest baseline with the day's whole journal applied in order, as of `day` (the last entry of
a pair wins; a pair held as of a later day keeps its value; rows Braze refused are untouched, so
they come back as changes next run), published only when it differs, with the writing run in the
file's metadata (`baseline_version`); then, when every batch is done, `braze_push/<day>/summary.json`
(the report). Re-running a completed day sends nothing but its dead letters again and leaves the
baseline as it is. A push killed outright leaves its journal unfolded until its day runs again;
until then a re-run of an older day does not know those values are newer.

**Dead letters**: `braze_push/<day>/dead_letter.jsonl`, one line per refused user object,
`{"identity", "profile_id", "attributes": {name: value sent}, "reason"}` with Braze's minor error
`type` (or its fatal message when it refused a whole request by naming every object), sorted by
identity; rewritten whenever a push of the day ends, failed ones included. A request that fails
whole after the client's retries (5xx, connection lost, 429s throughout) is not dead-lettered:
the push stops sending, waits for the requests in flight, and raises `PushError` after their
journals are written, so a rerun resends only the rest.

**Lost answers.** A batch sent whose answer never came (no answer within the connection's
`braze.request_timeout_s`, or the connection closed after sending) may have been applied, and a
resend is billed again: the client resends it once. Answered then, it is journaled as usual and
its points count in `data_points_maybe_twice`; lost again, it is neither journaled nor in the
baseline, the push stops as above and `PushError` says how many data points may have been spent
twice. A rerun resends it (Braze holds the same values either way).

**Requests.** One attributes object per identity, `{**identity, attribute: value, ...}`, plus
`"_update_existing_only": true` when creation is not allowed (with creation allowed, alias-only
identities get an explicit `false`, which Braze needs to create them). At most 75 objects and
at most 4 MB of body a request; at most `max_in_flight` worker threads share the one client, whose
pacer follows the `X-RateLimit-*` headers; how many requests they have in flight at once adapts to
the measured round trip and the rate limit (`pipeline.push.concurrency`).

**Data points** are counted per accepted object by `pipeline.braze.datapoints` (identifiers and
subscription fields free, each nested key counted). Two cases where Braze charges less than
counted: an object for an unknown user with `_update_existing_only` (accepted, applied to
nobody), and nested updates Braze drops because another object of the same request held an
invalid nested value.
"""

from pipeline.push.checkpoint import apply_journal, baseline_version, read_baseline, read_journal, with_other_shards
from pipeline.push.frames import (
    BASELINE_SCHEMA,
    CHANGES_SCHEMA,
    PushInputError,
    canonical,
    identity_text,
)
from pipeline.push.objects import payload_points
from pipeline.push.report import PushError, PushReport, read_dead_letters
from pipeline.push.run import full_profile_points, pending_changes, push_changes

__all__ = [
    "BASELINE_SCHEMA",
    "CHANGES_SCHEMA",
    "PushError",
    "PushInputError",
    "PushReport",
    "apply_journal",
    "baseline_version",
    "canonical",
    "full_profile_points",
    "identity_text",
    "payload_points",
    "pending_changes",
    "push_changes",
    "read_baseline",
    "read_dead_letters",
    "read_journal",
    "with_other_shards",
]
