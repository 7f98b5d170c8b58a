"""The sandbox's own admin API under `/_sandbox/`: JSON in and out, no key, loopback only.

GET    /_sandbox/                       what this is, counts, config
POST   /_sandbox/reset                  back to the start-up state (users, segments, campaigns,
                                        exports, log, counters, faults, config, keys)
POST   /_sandbox/seed                   a seed document: users, segments, campaigns, demo_users
GET    /_sandbox/users                  {"count", "users": [{"braze_id", "external_id"}]} (?limit=)
POST   /_sandbox/users                  upsert a list of users ({"users": [...]} or a list)
GET    /_sandbox/users/<kind>/<value>   a whole profile; kind: external_id, braze_id, email,
                                        phone, alias (value `label:name`)
GET    /_sandbox/segments               defined segments with their member counts
POST   /_sandbox/segments               define one ({"name", "filter", "id"?, "tags"?,
                                        "description"?, "analytics_tracking_enabled"?}) or
                                        several ({"segments": [...]})
POST   /_sandbox/campaigns              define one or several ({"campaigns": [...]})
GET    /_sandbox/requests?since=N       the request log after sequence number N
GET    /_sandbox/datapoints             data points charged: total, by endpoint, by kind
GET|POST|DELETE /_sandbox/faults        read, replace, clear the faults (see faults.py)
GET|POST /_sandbox/config               read, update the config (see state.Config)
GET|POST /_sandbox/keys                 key names and permissions; add keys
                                        ({"keys": [...], "replace": false})
GET    /_sandbox/exports[/<prefix>]     segment export jobs
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from werkzeug.routing import Map, Rule

from pipeline.sandbox.auth import KeyConfigError, parse_keys
from pipeline.sandbox.faults import FaultSpec
from pipeline.sandbox.seed import SeedError, add_campaign, add_segment, apply_seed, upsert_users
from pipeline.sandbox.segments import matches
from pipeline.sandbox.state import Sandbox

ROUTES = Map(
    [
        Rule("/_sandbox/", endpoint="info", methods=["GET"]),
        Rule("/_sandbox/reset", endpoint="reset", methods=["POST"]),
        Rule("/_sandbox/seed", endpoint="seed", methods=["POST"]),
        Rule("/_sandbox/users", endpoint="users", methods=["GET", "POST"]),
        Rule("/_sandbox/users/<kind>/<path:value>", endpoint="user", methods=["GET"]),
        Rule("/_sandbox/segments", endpoint="segments", methods=["GET", "POST"]),
        Rule("/_sandbox/campaigns", endpoint="campaigns", methods=["GET", "POST"]),
        Rule("/_sandbox/requests", endpoint="requests", methods=["GET"]),
        Rule("/_sandbox/datapoints", endpoint="datapoints", methods=["GET"]),
        Rule("/_sandbox/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
        Rule("/_sandbox/config", endpoint="config", methods=["GET", "POST"]),
        Rule("/_sandbox/keys", endpoint="keys", methods=["GET", "POST"]),
        Rule("/_sandbox/exports", endpoint="exports", methods=["GET"]),
        Rule("/_sandbox/exports/<prefix>", endpoint="export", methods=["GET"]),
    ],
    strict_slashes=False,
)


class AdminError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def dispatch(sb: Sandbox, endpoint: str, method: str, body: Any, args: Any, values: dict[str, str]) -> Any:
    """Run one admin call; returns the JSON answer or raises AdminError."""
    try:
        with sb.lock:
            return _HANDLERS[endpoint](sb, method, body, args, **values)
    except (SeedError, KeyConfigError, ValueError, TypeError) as exc:
        if isinstance(exc, AdminError):
            raise
        raise AdminError(400, str(exc)) from None


def _info(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    return {
        "sandbox": "profilesync local Braze",
        "users": len(sb.users),
        "segments": len(sb.segments),
        "campaigns": len(sb.campaigns),
        "config": _config(sb, "GET", None, args),
    }


def _reset(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    sb.reset()
    return {"message": "reset"}


def _seed(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    return apply_seed(sb, body, "seed")


def _users(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    if method == "POST":
        return upsert_users(sb, body.get("users") if isinstance(body, dict) else body)
    limit = int(args.get("limit", 10_000))
    ids = [{"braze_id": u.braze_id, "external_id": u.external_id} for u in itertools.islice(sb.users, limit)]
    return {"count": len(sb.users), "users": ids}


def _user(sb: Sandbox, method: str, body: Any, args: Any, kind: str, value: str) -> Any:
    if kind == "alias":
        label, _, name = value.partition(":")
        user = sb.users.get_alias(label, name)
    else:
        lookups = {
            "external_id": sb.users.get_external,
            "braze_id": sb.users.by_braze.get,
            "email": sb.users.get_email,
            "phone": sb.users.get_phone,
        }
        if kind not in lookups:
            raise AdminError(400, f"unknown kind {kind!r}; use external_id, braze_id, email, phone or alias")
        user = lookups[kind](value)
    if user is None:
        raise AdminError(404, f"no user with {kind} {value!r}")
    return user.document()


def _segments(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    if method == "POST":
        items = body.get("segments") if isinstance(body, dict) and "segments" in body else [body]
        made = [add_segment(sb, item, f"segments[{i}]") for i, item in enumerate(items)]
        out = [{"id": s.id, "name": s.name} for s in made]
        return out[0] if len(out) == 1 and not (isinstance(body, dict) and "segments" in body) else {"segments": out}
    return {
        "segments": [
            {
                "id": s.id,
                "name": s.name,
                "filter": s.filter,
                "archived": s.archived,
                "tags": s.tags,
                "members": sum(1 for u in sb.users if matches(s.filter, u)),
            }
            for s in sorted(sb.segments.values(), key=lambda s: s.order)
        ]
    }


def _campaigns(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    if method == "POST":
        items = body.get("campaigns") if isinstance(body, dict) and "campaigns" in body else [body]
        return {"campaigns": [{"id": add_campaign(sb, c)["id"], "name": c["name"]} for c in items]}
    return {"campaigns": [{"id": c["id"], "name": c["name"], "archived": c["archived"]} for c in sb.campaigns.values()]}


def _requests(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    since = int(args.get("since", 0))
    return {"last_seq": sb.log.seq, "requests": sb.log.since(since)}


def _datapoints(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    return copy.deepcopy(sb.datapoints)


def _faults(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    if method == "POST":
        sb.faults.set(FaultSpec.parse(body))
    elif method == "DELETE":
        sb.faults.set(FaultSpec())
    return sb.faults.state()


def _config(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    from dataclasses import asdict

    if method == "POST":
        sb.config.update(body)
        sb.set_log_limit()
    return asdict(sb.config)


def _keys(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    if method == "POST":
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise AdminError(400, 'expected {"keys": [{"name", "key", "permissions"}], "replace": false}')
        keys = parse_keys(body["keys"])
        if body.get("replace"):
            sb.keys.clear()
        sb.keys.update({k.key: k for k in keys})
    return {"keys": [k.public() for k in sb.keys.values()]}


def _exports(sb: Sandbox, method: str, body: Any, args: Any) -> Any:
    return {"exports": [job.public() for job in sb.exports.jobs.values()]}


def _export(sb: Sandbox, method: str, body: Any, args: Any, prefix: str) -> Any:
    job = sb.exports.jobs.get(prefix)
    if job is None:
        raise AdminError(404, f"no export with object_prefix {prefix!r}")
    return job.public()


_HANDLERS = {
    "info": _info,
    "reset": _reset,
    "seed": _seed,
    "users": _users,
    "user": _user,
    "segments": _segments,
    "campaigns": _campaigns,
    "requests": _requests,
    "datapoints": _datapoints,
    "faults": _faults,
    "config": _config,
    "keys": _keys,
    "exports": _exports,
    "export": _export,
}
