"""`python -m assets.screenshot [--out assets/docs/lineage.png]`: the README's picture of the lineage.

Starts the Braze sandbox and `dagster-webserver` on free loopback ports with the demo
connection's variables (everything in a temporary folder, nothing ran), opens the asset graph
of the `demo` group in headless Chromium, writes the PNG and stops both. Before the picture,
the page's DOM is read once to make sure every asset of the group is drawn, so a blank or
still-loading page fails instead of ending up in the README. A maintainer's tool, not a test;
it needs Chromium (`apt-get install chromium` on Debian or Ubuntu).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from assets.demo import demo_environment
from pipeline.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "assets" / "docs" / "lineage.png"
LOCATION = "profilesync"
FLAGS = [  # no network beyond loopback, no first-run pages, virtual time so the graph can lay out
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
    "--virtual-time-budget=15000",
]  # fmt: skip
NODES = """query ($group: String!) { assetNodes(group: {groupName: $group, repositoryName: "__repository__",
  repositoryLocationName: "profilesync"}) { assetKey { path } } }"""


class ScreenshotError(RuntimeError):
    pass


def find_chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    raise ScreenshotError(
        "Chromium is not installed: install it with `apt-get install chromium` (Debian/Ubuntu), "
        "or set CHROMIUM to the browser's path"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    body = requests.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=30).json()
    if body.get("errors"):
        raise ScreenshotError(f"GraphQL error from the webserver: {body['errors']}")
    return body["data"]


def _wait_until_serving(base: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ScreenshotError(f"dagster-webserver exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.ConnectionError):
            requests.get(f"{base}/server_info", timeout=1)
            return
        time.sleep(0.2)
    raise ScreenshotError(f"dagster-webserver did not answer at {base} within {timeout} s; see {log}")


def _stop(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM to the webserver's process group (its code server too), SIGKILL what is left after `grace`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(process):
        time.sleep(0.1)
    if _group_alive(process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _group_alive(process: subprocess.Popen) -> bool:
    """Whether any process of the group still runs; zombies waiting for a reaper do not count."""
    process.poll()  # reap the leader
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: any member, zombie or not
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(group) == process.pid and state != "Z":
                return True
    return False


def _chromium(browser: str, profile: Path, size: str, *args: str) -> str:
    command = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise ScreenshotError(f"chromium exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def take(out: Path, group: str = "demo", size: str = "1600,900") -> list[str]:
    """Write the PNG of `group`'s asset graph to `out`; returns the asset names it shows."""
    browser = find_chromium()
    with tempfile.TemporaryDirectory(prefix="profilesync-screenshot-") as tmp:
        folder = Path(tmp)
        with SandboxServer(str(folder / "braze-exports"), seed_data={"demo_users": 100}) as sandbox:
            env = {**os.environ, **demo_environment(folder, sandbox.url)}
            home = Path(env["DAGSTER_HOME"])
            home.mkdir(parents=True)
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            base, log = f"http://127.0.0.1:{_free_port()}", folder / "webserver.log"
            with log.open("wb") as output:
                process = subprocess.Popen(
                    [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1",
                     "-p", base.rsplit(":", 1)[1], "-w", "workspace.yaml"],
                    cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            try:
                _wait_until_serving(base, process, log)
                names = [n["assetKey"]["path"][-1] for n in _graphql(base, NODES, {"group": group})["assetNodes"]]
                if not names:
                    raise ScreenshotError(f"no assets in group {group!r}; is the location loaded? see {log}")
                _graphql(base, "mutation { setNuxSeen }")  # or the community dialog covers the graph
                url = f"{base}/locations/__repository__@{LOCATION}/asset-groups/{group}"
                dom = _chromium(browser, folder / "chromium", size, "--dump-dom", url)
                missing = [name for name in names if name not in dom]
                if missing:
                    raise ScreenshotError(f"the graph at {url} did not render {', '.join(missing)}; try again")
                out.parent.mkdir(parents=True, exist_ok=True)
                _chromium(browser, folder / "chromium", size, f"--screenshot={out.resolve()}", url)
            finally:
                _stop(process)
    if not out.exists() or out.stat().st_size == 0:
        raise ScreenshotError(f"chromium wrote no screenshot to {out}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG to write (default {DEFAULT_OUT})")
    parser.add_argument("--group", default="demo", help="asset group to show (default demo)")
    parser.add_argument("--window-size", default="1600,900", help="browser window, WIDTH,HEIGHT")
    args = parser.parse_args(argv)
    try:
        names = take(args.out, args.group, args.window_size)
    except ScreenshotError as exc:
        print(f"screenshot failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {len(names)} assets of group {args.group}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
