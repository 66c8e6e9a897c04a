"""RA305 requirement-untrusted-index: an index over plain http or on a private / local host (high).

Checked in requirement files (`--index-url`, `--extra-index-url`, `--find-links`), in the `pip:`
sub-list of `environment.yml`, and on `RUN pip install` lines. Public HTTPS indexes such as
`https://download.pytorch.org/whl/cu118` are fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA305"
FROM = "FROM python:3.11\n"


@pytest.mark.parametrize(
    ("option", "word"),
    [
        pytest.param(
            "--extra-index-url http://pypi.example.com/simple",
            "plain-http index pypi.example.com",
            id="extra-index-plain-http",
        ),
        pytest.param("--index-url http://pypi.org/simple", "plain-http", id="plain-http-even-for-pypi"),
        pytest.param("-i https://10.0.0.5/simple", "private address 10.0.0.5", id="private-10"),
        pytest.param("--extra-index-url https://172.16.0.1/simple", "private address 172.16.0.1", id="private-172"),
        pytest.param(
            "--extra-index-url https://192.168.1.20:8080/simple",
            "private address 192.168.1.20",
            id="private-192-with-port",
        ),
        pytest.param("--index-url https://127.0.0.1/simple", "private address 127.0.0.1", id="loopback"),
        pytest.param("--index-url https://[::1]/simple", "private address ::1", id="ipv6-loopback"),
        pytest.param("--index-url https://169.254.1.1/simple", "private address 169.254.1.1", id="link-local"),
        pytest.param("--index-url https://localhost:8080/simple", "local host name localhost", id="localhost"),
        pytest.param(
            "--extra-index-url https://pypi.internal/simple", "local host name pypi.internal", id="internal-suffix"
        ),
        pytest.param(
            "--extra-index-url https://devpi.local/root/pypi", "local host name devpi.local", id="local-suffix"
        ),
        pytest.param("--extra-index-url https://mirror/simple", "local host name mirror", id="dotless-host"),
        pytest.param("--find-links http://example.com/wheels", "plain-http index example.com", id="find-links"),
        pytest.param("--extra-index-url=http://pypi.example.com/simple", "plain-http", id="equals-form"),
    ],
)
def test_catches_in_requirement_file(tmp_path: Path, option: str, word: str) -> None:
    files = {"requirements.txt": f"numpy==1.26.4\n{option}\n"}
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, "requirements.txt", 2)]
    assert findings[0].severity is Severity.HIGH
    assert findings[0].target is None
    assert word in findings[0].message


@pytest.mark.parametrize(
    ("files", "path", "line", "target", "word"),
    [
        pytest.param(
            {
                "Dockerfile": FROM + "COPY requirements.txt .\nRUN pip install -r requirements.txt\n",
                "requirements.txt": "--extra-index-url http://10.1.1.1/simple\nnumpy==1.26.4\n",
            },
            "requirements.txt",
            1,
            "Dockerfile",
            "plain-http index 10.1.1.1",
            id="reached-file-has-target",
        ),
        pytest.param(
            {"Dockerfile": FROM + "RUN pip install \\\n  --extra-index-url http://192.168.1.2/simple numpy==1.0\n"},
            "Dockerfile",
            3,
            "Dockerfile",
            "plain-http index 192.168.1.2",
            id="run-line-continuation",
        ),
        pytest.param(
            {"Dockerfile": FROM + "RUN pip install -i https://localhost:3141/root/dev/ numpy==1.0\n"},
            "Dockerfile",
            2,
            "Dockerfile",
            "local host name localhost",
            id="run-line-short-option",
        ),
        pytest.param(
            {"Dockerfile": FROM + "RUN uv pip install --system --index-url=https://10.2.3.4/simple x==1\n"},
            "Dockerfile",
            2,
            "Dockerfile",
            "private address 10.2.3.4",
            id="run-line-uv-equals",
        ),
        pytest.param(
            {
                "environment.yml": "dependencies:\n  - pip:\n    - --extra-index-url http://10.1.1.1/simple\n"
                "    - peft==0.6.0\n"
            },
            "environment.yml",
            3,
            None,
            "plain-http index 10.1.1.1",
            id="environment-pip-list",
        ),
    ],
)
def test_catches_files_and_run_lines(
    tmp_path: Path, files: dict[str, str], path: str, line: int, target: str | None, word: str
) -> None:
    findings = caught(tmp_path, files, RULE)
    assert [(f.rule, f.location.path, f.location.line) for f in findings] == [(RULE, path, line)]
    assert findings[0].severity is Severity.HIGH
    assert findings[0].target == target
    assert word in findings[0].message


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            {"requirements.txt": "--extra-index-url https://download.pytorch.org/whl/cu118\n"}, id="pytorch-index"
        ),
        pytest.param({"requirements.txt": "--index-url https://pypi.org/simple\n"}, id="pypi"),
        pytest.param({"requirements.txt": "--extra-index-url https://pypi.nvidia.com\n"}, id="nvidia"),
        pytest.param({"requirements.txt": "-f https://data.pyg.org/whl/torch-2.1.0+cu118.html\n"}, id="pyg-find-links"),
        pytest.param({"requirements.txt": "--index-url https://8.8.8.8/simple\n"}, id="public-ip"),
        pytest.param({"requirements.txt": "--find-links ./wheels\n"}, id="find-links-local-folder"),
        pytest.param({"requirements.txt": "--trusted-host 10.0.0.5\nnumpy==1.26.4\n"}, id="trusted-host-not-an-index"),
        pytest.param({"requirements.txt": "# --index-url http://10.0.0.5/simple\n"}, id="commented-out"),
        pytest.param(
            {"Dockerfile": FROM + "RUN pip install --index-url https://download.pytorch.org/whl/cu118 torch==2.1.0\n"},
            id="run-line-pytorch-index",
        ),
        pytest.param({"Dockerfile": FROM + "RUN curl http://10.0.0.5/simple\n"}, id="not-an-install"),
        pytest.param(
            {"environment.yml": "channels:\n  - http://10.0.0.5/conda\ndependencies:\n  - numpy==1.26.4\n"},
            id="conda-channel-not-a-pip-index",
        ),
    ],
)
def test_does_not_catch(tmp_path: Path, files: dict[str, str]) -> None:
    assert caught(tmp_path, files, RULE) == []
