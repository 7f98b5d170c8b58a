"""`python -m assets.app.screenshot [--out assets/docs/lineage.png]`: the README's picture of the lineage.

Starts the Braze sandbox and `dagster-webserver` on free loopback ports with the demo
connection's variables (everything in a temporary folder, nothing ran), opens the asset graph
of the `demo` group in headless Chromium, writes the PNG and stops both. Before the picture,
the page's DOM is read once to make sure every asset of the group is drawn, so a blank or
still-loading page fails instead of ending up in the README. A maintainer's tool, not a test;
it needs Chromium (`apt-get install chromium` on Debian or Ubuntu).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from assets.app.demo import demo_environment
from assets.app.processes import REPO, DagsterProcessError, graphql, start, stop_group, wait_until_serving
from pipeline.sandbox.server import SandboxServer

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
            command = ["dagster-webserver", "-h", "127.0.0.1", "-p", base.rsplit(":", 1)[1], "-w", "workspace.yaml"]
            process = start(command, env, log)
            try:
                wait_until_serving(base, process, log)
                names = [n["assetKey"]["path"][-1] for n in graphql(base, NODES, {"group": group})["assetNodes"]]
                if not names:
                    raise ScreenshotError(f"no assets in group {group!r}; is the location loaded? see {log}")
                graphql(base, "mutation { setNuxSeen }")  # or the community dialog covers the graph
                url = f"{base}/locations/__repository__@{LOCATION}/asset-groups/{group}"
                dom = _chromium(browser, folder / "chromium", size, "--dump-dom", url)
                missing = [name for name in names if name not in dom]
                if missing:
                    raise ScreenshotError(f"the graph at {url} did not render {', '.join(missing)}; try again")
                out.parent.mkdir(parents=True, exist_ok=True)
                _chromium(browser, folder / "chromium", size, f"--screenshot={out.resolve()}", url)
            finally:
                stop_group(process)
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
    except (ScreenshotError, DagsterProcessError) as exc:
        print(f"screenshot failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {len(names)} assets of group {args.group}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
