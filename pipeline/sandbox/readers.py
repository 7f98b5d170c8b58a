"""Read endpoints: `/users/export/ids`, `/segments/list|details|data_series`, `/campaigns/list|details`.

See reference sections 5–7; `/segments/data_series` is Braze's "Export segment analytics".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.braze import rules
from pipeline.sandbox import campaigns
from pipeline.sandbox.calls import Answer, Call, error, success
from pipeline.sandbox.segments import matches
from pipeline.sandbox.state import Sandbox


def fields_error(fields: Any, allowed: frozenset[str]) -> Answer | None:
    """`fields_to_export` is required and non-empty (stricter than pre-2024 workspaces), names valid."""
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        return error(400, "'fields_to_export' is required: a non-empty list of field names, e.g. [\"external_id\"]")
    bad = rules.invalid_names(fields, allowed)
    if bad:
        valid = ", ".join(sorted(allowed))
        return error(400, f"Invalid field(s) in 'fields_to_export': {', '.join(bad)}; valid fields: {valid}")
    return None


def export_ids(sb: Sandbox, call: Call) -> Answer:
    body = call.body if isinstance(call.body, dict) else {}
    problem = fields_error(body.get("fields_to_export"), rules.EXPORT_IDS_FIELDS)
    if problem:
        return problem
    external_ids, aliases = body.get("external_ids") or [], body.get("user_aliases") or []
    if not isinstance(external_ids, list) or not all(isinstance(x, str) for x in external_ids):
        return error(400, "'external_ids' must be a list of strings")
    if not isinstance(aliases, list) or any(rules.alias_error(a) for a in aliases):
        return error(400, '\'user_aliases\' must be a list of {"alias_name", "alias_label"} objects')
    if len(external_ids) + len(aliases) > rules.MAX_EXPORT_IDS:
        return error(400, rules.MAX_IDS_EXCEEDED)
    singles = {k: body[k] for k in ("device_id", "email_address", "phone", "braze_id") if body.get(k) is not None}
    if len(set(singles) & {"device_id", "email_address", "phone"}) > 1:
        return error(400, "Only one of 'device_id', 'email_address' or 'phone' may be used per request")
    if not (external_ids or aliases or singles):
        return error(400, "Provide external_ids, user_aliases, braze_id, device_id, email_address or phone")
    with sb.lock:
        found, invalid = [], []
        for external_id in external_ids:
            user = sb.users.get_external(external_id)
            found.append(user) if user else invalid.append(external_id)
        for alias in aliases:
            user = sb.users.get_alias(alias["alias_label"], alias["alias_name"])
            found.append(user) if user else invalid.append(alias["alias_name"])
        if "braze_id" in singles:
            user = sb.users.by_braze.get(singles["braze_id"])
            found.append(user) if user else invalid.append(singles["braze_id"])
        if "email_address" in singles:
            found += sb.users.all_with_email(str(singles["email_address"]))
        if "phone" in singles:
            phone = rules.normalize_phone(str(singles["phone"]))
            found += [u for u in sb.users if u.standard.get("phone") == phone]
        unique = {u.braze_id: u for u in found}
        users = [u.export(body["fields_to_export"]) for u in unique.values()]
    answer = success(users=users)
    if invalid:
        answer.body["invalid_user_ids"] = invalid
    return answer


def _paging(call: Call) -> tuple[int, bool] | Answer:
    page = call.args.get("page", "0")
    if not page.isdigit():
        return error(400, f"'page' must be a non-negative integer, got {page!r}")
    direction = call.args.get("sort_direction", "asc")
    if direction not in ("asc", "desc"):
        return error(400, f"'sort_direction' must be 'asc' or 'desc', got {direction!r}")
    return int(page), direction == "desc"


def _page(items: list[Any], page: int) -> list[Any]:
    return items[page * rules.PAGE_SIZE : (page + 1) * rules.PAGE_SIZE]


def segments_list(sb: Sandbox, call: Call) -> Answer:
    paging = _paging(call)
    if isinstance(paging, Answer):
        return paging
    page, desc = paging
    with sb.lock:
        live = sorted((s for s in sb.segments.values() if not s.archived), key=lambda s: s.order, reverse=desc)
        return success(segments=[s.listing() for s in _page(live, page)])


def segments_details(sb: Sandbox, call: Call) -> Answer:
    segment_id = call.args.get("segment_id")
    if not segment_id:
        return error(400, "'segment_id' is required")
    with sb.lock:
        segment = sb.segments.get(segment_id)
        if segment is None:
            return error(400, f"Could not find segment with id '{segment_id}'")
        return success(**segment.details())


def segments_data_series(sb: Sandbox, call: Call) -> Answer:
    """The segment's daily size, `length` days up to `ending_at` (default now), oldest first.

    Braze estimates the size once a day, and only for segments with analytics tracking turned
    on; the sandbox has no history, so each day of the series reports today's member count, and
    a segment without tracking gets an empty series (what Braze sends then is unconfirmed).
    """
    segment_id = call.args.get("segment_id")
    if not segment_id:
        return error(400, "'segment_id' is required")
    length = call.args.get("length", "")
    if not length.isdigit() or not 1 <= int(length) <= 100:
        return error(400, f"'length' is required: the number of days, 1 to 100, got {length!r}")
    ending = call.args.get("ending_at")
    end = rules.parse_time(ending) if ending else datetime.now(UTC)
    if end is None:
        return error(400, f"'ending_at' must be an ISO 8601 time like 2026-01-05T23:59:59Z, got {ending!r}")
    with sb.lock:
        segment = sb.segments.get(segment_id)
        if segment is None:
            return error(400, f"Could not find segment with id '{segment_id}'")
        if not segment.analytics_tracking_enabled:
            return success(data=[])
        size = sum(1 for u in sb.users if matches(segment.filter, u))
        first = max(end.date() - timedelta(days=int(length) - 1), segment.created_at.date())
    days = [first + timedelta(days=n) for n in range((end.date() - first).days + 1)]
    return success(data=[{"time": day.isoformat(), "size": size} for day in days])


def campaigns_list(sb: Sandbox, call: Call) -> Answer:
    paging = _paging(call)
    if isinstance(paging, Answer):
        return paging
    page, desc = paging
    archived = call.args.get("include_archived", "false")
    if archived not in ("true", "false"):
        return error(400, f"'include_archived' must be true or false, got {archived!r}")
    edited_after = call.args.get("last_edit.time[gt]")
    after = rules.parse_time(edited_after) if edited_after else None
    if edited_after and after is None:
        return error(400, "'last_edit.time[gt]' must be a time like 2026-01-05T10:00:00")
    with sb.lock:
        chosen = [
            c
            for c in sb.campaigns.values()
            if (archived == "true" or not c["archived"]) and (after is None or c["_edited"] > after)
        ]
        chosen.sort(key=lambda c: c["_order"], reverse=desc)
        return success(campaigns=[campaigns.listing(c) for c in _page(chosen, page)])


def campaigns_details(sb: Sandbox, call: Call) -> Answer:
    campaign_id = call.args.get("campaign_id")
    if not campaign_id:
        return error(400, "'campaign_id' is required")
    with sb.lock:
        campaign = sb.campaigns.get(campaign_id)
        if campaign is None:
            return error(400, f"Could not find campaign with id '{campaign_id}'")
        return success(**campaigns.details(campaign))
