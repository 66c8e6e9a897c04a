"""RA403 add-url-without-checksum: `ADD <url>` without BuildKit's `--checksum` (medium).

The finding is on the ADD's first line. `ADD --checksum=sha256:...` is fine; local sources, `COPY`
and `ADD --from` are not downloads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA403"
FROM = "FROM python:3.11\n"
URL = "https://example.org/files/model.tar.gz"
DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize(
    ("body", "line", "word"),
    [
        pytest.param(f"ADD {URL} /opt/\n", 2, URL, id="https"),
        pytest.param("ADD http://example.org/a.bin /a.bin\n", 2, "http://example.org/a.bin", id="http"),
        pytest.param(f"ADD --chown=1000:1000 {URL} /opt/\n", 2, "without --checksum", id="other-flag"),
        pytest.param(f'ADD ["{URL}", "/opt/"]\n', 2, URL, id="json-form"),
        pytest.param("ADD git@github.com:org/repo.git /src\n", 2, "git@github.com:org/repo.git", id="git-ssh"),
        pytest.param(
            "ADD https://github.com/org/repo.git#v1.0 /src\n", 2, "https://github.com/org/repo.git#v1.0", id="git-https"
        ),
        pytest.param(f"RUN echo hi\nADD \\\n    {URL} \\\n    /opt/\n", 3, URL, id="continued-add-first-line"),
        pytest.param(f"add {URL} /opt/\n", 2, URL, id="lowercase"),
    ],
)
def test_catches(tmp_path: Path, body: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, Severity.MEDIUM, "Dockerfile")
    ]
    assert word in findings[0].message


def test_catches_each_url_source(tmp_path: Path) -> None:
    body = "ADD https://example.org/a.bin https://example.org/b.bin /opt/\n"
    findings = caught(tmp_path, {"serve/Dockerfile": FROM + body}, RULE)
    assert [(f.location.path, f.location.line, f.evidence, f.target) for f in findings] == [
        ("serve/Dockerfile", 2, "https://example.org/a.bin", "serve/Dockerfile"),
        ("serve/Dockerfile", 2, "https://example.org/b.bin", "serve/Dockerfile"),
    ]


@pytest.mark.parametrize(
    ("body", "files"),
    [
        pytest.param(f"ADD --checksum={DIGEST} {URL} /opt/\n", {}, id="checksum"),
        pytest.param(f"ADD --chown=1000 --checksum={DIGEST} {URL} /opt/\n", {}, id="checksum-after-other-flag"),
        pytest.param("ADD model.tar.gz /opt/\n", {"model.tar.gz": "x"}, id="local-archive"),
        pytest.param("ADD --from=builder /out /opt/\n", {}, id="from-stage"),
        pytest.param(f"COPY {URL} /opt/\n", {}, id="copy-is-not-a-download"),
        pytest.param(f"RUN wget {URL}\n", {}, id="wget-is-ra402"),
        pytest.param(f"# ADD {URL} /opt/\n", {}, id="comment"),
        pytest.param(f"ADD {URL}\n", {}, id="single-word-is-destination"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str, files: dict[str, str]) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body, **files}, RULE) == []
