"""A relay between HELM and the inference server that measures what the server does under HELM's load.

HELM talks to `http://127.0.0.1:<port>` of the relay, which passes every request on to the inference
container (on its private network) and the answer back unchanged, and records per request: the
endpoint, the status, the wall-clock seconds seen by the evaluator, the `request_time` the server
reported, and the number of tokens generated. From these come requests per second, generated tokens
per second and the p50 / p95 latencies of the report.

Written here, on the standard library's HTTP server and client: it needs to do one thing (forward POST
bodies of at most a few MB and time them) with no dependency in the evaluation path.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MAX_BODY = 64 * 1024 * 1024  # a request or answer larger than this is refused, not relayed


@dataclass(frozen=True)
class Exchange:
    endpoint: str
    status: int  # 0: the server gave no answer
    seconds: float  # wall clock, as the evaluator waited
    request_time: float | None  # as the server reported it
    generated_tokens: int | None  # /process answers: len(tokens)
    ended: float  # monotonic time the answer was back


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (no interpolation): an observed value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def throughput(exchanges: list[Exchange]) -> dict[str, Any]:
    """Requests/s and generated tokens/s over the span from the first request to the last answer, and the
    p50 / p95 latency of /process, by wall clock and by the server's own `request_time`."""
    if not exchanges:
        return {"requests": 0}
    span = max(e.ended for e in exchanges) - min(e.ended - e.seconds for e in exchanges)
    process = [e for e in exchanges if e.endpoint == "/process"]
    tokens = sum(e.generated_tokens or 0 for e in process)
    walls = [e.seconds for e in process]
    reported = [e.request_time for e in process if e.request_time is not None]
    return {
        "requests": len(exchanges),
        "process_requests": len(process),
        "errors": sum(1 for e in exchanges if not 200 <= e.status < 300),
        "span_seconds": round(span, 3),
        "requests_per_second": round(len(exchanges) / span, 3) if span > 0 else None,
        "generated_tokens": tokens,
        "generated_tokens_per_second": round(tokens / span, 3) if span > 0 else None,
        "latency_p50_seconds": _rounded(percentile(walls, 0.5)),
        "latency_p95_seconds": _rounded(percentile(walls, 0.95)),
        "server_time_p50_seconds": _rounded(percentile(reported, 0.5)),
        "server_time_p95_seconds": _rounded(percentile(reported, 0.95)),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class Relay:
    """`with Relay("http://172.18.0.2:80") as relay:` serves on `relay.url` until the block ends."""

    def __init__(self, upstream: str, *, timeout: float = 3000.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the relay forwards to http:// addresses, not {upstream!r}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.timeout = timeout
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="relay", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def measured(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection the evaluator dropped is not an error of ours to print (the default prints a
        traceback on standard error, in the middle of the run's progress)."""


def _handler(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._relay("POST")

        def do_GET(self) -> None:
            self._relay("GET")

        def _relay(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, b'{"detail": "request too large for the relay"}', "application/json")
                return
            body = self.rfile.read(length) if length else None
            started = time.monotonic()
            status, answer, kind = 0, b"", "application/json"
            connection = http.client.HTTPConnection(relay.upstream_host, relay.upstream_port, timeout=relay.timeout)
            try:
                headers = {"Content-Type": self.headers.get("Content-Type") or "application/json"}
                connection.request(method, self.path, body=body, headers=headers)
                response = connection.getresponse()
                status, kind = response.status, response.getheader("Content-Type") or kind
                answer = response.read(MAX_BODY + 1)
                if len(answer) > MAX_BODY:  # passed on cut short, it would be broken JSON: refuse it whole
                    status, kind = 502, "application/json"
                    answer = json.dumps({"detail": f"the inference server's answer is over {MAX_BODY} bytes"}).encode()
            except (OSError, http.client.HTTPException) as exc:
                answer = json.dumps({"detail": f"the inference server gave no answer: {exc}"}).encode()
            finally:
                connection.close()
            seconds = time.monotonic() - started
            relay.record(Exchange(self.path, status, seconds, *_facts(self.path, answer), time.monotonic()))
            self._answer(status or 502, answer, kind)

        def _answer(self, status: int, body: bytes, kind: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the evaluator went away (HELM stopped at its deadline): nobody to answer
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _facts(path: str, answer: bytes) -> tuple[float | None, int | None]:
    try:
        data = json.loads(answer)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    request_time = data.get("request_time")
    seconds = (
        float(request_time) if isinstance(request_time, int | float) and not isinstance(request_time, bool) else None
    )
    tokens = data.get("tokens")
    generated = len(tokens) if path == "/process" and isinstance(tokens, list) else None
    return seconds, generated
