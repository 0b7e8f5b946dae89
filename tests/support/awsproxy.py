"""A small HTTP proxy between boto3 and the moto server, to count and to break AWS calls.

meshprov's ``endpoint_url`` points at the proxy; every request is an EC2 query-protocol POST
whose form body names its ``Action``. The proxy records each action, then asks ``policy``
what to do with the n-th call of that action (n counts from 1):

- ``"pass"``: forward to moto and return its answer;
- ``"throttle"``: answer 400 ``RequestLimitExceeded`` without forwarding;
- ``"unavailable"``: answer 503 without forwarding;
- ``"drop"``: forward to moto (the change happens) and close the connection without an
  answer: the "lost response" that makes the client retry a call that already took effect.

It runs in a daemon thread on 127.0.0.1, forwards with a timeout and is stopped by ``close``.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

THROTTLED = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n<Response><Errors><Error>"
    b"<Code>RequestLimitExceeded</Code><Message>slow down</Message>"
    b"</Error></Errors><RequestID>proxy</RequestID></Response>"
)
UNAVAILABLE = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n<Response><Errors><Error>"
    b"<Code>Unavailable</Code><Message>try again</Message>"
    b"</Error></Errors><RequestID>proxy</RequestID></Response>"
)
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}

Policy = Callable[[str, int], str]


def passthrough(_action: str, _n: int) -> str:
    return "pass"


class FaultProxy:
    """``url`` is what meshprov's endpoint_url should be; ``calls`` lists the actions seen."""

    def __init__(self, upstream: str, policy: Policy = passthrough):
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.policy = policy
        self.calls: list[str] = []
        self.outcomes: list[tuple[str, str]] = []
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset(self, policy: Policy = passthrough) -> None:
        """Forget the calls seen and follow ``policy`` from now on (by default, pass all)."""
        with self._lock:
            self.calls.clear()
            self.outcomes.clear()
            self._seen.clear()
            self.policy = policy

    def mutating_calls(self) -> list[str]:
        return [a for a in self.calls if not a.startswith("Describe")]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _decide(self, action: str) -> str:
        with self._lock:
            self.calls.append(action)
            self._seen[action] += 1
            decision = self.policy(action, self._seen[action])
            self.outcomes.append((action, decision))
            return decision

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
                decision = proxy._decide(action)
                if decision == "throttle":
                    self._answer(400, THROTTLED)
                    return
                if decision == "unavailable":
                    self._answer(503, UNAVAILABLE)
                    return
                status, headers, payload = self._forward(body)
                if decision == "drop":
                    self.close_connection = True
                    return
                self._answer(status, payload, headers)

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS
                    }
                    conn.request("POST", self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    kept = [
                        (k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS
                    ]
                    return response.status, kept, payload
                finally:
                    conn.close()

            def _answer(
                self, status: int, payload: bytes, headers: list[tuple[str, str]] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in headers or [("Content-Type", "text/xml")]:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
