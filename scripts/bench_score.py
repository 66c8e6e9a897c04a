"""Benchmark: scoring a track as large as the competition's, against HELM's own win-rate code.

A synthetic track of --entries entries on the NeurIPS 2023 scheme (31 metrics; per-instance results
for the open set's runs, --instances in all), scored three ways, each timed --repeat times (best
shown):
- ours, `--win-rate helm`: every metric's win rates and the entries' mean over all metrics;
- HELM's compute_aggregate_row_win_rates (helm-summarize's) on the same table, in HELM's own
  environment (scripts/helm-env.sh), timed inside that process;
- ours, the competition's definition with the whole scoring (scenarios, sets, ranks), then the bootstrap
  of --replicates resamples of the instances (what `repro-audit report` does per track).
The two mean-win-rate columns are also compared value by value. Prints figures and ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time

from rebuild.helm import find_helm
from reports.reproduction import InstanceResults, bootstrap
from reports.scoring import Definition, competition_scheme, mean, score_track, win_rates

HELM_SIDE = """
import json, sys, time
from helm.benchmark.presentation.summarize import compute_aggregate_row_win_rates
from helm.benchmark.presentation.table import Cell, HeaderCell, Table
data = json.load(sys.stdin)
header = [HeaderCell("model")] + [HeaderCell(t, lower_is_better=l) for t, l in data["columns"]]
rows = [[Cell(name)] + [Cell(v) for v in values] for name, values in data["rows"].items()]
best = None
for _ in range(data["repeat"]):
    start = time.perf_counter()
    result = compute_aggregate_row_win_rates(Table("t", header, rows))
    took = time.perf_counter() - start
    best = took if best is None else min(best, took)
print(json.dumps({"seconds": best, "result": result}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--instances", type=int, default=2000, help="open-set instances per entry")
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scheme = competition_scheme()
    rng = random.Random(7)
    open_metrics = [m for sc in scheme.scenarios if sc.set == "open" for m in sc.metrics]
    per_run = max(1, args.instances // len({m.runs for m in open_metrics}))
    table, instances = {}, {}
    for index in range(args.entries):
        name = f"entry-{index:03d}"
        skill = rng.random()
        runs = {}
        for runs_name in sorted({m.runs for m in open_metrics}):
            values = [1.0 if rng.random() < skill else 0.0 for _ in range(per_run)]
            runs[f"{runs_name}:model=x"] = {"exact_match": values, "exact_match (robustness)": values,
                                            "exact_match (fairness)": values, "exact_match_indicator": values}  # fmt: skip
        instances[name] = InstanceResults(runs)
        table[name] = {
            m.title: (None if rng.random() < 0.05 else round(rng.random(), 2)) for m in scheme.metrics
        }  # some entries miss some metrics, as entries that failed a scenario did
    titles = [m.title for m in scheme.metrics]

    def ours_helm() -> list[float | None]:
        names = sorted(table)
        per_entry: dict[str, list[float | None]] = {n: [] for n in names}
        for metric in scheme.metrics:
            column = [table[n][metric.title] for n in names]
            rates = win_rates(column, lower_is_better=metric.lower_is_better, definition=Definition.HELM)
            for n, rate in zip(names, rates, strict=True):
                per_entry[n].append(rate)
        return [mean(per_entry[n]) for n in names]

    ours_seconds = _best(args.repeat, ours_helm)
    ours = ours_helm()
    install = find_helm()
    helm_seconds = None
    if isinstance(install, str):
        print(f"HELM: not available ({install}); the peer column is skipped")
    else:
        names = sorted(table)
        payload = {
            "columns": [[m.title, m.lower_is_better] for m in scheme.metrics],
            "rows": {n: [table[n][t] for t in titles] for n in names},
            "repeat": args.repeat,
        }
        done = subprocess.run(
            [str(install.run.parent / "python"), "-c", HELM_SIDE],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            check=True,
        )
        theirs = json.loads(done.stdout)
        helm_seconds = theirs["seconds"]
        same = all(
            (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-12)
            for a, b in zip(ours, theirs["result"], strict=True)
        )
        print(f"mean win rates equal to HELM's for all {len(names)} entries: {same}")
    track_seconds = _best(args.repeat, lambda: score_track("A100", table, scheme))
    track = score_track("A100", table, scheme)
    start = time.perf_counter()
    result = bootstrap(track, table, instances, replicates=args.replicates, seed=1)
    boot_seconds = time.perf_counter() - start
    print(f"track: {args.entries} entries x {len(titles)} metrics, {per_run * 5} open-set instances per entry")
    print(f"{'':44} {'seconds':>10}")
    print(
        f"{'HELM compute_aggregate_row_win_rates':44} {helm_seconds if helm_seconds is not None else float('nan'):>10.4f}"
    )
    print(f"{'ours, --win-rate helm':44} {ours_seconds:>10.4f}")
    if helm_seconds:
        print(f"{'ratio ours / HELM':44} {ours_seconds / helm_seconds:>10.2f}")
    print(f"{'ours, the whole competition scoring':44} {track_seconds:>10.4f}")
    print(f"{f'ours, bootstrap x{args.replicates}':44} {boot_seconds:>10.2f}")
    if result is not None:
        print(f"stability: {result.stability(track)}")
    return 0


def _best(repeat: int, work: object) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    raise SystemExit(main())
