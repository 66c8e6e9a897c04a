"""Benchmark the git-history secret scan (`audit.secrets.history.scan_history`) on a synthetic repository.

The repository is written in one `git fast-import` stream, so even thousands of commits take seconds:
about 50 files of Python-like text that change a little in every commit, a `main` branch and, from a
quarter of the way in, an `experiment` branch whose commits interleave with main's by date. Along the
way HuggingFace-shaped tokens (built at run time from the seed, never stored in this script) are
planted in files and later taken out again, by an edit or by deleting the file, on either branch;
some are never taken out, and one planted before the fork is taken out on main only, so the
experiment branch still holds it. Everything comes from one seeded `random.Random`: the same options
always give the same repository.

The scan then runs `--repeat` times (`time.perf_counter`, median and minimum), and the report gives
the commits and distinct blobs it read, the recall of the planted tokens (every token at every path
it was planted at must be found: anything less exits 1), whether each was placed right (the commit
that added it and the one that removed it, or none when a branch still holds it), hits that were not
planted, and the goal: a median under 5 s. A missed goal prints `GOAL MISSED` but still exits 0: this
is a measurement, not a test.

Exit status: 0 measured (goal met or not), 1 a planted token was missed or misplaced, 2 git is missing,
the options are inconsistent or the workdir holds something else.

Usage::

    python scripts/bench_history.py                        # 2000 commits in a temp dir, 3 runs
    python scripts/bench_history.py --commits 10000 --repeat 5 --json bench-out/history.json
    python scripts/bench_history.py --workdir bench-out/history --keep   # reuses the repository next time
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from audit.secrets.catalog import select
from audit.secrets.content import ContentScanner
from audit.secrets.history import HistoryScan, scan_history

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # a sibling module, not a package

GENERATOR_VERSION = 2
GOAL_SECONDS = 5.0
MAIN, EXPERIMENT = "main", "experiment"
MANIFEST = "bench-history.json"
_EPOCH = 1_690_000_000
_ALNUM = string.ascii_letters + string.digits


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_VERBS = _words("load build prepare compute apply merge collate encode decode sample filter pack shard evaluate save")
_NOUNS = _words("batch prompt adapter weights dataset tokens config checkpoint logits scores cache template outputs")
_VARS = _words("batch logits hidden mask scores labels weights outputs inputs result state lengths ids loss step")
_DIRS = ("", "src/", "src/model/", "src/data/", "scripts/", "eval/")
_STATEMENTS = (
    "{v} = {a} * {n}",
    "{v} = {a} + {b}",
    "{v} = torch.zeros({n}, {m}, dtype=torch.float16)",
    "{v} = torch.cat([{a}, {b}], dim=-1)",
    "{v} = [item for item in {a} if item is not None]",
    "{v} = len({a}) // {n}",
    "{v} = max({a}, {n})",
    "{v} = {a}[:, -{n}:]",
    'logger.info("{w}: %s", {a})',
    "{v} = dict(zip({a}, {b}))",
    "{v} = {a}.detach().cpu().tolist()",
    "# {w} the {x} before the {y}",
)
_PLANTS = (
    'HF_TOKEN = "{t}"',
    'login(token="{t}")',
    'os.environ["HF_TOKEN"] = "{t}"',
    "    api = HfApi(token='{t}')",
    "# token: {t}",
)
_TOKEN_SHAPED = re.compile(r"hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]")


# --------------------------------------------------------------------------------------------------
# The repository: a plan, then a fast-import stream
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    commits: int
    files: int
    tokens: int
    seed: int


@dataclass
class Planted:
    """One token at one path: where it went in and (in the branch it lives on) where it came out."""

    token: str
    path: str
    branch: str
    added: int  # commit index
    removed: int | None = None  # None: still there at the end of its branch
    due: int | None = None  # the commit index from which it is taken out (None: never)
    by_delete: bool = False


@dataclass
class Plan:
    stream: bytes
    planted: list[Planted]
    branches: dict[str, dict[str, list[str]]]  # branch -> path -> lines at its tip
    blob_bytes: int = 0
    commits_on: dict[str, int] = field(default_factory=dict)


def make_token(rng: random.Random) -> str:
    return "hf" + "_" + "".join(rng.choice(_ALNUM) for _ in range(34))


def _line(rng: random.Random) -> str:
    a, b = rng.sample(_VARS, 2)
    text = rng.choice(_STATEMENTS).format(
        v=rng.choice(_VARS),
        a=a,
        b=b,
        n=rng.randint(1, 512),
        m=rng.randint(1, 64),
        w=rng.choice(_VERBS),
        x=rng.choice(_NOUNS),
        y=rng.choice(_NOUNS),
    )
    if _TOKEN_SHAPED.search(text):
        raise RuntimeError(f"generator bug: token-shaped filler {text!r}")
    return "    " + text


def _function(rng: random.Random) -> list[str]:
    name = f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
    return [f"def {name}({', '.join(rng.sample(_VARS, 2))}):", *(_line(rng) for _ in range(rng.randint(3, 9))), ""]


def _new_file(rng: random.Random) -> list[str]:
    lines = ["import os", "import torch", "", ""]
    while len(lines) < rng.randint(40, 120):
        lines.extend(_function(rng))
    return lines


def _render(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _mutate(rng: random.Random, lines: list[str]) -> None:
    """Change a few lines, never one holding a planted token; a file stays around 40 to 160 lines."""
    for _ in range(rng.randint(1, 3)):
        free = [i for i, line in enumerate(lines) if line.startswith("    ") and "hf_" not in line]
        choice = rng.random()
        if choice < 0.6 and free:
            lines[rng.choice(free)] = _line(rng)
        elif len(free) < 30 or (choice < 0.8 and len(lines) < 160):
            at = rng.randint(min(4, len(lines)), len(lines))
            lines[at:at] = _function(rng)
        else:
            start = rng.choice(free)
            end = start + rng.randint(1, 6)
            lines[start:end] = [line for line in lines[start:end] if "hf_" in line]


def plan_repository(shape: Shape) -> Plan:
    rng = random.Random(shape.seed)
    fork_at = max(2, shape.commits // 4)
    main: dict[str, list[str]] = {}
    for n in range(shape.files):
        path = f"{rng.choice(_DIRS)}{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}_{n}.py"
        main[path] = _new_file(rng)
    branches: dict[str, dict[str, list[str]]] = {MAIN: main}
    plant_at = {
        int((k + rng.uniform(0.2, 0.8)) * (shape.commits - 1) / max(shape.tokens, 1)) + 1: k
        for k in range(shape.tokens)
    }
    # The last token planted before the fork is taken out on main only: the experiment branch keeps it.
    kept_by_fork = max((i for i in plant_at if i < fork_at), default=None)
    planted: list[Planted] = []
    tips: dict[str, int] = {}
    chunks: list[bytes] = []
    blob_bytes = 0
    commits_on = {MAIN: 0, EXPERIMENT: 0}

    for index in range(shape.commits):
        branch = MAIN if index < fork_at or rng.random() < 0.65 else EXPERIMENT
        if branch == EXPERIMENT and EXPERIMENT not in branches:
            branches[EXPERIMENT] = {p: list(lines) for p, lines in branches[MAIN].items()}
            start = tips[MAIN]
        else:
            start = None
        files = branches[branch]
        changed: dict[str, bytes | None] = {}
        if index == 0:
            changed = {p: _render(lines) for p, lines in files.items()}
        else:
            for path in rng.sample(sorted(files), min(len(files), rng.randint(1, 3))):
                _mutate(rng, files[path])
                changed[path] = _render(files[path])
            for item in planted:
                if item.branch == branch and item.removed is None and item.due is not None and index >= item.due:
                    if item.by_delete:
                        del files[item.path]
                        changed[item.path] = None
                    else:
                        lines = files[item.path]
                        files[item.path] = [line for line in lines if item.token not in line]
                        changed[item.path] = _render(files[item.path])
                    item.removed = index
            if index in plant_at:
                k = plant_at[index]
                token = make_token(rng)
                by_delete = k % 4 == 3
                if by_delete:  # a file of its own, deleted later
                    path = f"notes/credentials_{k}.py"
                    files[path] = ["# local settings", rng.choice(_PLANTS).format(t=token), ""]
                else:
                    path = rng.choice(sorted(p for p in files if not p.startswith("notes/")))
                    at = rng.randint(3, len(files[path]))
                    files[path].insert(at, rng.choice(_PLANTS).format(t=token))
                changed[path] = _render(files[path])
                keep = k >= shape.tokens - 2  # the last two stay in
                due = None if keep else index + rng.randint(5, max(6, shape.commits // 10))
                if index == kept_by_fork:
                    due = fork_at + rng.randint(5, 50)
                planted.append(Planted(token, path, branch, index, due=due, by_delete=by_delete))
        chunks.append(_commit(index, branch, start, changed, rng))
        blob_bytes += sum(len(d) for d in changed.values() if d is not None)
        tips[branch] = index + 1
        commits_on[branch] += 1

    for item in planted:
        if any(
            item.path in files and any(item.token in line for line in files[item.path]) for files in branches.values()
        ):
            item.removed = None  # still at the tip of some branch, whatever another branch did
    return Plan(b"".join(chunks), planted, branches, blob_bytes, commits_on)


def _commit(index: int, branch: str, start: int | None, changed: dict[str, bytes | None], rng: random.Random) -> bytes:
    message = f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)} ({index})\n".encode()
    out = [
        f"commit refs/heads/{branch}\nmark :{index + 1}\n".encode(),
        f"committer Bench <bench@example.invalid> {_EPOCH + 60 * index} +0000\n".encode(),
        f"data {len(message)}\n".encode(),
        message,
    ]
    if start is not None:
        out.append(f"from :{start}\n".encode())
    for path, data in sorted(changed.items()):
        if data is None:
            out.append(f"D {path}\n".encode())
            continue
        out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode())
        out.append(data + b"\n")
    out.append(b"\n")
    return b"".join(out)


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    done = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


def build_repository(root: Path, plan: Plan) -> dict[int, str]:
    """Write the repository; commit index -> commit id."""
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", MAIN)
    marks = root.parent / "marks.txt"
    _git(root, "fast-import", "--quiet", f"--export-marks={marks}", stdin=plan.stream)
    _git(root, "symbolic-ref", "HEAD", f"refs/heads/{MAIN}")
    return _read_marks(marks)


def _read_marks(marks: Path) -> dict[int, str]:
    ids = {}
    for line in marks.read_text().splitlines():
        mark, oid = line.split()
        ids[int(mark[1:]) - 1] = oid
    return ids


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    found: int
    placed: int
    unexpected: int
    missed: list[str]  # what was missed or misplaced, token redacted


def judge(result: HistoryScan, plan: Plan, ids: dict[int, str]) -> Verdict:
    by_key = {(h.hit.secret, h.path): h for h in result.hits}
    planted_keys = {(p.token, p.path) for p in plan.planted}
    found = placed = 0
    missed = []
    for item in plan.planted:
        label = f"token #{plan.planted.index(item) + 1} in {item.path} ({item.branch})"
        hit = by_key.get((item.token, item.path))
        if hit is None:
            missed.append(f"{label}: not found")
            continue
        found += 1
        want = (ids[item.added], None if item.removed is None else ids[item.removed])
        if (hit.added, hit.removed) == want:
            placed += 1
        else:
            missed.append(
                f"{label}: placed at {hit.added[:10]}..{str(hit.removed)[:10]}, want {want[0][:10]}..{str(want[1])[:10]}"
            )
    unexpected = sum(1 for key in by_key if key not in planted_keys)
    return Verdict(found, placed, unexpected, missed)


def machine_info() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model or platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def measure(root: Path, repeat: int) -> tuple[list[float], HistoryScan]:
    scanner = ContentScanner(select())
    times = []
    result = HistoryScan()
    for _ in range(repeat):
        start = time.perf_counter()
        result = scan_history(root, scanner)
        times.append(time.perf_counter() - start)
    return times, result


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the git-history secret scan on a synthetic repository.")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder for the repository (default: a fresh temporary directory, removed afterwards unless --keep); "
        "a repository left there by an earlier run with the same options is reused",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    parser.add_argument("--commits", type=benchlib.positive, default=2000, help="commits in all (default 2000)")
    parser.add_argument("--files", type=benchlib.positive, default=50, help="files in the first commit (default 50)")
    parser.add_argument("--tokens", type=benchlib.positive, default=8, help="tokens planted along the way (default 8)")
    parser.add_argument("--seed", type=int, default=2024, help="generator seed (default 2024)")
    parser.add_argument("--repeat", type=benchlib.positive, default=3, help="timed scans (default 3)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.tokens * 4 > args.commits:
        parser.error(f"--tokens {args.tokens} needs at least {args.tokens * 4} commits")
    return args


def _prepare(workdir: Path, shape: Shape, plan: Plan) -> tuple[Path, dict[int, str], float]:
    repo = workdir / "repo"
    manifest = workdir / MANIFEST
    wanted = {"generator": GENERATOR_VERSION, **asdict(shape)}
    if repo.exists():
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if found != wanted:
            raise ValueError(
                f"{repo} exists but was not generated with these options; remove it or pick another --workdir"
            )
        print(f"reusing the repository in {repo}", file=sys.stderr)
        return repo, _read_marks(workdir / "marks.txt"), 0.0
    print(f"generating {shape.commits} commits with git fast-import into {repo} ...", file=sys.stderr)
    start = time.perf_counter()
    ids = build_repository(repo, plan)
    elapsed = time.perf_counter() - start
    manifest.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    return repo, ids, elapsed


def build_figures(
    shape: Shape, plan: Plan, result: HistoryScan, times: list[float], verdict: Verdict, generate_s: float, git: str
) -> dict[str, object]:
    median = statistics.median(times)
    planted = len(plan.planted)
    return {
        "machine": machine_info(),
        "git": git,
        "repository": {
            **asdict(shape),
            "commits_by_branch": plan.commits_on,
            "still_held": sum(1 for p in plan.planted if p.removed is None),
            "blob_mb": round(plan.blob_bytes / 2**20, 1),
            "generate_s": round(generate_s, 2),
        },
        "scan": {
            "commits": result.commits,
            "blobs": result.blobs,
            "hits": len(result.hits),
            "gaps": result.gaps,
            "median_s": round(median, 4),
            "min_s": round(min(times), 4),
            "runs_s": [round(t, 4) for t in times],
            "blobs_per_s": round(result.blobs / median) if median else None,
        },
        "recall": {"planted": planted, "found": verdict.found, "value": verdict.found / planted if planted else 1.0},
        "placement": {"right": verdict.placed, "of": planted},
        "unexpected_hits": verdict.unexpected,
        "problems": verdict.missed,
        "goal": {"limit_s": GOAL_SECONDS, "value_s": round(median, 4), "met": median < GOAL_SECONDS},
    }


def print_report(figures: dict[str, object]) -> None:
    machine, repo, scan, recall, placement, goal = (
        figures[k] for k in ("machine", "repository", "scan", "recall", "placement", "goal")
    )
    assert isinstance(machine, dict) and isinstance(repo, dict) and isinstance(scan, dict)
    assert isinstance(recall, dict) and isinstance(placement, dict) and isinstance(goal, dict)
    label = 13
    branches = ", ".join(f"{k} {v}" for k, v in repo["commits_by_branch"].items())
    print()
    print(f"{'machine':<{label}}{machine['cpu_count']} CPUs ({machine['usable_cpus']} usable), {machine['cpu_model']}")
    print(f"{'software':<{label}}{figures['git']}, Python {machine['python']}")
    print(
        f"{'repository':<{label}}{repo['commits']} commits ({branches}), {repo['files']} files at the start, "
        f"{repo['blob_mb']} MB of blobs written, {repo['tokens']} tokens planted, "
        f"{repo['still_held']} still on a branch (seed {repo['seed']})"
    )
    if repo["generate_s"]:
        print(f"{'generated':<{label}}in {repo['generate_s']:.2f} s (git fast-import)")
    print()
    print(
        f"{'scan':<{label}}median {scan['median_s']:.3f} s, min {scan['min_s']:.3f} s "
        f"({len(scan['runs_s'])} runs: {', '.join(f'{t:.3f}' for t in scan['runs_s'])})"
    )
    print(f"{'read':<{label}}{scan['commits']} commits, {scan['blobs']} distinct blobs ({scan['blobs_per_s']} blobs/s)")
    print(f"{'recall':<{label}}{recall['found']}/{recall['planted']} planted tokens found ({recall['value']:.0%})")
    print(f"{'placement':<{label}}{placement['right']}/{placement['of']} with the right adding and removing commits")
    print(f"{'unexpected':<{label}}{figures['unexpected_hits']} hits that were not planted")
    gaps = scan["gaps"]
    if gaps:
        print(f"{'gaps':<{label}}{len(gaps)}: {gaps[0]}")
    problems = figures["problems"]
    assert isinstance(problems, list)
    for problem in problems:
        print(f"  MISSED {problem}")
    status = "met" if goal["met"] else "GOAL MISSED"
    print(f"{'goal':<{label}}median < {GOAL_SECONDS:.0f} s: {status} ({goal['value_s']:.3f} s)")
    if not goal["met"]:
        print("\nGOAL MISSED (a measurement, not a failure: the exit status stays 0)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("git") is None:
        print("error: git not found on PATH", file=sys.stderr)
        return 2
    git_version = _git(Path.cwd(), "--version")
    shape = Shape(args.commits, args.files, args.tokens, args.seed)
    plan = plan_repository(shape)
    temporary = args.workdir is None
    workdir: Path = Path(tempfile.mkdtemp(prefix="repro-audit-history-")) if temporary else args.workdir
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            repo, ids, generate_s = _prepare(workdir, shape, plan)
        except (ValueError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"timing scan_history: {args.repeat} run(s)", file=sys.stderr)
        times, result = measure(repo, args.repeat)
        verdict = judge(result, plan, ids)
        figures = build_figures(shape, plan, result, times, verdict, generate_s, git_version)
        print_report(figures)
        benchlib.write_figures(args.json, figures)
        return 0 if verdict.found == verdict.placed == len(plan.planted) else 1
    finally:
        benchlib.leave_workdir(workdir, temporary, args.keep)


if __name__ == "__main__":
    sys.exit(main())
