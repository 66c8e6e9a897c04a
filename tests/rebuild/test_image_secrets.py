"""Secrets baked into built images, found in the config, the history and the build's own layers.

Every image is built here, from a Dockerfile written at test time on the local busybox base, and
removed afterwards. Tokens are generated at test time (`tests.secrets.tokens`), never written in a file.
"""

from __future__ import annotations

import contextlib
import io
import random
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from audit.model import Finding
from audit.secrets import redact
from audit.secrets.content import Limits
from audit.secrets.scan import SecretOptions
from rebuild.engine import BUSYBOX_IMAGE, LABEL_RUN
from rebuild.image_secrets import ImageScan, scan_image
from tests.secrets import tokens

pytestmark = pytest.mark.docker

LABELS = {LABEL_RUN: "test-image-secrets"}
SALT = "image-secrets-test-salt"
OPTIONS = SecretOptions(salt=SALT)

Build = Callable[..., Any]


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    return tokens.source(request.node.nodeid)


@pytest.fixture
def build(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator[Build]:
    """Builds an image from a Dockerfile text and context files; every image built is removed at the end."""
    built: list[str] = []

    def build_image(
        dockerfile: str,
        files: dict[str, str | bytes] | None = None,
        buildargs: dict[str, str] | None = None,
        tag: str | None = None,
    ) -> Any:
        context = tmp_path / f"context-{len(built)}"
        context.mkdir()
        (context / "Dockerfile").write_text(dockerfile)
        for name, content in (files or {}).items():
            target = context / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        image, _ = docker_client.images.build(
            path=str(context), labels=LABELS, buildargs=buildargs, tag=tag, rm=True, forcerm=True
        )
        built.append(image.id)
        return image

    try:
        yield build_image
    finally:
        for image_id in reversed(built):  # derived images before their bases
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(image_id, force=True)


_READ = {"folders": False}


@pytest.fixture(autouse=True, params=["docker save", "layer folders"])
def read(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test reads the image both ways: the save stream (any engine) and the engine's overlay2 layer
    folders (an engine on this machine), which must find the same."""
    _READ["folders"] = request.param == "layer folders"
    yield str(request.param)
    _READ["folders"] = False


def _scan(client: docker.DockerClient, image: Any, base_layers: int = 1, options: SecretOptions = OPTIONS) -> ImageScan:
    folders = _READ["folders"]
    scan = scan_image(
        client, image.id, dockerfile="Dockerfile", base_layers=base_layers, options=options, local_files=folders
    )
    assert scan.read_folders is folders
    return scan


def _assert_never_raw(scan: ImageScan, *values: str) -> None:
    """No reported text holds a raw token: messages, evidence, locations, secret info, gaps."""
    for finding in scan.findings:
        shown = (finding.message, finding.evidence or "", str(finding.location), repr(finding.secret))
        for value in values:
            assert all(value not in text for text in shown), finding
    for gap in scan.gaps:
        assert all(value not in gap for value in values)


def _at(scan: ImageScan, member: str) -> list[Finding]:
    return [f for f in scan.findings if f.location.member == member]


def _assert_same_as_tree_rules(finding: Finding, token: str) -> None:
    assert finding.rule == "RA901" and finding.name == "huggingface-token" and finding.family == "secret"
    assert finding.target == "Dockerfile" and finding.location.path == "image:Dockerfile"
    assert finding.secret is not None
    assert finding.secret.kind == "huggingface-token"
    assert finding.secret.fingerprint == redact.fingerprint(token, SALT)
    assert finding.secret.redacted == redact.redacted(token)
    assert finding.message.startswith(f"HuggingFace user access token {redact.redacted(token)}, fingerprint ")


def test_env_and_label_tokens_are_found_in_the_config(
    docker_client: docker.DockerClient, build: Build, rng: random.Random
) -> None:
    env_token, label_token = tokens.hf_token(rng), tokens.hf_token(rng)
    image = build(
        f"FROM {BUSYBOX_IMAGE}\nENV HF_TOKEN={env_token}\nLABEL org.example.token={label_token}\n"
        "RUN echo hello > /hello\n"
    )

    scan = _scan(docker_client, image)

    [in_env] = _at(scan, "config:Env")
    _assert_same_as_tree_rules(in_env, env_token)
    env = image.attrs["Config"]["Env"]
    assert in_env.location.line == env.index(f"HF_TOKEN={env_token}") + 1
    assert "environment (variable HF_TOKEN)" in in_env.message
    assert in_env.evidence == f"HF_TOKEN={redact.redacted(env_token)}"
    [in_labels] = _at(scan, "config:Labels")
    _assert_same_as_tree_rules(in_labels, label_token)
    assert "org.example.token" in in_labels.message
    # The ENV and LABEL instructions are history steps too: each place is reported, as in a tree.
    history = {
        f.secret.fingerprint for f in scan.findings if f.secret and (f.location.member or "").startswith("history:")
    }
    assert history == {redact.fingerprint(env_token, SALT), redact.fingerprint(label_token, SALT)}
    _assert_never_raw(scan, env_token, label_token)


def test_build_arg_used_by_a_run_is_found_in_the_history(
    docker_client: docker.DockerClient, build: Build, rng: random.Random
) -> None:
    token = tokens.hf_token(rng)
    image = build(
        f'FROM {BUSYBOX_IMAGE}\nARG HF_TOKEN\nRUN test -n "$HF_TOKEN" && echo done > /done\n',
        buildargs={"HF_TOKEN": token},
    )

    scan = _scan(docker_client, image)

    [finding] = scan.findings
    _assert_same_as_tree_rules(finding, token)
    member = finding.location.member or ""
    assert member.startswith("history:")
    step = int(member.removeprefix("history:"))
    oldest_first = list(reversed(docker_client.api.history(image.id)))
    assert "test -n" in oldest_first[step - 1]["CreatedBy"]
    assert f"HF_TOKEN={redact.redacted(token)}" in (finding.evidence or "")
    assert not _at(scan, "config:Env")  # a build argument is no environment variable of the image
    _assert_never_raw(scan, token)


def test_token_file_deleted_in_a_later_layer_is_still_found(
    docker_client: docker.DockerClient, build: Build, rng: random.Random
) -> None:
    token = tokens.hf_token(rng)
    image = build(
        f"FROM {BUSYBOX_IMAGE}\n"
        "COPY token.txt /tmp/token.txt\n"
        "RUN mkdir -p /root/.cache/huggingface && cp /tmp/token.txt /root/.cache/huggingface/token"
        " && rm /tmp/token.txt\n"
        "RUN rm -rf /root/.cache/huggingface\n",
        files={"token.txt": token + "\n"},
    )

    scan = _scan(docker_client, image)

    assert scan.layers_scanned == 3
    [copied] = _at(scan, "layer 2:/tmp/token.txt")
    [logged_in] = _at(scan, "layer 3:/root/.cache/huggingface/token")
    for finding in (copied, logged_in):
        _assert_same_as_tree_rules(finding, token)
        assert finding.location.line == 1
        assert finding.evidence == redact.redacted(token)
    assert "removed in layer 3" in copied.message
    assert "removed in layer 4" in logged_in.message  # a whole folder removed above the file
    assert len(scan.findings) == 2  # COPY shows a content hash in the history, not the token
    _assert_never_raw(scan, token)


def test_files_of_the_base_layers_are_not_reported(
    docker_client: docker.DockerClient, build: Build, rng: random.Random
) -> None:
    token = tokens.hf_token(rng)
    base_tag = f"repro-audit-test/image-secrets-base:{uuid.uuid4().hex[:12]}"
    base = build(
        f"FROM {BUSYBOX_IMAGE}\nCOPY token /root/.cache/huggingface/token\n", files={"token": token}, tag=base_tag
    )
    base_layers = len(base.attrs["RootFS"]["Layers"])
    assert base_layers == 2
    derived = build(f"FROM {base_tag}\nRUN echo hello > /hello\n")

    scan = _scan(docker_client, derived, base_layers=base_layers)

    assert scan.findings == ()
    assert scan.gaps == ()
    assert scan.layers_scanned == 1 and scan.files_scanned == 1
    # The same image read as if only busybox were its base: the token is there, so skipping is what hid it.
    wider = _scan(docker_client, derived, base_layers=1)
    [finding] = wider.findings
    assert finding.location.member == "layer 2:/root/.cache/huggingface/token"
    _assert_never_raw(wider, token)


def test_clean_image_has_no_findings(docker_client: docker.DockerClient, build: Build) -> None:
    image = build(
        f"FROM {BUSYBOX_IMAGE}\nENV MODEL_NAME=tiny\nLABEL org.example.role=inference\n"
        "RUN mkdir -p /app && echo 'print(1)' > /app/main.py\nCOPY notes.txt /app/notes.txt\n",
        files={"notes.txt": "nothing to see: hf_ is only a prefix here\n"},
    )

    scan = _scan(docker_client, image)

    assert scan.findings == ()
    assert scan.gaps == ()
    assert scan.layers_scanned == 2
    assert scan.files_scanned == 2
    assert scan.bytes_scanned == len("print(1)\n") + len("nothing to see: hf_ is only a prefix here\n")


def test_file_over_the_size_limit_is_a_gap(
    docker_client: docker.DockerClient, build: Build, rng: random.Random
) -> None:
    big_token, small_token = tokens.hf_token(rng), tokens.hf_token(rng)
    limit = 64 * 1024
    big = (f"HF_TOKEN={big_token}\n" + "x" * 100 + "\n") * (limit // 100)
    assert len(big) > limit
    image = build(
        f"FROM {BUSYBOX_IMAGE}\nCOPY data /data\n", files={"data/big.txt": big, "data/small.txt": small_token}
    )

    scan = _scan(docker_client, image, options=SecretOptions(salt=SALT, limits=Limits(max_file_bytes=limit)))

    assert scan.gaps == ("/data/big.txt in layer 2 is larger than the 65,536 bytes secret-scan limit: not scanned",)
    [finding] = scan.findings  # the small file next to it is still scanned
    assert finding.location.member == "layer 2:/data/small.txt"
    _assert_same_as_tree_rules(finding, small_token)
    assert scan.files_scanned == 1
    _assert_never_raw(scan, big_token, small_token)


def test_token_inside_an_archive_in_a_layer(
    docker_client: docker.DockerClient, build: Build, rng: random.Random
) -> None:
    token = tokens.hf_token(rng)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("config/hub.json", f'{{"token": "{token}"}}\n')
    image = build(f"FROM {BUSYBOX_IMAGE}\nCOPY bundle.zip /opt/bundle.zip\n", files={"bundle.zip": archive.getvalue()})

    scan = _scan(docker_client, image)

    [finding] = scan.findings
    assert finding.location.member == "layer 2:/opt/bundle.zip!config/hub.json"
    assert str(finding.location) == "image:Dockerfile!layer 2:/opt/bundle.zip!config/hub.json:1"
    _assert_same_as_tree_rules(finding, token)
    _assert_never_raw(scan, token)


def test_more_base_layers_than_the_image_has_is_refused(docker_client: docker.DockerClient) -> None:
    layers = len(docker_client.images.get(BUSYBOX_IMAGE).attrs["RootFS"]["Layers"])
    with pytest.raises(ValueError, match="base layers"):
        scan_image(docker_client, BUSYBOX_IMAGE, dockerfile="Dockerfile", base_layers=layers + 1)
