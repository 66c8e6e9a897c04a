"""RA506 host-path-in-dockerfile: ENV/ARG/RUN/WORKDIR naming a path of the submitter's machine (medium).

Host paths are `/home/<user>`, `/Users/...`, `/data*`, `/scratch*`, `/mnt/...` and Windows drive
paths. A path the image creates itself (WORKDIR, COPY/ADD/VOLUME targets, `mkdir`, `useradd -m`,
`--local-dir`, clone folders, redirections) is not reported. WORKDIR creates its folder, so it is only
reported for macOS and Windows paths, at low severity; those paths are reported with high confidence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Confidence, Severity
from tests.helpers import caught

RULE = "RA506"
FROM = "FROM python:3.11\n"
LOW, MEDIUM = Severity.LOW, Severity.MEDIUM


@pytest.mark.parametrize(
    ("body", "line", "severity", "confidence", "word"),
    [
        pytest.param("ENV MODEL=/home/alice/llama\n", 2, MEDIUM, Confidence.MEDIUM, "ENV uses /home/alice/llama",
                     id="env-home"),
        pytest.param("ARG DATA=/scratch/me/data\n", 2, MEDIUM, Confidence.MEDIUM, "ARG uses /scratch/me/data",
                     id="arg-scratch"),
        pytest.param("RUN python train.py --data /mnt/nfs/ds\n", 2, MEDIUM, Confidence.MEDIUM, "/mnt/nfs/ds",
                     id="run-mnt"),
        pytest.param("ENV DS=/datasets/alpaca\n", 2, MEDIUM, Confidence.MEDIUM, "/datasets/alpaca", id="data-prefix"),
        pytest.param("ENV CKPT=/Users/alice/ckpt\n", 2, MEDIUM, Confidence.HIGH, "/Users/alice/ckpt", id="env-macos"),
        pytest.param("ENV W=C:\\models\\llama\n", 2, MEDIUM, Confidence.HIGH, "C:\\models\\llama", id="env-windows"),
        pytest.param("WORKDIR /Users/alice/app\n", 2, LOW, Confidence.HIGH, "WORKDIR uses /Users/alice/app",
                     id="workdir-macos"),
        pytest.param("ENV A=1 \\\n    MODEL=/home/alice/llama\n", 3, MEDIUM, Confidence.MEDIUM, "/home/alice/llama",
                     id="continuation-line"),
        pytest.param("RUN <<EOF\nset -e\npython train.py --out /scratch/me/out\nEOF\n", 4, MEDIUM,
                     Confidence.MEDIUM, "/scratch/me/out", id="heredoc"),
        pytest.param("RUN mkdir -p /data/cache\nENV MODEL=/data/models/llama\n", 3, MEDIUM, Confidence.MEDIUM,
                     "/data/models/llama", id="sibling-of-created-folder"),
        pytest.param("COPY . /Users/alice/app\nENV APP=/Users/alice/app\n", 3, MEDIUM, Confidence.HIGH,
                     "/Users/alice/app", id="macos-path-even-when-created"),
        pytest.param("RUN useradd -m bob\nENV MODEL=/home/alice/llama\n", 3, MEDIUM, Confidence.MEDIUM,
                     "/home/alice/llama", id="other-user-home"),
    ],
)  # fmt: skip
def test_catches(tmp_path: Path, body: str, line: int, severity: Severity, confidence: Confidence, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.confidence, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, severity, confidence, "Dockerfile")
    ]
    assert word in findings[0].message


def test_catches_each_path_once(tmp_path: Path) -> None:
    body = "ENV A=/home/alice/a B=/home/alice/a\nRUN ls /scratch/x && ls /mnt/y\n"
    findings = caught(tmp_path, {"train/Dockerfile": FROM + body}, RULE)
    assert [(f.location.path, f.location.line, f.evidence, f.target) for f in findings] == [
        ("train/Dockerfile", 2, "/home/alice/a", "train/Dockerfile"),
        ("train/Dockerfile", 3, "/mnt/y", "train/Dockerfile"),
        ("train/Dockerfile", 3, "/scratch/x", "train/Dockerfile"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("RUN mkdir -p /data/cache\nENV HF_HOME=/data/cache\n", id="mkdir-then-env"),
        pytest.param("RUN mkdir -p /data/cache\nENV HF_DATASETS_CACHE=/data/cache/datasets\n", id="inside-mkdir"),
        pytest.param("WORKDIR /home/user/app\n", id="workdir-linux-home"),
        pytest.param("WORKDIR /home/user/app\nENV APP=/home/user/app/src\n", id="inside-workdir"),
        pytest.param("RUN useradd -m user\nENV HOME=/home/user\n", id="useradd"),
        pytest.param("RUN adduser --disabled-password user\nENV P=/home/user/.local/bin\n", id="adduser"),
        pytest.param("COPY . /home/user/app\nENV APP=/home/user/app\n", id="copy-target"),
        pytest.param("VOLUME /data\nENV D=/data/x\n", id="volume"),
        pytest.param('VOLUME ["/scratch"]\nENV S=/scratch/tmp\n', id="volume-json"),
        pytest.param("RUN huggingface-cli download org/m --local-dir /data/m\nENV M=/data/m\n", id="local-dir"),
        pytest.param("RUN git clone https://github.com/a/b.git /data/b\nENV B=/data/b\n", id="clone-folder"),
        pytest.param("RUN echo hi > /data/log.txt\nENV LOG=/data/log.txt\n", id="redirect-target"),
        pytest.param("ENV P=/opt/home/alice\n", id="home-not-at-root"),
        pytest.param("ENV P=/usr/share/data/x\n", id="data-not-at-root"),
        pytest.param("ENV P=$HOME/models\n", id="variable"),
        pytest.param("ENV URL=https://example.org/home/alice\n", id="url-path"),
        pytest.param("CMD python serve.py --model /home/alice/llama\n", id="cmd-is-not-checked"),
        pytest.param("# ENV MODEL=/home/alice/llama\n", id="comment"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []


def test_cp_source_is_not_created_by_the_image(tmp_path: Path) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + "RUN cp /home/alice/llama.bin /app/\n"}, RULE)
    assert [(f.location.line, f.severity) for f in findings] == [(2, MEDIUM)]


@pytest.mark.parametrize(
    ("body", "evidence"),
    [
        pytest.param("RUN mv /scratch/me/ckpt /app/ckpt\n", "/scratch/me/ckpt", id="mv-source"),
        pytest.param("RUN ln -s /data/models/w /app/w\n", "/data/models/w", id="ln-target-of-the-link"),
        pytest.param("RUN cp -d /home/alice/w /app/\n", "/home/alice/w", id="cp-d-is-not-a-download-folder"),
        pytest.param("RUN cp -t /app /mnt/nfs/w.bin\n", "/mnt/nfs/w.bin", id="cp-source-after-target-option"),
    ],
)
def test_catches_copy_sources(tmp_path: Path, body: str, evidence: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.location.line, f.evidence) for f in findings] == [(2, evidence)]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("RUN cp -r /app/w /home/alice/w\nENV W=/home/alice/w\n", id="cp-destination"),
        pytest.param("RUN cp -t /data/out a.txt\nENV O=/data/out/a.txt\n", id="cp-target-option"),
        pytest.param("RUN cp -rt/data/out a.txt\nENV O=/data/out\n", id="cp-target-in-a-cluster"),
        pytest.param("RUN mv --target-directory=/data/out a.txt\nENV O=/data/out\n", id="mv-target-long-option"),
        pytest.param("RUN ln -s /opt/models /data/models\nENV M=/data/models\n", id="ln-link-name"),
        pytest.param("RUN cp a.txt b.txt -- /scratch/x\nENV X=/scratch/x\n", id="after-double-dash"),
        pytest.param("RUN cp -S .bak a.txt /scratch/x\nENV X=/scratch/x\n", id="suffix-option-value"),
    ],
)
def test_does_not_catch_copy_destinations(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []
