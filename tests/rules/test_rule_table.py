"""One case each rule must catch and one near-miss it must not, for the fetch, host-local, hub,
build-risk, credential and input families (the per-rule modules beside this file go deeper)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import audit, caught

FROM = "FROM python:3.11-slim@sha256:" + "a" * 64 + "\n"
SHA = "b" * 40
TOKEN = "hf_" + "PLACEHOLDER"

CATCHES = [
    ("RA403", {"Dockerfile": FROM + "ADD https://example.com/t.model /m/\n"}, "Dockerfile", 2),
    ("RA404", {"Dockerfile": FROM + "RUN curl -sSL https://x.org/i.sh | bash\n"}, "Dockerfile", 2),
    ("RA405", {"Dockerfile": FROM + "RUN huggingface-cli download org/m --local-dir /m\n"}, "Dockerfile", 2),
    ("RA501", {"Dockerfile": FROM + "COPY missing.py .\n"}, "Dockerfile", 2),
    (
        "RA502",
        {"Dockerfile": FROM + "COPY cfg.yaml .\n", "cfg.yaml": "a: 1\n", ".dockerignore": "*.yaml\n"},
        "Dockerfile",
        2,
    ),
    (
        "RA503",
        {"Dockerfile": FROM + "COPY lib/x .\n", ".gitmodules": '[submodule "lib"]\n path = lib\n url = https://g/x\n'},
        "Dockerfile",
        2,
    ),
    ("RA504", {"d/Dockerfile": FROM + "COPY ../up.py .\n", "up.py": "x\n"}, "d/Dockerfile", 2),
    (
        "RA505",
        {"Dockerfile": FROM + "COPY secret.txt .\n", "secret.txt": "x\n", ".gitignore": "secret.txt\n"},
        "Dockerfile",
        2,
    ),
    ("RA506", {"Dockerfile": FROM + "ENV MODEL=/home/alice/llama\n"}, "Dockerfile", 2),
    ("RA507", {"m.py": 'x = open("/home/alice/p.txt")\n'}, "m.py", 1),
    ("RA509", {"Dockerfile": FROM + "COPY . /app\nRUN pip install -r /app/req.txt\n"}, "Dockerfile", 3),
    ("RA601", {"m.py": 'AutoModel.from_pretrained("org/m")\n'}, "m.py", 1),
    ("RA602", {"m.py": 'AutoModel.from_pretrained("org/m", revision="main")\n'}, "m.py", 1),
    ("RA603", {"m.py": 'AutoModel.from_pretrained("org/m", trust_remote_code=True)\n'}, "m.py", 1),
    ("RA701", {"Dockerfile": FROM + "RUN pip install flash-attn==2.3.3 --no-build-isolation\n"}, "Dockerfile", 2),
    ("RA801", {"Dockerfile": FROM + f"ENV HUGGINGFACE_TOKEN={TOKEN}\n"}, "Dockerfile", 2),
    ("RA802", {"Dockerfile": FROM + f"RUN huggingface-cli login --token {TOKEN}\n"}, "Dockerfile", 2),
    ("RA803", {"Dockerfile": FROM + "ARG HF_TOKEN\nRUN echo $HF_TOKEN > /t\n"}, "Dockerfile", 2),
    ("RA002", {"Dockerfile": "# nothing here\n"}, "Dockerfile", None),
    ("RA003", {"requirements.txt": "numpy==1.26.4\n" + "#" * (3 * 1024 * 1024)}, "requirements.txt", None),
    ("RA007", {"m.py": 'AutoModel.from_pretrained("org/m"\n'}, "m.py", 1),
]

NOT_CAUGHT = [
    ("RA403", {"Dockerfile": FROM + "ADD --checksum=sha256:" + "c" * 64 + " https://example.com/t.model /m/\n"}),
    ("RA404", {"Dockerfile": FROM + "RUN curl -sSLo i.sh https://x.org/i.sh\n"}),
    ("RA405", {"Dockerfile": FROM + f"RUN huggingface-cli download org/m --revision {SHA}\n"}),
    ("RA501", {"Dockerfile": FROM + "COPY *.py .\n", "app.py": "x\n"}),
    ("RA502", {"Dockerfile": FROM + "COPY cfg.yaml .\n", "cfg.yaml": "a\n", ".dockerignore": "*.yaml\n!cfg.yaml\n"}),
    (
        "RA503",
        {"Dockerfile": FROM + "COPY lib/x .\n", "lib/x": "x\n", ".gitmodules": '[submodule "lib"]\n path = lib\n'},
    ),
    ("RA504", {"Dockerfile": FROM + "COPY /app.py .\n", "app.py": "x\n"}),
    ("RA505", {"Dockerfile": FROM + "COPY . .\n", "secret.txt": "x\n", ".gitignore": "secret.txt\n"}),
    ("RA506", {"Dockerfile": FROM + "RUN mkdir -p /data/cache\nENV HF_HOME=/data/cache\n"}),
    ("RA507", {"m.py": 'x = open("data/p.txt")\n'}),
    ("RA509", {"Dockerfile": FROM + "COPY . /app\nRUN pip install -r /app/req.txt\n", "req.txt": "numpy==1.26.4\n"}),
    (
        "RA601",
        {"m.py": f'AutoModel.from_pretrained("org/m", revision="{SHA}")\nload_dataset("json", data_files="x")\n'},
    ),
    ("RA602", {"m.py": f'AutoModel.from_pretrained("org/m", revision="{SHA}")\n'}),
    ("RA603", {"m.py": f'AutoModel.from_pretrained("org/m", trust_remote_code=True, revision="{SHA}")\n'}),
    ("RA701", {"Dockerfile": FROM + "RUN pip install deepspeed==0.10.3\n"}),
    ("RA801", {"Dockerfile": FROM + "ENV HF_HOME=/root/.cache\nENV HF_TOKEN=$HF_TOKEN\n"}),
    ("RA802", {"Dockerfile": FROM + "ARG HF_TOKEN\nRUN huggingface-cli login --token $HF_TOKEN\n"}),
    ("RA803", {"Dockerfile": FROM + "ARG HF_TOKEN\nRUN echo hello\n"}),
    ("RA002", {"Dockerfile": FROM}),
    ("RA003", {"requirements.txt": "numpy==1.26.4\n"}),
    ("RA007", {"m.py": 'AutoModel.from_pretrained("org/m", revision="x")\n'}),
]


@pytest.mark.parametrize(("rule", "files", "path", "line"), CATCHES, ids=[c[0] for c in CATCHES])
def test_catches(tmp_path: Path, rule: str, files: dict[str, str], path: str, line: int | None) -> None:
    # input problems are recorded by whichever rule reads the file: run a reader alongside
    readers = ["RA301"] if rule == "RA003" else []
    findings = [f for f in audit(tmp_path / "entry", files, [rule, *readers]) if f.rule == rule]
    assert [(f.location.path, f.location.line) for f in findings] == [(path, line)]


@pytest.mark.parametrize(("rule", "files"), NOT_CAUGHT, ids=[c[0] for c in NOT_CAUGHT])
def test_does_not_catch(tmp_path: Path, rule: str, files: dict[str, str]) -> None:
    assert caught(tmp_path / "entry", files, rule) == []


def test_credential_value_is_never_printed(tmp_path: Path) -> None:
    value = "hf_" + "Z" * 20
    (finding,) = caught(tmp_path / "entry", {"Dockerfile": FROM + f"ENV HF_TOKEN={value}\n"}, "RA801")
    assert value not in finding.message and value not in (finding.evidence or "")


def test_symlink_out_of_the_entry_is_reported_and_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("numpy\n")
    entry = tmp_path / "entry"
    entry.mkdir()
    os.symlink(outside, entry / "requirements.txt")
    os.symlink("Dockerfile", entry / "inside-link")
    (entry / "Dockerfile").write_text(FROM)
    findings = caught(entry, {}, "RA006")
    assert [f.location.path for f in findings] == ["requirements.txt"]
    assert caught(entry, {}, "RA301") == []  # the linked file outside was never read


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "requirements.txt").write_text("numpy\n")
    (entry / "requirements.txt").chmod(0)
    findings = caught(entry, {}, "RA005")
    assert [f.location.path for f in findings] == ["requirements.txt"]


@pytest.mark.parametrize(("size", "expected"), [(100 * 1024 * 1024, 1), (99 * 1024 * 1024, 0)])
def test_large_weight_file(tmp_path: Path, size: int, expected: int) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    with open(entry / "model.safetensors", "wb") as handle:
        handle.truncate(size)  # sparse: no disk is used
    assert len(caught(entry, {}, "RA508")) == expected
