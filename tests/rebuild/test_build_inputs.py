"""The build stage on hostile or broken entries: nothing outside the entry is sent to the engine, an
entrant's output cannot make repro-audit remove anything of somebody else's, bad files are findings (not
tracebacks), no pull happens behind the profile's back, and no token of a build log reaches a report."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import docker
import pytest

from audit.cli import main
from rebuild.engine import BUSYBOX_IMAGE
from tests.secrets import tokens

pytestmark = pytest.mark.docker


def _entry(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "source" / "4090" / "user" / "repo"
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return tmp_path / "source"


def _run(tmp_path: Path, files: dict[str, str | bytes], *argv: str) -> tuple[dict[str, Any], Path]:
    """Run every stage on one entry whose build fails: exit code 1, and the entry's report."""
    source, out = _entry(tmp_path, files), tmp_path / "run"
    assert main(["run", str(source), "--out", str(out), "--plain", "--build-timeout", "60s", *argv]) == 1
    report = json.loads((out / "entries" / "4090" / "user" / "repo" / "report.json").read_text(encoding="utf-8"))
    return report, out


def _targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["dockerfile"]: t for t in report["build"]["targets"]}


def _build_stage(report: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in report["stages"] if s["stage"] == "build")


def test_a_context_outside_the_entry_is_refused(tmp_path: Path) -> None:
    files = {
        "Dockerfile": f"FROM {BUSYBOX_IMAGE}\nCOPY . /ctx\n",
        "pyproject.toml": '[tool.repro-audit]\ncontexts = { "Dockerfile" = "../../../../../../../../etc" }\n',
    }
    report, out = _run(tmp_path, files)
    target = _targets(report)["Dockerfile"]
    assert target["status"] == "failed" and target["class"] == "invalid-dockerfile"
    assert "outside the entry" in target["summary"]
    assert not (out / "entries" / "4090" / "user" / "repo" / "Dockerfile" / "build.log").exists()
    main(["clean", str(out)])


def test_log_lines_printed_by_a_step_cannot_remove_other_images_or_containers(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    context = tmp_path / "victim"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BUSYBOX_IMAGE}\nRUN echo victim > /v\n")
    victim, _ = docker_client.images.build(path=str(context), tag="repro-audit-test/victim:1", rm=True)
    stray = docker_client.containers.create(BUSYBOX_IMAGE, ["true"])
    short_image, short_container = victim.id.removeprefix("sha256:")[:12], stray.id[:12]
    try:
        files = {
            "Dockerfile": f"FROM {BUSYBOX_IMAGE}\n"
            f"RUN printf ' ---> Running in {short_container}\\n ---> {short_image}\\n' && exit 1\n"
        }
        report, out = _run(tmp_path, files)
        assert _targets(report)["Dockerfile"]["class"] == "run-failed"
        assert main(["clean", str(out)]) == 0
        assert docker_client.images.get(victim.id).tags == ["repro-audit-test/victim:1"]
        assert docker_client.containers.get(stray.id).id == stray.id
    finally:
        stray.remove(force=True)
        docker_client.images.remove(victim.id, force=True)


def test_files_the_sdk_cannot_read_are_a_failed_target_not_a_crash(tmp_path: Path) -> None:
    files = {"Dockerfile": f"FROM {BUSYBOX_IMAGE}\nCOPY . /app\n", ".dockerignore": b"\xff\xfe\x00bad\n"}
    report, out = _run(tmp_path, files)
    target = _targets(report)["Dockerfile"]
    assert target["class"] == "invalid-dockerfile", target
    assert "could not be sent" in target["summary"]
    assert _build_stage(report)["status"] == "failed"
    main(["clean", str(out)])


def test_a_failing_run_with_a_very_long_command_is_a_failed_run(tmp_path: Path) -> None:
    words = " \\\n    ".join(f"echo step-{n}-{'x' * 40} >/dev/null &&" for n in range(120))
    report, out = _run(tmp_path, {"Dockerfile": f"FROM {BUSYBOX_IMAGE}\nRUN {words} exit 4\n"})
    target = _targets(report)["Dockerfile"]
    assert target["class"] == "run-failed" and target["exit_code"] == 4
    main(["clean", str(out)])


def test_copy_from_an_image_the_host_lacks_is_not_pulled(tmp_path: Path) -> None:
    files = {"Dockerfile": f"FROM {BUSYBOX_IMAGE}\nCOPY --from=registry.invalid/tools:1 /bin/tool /bin/tool\n"}
    report, out = _run(tmp_path, files)
    target = _targets(report)["Dockerfile"]
    assert target["class"] == "base-image"
    assert "registry.invalid/tools:1" in target["summary"] and "allows no pulls" in target["summary"]
    main(["clean", str(out)])


def test_a_token_a_failing_step_prints_reaches_no_report_and_no_log(tmp_path: Path) -> None:
    token = tokens.hf_token(random.Random(7))
    half = len(token) // 2
    files = {
        "Dockerfile": f"FROM {BUSYBOX_IMAGE}\nCOPY a b /\n"
        'RUN echo "login failed for token $(cat /a)$(cat /b)" >&2 && exit 3\n',
        "a": token[:half],
        "b": token[half:],
    }
    report, out = _run(tmp_path, files)
    assert _targets(report)["Dockerfile"]["class"] == "run-failed"
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".log", ".sqlite"):
            assert token.encode() not in path.read_bytes(), path
    log = (out / "entries" / "4090" / "user" / "repo" / "Dockerfile" / "build.log").read_text()
    assert "login failed for token hf_" in log  # redacted, not dropped
    main(["clean", str(out)])


def test_build_args_come_from_the_entrys_config_and_the_command_line_wins(tmp_path: Path) -> None:
    files = {
        "Dockerfile": f'FROM {BUSYBOX_IMAGE}\nARG GREETING\nRUN test "$GREETING" = hello\n',
        "pyproject.toml": '[tool.repro-audit]\nbuild-args = { GREETING = "hello" }\n',
    }
    source, out = _entry(tmp_path, files), tmp_path / "run"
    assert main(["run", str(source), "--out", str(out), "--plain"]) == 0
    assert main(["run", str(source), "--out", str(tmp_path / "run2"), "--plain", "--build-arg", "GREETING=bye"]) == 1
    main(["clean", str(out)])
    main(["clean", str(tmp_path / "run2")])
