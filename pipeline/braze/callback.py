"""A one-shot HTTP listener for Braze's export callback.

Braze POSTs `{"success": true}` to `callback_endpoint` once every file of a segment export
is written. Waiting for that beats guessing from a quiet bucket, but it needs an address
Braze can reach: loopback for the sandbox, a public URL (proxied here) in production.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CallbackListener:
    """Serves one path on a background thread and records the callbacks it receives."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, public_url: str | None = None) -> None:
        self.received = threading.Event()
        self.bodies: list[dict[str, Any]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {"unparsed": True}
                listener.bodies.append(body if isinstance(body, dict) else {"body": body})
                listener.received.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # keep the run log clean
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        bound_host, bound_port = self._server.server_address[:2]
        self.url = public_url or f"http://{bound_host}:{bound_port}/braze-export-callback"
        self._thread = threading.Thread(target=self._server.serve_forever, name="export-callback", daemon=True)

    @property
    def succeeded(self) -> bool:
        return any(body.get("success") is True for body in self.bodies)

    def __enter__(self) -> CallbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
