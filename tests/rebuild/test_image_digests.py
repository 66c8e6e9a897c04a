"""The base-image resolver against a real engine and a real registry (tests/rebuild/registry.py).

The local image repro-audit-local/busybox:1.35 (scripts/base-images.sh, made with `docker import`, so it
has no registry digest) is pushed to a registry on 127.0.0.1; the resolver must find the digest the
registry serves, from the engine's copy first and from the registry once that copy's name is gone,
rewrite exactly the reference characters of each FROM, name the RA101/RA102 findings it resolves, and
leave none of them behind; the pinned Dockerfile must build with no network but the local registry.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest

from audit.discover import EntrySource
from audit.engine import CheckOptions, audit_entry, entry_view
from audit.fix.model import Change, FixSettings, Note
from rebuild.engine import BUSYBOX_IMAGE, BuildSpec, build, run_labels
from rebuild.image_digests import BaseImageDigests, repository_key
from tests.rebuild.registry import local_registry, manifest_digest, push, require_registry, untag

REPOSITORY = "repro-audit-local/busybox"
SETTINGS = FixSettings(cutoff=datetime(2023, 10, 26, tzinfo=UTC), cutoff_source="--as-of")


# ---- helpers -----------------------------------------------------------------------------------------


def make_entry(root: Path, dockerfile: str) -> EntrySource:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (root / "main.py").write_text("print('hello')\n", encoding="utf-8")
    return EntrySource(root.name, root, None)


def propose(source: EntrySource, resolver: BaseImageDigests | None = None) -> tuple[list[Change], list[Note]]:
    view = entry_view(source, None, CheckOptions())
    items = list((resolver or BaseImageDigests()).propose(view, SETTINGS, lambda _message: None))
    return [i for i in items if isinstance(i, Change)], [i for i in items if isinstance(i, Note)]


def apply(source: EntrySource, changes: list[Change]) -> str:
    """Write the changes' edits into the entry (from the end of the file backwards); returns the new text."""
    path = source.path / "Dockerfile"
    text = path.read_text(encoding="utf-8")
    edits = sorted((edit for change in changes for edit in change.edits), key=lambda e: e.start, reverse=True)
    for edit in edits:
        assert edit.path == "Dockerfile"
        text = text[: edit.start] + edit.new + text[edit.end :]
    path.write_text(text, encoding="utf-8")
    return text


def findings(source: EntrySource, *rules: str) -> set[tuple[str, str, int | None]]:
    report = audit_entry(source, None, CheckOptions())
    return {(f.rule, f.location.path, f.location.line) for f in report.findings if f.rule in rules}


def resolved(changes: list[Change]) -> set[tuple[str, str, int | None]]:
    return {(r.rule, r.path, r.line) for change in changes for r in change.resolves}


# ---- no engine needed --------------------------------------------------------------------------------


def test_repository_names_are_compared_as_the_engine_reads_them() -> None:
    assert repository_key("python") == repository_key("docker.io/library/python") == "docker.io/library/python"
    assert repository_key("index.docker.io/library/python") == "docker.io/library/python"
    assert repository_key("pytorch/pytorch") == "docker.io/pytorch/pytorch"
    assert repository_key("127.0.0.1:5000/org/busybox") == "127.0.0.1:5000/org/busybox"
    assert repository_key("localhost/busybox") == "localhost/busybox"
    assert repository_key("ghcr.io/org/img") != repository_key("org/img")


def test_no_engine_gives_one_note_for_the_entry(tmp_path: Path) -> None:
    source = make_entry(
        tmp_path / "entry", "FROM python:3.11-slim AS build\nRUN true\nFROM nvidia/cuda:12.1.0-base-ubuntu22.04\n"
    )
    resolver = BaseImageDigests(endpoint=f"unix://{tmp_path / 'no-engine.sock'}")
    changes, notes = propose(source, resolver)
    assert changes == []
    assert len(notes) == 1
    assert notes[0].path is None and "no Docker Engine answers" in notes[0].message


def test_nothing_to_pin_needs_no_engine(tmp_path: Path) -> None:
    digest = "sha256:" + "0" * 64
    source = make_entry(tmp_path / "entry", f"FROM python:3.11@{digest} AS a\nFROM a\nFROM scratch\n")
    changes, notes = propose(source, BaseImageDigests(endpoint=f"unix://{tmp_path / 'no-engine.sock'}"))
    assert changes == [] and notes == []


# ---- a real engine and registry ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    binary = require_registry()
    with local_registry(binary) as address:
        yield address


@pytest.fixture
def pushed(docker_client: docker.DockerClient, registry: str) -> Iterator[tuple[str, str]]:
    """busybox pushed as REGISTRY/repro-audit-local/busybox:1.35 and :latest; (1.35 reference, digest)."""
    reference, digest = push(docker_client, BUSYBOX_IMAGE, registry)
    latest, latest_digest = push(docker_client, BUSYBOX_IMAGE, registry, tag="latest")
    assert latest_digest == digest  # the same image: the same manifest
    try:
        yield reference, digest
    finally:
        for name in (reference, latest, f"{registry}/{REPOSITORY}@{digest}"):
            untag(docker_client, name)


@pytest.mark.docker
def test_local_repo_digest_is_the_registrys(
    tmp_path: Path, registry: str, pushed: tuple[str, str], docker_client: docker.DockerClient
) -> None:
    reference, pushed_digest = pushed
    served = manifest_digest(registry, REPOSITORY, "1.35")
    assert served == pushed_digest
    # The engine holds the registry's digest for the pushed name: the local path answers without asking.
    repo_digests = docker_client.api.inspect_image(reference)["RepoDigests"]
    assert f"{registry}/{REPOSITORY}@{served}" in repo_digests

    source = make_entry(tmp_path / "entry", f'FROM {reference}\nCMD ["true"]\n')
    changes, notes = propose(source)
    assert notes == []
    [change] = changes
    assert change.edits[0].new == f"{reference}@{served}"
    assert "recorded" in change.caveats[0] and "RepoDigests" in change.caveats[0]
    assert "cut-off (2023-10-26 00:00 UTC)" in change.caveats[0]


@pytest.mark.docker
def test_registry_is_asked_once_the_local_name_is_gone(
    tmp_path: Path, registry: str, pushed: tuple[str, str], docker_client: docker.DockerClient
) -> None:
    reference, pushed_digest = pushed
    untag(docker_client, reference)
    untag(docker_client, f"{registry}/{REPOSITORY}:latest")
    # The image stays under its own name, and the engine forgot the registry's digest with the last tag.
    kept = docker_client.api.inspect_image(BUSYBOX_IMAGE)
    assert not [d for d in kept["RepoDigests"] if d.startswith(registry)]
    with pytest.raises(docker.errors.NotFound):
        docker_client.api.inspect_image(reference)

    source = make_entry(tmp_path / "entry", f"FROM {reference}\n")
    changes, notes = propose(source)
    assert notes == []
    [change] = changes
    assert change.edits[0].new == f"{reference}@{manifest_digest(registry, REPOSITORY, '1.35')}"
    assert change.edits[0].new.endswith(pushed_digest)
    assert "today" in change.caveats[0] and "recorded" not in change.caveats[0]


@pytest.mark.docker
def test_imported_image_without_registry_gives_a_note(tmp_path: Path) -> None:
    # Made with `docker import`: no RepoDigests; its registry (docker.io) cannot be reached from here.
    source = make_entry(tmp_path / "entry", f"FROM {BUSYBOX_IMAGE}\nRUN true\n")
    before = findings(source, "RA102")
    assert before == {("RA102", "Dockerfile", 1)}
    changes, notes = propose(source)
    assert changes == []
    [note] = notes
    assert (note.kind, note.path, note.line) == ("base-image", "Dockerfile", 1)
    assert note.message.startswith(f"could not resolve a digest for {BUSYBOX_IMAGE}: ")
    assert "built or imported locally" in note.message
    assert "registry could not be reached" in note.message


@pytest.mark.docker
def test_from_lines_are_rewritten_and_their_findings_resolved(
    tmp_path: Path, registry: str, pushed: tuple[str, str]
) -> None:
    reference, digest = pushed
    floating = f"{registry}/{REPOSITORY}"
    dockerfile = (
        "# the builder stage\n"
        f"FROM --platform=linux/amd64 {reference} AS builder\n"
        "RUN echo built > /built.txt\n"
        "FROM builder AS again\n"
        f"from \\\n    {floating}   as   final\n"
        "COPY --from=builder /built.txt /built.txt\n"
    )
    source = make_entry(tmp_path / "entry", dockerfile)
    before = findings(source, "RA101", "RA102")
    assert before == {("RA102", "Dockerfile", 2), ("RA101", "Dockerfile", 5)}

    changes, notes = propose(source)
    assert notes == []
    assert resolved(changes) == before  # every finding named, with its exact path and line
    text = apply(source, changes)
    assert text == (
        "# the builder stage\n"
        f"FROM --platform=linux/amd64 {reference}@{digest} AS builder\n"
        "RUN echo built > /built.txt\n"
        "FROM builder AS again\n"
        f"from \\\n    {floating}:latest@{digest}   as   final\n"
        "COPY --from=builder /built.txt /built.txt\n"
    )
    assert findings(source, "RA101", "RA102", "RA103", "RA104") == set()


@pytest.mark.docker
def test_arg_defaults_are_pinned_only_when_safe(tmp_path: Path, registry: str, pushed: tuple[str, str]) -> None:
    reference, digest = pushed
    dockerfile = (
        f'ARG BASE="{reference}"\n'
        "ARG VERSION=1.35\n"
        "FROM ${BASE} AS one\n"
        "FROM $BASE\n"
        f"FROM {registry}/{REPOSITORY}:${{VERSION}}\n"
    )
    source = make_entry(tmp_path / "entry", dockerfile)
    before = findings(source, "RA102")
    assert before == {("RA102", "Dockerfile", 3), ("RA102", "Dockerfile", 4), ("RA102", "Dockerfile", 5)}

    changes, notes = propose(source)
    [change] = changes  # one edit of the ARG default, for both FROMs that are exactly that ARG
    assert len(change.edits) == 1
    assert resolved(changes) == {("RA102", "Dockerfile", 3), ("RA102", "Dockerfile", 4)}
    [note] = notes
    assert (note.path, note.line) == ("Dockerfile", 5) and "assembled from ARG values" in note.message
    assert apply(source, changes).splitlines()[0] == f'ARG BASE="{reference}@{digest}"'
    assert findings(source, "RA102") == {("RA102", "Dockerfile", 5)}

    # The same ARG also read by a RUN: its value would change there too, so it is left with a note.
    used = make_entry(tmp_path / "used", f"ARG BASE={reference}\nFROM $BASE\nARG BASE\nRUN echo $BASE\n")
    changes, notes = propose(used)
    assert changes == []
    [note] = notes
    assert note.line == 2 and "ARG BASE" in note.message


@pytest.mark.docker
def test_pinned_dockerfile_builds_from_the_registry_without_network(
    tmp_path: Path, registry: str, pushed: tuple[str, str], docker_client: docker.DockerClient
) -> None:
    reference, digest = pushed
    source = make_entry(
        tmp_path / "entry",
        f"FROM {reference} AS builder\nRUN echo built > /built.txt\n"
        f"FROM {reference}\nCOPY --from=builder /built.txt /built.txt\nRUN cat /built.txt\n",
    )
    changes, _notes = propose(source)
    text = apply(source, changes)
    assert text.count(f"{reference}@{digest}") == 2
    # With no local name for the digest left, the engine must fetch the manifest from the registry by
    # digest: the build proves the pinned reference is one the registry serves.
    untag(docker_client, reference)
    untag(docker_client, f"{registry}/{REPOSITORY}:latest")
    run = f"test-image-digests-{uuid.uuid4().hex[:12]}"
    tag = f"repro-audit-test/image-digests:{run}"
    result = build(
        None,
        BuildSpec(
            context=source.path,
            dockerfile=source.path / "Dockerfile",
            tag=tag,
            labels=run_labels(run, "build"),
            log=tmp_path / "build.log",
            deadline=300,
            network=False,
        ),
    )
    try:
        log = (tmp_path / "build.log").read_text(encoding="utf-8")
        assert result.outcome == "built", f"{result.error}\n{log}"
        assert re.search(rf"FROM {re.escape(reference)}@{digest}", log)
        assert f"Pulling from {REPOSITORY}" in log  # fetched from the registry, not found by a local name
        assert f"{registry}/{REPOSITORY}@{digest}" in docker_client.api.inspect_image(BUSYBOX_IMAGE)["RepoDigests"]
    finally:
        # The built image with its parents, then what the builder stage left (newest first: children go first).
        for image in (tag, *reversed(result.intermediate_images)):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                docker_client.api.remove_image(image)


@pytest.mark.docker
def test_a_prerelease_tag_is_pinned_but_ra103_is_not_claimed(
    tmp_path: Path, registry: str, pushed: tuple[str, str], docker_client: docker.DockerClient
) -> None:
    _reference, digest = pushed
    nightly, _ = push(docker_client, BUSYBOX_IMAGE, registry, tag="nightly")
    try:
        source = make_entry(tmp_path / "entry", f"FROM {nightly}\n")
        assert findings(source, "RA102", "RA103") == {("RA102", "Dockerfile", 1), ("RA103", "Dockerfile", 1)}
        changes, notes = propose(source)
        assert notes == []
        assert resolved(changes) == {("RA102", "Dockerfile", 1)}  # the tag is kept, so RA103 still fires
        assert any("pre-release" in caveat for caveat in changes[0].caveats)
        assert apply(source, changes) == f"FROM {nightly}@{digest}\n"
        assert findings(source, "RA102", "RA103") == {("RA103", "Dockerfile", 1)}
    finally:
        untag(docker_client, nightly)
