"""End to end: `repro-audit fix --write` over the fixtures/fix/unpinned submission, with every resolver
talking to a real server on 127.0.0.1 (a PEP 691 package index, Debian's docker-registry, a fake Hub),
then `check` finds no pinning finding left and `run --stages build` builds the fixed entry offline."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import git
import pytest

from audit.cli import main
from audit.fix.plan import PINNING_RULES
from tests.fix.hub_server import FakeCommit, FakeHub, FakeRepo, serve
from tests.fix.package_index import build_wheels, serve_index, wheel_of
from tests.rebuild.registry import local_registry, push, require_registry, untag

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "fix" / "unpinned"
PYTHON_IMAGE = "repro-audit-local/python:3.11-bookworm"
BEFORE, AFTER = "1" * 40, "2" * 40  # the Hub commits either side of the cut-off


def _hub() -> FakeHub:
    def history(repo_id: str, repo_type: str) -> FakeRepo:
        commits = [
            FakeCommit(AFTER if repo_type == "model" else "4" * 40, datetime(2023, 11, 20, tzinfo=UTC)),
            FakeCommit(BEFORE if repo_type == "model" else "3" * 40, datetime(2023, 10, 1, tzinfo=UTC)),
        ]
        return FakeRepo(repo_id, repo_type, branches={"main": commits})

    return FakeHub([history("example-org/tiny-model", "model"), history("example-org/tiny-prompts", "dataset")])


@pytest.fixture
def registry() -> Iterator[str]:
    require_registry()
    with local_registry() as address:
        yield address


def _entry(tmp_path: Path, base: str) -> tuple[Path, Path]:
    """The fixture in an organizers' archive (4090/entrant/unpinned), its FROM on `base`, its wheels
    built, committed as the entrant would have."""
    source = tmp_path / "source"
    entry = source / "4090" / "entrant" / "unpinned"
    shutil.copytree(FIXTURE, entry)
    dockerfile = entry / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(f"FROM {PYTHON_IMAGE}", f"FROM {base}"))
    build_wheels(entry / "wheels")
    repo = git.Repo.init(entry)
    repo.git.add(A=True)
    moment = "2023-10-24T12:00:00Z"
    repo.git.commit(m="submission", author="Entrant <e@example.org>",
                    env={"GIT_AUTHOR_DATE": moment, "GIT_COMMITTER_DATE": moment})  # fmt: skip
    return source, entry


def test_a_fixed_submission_has_no_pinning_finding_left_and_builds_offline(
    tmp_path: Path, docker_client: docker.DockerClient, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, digest = push(docker_client, PYTHON_IMAGE, registry)
    out = tmp_path / "run"
    try:
        source, entry = _entry(tmp_path, reference)
        wheels = build_wheels()
        with serve_index(wheels) as index, serve(_hub()) as hub:
            before = json.loads(_check(entry, tmp_path, capsys))
            assert {f["rule"] for f in before} == {"RA102", "RA201", "RA301", "RA601"}
            code = main(["fix", str(entry), "--as-of", "2023-10-25", "--index-url", index, "--hf-endpoint", hub.url,
                         "--write", "--quiet"])  # fmt: skip
            printed = capsys.readouterr()
            assert code == 0, printed.err
        # the patch printed names every finding it resolved
        for rule in ("RA102", "RA201", "RA301", "RA601"):
            assert f"resolves {rule}" in printed.out
        dockerfile = (entry / "Dockerfile").read_text()
        assert f"FROM {reference}@{digest}\n" in dockerfile
        lock = (entry / "requirements.lock.txt").read_text()
        alpha = wheel_of(wheels, "alpha", "1.0")
        assert re.search(r"^alpha==1\.0 ", lock, re.M) and f"--hash=sha256:{alpha.sha256}" in lock
        assert "alpha==2.0" not in lock  # uploaded after the cut-off
        assert "COPY requirements.lock.txt /tmp/repro-audit/requirements.lock.txt\n" in dockerfile
        assert dockerfile.count("--require-hashes -r /tmp/repro-audit/requirements.lock.txt") == 2
        assert (entry / "requirements.txt").read_text().startswith("alpha==1.0")
        main_py = (entry / "main.py").read_text()
        assert main_py.count(f'revision="{BEFORE}"') == 2 and f'revision="{"3" * 40}"' in main_py
        assert 'torch_dtype="auto",  # the entrant\'s comment stays where it is' in main_py
        # a fresh audit agrees: nothing left to pin
        after = json.loads(_check(entry, tmp_path, capsys))
        assert [f for f in after if f["rule"] in PINNING_RULES] == []
        # and the rebuild stage builds it with no network
        hosts = tmp_path / "hosts.toml"
        hosts.write_text('[hosts.offline]\ntrack = "cpu"\nmemory = "1g"\nnetwork = false\n', encoding="utf-8")
        code = main(["run", str(source), "--out", str(out), "--plain", "--stages", "static,build",
                     "--hosts", str(hosts)])  # fmt: skip
        report = json.loads((out / "entries" / "4090" / "entrant" / "unpinned" / "report.json").read_text())
        targets = report["build"]["targets"]
        assert [t["status"] for t in targets] == ["built"], targets
        log = (out / targets[0]["log"]).read_text() if targets[0].get("log") else ""
        assert "Successfully installed" in log or not log
    finally:
        if out.exists():
            main(["clean", str(out)])
        untag(docker_client, reference)


def _check(entry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    output = tmp_path / "check.json"
    main(["check", str(entry), "--no-history", "--format", "json", "--output", str(output)])
    capsys.readouterr()
    findings = json.loads(output.read_text())["entries"][0]["findings"]
    return json.dumps([f for f in findings if f["rule"] in PINNING_RULES])
