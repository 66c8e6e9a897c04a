"""Remove what a run left in its Docker Engines: `repro-audit clean DIR`, and the start of every `run`.

What belongs to a run is found two ways, because the classic builder labels only the images it
finishes: everything carrying the run's label (containers, images, networks), and the RUN containers
and step images that the run's build logs name (` ---> Running in <id>`, ` ---> <id>`), which is how a
build cut short by a killed process is traced. A log-named image is removed only when nothing else
uses it (the engine refuses to remove an image another one builds on, and that refusal is respected).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import requests

from rebuild import engine


@dataclass
class CleanReport:
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # an engine that did not answer, a refused removal

    @property
    def removed(self) -> int:
        return len(self.containers) + len(self.images) + len(self.networks)


def clean_run(
    run_dir: Path, run_id: str, endpoints: Iterable[str | None], *, since: float, images: bool = True
) -> CleanReport:
    """Remove the run's containers and networks (and, with `images`, its images) from every engine.

    `since` is when the run was created (Unix time). The logs are the entrants' output too, so an id
    they name is only acted on when it is a builder's container or an untagged image younger than the
    run: a RUN step printing ` ---> <id>` cannot make this remove somebody else's image."""
    report = CleanReport()
    logged_containers, logged_images = _logged(run_dir)
    for endpoint in dict.fromkeys(endpoints):
        try:
            client = engine.connect(endpoint)
        except engine.EngineUnavailable as exc:
            report.problems.append(str(exc))
            continue
        try:
            _clean_engine(client, run_id, logged_containers, logged_images if images else set(), images, since, report)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            report.problems.append(f"{endpoint or 'local engine'} stopped answering: {exc}")
        finally:
            client.close()
    return report


def _clean_engine(
    client: docker.DockerClient,
    run_id: str,
    logged_containers: set[str],
    logged_images: set[str],
    images: bool,
    since: float,
    report: CleanReport,
) -> None:
    label = {"label": f"{engine.LABEL_RUN}={run_id}"}
    doomed = {c["Id"] for c in client.api.containers(all=True, filters=label)}
    doomed.update(engine.builder_containers(client, logged_containers, since=since))
    for container_id in sorted(doomed):
        try:
            client.api.remove_container(container_id, force=True, v=True)
            report.containers.append(container_id[:12])
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            why = engine.describe(exc)
            if "already in progress" in why and _gone(client, container_id):
                continue  # the engine was removing it already (a cancelled build): it is gone now
            report.problems.append(f"container {container_id[:12]}: {why}")
    for network in client.networks.list(filters=label):
        try:
            network.remove()
            report.networks.append(network.name)
        except docker.errors.APIError as exc:
            report.problems.append(f"network {network.name}: {engine.describe(exc)}")
    if not images:
        return
    # The classic builder labels the steps of the build labels too, so an image's parents carry the run's
    # label: removing the leaves first prunes them, and what another image builds on is retried next pass.
    refused: dict[str, str] = {}
    for _pass in range(20):
        removed_now = 0
        for image in client.api.images(all=True, filters=label):
            try:
                client.api.remove_image(image["Id"], force=True)
                report.images.append(image["Id"].removeprefix("sha256:")[:12])
                refused.pop(image["Id"], None)
                removed_now += 1
            except docker.errors.NotFound:
                refused.pop(image["Id"], None)
            except docker.errors.APIError as exc:
                refused[image["Id"]] = engine.describe(exc)
        if not removed_now:
            break
    still = {i["Id"] for i in client.api.images(all=True, filters=label)}
    report.problems += [f"image {image_id[:19]}: {why}" for image_id, why in refused.items() if image_id in still]
    dangling = {
        i["Id"] for i in client.api.images(all=True) if not _tagged(i) and int(i.get("Created") or 0) >= since - 1
    }
    for short in sorted(logged_images):
        for image_id in [i for i in dangling if i.removeprefix("sha256:").startswith(short)]:
            with contextlib.suppress(docker.errors.APIError):  # in use by another image: it stays
                client.api.remove_image(image_id)
                report.images.append(short[:12])


def _gone(client: docker.DockerClient, container_id: str, wait: float = engine.SETTLE_SECONDS) -> bool:
    """Whether a container the engine is already removing disappears within `wait` seconds."""
    until = time.monotonic() + wait
    while time.monotonic() < until:
        if not client.api.containers(all=True, filters={"id": container_id}):
            return True
        time.sleep(0.2)
    return False


def _tagged(image: dict[str, object]) -> bool:
    tags = image.get("RepoTags") or []
    return isinstance(tags, list) and any(t != "<none>:<none>" for t in tags)


def _logged(run_dir: Path) -> tuple[set[str], set[str]]:
    """The RUN containers and the step images the run's build logs name."""
    containers: set[str] = set()
    images: set[str] = set()
    entries = run_dir / "entries"
    if not entries.is_dir():
        return containers, images
    for log in entries.rglob("build*.log"):
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        containers.update(engine.run_containers(text))
        images.update(engine.created_images(text))
    return containers, images
