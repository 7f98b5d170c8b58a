"""A connection on the sandbox and moto, run through Dagster's own materialisation."""

from __future__ import annotations

import gzip
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
from conftest import SandboxHandle, make_bucket

from assets.app.run import RunSummary, run_day
from assets.build import group_assets
from assets.resources import connection_resources
from pipeline.mapping import Connection, load_connection_file
from pipeline.profiles import Snapshot, find_profile, read_snapshot
from pipeline.storage import ObjectStore, open_store

FAST_WAIT = "export_quiet_period_s: 1, export_poll_interval_s: 1, export_timeout_s: 60"


class ImportHarness:
    def __init__(self, sandbox: SandboxHandle, folder: Path) -> None:
        self.sandbox = sandbox
        self.folder = folder
        self.bucket = make_bucket()
        self.instance = dg.DagsterInstance.ephemeral()

    @property
    def root(self) -> str:
        return f"s3://{self.bucket}/profiles"

    @property
    def store(self) -> ObjectStore:
        return open_store(self.root)

    def connection(
        self, imports: str, name: str = "acme", extra: str = "", exports: str = "", wait: str = FAST_WAIT
    ) -> Connection:
        text = textwrap.dedent(
            f"""\
            connection: {name}
            schedule: "0 3 * * *"
            start_date: "2026-11-01"
            braze: {{rest_endpoint: "{self.sandbox.url}", api_key: "${{BRAZE_API_KEY}}", {wait}}}
            storage: {{root: "{self.root}", braze_exports: "s3://{self.sandbox.bucket}"}}
            """
        ) + extra + "import:\n" + textwrap.indent(textwrap.dedent(imports), "  ")
        if exports:
            text += "export:\n" + textwrap.indent(textwrap.dedent(exports), "  ")
        path = self.folder / f"{name}.yaml"
        path.write_text(text)
        return load_connection_file(path)

    def run(self, day: str, *connections: Connection) -> RunSummary:
        (summary,) = run_day(day, list(connections), self.instance)
        return summary

    def materialize(self, day: str, connection: Connection, steps: set[str]) -> dg.ExecuteInProcessResult:
        """Only the named steps (e.g. {"segment_export"}), for tests that act between steps."""
        assets = group_assets([connection])
        return dg.materialize(
            assets,
            selection=[a.key for a in assets if a.key.path[-1] in steps],
            partition_key=day,
            instance=self.instance,
            resources=connection_resources(connection),
            raise_on_error=False,
        )

    def snapshot(self, day: str) -> Snapshot:
        snapshot = read_snapshot(self.store, day)
        assert snapshot is not None, f"no snapshot for {day}"
        return snapshot

    def profile(self, day: str, kind: str, value: str) -> dict[str, Any]:
        found = find_profile(self.snapshot(day), kind, value)
        assert found is not None, f"no profile with {kind}={value} on {day}"
        return found

    def track(self, *attributes: dict[str, Any]) -> None:
        with self.sandbox.client() as client:
            result = client.track(attributes=list(attributes))
        assert result.rejected == [], result.rejected

    def tamper_export(self, day_manifest: dict[str, Any], extra_lines: list[bytes]) -> None:
        """Append raw lines to the first export file, as a broken writer would."""
        exports = open_store(f"s3://{self.sandbox.bucket}")
        key = day_manifest["files"][0]["key"]
        lines = gzip.decompress(exports.read_bytes(key)) + b"".join(line + b"\n" for line in extra_lines)
        exports.write_bytes(key, gzip.compress(lines))


def step(summary: RunSummary, name: str) -> dict[str, Any]:
    """The metadata of the step whose key ends with `name`."""
    (found,) = [s.metadata for s in summary.steps if s.key.endswith(name)]
    return found
