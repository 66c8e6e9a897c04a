"""A real container registry for tests: Debian's `docker-registry` (the distribution registry) on 127.0.0.1.

`local_registry()` starts one on a free port with a config file and a storage folder of its own (both
in a temporary folder, removed afterwards) and yields its `host:port`. The Docker Engine treats every
127.0.0.0/8 registry as insecure by default, so it pushes and pulls over plain HTTP without any daemon
setting. `push(client, image, registry)` tags a local image into the registry, pushes it through the
engine and returns the manifest digest the push reported; `untag` removes such a tag again (the image
keeps its other names). `manifest_digest` asks the registry itself (HEAD on the manifest), so a test can
compare what the engine says with what the registry serves.

Install the registry with scripts/registry.sh. Tests that use it skip when it is missing, except under
CI (CI=true), where a missing registry is a failure, as for the other real parts (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import docker
import docker.errors
import pytest

from audit.process import kill_group
from audit.rules.images import split_image

# The manifest types the engine pushes (and an OCI index, should a later engine push one): without an
# Accept header the registry would answer with a converted schema 1 manifest or not at all.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
START_SECONDS = 30.0


class RegistryUnavailable(Exception):
    """No docker-registry binary, or it did not start: the message says why."""


def registry_binary() -> str | None:
    return shutil.which("docker-registry")


def require_registry() -> str:
    """The registry binary; skips the test without one, fails it under CI."""
    binary = registry_binary()
    if binary is None:
        message = "no docker-registry on PATH: install it with scripts/registry.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@contextmanager
def local_registry(binary: str | None = None) -> Iterator[str]:
    """A registry serving on 127.0.0.1 for the duration of the block; yields `127.0.0.1:PORT`."""
    executable = binary or registry_binary()
    if executable is None:
        raise RegistryUnavailable("no docker-registry on PATH: install it with scripts/registry.sh")
    with tempfile.TemporaryDirectory(prefix="repro-audit-registry-") as folder:
        root = Path(folder)
        # A port found free can be taken before the registry binds it: try a few.
        problem = ""
        for _attempt in range(3):
            port = _free_port()
            process = _start(executable, root, port)
            problem = _wait_ready(process, port, root / "registry.log")
            if not problem:
                break
            kill_group(process)
        else:
            raise RegistryUnavailable(f"docker-registry did not start: {problem}")
        try:
            yield f"127.0.0.1:{port}"
        finally:
            kill_group(process)


def push(client: docker.DockerClient, image: str, registry: str, tag: str | None = None) -> tuple[str, str]:
    """Tag local `image` (name:tag) as `registry/name:tag` (or under `tag`) and push it; returns that
    reference and the manifest digest the engine reported. Raises RuntimeError with the engine's message
    when it fails. Remove the tag with `untag` when done: the engine is shared."""
    ref = split_image(image)
    repository = f"{registry}/{ref.name}"
    tag = tag or ref.tag or "latest"
    client.api.tag(image, repository, tag)
    digest = None
    for item in client.api.push(repository, tag=tag, stream=True, decode=True):
        if "error" in item:
            raise RuntimeError(f"pushing {repository}:{tag} failed: {item['error']}")
        aux = item.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
    if digest is None:
        raise RuntimeError(f"pushing {repository}:{tag} reported no digest")
    return f"{repository}:{tag}", digest


def untag(client: docker.DockerClient, reference: str) -> None:
    """Remove one name of an image (never the image itself while other names hold it); gone is fine."""
    with suppress(docker.errors.NotFound):
        client.api.remove_image(reference, noprune=True)


def manifest_digest(registry: str, repository: str, tag: str) -> str:
    """The Docker-Content-Digest the registry answers for `repository:tag` (HEAD, plain HTTP)."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.headers["Docker-Content-Digest"])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(executable: str, root: Path, port: int) -> subprocess.Popen[bytes]:
    storage = root / "storage"
    storage.mkdir(exist_ok=True)
    config = root / "config.yml"
    # No auth, no TLS, no health checks; deletes allowed so a test can remove what it pushed. JSON: YAML
    # reads it, and no quoting of the path can go wrong.
    config.write_text(
        "{"
        '"version": "0.1", "log": {"level": "warn"}, '
        f'"storage": {{"filesystem": {{"rootdirectory": "{storage.as_posix()}"}}, "delete": {{"enabled": true}}}}, '
        f'"http": {{"addr": "127.0.0.1:{port}"}}'
        "}\n",
        encoding="utf-8",
    )
    log = (root / "registry.log").open("ab")
    try:
        return subprocess.Popen(
            [executable, "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # kill_group stops it and nothing else
        )
    finally:
        log.close()  # the child holds its own copy


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> str:
    """'' once GET /v2/ answers 200, else what went wrong."""
    until = time.monotonic() + START_SECONDS
    while time.monotonic() < until:
        if process.poll() is not None:
            return f"it exited with {process.returncode}: {_tail(log)}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as response:
                if response.status == 200:
                    return ""
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return f"no answer on 127.0.0.1:{port} within {START_SECONDS:g} s: {_tail(log)}"


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-3:]) or "(empty log)"
