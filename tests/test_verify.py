"""`--verify`: liveness of HuggingFace tokens, asked of a fake whoami endpoint on 127.0.0.1 (a real HTTP
server in a thread), and never of anything else."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from audit.cli import EXIT_ERROR, EXIT_FINDINGS, main
from audit.secrets.verify import VerifyConfigError, check_base_url, check_tokens
from tests.helpers import write_tree
from tests.secrets import tokens

RNG = tokens.source("verify")
LIVE = tokens.hf_token(RNG)
REVOKED = tokens.hf_token(RNG)
LIMITED = tokens.hf_token(RNG)
REDIRECTED = tokens.hf_token(RNG)


class _Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, authorization)


def _server(recorder: _Recorder, redirect_to: str | None = None) -> HTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            recorder.requests.append(("GET", self.path, auth))
            token = (auth or "").removeprefix("Bearer ")
            if token == LIVE:
                body = json.dumps({"name": "someone", "auth": {"accessToken": {"role": "write"}}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)
            elif token == REDIRECTED and redirect_to:
                self.send_response(302)
                self.send_header("Location", redirect_to + "/api/whoami-v2")
                self.end_headers()
            elif token == LIMITED:
                self.send_response(429)
                self.end_headers()
            else:
                self.send_response(401)
                self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    return HTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def servers() -> Iterator[tuple[str, _Recorder, _Recorder]]:
    elsewhere = _Recorder()
    other = _server(elsewhere)
    other_url = f"http://127.0.0.1:{other.server_address[1]}"
    recorder = _Recorder()
    main_server = _server(recorder, redirect_to=other_url)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (main_server, other)]
    for thread in threads:
        thread.start()
    yield f"http://127.0.0.1:{main_server.server_address[1]}", recorder, elsewhere
    for server in (main_server, other):
        server.shutdown()
        server.server_close()


def test_live_revoked_unknown(servers: tuple[str, _Recorder, _Recorder]) -> None:
    base, recorder, elsewhere = servers
    answers = check_tokens([LIVE, REVOKED, LIMITED, REDIRECTED, LIVE], base, timeout=5)
    assert {t: a.status for t, a in answers.items()} == {
        LIVE: "live",
        REVOKED: "revoked",
        LIMITED: "unknown",
        REDIRECTED: "unknown",
    }
    assert str(answers[LIVE]) == "live (write access)"
    assert [path for _m, path, _a in recorder.requests] == ["/api/whoami-v2"] * 4  # each token asked once
    assert elsewhere.requests == []  # a redirect is never followed with the token


def test_check_reports_liveness_and_sends_only_huggingface_tokens(
    servers: tuple[str, _Recorder, _Recorder], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, recorder, _elsewhere = servers
    github = tokens.github_token(RNG)
    wandb = tokens.wandb_key(RNG)
    root = write_tree(
        tmp_path / "e",
        {"a.py": f"A = '{LIVE}'\nB = '{REVOKED}'\nG = '{github}'\nWANDB_API_KEY = '{wandb}'\n"},
    )
    code = main(["check", str(root), "--select", "secret", "--verify", "--verify-url", base, "--format", "json"])
    assert code == EXIT_FINDINGS
    data = json.loads(capsys.readouterr().out)
    status = {f["line"]: f["secret"]["liveness"] for f in data["entries"][0]["findings"]}
    assert status == {1: "live", 2: "revoked", 3: None, 4: None}
    sent = {auth for _m, _p, auth in recorder.requests}
    assert sent == {f"Bearer {LIVE}", f"Bearer {REVOKED}"}


def test_without_verify_nothing_is_sent(servers: tuple[str, _Recorder, _Recorder], tmp_path: Path) -> None:
    base, recorder, _elsewhere = servers
    root = write_tree(tmp_path / "e", {"a.py": f"A = '{LIVE}'\n"})
    assert main(["check", str(root), "--select", "secret", "--verify-url", base]) == EXIT_FINDINGS
    assert recorder.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "ftp://127.0.0.1",
        "https://user:pw@huggingface.co",
        "https://huggingface.co/?x=1",
        "not a url",
    ],
)
def test_unsafe_base_urls_are_refused(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(VerifyConfigError):
        check_base_url(url)
    root = write_tree(tmp_path / "e", {"a.py": "x = 1\n"})
    assert main(["check", str(root), "--verify", "--verify-url", url]) == EXIT_ERROR
    assert "--verify-url" in capsys.readouterr().err


def test_unreachable_endpoint_is_unknown() -> None:
    with HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    answers = check_tokens([LIVE], f"http://127.0.0.1:{port}", timeout=2)
    assert answers[LIVE].status == "unknown"


def test_a_proxy_in_the_environment_never_sees_a_token(
    servers: tuple[str, _Recorder, _Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, recorder, _elsewhere = servers
    proxy_log = _Recorder()
    proxy = _server(proxy_log)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        answers = check_tokens([LIVE], base, timeout=5)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert answers[LIVE].status == "live"
    assert proxy_log.requests == [] and len(recorder.requests) == 1
