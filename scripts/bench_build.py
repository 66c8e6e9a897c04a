"""Benchmark the `build` stage of ``repro-audit run`` against the ``docker build`` command line.

Both build the same generated entry (a training image on the local python base image: a few COPY steps
and RUN steps that compute for a few seconds each, so the build itself dominates) with the engine's cache
disabled (``--no-cache`` for both) and the classic builder for both (``DOCKER_BUILDKIT=0``: the Docker
SDK speaks the classic build API). They run side by side in the same invocation, ``--repeat`` times each,
alternating which goes first.

Three figures per repetition:
- ``docker build``: wall time of ``docker build --no-cache -f Dockerfile CONTEXT`` (the peer);
- the build stage: its own duration as the run's state records it (host slot, base-image lookup, the
  build under its deadline, measuring the image and scanning the layers it added for secrets);
- the whole command: ``repro-audit run SRC --out DIR --stages build --no-cache`` from start to exit
  (Python start, ingest and static stages, reports).

Goal: build stage / docker build (medians) <= 1.10. A missed goal prints ``GOAL MISSED`` and exits 0:
this is a measurement, not a test. Exit 1: a build failed; 2: no engine or no base image.

Usage::

    python scripts/bench_build.py                    # 3 repetitions
    python scripts/bench_build.py --repeat 5 --steps 8 --json bench-out/build.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

BASE = "repro-audit-local/python:3.11-bookworm"
GOAL = 1.10


def write_entry(root: Path, steps: int, work: int) -> Path:
    """A training entry whose build computes: `steps` RUN steps of about `work` million loop turns."""
    entry = root / "source" / "A100" / "bench" / "train-entry"
    (entry / "src").mkdir(parents=True, exist_ok=True)
    (entry / "src" / "prepare.py").write_text(
        "import hashlib, sys\n"
        "n = int(sys.argv[1]) * 1_000_000\n"
        "h = hashlib.sha256()\n"
        "total = 0\n"
        "for i in range(n):\n"
        "    total += i * i % 7\n"
        "h.update(str(total).encode())\n"
        "open(f'/opt/prepared-{sys.argv[2]}.txt', 'w').write(h.hexdigest())\n",
        encoding="utf-8",
    )
    (entry / "src" / "train.py").write_text("print('training would start here')\n", encoding="utf-8")
    lines = [f"FROM {BASE}", "WORKDIR /opt/train", "COPY src/ /opt/train/src/"]
    lines += [f"RUN python3 src/prepare.py {work} {step}" for step in range(steps)]
    lines += ['CMD ["python3", "src/train.py"]']
    (entry / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return entry


def docker_build(entry: Path, tag: str) -> float:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    command = [
        "docker",
        "build",
        "--no-cache",
        "--force-rm",
        "-q",
        "-t",
        tag,
        "-f",
        str(entry / "Dockerfile"),
        str(entry),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"docker build failed: {done.stderr.strip()[-500:]}")
    return seconds


def stage_build(source: Path, out: Path) -> tuple[float, float]:
    command = [sys.executable, "-m", "audit.cli", "run", str(source), "--out", str(out)]
    command += ["--stages", "build", "--no-cache", "--plain", "--jobs", "1"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    whole = time.perf_counter() - started
    with sqlite3.connect(out / "state.sqlite") as db:
        row = db.execute("SELECT status, started, ended, data FROM stages WHERE stage = 'build'").fetchone()
    if row is None or row[0] != "passed":
        raise RuntimeError(f"the build stage did not pass ({done.returncode}): {done.stderr.strip()[-500:]}")
    stage = (datetime.fromisoformat(row[2]) - datetime.fromisoformat(row[1])).total_seconds()
    return stage, whole


def clean(out: Path, tag: str) -> None:
    subprocess.run([sys.executable, "-m", "audit.cli", "clean", str(out)], capture_output=True, check=False)
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=benchlib.positive, default=3, help="builds per tool (default 3)")
    parser.add_argument("--steps", type=benchlib.positive, default=6, help="RUN steps that compute (default 6)")
    parser.add_argument("--work", type=benchlib.positive, default=12, help="million loop turns per step (default 12)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("docker") is None:
        print("bench_build: no docker command line: run scripts/docker-engine.sh", file=sys.stderr)
        return 2
    probe = subprocess.run(["docker", "image", "inspect", BASE], capture_output=True, check=False)
    if probe.returncode != 0:
        print(f"bench_build: no {BASE}: run scripts/docker-engine.sh and scripts/base-images.sh", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-build-"))
    entry = write_entry(workdir, args.steps, args.work)
    source = workdir / "source"
    tag = "repro-audit-bench/docker-build:latest"
    peer: list[float] = []
    stage: list[float] = []
    whole: list[float] = []
    try:
        for round_ in range(args.repeat):
            order = ("docker", "stage") if round_ % 2 == 0 else ("stage", "docker")
            for tool in order:
                if tool == "docker":
                    peer.append(docker_build(entry, tag))
                    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
                else:
                    out = workdir / f"run-{round_}"
                    seconds, total = stage_build(source, out)
                    stage.append(seconds)
                    whole.append(total)
                    clean(out, tag)
            print(
                f"round {round_ + 1}: docker build {peer[-1]:.2f} s, build stage {stage[-1]:.2f} s, "
                f"whole run command {whole[-1]:.2f} s",
                flush=True,
            )
    except RuntimeError as exc:
        print(f"bench_build: {exc}", file=sys.stderr)
        return 1
    finally:
        benchlib.leave_workdir(workdir, True, args.keep)
    ratio = statistics.median(stage) / statistics.median(peer)
    whole_ratio = statistics.median(whole) / statistics.median(peer)
    figures = {
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "steps": args.steps,
        "repeat": args.repeat,
        "docker_build_median_s": round(statistics.median(peer), 3),
        "docker_build_min_s": round(min(peer), 3),
        "build_stage_median_s": round(statistics.median(stage), 3),
        "build_stage_min_s": round(min(stage), 3),
        "run_command_median_s": round(statistics.median(whole), 3),
        "ratio_stage_to_docker": round(ratio, 3),
        "ratio_command_to_docker": round(whole_ratio, 3),
        "goal": GOAL,
    }
    print()
    print(f"docker build --no-cache (classic builder): median {figures['docker_build_median_s']:.2f} s")
    print(f"repro-audit build stage (--no-cache):      median {figures['build_stage_median_s']:.2f} s")
    print(f"repro-audit run --stages build, whole:     median {figures['run_command_median_s']:.2f} s")
    verdict = "goal met" if ratio <= GOAL else "GOAL MISSED"
    print(f"ratio build stage / docker build: {ratio:.3f} (goal <= {GOAL}): {verdict}")
    print(f"ratio whole command / docker build: {whole_ratio:.3f}")
    benchlib.write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
