"""The connection test a CDP's "authenticate" step does, as plain results.

Each Braze permission is probed with a call that changes nothing: an empty `/users/track`
or export body is refused with 400 when the key holds the permission and with 403 when it
does not. Storage is probed by listing, and by writing and deleting one small object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.braze import BrazeClient
from pipeline.braze.errors import BrazeAuthError, BrazeError, BrazePermissionError, BrazeValidationError
from pipeline.storage import StorageError, open_store, split_uri

Status = Literal["OK", "FAIL", "SKIP"]
_PROBE_ID = "profilesync-connection-check"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    fix: str = ""


def _probes(client: BrazeClient) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("users.track", lambda: client.post("/users/track", {"attributes": []})),
        ("users.export.segment", lambda: client.post("/users/export/segment", {})),
        ("segments.list", lambda: client.get("/segments/list", {"page": 0})),
        ("segments.details", lambda: client.segment_details(_PROBE_ID)),
        ("segments.data_series", lambda: client.segment_size(_PROBE_ID)),
        ("campaigns.list", lambda: client.get("/campaigns/list", {"page": 0})),
        ("campaigns.details", lambda: client.campaign_details(_PROBE_ID)),
    ]


def check_braze(client: BrazeClient) -> Iterator[CheckResult]:
    """One result per permission the connector needs; stops early when the key is refused."""
    for permission, probe in _probes(client):
        name = f"Braze permission {permission}"
        try:
            probe()
            yield CheckResult(name, "OK", "granted")
        except BrazeValidationError:
            yield CheckResult(name, "OK", "granted (probe body refused as expected)")
        except BrazePermissionError as exc:
            yield CheckResult(name, "FAIL", f"denied: {exc.braze_message}", exc.fix)
        except BrazeAuthError as exc:
            yield CheckResult("Braze API key", "FAIL", f"refused: {exc.braze_message}", exc.fix)
            return
        except BrazeError as exc:
            yield CheckResult(name, "FAIL", exc.braze_message, exc.fix)


def check_buckets(uris: list[str], s3_client: Any = None) -> Iterator[CheckResult]:
    """The buckets the AWS credentials can list, as other tools' dropdowns show them.

    `s3_client`: the S3 client to ask (the CLI passes its S3Resource's); default the engine's own."""
    if not any(split_uri(uri)[0] == "s3" for uri in uris):
        yield CheckResult("S3 buckets", "SKIP", "no s3:// location configured")
        return
    from pipeline.storage.s3 import list_buckets

    try:
        names = list_buckets(s3_client)
    except StorageError as exc:
        yield CheckResult("S3 buckets", "FAIL", str(exc), "grant s3:ListAllMyBuckets, or ignore if not needed")
        return
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    yield CheckResult("S3 buckets", "OK", f"{len(names)} listable: {shown}" if names else "none listable")


def check_store(label: str, uri: str, s3_client: Any = None) -> Iterator[CheckResult]:
    """Whether `uri` can be listed (readable) and written to (writable), through `s3_client` for s3://."""
    try:
        store = open_store(uri, s3_client)
        next(iter(store.list("")), None)
        yield CheckResult(f"{label} readable", "OK", uri)
    except StorageError as exc:
        yield CheckResult(f"{label} readable", "FAIL", str(exc), "check the URI and the credentials' read access")
    key = f".profilesync-check/{uuid.uuid4().hex}"
    try:
        store = open_store(uri, s3_client)
        store.write_bytes(key, b"profilesync connection check\n")
        ok = store.read_bytes(key) == b"profilesync connection check\n"
        store.delete(key)
        yield CheckResult(f"{label} writable", "OK" if ok else "FAIL", uri, "" if ok else "read-back differed")
    except (StorageError, OSError) as exc:
        yield CheckResult(f"{label} writable", "FAIL", str(exc), "grant write access (s3:PutObject, s3:DeleteObject)")


def run_checks(client: BrazeClient | None, stores: dict[str, str], s3_client: Any = None) -> list[CheckResult]:
    results = list(check_braze(client)) if client else []
    results += check_buckets(list(stores.values()), s3_client)
    for label, uri in stores.items():
        results += check_store(label, uri, s3_client)
    return results


def check_settings(
    endpoint: str | None,
    api_key: str | None,
    stores: dict[str, str | None],
    api_key_env: str = "BRAZE_API_KEY",
    s3_client: Any = None,
) -> list[CheckResult]:
    """Every check for an endpoint (key from `api_key` or the variable `api_key_env`) and the named
    stores, s3:// ones through `s3_client` (the CLI's S3Resource client)."""
    results: list[CheckResult] = []
    client = None
    if not endpoint:
        results.append(CheckResult("Braze endpoint", "FAIL", "not configured", "set BRAZE_REST_ENDPOINT"))
    else:
        try:
            client = BrazeClient(endpoint, api_key, max_retries=2, api_key_env=api_key_env)
        except BrazeAuthError as exc:  # no key, or one a header cannot hold: the message never shows it
            results.append(CheckResult("Braze API key", "FAIL", exc.braze_message, exc.fix))
        except (ValueError, RuntimeError) as exc:
            results.append(CheckResult("Braze endpoint", "FAIL", str(exc), "set BRAZE_REST_ENDPOINT and BRAZE_API_KEY"))
    results += run_checks(client, {name: uri for name, uri in stores.items() if uri}, s3_client)
    if client is not None:
        client.close()
    return results


def check_connection(name: str, s3_client: Any = None) -> list[CheckResult]:
    """The checks for one connection file: its endpoint, the key its variable holds, its stores."""
    from pipeline.mapping import SecretNotSet, load_connections

    connections = {c.name: c for c in load_connections()}
    if name not in connections:
        known = ", ".join(sorted(connections)) or "none"
        return [CheckResult(f"connection {name}", "FAIL", "no such connection", f"use one of: {known}")]
    connection = connections[name]
    try:
        api_key = connection.braze.read_api_key()
    except SecretNotSet as exc:  # unset, or holding characters no key has (SecretInvalid)
        return [CheckResult("Braze API key", "FAIL", str(exc), f"set {connection.braze.api_key_env}")]
    stores = {"Profile store": connection.storage.root, "Export bucket": connection.storage.braze_exports}
    return check_settings(connection.braze.rest_endpoint, api_key, stores, connection.braze.api_key_env, s3_client)
