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
from rebuild.hosts import LOCAL, HostProfile
from rebuild.jobs import CUDA_OOM, container_spec, gpu_sampler, image_target, job_host, no_host, relative, tail_lines
from rebuild.overrides import EntrySettings, Overrides
from rebuild.probe import CHECKS, MALFORMED, post_json, probe
from rebuild.relay import Relay, throughput
from rebuild.slots import host_slot, job_slots

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
    """The organizers' health check against `url`: wait `health-delay`, then POST the health prompt to
    `/process`, attempt k at delay + (k-1) x interval from the start (a slow answer does not push the
    next attempt later), at most `health-attempts` times. `alive()` returns None while the server's
    container runs, else its (exit code, oom_killed): a server that ended is not waited for, and is told
    apart from one that never answered, whenever it ended."""
    started = clock()
    timeout = min(HEALTH_REQUEST_TIMEOUT, max(settings.health_interval, 5.0))

    def until(moment: float) -> tuple[int, bool] | None:
        """Wait to `moment`, asking at least every second whether the server still runs."""
        while True:
            ended: tuple[int, bool] | None = alive()
            if ended is not None or clock() >= moment:
                return ended
            sleep(min(1.0, moment - clock()))

    error = None
    for attempt in range(1, settings.health_attempts + 1):
        ended = until(started + settings.health_delay + (attempt - 1) * settings.health_interval)
        if ended is not None:
            return Health(False, attempt - 1, clock() - started, "the server exited", ended[0], ended[1])
        _, error = post_json(url, "/process", HEALTH_PROMPT, timeout=timeout)
        if error is None:
            return Health(True, attempt, clock() - started)
    ended = alive()
    if ended is not None:  # it died during the last attempt
        return Health(False, settings.health_attempts, clock() - started, "the server exited", ended[0], ended[1])
    return Health(False, settings.health_attempts, clock() - started, f"/process: {error}")


class EvalStage:
    name = "eval"
    needs: tuple[str, ...] = ("ingest", "static", "build", "train")
    optional: tuple[str, ...] = ("train",)  # most entries ship only an inference image: evaluate it anyway

    def __init__(self, options: EvalOptions | None = None) -> None:
        self.options = options or EvalOptions()

    def run(self, entry: EntryRow, context: RunContext, prior: dict[str, Prior]) -> StageOutcome:
        settings = self.options.overrides.for_entry(entry.name)
        target, why_not = image_target(prior.get("build"), "inference", settings.inference_dockerfile)
        if target is None:
            return StageOutcome("skipped", why_not)
        weights: Path | None = None
        if settings.weights is not None:
            train = prior.get("train")
            if train is None or "end" not in train.data:
                why = f" ({train.reason})" if train is not None and train.reason else ""
                return StageOutcome(
                    "skipped",
                    f"the server reads training's output at {settings.weights}, and training did not run{why}",
                )
            if train.data["end"] != "finished":
                return StageOutcome("skipped", f"training did not finish ({train.data['end']}): no weights to serve")
            weights = context.run_dir / "entries" / entry.name / "train" / "output"
        host = job_host(entry.name, entry.track, self.options.hosts)
        if host is None:
            return StageOutcome("skipped", no_host(entry.track))
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
        sampler = gpu_sampler(self.host, self.run_id, self.entry.name, self.options.sample_interval)
        try:
            network = self._network(client)
            container = self._start(client, network, server_log)
            url = f"http://{_address(client, container, network)}:{SERVER_PORT}"
            follower = engine.LogFollower(self.host.endpoint, container, server_log).start()
            sampler.start()
            alive = _alive(client, container)
            health = wait_healthy(url, self.settings, alive)
            data["health"] = health.to_dict()
            if not health.healthy:
                data["outcome"] = "unhealthy"
                self.findings.append(self._unhealthy(health, server_log))
            else:
                self._evaluate(url, data, alive)
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
        data["server_log_tail"] = tail_lines(server_log)
        blocking = [f for f in self.findings if f.severity >= self.context.fail_on]
        status = "failed" if blocking else "passed"
        reason = "; ".join(dict.fromkeys(f.message for f in blocking)) or None
        artifacts = {"server.log": relative(server_log, self.context.run_dir)}
        for kind in ("helm-run.log", "helm-summarize.log", "helm"):
            if (self.folder / kind).exists():
                artifacts[kind] = relative(self.folder / kind, self.context.run_dir)
        return StageOutcome(status, reason, tuple(finding_dict(f) for f in self.findings), data, artifacts=artifacts)

    # ---- the container -----------------------------------------------------------------------------

    def _network(self, client: docker.DockerClient) -> str:
        # A name of its own for each attempt: one an interrupted attempt left (cleaned by the run's label at
        # the next start) is never in the way.
        digest = hashlib.sha256(f"{self.run_id}\0{self.entry.name}".encode()).hexdigest()[:12]
        name = f"repro-audit-eval-{digest}-{os.urandom(3).hex()}"
        labels = engine.run_labels(self.run_id, "eval-network", self.entry.name)
        created = client.api.create_network(name, driver="bridge", internal=True, labels=labels)
        return str(created["Id"])

    def _start(self, client: docker.DockerClient, network: str, log: Path) -> str:
        mounts = ((str(self.weights), self.settings.weights, True),) if self.weights and self.settings.weights else ()
        spec = container_spec(
            self.host,
            self.settings,
            self.target["image"]["id"],
            engine.run_labels(self.run_id, "inference", self.entry.name, self.target["dockerfile"]),
            log,
            mounts=mounts,
            network=network,
        )
        container = engine.create_container(client, spec)
        client.api.start(container)
        return container

    # ---- contract, HELM, throughput ------------------------------------------------------------------

    def _evaluate(self, url: str, data: dict[str, Any], alive: Any) -> None:
        # The malformed requests come after HELM: a server they bring down would otherwise not be evaluated,
        # and HELM never sends such requests.
        report = probe(url, only=[check.name for check in CHECKS if check.name not in MALFORMED])
        self.findings += report.findings(self.target["dockerfile"])
        data["api"] = api = report.document()
        try:
            self._helm(url, data)
        finally:
            if alive() is None:
                robustness = probe(url, only=MALFORMED)
                self.findings += robustness.findings(self.target["dockerfile"])
                api["checks"] += robustness.document()["checks"]
                api["passed"] = api["passed"] and robustness.passed
            else:  # not verified is not passed, as for a skipped check
                api["passed"] = False
                api["not_checked"] = "the server had stopped before the malformed-request checks"

    def _helm(self, url: str, data: dict[str, Any]) -> None:
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
        helm.guard_outputs(suite)
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
            evidence = "\n".join(tail_lines(run_log, 8)) or None
            self.findings.append(issues.EVAL_HELM_FAILED.finding(message, where, evidence=evidence))
        else:
            data["outcome"] = "evaluated"

    # ---- what went wrong -----------------------------------------------------------------------------

    def _unhealthy(self, health: Health, log: Path) -> Finding:
        where = self.target["dockerfile"]
        tail = "\n".join(tail_lines(log, 8)) or None
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
        cuda = [line for line in tail_lines(log, 2000) if CUDA_OOM.search(line)]
        if any(f.rule == issues.EVAL_UNHEALTHY.id for f in self.findings) and not cuda:
            return  # a server killed before it answered is told as unhealthy, with the kill
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


def _alive(client: docker.DockerClient, container: str) -> Any:
    """`alive()` for wait_healthy: None while the container runs, else (exit code, OOM-killed)."""

    def ended() -> tuple[int, bool] | None:
        state = client.api.inspect_container(container).get("State") or {}
        if state.get("Running"):
            return None
        return int(state.get("ExitCode", -1)), bool(state.get("OOMKilled"))

    return ended


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


def metrics_of(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Run name -> metrics of every finished run of an eval stage's data (for the scoring)."""
    return {run["name"]: run["metrics"] for run in data.get("runs", []) if run.get("finished")}
