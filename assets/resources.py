"""Resources: Braze and the object stores, configured per connection.

The API key reaches the resource through `dg.EnvVar`, so the UI shows the variable's name,
never its value, and nothing reads it before a run starts.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import dagster as dg
from botocore import UNSIGNED
from botocore.config import Config
from dagster_aws.s3 import S3Resource
from pydantic import Field

from pipeline.braze import BrazeClient
from pipeline.mapping import Connection
from pipeline.storage import ObjectStore, open_store
from pipeline.storage.s3 import CONNECT_TIMEOUT_S, MAX_ATTEMPTS, READ_TIMEOUT_S, build_client, client_config


class BrazeResource(dg.ConfigurableResource):
    """Braze REST access for one connection."""

    rest_endpoint: str
    api_key: str
    api_key_env: str = "BRAZE_API_KEY"  # the variable's name, for messages about the key (never its value)
    max_retries: int = 4
    request_timeout_s: float = 30.0

    def client(self) -> BrazeClient:
        return BrazeClient(
            self.rest_endpoint,
            self.api_key,
            max_retries=self.max_retries,
            api_key_env=self.api_key_env,
            timeout=self.request_timeout_s,
        )


class ObjectStoreS3Resource(S3Resource):
    """dagster-aws's `S3Resource` whose client also carries the object store's timeouts.

    `S3Resource.get_client` configures retries only; a stalled endpoint would hang a run for
    botocore's default 60 s per read, retried. The client is built with the engine's
    `client_config`, the one place the retries and timeouts are defined."""

    max_attempts: int = Field(default=MAX_ATTEMPTS, description="Retries per S3 call after the first (botocore).")
    connect_timeout_s: float = Field(default=CONNECT_TIMEOUT_S, description="Seconds to open a connection.")
    read_timeout_s: float = Field(default=READ_TIMEOUT_S, description="Seconds to wait for an answer's bytes.")

    def get_client(self) -> Any:
        config = client_config(self.max_attempts, self.connect_timeout_s, self.read_timeout_s)
        if self.use_unsigned_session:
            config = config.merge(Config(signature_version=UNSIGNED))
        return build_client(
            config=config,
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            profile_name=self.profile_name,
            use_ssl=self.use_ssl,
            verify=self.verify,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
        )


def s3_resource() -> ObjectStoreS3Resource:
    """S3 access (endpoint, region, retries, timeouts) from the standard AWS variables, shown on
    the UI's resources page. Credentials are left to boto3's own chain (`AWS_ACCESS_KEY_ID`,
    profiles, instance roles), so no secret ever sits in resource config."""
    return ObjectStoreS3Resource(
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
    )


class StoreResource(dg.ConfigurableResource):
    """An object store by URI: a local folder or s3://bucket/prefix, reached through the `s3` resource."""

    uri: str
    s3: S3Resource

    def store(self) -> ObjectStore:
        return open_store(self.uri, s3_client=shared_client(self.s3) if self.uri.startswith("s3://") else None)


# Variables boto3's credential chain reads: a client keeps the credentials it was built with,
# so a change of any of them must build a new one.
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
_clients: dict[tuple[str, tuple[str | None, ...]], Any] = {}
_clients_lock = threading.Lock()


def shared_client(s3: S3Resource) -> Any:
    """One client per S3 configuration and credentials in a process. Building one loads
    botocore's service model (1-2 s of CPU), and every step opens its stores; boto3 clients are
    thread-safe, so the steps of a run and the runs of a process share it."""
    key = (repr(sorted(s3.model_dump().items())), tuple(os.environ.get(v) for v in _CREDENTIAL_VARIABLES))
    with _clients_lock:
        if key not in _clients:
            _clients[key] = s3.get_client()
        return _clients[key]


def store_at(uri: str, s3: S3Resource | None = None) -> ObjectStore:
    """The store at `uri` as the assets see it: s3:// through the S3 resource's client. For entry
    points (the CLI, run history, sensors) that need a store outside an asset."""
    return StoreResource(uri=uri, s3=s3 or s3_resource()).store()


def braze_key(connection: Connection) -> str:
    return f"{connection.name}_braze"


def store_key(connection: Connection) -> str:
    return f"{connection.name}_store"


def exports_key(connection: Connection) -> str:
    return f"{connection.name}_braze_exports"


S3_KEY = "s3"


def connection_resources(connection: Connection, s3: S3Resource | None = None) -> dict[str, dg.ConfigurableResource]:
    s3 = s3 or s3_resource()
    return {
        S3_KEY: s3,
        braze_key(connection): BrazeResource(
            rest_endpoint=connection.braze.rest_endpoint,
            api_key=dg.EnvVar(connection.braze.api_key_env),
            api_key_env=connection.braze.api_key_env,
            request_timeout_s=connection.braze.request_timeout_s,
        ),
        store_key(connection): StoreResource(uri=connection.storage.root, s3=s3),
        exports_key(connection): StoreResource(uri=connection.storage.braze_exports, s3=s3),
    }
