"""The `profilesync` command line: the things a connector's UI dropdowns do elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assets.app.day_exits import day_command_exits
from assets.app.plan_cli import plan
from assets.app.undo import undo

if TYPE_CHECKING:
    from pipeline.mapping import Connection
    from pipeline.storage import ObjectStore

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 8765,
    storage: Annotated[str, typer.Option(help="Where segment exports go: folder or s3://bucket/prefix.")] = (
        ".demo/braze-exports"
    ),
    seed: Annotated[Path | None, typer.Option(help="JSON/YAML file of users, segments, campaigns.")] = None,
    api_key: Annotated[str | None, typer.Option(help="One key with every permission.")] = None,
    keys: Annotated[Path | None, typer.Option(help="JSON/YAML file of keys with chosen permissions.")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind; keep it on loopback.")] = "127.0.0.1",
) -> None:
    """Run the local Braze: the REST contract of the real one, exports into your store."""
    from pipeline.sandbox.server import serve

    serve(host=host, port=port, storage_uri=storage, seed=seed, api_key=api_key, keys_file=keys)


@app.command()
def check(
    connection: Annotated[
        str | None, typer.Option(help="Test this connection file's endpoint, key and stores instead of the variables.")
    ] = None,
    braze_endpoint: Annotated[
        str | None, typer.Option(envvar="BRAZE_REST_ENDPOINT", help="Braze REST endpoint URL.")
    ] = None,
    storage: Annotated[
        str | None, typer.Option(envvar="PROFILESYNC_STORAGE_ROOT", help="Profile store: folder or s3://.")
    ] = None,
    braze_exports: Annotated[
        str | None, typer.Option(envvar="PROFILESYNC_BRAZE_EXPORTS", help="Where Braze writes segment exports.")
    ] = None,
) -> None:
    """Test the connection: each Braze permission, the S3 buckets, read and write access.

    The API key is read from BRAZE_API_KEY (or the variable the connection file names).
    Exits non-zero when any check fails.
    """
    from pipeline.check import check_connection, check_settings
    from pipeline.console import print_checks
    from pipeline.storage import StorageError

    try:
        if connection:
            chosen = [c for c in _connections_or_exit() if c.name == connection]
            uris = [u for c in chosen for u in (c.storage.root, c.storage.braze_exports)]
            results = check_connection(connection, _s3_client(uris))
        else:
            stores = {"Profile store": storage, "Export bucket": braze_exports}
            results = check_settings(braze_endpoint, None, stores, s3_client=_s3_client(list(stores.values())))
    except StorageError as exc:  # no S3 client can be built from the AWS variables
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    print_checks(results)
    if any(r.status == "FAIL" for r in results):
        raise typer.Exit(1)


@app.command()
def validate(
    folder: Annotated[
        Path | None, typer.Option(help="Folder of connection files; default $PROFILESYNC_MAPPINGS or mappings/.")
    ] = None,
) -> None:
    """Check every connection file; each error names file:line:column and the fix.

    Also checks what the files point at here: the key variables are set, local storage roots are folders.
    """
    from pipeline.mapping import mappings_folder, validate_folder

    target = folder or mappings_folder()
    try:
        errors = validate_folder(target, environment=True)
    except FileNotFoundError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for error in errors:
        typer.echo(str(error), err=True)
    if errors:
        typer.echo(f"{len(errors)} error(s) in {target}", err=True)
        raise typer.Exit(1)
    files = sorted(target.glob("*.yaml"))
    typer.echo(f"{len(files)} connection file(s) in {target} are valid")
    from pipeline.mapping import load_connections
    from pipeline.mapping.echo_rules import left_out_notes

    for note in left_out_notes(load_connections(target)):
        typer.echo(f"note: {note}")


@app.command()
def schema() -> None:
    """Regenerate mappings/schema.json, the JSON Schema editors use to complete connection files."""
    from pipeline.mapping import write_schema

    typer.echo(f"wrote {write_schema()}")


@app.command()
def run(
    date: Annotated[str | None, typer.Option("--date", help="Day to run, YYYY-MM-DD; default today (UTC).")] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask Braze for new segment exports even if the day has them.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait while another run holds the day.")] = False,
    override_budget: Annotated[
        bool, typer.Option("--override-budget", help="Push even where the forecast is over a goal's budget.")
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Plain log lines instead of progress bars on a terminal.")
    ] = False,
) -> None:
    """Materialise every asset of every enabled connection for one day, through Dagster.

    One run at a time per profile store and day: another one exits with 3 naming the holder.
    A push over its goal's budget sends nothing and fails, unless --override-budget (recorded in runs).
    """
    from pipeline.preflight import parse_day

    with day_command_exits():
        day = parse_day(date) if date is not None else None
        from assets.app.run import run_and_report  # the one command that needs Dagster itself

        succeeded = run_and_report(
            day, refresh=refresh, wait=wait, override_budget=override_budget, progress=not no_progress
        )
    if not succeeded:
        raise typer.Exit(1)


@app.command()
def runs(
    connection: Annotated[str | None, typer.Option(help="Only this connection's runs.")] = None,
    last: Annotated[int, typer.Option(min=1, help="How many runs, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Recent runs and what they did, newest first, from each connection's run history (runs/)."""
    from pipeline.console import print_runs
    from pipeline.mapping import mappings_folder
    from pipeline.runs import list_runs
    from pipeline.storage import StorageError

    connections = _connections_or_exit()
    chosen = [c for c in connections if connection in (None, c.name)]
    if not chosen:
        names = ", ".join(c.name for c in connections)
        problem = f"no connection named {connection!r}" if connection else f"no connection files in {mappings_folder()}"
        typer.echo(f"{problem}; the connections are: {names or 'none (set PROFILESYNC_MAPPINGS)'}", err=True)
        raise typer.Exit(2)
    from assets.app.run import fail_dead_runs_in_home  # a killed run shows as failed, not missing

    records = []
    try:
        fail_dead_runs_in_home(connections)
        for c in chosen:
            records += list_runs(_store(c.storage.root), connection=c.name, last=last)
    except StorageError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    records.sort(key=lambda r: r.ended_at, reverse=True)
    print_runs(records[:last], as_json=as_json)


app.command()(plan)  # assets/app/plan_cli.py: what the next push would send, without sending it

profiles_app = typer.Typer(no_args_is_help=True, help="Read the profile store.")
app.add_typer(profiles_app, name="profiles")


@profiles_app.command("show")
def profiles_show(
    identifier: Annotated[str, typer.Argument(help="KIND=VALUE, e.g. external_id=u1 or email=a@example.com.")],
    date: Annotated[str | None, typer.Option("--date", help="Snapshot day; default the latest.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    connection: Annotated[str | None, typer.Option(help="Whose store to read; default the first.")] = None,
) -> None:
    """One profile, its identifiers and properties as of a day's snapshot."""
    from pipeline.console import print_profile
    from pipeline.preflight import NotReady, parse_day
    from pipeline.profile_lookup import ProfileLookupError, lookup
    from pipeline.storage import StorageError

    kind, sep, value = identifier.partition("=")
    if not sep or not kind or not value:
        typer.echo(f"{identifier!r} is not KIND=VALUE; write e.g. external_id=u1", err=True)
        raise typer.Exit(2)
    try:
        day = parse_day(date) if date is not None else None
    except NotReady as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    _connections_or_exit()
    try:
        day, profile = lookup(kind, value, day=day, connection=connection, open_at=_store)
    except (ProfileLookupError, StorageError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    print_profile(day, profile, as_json=as_json)


@app.command()
def demo(
    folder: Annotated[Path, typer.Option(help="Where the demo keeps its store and exports.")] = Path(".demo"),
) -> None:
    """Run the main job on embedded defaults: a local folder as object store, the Braze sandbox."""
    from assets.app.demo import run_demo

    if not run_demo(folder):
        raise typer.Exit(1)


app.command()(undo)  # its own module: assets/app/undo.py


def _s3_client(uris: list[str | None]) -> object | None:
    """The client of the same dagster-aws S3Resource the assets use, when any of `uris` is s3://.

    Built only then: it imports Dagster, which a local-folder command need not wait for."""
    if not any(uri and uri.startswith("s3://") for uri in uris):
        return None
    from assets.resources import s3_resource, shared_client

    return shared_client(s3_resource())


def _store(uri: str) -> ObjectStore:
    """The store at `uri`, s3:// through the S3Resource (as the assets reach it)."""
    from pipeline.storage import open_store

    return open_store(uri, s3_client=_s3_client([uri]))


def _connections_or_exit() -> list[Connection]:
    """The connections, or else what is wrong with the folder or the files and the fix, and exit code 2."""
    from pipeline.preflight import NotReady, loaded_connections

    try:
        return loaded_connections()
    except NotReady as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app(prog_name="profilesync")  # the same name however it started: console script or `python -m`


if __name__ == "__main__":  # `python -m assets.app.cli`
    main()
