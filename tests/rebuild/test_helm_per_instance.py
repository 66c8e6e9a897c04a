"""Per-instance results read from HELM's per_instance_stats.json (the scoring's bootstrap needs them)."""

from __future__ import annotations

import json
from pathlib import Path

from rebuild.helm import read_per_instance


def _stat(name: str, mean: float, split: str = "test") -> dict:
    return {"name": {"name": name, "split": split}, "count": 1, "sum": mean, "mean": mean}


def test_values_in_instance_order_with_worst_case_perturbations(tmp_path: Path) -> None:
    typo = {"name": "typos", "robustness": True, "fairness": False}
    dialect = {"name": "dialect", "robustness": False, "fairness": True}
    rows = [
        {"instance_id": "id2", "stats": [_stat("exact_match", 1.0), _stat("num_prompt_tokens", 30)]},
        {"instance_id": "id1", "stats": [_stat("exact_match", 1.0), _stat("exact_match", 0.0, split="valid")]},
        {"instance_id": "id1", "perturbation": typo, "stats": [_stat("exact_match", 0.0)]},
        {"instance_id": "id2", "perturbation": dialect, "stats": [_stat("exact_match", 0.0)]},
        {"instance_id": "id2", "perturbation": typo, "stats": [_stat("exact_match", 1.0)]},
        {"instance_id": 7, "stats": [_stat("exact_match", 1.0)]},  # not an id HELM writes: ignored
    ]
    path = tmp_path / "per_instance_stats.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    values = read_per_instance(path)
    assert values == {
        "exact_match": [1.0, 1.0],
        "exact_match (robustness)": [0.0, 1.0],  # id1's typo perturbation failed
        "exact_match (fairness)": [1.0, 0.0],  # id2's dialect perturbation failed
    }


def test_unreadable_files_give_nothing(tmp_path: Path) -> None:
    assert read_per_instance(tmp_path / "absent.json") == {}
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    assert read_per_instance(broken) == {}
    broken.write_text('{"not": "a list"}', encoding="utf-8")
    assert read_per_instance(broken) == {}


def test_a_nan_is_no_value(tmp_path: Path) -> None:
    rows = [
        {"instance_id": "a", "stats": [_stat("exact_match", float("nan")), _stat("rouge_2", 0.5)]},
        {"instance_id": "b", "stats": [_stat("rouge_2", 0.25)]},
    ]
    path = tmp_path / "per_instance_stats.json"
    path.write_text(json.dumps(rows), encoding="utf-8")  # json writes NaN, as HELM's would
    assert "exact_match" not in read_per_instance(path)
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps([_stat("exact_match", float("nan")), _stat("rouge_2", 0.375)]), encoding="utf-8")
    from rebuild.helm import read_metrics

    assert read_metrics(stats) == {"rouge_2": 0.375}
