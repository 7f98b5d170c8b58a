"""werkzeug's threaded server with HTTP/1.1 keep-alive, quiet logs and real dropped connections.

werkzeug 3.1's handler closes every connection after one answer and logs each request to
stderr. Braze keeps connections alive and clients pool them, so this handler reads exactly the
request body the headers announce, answers with a Content-Length and keeps the connection
open. An app that wants to drop a connection shuts the socket down itself and sets
`environ["sandbox.dropped"]`; the handler then writes nothing and closes.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

IDLE_TIMEOUT_S = 75  # how long an idle keep-alive connection holds its thread
_DRAIN_LIMIT = 1 << 20  # unread body bytes drained to keep a connection; more and it closes
_LINGER_S = 2.0  # how long a closing connection reads what the client still sends


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes; without this a keep-alive peer waits ~40 ms on Nagle.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        stream = None
        if environ.get("wsgi.input_terminated"):  # chunked request: cannot tell where it ends
            self.close_connection = True
        else:
            length = environ.get("CONTENT_LENGTH", "")
            stream = LimitedStream(self.rfile, int(length) if length.isdigit() else 0)
            environ["wsgi.input"] = stream
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return lambda data: None

        try:
            chunks = self.server.app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                getattr(chunks, "close", lambda: None)()
        except Exception as exc:  # a bug in the app must still answer, like werkzeug does
            self.log_error("sandbox error on %s %s: %r", self.command, environ.get("PATH_INFO"), exc)
            answer, body = (
                ["500 INTERNAL SERVER ERROR", [("Content-Type", "application/json")]],
                (b'{"message": "Internal Server Error"}'),
            )
        if environ.get("sandbox.dropped"):
            self.close_connection = True
            return
        status, headers = answer
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        linger = False
        if stream is not None and not stream.is_exhausted:
            if stream.limit - stream.tell() > _DRAIN_LIMIT:  # e.g. a 413: answer first, then close
                self.close_connection = linger = True
            else:
                try:
                    stream.exhaust()
                except Exception:  # the client went away mid-body; do not reuse the connection
                    self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        if linger:
            self._linger()

    def _linger(self) -> None:
        """Read and discard what the client still sends after our answer, so closing with unread
        bytes does not reset the connection before the client has read the answer (a 413)."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_LINGER_S)
            deadline = time.monotonic() + _LINGER_S
            while time.monotonic() < deadline and self.connection.recv(1 << 16):
                pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The request log lives in the sandbox (`/_sandbox/requests`), not on stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:
        # The standard library reports a keep-alive connection left idle for IDLE_TIMEOUT_S as an
        # error; closing it is what the timeout is for (a 1M-user bench printed it for every one).
        if type == "error" and not message.startswith("Request timed out"):
            sys.stderr.write(f"sandbox: {message % args}\n")


def make_threaded_server(host: str, port: int, app: Any) -> BaseWSGIServer:
    """A threaded keep-alive server bound now; `port=0` picks a free port (see `.port`)."""
    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    server.connections = set()  # type: ignore[attr-defined]
    return server


def close_connections(server: BaseWSGIServer) -> None:
    """Shut down idle keep-alive connections so no pooled client reaches a stopped server."""
    for conn in list(server.connections):  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)


def start_in_thread(server: BaseWSGIServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return thread
