"""The `python` resolver: real pip-compile runs against a real package index on 127.0.0.1 (tests.fix.package_index)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.discover import EntrySource
from audit.engine import CheckOptions, entry_view
from audit.fix.model import Change, FixSettings, Note, Resolves
from audit.fix.python_deps import PythonDependencies
from tests.fix.package_index import Wheel, build_wheels, serve_index, wheel_of
from tests.helpers import audit, write_tree

PINNING_RULES = ["RA201", "RA202", "RA203", "RA204", "RA301"]
CUTOFF = datetime(2023, 10, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def wheels() -> list[Wheel]:
    return build_wheels()


@pytest.fixture(scope="module")
def index(wheels: list[Wheel]) -> Iterator[str]:
    with serve_index(wheels) as url:
        yield url


def propose(
    root: Path, files: dict[str, str | bytes], index: str, cutoff: datetime = CUTOFF
) -> tuple[list[Change], list[Note], list[str]]:
    write_tree(root, files)
    view = entry_view(EntrySource(root.name, root, None), None, CheckOptions())
    settings = FixSettings(cutoff, "test", index_url=index, cache_dir=root.parent / "cache", timeout=300)
    said: list[str] = []
    results = list(PythonDependencies().propose(view, settings, said.append))
    return [r for r in results if isinstance(r, Change)], [r for r in results if isinstance(r, Note)], said


def applied(root: Path, change: Change, path: str) -> str:
    text = (root / path).read_text(encoding="utf-8")
    for edit in sorted((e for e in change.edits if e.path == path), key=lambda e: e.start, reverse=True):
        text = text[: edit.start] + edit.new + text[edit.end :]
    return text


def pinning_findings(root: Path, files: dict[str, str | bytes]) -> set[Resolves]:
    return {Resolves(f.rule, f.location.path, f.location.line) for f in audit(root, files, PINNING_RULES)}


def lock_of(change: Change) -> str:
    (lock,) = change.new_files
    return lock.text


def test_the_lock_holds_what_was_published_before_the_cutoff_and_the_files_are_rewritten(
    tmp_path: Path, index: str, wheels: list[Wheel]
) -> None:
    files: dict[str, str | bytes] = {
        "Dockerfile": (
            "FROM python:3.11-slim\n"
            "WORKDIR /app\n"
            "COPY requirements.txt .\n"
            "RUN apt-get update && \\\n"
            "    pip install --no-cache-dir -r requirements.txt beta && \\\n"
            "    rm -rf /var/lib/apt/lists/*\n"
            "RUN pip3 install -q alpha\n"
            'CMD ["python"]\n'
        ),
        "requirements.txt": "# the one we need\nalpha>=1  # any will do\n\nbeta==1.0\n",
    }
    changes, notes, said = propose(tmp_path / "entry", files, index)
    assert notes == []
    (change,) = changes
    alpha = wheel_of(wheels, "alpha", "1.0")
    beta = wheel_of(wheels, "beta", "1.0")
    assert lock_of(change) == (
        "# The Python packages Dockerfile installs, locked by repro-audit fix with pip-compile --generate-hashes\n"
        f"# against {index} as of 2023-10-25T00:00:00Z (Python 3.11).\n"
        f"alpha==1.0 \\\n    --hash=sha256:{alpha.sha256}\n"
        f"beta==1.0 \\\n    --hash=sha256:{beta.sha256}\n"
    )
    assert change.new_files[0].path == "requirements.lock.txt"
    lock = "/tmp/repro-audit/requirements.lock.txt"
    assert applied(tmp_path / "entry", change, "Dockerfile") == (
        "FROM python:3.11-slim\n"
        "WORKDIR /app\n"
        "COPY requirements.txt .\n"
        f"COPY requirements.lock.txt {lock}\n"
        "RUN apt-get update && \\\n"
        f"    pip install --no-cache-dir --require-hashes -r {lock} && \\\n"
        "    rm -rf /var/lib/apt/lists/*\n"
        f"RUN pip3 install -q --require-hashes -r {lock}\n"
        'CMD ["python"]\n'
    )
    assert applied(tmp_path / "entry", change, "requirements.txt") == (
        "# the one we need\nalpha==1.0  # any will do\n\nbeta==1.0\n"
    )
    assert said == ["resolving 4 requirements of Dockerfile with pip-compile as of 2023-10-25T00:00:00Z"]
    findings = pinning_findings(tmp_path / "entry", files)
    assert findings, "the fixture must have pinning findings"
    assert findings <= set(change.resolves)


def test_a_later_cutoff_takes_the_later_release(tmp_path: Path, index: str, wheels: list[Wheel]) -> None:
    files: dict[str, str | bytes] = {"Dockerfile": "FROM python:3.11\nRUN pip install alpha\n"}
    changes, notes, _said = propose(tmp_path / "entry", files, index, cutoff=datetime(2024, 3, 1, tzinfo=UTC))
    assert notes == []
    (change,) = changes
    assert f"alpha==2.0 \\\n    --hash=sha256:{wheel_of(wheels, 'alpha', '2.0').sha256}\n" in lock_of(change)
    assert "alpha==1.0" not in lock_of(change)


def test_unquoted_specifiers_and_upgrades_are_locked_as_meant(tmp_path: Path, index: str) -> None:
    files: dict[str, str | bytes] = {
        "docker/Dockerfile": "FROM python:3.11\nRUN pip install -U pip-less-name beta>=1.0 alpha\n".replace(
            "pip-less-name ", ""
        ),
    }
    changes, notes, _said = propose(tmp_path / "entry", files, index)
    assert notes == []
    (change,) = changes
    assert change.new_files[0].path == "docker/requirements.lock.txt"  # the context is the Dockerfile's folder
    assert applied(tmp_path / "entry", change, "docker/Dockerfile") == (
        "FROM python:3.11\n"
        "COPY requirements.lock.txt /tmp/repro-audit/requirements.lock.txt\n"
        "RUN pip install --require-hashes -r /tmp/repro-audit/requirements.lock.txt\n"
    )
    assert "beta==1.0" in lock_of(change)
    findings = pinning_findings(tmp_path / "entry", files)
    assert {f.rule for f in findings} >= {"RA202", "RA204"}
    assert findings <= set(change.resolves)


def test_a_conflict_is_a_note_naming_both_sides_and_changes_nothing(tmp_path: Path, index: str) -> None:
    files: dict[str, str | bytes] = {"Dockerfile": "FROM python:3.11\nRUN pip install gamma epsilon\n"}
    changes, notes, _said = propose(tmp_path / "entry", files, index)
    assert changes == []
    (note,) = notes
    assert note.path == "Dockerfile" and note.line == 2
    assert "gamma 1.0" in note.message and "epsilon 1.0" in note.message
    assert "delta==1.0" in note.message and "delta==2.0" in note.message
    assert "\n" not in note.message


def test_a_package_published_after_the_cutoff_is_a_note_naming_it(tmp_path: Path, index: str) -> None:
    files: dict[str, str | bytes] = {"Dockerfile": "FROM python:3.11\nRUN pip install alpha latecomer\n"}
    changes, notes, _said = propose(tmp_path / "entry", files, index)
    assert changes == []
    (note,) = notes
    assert "latecomer" in note.message and "2023-10-25" in note.message


def test_torch_from_the_pytorch_index_is_pinned_to_the_base_image_and_installed_first(
    tmp_path: Path, index: str
) -> None:
    files: dict[str, str | bytes] = {
        "Dockerfile": (
            "FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel\n"
            "RUN pip install torch --index-url https://download.pytorch.org/whl/cu121\n"
            "RUN pip install beta\n"
        )
    }
    changes, notes, _said = propose(tmp_path / "entry", files, index)
    assert notes == []
    (change,) = changes
    lock = "/tmp/repro-audit/requirements.lock.txt"
    assert applied(tmp_path / "entry", change, "Dockerfile") == (
        "FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel\n"
        f"COPY requirements.lock.txt {lock}\n"
        "RUN pip install --index-url https://download.pytorch.org/whl/cu121 torch==2.1.0"
        f" && pip install --require-hashes -r {lock}\n"
        f"RUN pip install --require-hashes -r {lock}\n"
    )
    assert "torch" not in lock_of(change).split("\n", 2)[2]
    assert any("torch==2.1.0" in caveat and "own index" in caveat for caveat in change.caveats)
    assert any("does not tell its Python" in caveat for caveat in change.caveats)
    assert pinning_findings(tmp_path / "entry", files) <= set(change.resolves)


def test_torch_with_no_version_anywhere_is_a_note(tmp_path: Path, index: str) -> None:
    files: dict[str, str | bytes] = {
        "Dockerfile": "FROM python:3.11\nRUN pip install torch alpha --extra-index-url https://download.pytorch.org/whl/cpu\n"
    }
    changes, notes, _said = propose(tmp_path / "entry", files, index)
    assert [n.message.split(":")[0] for n in notes] == ["torch could not be pinned"]
    assert notes[0].line == 2
    (change,) = changes  # alpha is still locked; torch is installed as written, from its index, before the lock
    lock = "/tmp/repro-audit/requirements.lock.txt"
    assert applied(tmp_path / "entry", change, "Dockerfile") == (
        "FROM python:3.11\n"
        f"COPY requirements.lock.txt {lock}\n"
        "RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu torch"
        f" && pip install --require-hashes -r {lock}\n"
    )


def test_the_lock_installs_with_hashes_from_the_wheels(tmp_path: Path, index: str) -> None:
    files: dict[str, str | bytes] = {"Dockerfile": "FROM python:3.11\nRUN pip install beta\n"}
    changes, _notes, _said = propose(tmp_path / "entry", files, index)
    (change,) = changes
    lock = tmp_path / "lock.txt"
    lock.write_text(lock_of(change), encoding="utf-8")
    wheel_folder = tmp_path / "wheels"
    build_wheels(wheel_folder)  # the same bytes again: the lock's hashes must match them
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
         "--find-links", str(wheel_folder), "--require-hashes", "-r", str(lock)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Would install alpha-1.0 beta-1.0" in result.stdout


def test_a_conda_install_is_a_note(tmp_path: Path, index: str) -> None:
    files: dict[str, str | bytes] = {"Dockerfile": "FROM continuumio/miniconda3\nRUN conda install numpy\n"}
    changes, notes, _said = propose(tmp_path / "entry", files, index)
    assert changes == []
    assert [n.message.split(":")[0] for n in notes] == ["conda installs are not locked by fix"]


BACKEND = """
import base64, hashlib, zipfile

def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "vcsdemo-0.1-py3-none-any.whl"
    members = {
        "vcsdemo/__init__.py": b"",
        "vcsdemo-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: vcsdemo\\nVersion: 0.1\\nRequires-Dist: alpha\\n",
        "vcsdemo-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = "".join(f"{p},{_hash(d)},{len(d)}\\n" for p, d in members.items()) + "vcsdemo-0.1.dist-info/RECORD,,\\n"
    members["vcsdemo-0.1.dist-info/RECORD"] = record.encode()
    with zipfile.ZipFile(f"{wheel_directory}/{name}", "w") as archive:
        for path, data in members.items():
            archive.writestr(path, data)
    return name
"""


def _git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def test_a_vcs_install_is_pinned_to_the_commit_at_the_cutoff_and_installed_after_the_lock(
    tmp_path: Path, index: str, wheels: list[Wheel]
) -> None:
    repo = tmp_path / "vcsdemo"
    write_tree(
        repo,
        {
            "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
            "backend.py": BACKEND,
        },
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "before", date="2023-10-01T12:00:00+00:00")
    before = _git(repo, "rev-parse", "HEAD")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "after", date="2023-11-01T12:00:00+00:00")
    url = f"git+file://{repo}"
    files: dict[str, str | bytes] = {"Dockerfile": f"FROM python:3.11\nRUN pip install {url}\n"}
    changes, notes, _said = propose(tmp_path / "entry", files, index)
    assert notes == []
    (change,) = changes
    lock = "/tmp/repro-audit/requirements.lock.txt"
    assert applied(tmp_path / "entry", change, "Dockerfile") == (
        "FROM python:3.11\n"
        f"COPY requirements.lock.txt {lock}\n"
        f"RUN pip install --require-hashes -r {lock} && pip install --no-deps {url}@{before}\n"
    )
    body = lock_of(change).split("\n", 2)[2]
    assert body == f"alpha==1.0 \\\n    --hash=sha256:{wheel_of(wheels, 'alpha', '1.0').sha256}\n"
    assert pinning_findings(tmp_path / "entry", files) <= set(change.resolves)
    assert any(r.rule == "RA203" for r in change.resolves)


def test_a_base_image_with_another_python_gets_a_caveat(tmp_path: Path, index: str) -> None:
    files: dict[str, str | bytes] = {"Dockerfile": "FROM python:3.10-slim\nRUN pip install alpha\n"}
    changes, _notes, _said = propose(tmp_path / "entry", files, index)
    (change,) = changes
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = [c for c in change.caveats if "python:3.10-slim says Python 3.10" in c]
    assert expected if running != "3.10" else not expected


def test_lock_names_are_requirement_files_never_dockerfiles() -> None:
    from audit.discover import is_dockerfile
    from audit.fix.python_deps import lock_name
    from audit.views.entry import REQUIREMENT_NAME

    cases = {
        ("Dockerfile", None): "requirements.lock.txt",
        ("Dockerfile.train", None): "requirements.train.lock.txt",
        ("inference.Dockerfile", "builder"): "requirements.inference.builder.lock.txt",
        ("Containerfile", "stage1"): "requirements.stage1.lock.txt",
    }
    for (dockerfile, stage), expected in cases.items():
        name = lock_name(dockerfile, stage)
        assert name == expected
        assert not is_dockerfile(name) and REQUIREMENT_NAME.search(name)


def test_two_identical_installs_in_one_run_and_variables_in_kept_options(tmp_path: Path) -> None:
    from audit.fix.python_deps import _quote
    from audit.fix.text import SourceText
    from audit.views.dockerfile import parse_dockerfile

    text = "FROM python:3.11\nRUN pip install alpha && cd /x && pip install alpha\n"
    dockerfile = parse_dockerfile("Dockerfile", text)
    step = dockerfile.runs()[0]
    source = SourceText("Dockerfile", text)
    first = source.command_span(step.instruction, step.commands[0])
    assert first is not None
    second = source.command_span(step.instruction, step.commands[2], first.end)
    assert second is not None and second.start > first.end and text[second.start : second.end] == "pip install alpha"
    assert _quote("--find-links=${WHEELS}") == '"--find-links=${WHEELS}"'  # still expanded by the shell
    assert _quote('$A"b') == '"$A\\"b"'
    assert _quote("a b") == "'a b'"
