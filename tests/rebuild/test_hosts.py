"""Host profiles: the TOML file, durations and memory sizes, command-line limits, and which host an
entry goes to."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebuild.hosts import (
    LOCAL,
    HostProfile,
    HostsError,
    Timeouts,
    format_duration,
    host_for,
    load_hosts,
    parse_duration,
    parse_memory,
    with_timeouts,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("45m", 2700), ("24h", 86400), ("1h30m", 5400), ("2d", 172800), ("300", 300), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10 minutes", "-5m", "0s", "5x", "m5", "1h 30"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(3600, "1h"), (90, "1m30s"), (2.5, "2.5s"), (86400, "1d"), (30, "30s")])
def test_durations_written_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "size"), [("512m", 512 * 1024**2), ("40g", 40 * 1024**3), ("1.5GiB", 1536 * 1024**2)])
def test_memory(text: str, size: int) -> None:
    assert parse_memory(text) == size


def test_too_little_memory_is_refused() -> None:
    with pytest.raises(ValueError, match="too little"):
        parse_memory("1m")


FULL = """
[hosts.a100-1]
endpoint = "ssh://audit@gpu-a100-1"
track = "A100-40GB"
gpus = ["0", 1]
memory = "80g"
cpus = 16
pull = true
network = false
builds = 3
probe-image = "example/cuda:12"

[hosts.a100-1.timeouts]
build = "90m"
train = "12h"
eval-open = "200m"

[hosts.cpu]
track = "cpu"
"""


def test_a_full_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(FULL, encoding="utf-8")
    a100, cpu = load_hosts(path)
    assert a100 == HostProfile(
        name="a100-1",
        track="A100-40GB",
        endpoint="ssh://audit@gpu-a100-1",
        gpus=("0", "1"),
        memory=80 * 1024**3,
        cpus=16.0,
        pull=True,
        network=False,
        builds=3,
        probe_image="example/cuda:12",
        timeouts=Timeouts(build=5400, train=43200, eval_open=12000, eval_closed=36000),
    )
    assert a100.needs_gpu
    assert cpu == HostProfile(name="cpu")
    assert cpu.timeouts == Timeouts(build=3600, train=86400, eval_open=18000, eval_closed=36000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[hosts.x]\ntrack = 'H100'\n", "track must be one of"),
        ("[hosts.x]\ntrack = 'A100-40GB'\n", "needs gpus"),
        ("[hosts.x]\nendpoint = 'http://x'\n", "endpoint must start with"),
        ("[hosts.x]\nmemroy = '4g'\n", "unknown key 'memroy'"),
        ("[hosts.x]\nbuilds = 0\n", "builds must be"),
        ("[hosts.x]\npull = 'yes'\n", "pull must be true or false"),
        ("[hosts.x.timeouts]\nbuild = 'an hour'\n", "not a duration"),
        ("[hosts.x.timeouts]\nbiuld = '1h'\n", "unknown timeout 'biuld'"),
        ("[host.x]\n", "unknown top-level key 'host'"),
        ("title = 'x'\n", "unknown top-level key"),
        ("", "no host"),
        ("[hosts]\n'bad name!' = {}\n", "a host name is"),
        ("[hosts.x\n", "not valid TOML"),
        ("[hosts.x]\nmemory = 1.5e9\n", "not an amount of memory"),
        ("[hosts.x.timeouts]\nbuild = 1979-05-27\n", "not a duration"),
        ("[hosts.x.timeouts]\nbuild = nan\n", "not a positive duration"),
        ("[hosts.x.timeouts]\nbuild = inf\n", "not a positive duration"),
        ("[hosts.x.timeouts]\ntrain = '1000000000000s'\n", "longer than 30 days"),
        ("[hosts.x]\ncpus = 1e9\n", "cpus must be"),
    ],
)
def test_bad_profiles_name_the_host_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HostsError, match=message) as caught:
        load_hosts(path)
    assert str(path) in str(caught.value)


def test_an_unreadable_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(HostsError, match="cannot read"):
        load_hosts(tmp_path / "missing.toml")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(HostsError, match="UTF-8"):
        load_hosts(tmp_path / "binary.toml")


def test_command_line_limits_override_every_profile() -> None:
    hosts = with_timeouts([LOCAL, HostProfile(name="b", timeouts=Timeouts(build=10))], build=90, evaluation=60)
    assert [h.timeouts.build for h in hosts] == [90, 90]
    assert [h.timeouts.eval_open for h in hosts] == [60, 60]
    assert [h.timeouts.eval_closed for h in hosts] == [60, 60]
    assert [h.timeouts.train for h in hosts] == [86400, 86400]
    assert with_timeouts([LOCAL]) == [LOCAL]


def test_entries_go_to_their_tracks_hosts() -> None:
    a100 = HostProfile(name="a", track="A100-40GB", gpus=("0",))
    a100_b = HostProfile(name="a2", track="A100-40GB", gpus=("1",))
    rtx = HostProfile(name="r", track="RTX4090-24GB", gpus=("0",))
    cpu = HostProfile(name="c")
    hosts = [a100, a100_b, rtx, cpu]
    assert host_for("A100/u/r", "A100", hosts, gpu=True) in (a100, a100_b)
    assert host_for("4090/u/r", "4090", hosts, gpu=True) == rtx
    assert host_for("x/u/r", None, hosts, gpu=False) == cpu  # no track: a build goes to a cpu host
    assert host_for("x/u/r", None, hosts, gpu=True) is None  # but training needs its track's GPU
    assert host_for("4090/u/r", "4090", [a100], gpu=False) == a100  # a build may run anywhere
    assert host_for("4090/u/r", "4090", [a100], gpu=True) is None
    # spread over a track's hosts, the same way every time
    chosen = {host_for(f"A100/user{i}/repo", "A100", hosts, gpu=True) for i in range(40)}
    assert chosen == {a100, a100_b}
    assert host_for("A100/u/r", "A100", hosts, gpu=True) == host_for("A100/u/r", "A100", hosts, gpu=True)
