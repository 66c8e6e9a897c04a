"""RA801 credential-in-env-or-arg: ENV / ARG setting a credential-named variable to a literal (high).

Credential names are `*_TOKEN`, `*_API_KEY`, `*_SECRET`, `*_PASSWORD`, `HF_TOKEN`,
`HUGGINGFACE_TOKEN`, `WANDB_API_KEY` ...; names ending in `_PATH`, `_FILE`, `_DIR`, `_HOME`, `_URL`,
`MAX_TOKENS` ... are not credentials. A value taken from another variable (`$HF_TOKEN`) or empty is
not a literal. The message and the evidence show the value redacted, never the value itself: its first
3 and last 2 characters when at least 8 stay hidden, otherwise only its length.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Severity
from audit.rules.credentials import mask
from tests.helpers import caught

RULE = "RA801"
FROM = "FROM python:3.11\n"
TOKEN = "hf_" + "PLACEHOLDER"
LONG_VALUE = "sk-" + "x" * 5 + "y" * 5


@pytest.mark.parametrize(
    ("body", "line", "name", "value"),
    [
        pytest.param(f"ENV HUGGINGFACE_TOKEN={TOKEN}\n", 2, "HUGGINGFACE_TOKEN", TOKEN, id="env-huggingface-token"),
        pytest.param(f"ARG HF_TOKEN={TOKEN}\n", 2, "HF_TOKEN", TOKEN, id="arg-default"),
        pytest.param(f"ENV HF_TOKEN {TOKEN}\n", 2, "HF_TOKEN", TOKEN, id="env-legacy-form"),
        pytest.param(f'ENV HUGGING_FACE_HUB_TOKEN="{TOKEN}"\n', 2, "HUGGING_FACE_HUB_TOKEN", TOKEN, id="quoted"),
        pytest.param(
            f'ENV PYTHONUNBUFFERED=1 OPENAI_API_KEY="{LONG_VALUE}"\n', 2, "OPENAI_API_KEY", LONG_VALUE, id="second-pair"
        ),
        pytest.param(
            f"ENV PYTHONUNBUFFERED=1 \\\n    WANDB_API_KEY={LONG_VALUE}\n",
            3,
            "WANDB_API_KEY",
            LONG_VALUE,
            id="continuation-line",
        ),
        pytest.param(f"ENV DB_PASSWORD={LONG_VALUE}\n", 2, "DB_PASSWORD", LONG_VALUE, id="password"),
        pytest.param(f"ENV AWS_SECRET_ACCESS_KEY={LONG_VALUE}\n", 2, "AWS_SECRET_ACCESS_KEY", LONG_VALUE, id="aws"),
        pytest.param(f"ENV hf_token={TOKEN}\n", 2, "hf_token", TOKEN, id="lowercase-name"),
    ],
)
def test_catches(tmp_path: Path, body: str, line: int, name: str, value: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, Severity.HIGH, "Dockerfile")
    ]
    finding = findings[0]
    assert f"{name} is set to a literal value" in finding.message
    assert value not in finding.message
    assert finding.evidence is not None and value not in finding.evidence
    assert value[:3] + "…" in finding.message


def test_catches_each_stage(tmp_path: Path) -> None:
    body = f"ENV HF_TOKEN={TOKEN}\nFROM python:3.11 AS serve\nARG WANDB_API_KEY={LONG_VALUE}\n"
    findings = caught(tmp_path, {"infer/Dockerfile": FROM + body}, RULE)
    assert [(f.location.path, f.location.line, f.target) for f in findings] == [
        ("infer/Dockerfile", 2, "infer/Dockerfile"),
        ("infer/Dockerfile", 4, "infer/Dockerfile"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("ENV HF_HOME=/root/.cache\n", id="hf-home"),
        pytest.param("ENV HF_TOKEN=$HF_TOKEN\n", id="from-variable"),
        pytest.param("ENV HF_TOKEN=${HF_TOKEN}\n", id="from-braced-variable"),
        pytest.param('ENV HF_TOKEN="${HF_TOKEN}"\n', id="from-quoted-variable"),
        pytest.param("ARG HF_TOKEN\n", id="arg-without-default"),
        pytest.param('ENV HF_TOKEN=""\n', id="empty"),
        pytest.param("ENV MAX_TOKENS=512\n", id="max-tokens"),
        pytest.param("ENV TOKENIZERS_PARALLELISM=false\n", id="tokenizers"),
        pytest.param("ENV HF_TOKEN_PATH=/run/secrets/hf_token\n", id="token-path"),
        pytest.param("ENV PASSWORD_FILE=/run/secrets/db\n", id="password-file"),
        pytest.param("ENV SECRET_DIR=/run/secrets\n", id="secret-dir"),
        pytest.param(f"LABEL HF_TOKEN={TOKEN}\n", id="label"),
        pytest.param(f"RUN HF_TOKEN={TOKEN} python download.py\n", id="run-assignment-is-not-env"),
        pytest.param(f"# ENV HF_TOKEN={TOKEN}\n", id="comment"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []


def test_short_value_is_not_printed(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + "ENV DB_PASSWORD=q7z\n"}, RULE)
    assert len(findings) == 1
    assert "q7z" not in findings[0].message
    assert findings[0].evidence == "DB_PASSWORD=… (3 chars)"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        pytest.param("x", "… (1 chars)", id="one-char"),
        pytest.param("abcdefghijkl", "… (12 chars)", id="seven-would-stay-hidden"),
        pytest.param("abcdefghijklm", "abc…lm (13 chars)", id="eight-stay-hidden"),
        pytest.param('"abcdefghijklm"', "abc…lm (13 chars)", id="quotes-are-not-the-value"),
        pytest.param("a" * 3 + "b" * 40 + "cc", "aaa…cc (45 chars)", id="long-value-shows-only-the-ends"),
    ],
)
def test_mask_hides_at_least_eight_characters(value: str, masked: str) -> None:
    assert mask(value) == masked
