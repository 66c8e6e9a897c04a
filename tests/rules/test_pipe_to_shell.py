"""RA404 pipe-to-shell: `curl ... | sh` and the like run a script fetched at build time (high).

Fetchers are `curl` and `wget`; interpreters are `sh`, `bash`, `zsh`, `dash`, `python`, `python3` and
`perl`, also behind `sudo`. The line is the one holding the URL. The same download is not also
reported as RA402.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA404"
FROM = "FROM python:3.11\n"
URL = "https://example.org/install.sh"


@pytest.mark.parametrize(
    ("body", "line", "word"),
    [
        pytest.param(f"RUN curl -fsSL {URL} | sh\n", 2, "piped into sh", id="curl-sh"),
        pytest.param(f"RUN curl -fsSL {URL} | bash\n", 2, "piped into bash", id="curl-bash"),
        pytest.param(f"RUN wget -qO- {URL} | bash -s -- --yes\n", 2, "wget output", id="wget-bash-args"),
        pytest.param(f"RUN curl -sSL {URL} | sudo bash\n", 2, "piped into bash", id="sudo-bash"),
        pytest.param("RUN curl -sSL https://example.org/get-pip.py | python3 -\n", 2, "python3", id="python"),
        pytest.param(f"RUN curl {URL} | perl\n", 2, "perl", id="perl"),
        pytest.param(f"RUN apt-get update && curl -fsSL {URL} | sh && echo done\n", 2, URL, id="inside-chain"),
        pytest.param(f"RUN apt-get update && \\\n    curl -fsSL {URL} \\\n    | bash\n", 3, URL, id="line-of-url"),
        pytest.param(f"RUN <<EOF\nset -e\ncurl -fsSL {URL} | sh\nEOF\n", 4, URL, id="heredoc"),
    ],
)
def test_catches(tmp_path: Path, body: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, Severity.HIGH, "Dockerfile")
    ]
    assert word in findings[0].message


@pytest.mark.parametrize("body", [f"RUN curl -fsSL {URL} | sh\n", f"RUN wget -qO- {URL} | bash\n"])
def test_pipe_to_shell_is_not_also_ra402(tmp_path: Path, body: str) -> None:
    files = {"Dockerfile": FROM + body}
    assert [f.rule for f in caught(tmp_path / "a", files, RULE)] == [RULE]
    assert caught(tmp_path / "b", files, "RA402") == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"RUN curl -fsSL -o install.sh {URL} && sh install.sh\n", id="download-then-run"),
        pytest.param(f"RUN curl -fsSL {URL} | tar xz\n", id="pipe-to-tar"),
        pytest.param(f"RUN curl -fsSL {URL} | tee install.sh\n", id="pipe-to-tee"),
        pytest.param("RUN cat install.sh | sh\n", id="cat-is-not-a-fetcher"),
        pytest.param("RUN echo 'echo hi' | bash\n", id="echo-to-bash"),
        pytest.param(f"RUN curl -fsSL {URL} || sh fallback.sh\n", id="or-is-not-a-pipe"),
        pytest.param(f"RUN curl -fsSL {URL} ; bash local.sh\n", id="semicolon-is-not-a-pipe"),
        pytest.param(f"RUN echo 'curl {URL} | sh'\n", id="quoted-text"),
        pytest.param(f"# RUN curl {URL} | sh\n", id="comment"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []
