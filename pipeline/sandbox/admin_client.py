"""`SandboxAdmin`: the sandbox's admin API (`/_sandbox/`) from Python, for tests, demo, benchmarks."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests


class SandboxAdminError(RuntimeError):
    """The admin API refused a call; the message carries its answer."""


class SandboxAdmin:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._session.request(
            method, f"{self.base_url}/_sandbox/{path}", json=body, params=params or None, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise SandboxAdminError(f"{method} /_sandbox/{path}: HTTP {response.status_code}: {response.text}")
        return response.json()

    def info(self) -> dict[str, Any]:
        return self._call("GET", "")

    def reset(self) -> None:
        self._call("POST", "reset")

    def seed(
        self,
        *,
        users: list[dict[str, Any]] | None = None,
        segments: list[dict[str, Any]] | None = None,
        campaigns: list[dict[str, Any]] | None = None,
        demo_users: int = 0,
    ) -> dict[str, int]:
        document: dict[str, Any] = {"users": users or [], "segments": segments or [], "campaigns": campaigns or []}
        if demo_users:
            document["demo_users"] = demo_users
        return self._call("POST", "seed", document)

    def upsert_users(self, users: list[dict[str, Any]]) -> dict[str, int]:
        return self._call("POST", "users", {"users": users})

    def user_count(self) -> int:
        return int(self._call("GET", "users", limit=0)["count"])

    def users(self, limit: int = 10_000) -> list[dict[str, Any]]:
        return self._call("GET", "users", limit=limit)["users"]

    def user(self, kind: str, value: str) -> dict[str, Any] | None:
        """A whole profile by external_id, braze_id, email, phone or alias (`label:name`); None if absent."""
        try:
            return self._call("GET", f"users/{kind}/{quote(value, safe='')}")
        except SandboxAdminError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def define_segment(
        self,
        name: str,
        filter: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        tags: list[str] | None = None,
        description: str = "",
        archived: bool = False,
        analytics_tracking: bool = False,
    ) -> str:
        """Define a segment; returns its id. `analytics_tracking` gives it a size in /segments/data_series."""
        body: dict[str, Any] = {
            "name": name,
            "filter": {"all": []} if filter is None else filter,
            "tags": tags or [],
            "description": description,
            "archived": archived,
            "analytics_tracking_enabled": analytics_tracking,
        }
        if id:
            body["id"] = id
        return self._call("POST", "segments", body)["id"]

    def segments(self) -> list[dict[str, Any]]:
        return self._call("GET", "segments")["segments"]

    def define_campaigns(self, campaigns: list[dict[str, Any]]) -> list[str]:
        return [c["id"] for c in self._call("POST", "campaigns", {"campaigns": campaigns})["campaigns"]]

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", "requests", since=since)["requests"]

    def last_seq(self) -> int:
        return int(self._call("GET", "requests", since=10**12)["last_seq"])

    def datapoints(self) -> dict[str, Any]:
        return self._call("GET", "datapoints")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace every fault (see pipeline/sandbox/faults.py); omitted ones are off."""
        return self._call("POST", "faults", faults)

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")

    def configure(self, **config: Any) -> dict[str, Any]:
        """Update config fields (see pipeline/sandbox/state.py `Config`); returns the whole config."""
        return self._call("POST", "config", config)

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def set_rate_limit(self, endpoint: str, limit: int, window_s: float) -> None:
        """`endpoint` is an API path or "default" (the shared pool)."""
        self.configure(rate_limits={endpoint: {"limit": limit, "window_s": window_s}})

    def add_keys(self, keys: list[dict[str, Any]], replace: bool = False) -> list[dict[str, Any]]:
        return self._call("POST", "keys", {"keys": keys, "replace": replace})["keys"]

    def exports(self) -> list[dict[str, Any]]:
        return self._call("GET", "exports")["exports"]

    def export(self, object_prefix: str) -> dict[str, Any]:
        return self._call("GET", f"exports/{object_prefix}")

    def wait_for_export(self, object_prefix: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the export job leaves `running`; returns the job."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.export(object_prefix)
            if job["status"] != "running":
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"export {object_prefix} still running after {timeout} s")
            time.sleep(0.02)

    def close(self) -> None:
        self._session.close()
