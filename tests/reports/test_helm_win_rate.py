"""Our `--win-rate helm` against HELM's own code: helm-summarize's compute_aggregate_row_win_rates, run
in HELM's environment on the same random tables (ties, missing values, lower-is-better columns)."""

from __future__ import annotations

import json
import random
import subprocess

import pytest

from reports.scoring import Definition, mean, win_rates

pytestmark = pytest.mark.helm

HELM_SIDE = """
import json, sys
from helm.benchmark.presentation.summarize import compute_aggregate_row_win_rates
from helm.benchmark.presentation.table import Cell, HeaderCell, Table
tables = json.load(sys.stdin)
out = []
for t in tables:
    header = [HeaderCell("model")] + [HeaderCell(f"m{i}", lower_is_better=lower) for i, lower in enumerate(t["lower"])]
    rows = [[Cell(name)] + [Cell(v) for v in values] for name, values in t["rows"].items()]
    out.append(compute_aggregate_row_win_rates(Table("t", header, rows)))
print(json.dumps(out))
"""


def random_table(rng: random.Random) -> dict:
    entries, metrics = rng.randint(1, 12), rng.randint(1, 6)
    levels = [round(rng.random(), 1) for _ in range(4)]  # few distinct values: many ties
    rows = {
        f"e{i}": [None if rng.random() < 0.2 else rng.choice(levels) for _ in range(metrics)] for i in range(entries)
    }
    return {"lower": [rng.random() < 0.3 for _ in range(metrics)], "rows": rows}


def test_helm_definition_matches_helms_own_code() -> None:
    from rebuild.helm import find_helm

    install = find_helm()
    assert not isinstance(install, str), install
    rng = random.Random(2023)
    tables = [random_table(rng) for _ in range(200)]
    python = install.run.parent / "python"
    done = subprocess.run(
        [str(python), "-c", HELM_SIDE],
        input=json.dumps(tables),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    theirs = json.loads(done.stdout)
    for table, expected in zip(tables, theirs, strict=True):
        names = list(table["rows"])
        per_entry: dict[str, list[float | None]] = {name: [] for name in names}
        for column, lower in enumerate(table["lower"]):
            values = [table["rows"][name][column] for name in names]
            for name, rate in zip(
                names, win_rates(values, lower_is_better=lower, definition=Definition.HELM), strict=True
            ):
                per_entry[name].append(rate)
        ours = [mean(per_entry[name]) for name in names]
        assert ours == pytest.approx(expected, abs=1e-12), table
