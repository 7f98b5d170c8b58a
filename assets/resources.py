"""Resources: Braze and the object stores, configured per connection.

The API key reaches the resource through `dg.EnvVar`, so the UI shows the variable's name,
never its value, and nothing reads it before a run starts.
"""

from __future__ import annotations

import dagster as dg

from pipeline.braze import BrazeClient
from pipeline.mapping import Connection
from pipeline.storage import ObjectStore, open_store


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


class StoreResource(dg.ConfigurableResource):
    """An object store by URI: a local folder or s3://bucket/prefix."""

    uri: str

    def store(self) -> ObjectStore:
        return open_store(self.uri)


def braze_key(connection: Connection) -> str:
    return f"{connection.name}_braze"


def store_key(connection: Connection) -> str:
    return f"{connection.name}_store"


def exports_key(connection: Connection) -> str:
    return f"{connection.name}_braze_exports"


def connection_resources(connection: Connection) -> dict[str, dg.ConfigurableResource]:
    return {
        braze_key(connection): BrazeResource(
            rest_endpoint=connection.braze.rest_endpoint,
            api_key=dg.EnvVar(connection.braze.api_key_env),
            api_key_env=connection.braze.api_key_env,
            request_timeout_s=connection.braze.request_timeout_s,
        ),
        store_key(connection): StoreResource(uri=connection.storage.root),
        exports_key(connection): StoreResource(uri=connection.storage.braze_exports),
    }
