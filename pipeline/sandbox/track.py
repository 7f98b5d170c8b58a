"""`POST /users/track` (reference section 3).

- More than 75 objects (in total, or per array in `per_array` mode) → 400 "Max Input Length
  Exceeded"; nothing is applied.
- Each object is checked whole (identifier, then every value) and applied whole or refused with
  a minor error `{"type", "input_array", "index"}`; `type` starts with Braze's code when it has
  one, e.g. `EMAIL_BAD_FORMAT: The value provided ...`.
- One invalid nested value refuses its object and drops every nested-attribute update of the
  request (the other attributes of the other objects still apply).
- Some valid → 201 `{"message": "success", "<array>_processed": n, "errors": [...]}` with
  `*_processed` for each array sent; none valid → 400 "Valid data must be provided ...".
- Data points are charged for applied objects only, at face value (unchanged values count).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipeline.braze import datapoints, rules
from pipeline.sandbox import activity, attributes, identity
from pipeline.sandbox.calls import Answer, Call, error, success
from pipeline.sandbox.state import Sandbox

ARRAYS = ("attributes", "events", "purchases")
FAULT_REJECTION = "SANDBOX_FAULT: object refused by the sandbox's partial-error fault (track_reject_rate)"


def handle(sb: Sandbox, call: Call) -> Answer:
    body = call.body
    if not isinstance(body, dict):
        return error(400, "The request body must be a JSON object with 'attributes', 'events' or 'purchases'.")
    arrays: dict[str, list[Any]] = {}
    for name in ARRAYS:
        if body.get(name) is None:
            continue
        if not isinstance(body[name], list):
            return error(400, f"'{name}' must be an array of objects.")
        arrays[name] = body[name]
    sizes = [len(objects) for objects in arrays.values()]
    counted = sum(sizes) if sb.config.track_object_limit_mode == "combined" else max(sizes, default=0)
    if counted > rules.MAX_TRACK_OBJECTS:
        return error(400, rules.MAX_INPUT_EXCEEDED)
    if not sum(sizes):
        return error(400, rules.FATAL_NOTHING_VALID, errors=[])

    with sb.lock:
        now = sb.now()
        drop_nested = any(
            isinstance(obj, Mapping) and attributes.nested_error(obj) for obj in arrays.get("attributes", [])
        )
        errors, outcomes = [], []
        processed = dict.fromkeys(arrays, 0)
        points = dict.fromkeys(arrays, 0)
        for array, objects in arrays.items():
            for index, obj in enumerate(objects):
                try:
                    result, cost = _one(sb, array, obj, now, drop_nested)
                except attributes.Invalid as exc:
                    errors.append({"type": str(exc), "input_array": array, "index": index})
                    outcomes.append({"input_array": array, "index": index, "result": "rejected", "reason": str(exc)})
                    continue
                processed[array] += 1
                points[array] += cost
                outcomes.append({"input_array": array, "index": index, **result, "data_points": cost})
        call.outcome = {"objects": outcomes, "nested_updates_dropped": drop_nested}
        sb.users.settle()
        if not any(processed.values()):
            return error(400, rules.FATAL_NOTHING_VALID, errors=errors)
        call.data_points = sb.charge(call.path, points)
    answer = success(201, **{f"{array}_processed": n for array, n in processed.items()})
    if errors:
        answer.body["errors"] = errors
    return answer


def _one(sb: Sandbox, array: str, obj: Any, now: datetime, drop_nested: bool) -> tuple[dict[str, Any], int]:
    if not isinstance(obj, Mapping):
        raise attributes.Invalid(f"each '{array}' item must be a JSON object")
    target = identity.identify(sb.users, obj, array)
    ops: list[attributes.Op] = []
    if array == "attributes":
        ops = attributes.plan(obj, target.user, target.lookup)
        if drop_nested:
            ops = [op for op in ops if not op.nested]
            obj = {k: v for k, v in obj.items() if k in rules.STANDARD_ATTRIBUTES or not rules.is_nested(v)}
        cost = datapoints.attribute_points(obj)
    elif array == "events":
        event = activity.check_event(obj, now)
        cost = 1
    else:
        purchase = activity.check_purchase(obj, now)
        cost = 1
    if sb.faults.reject_track_object():
        raise attributes.Invalid(FAULT_REJECTION)
    if target.skip_reason:
        return {"result": "skipped", "reason": target.skip_reason}, 0
    created = target.user is None
    user = target.user or identity.create(sb.users, target, now)
    if array == "attributes":
        attributes.apply(sb.users, user, ops)
    elif array == "events":
        activity.record(user.events, event[0], event[1], 1)
        sb.users.touch(user)
    else:
        activity.apply_purchase(user, *purchase)
        sb.users.touch(user)
    return {"result": "created" if created else "updated", "braze_id": user.braze_id}, cost
