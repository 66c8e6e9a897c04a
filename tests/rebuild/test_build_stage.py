"""The build stage end to end: `repro-audit run` over the build fixtures on the real engine. Every
fixture ends as fixtures/builds/expected.toml says, failures are linked to the static findings that
predicted them, a build past its deadline is stopped with nothing left running, a killed run leaves
nothing `repro-audit clean` cannot remove, and --rebuild-twice tells a build that writes the date."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import docker
import pytest

from audit.cli import main
from rebuild import engine

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "builds"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((FIXTURES / "expected.toml").read_text(encoding="utf-8"))
QUICK = sorted(name for name, spec in EXPECTED.items() if "deadline" not in spec)
pytestmark = pytest.mark.docker


def _source(tmp_path: Path, names: list[str]) -> Path:
    """The fixtures laid out as an organizers' archive folder: 4090/builds/<fixture>/."""
    source = tmp_path / "source"
    for name in names:
        shutil.copytree(FIXTURES / name, source / "4090" / "builds" / name)
    return source


def _hosts(tmp_path: Path, build: str) -> Path:
    path = tmp_path / "hosts.toml"
    memory = max((spec["memory"] for spec in EXPECTED.values() if "memory" in spec), default="1g")
    path.write_text(
        f'[hosts.fixtures]\ntrack = "cpu"\nmemory = "{memory}"\nnetwork = false\nbuilds = 2\n'
        f'[hosts.fixtures.timeouts]\nbuild = "{build}"\n',
        encoding="utf-8",
    )
    return path


def _report(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / "entries" / "4090" / "builds" / name / "report.json").read_text(encoding="utf-8"))


def _run_id(out: Path) -> str:
    import sqlite3

    with sqlite3.connect(out / "state.sqlite") as db:
        return str(db.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchone()[0])


def _leftovers(client: docker.DockerClient, out: Path) -> list[str]:
    """Containers of the run in `out`: labelled ones (those repro-audit starts), and any build container
    (the builder makes them from an image id, unlabelled) created since the run folder was."""
    import sqlite3
    from datetime import datetime

    with sqlite3.connect(out / "state.sqlite") as db:
        rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
    label = {"label": f"{engine.LABEL_RUN}={rows['run_id']}"}
    found = [c["Id"][:12] for c in client.api.containers(all=True, filters=label)]
    since = datetime.fromisoformat(rows["created"]).timestamp() - 1
    found += [
        c["Id"][:12]
        for c in client.api.containers(all=True)
        if int(c.get("Created") or 0) >= since and str(c.get("Image", "")).startswith("sha256:")
    ]
    return found


def _logged_containers(out: Path) -> set[str]:
    from rebuild.clean import _logged

    return _logged(out)[0]


def _present(client: docker.DockerClient, shorts: set[str]) -> list[str]:
    ids = [c["Id"] for c in client.api.containers(all=True)]
    return [s for s in shorts if any(i.startswith(s) for i in ids)]


def _wait_for_the_endless_step(client: docker.DockerClient, out: Path, process: subprocess.Popen[Any]) -> None:
    """Until slow-build's endless RUN step has a container in the engine. A loaded engine can take
    minutes over the steps before it (a CI run once saw COPY take more than two), so the wait is long
    and ends early only if the run itself has ended."""
    until = time.monotonic() + 600
    while time.monotonic() < until and process.poll() is None:
        if _present(client, _logged_containers(out)):
            return
        time.sleep(0.2)
    log = out / "entries" / "4090" / "builds" / "slow-build" / "Dockerfile" / "build.log"
    shown = log.read_text(encoding="utf-8") if log.is_file() else "(no build log)"
    pytest.fail(f"slow-build's RUN step never ran (run exit code {process.poll()}):\n{shown}")


def test_every_fixture_builds_or_fails_as_expected(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    source, out = _source(tmp_path, QUICK), tmp_path / "run"
    code = main(
        ["run", str(source), "--out", str(out), "--plain", "--jobs", "2", "--hosts", str(_hosts(tmp_path, "5m"))]
    )
    run_id = _run_id(out)
    try:
        assert code == 1  # some builds fail: that is the point of the fixtures
        for name in QUICK:
            report = _report(out, name)
            targets = report["build"]["targets"]
            assert targets, name
            for target in targets:
                got = target["status"] if target["status"] == "built" else target["class"]
                assert got == EXPECTED[name]["outcome"], (name, target.get("summary"), target.get("evidence"))
                if got != "built":
                    rule = next(
                        f for f in report["findings"] if f["family"] == "build" and f["target"] == target["dockerfile"]
                    )
                    assert rule["rule"] == target["rule"]
                    assert {p["rule"] for p in target["predicted_by"]} >= set(EXPECTED[name]["predicted_by"])
                    assert {r["path"] for r in rule["related"]} >= {p["path"] for p in target["predicted_by"]}
                    if target.get("log"):
                        assert (out / target["log"]).is_file()
                else:
                    image = docker_client.images.get(target["image"]["id"])
                    assert image.labels[engine.LABEL_ENTRY] == f"4090/builds/{name}"
                    assert image.labels[engine.LABEL_RUN] == run_id
                    assert target["image"]["layers"] >= 1 and target["image"]["size"] > 0
                    assert target["bases"] and all(b["id"] for b in target["bases"])
        missing = _report(out, "missing-file")["build"]["targets"][0]
        assert missing["step_line"] == 5 and "adapter_model.bin" in (missing["subject"] or "")
        assert "COPY failed" in "\n".join(e["text"] for e in missing["evidence"])
        # a token generated inside the build is in no file of the repository, but it is in the image
        baked = _report(out, "baked-token")
        in_image = [f for f in baked["findings"] if f["path"].startswith("image:")]
        assert in_image and all(f["family"] == "secret" for f in in_image)
        assert not [f for f in baked["findings"] if f["family"] == "secret" and not f["path"].startswith("image:")]
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert (
            summary["builds"]["built"] == sum(1 for n in QUICK if EXPECTED[n]["outcome"] == "built") + 1
        )  # train+inference
        assert _leftovers(docker_client, out) == []
        assert _present(docker_client, _logged_containers(out)) == []
    finally:
        assert main(["clean", str(out)]) == 0
    labelled = docker_client.api.images(filters={"label": f"{engine.LABEL_RUN}={run_id}"})
    assert labelled == []


def test_a_build_past_its_deadline_is_stopped_with_nothing_left_running(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    deadline = EXPECTED["slow-build"]["deadline"]
    source, out = _source(tmp_path, ["slow-build"]), tmp_path / "run"
    assert main(["run", str(source), "--out", str(out), "--plain", "--build-timeout", deadline]) == 1
    target = _report(out, "slow-build")["build"]["targets"][0]
    assert target["status"] == "timeout" and target["class"] == "timeout"
    assert target["limit_seconds"] == 5
    assert target["run_containers"] >= 1
    assert _present(docker_client, _logged_containers(out)) == []
    assert _leftovers(docker_client, out) == []
    assert main(["clean", str(out)]) == 0


def test_a_killed_run_leaves_nothing_that_clean_cannot_remove(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    source, out = _source(tmp_path, ["slow-build"]), tmp_path / "run"
    command = [sys.executable, "-m", "audit.cli", "run", str(source), "--out", str(out), "--plain", "--stages", "build"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_the_endless_step(docker_client, out, process)
    finally:
        os.kill(process.pid, signal.SIGKILL)  # the main process only: its workers die with it
        process.wait()
    assert main(["clean", str(out)]) == 0
    assert _present(docker_client, _logged_containers(out)) == []
    assert _leftovers(docker_client, out) == []


def test_ctrl_c_stops_the_builds_and_the_run_resumes(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    source, out = _source(tmp_path, ["slow-build"]), tmp_path / "run"
    command = [sys.executable, "-m", "audit.cli", "run", str(source), "--out", str(out), "--plain"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    _wait_for_the_endless_step(docker_client, out, process)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends to the whole group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert _present(docker_client, _logged_containers(out)) == []
    assert _leftovers(docker_client, out) == []
    assert main(["clean", str(out)]) == 0


def test_the_next_run_removes_what_an_earlier_attempt_left(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    source, out = _source(tmp_path, ["clean-busybox"]), tmp_path / "run"
    assert main(["run", str(source), "--out", str(out), "--plain", "--stages", "static"]) == 0
    run_id = _run_id(out)
    stray = docker_client.containers.create(
        engine.BUSYBOX_IMAGE, ["sleep", "600"], labels=engine.run_labels(run_id, "build", "4090/builds/clean-busybox")
    )
    stray.start()
    try:
        assert main(["run", str(source), "--out", str(out), "--plain"]) == 0
        assert _leftovers(docker_client, out) == []
    finally:
        with_stray = [c for c in docker_client.api.containers(all=True) if c["Id"] == stray.id]
        if with_stray:
            stray.remove(force=True)
        main(["clean", str(out)])


def test_rebuild_twice_tells_a_build_that_writes_the_date(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    source, out = _source(tmp_path, ["dated", "clean-busybox"]), tmp_path / "run"
    try:
        code = main(["run", str(source), "--out", str(out), "--plain", "--rebuild-twice"])
        assert code == 0  # a non-reproducible build is a medium finding, below --fail-on high
        dated = _report(out, "dated")
        determinism = dated["build"]["targets"][0]["determinism"]
        assert determinism["identical"] is False
        assert {d["path"] for d in determinism["files"]} >= {"/build-date"}
        assert [f["rule"] for f in dated["findings"] if f["family"] == "build"] == ["RA030"]
        steady = _report(out, "clean-busybox")["build"]["targets"][0]["determinism"]
        assert steady["identical"] is True, steady
        assert (out / "entries" / "4090" / "builds" / "dated" / "Dockerfile" / "build-2.log").is_file()
        second = [i for i in docker_client.images.list() if any(t.endswith("-second") for t in i.tags)]
        assert second == []  # the second image is compared, then removed
    finally:
        main(["clean", str(out)])


def test_an_unreachable_engine_skips_the_build_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = _source(tmp_path, ["clean-busybox"]), tmp_path / "run"
    hosts = tmp_path / "hosts.toml"
    hosts.write_text('[hosts.gone]\nendpoint = "tcp://127.0.0.1:9"\n', encoding="utf-8")
    assert main(["run", str(source), "--out", str(out), "--plain", "--hosts", str(hosts)]) == 0
    said = " ".join(capsys.readouterr().err.split())
    assert "no Docker Engine answers at tcp://127.0.0.1:9" in said and "builds on that host will be skipped" in said
    stage = next(s for s in _report(out, "clean-busybox")["stages"] if s["stage"] == "build")
    assert stage["status"] == "skipped"
    assert "tcp://127.0.0.1:9" in stage["reason"] and "docker-engine.sh" in stage["reason"]
