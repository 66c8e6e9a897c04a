"""Does a running inference server keep the competition's API contract, as HELM's HTTP client uses it?

`probe(base_url)` sends real requests to `POST /process`, `/tokenize` and `/decode` and returns a
`ProbeReport`: one `CheckResult` per named check (passed, failed or skipped with its reason; a failure
carries the request sent and an excerpt of the answer), whether the server answered at all, and the
latency of every answered request. `ProbeReport.findings()` turns the failures into findings (RA040-RA047,
`rebuild.issues`). The CLI (`repro-audit probe URL`) and the eval stage both call `probe`.

The contract, from the competition's sample servers and HELM's `HTTPModelClient`:

- `POST /process` `{"prompt", "num_samples", "max_new_tokens", "top_k", "temperature", "seed",
  "echo_prompt"}`, to which HELM adds `num_return_sequences`, `top_p`, `top_k_per_token` and
  `stop_sequences` (servers must ignore them), answered by `{"text": str, "tokens": [{"text": str,
  "logprob": number, "top_logprob": {str: number}}], "logprob": number, "request_time": number}`;
- `POST /tokenize` `{"text", "truncation", "max_length"}` answered by `{"tokens": [int], "request_time"}`;
- `POST /decode` `{"tokens": [int]}` answered by `{"text": str, "request_time"}`;
- a 2048-token context window, and temperature 0 sent as 1e-7.

Every /process request is built as HELM builds it (`helm_request`), so a server that rejects HELM's extra
fields fails here as it would in the evaluation.

HTTP goes through one `requests.Session` (requests already comes with the Docker SDK): it keeps the
connection between the probe's requests, takes separate connect and read timeouts, and does not follow
redirects when told (`allow_redirects=False`), where urllib would need a custom opener for each of these
and raises for every 4xx/5xx. The session ignores the environment (`trust_env=False`): a proxy variable
or a ~/.netrc must not reroute the probe of a local container or add credentials to it. Answers are read
as a stream and at most `RESPONSE_LIMIT` bytes of each are kept; nothing a server sends can raise out of
`probe`: no answer, a dropped connection, a body that is not JSON or is too large are all results.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import time
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from audit import __version__
from audit.issues import StageIssue
from audit.model import Finding
from audit.secrets.guard import guard
from rebuild import issues
from rebuild.relay import percentile

CONTEXT_WINDOW = 2048
"""Tokens a prompt and its generation may take together, in the competition."""
HELM_ZERO_TEMPERATURE = 1e-7
"""What HELM sends for temperature 0 (greedy decoding)."""
RESPONSE_LIMIT = 1024 * 1024
"""Bytes of an answer that are read; a longer answer is not read further and counts as malformed."""
EXCERPT_CHARS = 300
"""Characters of an answer's body kept in a failed check's excerpt."""
DEFAULT_TIMEOUT = 60.0

CheckStatus = Literal["passed", "failed", "skipped"]


class ProbeUrlError(ValueError):
    """The base URL cannot be probed (no http(s) scheme, no host...); the message says what to give."""


@dataclass(frozen=True)
class CheckResult:
    """One named check of the contract. `request` and `response_excerpt` are set when it failed."""

    name: str  # stable, kebab-case: "process-shape", "echo-prompt"...
    title: str  # what the check expects, in a few words
    status: CheckStatus
    detail: str  # why it failed or was skipped, or what passed
    request: dict[str, Any] | None = None  # {"method", "path", "body"}: long strings abbreviated
    response_excerpt: str | None = None  # "HTTP 500: {...}" or "no answer: ...", through the secret guard

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "request": self.request,
            "response_excerpt": self.response_excerpt,
        }


class LatencySample(NamedTuple):
    """One answered request (HTTP 200): wall-clock seconds seen here and the server's own `request_time`."""

    endpoint: str  # "/process", "/tokenize", "/decode"
    seconds: float
    request_time: float | None  # None when the answer had no numeric request_time


@dataclass(frozen=True)
class LatencySummary:
    requests: int
    p50_seconds: float | None
    p95_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "p50_seconds": self.p50_seconds, "p95_seconds": self.p95_seconds}


@dataclass(frozen=True)
class ProbeReport:
    url: str
    reachable: bool  # False: no HTTP answer at all; then `checks` is empty and `error` says why
    error: str | None
    checks: tuple[CheckResult, ...] = ()
    samples: tuple[LatencySample, ...] = ()

    @property
    def passed(self) -> bool:
        """Every check passed. A skipped check was not verified, so it does not pass."""
        return self.reachable and all(check.status == "passed" for check in self.checks)

    def check(self, name: str) -> CheckResult:
        return next(check for check in self.checks if check.name == name)

    def latency(self, endpoint: str | None = None) -> LatencySummary:
        """Percentiles (nearest rank) of the answered requests' wall-clock seconds, of one endpoint or all."""
        seconds = sorted(s.seconds for s in self.samples if endpoint is None or s.endpoint == endpoint)
        return LatencySummary(len(seconds), percentile(seconds, 0.50), percentile(seconds, 0.95))

    def document(self) -> dict[str, Any]:
        """The versioned JSON document of the report (`reports.probe_report` renders it)."""
        endpoints = dict.fromkeys(sample.endpoint for sample in self.samples)
        return {
            "schema_version": DOCUMENT_VERSION,
            "url": self.url,
            "reachable": self.reachable,
            "passed": self.passed,
            "error": self.error,
            "checks": [check.to_dict() for check in self.checks],
            "latency": {
                **self.latency().to_dict(),
                "by_endpoint": {endpoint: self.latency(endpoint).to_dict() for endpoint in endpoints},
            },
        }

    def findings(self, path: str = ".", *, target: str | None = None) -> list[Finding]:
        """One finding per failed check (RA041-RA047), or RA040 when the server never answered. `path` and
        `target` place them in an entry (the inference Dockerfile)."""
        if not self.reachable:
            message = f"{self.url} gave no HTTP answer: {self.error}"
            return [issues.API_UNREACHABLE.finding(message, path, target=target, evidence=self.error)]
        found = []
        for check in self.checks:
            if check.status != "failed":
                continue
            evidence = _evidence(check.request, check.response_excerpt)
            found.append(
                ISSUE_OF_CHECK[check.name].finding(
                    f"{check.title}: {check.detail}", path, target=target, evidence=evidence
                )
            )
        return found


def check_url(url: str) -> str:
    """The base URL to probe, without a trailing slash; `ProbeUrlError` when it is not http(s)://HOST[:PORT]."""
    hint = "give the server's base URL, such as http://127.0.0.1:8080"
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # reading it raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ProbeUrlError(f"URL {url!r} cannot be read ({exc}): {hint}") from None
    if parts.scheme not in ("http", "https"):
        raise ProbeUrlError(f"URL {url!r} is not http:// or https://: {hint}")
    if not parts.hostname:
        raise ProbeUrlError(f"URL {url!r} names no host: {hint}")
    if parts.username is not None or parts.password is not None:
        raise ProbeUrlError(f"URL {url!r} holds credentials, which the contract has no use for: {hint}")
    if parts.query or parts.fragment:
        raise ProbeUrlError(f"URL {url!r} has a query or fragment: {hint}")
    return url.strip().rstrip("/")


def helm_request(
    prompt: str,
    *,
    max_new_tokens: int,
    echo_prompt: bool = False,
    temperature: float = HELM_ZERO_TEMPERATURE,
    seed: int | None = None,
) -> dict[str, Any]:
    """A /process body as HELM's HTTPModelClient builds it (its defaults: one completion, top_p 1, one
    top logprob per token, no stop sequence), with `seed` added when given."""
    body: dict[str, Any] = {
        "prompt": prompt,
        "temperature": temperature,
        "num_return_sequences": 1,
        "max_new_tokens": max_new_tokens,
        "top_p": 1,
        "echo_prompt": echo_prompt,
        "top_k_per_token": 1,
        "stop_sequences": [],
    }
    if seed is not None:
        body["seed"] = seed
    return body


DOCUMENT_VERSION = 1

MALFORMED = ("malformed-not-json", "malformed-missing-prompt", "malformed-wrong-type")
"""The checks that may bring a fragile server down: the eval stage runs them after HELM."""


def probe(base_url: str, *, timeout: float = DEFAULT_TIMEOUT, only: Collection[str] | None = None) -> ProbeReport:
    """Check the server at `base_url` against the contract (`only`: these checks, each with the checks it
    needs). `timeout` bounds each request (to connect, to start answering, and to send its body). Raises
    `ProbeUrlError` for a URL that cannot be probed, and nothing for anything the server does."""
    base = check_url(base_url)
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    with _session() as session:
        client = _Client(session, base, timeout)
        hello = client.send("GET", "/", None)
        if hello.status is None:
            return ProbeReport(base, False, guard(hello.error or "no answer"))
        prober = _Prober(client)
        checks = prober.run(only)
        return ProbeReport(base, True, None, checks, tuple(client.samples))


def post_json(base_url: str, path: str, body: dict[str, Any], *, timeout: float) -> tuple[Any, str | None]:
    """One POST with the probe's care (no proxy, no redirect, bounded read, every failure a value): the
    JSON of an HTTP 200 answer and None, or None and why there is none."""
    with _session() as session:
        return _Client(session, check_url(base_url), timeout).post(path, body).answer(200)


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # the server is on a private network or this machine: never through a proxy
    session.headers.update({"User-Agent": f"repro-audit/{__version__} probe", "Accept-Encoding": "identity"})
    return session


# ---- talking to the server ----------------------------------------------------------------------------

_NOT_JSON = b'{"prompt": "a body cut short'
"""The body of the malformed-not-json check: JSON that ends in the middle of a string."""


@dataclass(frozen=True)
class _Exchange:
    """One request and what came back of it, whatever that was."""

    method: str
    path: str
    sent: Any  # the JSON body sent, or the raw text of a body that is not JSON
    status: int | None  # None: no HTTP answer
    body: bytes = b""
    too_large: bool = False  # the body went on past RESPONSE_LIMIT and was not read further
    error: str | None = None  # why there was no (complete) answer
    seconds: float = 0.0
    location: str | None = None  # of a redirect, which is never followed
    value: Any = None  # the body parsed as JSON, when `json_problem` is None
    json_problem: str | None = None

    def answer(self, expected: int = 200) -> tuple[Any, str | None]:
        """The parsed JSON body of an answer with status `expected`, or why there is none."""
        if self.status is None:
            return None, f"no answer: {self.error}"
        if self.error is not None:
            return None, f"HTTP {self.status}, then {self.error}"
        if self.status != expected:
            where = f" (a redirect to {self.location!r}, not followed)" if self.location else ""
            return None, f"HTTP {self.status}{where}, expected {expected}"
        if self.json_problem is not None:
            return None, self.json_problem
        return self.value, None

    def request(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": _abbreviated(self.sent)}

    def excerpt(self) -> str:
        if self.status is None:
            return guard(f"no answer: {self.error}")
        head = f"HTTP {self.status}"
        if self.location:
            head += f" redirect to {_printable(self.location)[:200]}"
        text = _printable(self.body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace"))
        if text:
            more = len(text) > EXCERPT_CHARS or len(self.body) > EXCERPT_CHARS * 4 or self.too_large
            head += f": {text[:EXCERPT_CHARS]}" + ("…" if more else "")
        if self.too_large:
            head += f" (body longer than {RESPONSE_LIMIT} bytes, not read further)"
        if self.error:
            head += f" ({self.error})"
        return guard(head)


class _Client:
    """Sends the probe's requests: one session, no redirects, bounded reads, every failure a value."""

    def __init__(self, session: requests.Session, base: str, timeout: float) -> None:
        self.session = session
        self.base = base
        self.timeout = timeout
        self.samples: list[LatencySample] = []

    def post(self, path: str, body: dict[str, Any]) -> _Exchange:
        return self.send("POST", path, body)

    def send(self, method: str, path: str, body: Any, *, raw: bytes | None = None) -> _Exchange:
        """`body` is sent as JSON, unless `raw` bytes are given (sent as they are, still labelled JSON)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode("utf-8"))
        headers = {"Content-Type": "application/json"} if data is not None else {}
        started = time.monotonic()
        status: int | None = None
        location: str | None = None
        chunks = bytearray()
        too_large = False
        error: str | None = None
        try:
            with self.session.request(
                method,
                self.base + path,
                data=data,
                headers=headers,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                status = response.status_code
                location = response.headers.get("Location") if response.is_redirect else None
                # A read timeout applies to each read, so a server trickling bytes is stopped by this deadline.
                deadline = started + self.timeout
                for chunk in response.iter_content(64 * 1024):
                    chunks += chunk
                    if len(chunks) > RESPONSE_LIMIT:
                        too_large = True
                        del chunks[RESPONSE_LIMIT:]
                        break
                    if time.monotonic() > deadline:
                        error = f"the answer was not complete within {self.timeout:g} s"
                        break
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
            ValueError,
        ) as exc:
            # Whatever the server does (refuse, reset, answer garbage, stall) ends up here as a value.
            error = _describe(exc, self.timeout)
        seconds = time.monotonic() - started
        body_read = bytes(chunks)
        value, json_problem = _json_of(body_read, too_large)
        if status == 200 and error is None and path != "/":
            request_time = value.get("request_time") if isinstance(value, dict) else None
            self.samples.append(LatencySample(path, seconds, _seconds(request_time)))
        return _Exchange(
            method=method,
            path=path,
            sent=raw.decode("utf-8", errors="replace") if raw is not None else body,
            status=status,
            body=body_read,
            too_large=too_large,
            error=error,
            seconds=seconds,
            location=location,
            value=value,
            json_problem=json_problem,
        )


def _json_of(body: bytes, too_large: bool) -> tuple[Any, str | None]:
    """The body parsed as JSON, or why it cannot be."""
    if too_large:
        return None, f"the answer is longer than {RESPONSE_LIMIT} bytes"
    if not body.strip():
        return None, "the answer has an empty body"
    try:
        return json.loads(body), None
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, an integer too long, nesting too deep
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return None, f"the answer is not JSON ({reason})"


def _describe(exc: BaseException, timeout: float) -> str:
    """Why a request got no (complete) answer, in a few words."""
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeout:g} s"
    if isinstance(exc, requests.ReadTimeout | urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return f"no answer within {timeout:g} s"
    # requests wraps urllib3's errors, which wrap the socket's: the innermost one says what happened
    cause: BaseException = exc
    for _depth in range(8):
        inner = getattr(cause, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in reversed(getattr(cause, "args", ())) if isinstance(a, BaseException)), None)
        if inner is None:
            break
        cause = inner
    if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
        return "connection refused"
    if isinstance(cause, socket.gaierror) or "failed to resolve" in str(cause).lower():
        return "the host name does not resolve"
    if isinstance(cause, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(cause, ConnectionResetError):
        return "the server reset the connection"
    if isinstance(cause, http.client.IncompleteRead) or isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the server closed the connection in the middle of its answer"
    if isinstance(cause, http.client.BadStatusLine | http.client.LineTooLong):
        return "the server's answer is not HTTP"
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1][:200]}" if text else type(cause).__name__


# ---- the checks -----------------------------------------------------------------------------------------

SHAPE_PROMPT = "The capital of France is"
ROUNDTRIP_TEXT = "The quick brown fox jumps over the lazy dog, 42 times."
ECHO_PROMPT = "Please repeat this sentence exactly, word for word, as it is written here."
LIMIT_PROMPT = "Write a very long story about a lighthouse keeper and the storms of one winter:"
LIMIT_TOKENS = 5
DETERMINISM_PROMPT = "Once upon a time, in a small village by the sea,"
DETERMINISM_SEED = 1234
FILLER = "The committee read every submission carefully and wrote down what it found there. "
"""Repeated to build a prompt of a given length (the context-window check)."""
MAX_FILLER_CHARS = 1 << 18
"""A tokenizer that counts fewer tokens than the context window in this many characters is not measured."""


@dataclass(frozen=True)
class ContractCheck:
    """A named check: what it expects, the issue its failure is, and the checks it needs to have passed."""

    name: str
    title: str
    issue: StageIssue
    needs: tuple[str, ...] = ()


CHECKS: tuple[ContractCheck, ...] = (
    ContractCheck("process-shape", "/process answers in the contract's shape", issues.API_RESPONSE_SHAPE),
    ContractCheck("tokenize-shape", "/tokenize answers in the contract's shape", issues.API_RESPONSE_SHAPE),
    ContractCheck(
        "decode-shape", "/decode answers in the contract's shape", issues.API_RESPONSE_SHAPE, ("tokenize-shape",)
    ),
    ContractCheck(
        "tokenize-roundtrip",
        "/decode of /tokenize gives the text back",
        issues.API_TOKENIZE_ROUNDTRIP,
        ("tokenize-shape", "decode-shape"),
    ),
    ContractCheck("echo-prompt", "echo_prompt is honoured", issues.API_ECHO_PROMPT, ("process-shape",)),
    ContractCheck("max-new-tokens", "max_new_tokens is respected", issues.API_MAX_NEW_TOKENS, ("process-shape",)),
    ContractCheck(
        "deterministic",
        "temperature 1e-7 gives the same text twice",
        issues.API_NONDETERMINISTIC,
        ("process-shape",),
    ),
    ContractCheck(
        "context-window",
        f"a {CONTEXT_WINDOW}-token prompt is accepted",
        issues.API_CONTEXT_WINDOW,
        ("process-shape", "tokenize-shape"),
    ),
    # Last: a malformed request may bring the server down, and nothing should depend on it staying up.
    ContractCheck("malformed-not-json", "a body that is not JSON gets a 4xx", issues.API_MALFORMED_REQUEST),
    ContractCheck("malformed-missing-prompt", "a request without prompt gets a 4xx", issues.API_MALFORMED_REQUEST),
    ContractCheck("malformed-wrong-type", "a prompt that is not a string gets a 4xx", issues.API_MALFORMED_REQUEST),
)
"""Every check, in the order they run and are shown."""

ISSUE_OF_CHECK: dict[str, StageIssue] = {check.name: check.issue for check in CHECKS}


def _with_needs(names: Collection[str]) -> set[str]:
    """`names` and every check they need, transitively."""
    needs = {check.name: check.needs for check in CHECKS}
    unknown = sorted(set(names) - set(needs))
    if unknown:
        raise ValueError(f"no such check: {', '.join(unknown)}")
    wanted, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(needs[name])
    return wanted


class _Outcome(NamedTuple):
    status: CheckStatus
    detail: str
    exchange: _Exchange | None = None  # the request that shows the failure
    excerpt: str | None = None  # instead of the exchange's own excerpt (two answers compared)


def _passed(detail: str) -> _Outcome:
    return _Outcome("passed", detail)


def _failed(detail: str, exchange: _Exchange, excerpt: str | None = None) -> _Outcome:
    return _Outcome("failed", detail, exchange, excerpt)


def _skipped(detail: str) -> _Outcome:
    return _Outcome("skipped", detail)


class _Prober:
    """Runs `CHECKS` in order against one server; a check whose needs did not pass is skipped."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.shape_token_ids: list[int] = []  # what /tokenize gave in tokenize-shape, for decode-shape
        self.decoded: _Exchange | None = None  # decode-shape's answer, for tokenize-roundtrip
        self.runners: dict[str, Callable[[], _Outcome]] = {
            "process-shape": self.process_shape,
            "tokenize-shape": self.tokenize_shape,
            "decode-shape": self.decode_shape,
            "tokenize-roundtrip": self.tokenize_roundtrip,
            "echo-prompt": self.echo_prompt,
            "max-new-tokens": self.max_new_tokens,
            "deterministic": self.deterministic,
            "context-window": self.context_window,
            "malformed-not-json": self.malformed_not_json,
            "malformed-missing-prompt": self.malformed_missing_prompt,
            "malformed-wrong-type": self.malformed_wrong_type,
        }

    def run(self, only: Collection[str] | None = None) -> tuple[CheckResult, ...]:
        results: dict[str, CheckResult] = {}
        wanted = _with_needs(only) if only is not None else None
        for check in CHECKS:
            if wanted is not None and check.name not in wanted:
                continue
            unmet = [name for name in check.needs if results[name].status != "passed"]
            outcome = _skipped(f"needs {', '.join(unmet)} to pass first") if unmet else self.runners[check.name]()
            results[check.name] = _result(check, outcome)
        return tuple(results.values())

    # -- shapes

    def process_shape(self) -> _Outcome:
        exchange = self.client.post("/process", helm_request(SHAPE_PROMPT, max_new_tokens=8))
        value, problem = exchange.answer()
        problems = [problem] if problem else _process_problems(value)
        if problems:
            return _failed(_joined(problems), exchange)
        return _passed(f"{len(value['tokens'])} token(s) with text, logprob and top_logprob")

    def tokenize_shape(self) -> _Outcome:
        exchange = self._tokenize(ROUNDTRIP_TEXT)
        value, problem = exchange.answer()
        problems = [problem] if problem else _tokenize_problems(value)
        if problems:
            return _failed(_joined(problems), exchange)
        self.shape_token_ids = list(value["tokens"])
        return _passed(f"{len(self.shape_token_ids)} token id(s) for a {len(ROUNDTRIP_TEXT)}-character sentence")

    def decode_shape(self) -> _Outcome:
        exchange = self.client.post("/decode", {"tokens": self.shape_token_ids})
        value, problem = exchange.answer()
        problems = [problem] if problem else _decode_problems(value)
        if problems:
            return _failed(_joined(problems), exchange)
        self.decoded = exchange
        return _passed("text and request_time")

    # -- behaviour

    def tokenize_roundtrip(self) -> _Outcome:
        """Compares what decode-shape got back (the decode of tokenize-shape's ids) with the sentence."""
        exchange = self.decoded
        if exchange is None:  # decode-shape is a need of this check: it passed, so it kept its answer
            return _skipped("decode-shape kept no answer")
        text = str(exchange.value["text"])
        # a leading space is how SentencePiece marks a word start; it is not part of the text HELM meant
        if text == ROUNDTRIP_TEXT or text.strip() == ROUNDTRIP_TEXT:
            return _passed(f"{len(self.shape_token_ids)} token(s) decode to the same text")
        hint = ""
        if ROUNDTRIP_TEXT in text:
            hint = " (the text is there with something added: special tokens such as <s> kept by the decode?)"
        return _failed(f"decoded to {_quoted(text)} instead of {_quoted(ROUNDTRIP_TEXT)}{hint}", exchange)

    def echo_prompt(self) -> _Outcome:
        echoed = self.client.post("/process", helm_request(ECHO_PROMPT, max_new_tokens=LIMIT_TOKENS, echo_prompt=True))
        text, failure = _text_of(echoed, "with echo_prompt true")
        if failure is not None:
            return failure
        # Compared with whitespace squashed: tokenizers may change spacing when they decode the prompt.
        if not _squashed(text).startswith(_squashed(ECHO_PROMPT)):
            return _failed(f"with echo_prompt true the text does not start with the prompt: {_quoted(text)}", echoed)
        plain = self.client.post("/process", helm_request(ECHO_PROMPT, max_new_tokens=LIMIT_TOKENS, echo_prompt=False))
        text, failure = _text_of(plain, "with echo_prompt false")
        if failure is not None:
            return failure
        # The prompt is far longer than the tokens asked for, so the generated text alone cannot hold it.
        if _squashed(text).startswith(_squashed(ECHO_PROMPT)):
            return _failed(f"with echo_prompt false the text starts with the prompt: {_quoted(text)}", plain)
        return _passed("the prompt is in the text with echo_prompt true, and only then")

    def max_new_tokens(self) -> _Outcome:
        exchange = self.client.post("/process", helm_request(LIMIT_PROMPT, max_new_tokens=LIMIT_TOKENS))
        value, problem = exchange.answer()
        if problem is None and not (isinstance(value, dict) and isinstance(value.get("tokens"), list)):
            problem = "the answer has no `tokens` list"
        if problem is not None:
            return _failed(f"with max_new_tokens {LIMIT_TOKENS}: {problem}", exchange)
        count = len(value["tokens"])
        if count > LIMIT_TOKENS:
            return _failed(f"asked for at most {LIMIT_TOKENS} new tokens, got {count}", exchange)
        return _passed(f"asked for at most {LIMIT_TOKENS} new tokens, got {count}")

    def deterministic(self) -> _Outcome:
        body = helm_request(DETERMINISM_PROMPT, max_new_tokens=16, seed=DETERMINISM_SEED)
        first = self.client.post("/process", body)
        text_one, failure = _text_of(first, "the first time")
        if failure is not None:
            return failure
        second = self.client.post("/process", body)
        text_two, failure = _text_of(second, "the second time")
        if failure is not None:
            return failure
        if text_one != text_two:
            excerpt = guard(f"first: {_quoted(text_one)}; second: {_quoted(text_two)}")
            return _failed("the same request gave two different texts", second, excerpt)
        return _passed(f"the same {len(text_one)}-character text twice")

    def context_window(self) -> _Outcome:
        budget = CONTEXT_WINDOW - 1  # max_new_tokens 1: the prompt may take every other position
        measured = self._prompt_of_tokens(budget)
        if isinstance(measured, _Outcome):
            return measured
        prompt, tokens = measured
        exchange = self.client.post("/process", helm_request(prompt, max_new_tokens=1))
        value, problem = exchange.answer()
        problems = [problem] if problem else _process_problems(value)
        if problems:
            return _failed(f"a {tokens}-token prompt with max_new_tokens 1: {_joined(problems)}", exchange)
        return _passed(f"a {tokens}-token prompt (as /tokenize counts) with max_new_tokens 1 was answered")

    # -- malformed requests

    def malformed_not_json(self) -> _Outcome:
        return _client_error(self.client.send("POST", "/process", None, raw=_NOT_JSON))

    def malformed_missing_prompt(self) -> _Outcome:
        body = helm_request("", max_new_tokens=LIMIT_TOKENS)
        del body["prompt"]
        return _client_error(self.client.post("/process", body))

    def malformed_wrong_type(self) -> _Outcome:
        # A list: pydantic (v1 and v2 alike) turns no list into a string, where v1 would turn 42 into "42".
        body = helm_request("", max_new_tokens=LIMIT_TOKENS)
        body["prompt"] = ["not", "a", "string"]
        return _client_error(self.client.post("/process", body))

    # -- helpers

    def _tokenize(self, text: str) -> _Exchange:
        # HELM's TokenizationRequest defaults: no truncation, max_length 2048
        return self.client.post("/tokenize", {"text": text, "truncation": False, "max_length": CONTEXT_WINDOW})

    def _prompt_of_tokens(self, budget: int) -> tuple[str, int] | _Outcome:
        """The longest prefix of repeated filler text that /tokenize counts at most `budget` tokens in, and
        its count: lengths doubled until past the budget, then bisected to the character. Measured by the
        server's own tokenizer, whatever it is. A skip when /tokenize cannot measure it."""

        def text(length: int) -> str:
            return (FILLER * (length // len(FILLER) + 1))[:length]

        def count(length: int) -> int | _Outcome:
            exchange = self._tokenize(text(length))
            value, problem = exchange.answer()
            problems = [problem] if problem else _tokenize_problems(value)
            if problems:
                return _skipped(f"/tokenize could not measure a prompt ({_joined(problems)})")
            return len(value["tokens"])

        low, low_count, high = 0, 0, 256
        while True:
            counted = count(high)
            if isinstance(counted, _Outcome):
                return counted
            if counted > budget:
                break
            low, low_count, high = high, counted, high * 2
            if high > MAX_FILLER_CHARS:
                return _skipped(f"/tokenize counts {counted} tokens in {low} characters: no prompt of {budget}")
        while high - low > 1:
            middle = (low + high) // 2
            counted = count(middle)
            if isinstance(counted, _Outcome):
                return counted
            if counted <= budget:
                low, low_count = middle, counted
            else:
                high = middle
        if low == 0:
            return _skipped(f"/tokenize counts more than {budget} tokens in one character")
        return text(low), low_count


def _result(check: ContractCheck, outcome: _Outcome) -> CheckResult:
    exchange = outcome.exchange if outcome.status == "failed" else None
    excerpt = outcome.excerpt or (exchange.excerpt() if exchange is not None else None)
    return CheckResult(
        check.name,
        check.title,
        outcome.status,
        guard(outcome.detail),
        exchange.request() if exchange is not None else None,
        excerpt,
    )


def _client_error(exchange: _Exchange) -> _Outcome:
    if exchange.status is None:
        return _failed(f"no answer: {exchange.error}", exchange)
    if exchange.status in (404, 405):  # a refusal of the path, not of the request: nothing was checked
        return _skipped(f"HTTP {exchange.status}: there is no POST /process to refuse the request")
    if 400 <= exchange.status < 500:
        return _passed(f"HTTP {exchange.status}")
    if exchange.status >= 500:
        return _failed(f"HTTP {exchange.status}: the request crashed the handler instead of being refused", exchange)
    return _failed(f"HTTP {exchange.status}: the malformed request was not refused", exchange)


def _text_of(exchange: _Exchange, when: str) -> tuple[str, _Outcome | None]:
    value, problem = exchange.answer()
    if problem is None and not (isinstance(value, dict) and isinstance(value.get("text"), str)):
        problem = "the answer has no `text` string"
    if problem is not None:
        return "", _failed(f"{when}: {problem}", exchange)
    return str(value["text"]), None


# ---- the shapes of the answers -----------------------------------------------------------------------


def _process_problems(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"the answer is {_kind(value)}, expected an object"]
    problems = _fields(value, "", {"text": _is_str, "logprob": _is_number, "request_time": _is_number})
    tokens = value.get("tokens")
    if not isinstance(tokens, list):
        problems.append(_wrong("tokens", tokens, "an array"))
        return problems
    for index, token in enumerate(tokens):
        where = f"tokens[{index}]"
        if not isinstance(token, dict):
            problems.append(_wrong(where, token, "an object"))
            continue
        problems += _fields(token, f"{where}.", {"text": _is_str, "logprob": _is_number})
        top = token.get("top_logprob")
        if not isinstance(top, dict):
            problems.append(_wrong(f"{where}.top_logprob", top, "an object"))
            continue
        problems += [
            _wrong(f"{where}.top_logprob[{json.dumps(key)}]", number, "a number")
            for key, number in top.items()
            if not _is_number(number)
        ]
    return problems


def _tokenize_problems(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"the answer is {_kind(value)}, expected an object"]
    problems = _fields(value, "", {"request_time": _is_number})
    tokens = value.get("tokens")
    if not isinstance(tokens, list):
        problems.append(_wrong("tokens", tokens, "an array of integers"))
    else:
        problems += [_wrong(f"tokens[{i}]", t, "an integer") for i, t in enumerate(tokens) if not _is_int(t)]
    return problems


def _decode_problems(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"the answer is {_kind(value)}, expected an object"]
    return _fields(value, "", {"text": _is_str, "request_time": _is_number})


def _fields(value: dict[str, Any], prefix: str, expected: dict[str, Callable[[Any], bool]]) -> list[str]:
    return [
        _wrong(prefix + name, value.get(name, _MISSING), _EXPECTED[test])
        for name, test in expected.items()
        if not test(value.get(name, _MISSING))
    ]


_MISSING = object()


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    # JSON has one number type: 3 and 3.0 are both numbers; true is not (Python's bool is an int)
    return isinstance(value, int | float) and not isinstance(value, bool)


_EXPECTED: dict[Callable[[Any], bool], str] = {_is_str: "a string", _is_number: "a number", _is_int: "an integer"}


def _wrong(where: str, value: Any, expected: str) -> str:
    if value is _MISSING:
        return f"`{where}` is missing"
    return f"`{where}` is {_kind(value)}, expected {expected}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _joined(problems: Sequence[str], limit: int = 5) -> str:
    shown = "; ".join(problems[:limit])
    return shown + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


def _quoted(text: str, limit: int = 120) -> str:
    shown = json.dumps(text[:limit], ensure_ascii=False)
    return shown + (f" (… {len(text)} characters)" if len(text) > limit else "")


def _squashed(text: str) -> str:
    return " ".join(text.split())


def _printable(text: str) -> str:
    """One line of text that cannot move a terminal's cursor: control characters written as escapes."""
    return "".join(
        char if char == " " or unicodedata.category(char)[0] not in "CZ" else char.encode("unicode_escape").decode()
        for char in text
    )


def _abbreviated(value: Any, limit: int = 200) -> Any:
    """`value` with long strings cut (the context-window prompt is some 10,000 characters)."""
    if isinstance(value, str) and len(value) > limit:
        return value[:80] + f"… ({len(value)} characters)"
    if isinstance(value, dict):
        return {key: _abbreviated(item, limit) for key, item in value.items()}
    if isinstance(value, list):
        return [_abbreviated(item, limit) for item in value[:50]] + (
            [f"… ({len(value)} items)"] if len(value) > 50 else []
        )
    return value


def _evidence(request: dict[str, Any] | None, excerpt: str | None) -> str | None:
    """`POST /process -> HTTP 422: {...}; sent {...}`: the answer before the body sent, which findings cut."""
    if request is None:
        return excerpt
    body = request.get("body")
    sent = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return f"{request['method']} {request['path']} -> {excerpt or 'no excerpt'}; sent {sent}"


def _seconds(value: Any) -> float | None:
    if not _is_number(value):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer past the largest float: JSON allows it
        return None


__all__ = [
    "CHECKS",
    "CONTEXT_WINDOW",
    "HELM_ZERO_TEMPERATURE",
    "CheckResult",
    "ContractCheck",
    "LatencySample",
    "LatencySummary",
    "ProbeReport",
    "ProbeUrlError",
    "check_url",
    "helm_request",
    "probe",
]
