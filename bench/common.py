"""What several bench scripts need alike: a process's own peak memory, and a sandbox process."""

from __future__ import annotations

import resource
import select
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and
    execve, so a child measured that way reports at least what its parent held when it started."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@contextmanager
def sandbox_process(command: str, storage: str, api_key: str, *extra: str) -> Iterator[tuple[str, int]]:
    """`profilesync sandbox` in its own process (its own memory and CPU, as Braze is another
    machine); yields (url, pid) once it listens, and stops it afterwards."""
    process = subprocess.Popen(
        [command, "sandbox", "--port", "0", "--storage", storage, "--api-key", api_key, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 120)
        line = process.stdout.readline() if ready else ""
        if "listening on " not in line:
            raise SystemExit(f"the sandbox did not start: {line!r}")
        yield line.split("listening on ", 1)[1].strip(), process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
