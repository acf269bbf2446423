"""A real HTTP receiver on 127.0.0.1 whose answers a test scripts."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec


class Received(msgspec.Struct):
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP server on 127.0.0.1. ``script`` holds the statuses to answer with, in order
    (then 200); every request that got a 2xx is in ``delivered``, every request in ``received``."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.received: list[Received] = []
        self.delivered: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.lock:
                    status, extra = receiver.script.pop(0) if receiver.script else (200, {})
                    receiver.received.append(got)
                    if 200 <= status < 300:
                        receiver.delivered.append(got)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                reply = b'{"ok": true}' if status < 300 else b"not now"
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def answer(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.script.extend((s, headers or {}) for s in statuses)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
