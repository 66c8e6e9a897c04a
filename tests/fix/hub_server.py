"""A fake Hugging Face Hub on 127.0.0.1 for the fix tests: the routes `HfApi.list_repo_commits` and
`HfApi.list_repo_refs` call, answered the way the Hub answers them.

`GET /api/{models|datasets|spaces}/{repo_id}/commits/{revision}` gives a JSON list of commits, newest
first, `page_size` at a time, with a GitHub-style `Link: <...?p=N>; rel="next"` header to the next page
(huggingface_hub follows it). `GET /api/{type}s/{repo_id}/refs` gives the branches and tags. A gated
repository answers 401 with `X-Error-Code: GatedRepo`, an unknown one 404 with `RepoNotFound`, an unknown
revision 404 with `RevisionNotFound`. Every request is recorded, with the Authorization header it carried,
so a test can tell which route was asked and with which token.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROUTE = re.compile(r"^/api/(?P<type>models|datasets|spaces)/(?P<repo>.+?)/(?P<what>commits|refs)(?:/(?P<rev>[^/]+))?$")


@dataclass(frozen=True)
class FakeCommit:
    id: str  # 40 hex
    date: datetime  # timezone-aware
    title: str = "update"


@dataclass
class FakeRepo:
    repo_id: str
    repo_type: str = "model"  # "model" | "dataset" | "space"
    branches: dict[str, list[FakeCommit]] = field(default_factory=dict)  # name -> history, newest first
    tags: dict[str, FakeCommit] = field(default_factory=dict)
    gated: bool = False  # answers 401 to every request


@dataclass(frozen=True)
class Request:
    path: str  # unquoted path, without the query
    query: dict[str, list[str]]
    authorization: str | None


class FakeHub:
    """Repositories to serve and the requests received; `url` is the endpoint to give huggingface_hub."""

    def __init__(self, repos: list[FakeRepo], page_size: int = 2) -> None:
        self.repos = {(repo.repo_type, repo.repo_id): repo for repo in repos}
        self.page_size = page_size
        self.requests: list[Request] = []
        self.url = ""
        self._lock = threading.Lock()

    def answer(self, raw_path: str, authorization: str | None) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append(Request(path, query, authorization))
        # the revision is percent-encoded as one path segment ("refs%2Fpr%2F1"): match before unquoting it
        match = ROUTE.match(parts.path)
        if match is None:
            return 404, {}, {"error": "Sorry, we can't find the page you are looking for."}
        repo_type = match["type"][:-1]
        repo = self.repos.get((repo_type, unquote(match["repo"])))
        if repo is None:
            return 404, {"X-Error-Code": "RepoNotFound"}, {"error": "Repository not found"}
        if repo.gated:
            message = f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated."
            return 401, {"X-Error-Code": "GatedRepo", "X-Error-Message": message}, {"error": message}
        if match["what"] == "refs":
            return 200, {}, self._refs(repo)
        revision = unquote(match["rev"] or "main")
        history = repo.branches.get(revision)
        if history is None and revision in repo.tags:
            tagged = repo.tags[revision]
            history = [tagged] + [c for b in repo.branches.values() for c in b if c.date < tagged.date]
        if history is None:
            return 404, {"X-Error-Code": "RevisionNotFound"}, {"error": f"Invalid rev id: {revision}"}
        page = int(query.get("p", ["0"])[0])
        items = history[page * self.page_size : (page + 1) * self.page_size]
        headers = {}
        if (page + 1) * self.page_size < len(history):
            headers["Link"] = f'<{self.url}{parts.path}?p={page + 1}>; rel="next"'
        return 200, headers, [_commit_json(commit) for commit in items]

    def _refs(self, repo: FakeRepo) -> dict[str, Any]:
        def ref(name: str, kind: str, commit: FakeCommit) -> dict[str, str]:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": commit.id}

        return {
            "branches": [ref(name, "heads", history[0]) for name, history in repo.branches.items() if history],
            "converts": [],
            "tags": [ref(name, "tags", commit) for name, commit in repo.tags.items()],
        }

    def paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]


def _commit_json(commit: FakeCommit) -> dict[str, Any]:
    # the Hub's date format: milliseconds and a Z
    date = commit.date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{commit.date.microsecond // 1000:03d}Z"
    return {
        "id": commit.id,
        "title": commit.title,
        "message": "",
        "authors": [{"user": "someone", "avatar": "https://example.invalid/a.png"}],
        "date": date,
    }


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub

    def do_GET(self) -> None:
        status, headers, body = self.hub.answer(self.path, self.headers.get("Authorization"))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


@contextmanager
def serve(hub: FakeHub) -> Iterator[FakeHub]:
    """Serve `hub` on a free port of 127.0.0.1 for the time of the block."""
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-hub", daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
