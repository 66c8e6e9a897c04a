"""RA402 download-without-checksum: `wget` / `curl` of a URL that nothing checks (medium).

A download counts as checked when a checksum program (`sha256sum`, `sha512sum`, `md5sum`, `shasum`,
`gpg`, ...) or Python `hashlib` runs in the same RUN, or in a later RUN of the same stage that names the
downloaded file. A download piped into a shell is RA404 and not reported here as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from tests.helpers import caught

RULE = "RA402"
FROM = "FROM python:3.11\n"
SHA = "c" * 64
URL = "https://example.org/files/model.tar.gz"


@pytest.mark.parametrize(
    ("body", "line", "word"),
    [
        pytest.param(f"RUN wget {URL}\n", 2, "wget fetches", id="wget"),
        pytest.param(f"RUN wget -q {URL} -O /tmp/m.tgz\n", 2, URL, id="wget-output"),
        pytest.param(f"RUN curl -fsSL -o m.tgz {URL}\n", 2, "curl fetches", id="curl-output"),
        pytest.param(f"RUN curl -fsSL '{URL}' > m.tgz\n", 2, "nothing checks", id="curl-redirect-quoted"),
        pytest.param(f"RUN curl -L {URL} | tar xz\n", 2, URL, id="piped-to-tar"),
        pytest.param("RUN wget ftp://example.org/pub/data.zip\n", 2, "ftp://example.org/pub/data.zip", id="ftp"),
        pytest.param(f"RUN apt-get update && \\\n    wget \\\n      {URL}\n", 4, URL, id="continuation-line"),
        pytest.param(f"RUN <<EOF\nset -e\nwget {URL}\nEOF\n", 4, URL, id="heredoc"),
        pytest.param(
            f'RUN wget {URL}\nFROM python:3.11\nRUN echo "{SHA}  model.tar.gz" | sha256sum -c -\n',
            2,
            URL,
            id="checksum-in-other-stage",
        ),
        pytest.param(
            f'RUN echo "{SHA}  model.tar.gz" | sha256sum -c -\nRUN wget {URL}\n', 3, URL, id="checksum-before"
        ),
        pytest.param(f"RUN wget {URL}\nRUN sha256sum other.bin\n", 2, URL, id="later-checksum-of-another-file"),
    ],
)
def test_catches(tmp_path: Path, body: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, Severity.MEDIUM, "Dockerfile")
    ]
    assert word in findings[0].message
    assert findings[0].evidence is not None and findings[0].evidence.startswith(("https://", "ftp://"))


def test_catches_each_download(tmp_path: Path) -> None:
    body = f"RUN wget {URL} && \\\n    curl -O https://example.org/other.bin\n"
    findings = caught(tmp_path, {"infer/Dockerfile": FROM + body}, RULE)
    assert [(f.location.path, f.location.line, f.target) for f in findings] == [
        ("infer/Dockerfile", 2, "infer/Dockerfile"),
        ("infer/Dockerfile", 3, "infer/Dockerfile"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f'RUN curl -o f {URL} && echo "{SHA}  f" | sha256sum -c -\n', id="sha256sum-same-run"),
        pytest.param(f"RUN wget {URL} && sha512sum -c model.sha512\n", id="sha512sum"),
        pytest.param(f"RUN wget {URL} && md5sum model.tar.gz\n", id="md5sum"),
        pytest.param(f"RUN wget {URL} && gpg --verify model.tar.gz.asc model.tar.gz\n", id="gpg"),
        pytest.param(f'RUN wget {URL}\nRUN echo "{SHA}  model.tar.gz" | sha256sum -c -\n', id="checksum-in-later-run"),
        pytest.param(
            f'RUN curl -o /tmp/w.bin {URL}\nRUN echo "{SHA}  /tmp/w.bin" | shasum -a 256 -c -\n',
            id="later-run-names-output-file",
        ),
        pytest.param(
            f"RUN wget {URL} && python3 -c \"import hashlib; print(hashlib.sha256(open('model.tar.gz','rb')"
            '.read()).hexdigest())"\n',
            id="python-hashlib",
        ),
        pytest.param("RUN curl -fsSL https://example.org/install.sh | sh\n", id="pipe-to-sh-is-ra404"),
        pytest.param("RUN wget -qO- https://example.org/install.sh | bash\n", id="pipe-to-bash-is-ra404"),
        pytest.param("RUN curl -fsSL https://example.org/get.py | python3\n", id="pipe-to-python-is-ra404"),
        pytest.param("RUN curl $URL -o f\n", id="url-in-variable"),
        pytest.param(f"RUN echo wget {URL}\n", id="echo"),
        pytest.param(f"ADD {URL} /opt/\n", id="add-is-ra403"),
        pytest.param("RUN curl --version\n", id="no-url"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []
