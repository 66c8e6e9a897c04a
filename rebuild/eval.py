"""The `eval` stage of `repro-audit run`: the entry's inference server, evaluated as the competition did.

Per entry:
1. The inference target is the one the overrides name (`inference-dockerfile`), else the one the static
   audit took for inference. It starts on its host in the sandbox, with the profile's memory limit and
   GPUs, on a private Docker network of its own (`internal`: no way out; the evaluator on this machine
   reaches it at its address there), with training's output mounted read-only where the overrides say
   (`weights`), when they say so. Its output goes to `DIR/entries/<entry>/eval/server.log`.
2. Health, as the organizers checked it: wait `health-delay` (120 s), then POST
   `{"prompt": "The capital of France is "}` to `/process` up to `health-attempts` (10) times,
   `health-interval` (120 s) apart. A server that exits meanwhile is not waited for.
3. The API contract check (`rebuild.probe`): every endpoint, field and type HELM relies on.
4. HELM (`rebuild.helm`) with the entry's evaluation set, through a relay that times every request
   (`rebuild.relay`), under the evaluation limit (open 300 min, closed 600 min). When the limit hits,
   the runs that finished are kept and the rest are unanswered (they score 0), which is a finding. Then
   `helm-summarize`. Each finished run's metrics are kept in the stage's data for scoring.
5. Throughput (requests/s, generated tokens/s, p50/p95 latency) from the relay; GPU memory and
   utilisation from `nvidia-smi` where the host has a GPU; whether the server ran out of memory.
Whatever happens, the container and its network are removed at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from audit.model import Finding
from audit.runner.stages import Prior, RunContext, StageOutcome
from audit.runner.state import EntryRow
from audit.serialize import finding_dict
from rebuild import engine, evalsets, helm, issues
from rebuild.gpu import GpuSampler
from rebuild.hosts import LOCAL, HostProfile, host_for
from rebuild.overrides import EntrySettings, Overrides
from rebuild.probe import probe
from rebuild.relay import Relay, throughput
from rebuild.slots import host_slot, job_slots
from rebuild.train import CUDA_OOM, TAIL_LINES, pick_target

HEALTH_PROMPT = {"prompt": "The capital of France is "}  # what the organizers POSTed before starting HELM
HEALTH_REQUEST_TIMEOUT = 120.0
DEFAULT_MAX_EVAL_INSTANCES = 100  # the competition's do-run.sh; entries of the shipped sets carry their own caps
SUMMARIZE_TIMEOUT = 30 * 60.0
SUITE = "repro-audit"
SERVER_PORT = 80


@dataclass(frozen=True)
class EvalOptions:
    """Picklable: travels to the worker processes with the stage."""

    hosts: tuple[HostProfile, ...] = (LOCAL,)
    overrides: Overrides = field(default_factory=Overrides)
    helm: str | None = None  # where HELM is (`--helm`); None: found by rebuild.helm.find_helm
    sample_interval: float = 5.0


@dataclass(frozen=True)
class Health:
    healthy: bool
    attempts: int
    seconds: float
    error: str | None = None  # the last attempt's problem
    exit_code: int | None = None  # the container ended before it was healthy
    oom_killed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "exit_code": self.exit_code,
            "oom_killed": self.oom_killed,
        }


def wait_healthy(
    url: str, settings: EntrySettings, alive: Any, *, clock: Any = time.monotonic, sleep: Any = time.sleep
) -> Health:
    """The organizers' health check against `url`. `alive()` returns None while the server's container
    runs, else its (exit code, oom_killed): a server that ended is not waited for."""
    started = clock()

    def pause(seconds: float) -> tuple[int, bool] | None:
        until = clock() + seconds
        while clock() < until:
            ended = alive()
            if ended is not None:
                return ended  # type: ignore[no-any-return]
            sleep(min(1.0, max(0.0, until - clock())))
        return alive()  # type: ignore[no-any-return]

    ended = pause(settings.health_delay)
    error = None
    for attempt in range(1, settings.health_attempts + 1):
        if ended is not None:
            return Health(False, attempt - 1, clock() - started, "the server exited", ended[0], ended[1])
        try:
            answer = requests.post(
                f"{url}/process", json=HEALTH_PROMPT, timeout=min(HEALTH_REQUEST_TIMEOUT, settings.health_interval + 5)
            )
            if answer.status_code == 200:
                answer.json()
                return Health(True, attempt, clock() - started)
            error = f"/process answered HTTP {answer.status_code}"
        except ValueError:
            error = "/process answered 200 with a body that is not JSON"
        except requests.exceptions.RequestException as exc:
            error = f"no answer from /process ({type(exc).__name__})"
        if attempt < settings.health_attempts:
            ended = pause(settings.health_interval)
    return Health(False, settings.health_attempts, clock() - started, error)


class EvalStage:
    name = "eval"
    needs: tuple[str, ...] = ("ingest", "static", "build", "train")

    def __init__(self, options: EvalOptions | None = None) -> None:
        self.options = options or EvalOptions()

    def run(self, entry: EntryRow, context: RunContext, prior: dict[str, Prior]) -> StageOutcome:
        settings = self.options.overrides.for_entry(entry.name)
        build = prior.get("build")
        if build is None or not build.data.get("targets"):
            return StageOutcome("skipped", (build.reason if build else None) or "the entry's images were not built")
        target, why_not = pick_target(build.data["targets"], "inference", settings.inference_dockerfile)
        if target is None:
            return StageOutcome("skipped", why_not)
        if target.get("status") != "built":
            return StageOutcome("skipped", f"the inference image ({target['dockerfile']}) did not build")
        weights: Path | None = None
        if settings.weights is not None:
            train = prior.get("train")
            if train is None or "end" not in train.data:
                return StageOutcome("skipped", f"the server reads training's output at {settings.weights}: train first")
            if train.data["end"] != "finished":
                return StageOutcome("skipped", f"training did not finish ({train.data['end']}): no weights to serve")
            weights = context.run_dir / "entries" / entry.name / "train" / "output"
        host = host_for(entry.name, entry.track, list(self.options.hosts), gpu=False)
        if host is None:
            return StageOutcome("skipped", "no host profile to evaluate on")
        if not engine.is_local(host.endpoint):
            return StageOutcome(
                "skipped", f"host {host.name!r} is a remote engine: evaluation needs HELM beside the engine"
            )
        try:
            conf = _conf(settings)
        except (helm.ConfError, ValueError) as exc:
            return StageOutcome("errored", str(exc))
        run = _EntryEval(entry, context, host, settings, target, weights, conf, self.options)
        try:
            with host_slot(context.run_dir, host, "gpu-job", job_slots(host)) as waited:
                return run.evaluate(waited)
        except engine.EngineUnavailable as exc:
            return StageOutcome("skipped", str(exc), data={"host": host.name})
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            return StageOutcome("errored", f"the engine failed during the evaluation: {engine.describe(exc)}")


@dataclass(frozen=True)
class _Conf:
    name: str  # open | closed | coarse | the file's name
    path: Path
    unavailable: tuple[str, ...]  # scenarios of the set the pinned HELM does not have


def _conf(settings: EntrySettings) -> _Conf:
    chosen = settings.eval_conf or "open"
    if chosen in evalsets.SETS:
        return _Conf(chosen, evalsets.conf_path(chosen), evalsets.unavailable(chosen))
    path = Path(chosen)
    helm.descriptions_of(path)  # a conf that names nothing is the organizer's error, said before any work
    return _Conf(path.name, path, ())


class _EntryEval:
    def __init__(
        self,
        entry: EntryRow,
        context: RunContext,
        host: HostProfile,
        settings: EntrySettings,
        target: dict[str, Any],
        weights: Path | None,
        conf: _Conf,
        options: EvalOptions,
    ) -> None:
        self.entry, self.context, self.host, self.settings = entry, context, host, settings
        self.target, self.weights, self.conf, self.options = target, weights, conf, options
        self.folder = context.run_dir / "entries" / entry.name / "eval"
        self.run_id = context.run_id or "unlabelled"
        self.findings: list[Finding] = []

    @property
    def limit(self) -> float:
        if self.settings.eval_timeout is not None:
            return self.settings.eval_timeout
        return self.host.timeouts.eval_closed if self.conf.name == "closed" else self.host.timeouts.eval_open

    def evaluate(self, waited: float) -> StageOutcome:
        self.folder.mkdir(parents=True, exist_ok=True)
        server_log = self.folder / "server.log"
        server_log.write_bytes(b"")
        data: dict[str, Any] = {
            "host": self.host.name,
            "track": self.host.track,
            "entry_track": self.entry.track,
            "dockerfile": self.target["dockerfile"],
            "image": self.target["image"]["id"],
            "conf": {"name": self.conf.name, "path": str(self.conf.path), "unavailable": list(self.conf.unavailable)},
            "limit_seconds": self.limit,
            "waited_for_host_seconds": round(waited, 3),
            "weights": self.settings.weights if self.weights is not None else None,
        }
        client = engine.connect(self.host.endpoint)
        network = container = None
        follower: engine.LogFollower | None = None
        sampler = GpuSampler(
            self.host.endpoint,
            self.host.gpus,
            self.host.probe_image,
            engine.run_labels(self.run_id, "gpu-sampler", self.entry.name),
            interval=self.options.sample_interval,
            host_name=f"host {self.host.name!r} (track {self.host.track})",
        )
        try:
            network = self._network(client)
            container = self._start(client, network, server_log)
            url = f"http://{_address(client, container, network)}:{SERVER_PORT}"
            follower = engine.LogFollower(self.host.endpoint, container, server_log).start()
            sampler.start()
            health = wait_healthy(url, self.settings, lambda: _ended(client, container))
            data["health"] = health.to_dict()
            if not health.healthy:
                data["outcome"] = "unhealthy"
                self.findings.append(self._unhealthy(health, server_log))
            else:
                self._evaluate(url, data)
        finally:
            data["gpu"] = sampler.stop()
            if container is not None:
                data["server"] = _server_end(client, container)
                with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                    client.api.remove_container(container, force=True, v=True)
            if follower is not None:
                follower.join()
            if network is not None:
                with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                    client.api.remove_network(network)
            client.close()
        self._server_memory(data, server_log)
        data["server_log_tail"] = _tail(server_log)
        blocking = [f for f in self.findings if f.severity >= self.context.fail_on]
        status = "failed" if blocking else "passed"
        reason = "; ".join(dict.fromkeys(f.message for f in blocking)) or None
        artifacts = {"server.log": _relative(server_log, self.context.run_dir)}
        for kind in ("helm-run.log", "helm-summarize.log"):
            if (self.folder / kind).is_file():
                artifacts[kind] = _relative(self.folder / kind, self.context.run_dir)
        if (self.folder / "helm").is_dir():
            artifacts["helm"] = _relative(self.folder / "helm", self.context.run_dir)
        return StageOutcome(status, reason, tuple(finding_dict(f) for f in self.findings), data, artifacts=artifacts)

    # ---- the container -----------------------------------------------------------------------------

    def _network(self, client: docker.DockerClient) -> str:
        digest = hashlib.sha256(f"{self.run_id}\0{self.entry.name}".encode()).hexdigest()[:16]
        name = f"repro-audit-eval-{digest}"
        for stale in client.api.networks(names=[name]):  # left by an interrupted attempt of this stage
            with contextlib.suppress(docker.errors.APIError):
                client.api.remove_network(stale["Id"])
        labels = engine.run_labels(self.run_id, "eval-network", self.entry.name)
        created = client.api.create_network(name, driver="bridge", internal=True, labels=labels)
        return str(created["Id"])

    def _start(self, client: docker.DockerClient, network: str, log: Path) -> str:
        mounts = ((str(self.weights), self.settings.weights, True),) if self.weights and self.settings.weights else ()
        spec = engine.ContainerSpec(
            image=self.target["image"]["id"],
            labels=engine.run_labels(self.run_id, "inference", self.entry.name, self.target["dockerfile"]),
            log=log,
            memory=self.settings.memory or self.host.memory,
            nano_cpus=int(self.host.cpus * 1e9) if self.host.cpus else None,
            gpus=self.host.gpus,
            mounts=mounts,
            network=network,
        )
        container = engine.create_container(client, spec)
        client.api.start(container)
        return container

    # ---- contract, HELM, throughput ------------------------------------------------------------------

    def _evaluate(self, url: str, data: dict[str, Any]) -> None:
        report = probe(url)
        data["api"] = {
            "passed": report.passed,
            "reachable": report.reachable,
            "error": report.error,
            "checks": [check.to_dict() for check in report.checks],
        }
        self.findings += report.findings(self.target["dockerfile"])
        if self.conf.unavailable:
            message = (
                f"the {self.conf.name} set's scenarios {', '.join(self.conf.unavailable)} are not in crfm-helm "
                f"{helm.HELM_VERSION} (the competition's own HELM fork had them): not evaluated"
            )
            self.findings.append(issues.EVAL_SCENARIOS_UNAVAILABLE.finding(message, self.target["dockerfile"]))
        install = helm.find_helm(self.options.helm)
        if isinstance(install, str):
            data["outcome"] = "not-evaluated"
            data["helm"] = {"status": "skipped", "reason": install}
            return
        suite = helm.prepare_suite(self.conf.path, self.folder / "helm", SUITE)
        run_log = self.folder / "helm-run.log"
        run_log.write_bytes(b"")
        with Relay(url) as relay:
            result = helm.run_helm(
                install,
                suite,
                base_url=relay.url,
                max_eval_instances=self.settings.max_eval_instances or DEFAULT_MAX_EVAL_INSTANCES,
                threads=self.settings.helm_threads,
                timeout=self.limit,
                log=run_log,
            )
            exchanges = relay.measured()
        planned = helm.planned_runs(run_log)
        runs = helm.collect(suite, planned)
        finished = [r for r in runs if r.finished]
        unfinished = [r.name for r in runs if not r.finished]
        summary_log = self.folder / "helm-summarize.log"
        summary_log.write_bytes(b"")
        summarized = helm.summarize(install, suite, timeout=SUMMARIZE_TIMEOUT, log=summary_log) if finished else None
        data["helm"] = {
            "status": "ran",
            **install.to_dict(),
            "suite": SUITE,
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "seconds": round(result.seconds, 3),
            "error": result.error,
            "planned": len(planned) or len(suite.descriptions),
            "finished": len(finished),
            "unanswered": unfinished,
            "missing_files": list(suite.missing_files),
            "summarize_exit_code": summarized.exit_code if summarized else None,
            "groups": sorted(helm.groups(suite)),
        }
        data["runs"] = [r.to_dict() for r in runs]
        data["throughput"] = throughput(exchanges)
        where = self.target["dockerfile"]
        if result.timed_out:
            data["outcome"] = "eval-timeout"
            total = len(planned) or len(suite.descriptions)
            message = (
                f"HELM was stopped at the evaluation limit of {self.limit:g} s: {len(finished)} of {total} run(s) "
                f"finished; the unanswered ones score 0"
            )
            self.findings.append(
                issues.EVAL_TIMEOUT.finding(message, where, evidence="\n".join(unfinished[:20]) or None)
            )
        elif result.exit_code != 0 or unfinished or not finished:
            data["outcome"] = "helm-failed"
            why = result.error or f"helm-run exited with code {result.exit_code}"
            message = f"{why}; {len(finished)} run(s) finished, {len(unfinished)} did not"
            evidence = "\n".join(_tail(run_log)[-8:]) or None
            self.findings.append(issues.EVAL_HELM_FAILED.finding(message, where, evidence=evidence))
        else:
            data["outcome"] = "evaluated"

    # ---- what went wrong -----------------------------------------------------------------------------

    def _unhealthy(self, health: Health, log: Path) -> Finding:
        where = self.target["dockerfile"]
        tail = "\n".join(_tail(log)[-8:]) or None
        if health.exit_code is not None:
            memory = " (killed for exceeding its memory limit)" if health.oom_killed else ""
            message = f"the inference server exited with code {health.exit_code}{memory} before it answered"
        else:
            waited = f"{health.seconds:.0f} s"
            message = f"the inference server did not answer /process in {health.attempts} attempt(s) over {waited}: {health.error}"
        return issues.EVAL_UNHEALTHY.finding(message, where, evidence=tail)

    def _server_memory(self, data: dict[str, Any], log: Path) -> None:
        """The server ran out of memory: killed by the kernel for its limit, or CUDA's out of memory."""
        server = data.get("server") or {}
        cuda = [line for line in _tail(log, 2000) if CUDA_OOM.search(line)]
        if server.get("oom_killed") or cuda:
            what = "the GPU's memory (CUDA out of memory)" if cuda else "its memory limit (killed by the kernel)"
            evidence = "\n".join(cuda[-3:]) or None
            finding = issues.EVAL_SERVER_OOM.finding(
                f"the inference server ran out of {what} during the evaluation",
                self.target["dockerfile"],
                evidence=evidence,
            )
            self.findings.append(finding)


def _address(client: docker.DockerClient, container: str, network: str) -> str:
    networks = client.api.inspect_container(container)["NetworkSettings"]["Networks"]
    for attached in networks.values():
        if attached.get("NetworkID") == network and attached.get("IPAddress"):
            return str(attached["IPAddress"])
    raise docker.errors.DockerException("the inference container got no address on its network")


def _ended(client: docker.DockerClient, container: str) -> tuple[int, bool] | None:
    state = client.api.inspect_container(container).get("State") or {}
    if state.get("Running"):
        return None
    return int(state.get("ExitCode", -1)), bool(state.get("OOMKilled"))


def _server_end(client: docker.DockerClient, container: str) -> dict[str, Any]:
    try:
        state = client.api.inspect_container(container).get("State") or {}
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return {}
    return {
        "running_at_end": bool(state.get("Running")),
        "exit_code": None if state.get("Running") else state.get("ExitCode"),
        "oom_killed": bool(state.get("OOMKilled")),
    }


def _tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def _relative(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()


def metrics_of(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Run name -> metrics of every finished run of an eval stage's data (for the scoring)."""
    return {run["name"]: run["metrics"] for run in data.get("runs", []) if run.get("finished")}
