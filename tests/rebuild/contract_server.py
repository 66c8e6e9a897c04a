"""Inference servers for the probe's tests: real HTTP on 127.0.0.1, an ephemeral port, a thread each.

The reference server keeps the competition's contract with a toy "model": the tokenizer's ids are the
text's UTF-8 bytes, and generation writes lowercase letters chosen by a hash of the prompt (greedy below
temperature 1e-5, seeded by `seed` above it, random without one). Each `Behaviour` flag breaks exactly one
rule of the contract, the way real submissions broke it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import socket
import string
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTEXT_WINDOW = 2048


@dataclass(frozen=True)
class Behaviour:
    logprob_as_string: bool = False  # `logprob` sent as "-1.25"
    ignore_echo: bool = False  # never puts the prompt in the text
    ignore_max_new_tokens: bool = False  # always generates 20 tokens
    random_at_zero_temperature: bool = False  # samples whatever the temperature and seed
    decode_adds_bos: bool = False  # /decode keeps the tokenizer's "<s>" (skip_special_tokens not set)
    max_prompt_tokens: int = CONTEXT_WINDOW  # longer prompts are refused with 400
    crash_on_bad_json: bool = False  # a body that is not JSON makes the handler fail with 500
    drop_on_missing_prompt: bool = False  # a request without prompt gets no answer: the connection closes
    reject_unknown_fields: bool = False  # 422 for HELM's extra fields (pydantic `extra = "forbid"`)
    stringify_prompt: bool = False  # a prompt that is not a string is made one (pydantic v1 did so for numbers)
    token_ids_as_floats: bool = False  # /tokenize answers 84.0 for 84
    fixed_process: bool = False  # /process always answers `process_answer`
    process_answer: Any = None  # JSON; an object gets a request_time if it has none
    redirect_to: str | None = None  # every POST answered 307 to this base URL
    stall_process: float = 0.0  # seconds /process waits before answering
    no_process: bool = False  # POST /process is answered 404, as by a server that lacks the route
    garbage: bool = False  # every request answered 200 with an HTML page
    huge_body: int = 0  # every POST answered 200 with this many bytes


REFERENCE = Behaviour()
"""Keeps the contract."""

PROCESS_FIELDS = {"prompt", "num_samples", "max_new_tokens", "top_k", "temperature", "seed", "echo_prompt"}


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def tokenize(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def generate(prompt: str, count: int, temperature: float, seed: int | None, behaviour: Behaviour) -> str:
    if behaviour.random_at_zero_temperature or (temperature >= 1e-5 and seed is None):
        rng = random.Random()
    else:
        key = prompt if temperature < 1e-5 else f"{prompt}\0{seed}\0{temperature}"
        rng = random.Random(hashlib.sha256(key.encode("utf-8")).digest())
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(count))


class ContractHandler(BaseHTTPRequestHandler):
    behaviour = Behaviour()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows what matters
        pass

    def do_GET(self) -> None:
        self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        behaviour = self.behaviour
        if behaviour.garbage:
            self._send_bytes(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
            return
        if behaviour.huge_body:
            self._send_huge(behaviour.huge_body)
            return
        if behaviour.redirect_to:
            self.send_response(307)
            self.send_header("Location", behaviour.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if behaviour.stall_process and self.path == "/process":
            time.sleep(behaviour.stall_process)
        started = time.perf_counter()
        try:
            # routes first, as FastAPI does: a path it does not serve is a 404 whatever the body
            if self.path not in ("/process", "/tokenize", "/decode") or (
                behaviour.no_process and self.path == "/process"
            ):
                raise _Refused(404, "Not Found")
            try:
                body = json.loads(raw)
            except ValueError:
                if behaviour.crash_on_bad_json:
                    self._send_bytes(500, b"Internal Server Error", "text/plain")
                    return
                raise _Refused(400, "the body is not JSON") from None
            if not isinstance(body, dict):
                raise _Refused(422, "the body is not an object")
            if self.path == "/process":
                if "prompt" not in body and behaviour.drop_on_missing_prompt:
                    self.close_connection = True  # nothing written: the client sees the connection close
                    return
                answer = self._process(body)
            elif self.path == "/tokenize":
                answer = self._tokenize(body)
            else:
                answer = self._decode(body)
        except _Refused as refused:
            self._send(refused.status, {"detail": str(refused)})
            return
        if isinstance(answer, dict):
            answer.setdefault("request_time", time.perf_counter() - started)
        self._send(200, answer)

    def _process(self, body: dict[str, Any]) -> Any:
        behaviour = self.behaviour
        if behaviour.reject_unknown_fields and set(body) - PROCESS_FIELDS:
            raise _Refused(422, f"extra fields not permitted: {sorted(set(body) - PROCESS_FIELDS)}")
        if behaviour.fixed_process:
            return json.loads(json.dumps(behaviour.process_answer))  # a copy
        prompt = body.get("prompt")
        if behaviour.stringify_prompt and "prompt" in body:
            prompt = str(prompt)
        if not isinstance(prompt, str):
            raise _Refused(422, "prompt: field required (a string)")
        max_new_tokens = body.get("max_new_tokens", 50)
        temperature = body.get("temperature", 0.8)
        seed = body.get("seed")
        echo = body.get("echo_prompt")
        if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool):
            raise _Refused(422, "max_new_tokens: an integer")
        if not isinstance(temperature, int | float) or isinstance(temperature, bool):
            raise _Refused(422, "temperature: a number")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise _Refused(422, "seed: an integer or null")
        if len(tokenize(prompt)) > behaviour.max_prompt_tokens:
            raise _Refused(400, f"the prompt is longer than {behaviour.max_prompt_tokens} tokens")
        count = 20 if behaviour.ignore_max_new_tokens else max_new_tokens
        generated = generate(prompt, count, float(temperature), seed, behaviour)
        echoed = bool(echo) and not behaviour.ignore_echo
        pieces = list((prompt if echoed else "") + generated)  # one token per character
        logprob: Any = -0.25 * len(generated)
        tokens = [{"text": piece, "logprob": -0.25, "top_logprob": {piece: -0.25}} for piece in pieces]
        if behaviour.logprob_as_string:
            logprob = str(logprob)
        return {"text": (prompt if echoed else "") + generated, "tokens": tokens, "logprob": logprob}

    def _tokenize(self, body: dict[str, Any]) -> dict[str, Any]:
        text = body.get("text")
        if not isinstance(text, str):
            raise _Refused(422, "text: a string")
        ids = tokenize(text)
        if body.get("truncation", True):
            ids = ids[: int(body.get("max_length", CONTEXT_WINDOW))]
        return {"tokens": [float(i) for i in ids] if self.behaviour.token_ids_as_floats else ids}

    def _decode(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("tokens")
        if not isinstance(ids, list) or not all(isinstance(i, int) and 0 <= i < 256 for i in ids):
            raise _Refused(422, "tokens: a list of byte ids")
        text = bytes(ids).decode("utf-8", errors="replace")
        return {"text": ("<s> " + text) if self.behaviour.decode_adds_bos else text}

    def _send(self, status: int, value: Any) -> None:
        self._send_bytes(status, json.dumps(value).encode("utf-8"), "application/json")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)

    def _send_huge(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b'{"text": "' + b"x" * (1024 * 1024 - 10)
        sent = 0
        with contextlib.suppress(OSError):  # the probe stops reading and closes: that is the point
            while sent < size:
                piece = chunk[: size - sent]
                self.wfile.write(piece)
                sent += len(piece)


@contextlib.contextmanager
def serve(behaviour: Behaviour = REFERENCE) -> Iterator[str]:
    """A server with `behaviour` on 127.0.0.1; yields its base URL."""
    with serve_handler(type("Handler", (ContractHandler,), {"behaviour": behaviour})) as url:
        yield url


@contextlib.contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Any request handler, served on 127.0.0.1 from a thread until the block ends; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def serve_not_http() -> Iterator[str]:
    """A TCP server that answers every connection with a line that is not HTTP, then closes it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection, contextlib.suppress(OSError):
                connection.recv(65536)
                connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
