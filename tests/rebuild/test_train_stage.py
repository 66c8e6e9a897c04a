"""The train stage on the real engine: each way a training run can end is told apart (finished, timeout,
killed for memory, CUDA out of memory, failed, no output), the deadline leaves nothing running, the log
is kept with tokens redacted, and GPU sampling is a skip with its reason on a host without GPUs."""

from __future__ import annotations

import json
import secrets
import string
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from audit.cli import main
from rebuild import engine
from rebuild.gpu import GpuSampler, parse_samples, summarize

pytestmark = pytest.mark.docker

# Each entry's training image: a busybox shell command (what the training "does").
TRAININGS = {
    "good": "echo epoch 1 loss 0.9; echo epoch 2 loss 0.4; echo weights > /output/model.bin; echo saved",
    "endless": "i=0; while true; do echo step $i; i=$((i+1)); sleep 1; done",
    "hog": "echo loading; exec dd if=/dev/zero of=/dev/null bs=300M count=1",
    "cuda": "echo 'step 1'; echo 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' >&2; exit 1",
    "crash": "echo 'loading data'; echo 'FileNotFoundError: /home/me/data.json' >&2; exit 3",
    "silent": "echo 'nothing to save'",
}


def _entry(root: Path, name: str, command: str) -> None:
    folder = root / "A100" / "tester" / name / "train"
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text(
        f'FROM {engine.BUSYBOX_IMAGE}\nCMD ["sh", "-c", {json.dumps(command)}]\n', encoding="utf-8"
    )


def _run(tmp_path: Path, names: list[str], *extra: str) -> tuple[int, Path]:
    source = tmp_path / "source"
    for name in names:
        _entry(source, name, TRAININGS[name])
    (source / "overrides.toml").write_text(
        '[defaults]\ntrain-timeout = "60s"\nmemory = "64m"\n[entries."A100/tester/endless"]\ntrain-timeout = "3s"\n',
        encoding="utf-8",
    )
    hosts = tmp_path / "hosts.toml"
    hosts.write_text('[hosts.cpu-box]\ntrack = "cpu"\nnetwork = false\nbuilds = 2\n', encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(source), "--out", str(out), "--stages", "train", "--hosts", str(hosts), "--plain", *extra])
    return code, out


def _train(out: Path, name: str) -> dict[str, Any]:
    """The report's training section, with the stage's status and its findings."""
    report = json.loads((out / "entries" / "A100" / "tester" / name / "report.json").read_text(encoding="utf-8"))
    status = next(s["status"] for s in report["stages"] if s["stage"] == "train")
    findings = [f for f in report["findings"] if f["family"] == "train"]
    return {"status": status, "data": report["train"], "findings": findings}


def _rules(stage: dict[str, Any]) -> list[str]:
    return [f["rule"] for f in stage["findings"]]


def test_each_training_end_is_told_apart(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    code, out = _run(tmp_path, list(TRAININGS))
    assert code == 1
    ends = {name: _train(out, name) for name in TRAININGS}
    assert {name: stage["data"]["end"] for name, stage in ends.items()} == {
        "good": "finished",
        "endless": "timeout",
        "hog": "oom-killed",
        "cuda": "cuda-oom",
        "crash": "failed",
        "silent": "finished",
    }
    assert ends["good"]["status"] == "passed" and _rules(ends["good"]) == []
    assert ends["endless"]["status"] == "failed" and _rules(ends["endless"]) == ["RA031"]
    assert _rules(ends["hog"]) == ["RA032"] and ends["hog"]["data"]["oom_killed"] is True
    assert _rules(ends["cuda"]) == ["RA033"]
    assert "CUDA out of memory" in ends["cuda"]["findings"][0]["evidence"]
    assert _rules(ends["crash"]) == ["RA034"] and ends["crash"]["data"]["exit_code"] == 3
    assert "FileNotFoundError" in ends["crash"]["findings"][0]["evidence"]
    assert _rules(ends["silent"]) == ["RA035"] and ends["silent"]["status"] == "passed"  # medium < --fail-on high
    # the weights are where the eval stage will look for them, the log is kept
    entry = out / "entries" / "A100" / "tester" / "good" / "train"
    assert (entry / "output" / "model.bin").read_text(encoding="utf-8") == "weights\n"
    assert "epoch 2 loss 0.4" in (entry / "train.log").read_text(encoding="utf-8")
    assert ends["good"]["data"]["output"] == {"files": 1, "bytes": 8}
    assert ends["endless"]["data"]["limit_seconds"] == 3
    assert ends["good"]["data"]["limit_seconds"] == 60
    # nothing of the run is left in the engine: not the timed-out container, not the killed one
    assert docker_client.api.containers(all=True, filters={"label": f"{engine.LABEL_RUN}={_run_id(out)}"}) == []
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["trainings"] == {"finished": 2, "cuda-oom": 1, "failed": 1, "oom-killed": 1, "timeout": 1}
    markdown = (out / "entries" / "A100" / "tester" / "endless" / "report.md").read_text(encoding="utf-8")
    assert "## Training" in markdown and "**timeout**" in markdown


def _run_id(out: Path) -> str:
    import sqlite3

    with sqlite3.connect(out / "state.sqlite") as db:
        return str(db.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchone()[0])


def test_gpu_sampling_is_a_skip_with_its_reason_without_gpus(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    code, out = _run(tmp_path, ["good"])
    assert code == 0
    data = _train(out, "good")["data"]
    assert data["gpu"]["status"] == "skipped"
    assert "has no GPU" in data["gpu"]["reason"]
    assert "ran without a GPU" in data["note"]


def test_a_token_the_training_prints_is_redacted_in_its_log(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    token = "hf_" + "".join(secrets.choice(string.ascii_letters) for _ in range(34))
    TRAININGS["leaky"] = f"echo 'logging in with {token}'; echo w > /output/w"
    try:
        _, out = _run(tmp_path, ["leaky"])  # exit code 1: the static audit finds the token in the Dockerfile
    finally:
        del TRAININGS["leaky"]
    log = (out / "entries" / "A100" / "tester" / "leaky" / "train" / "train.log").read_text(encoding="utf-8")
    assert "logging in with" in log
    assert token not in log
    assert token not in (out / "entries" / "A100" / "tester" / "leaky" / "report.json").read_text(encoding="utf-8")


def test_the_gpu_sampler_reads_nvidia_smi_from_a_container_of_its_own(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    """No GPU here: an image whose `nvidia-smi` prints what the real one prints stands in for the probe
    image, without the device request (the only part that needs the NVIDIA runtime)."""
    context = tmp_path / "fake-smi"
    context.mkdir()
    (context / "nvidia-smi").write_text(
        '#!/bin/sh\nn=0\nwhile true; do echo "0, $((1000 + n * 500)), 40960, $((n * 10))"; n=$((n+1)); sleep 0.2; done\n',
        encoding="utf-8",
    )
    (context / "Dockerfile").write_text(
        f"FROM {engine.BUSYBOX_IMAGE}\nENV PATH=/usr/bin:/bin\nCOPY nvidia-smi /usr/bin/nvidia-smi\nRUN chmod +x /usr/bin/nvidia-smi\n",
        encoding="utf-8",
    )
    image, _ = docker_client.images.build(path=str(context), tag="repro-audit-test/fake-smi:1", rm=True)
    try:
        sampler = GpuSampler(None, ("0",), image.id, engine.run_labels("test", "gpu-sampler"), interval=0.2,
                             request_devices=False).start()  # fmt: skip
        time.sleep(1.5)
        result = sampler.stop()
    finally:
        docker_client.images.remove(image.id, force=True)
    assert result["status"] == "sampled", result
    assert result["samples"] >= 2
    assert result["peak_memory_mib"] >= 1500
    assert result["total_memory_mib"] == 40960
    assert docker_client.api.containers(all=True, filters={"label": f"{engine.LABEL_RUN}=test"}) == []


def test_nvidia_smi_rows_are_parsed_and_noise_is_skipped() -> None:
    text = "0, 1024, 40960, 50\n[N/A]\nNVIDIA-SMI has failed\n0, 2048, 40960, 100\n"
    samples = parse_samples(text)
    assert [s.memory_used_mib for s in samples] == [1024, 2048]
    summary = summarize(samples, 5.0)
    assert summary["peak_memory_mib"] == 2048 and summary["mean_utilization_percent"] == 75.0
    assert summarize([], 5.0)["status"] == "skipped"
