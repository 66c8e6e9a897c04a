"""The determinism check: comparisons of hand-made snapshots and configs, a tar read as the engine's export
would give it, then real builds on the engine (marked `docker`)."""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from rebuild import determinism
from rebuild.determinism import (
    LAYER_COUNT_KEY,
    ConfigDifference,
    DeterminismResult,
    FileState,
    PathDifference,
    compare_configs,
    compare_files,
    compare_images,
    read_file_system,
    snapshot,
)
from rebuild.engine import BUSYBOX_IMAGE, LABEL_RUN

HASH_A = "a" * 64
HASH_B = "b" * 64


def regular(sha: str = HASH_A, size: int = 14, mode: int = 0o644, uid: int = 0, gid: int = 0) -> FileState:
    return FileState("file", mode, uid, gid, size, sha, None)


def directory(mode: int = 0o755) -> FileState:
    return FileState("dir", mode, 0, 0, 0, None, None)


def symlink(target: str) -> FileState:
    return FileState("symlink", 0o777, 0, 0, 0, None, target)


def whats(differences: list[PathDifference]) -> list[tuple[str, str]]:
    return [(d.path, d.what) for d in differences]


# ---- compare_files -----------------------------------------------------------------------------------


def test_identical_snapshots_have_no_difference() -> None:
    files = {"/app": directory(), "/app/x": regular(), "/bin/sh": symlink("busybox")}
    assert compare_files(files, dict(files)) == []


def test_added_and_removed_paths() -> None:
    differences = compare_files({"/old": regular()}, {"/new": regular(HASH_B, 3)})
    assert whats(differences) == [("/new", "added"), ("/old", "removed")]
    added, removed = differences
    assert added.first is None
    assert added.second is not None and "sha256 bbbbbbbbbbbb… 3 bytes" in added.second
    assert removed.second is None
    assert removed.first is not None and removed.first.startswith("file, sha256 aaaaaaaaaaaa… 14 bytes")


def test_content_difference_by_hash_or_size() -> None:
    differences = compare_files(
        {"/a": regular(HASH_A), "/b": regular(size=1)}, {"/a": regular(HASH_B), "/b": regular(size=2)}
    )
    assert whats(differences) == [("/a", "content"), ("/b", "content")]
    assert differences[0].first == "sha256 aaaaaaaaaaaa… 14 bytes"
    assert differences[0].second == "sha256 bbbbbbbbbbbb… 14 bytes"


def test_mode_difference_includes_special_bits() -> None:
    differences = compare_files(
        {"/x": regular(mode=0o644), "/su": regular(mode=0o755)},
        {"/x": regular(mode=0o600), "/su": regular(mode=0o4755)},
    )
    assert whats(differences) == [("/su", "mode"), ("/x", "mode")]
    assert (differences[0].first, differences[0].second) == ("mode 0755", "mode 4755")
    assert (differences[1].first, differences[1].second) == ("mode 0644", "mode 0600")


def test_owner_difference() -> None:
    differences = compare_files({"/x": regular(uid=0, gid=0)}, {"/x": regular(uid=1000, gid=0)})
    assert whats(differences) == [("/x", "owner")]
    assert (differences[0].first, differences[0].second) == ("owner 0:0", "owner 1000:0")


def test_type_difference_is_one_difference() -> None:
    differences = compare_files({"/x": regular(mode=0o644)}, {"/x": directory(mode=0o700)})
    assert whats(differences) == [("/x", "type")]
    assert differences[0].first is not None and differences[0].first.startswith("file")
    assert differences[0].second is not None and differences[0].second.startswith("dir")


def test_link_difference() -> None:
    differences = compare_files({"/usr/bin/python": symlink("python3.11")}, {"/usr/bin/python": symlink("python3.12")})
    assert whats(differences) == [("/usr/bin/python", "link")]
    assert (differences[0].first, differences[0].second) == ("-> python3.11", "-> python3.12")


def test_several_differences_on_one_path_and_sorted_paths() -> None:
    first = {"/z": regular(), "/a": regular(HASH_A, mode=0o644, uid=0)}
    second = {"/z": regular(), "/a": regular(HASH_B, mode=0o600, uid=1)}
    assert whats(compare_files(first, second)) == [("/a", "content"), ("/a", "mode"), ("/a", "owner")]


# ---- compare_configs ---------------------------------------------------------------------------------


def attrs(config: dict[str, Any] | None = None, layers: int = 2) -> dict[str, Any]:
    return {"Config": config, "RootFS": {"Type": "layers", "Layers": [f"sha256:{i}" for i in range(layers)]}}


def test_identical_configs_have_no_difference() -> None:
    config = {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "Labels": {"team": "x"}}
    assert compare_configs(attrs(config), attrs(dict(config))) == []


def test_config_differences_are_reported_per_key() -> None:
    first = attrs({"Env": ["BUILT=1"], "Cmd": ["run"], "WorkingDir": "/app", "User": ""})
    second = attrs({"Env": ["BUILT=2"], "Cmd": ["run"], "WorkingDir": "/srv", "User": "1000"})
    assert compare_configs(first, second) == [
        ConfigDifference("Env", ["BUILT=1"], ["BUILT=2"]),
        ConfigDifference("WorkingDir", "/app", "/srv"),
        ConfigDifference("User", None, "1000"),
    ]


def test_our_labels_are_ignored_and_others_compared() -> None:
    first = attrs({"Labels": {"org.repro-audit.run": "r1", "org.repro-audit.purpose": "build", "version": "1"}})
    second = attrs({"Labels": {"org.repro-audit.run": "r2", "version": "1"}})
    assert compare_configs(first, second) == []
    third = attrs({"Labels": {"org.repro-audit.run": "r3", "version": "2"}})
    assert compare_configs(first, third) == [ConfigDifference("Labels", {"version": "1"}, {"version": "2"})]


def test_layer_count_compared_not_digests() -> None:
    same_count = {"Config": {}, "RootFS": {"Layers": ["sha256:other", "sha256:digests"]}}
    assert compare_configs(attrs({}, layers=2), same_count) == []
    assert compare_configs(attrs({}, layers=2), attrs({}, layers=3)) == [ConfigDifference(LAYER_COUNT_KEY, 2, 3)]


def test_missing_null_and_empty_are_the_same_and_malformed_data_does_not_raise() -> None:
    assert compare_configs(attrs({"Volumes": None, "Env": []}), attrs({"Labels": {}})) == []
    assert compare_configs({}, {"Config": "not a map", "RootFS": None}) == []
    assert compare_configs({}, attrs({"Cmd": ["x"]}, layers=1)) == [
        ConfigDifference("Cmd", None, ["x"]),
        ConfigDifference(LAYER_COUNT_KEY, 0, 1),
    ]


# ---- DeterminismResult -------------------------------------------------------------------------------


def test_to_dict_truncates_file_differences_and_counts_paths() -> None:
    files = tuple(PathDifference(f"/f{i}", what, "a", "b") for i in range(3) for what in ("content", "mode"))
    result = DeterminismResult(False, files, (ConfigDifference("Cmd", ["a"], ["b"]),), compared_files=10)
    shown = result.to_dict(limit=4)
    assert shown["identical"] is False
    assert shown["compared_files"] == 10
    assert shown["differing_paths"] == 3
    assert shown["truncated"] is True
    assert [d["path"] for d in shown["files"]] == ["/f0", "/f0", "/f1", "/f1"]
    assert shown["config"] == [{"key": "Cmd", "first": ["a"], "second": ["b"]}]
    assert result.to_dict(limit=6)["truncated"] is False


# ---- read_file_system over a tar like the engine's export --------------------------------------------


def export_like_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:

        def add(name: str, kind: bytes, data: bytes = b"", mode: int = 0o644, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname, info.mtime = kind, mode, link, time.time()
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add(".dockerenv", tarfile.REGTYPE, mode=0o755)
        add("dev/", tarfile.DIRTYPE, mode=0o755)
        add("dev/console", tarfile.REGTYPE, mode=0o755)
        add("dev/null", tarfile.CHRTYPE, mode=0o666)
        add("etc/", tarfile.DIRTYPE, mode=0o755)
        add("etc/hosts", tarfile.REGTYPE, mode=0o755)
        add("etc/hostname", tarfile.REGTYPE, mode=0o755)
        add("etc/resolv.conf", tarfile.REGTYPE, mode=0o755)
        add("etc/mtab", tarfile.SYMTYPE, mode=0o777, link="/proc/mounts")
        add("etc/passwd", tarfile.REGTYPE, b"root:x:0:0::/root:/bin/sh\n")
        add("proc/", tarfile.DIRTYPE, mode=0o755)
        add("sys/", tarfile.DIRTYPE, mode=0o755)
        add("sys/kernel", tarfile.DIRTYPE, mode=0o755)
        add("bin/busybox", tarfile.REGTYPE, b"\x7fELF" * 1000, mode=0o104755)  # type bits, as Go writes them
        add("bin/sh", tarfile.LNKTYPE, link="bin/busybox", mode=0o4755)
        add("bin/ls", tarfile.SYMTYPE, link="busybox", mode=0o777)
        add("devices/fifo", tarfile.FIFOTYPE, mode=0o600)
    return buffer.getvalue()


def test_read_file_system_skips_the_engines_files_and_follows_hardlinks() -> None:
    files = read_file_system(io.BytesIO(export_like_tar()))
    assert sorted(files) == ["/bin/busybox", "/bin/ls", "/bin/sh", "/devices/fifo", "/etc", "/etc/passwd"]
    busybox = files["/bin/busybox"]
    assert busybox.kind == "file" and busybox.size == 4000 and busybox.mode == 0o4755
    assert files["/bin/sh"] == FileState("hardlink", 0o4755, 0, 0, 4000, busybox.sha256, "/bin/busybox")
    assert files["/bin/ls"].kind == "symlink" and files["/bin/ls"].link == "busybox"
    assert files["/devices/fifo"].kind == "other"


def test_read_file_system_keeps_an_images_own_mtab() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("etc/mtab")
        info.type, info.linkname = tarfile.SYMTYPE, "../proc/self/mounts"
        archive.addfile(info)
    buffer.seek(0)
    assert read_file_system(buffer)["/etc/mtab"].link == "../proc/self/mounts"


def test_read_file_system_of_a_broken_stream_raises_a_tar_error() -> None:
    data = export_like_tar()
    cut = data.index(b"\x7fELF") + 100  # inside busybox's content
    with pytest.raises(tarfile.TarError):
        read_file_system(io.BytesIO(data[:cut]))


# ---- the real engine ---------------------------------------------------------------------------------

BUILD_LABELS = {LABEL_RUN: "test-determinism"}


@pytest.fixture
def build(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator[Any]:
    """Builds a Dockerfile text without cache and returns the image id; removes every image at the end."""
    tags: list[str] = []

    def build_image(dockerfile: str) -> str:
        context = tmp_path / f"context-{len(tags)}"
        context.mkdir()
        (context / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        (context / "greeting.txt").write_text("hello\n", encoding="utf-8")
        tag = f"repro-audit-test/determinism:{uuid.uuid4().hex[:12]}"
        tags.append(tag)
        image, _ = docker_client.images.build(
            path=str(context), tag=tag, nocache=True, rm=True, forcerm=True, labels=BUILD_LABELS
        )
        return str(image.id)

    try:
        yield build_image
    finally:
        for tag in tags:
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(tag, force=True)


@pytest.fixture
def snapshot_labels() -> dict[str, str]:
    return {LABEL_RUN: f"test-determinism-{uuid.uuid4().hex[:12]}", "org.repro-audit.purpose": "determinism"}


def containers_with(client: docker.DockerClient, labels: dict[str, str]) -> list[str]:
    return [c.id for c in client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={labels[LABEL_RUN]}"})]


DETERMINISTIC = f"""FROM {BUSYBOX_IMAGE}
RUN mkdir -p /app && echo built > /app/state && chmod 640 /app/state
COPY greeting.txt /app/greeting.txt
ENV MODE=test
WORKDIR /app
CMD ["cat", "/app/state"]
"""


@pytest.mark.docker
def test_a_deterministic_build_twice_is_identical(
    docker_client: docker.DockerClient, build: Any, snapshot_labels: dict[str, str]
) -> None:
    first = build(DETERMINISTIC)
    time.sleep(1)  # so the file timestamps of the two builds surely differ
    second = build(DETERMINISTIC)
    first_layers = docker_client.images.get(first).attrs["RootFS"]["Layers"]
    second_layers = docker_client.images.get(second).attrs["RootFS"]["Layers"]
    assert first != second and first_layers != second_layers  # byte for byte, the builds differ

    result = compare_images(docker_client, first, second, snapshot_labels)

    assert result.files == ()
    assert result.config == ()
    assert result.identical
    assert result.compared_files > 100  # busybox's applets and the build's files were read
    assert result.to_dict()["differing_paths"] == 0


@pytest.mark.docker
def test_a_build_that_writes_the_date_differs_at_that_file(
    docker_client: docker.DockerClient, build: Any, snapshot_labels: dict[str, str]
) -> None:
    dockerfile = f"FROM {BUSYBOX_IMAGE}\nRUN date > /build-date\n"
    first = build(dockerfile)
    time.sleep(1)  # date prints seconds
    second = build(dockerfile)

    result = compare_images(docker_client, first, second, snapshot_labels)

    assert not result.identical
    assert whats(list(result.files)) == [("/build-date", "content")]
    assert result.config == ()


@pytest.mark.docker
def test_a_different_mode_is_reported(
    docker_client: docker.DockerClient, build: Any, snapshot_labels: dict[str, str]
) -> None:
    first = build(f"FROM {BUSYBOX_IMAGE}\nRUN echo x > /x && chmod 600 /x\n")
    second = build(f"FROM {BUSYBOX_IMAGE}\nRUN echo x > /x && chmod 644 /x\n")

    result = compare_images(docker_client, first, second, snapshot_labels)

    assert result.files == (PathDifference("/x", "mode", "mode 0600", "mode 0644"),)
    assert not result.identical


@pytest.mark.docker
def test_snapshot_reads_the_image_and_leaves_no_container(
    docker_client: docker.DockerClient, snapshot_labels: dict[str, str]
) -> None:
    assert containers_with(docker_client, snapshot_labels) == []

    files = snapshot(docker_client, BUSYBOX_IMAGE, snapshot_labels)

    assert containers_with(docker_client, snapshot_labels) == []
    assert files["/bin"].kind == "dir"
    assert files["/etc/passwd"].kind == "file" and files["/etc/passwd"].sha256 is not None
    engine_made = {"/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/dev", "/proc"}
    assert engine_made.isdisjoint(files)
    assert not any(path.startswith(("/dev/", "/proc/", "/sys/")) for path in files)


@pytest.mark.docker
def test_snapshot_removes_its_container_when_reading_fails(
    docker_client: docker.DockerClient, snapshot_labels: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_stream(stream: Any) -> Any:
        stream.read(10)
        raise tarfile.ReadError("unexpected end of data")

    monkeypatch.setattr(determinism, "read_file_system", broken_stream)

    with pytest.raises(docker.errors.DockerException, match="unreadable"):
        snapshot(docker_client, BUSYBOX_IMAGE, snapshot_labels)
    assert containers_with(docker_client, snapshot_labels) == []


@pytest.mark.docker
def test_snapshot_of_a_missing_image_raises_image_not_found(
    docker_client: docker.DockerClient, snapshot_labels: dict[str, str]
) -> None:
    with pytest.raises(docker.errors.ImageNotFound):
        snapshot(docker_client, "repro-audit-test/no-such-image:never", snapshot_labels)
    assert containers_with(docker_client, snapshot_labels) == []
