"""The exit codes of the commands that run a day's assets (`run`, `plan`), in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer


@contextmanager
def day_command_exits() -> Iterator[None]:
    """Turn a day command's expected failures into one line on stderr and its exit code: 2 when
    the day or the connections are not ready, 3 while another run holds the day, 1 when the store
    cannot even hold the day's lease."""
    from pipeline.preflight import NotReady
    from pipeline.run_lock import RunLocked
    from pipeline.storage import StorageError

    try:
        yield
    except NotReady as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except RunLocked as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None
    except StorageError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
