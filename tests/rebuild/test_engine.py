"""The engine wrapper against a real Docker Engine: builds under a deadline leave nothing running, the
sandbox, and the step images a log names."""

from __future__ import annotations

import contextlib
from pathlib import Path

import docker
import pytest

from rebuild import engine
from rebuild.engine import BUSYBOX_IMAGE, BuildSpec, build

RUN_ID = "test-engine"


def _spec(tmp_path: Path, dockerfile: str, deadline: float = 120, **changes: object) -> BuildSpec:
    context = tmp_path / "context"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    values: dict[str, object] = {
        "context": context,
        "dockerfile": context / "Dockerfile",
        "tag": f"repro-audit/{RUN_ID}:{tmp_path.name.lower()[:60]}",
        "labels": engine.run_labels(RUN_ID, "build", "entry", "Dockerfile"),
        "log": tmp_path / "out" / "build.log",
        "deadline": deadline,
        **changes,
    }
    return BuildSpec(**values)  # type: ignore[arg-type]


def _ours(client: docker.DockerClient) -> list[str]:
    return [c.id for c in client.containers.list(all=True, filters={"label": f"{engine.LABEL_RUN}={RUN_ID}"})]


def _remove(client: docker.DockerClient, tag: str) -> None:
    with contextlib.suppress(docker.errors.DockerException):
        client.images.remove(tag, force=True)


@pytest.mark.docker
def test_a_build_that_succeeds_is_logged_and_labelled(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    spec = _spec(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN echo hello-from-the-build > /greeting\nCMD cat /greeting\n")
    try:
        result = build(None, spec)
        assert result.outcome == "built", result.error
        image = docker_client.images.get(result.image_id)
        assert image.labels[engine.LABEL_RUN] == RUN_ID
        assert spec.tag in image.tags
        log = spec.log.read_text(encoding="utf-8")
        assert "Step 2/" in log and ": RUN echo hello-from-the-build > /greeting" in log
        assert result.containers  # every step ran in a container, and rm removed them all
        present = [c["Id"] for c in docker_client.api.containers(all=True)]
        assert not [c for c in result.containers if any(p.startswith(c) for p in present)]
        assert (
            result.intermediate_images and image.id.removeprefix("sha256:")[:12] not in result.intermediate_images[:-1]
        )
        assert docker_client.images.get(BUSYBOX_IMAGE).id.removeprefix("sha256:")[:12] not in result.intermediate_images
    finally:
        _remove(docker_client, spec.tag)


@pytest.mark.docker
def test_a_failing_step_reports_the_engines_error(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    spec = _spec(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN echo about to fail >&2 && exit 3\n")
    result = build(None, spec)
    assert result.outcome == "failed"
    assert result.error is not None and "returned a non-zero code: 3" in result.error
    log = spec.log.read_text(encoding="utf-8")
    assert "about to fail" in log
    assert "returned a non-zero code: 3" in log
    assert _ours(docker_client) == []  # forcerm: the failed step's container is gone


@pytest.mark.docker
def test_the_deadline_stops_the_build_and_nothing_is_left_running(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    spec = _spec(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN echo started && sleep 3600\n", deadline=10, nocache=True)
    result = build(None, spec)
    assert result.outcome == "timeout"
    assert "limit of 10 s" in (result.error or "")
    assert len(result.containers) == 1
    running = [c["Id"] for c in docker_client.api.containers(all=True) if c["Id"].startswith(result.containers[0])]
    assert running == []
    log = spec.log.read_text(encoding="utf-8")
    assert "started" in log and "stopped at its deadline" in log
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(spec.tag)


@pytest.mark.docker
def test_no_network_means_none(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    spec = _spec(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN ip -o link | grep -v ' lo:' | wc -l > /n && test $(cat /n) = 0\n",
                 network=False, nocache=True)  # fmt: skip
    try:
        result = build(None, spec)
        assert result.outcome == "built", spec.log.read_text(encoding="utf-8")
        with_network = build(None, _spec(tmp_path, spec.dockerfile.read_text(), network=True, nocache=True))
        assert with_network.outcome == "failed"  # the bridge gives an eth0
    finally:
        _remove(docker_client, spec.tag)


@pytest.mark.docker
def test_the_memory_limit_applies_to_run_steps(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    # busybox has no allocator to drive; reading the cgroup limit from inside the step shows it is set
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "
        'test "$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)" '
        f"= {64 * 1024 * 1024}"
    )
    spec = _spec(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN {script}\n", memory=64 * 1024 * 1024, nocache=True)
    try:
        result = build(None, spec)
        assert result.outcome == "built", spec.log.read_text(encoding="utf-8")
    finally:
        _remove(docker_client, spec.tag)


@pytest.mark.docker
def test_a_container_started_with_the_sandbox_has_no_privileges(docker_client: docker.DockerClient) -> None:
    container = docker_client.containers.create(
        BUSYBOX_IMAGE,
        ["sh", "-c", "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"],
        labels=engine.run_labels(RUN_ID, "test"),
        **engine.sandbox(memory=64 * 1024**2, pids=32),
    )
    try:
        container.start()
        container.wait(timeout=60)
        status = container.logs().decode()
        config = docker_client.api.inspect_container(container.id)["HostConfig"]
    finally:
        container.remove(force=True)
    assert "CapEff:\t0000000000000000" in status
    assert "NoNewPrivs:\t1" in status
    assert config["Privileged"] is False and config["PidsLimit"] == 32 and config["Memory"] == 64 * 1024**2


def test_step_images_are_those_the_build_created() -> None:
    log = (
        "Step 1/4 : FROM base\n ---> aaaaaaaaaaaa\n"
        "Step 2/4 : RUN a\n ---> Using cache\n ---> bbbbbbbbbbbb\n"
        "Step 3/4 : RUN b\n ---> Running in cccccccccccc\nRemoving intermediate container cccccccccccc\n"
        " ---> dddddddddddd\n"
        "Step 4/4 : CMD x\n ---> Running in eeeeeeeeeeee\n ---> ffffffffffff\n"
    )
    assert engine.created_images(log) == ("dddddddddddd", "ffffffffffff")


def test_an_unreachable_endpoint_says_what_to_do() -> None:
    with pytest.raises(engine.EngineUnavailable, match=r"tcp://127\.0\.0\.1:9 .*scripts/docker-engine\.sh"):
        engine.connect("tcp://127.0.0.1:9", timeout=5)


@pytest.mark.docker
def test_run_steps_cannot_gain_privileges_on_an_engine_the_project_starts(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    daemons = [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p)[:1] and _cmdline(p)[0].endswith("dockerd")]
    if not any("--no-new-privileges" in _cmdline(p) for p in daemons):
        pytest.skip("the engine was not started by scripts/docker-engine.sh (no --no-new-privileges)")
    spec = _spec(tmp_path, f"FROM {BUSYBOX_IMAGE}\nRUN grep -q 'NoNewPrivs:.1' /proc/self/status\n", nocache=True)
    try:
        result = build(None, spec)
        assert result.outcome == "built", spec.log.read_text(encoding="utf-8")
    finally:
        _remove(docker_client, spec.tag)


def _cmdline(process: Path) -> list[str]:
    try:
        return (process / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []
