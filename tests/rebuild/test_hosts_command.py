"""`repro-audit hosts` against the real engine: a usable local profile, an engine reached over tcp://
(through a forwarder on 127.0.0.1), and profiles that are not usable: nothing answers, or a GPU track
whose GPUs no container can see."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.cli import main

SOCKET = "/var/run/docker.sock"


@pytest.fixture
def tcp_engine() -> Iterator[str]:
    """The local engine's unix socket forwarded to a port on 127.0.0.1 (a real tcp:// endpoint)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(SOCKET)
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def _hosts(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hosts.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.docker
def test_the_local_profile_is_usable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hosts", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["hosts"]
    assert row["name"] == "local" and row["usable"] and row["reachable"]
    assert row["engine"] and "API" in row["engine"]
    assert row["free_bytes"] > 0
    assert row["timeouts"] == {"build": 3600, "train": 86400, "eval_open": 18000, "eval_closed": 36000}


@pytest.mark.docker
def test_a_tcp_endpoint(tmp_path: Path, tcp_engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = _hosts(
        tmp_path, f'[hosts.remote]\nendpoint = "{tcp_engine}"\nprobe-image = "repro-audit-local/busybox:1.35"\n'
    )
    assert main(["hosts", "--hosts", hosts, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["hosts"]
    assert row["usable"], row["problems"]
    assert row["endpoint"] == tcp_engine
    assert row["free_bytes"] > 0  # measured with df in a probe container: the engine is "remote"


@pytest.mark.docker
def test_unusable_profiles_fail_with_their_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = _hosts(
        tmp_path,
        '[hosts.gone]\nendpoint = "tcp://127.0.0.1:9"\n'
        '[hosts.fake-a100]\ntrack = "A100-40GB"\ngpus = ["0"]\nprobe-image = "repro-audit-local/busybox:1.35"\n'
        "[hosts.local]\n",
    )
    assert main(["hosts", "--hosts", hosts, "--format", "json"]) == 1
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["hosts"]}
    assert not rows["gone"]["usable"] and not rows["gone"]["reachable"]
    assert "tcp://127.0.0.1:9" in rows["gone"]["problems"][0]
    assert rows["fake-a100"]["reachable"] and not rows["fake-a100"]["usable"]  # no GPU reaches a container here
    assert any("GPU" in p or "nvidia-smi" in p for p in rows["fake-a100"]["problems"])
    assert rows["local"]["usable"]


@pytest.mark.docker
def test_the_table_says_which_profile_is_not_usable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = _hosts(tmp_path, '[hosts.gone]\nendpoint = "tcp://127.0.0.1:9"\n[hosts.here]\n')
    assert main(["hosts", "--hosts", hosts]) == 1
    out = capsys.readouterr().out
    assert "NOT usable" in out and "usable" in out
    assert "gone: no Docker Engine answers at tcp://127.0.0.1:9" in " ".join(out.split())
    assert "1 of 2 host profile(s) usable" in out


def test_a_bad_profile_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = _hosts(tmp_path, '[hosts.x]\ntrack = "H100"\n')
    assert main(["hosts", "--hosts", hosts]) == 2
    assert "track must be one of" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "o"), "--hosts", hosts]) == 2


def test_clean_needs_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clean", str(tmp_path)]) == 2
    assert "no state.sqlite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stages", "static,deploy"], "unknown stage 'deploy'"),
        (["--build-timeout", "an hour"], "not a duration"),
        (["--build-arg", "NOVALUE"], "KEY=VALUE"),
    ],
)
def test_run_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    (tmp_path / "entry").mkdir()
    (tmp_path / "entry" / "Dockerfile").write_text("FROM scratch\n")
    assert main(["run", str(tmp_path / "entry"), "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_markup_in_a_profile_is_printed_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = _hosts(tmp_path, '[hosts.odd]\nendpoint = "unix:///tmp/[red]/x.sock"\n')
    assert main(["hosts", "--hosts", hosts]) == 1
    assert "unix:///tmp/[red]/x.sock" in " ".join(capsys.readouterr().out.split())


def test_it_says_whether_helm_is_usable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-helm-here"
    assert main(["hosts", "--format", "json", "--helm", str(missing)]) == 0  # the hosts themselves are fine
    helm = json.loads(capsys.readouterr().out)["helm"]
    assert helm["usable"] is False and str(missing) in helm["note"]
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("helm-run", "helm-summarize"):
        (fake / name).write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        (fake / name).chmod(0o755)
    (fake / "python").write_text("#!/bin/sh\necho 0.4.0\n", encoding="utf-8")  # answers the version question
    (fake / "python").chmod(0o755)
    assert main(["hosts", "--helm", str(fake)]) == 0
    out = capsys.readouterr().out
    assert "HELM: crfm-helm 0.4.0" in out and "not the pinned 0.5.16" in out
