"""`/users/track` with Braze's per-object errors mapped back to the records that caused them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.braze.errors import BrazeValidationError

if TYPE_CHECKING:
    from pipeline.braze.client import BrazeClient  # only for the annotation: the client calls track()

ENDPOINT = "/users/track"
# Without these, one object is a plain set of values and sending it twice changes nothing.
_NON_IDEMPOTENT_OPS = frozenset({"inc", "add", "remove", "$add", "$remove", "$update"})
# A body whose answer was lost may have been applied, and every resend is billed again: resend once.
RESENDS_AFTER_LOST_ANSWER = 1


@dataclass(frozen=True)
class RejectedRecord:
    """One object Braze refused, mapped back to what was sent."""

    input_array: str
    index: int
    record: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class TrackResult:
    attributes_processed: int
    events_processed: int
    purchases_processed: int
    rejected: list[RejectedRecord]
    response: dict[str, Any]
    lost_answers: int = 0  # times the body went out unanswered before this answer: Braze may have applied it


def is_replay_safe(attributes: list[dict[str, Any]], events: list[Any], purchases: list[Any]) -> bool:
    """True when resending the body after a lost answer cannot double-apply anything."""
    if events or purchases:
        return False
    return not any(
        isinstance(value, dict) and _NON_IDEMPOTENT_OPS.intersection(value)
        for obj in attributes
        for value in obj.values()
    )


def track(
    client: BrazeClient, attributes: list[dict[str, Any]], events: list[Any], purchases: list[Any]
) -> TrackResult:
    sent = {"attributes": attributes, "events": events, "purchases": purchases}
    body = {name: objects for name, objects in sent.items() if objects}
    if not body:
        raise ValueError("track() needs at least one attributes, events or purchases object")
    try:
        reply = client.exchange(
            "POST",
            ENDPOINT,
            body=body,
            replay_safe=is_replay_safe(attributes, events, purchases),
            resends_after_lost_answer=RESENDS_AFTER_LOST_ANSWER,
        )
        answer, lost, fatal = reply.data, reply.lost_answers, False
    except BrazeValidationError as exc:
        if not _names_objects(exc.errors):
            raise  # e.g. "Max Input Length Exceeded": a request problem, not a record problem
        answer, lost, fatal = {"message": exc.braze_message, "errors": exc.errors}, 0, True

    rejected: list[RejectedRecord] = []
    for error in answer.get("errors") or []:
        array, index = error.get("input_array"), error.get("index")
        if array in sent and isinstance(index, int) and 0 <= index < len(sent[array]):
            rejected.append(RejectedRecord(array, index, sent[array][index], str(error.get("type", ""))))
    if fatal:
        # Nothing was processed: objects the answer did not name were refused with the rest.
        named = {(r.input_array, r.index) for r in rejected}
        reason = str(answer.get("message") or "request refused")
        rejected += [
            RejectedRecord(array, index, obj, reason)
            for array, objects in sent.items()
            for index, obj in enumerate(objects)
            if (array, index) not in named
        ]
    return TrackResult(
        attributes_processed=int(answer.get("attributes_processed") or 0),
        events_processed=int(answer.get("events_processed") or 0),
        purchases_processed=int(answer.get("purchases_processed") or 0),
        rejected=sorted(rejected, key=lambda r: (r.input_array, r.index)),
        response=answer,
        lost_answers=lost,
    )


def _names_objects(errors: list[dict[str, Any]]) -> bool:
    return any(isinstance(e, dict) and "input_array" in e and "index" in e for e in errors)
