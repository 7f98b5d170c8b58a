"""Constants of the local Braze: keys, permissions, default limits and sizes."""

from __future__ import annotations

DEMO_API_KEY = "sandbox-demo-key"  # not a secret: the README names it
READY_LINE = "profilesync sandbox listening on {url}"

# Permission each endpoint needs (reference section 1.3).
PERMISSION_BY_ENDPOINT = {
    "/users/track": "users.track",
    "/users/export/segment": "users.export.segment",
    "/users/export/ids": "users.export.ids",
    "/export/segment/cancel": "segments.list",
    "/segments/list": "segments.list",
    "/segments/details": "segments.details",
    "/segments/data_series": "segments.data_series",
    "/campaigns/list": "campaigns.list",
    "/campaigns/details": "campaigns.details",
}
ALL_PERMISSIONS = frozenset(
    {
        *PERMISSION_BY_ENDPOINT.values(),
        "users.track.bulk",
        "users.track.sync",
        "users.delete",
        "users.alias.new",
        "users.alias.update",
        "users.identify",
        "users.merge",
        "users.external_ids.rename",
        "users.external_ids.remove",
        "users.export.global_control_group",
    }
)

# Fixed windows per pool (reference section 2.1). Endpoints without a pool of their own share
# "default"; configuring a limit for such an endpoint's path gives it a pool of its own.
DEFAULT_POOL = "default"
DEFAULT_RATE_LIMITS: dict[str, dict[str, float]] = {
    "/users/track": {"limit": 3000, "window_s": 3},
    "/users/export/ids": {"limit": 250, "window_s": 60},
    DEFAULT_POOL: {"limit": 250_000, "window_s": 3600},
}

DEFAULT_USERS_PER_FILE = 5000
MAX_CONCURRENT_EXPORTS = 100  # per company (reference section 4)
REQUEST_LOG_LIMIT = 10_000  # entries kept; older ones are dropped
DEFAULT_SEED = 20260101
JSON_BODY_ENDPOINTS = frozenset(
    {"/users/track", "/users/export/segment", "/users/export/ids", "/export/segment/cancel"}
)
