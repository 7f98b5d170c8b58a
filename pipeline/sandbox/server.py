"""The local Braze as a WSGI app, a background-thread server, and the `profilesync sandbox` command.

    with SandboxServer(storage_uri=".demo/braze-exports") as braze:   # picks a free port
        client = BrazeClient(braze.url, api_key=braze.api_key)
        braze.admin.seed(demo_users=100)

Keys: `api_key` is one key with every permission (default `DEMO_API_KEY`, "sandbox-demo-key");
`keys` adds keys with chosen permissions. With keys but no `api_key`, only those keys exist.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from pipeline.sandbox import admin
from pipeline.sandbox.admin_client import SandboxAdmin
from pipeline.sandbox.api import answer_call
from pipeline.sandbox.auth import ApiKey, KeyConfigError, full_access_key, load_keys_file
from pipeline.sandbox.documents import SeedError, read_document
from pipeline.sandbox.http import close_connections, make_threaded_server, start_in_thread
from pipeline.sandbox.seed import apply_seed
from pipeline.sandbox.settings import DEFAULT_SEED, DEMO_API_KEY, READY_LINE
from pipeline.sandbox.state import Sandbox

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False, default=str)
    return Response(data, status=status, headers=headers, mimetype="application/json")


class SandboxApp:
    """WSGI app: the Braze API, and the admin API under `/_sandbox/`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/_sandbox" or request.path.startswith("/_sandbox/"):
            response = self._admin(request)
        else:
            answer = answer_call(self.sandbox, request)
            response = json_response(answer.body, answer.status or 500, answer.headers)
        return response(environ, start_response)

    def _admin(self, request: Request) -> Response:
        if request.remote_addr not in _LOOPBACK:
            return json_response({"message": "the admin API answers on loopback only"}, 403)
        try:
            endpoint, values = admin.ROUTES.bind_to_environ(request.environ).match()
        except NotFound:
            return json_response({"message": f"no admin endpoint {request.path}; see GET /_sandbox/"}, 404)
        except MethodNotAllowed:
            return json_response({"message": f"{request.method} is not allowed on {request.path}"}, 405)
        body = None
        if request.method == "POST":
            data = request.get_data()
            try:
                body = json.loads(data) if data.strip() else {}
            except ValueError:
                return json_response({"message": "admin bodies are JSON; this one does not parse"}, 400)
        try:
            return json_response(admin.dispatch(self.sandbox, endpoint, request.method, body, request.args, values))
        except admin.AdminError as exc:
            return json_response({"message": str(exc)}, exc.status)


class SandboxServer:
    """The sandbox on a loopback port, served from a background thread."""

    def __init__(
        self,
        storage_uri: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        keys: list[ApiKey] | None = None,
        seed_data: Any = None,
        seed: int = DEFAULT_SEED,
    ) -> None:
        all_keys = list(keys or [])
        self.api_key = api_key or (None if keys else DEMO_API_KEY)
        if self.api_key:
            all_keys.insert(0, full_access_key(self.api_key))
        self.sandbox = Sandbox(storage_uri, all_keys, seed)
        if seed_data is not None:
            apply_seed(self.sandbox, seed_data)
        self.host, self.port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started; call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}"

    @property
    def admin(self) -> SandboxAdmin:
        return SandboxAdmin(self.url)

    def start(self) -> SandboxServer:
        self._server = make_threaded_server(self.host, self.port, SandboxApp(self.sandbox))
        self.port = self._server.port
        self._thread = start_in_thread(self._server)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        close_connections(self._server)
        self._server.server_close()
        self.sandbox.exports.shutdown()
        self._server = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    host: str,
    port: int,
    storage_uri: str,
    seed: Path | None = None,
    api_key: str | None = None,
    keys_file: Path | None = None,
) -> None:
    """Run until SIGTERM or SIGINT; print one `listening on` line once serving."""
    try:
        keys = load_keys_file(keys_file) if keys_file else None
        seed_data = read_document(seed) if seed else None
        server = SandboxServer(storage_uri, host=host, port=port, api_key=api_key, keys=keys, seed_data=seed_data)
    except (OSError, SeedError, KeyConfigError) as exc:
        raise SystemExit(f"profilesync sandbox: {exc}") from None
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    server.start()
    print(READY_LINE.format(url=server.url), flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
        sys.stdout.flush()
