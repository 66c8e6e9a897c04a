"""RA603 remote-code-without-revision: `trust_remote_code=True` without a commit revision (high).

The load runs Python files from the model repository; without a 40-hex commit `revision=` that code
is whatever the owner pushed last. Such a call is reported here and not also as RA601/RA602. A
repository computed at run time is reported with low confidence; local paths are not reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Confidence, Severity
from tests.helpers import caught

RULE = "RA603"
COMMIT = "0123456789abcdef" * 2 + "01234567"


@pytest.mark.parametrize(
    ("source", "line", "confidence", "word"),
    [
        pytest.param(
            'from_pretrained("org/m", trust_remote_code=True)\n',
            1,
            Confidence.HIGH,
            "from_pretrained('org/m', trust_remote_code=True) without revision=: remote code is not pinned",
            id="no-revision",
        ),
        pytest.param(
            'from_pretrained("org/m", revision="main", trust_remote_code=True)\n',
            1,
            Confidence.HIGH,
            "revision='main', a branch or tag",
            id="branch-revision",
        ),
        pytest.param(
            "import transformers\n\nm = transformers.AutoModelForCausalLM.from_pretrained(\n"
            '    "org/m",\n    trust_remote_code=True,\n)\n',
            3,
            Confidence.HIGH,
            "remote code is not pinned",
            id="multi-line-call",
        ),
        pytest.param(
            'load_dataset("org/ds", trust_remote_code=True)\n', 1, Confidence.HIGH, "load_dataset", id="load-dataset"
        ),
        pytest.param(
            'pipeline("text-generation", model="org/m", trust_remote_code=True)\n',
            1,
            Confidence.HIGH,
            "pipeline('org/m'",
            id="pipeline",
        ),
        pytest.param(
            "from_pretrained(args.model, trust_remote_code=True)\n",
            1,
            Confidence.LOW,
            "from_pretrained(args.model, trust_remote_code=True)",
            id="computed-repository-low-confidence",
        ),
    ],
)
def test_catches(tmp_path: Path, source: str, line: int, confidence: Confidence, word: str) -> None:
    findings = caught(tmp_path, {"serve/model.py": source}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.confidence, f.target) for f in findings] == [
        (RULE, "serve/model.py", line, Severity.HIGH, confidence, None)
    ]
    assert word in findings[0].message


@pytest.mark.parametrize(
    ("source", "other"),
    [
        pytest.param('from_pretrained("org/m", trust_remote_code=True)\n', "RA601", id="not-also-ra601"),
        pytest.param(
            'from_pretrained("org/m", revision="main", trust_remote_code=True)\n', "RA602", id="not-also-ra602"
        ),
    ],
)
def test_remote_code_is_reported_once(tmp_path: Path, source: str, other: str) -> None:
    assert [f.rule for f in caught(tmp_path / "a", {"m.py": source}, RULE)] == [RULE]
    assert caught(tmp_path / "b", {"m.py": source}, other) == []


@pytest.mark.parametrize(
    ("source", "files"),
    [
        pytest.param(f'from_pretrained("org/m", revision="{COMMIT}", trust_remote_code=True)\n', {}, id="commit"),
        pytest.param('from_pretrained("org/m", trust_remote_code=False)\n', {}, id="false"),
        pytest.param('from_pretrained("org/m")\n', {}, id="absent-is-ra601"),
        pytest.param('from_pretrained("org/m", trust_remote_code=flag)\n', {}, id="not-a-literal-true"),
        pytest.param('from_pretrained("org/m", trust_remote_code="True")\n', {}, id="string-true"),
        pytest.param('from_pretrained("./local", trust_remote_code=True)\n', {}, id="local-path"),
        pytest.param(
            'from_pretrained("ckpt", trust_remote_code=True)\n', {"ckpt/config.json": "{}"}, id="folder-of-the-entry"
        ),
        pytest.param("from_pretrained(name, revision=rev, trust_remote_code=True)\n", {}, id="computed-revision"),
        pytest.param('load_dataset("json", data_files="d.json", trust_remote_code=True)\n', {}, id="local-builder"),
        pytest.param('AutoConfig.register("x", trust_remote_code=True)\n', {}, id="other-function"),
    ],
)
def test_does_not_catch(tmp_path: Path, source: str, files: dict[str, str]) -> None:
    assert caught(tmp_path, {"model.py": source, **files}, RULE) == []
