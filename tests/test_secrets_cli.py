"""Secrets end to end through the command line: every planted token is reported and none is ever printed;
`scrub` writes a clean copy, rewrites history and leaves the source untouched; baselines round-trip.

Tokens are generated at test time; the repository of the planted entry is built here.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import py_compile
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from audit.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, main
from tests.helpers import write_tree
from tests.secrets import tokens

RNG = tokens.source("secrets-cli")


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return done.stdout.decode("latin-1")


def _zip(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def _tar_gz(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    data = text.encode()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An entry (a git repository) with a distinct token in every kind of place."""
    t = {place: tokens.hf_token(RNG) for place in (
        "dockerfile", "python", "notebook-source", "notebook-output", "pyc", "pickle", "zip", "tar", "log",
        "git-config", "history", "swap",
    )}  # fmt: skip
    t["wandb"] = tokens.wandb_key(RNG)
    t["org"] = tokens.hf_org_token(RNG)
    root = tmp_path / "entry"
    module = tmp_path / "module.py"
    module.write_text(f"TOKEN = '{t['pyc']}'\n")
    pyc = Path(py_compile.compile(str(module), cfile=str(tmp_path / "module.pyc")))
    notebook = {
        "cells": [
            {"cell_type": "code", "source": ["import os\n", f"os.environ['HF_TOKEN'] = '{t['notebook-source']}'\n"],
             "outputs": []},
            {"cell_type": "code", "source": ["!cat ~/.token\n"],
             "outputs": [{"output_type": "stream", "name": "stdout", "text": [t["notebook-output"] + "\n"]}]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    write_tree(root, {"history.py": f"TOKEN = '{t['history']}'\n"})
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "first")
    (root / "history.py").write_text("import os\nTOKEN = os.environ['HF_TOKEN']\n")
    write_tree(root, {
        "Dockerfile": f"FROM python:3.11\nENV HUGGINGFACE_TOKEN={t['dockerfile']}\nENV WANDB_API_KEY={t['wandb']}\n",
        "train.py": f"ORG = '{t['org']}'\nTOKEN = \"{t['python']}\"\n",
        "explore.ipynb": json.dumps(notebook, indent=1),
        "__pycache__/module.cpython-311.pyc": pyc.read_bytes(),
        "state.pkl": pickle.dumps({"token": t["pickle"], "step": 3}),
        "bundle.zip": _zip("inner/cfg.py", f"T = '{t['zip']}'\n"),
        "data.tar.gz": _tar_gz("data/readme.txt", f"token: {t['tar']}\n"),
        "logs/train.log": f"step 1\nlogin with {t['log']}\nstep 2\n",
        ".train.py.swp": b"b0VIM 9.0\0\0\0" + f"TOKEN = '{t['swap']}'".encode() + b"\0\0",
    })  # fmt: skip
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "second")
    with (root / ".git" / "config").open("a") as config:
        config.write(f'[remote "hub"]\n\turl = https://user:{t["git-config"]}@huggingface.co/org/model\n')
    return root, t


def _digest(root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        sha.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def test_every_planted_token_is_reported_and_no_output_prints_one(
    planted: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, planted_tokens = planted
    report = tmp_path / "report.json"
    text_report = tmp_path / "report.txt"
    code = main(
        ["check", str(root), "--select", "secret", "--format", "json", "--output", str(report),
         "--format", "terminal", "--output", str(text_report), "--format", "terminal", "--show-suppressed"]
    )  # fmt: skip
    assert code == EXIT_FINDINGS
    printed = capsys.readouterr()
    outputs = [report.read_text(), text_report.read_text(), printed.out, printed.err]
    for value in planted_tokens.values():
        for output in outputs:
            assert value not in output
    data = json.loads(report.read_text())
    findings = data["entries"][0]["findings"]
    paths = {f["path"] for f in findings if f["rule"] in ("RA901", "RA902", "RA903", "RA904")}
    assert paths >= {
        "Dockerfile", "train.py", "explore.ipynb", "__pycache__/module.cpython-311.pyc", "state.pkl", "bundle.zip",
        "data.tar.gz", "logs/train.log", ".git/config", "history.py", ".train.py.swp",
    }  # fmt: skip
    history = [f for f in findings if f["path"] == "history.py"]
    assert history and history[0]["commit"] and history[0]["secret"]["lives"] == "history"
    cells = {(f.get("cell"), f.get("output")) for f in findings if f["path"] == "explore.ipynb"}
    assert cells == {(1, None), (2, 1)}
    members = {f.get("member") for f in findings if f["path"] in ("bundle.zip", "data.tar.gz")}
    assert members == {"inner/cfg.py", "data/readme.txt"}
    assert len(data["entries"][0]["secrets"]) == len(planted_tokens)


def test_a_secret_in_an_exception_message_is_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    value = tokens.hf_token(RNG)
    root = write_tree(tmp_path / "e", {"Dockerfile": "FROM python:3.11\n"})

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"cannot use {value}")

    monkeypatch.setattr("audit.cli.run_check", explode)
    assert main(["check", str(root)]) == EXIT_ERROR
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "internal error" in err and value not in err and value[:3] + "…" in err
    log = Path(err.split(" are in ")[1].split(",")[0])
    assert value not in log.read_text()
    log.unlink()


def test_scrub_writes_a_clean_copy_and_leaves_the_source_alone(
    planted: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, planted_tokens = planted
    before = _digest(root)
    copy = tmp_path / "release"
    summary = tmp_path / "scrub.json"
    assert main(["scrub", str(root), str(copy), "--json", str(summary)]) == EXIT_OK
    assert _digest(root) == before
    printed = capsys.readouterr()
    data = json.loads(summary.read_text())
    assert data["clean"] is True
    entry = data["entries"][0]
    assert entry["history_rewritten"] is True
    assert set(entry["removed_files"]) >= {"__pycache__/module.cpython-311.pyc", "state.pkl", "bundle.zip"}
    every_object = _git(copy, "cat-file", "--batch-all-objects", "--batch")
    everything = every_object + "".join(
        p.read_bytes().decode("latin-1") for p in copy.rglob("*") if p.is_file() and ".git/objects" not in str(p)
    )
    for value in planted_tokens.values():
        assert value not in everything
        assert value not in printed.out + printed.err + summary.read_text()
    json.loads((copy / "explore.ipynb").read_text())  # still a notebook
    assert "<REDACTED:huggingface-token:" in (copy / "Dockerfile").read_text()
    assert main(["check", str(copy), "--select", "secret", "--fail-on", "high"]) == EXIT_OK


def test_scrub_refuses_an_existing_destination(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_tree(tmp_path / "src", {"a.py": "x = 1\n"})
    write_tree(tmp_path / "dest", {"keep.txt": "mine\n"})
    assert main(["scrub", str(source), str(tmp_path / "dest")]) == EXIT_ERROR
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "dest" / "keep.txt").read_text() == "mine\n"
    assert main(["scrub", str(source), str(source / "inside")]) == EXIT_ERROR


def test_scrub_fails_when_the_history_cannot_be_rewritten(tmp_path: Path) -> None:
    value = tokens.hf_token(RNG)
    origin = write_tree(tmp_path / "origin", {"a.py": f"T = '{value}'\n"})
    _git(origin, "init", "-q")
    _git(origin, "add", ".")
    _git(origin, "commit", "-qm", "one")
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(tmp_path / "shallow")],
        check=True,
        capture_output=True,
    )
    assert main(["scrub", str(tmp_path / "shallow"), str(tmp_path / "copy")]) == EXIT_FINDINGS


def test_baseline_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    value = tokens.hf_token(RNG)
    root = write_tree(tmp_path / "e", {"a.py": f"T = '{value}'\n"})
    baseline = tmp_path / "baseline.json"
    assert main(["check", str(root), "--select", "secret", "--baseline", str(baseline)]) == EXIT_ERROR  # missing
    assert main(["check", str(root), "--select", "secret", "--baseline", str(baseline), "--update-baseline"]) == EXIT_OK
    stored = baseline.read_text()
    assert value not in stored and value[:3] + "…" not in stored
    assert json.loads(stored)["secrets"][0]["rule"] == "RA901"
    assert main(["check", str(root), "--select", "secret", "--baseline", str(baseline)]) == EXIT_OK
    (root / "b.py").write_text(f"U = '{tokens.hf_token(RNG)}'\n")
    assert main(["check", str(root), "--select", "secret", "--baseline", str(baseline)]) == EXIT_FINDINGS
    capsys.readouterr()


def test_terminal_lists_secrets_per_entry_and_those_shared_across_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared, own = tokens.hf_token(RNG), tokens.hf_token(RNG)
    archive = tmp_path / "archive"
    write_tree(archive / "A100" / "alice" / "repo", {"start.sh": f"export HF_TOKEN={shared}\n"})
    write_tree(archive / "4090" / "bob" / "repo", {"main.py": f"T = '{shared}'\nU = '{own}'\n"})
    assert main(["check", str(archive), "--select", "secret"]) == EXIT_FINDINGS
    out = " ".join(capsys.readouterr().out.split())
    assert "secrets 2 distinct" in out and "secrets 1 distinct" in out
    section = out.split("secrets shared by several entries (1)")[1]
    assert "in 2 entries: 4090/bob/repo A100/alice/repo" in section or "in 2 entries: A100/alice/repo" in section
    assert shared not in out and own not in out


def test_scrub_never_writes_where_the_entry_config_points(tmp_path: Path) -> None:
    value = tokens.hf_token(RNG)
    root = write_tree(tmp_path / "entry", {"a.py": f"T = '{value}'\n"})
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "one")
    outside = write_tree(tmp_path / "outside", {"keep.txt": "untouched\n"})
    hooks = write_tree(tmp_path / "hooks", {"post-checkout": "#!/bin/sh\ntouch " + str(tmp_path / "ran") + "\n"})
    (hooks / "post-checkout").chmod(0o755)
    _git(root, "config", "core.worktree", str(outside))
    _git(root, "config", "core.hooksPath", str(hooks))
    assert main(["scrub", str(root), str(tmp_path / "copy")]) == EXIT_OK
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "ran").exists()
    assert value not in (tmp_path / "copy" / "a.py").read_text()


def test_no_partial_token_in_evidence_or_wrapped_terminal_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tokens.hf_token(RNG), tokens.hf_token(RNG)
    line = "x" * 300 + " " + first + " " + "y" * 60 + " " + second + " " + "z" * 300
    deep = "/".join("averyverylongfoldername" + str(i) for i in range(3))
    root = write_tree(tmp_path / "e", {"a.txt": line + "\n", f"{deep}/{tokens.hf_token(RNG)}.txt": f"T = '{first}'\n"})
    named = next(p for p in root.rglob("*.txt") if p.name != "a.txt").stem
    assert main(["check", str(root), "--select", "secret", "--format", "json"]) == EXIT_FINDINGS
    data = json.loads(capsys.readouterr().out)
    for finding in data["entries"][0]["findings"]:
        evidence = finding["evidence"] or ""
        for value in (first, second):
            assert value[3:20] not in evidence and value[-18:] not in evidence
    assert main(["check", str(root), "--select", "secret", "--format", "terminal"]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "averyverylongfoldername2" in out  # the path is printed...
    assert named not in out.replace("\n", "")  # ...with the token in its file name redacted, whole


def test_scrub_runs_no_program_of_the_entry_and_keeps_uncommitted_work(tmp_path: Path) -> None:
    value = tokens.hf_token(RNG)
    root = write_tree(tmp_path / "entry", {"a.txt": f"T = '{value}'\n", ".gitattributes": "*.txt filter=x\n"})
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "one")
    marker = tmp_path / "ran"
    _git(root, "config", "filter.x.smudge", f"sh -c 'touch {marker}; cat'")
    (root / "a.txt").write_text(f"T = '{value}'\nU = 2  # not committed\n")
    (root / "notes.md").write_text("untracked notes\n")
    (root / "keys.py").write_text(
        'def is_key(text):\n    return text.startswith("-----BEGIN RSA PRIVATE KEY-----")\n\n\nX = 1\n'
    )
    assert main(["scrub", str(root), str(tmp_path / "copy")]) == EXIT_OK
    assert not marker.exists()
    copy = tmp_path / "copy"
    assert (copy / "a.txt").read_text().endswith("U = 2  # not committed\n")
    assert value not in (copy / "a.txt").read_text()
    assert (copy / "notes.md").read_text() == "untracked notes\n"
    assert (copy / "keys.py").read_text().endswith("X = 1\n")  # a header alone is not a key to cut out
    assert "filter" not in (copy / ".git" / "config").read_text()


def test_scrub_fails_when_part_of_the_copy_cannot_be_scanned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = tokens.hf_token(RNG)
    root = write_tree(tmp_path / "entry", {"a.py": f"T = '{value}'\n", "big.bin": b"\0" * 4096})
    assert main(["scrub", str(root), str(tmp_path / "copy"), "--secret-max-file-bytes", "2048"]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "NOT VERIFIED big.bin" in out and value not in out


def test_tokens_in_commit_and_tag_messages_are_found_and_scrubbed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    in_commit, in_tag = tokens.hf_token(RNG), tokens.hf_token(RNG)
    origin = write_tree(tmp_path / "origin", {"a.py": "x = 1\n"})
    _git(origin, "init", "-q")
    _git(origin, "add", ".")
    _git(origin, "commit", "-qm", f"deploy with {in_commit}")
    _git(origin, "tag", "-a", "v1", "-m", f"release, token {in_tag}")
    subprocess.run(["git", "clone", "-q", str(origin), str(tmp_path / "entry")], check=True, capture_output=True)
    entry = tmp_path / "entry"
    assert main(["check", str(entry), "--select", "RA901", "--format", "json"]) == EXIT_FINDINGS
    messages = [f["message"] for f in json.loads(capsys.readouterr().out)["entries"][0]["findings"]]
    assert any("commit message" in m for m in messages) and any("tag message" in m for m in messages)
    assert main(["scrub", str(entry), str(tmp_path / "copy")]) == EXIT_OK
    objects = _git(tmp_path / "copy", "cat-file", "--batch-all-objects", "--batch")
    assert in_commit not in objects and in_tag not in objects


def test_a_private_salt_is_never_written_to_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "e", {"a.py": f"T = '{tokens.hf_token(RNG)}'\n"})
    baseline = tmp_path / "baseline.json"
    monkeypatch.setenv("REPRO_AUDIT_SECRET_SALT", "our-private-salt")
    assert main(["check", str(root), "--select", "secret", "--baseline", str(baseline), "--update-baseline"]) == EXIT_OK
    assert "our-private-salt" not in baseline.read_text() and json.loads(baseline.read_text())["salt"] is None
    assert main(["check", str(root), "--select", "secret", "--baseline", str(baseline)]) == EXIT_OK
    monkeypatch.delenv("REPRO_AUDIT_SECRET_SALT")
    assert main(["check", str(root), "--select", "secret", "--baseline", str(baseline)]) == EXIT_ERROR
    assert "REPRO_AUDIT_SECRET_SALT" in capsys.readouterr().err
