"""The organizers' overrides file (`rebuild.overrides`): defaults, per-entry tables layered on them, every
key's parsing, and an `OverridesError` naming the file, the table and the key for each bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rebuild.overrides import (
    COMPETITION_HEALTH_ATTEMPTS,
    COMPETITION_HEALTH_DELAY,
    COMPETITION_HEALTH_INTERVAL,
    EntrySettings,
    Overrides,
    OverridesError,
    load_overrides,
    parse_overrides,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MIB = 1024 * 1024
ALL_KEYS = (
    "eval-conf",
    "train-output",
    "weights",
    "memory",
    "train-timeout",
    "eval-timeout",
    "health-delay",
    "health-interval",
    "health-attempts",
    "max-eval-instances",
    "helm-threads",
    "train-dockerfile",
    "inference-dockerfile",
)


def _write(tmp_path: Path, text: str, name: str = "overrides.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _defaults(tmp_path: Path, key: str, value: Any) -> EntrySettings:
    return parse_overrides({"defaults": {key: value}}, "o.toml", base=tmp_path).defaults


def _refused(tmp_path: Path, key: str, value: Any) -> str:
    with pytest.raises(OverridesError) as caught:
        _defaults(tmp_path, key, value)
    return str(caught.value)


# ---- defaults and layering ---------------------------------------------------------------------------


def test_no_file_means_the_competitions_settings() -> None:
    settings = Overrides().for_entry("A100/alice/llm")
    assert settings == EntrySettings()
    assert settings.eval_conf is None
    assert settings.train_output == "/output"
    assert settings.weights is None
    assert settings.memory is None and settings.train_timeout is None and settings.eval_timeout is None
    assert (settings.health_delay, settings.health_interval, settings.health_attempts) == (
        COMPETITION_HEALTH_DELAY,
        COMPETITION_HEALTH_INTERVAL,
        COMPETITION_HEALTH_ATTEMPTS,
    )
    assert (settings.health_delay, settings.health_interval, settings.health_attempts) == (120.0, 120.0, 10)
    assert settings.helm_threads == 30


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    overrides = load_overrides(_write(tmp_path, ""))
    assert overrides.defaults == EntrySettings()
    assert overrides.entries == ()
    assert overrides.source == str(tmp_path / "overrides.toml")


def test_an_entry_table_is_layered_on_the_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[defaults]\nmemory = "1g"\ntrain-timeout = "2m"\nhealth-attempts = 3\n'
        '[entries."A100/alice/llm"]\ntrain-timeout = "90s"\ntrain-output = "/workspace/out"\n',
    )
    overrides = load_overrides(path)
    alice = overrides.for_entry("A100/alice/llm")
    assert alice.train_timeout == 90.0  # the entry's own
    assert alice.train_output == "/workspace/out"
    assert alice.memory == 1024 * MIB  # from [defaults]
    assert alice.health_attempts == 3  # from [defaults]
    assert alice.health_delay == COMPETITION_HEALTH_DELAY  # in neither: the competition's


def test_an_entry_without_a_table_gets_the_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, '[defaults]\nmemory = "1g"\n[entries."A100/alice/llm"]\nmemory = "2g"\n')
    overrides = load_overrides(path)
    assert overrides.for_entry("4090/bob/other") == overrides.defaults
    assert overrides.for_entry("4090/bob/other").memory == 1024 * MIB
    assert overrides.for_entry("A100/alice/llm").memory == 2048 * MIB


def test_the_entries_table_may_come_before_the_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, '[entries."A100/alice/llm"]\nhelm-threads = 4\n[defaults]\nmemory = "1g"\n')
    alice = load_overrides(path).for_entry("A100/alice/llm")
    assert (alice.helm_threads, alice.memory) == (4, 1024 * MIB)


# ---- every key ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("2m", 120.0), ("1h30m", 5400.0), ("24h", 86400.0), ("2d", 172800.0), ("45", 45.0), (30, 30.0)],
)
@pytest.mark.parametrize("key", ["train-timeout", "eval-timeout", "health-delay", "health-interval"])
def test_durations(tmp_path: Path, key: str, text: Any, seconds: float) -> None:
    assert getattr(_defaults(tmp_path, key, text), key.replace("-", "_")) == seconds


@pytest.mark.parametrize("text", ["0s", "forever", "10x", "", True, "31d", -5])
def test_bad_durations_are_refused(tmp_path: Path, text: Any) -> None:
    message = _refused(tmp_path, "eval-timeout", text)
    assert "o.toml" in message and "[defaults]" in message and "eval-timeout" in message


@pytest.mark.parametrize(("text", "amount"), [("512m", 512 * MIB), ("40g", 40 * 1024 * MIB), ("1.5GiB", 1536 * MIB)])
def test_memory(tmp_path: Path, text: str, amount: int) -> None:
    assert _defaults(tmp_path, "memory", text).memory == amount


@pytest.mark.parametrize("text", ["1m", "lots", "512 megabytes", 1.5, "2p"])
def test_bad_memory_is_refused(tmp_path: Path, text: Any) -> None:
    message = _refused(tmp_path, "memory", text)
    assert "o.toml" in message and "[defaults]" in message and "memory" in message


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [("health-attempts", 1, 1000), ("max-eval-instances", 1, 1_000_000), ("helm-threads", 1, 256)],
)
def test_counts_within_their_bounds(tmp_path: Path, key: str, low: int, high: int) -> None:
    attribute = key.replace("-", "_")
    assert getattr(_defaults(tmp_path, key, low), attribute) == low
    assert getattr(_defaults(tmp_path, key, high), attribute) == high
    for bad in (low - 1, high + 1, True, "5", 2.0):
        message = _refused(tmp_path, key, bad)
        assert key in message and f"from {low} to {high}" in message


@pytest.mark.parametrize("key", ["train-output", "weights"])
def test_paths_inside_the_container(tmp_path: Path, key: str) -> None:
    assert getattr(_defaults(tmp_path, key, "/workspace/out"), key.replace("-", "_")) == "/workspace/out"
    for bad in ("output", "./output", "/out:ro", "", "   ", 5):
        message = _refused(tmp_path, key, bad)
        assert "[defaults]" in message and key in message


@pytest.mark.parametrize("key", ["train-dockerfile", "inference-dockerfile"])
def test_dockerfile_paths_inside_the_entry(tmp_path: Path, key: str) -> None:
    attribute = key.replace("-", "_")
    assert getattr(_defaults(tmp_path, key, "train/Dockerfile"), attribute) == "train/Dockerfile"
    assert getattr(_defaults(tmp_path, key, "./serve/Dockerfile"), attribute) == "serve/Dockerfile"
    for bad in ("../Dockerfile", "train/../../Dockerfile", "/etc/Dockerfile", ""):
        message = _refused(tmp_path, key, bad)
        assert "[defaults]" in message and key in message


@pytest.mark.parametrize("name", ["open", "closed", "coarse"])
def test_eval_conf_by_set_name(tmp_path: Path, name: str) -> None:
    assert _defaults(tmp_path, "eval-conf", name).eval_conf == name


def test_eval_conf_file_relative_to_the_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "confs").mkdir()
    conf = tmp_path / "confs" / "mine.conf"
    conf.write_text('entries: [{description: "x", priority: 1}]\n', encoding="utf-8")
    organizer = tmp_path / "organizer"
    organizer.mkdir()
    path = _write(organizer, '[defaults]\neval-conf = "../confs/mine.conf"\n')
    monkeypatch.chdir(tmp_path / "confs")  # not the working directory: the file's own folder
    assert load_overrides(path).defaults.eval_conf == str(conf.resolve())


def test_eval_conf_that_is_no_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    for bad in ("missing.conf", "a-folder", "OPEN", "", 3):
        message = _refused(tmp_path, "eval-conf", bad)
        assert "[defaults]" in message and "eval-conf" in message


# ---- errors name the file, the table and the key ----------------------------------------------------


def test_an_unknown_key_lists_the_known_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, '[entries."A100/alice/llm"]\ntrain-timout = "2m"\n')
    with pytest.raises(OverridesError) as caught:
        load_overrides(path)
    message = str(caught.value)
    assert str(path) in message
    assert '[entries."A100/alice/llm"]' in message
    assert "'train-timout'" in message
    for key in ALL_KEYS:
        assert key in message


def test_a_bad_value_in_an_entry_table_names_that_table(tmp_path: Path) -> None:
    path = _write(tmp_path, '[defaults]\nmemory = "1g"\n[entries."4090/bob/x"]\nhealth-attempts = 0\n')
    with pytest.raises(OverridesError) as caught:
        load_overrides(path)
    message = str(caught.value)
    assert str(path) in message and '[entries."4090/bob/x"]' in message and "health-attempts" in message


def test_an_unknown_top_level_table(tmp_path: Path) -> None:
    path = _write(tmp_path, '[default]\nmemory = "1g"\n')
    with pytest.raises(OverridesError) as caught:
        load_overrides(path)
    message = str(caught.value)
    assert str(path) in message and "'default'" in message and "[defaults]" in message


def test_tables_that_are_not_tables(tmp_path: Path) -> None:
    with pytest.raises(OverridesError, match=r"o\.toml: \[defaults\] must be a table"):
        parse_overrides({"defaults": 3}, "o.toml", base=tmp_path)
    with pytest.raises(OverridesError, match=r"o\.toml: entries must be tables"):
        parse_overrides({"entries": "A100/alice/llm"}, "o.toml", base=tmp_path)
    with pytest.raises(OverridesError, match=r'o\.toml: \[entries\."A100/alice/llm"\] must be a table'):
        parse_overrides({"entries": {"A100/alice/llm": 1}}, "o.toml", base=tmp_path)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "overrides.toml"
    path.write_bytes(b'[defaults]\nmemory = "\xff\xfe"\n')
    with pytest.raises(OverridesError) as caught:
        load_overrides(path)
    assert str(path) in str(caught.value) and "UTF-8" in str(caught.value)


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, "[defaults\nmemory = 1g\n")
    with pytest.raises(OverridesError) as caught:
        load_overrides(path)
    assert str(path) in str(caught.value) and "not valid TOML" in str(caught.value)


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "overrides.toml"
    with pytest.raises(OverridesError) as caught:
        load_overrides(path)
    assert str(path) in str(caught.value) and "cannot read" in str(caught.value)


# ---- the shipped file --------------------------------------------------------------------------------


def test_the_pipeline_fixtures_overrides_load() -> None:
    path = FIXTURES / "pipeline" / "overrides.toml"
    overrides = load_overrides(path)
    offline = (FIXTURES / "evalsets" / "offline").resolve()
    assert overrides.defaults.eval_conf == str(offline / "offline.conf")
    assert overrides.defaults.memory == 512 * MIB
    assert overrides.defaults.weights == "/weights"

    slow = overrides.for_entry("4090/dave/slow-server")
    assert slow.eval_conf == str(offline / "slow.conf")
    assert slow.eval_timeout == 40.0
    assert slow.memory == overrides.defaults.memory  # the rest from [defaults]
    assert slow.health_attempts == overrides.defaults.health_attempts == 30

    assert overrides.for_entry("A100/erin/endless-training").train_timeout == 8.0
    assert overrides.for_entry("A100/bob/wrong-port").health_attempts == 5
    assert overrides.for_entry("A100/bob/wrong-port").eval_timeout == overrides.defaults.eval_timeout == 300.0
