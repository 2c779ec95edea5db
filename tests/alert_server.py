"""A local HTTP server that receives apprise's ``json://`` alerts, for tests (127.0.0.1 only)."""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class AlertInbox:
    """Collects each POSTed JSON payload; answers ``status`` (200 unless told otherwise)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                inbox.received.put(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(inbox.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AlertInbox:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return self.received.get(timeout=timeout)

    def until(self, title_prefix: str | tuple[str, ...], timeout: float = 10.0,
              limit: int = 200) -> dict[str, Any]:
        """The first payload whose title starts with ``title_prefix`` (others are skipped)."""
        for _ in range(limit):
            payload = self.next(timeout)
            if str(payload.get("title", "")).startswith(title_prefix):
                return payload
        raise AssertionError(f"no alert titled {title_prefix!r} among {limit}")
