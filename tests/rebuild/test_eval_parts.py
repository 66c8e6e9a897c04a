"""The parts of the train and eval stages that need neither Docker nor HELM: the timing relay (real HTTP
on 127.0.0.1), HELM's conf, suite folder and results read from fake trees, where HELM is found, the
organizers' health check with a fake clock, and how a training run's end is classified."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from rebuild import helm, relay
from rebuild.engine import JobResult
from rebuild.eval import HEALTH_PROMPT, Health, wait_healthy
from rebuild.helm import ConfError, HelmInstall, Suite
from rebuild.jobs import TAIL_LINES, pick_target
from rebuild.overrides import EntrySettings
from rebuild.relay import Exchange, Relay, percentile, throughput
from rebuild.train import classify_end
from tests.rebuild.contract_server import free_port, serve, serve_handler

# ---- a tiny upstream server ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    kind: str = "application/json"
    delay: float = 0.0  # seconds before answering


def _json(status: int, value: Any, delay: float = 0.0) -> Answer:
    return Answer(status, json.dumps(value).encode("utf-8"), delay=delay)


@dataclass
class Upstream:
    """Answers each path from its list in turn (the last one repeats); records every request, with the
    time `stamp()` gives when it arrives (a fake clock's, in the health check's tests)."""

    answers: dict[str, list[Answer]]
    stamp: Callable[[], float] = time.monotonic
    requests: list[tuple[str, str, bytes, str | None, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self, path: str) -> Answer:
        with self.lock:
            queue = self.answers.get(path)
            if not queue:
                return _json(404, {"detail": "Not Found"})
            return queue.pop(0) if len(queue) > 1 else queue[0]


@contextlib.contextmanager
def serving(upstream: Upstream) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with upstream.lock:
                upstream.requests.append((method, self.path, body, self.headers.get("Content-Type"), upstream.stamp()))
            answer = upstream.next_answer(self.path)
            if answer.delay:
                time.sleep(answer.delay)
            with contextlib.suppress(OSError):
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.kind)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

    with serve_handler(Handler) as url:
        yield url


def _post(url: str, path: str, body: bytes, kind: str = "application/json") -> tuple[int, bytes, str | None]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": kind})
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type")
    finally:
        connection.close()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Bounds a wait for another thread; asserts nothing about how long it took."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def _request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests (the health check) must reach 127.0.0.1 directly whatever proxy the machine sets."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


# ---- the relay --------------------------------------------------------------------------------------------

PROCESS_ANSWER = {
    "text": "Paris",
    "tokens": [{"text": "Par", "logprob": -0.5}, {"text": "is", "logprob": -0.25}, {"text": ".", "logprob": -1.0}],
    "logprob": -1.75,
    "request_time": 0.25,
}


def test_the_relay_forwards_bodies_and_answers_unchanged() -> None:
    process = json.dumps(PROCESS_ANSWER, indent=1).encode("utf-8")  # its own spacing: bytes, not values
    upstream = Upstream(
        {
            "/process": [Answer(200, process)],
            "/tokenize": [_json(200, {"tokens": [1, 2, 3, 4], "request_time": 0.01})],
            "/refuse": [_json(422, {"detail": "prompt: field required"})],
            "/html": [Answer(200, b"<html>hello</html>", "text/html; charset=utf-8")],
        }
    )
    with serving(upstream) as url, Relay(url) as relaying:
        assert _post(relaying.url, "/process", b'{"prompt": "The capital of France is "}') == (
            200,
            process,
            "application/json",
        )
        assert _post(relaying.url, "/tokenize", b'{"text": "abcd"}')[:2] == (
            200,
            b'{"tokens": [1, 2, 3, 4], "request_time": 0.01}',
        )
        assert _post(relaying.url, "/refuse", b"{}")[:2] == (422, b'{"detail": "prompt: field required"}')
        assert _post(relaying.url, "/html", b"x", "text/plain") == (
            200,
            b"<html>hello</html>",
            "text/html; charset=utf-8",
        )
        measured = relaying.measured()

    assert [(m, p, b, k) for m, p, b, k, _ in upstream.requests] == [
        ("POST", "/process", b'{"prompt": "The capital of France is "}', "application/json"),
        ("POST", "/tokenize", b'{"text": "abcd"}', "application/json"),
        ("POST", "/refuse", b"{}", "application/json"),
        ("POST", "/html", b"x", "text/plain"),
    ]
    assert [(e.endpoint, e.status, e.request_time, e.generated_tokens) for e in measured] == [
        ("/process", 200, 0.25, 3),  # len(tokens) of a /process answer
        ("/tokenize", 200, 0.01, None),  # tokens of /tokenize are not generated
        ("/refuse", 422, None, None),
        ("/html", 200, None, None),
    ]
    assert all(e.seconds >= 0 for e in measured)
    assert [e.ended for e in measured] == sorted(e.ended for e in measured)  # one after the other


def test_the_relay_forwards_get_requests() -> None:
    upstream = Upstream({"/health": [_json(200, {"ok": True})]})
    with serving(upstream) as url, Relay(url) as relaying:
        connection = http.client.HTTPConnection("127.0.0.1", _port(relaying.url), timeout=30)
        connection.request("GET", "/health")
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"ok": True})
        connection.close()
        assert [(e.endpoint, e.status) for e in relaying.measured()] == [("/health", 200)]
    assert upstream.requests[0][:3] == ("GET", "/health", b"")


def test_the_relay_records_the_reference_servers_answers() -> None:
    request = {"prompt": "Hello", "max_new_tokens": 7, "temperature": 0.0, "echo_prompt": False}
    with serve() as url, Relay(url) as relaying:
        direct = json.loads(_post(url, "/process", json.dumps(request).encode())[1])
        status, body, _ = _post(relaying.url, "/process", json.dumps(request).encode())
        relayed = json.loads(body)
        (exchange,) = relaying.measured()
    assert status == 200
    assert relayed["text"] == direct["text"] and relayed["tokens"] == direct["tokens"]
    assert exchange.generated_tokens == len(relayed["tokens"]) == 7
    assert exchange.request_time == relayed["request_time"]


def test_a_request_time_that_is_not_a_number_is_not_recorded() -> None:
    upstream = Upstream({"/process": [_json(200, {"tokens": "abc", "request_time": True})]})
    with serving(upstream) as url, Relay(url) as relaying:
        _post(relaying.url, "/process", b"{}")
        (exchange,) = relaying.measured()
    assert (exchange.request_time, exchange.generated_tokens) == (None, None)


def test_an_upstream_that_is_down_gives_502_and_status_0() -> None:
    with Relay(f"http://127.0.0.1:{free_port()}") as relaying:
        status, body, kind = _post(relaying.url, "/process", b'{"prompt": "x"}')
        measured = relaying.measured()
    assert status == 502
    assert kind == "application/json"
    assert "gave no answer" in json.loads(body)["detail"]
    assert [(e.endpoint, e.status, e.request_time, e.generated_tokens) for e in measured] == [
        ("/process", 0, None, None)
    ]
    assert throughput(measured)["errors"] == 1


def test_the_relay_forwards_only_to_http() -> None:
    for bad in ("https://127.0.0.1:8443", "127.0.0.1:80", "http://"):
        with pytest.raises(ValueError, match="http://"):
            Relay(bad)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client killed at its deadline may."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.fixture
def handler_errors(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The connections whose handler raised, each still handed to the relay's own `handle_error`."""
    errors: list[object] = []
    quiet = relay._QuietServer.handle_error

    def spy(self: Any, request: Any, client_address: Any) -> None:
        quiet(self, request, client_address)  # the relay's own: must print nothing
        errors.append(client_address)

    monkeypatch.setattr(relay._QuietServer, "handle_error", spy)
    return errors


def test_a_client_gone_before_the_answer_prints_no_traceback(
    capfd: pytest.CaptureFixture[str], handler_errors: list[object]
) -> None:
    upstream = Upstream({"/process": [_json(200, PROCESS_ANSWER, delay=0.3), _json(200, PROCESS_ANSWER)]})
    with serving(upstream) as url, Relay(url) as relaying:
        client = socket.create_connection(("127.0.0.1", _port(relaying.url)))
        body = b'{"prompt": "x"}'
        client.sendall(
            b"POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        _wait_for(lambda: len(upstream.requests) == 1, "the relay passed the request on")
        _reset(client)  # gone while the server is still thinking
        _wait_for(lambda: len(relaying.measured()) == 1, "the relay recorded the exchange")
        _wait_for(lambda: not _request_threads(), "the relay's handler ended")
        # the relay still serves
        assert _post(relaying.url, "/process", body)[0] == 200
    assert [e.status for e in relaying.measured()] == [200, 200]
    assert handler_errors == []  # the relay saw the client gone and closed the connection itself
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err


def test_a_client_gone_mid_request_prints_no_traceback(
    capfd: pytest.CaptureFixture[str], handler_errors: list[object]
) -> None:
    upstream = Upstream({"/process": [_json(200, PROCESS_ANSWER)]})
    with serving(upstream) as url, Relay(url) as relaying:
        client = socket.create_connection(("127.0.0.1", _port(relaying.url)))
        client.sendall(b'POST /process HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"prompt')
        time.sleep(0.1)  # let the relay block on the rest of the body (ordering, not a measurement)
        _reset(client)
        _wait_for(lambda: bool(handler_errors), "the relay's handler failed on the reset connection")
        assert _post(relaying.url, "/process", b"{}")[0] == 200
    assert [request[2] for request in upstream.requests] == [b"{}"]  # the torn request was not passed on
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err


# ---- throughput and percentiles -----------------------------------------------------------------------


def _exchange(
    endpoint: str, status: int, started: float, seconds: float, rt: float | None, tokens: int | None
) -> Exchange:
    return Exchange(endpoint, status, seconds, rt, tokens, started + seconds)


def test_throughput_over_the_span() -> None:
    exchanges = [
        _exchange("/process", 200, 10.0, 1.0, 0.8, 5),
        _exchange("/tokenize", 200, 11.5, 0.5, 0.01, None),
        _exchange("/process", 200, 11.0, 2.0, 1.5, 7),
        _exchange("/process", 0, 13.0, 1.0, None, None),  # no answer
        _exchange("/decode", 422, 12.0, 0.5, None, None),
    ]
    assert throughput(exchanges) == {
        "requests": 5,
        "process_requests": 3,
        "errors": 2,
        "span_seconds": 4.0,  # from 10.0 (the first start) to 14.0 (the last answer)
        "requests_per_second": 1.25,
        "generated_tokens": 12,
        "generated_tokens_per_second": 3.0,
        "latency_p50_seconds": 1.0,  # /process walls 1.0, 1.0, 2.0: nearest rank 2 of 3
        "latency_p95_seconds": 2.0,  # rank 3 of 3
        "server_time_p50_seconds": 0.8,  # /process request_time 0.8, 1.5: rank 1 of 2
        "server_time_p95_seconds": 1.5,
    }


def test_throughput_of_nothing() -> None:
    assert throughput([]) == {"requests": 0}


def test_throughput_without_a_span_or_process_requests() -> None:
    result = throughput([Exchange("/tokenize", 200, 0.0, None, None, 5.0)])
    assert result["requests"] == 1 and result["process_requests"] == 0 and result["errors"] == 0
    assert result["requests_per_second"] is None and result["generated_tokens_per_second"] is None
    assert result["latency_p50_seconds"] is None and result["server_time_p95_seconds"] is None


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.5) == percentile([3.0], 0.95) == percentile([3.0], 0.0) == 3.0
    assert percentile([2.0, 1.0], 0.5) == 1.0  # rank ceil(1.0) = 1: no interpolation to 1.5
    assert percentile([2.0, 1.0], 0.95) == 2.0
    twenty = [float(v) for v in range(20, 0, -1)]
    assert percentile(twenty, 0.95) == 19.0  # rank ceil(19.0) = 19, not the maximum
    assert percentile(twenty, 0.5) == 10.0
    assert percentile(twenty, 1.0) == 20.0
    assert percentile(twenty, 0.0) == 1.0
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0
    assert twenty[0] == 20.0  # the caller's list is left as it was


# ---- HELM's conf and suite folder ---------------------------------------------------------------------

CONF = """# HELM run entries
entries: [
  {description: "custom_mcqa:path=capitals.jsonl,model=neurips/local,max_eval_instances=2", priority: 1},
  # {description: "mmlu:subject=anatomy,model=neurips/local", priority: 1},
  {description = "quoted:text=\\"a b\\",model=neurips/local", priority: 2},
    // {description: "bbq:subject=all,model=neurips/local", priority: 1},
  {description: "custom_mcqa:path=sub/colours.jsonl,model=neurips/local", priority: 1},
]
"""


def _conf(folder: Path, text: str = CONF, name: str = "offline.conf") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_descriptions_of_a_conf(tmp_path: Path) -> None:
    assert helm.descriptions_of(_conf(tmp_path)) == (
        "custom_mcqa:path=capitals.jsonl,model=neurips/local,max_eval_instances=2",
        'quoted:text="a b",model=neurips/local',
        "custom_mcqa:path=sub/colours.jsonl,model=neurips/local",
    )


def test_the_shipped_slow_conf_has_its_three_runs() -> None:
    conf = Path(__file__).resolve().parents[2] / "fixtures" / "evalsets" / "offline" / "slow.conf"
    descriptions = helm.descriptions_of(conf)
    assert len(descriptions) == 3 and all(d.startswith("custom_mcqa:path=") for d in descriptions)


def test_a_conf_with_no_entry(tmp_path: Path) -> None:
    conf = _conf(tmp_path, '# {description: "mmlu:subject=anatomy", priority: 1}\nentries: []\n')
    with pytest.raises(ConfError, match="names no run entry") as caught:
        helm.descriptions_of(conf)
    assert str(conf) in str(caught.value)


def test_a_conf_that_cannot_be_read(tmp_path: Path) -> None:
    binary = tmp_path / "binary.conf"
    binary.write_bytes(b'entries: [{description: "\xff"}]')
    (tmp_path / "folder.conf").mkdir()
    for conf in (tmp_path / "missing.conf", tmp_path / "folder.conf", binary):
        with pytest.raises(ConfError, match="cannot read the HELM conf") as caught:
            helm.descriptions_of(conf)
        assert str(conf) in str(caught.value)


def test_a_conf_with_an_invalid_escape_is_a_conf_error(tmp_path: Path) -> None:
    conf = _conf(tmp_path, 'entries: [{description: "custom_mcqa:path=a\\q.jsonl", priority: 1}]\n')
    with pytest.raises(ConfError) as caught:
        helm.descriptions_of(conf)
    assert str(conf) in str(caught.value)


def test_prepare_suite_copies_the_conf_and_its_question_files(tmp_path: Path) -> None:
    sets = tmp_path / "sets"
    conf = _conf(sets)
    (sets / "capitals.jsonl").write_text('{"question": "capital of France?"}\n', encoding="utf-8")
    (sets / "sub").mkdir()
    (sets / "sub" / "colours.jsonl").write_text('{"question": "colour of snow?"}\n', encoding="utf-8")
    folder = tmp_path / "run" / "helm"
    folder.mkdir(parents=True)
    (folder / "stale.txt").write_text("from an earlier run", encoding="utf-8")

    suite = helm.prepare_suite(conf, folder, "repro-audit")

    assert not (folder / "stale.txt").exists()  # a fresh folder
    assert suite.name == "repro-audit" and suite.folder == folder
    assert suite.conf == folder / "offline.conf"
    assert suite.conf.read_text(encoding="utf-8") == CONF
    assert suite.descriptions == helm.descriptions_of(conf)
    assert suite.missing_files == ()
    scenarios = folder / "benchmark_output" / "scenarios" / "custom_mcqa"
    assert (scenarios / "capitals.jsonl").read_text(encoding="utf-8") == '{"question": "capital of France?"}\n'
    assert (scenarios / "sub" / "colours.jsonl").read_text(encoding="utf-8") == '{"question": "colour of snow?"}\n'
    assert suite.output == folder / "benchmark_output"
    assert suite.runs_folder == folder / "benchmark_output" / "runs" / "repro-audit"


def test_prepare_suite_refuses_files_outside_the_confs_folder(tmp_path: Path) -> None:
    sets = tmp_path / "sets"
    (tmp_path / "secret.jsonl").write_text("outside\n", encoding="utf-8")
    conf = _conf(
        sets,
        "entries: [\n"
        '  {description: "custom_mcqa:path=../secret.jsonl,model=neurips/local", priority: 1},\n'
        '  {description: "custom_mcqa:path=linked.jsonl,model=neurips/local", priority: 1},\n'
        '  {description: "custom_mcqa:path=gone.jsonl,model=neurips/local", priority: 1},\n'
        '  {description: "custom_mcqa:path=here.jsonl,model=neurips/local", priority: 1},\n'
        '  {description: "mmlu:subject=anatomy,path=other.jsonl,model=neurips/local", priority: 1},\n'
        "]\n",
    )
    (sets / "linked.jsonl").symlink_to(tmp_path / "secret.jsonl")
    (sets / "here.jsonl").write_text("inside\n", encoding="utf-8")
    (sets / "other.jsonl").write_text("not a JSONL scenario's\n", encoding="utf-8")

    suite = helm.prepare_suite(conf, tmp_path / "suite", "s")

    assert suite.missing_files == ("../secret.jsonl", "linked.jsonl", "gone.jsonl")
    scenarios = tmp_path / "suite" / "benchmark_output" / "scenarios"
    copied = sorted(p.relative_to(scenarios).as_posix() for p in scenarios.rglob("*") if p.is_file())
    assert copied == ["custom_mcqa/here.jsonl"]
    assert not (tmp_path / "suite" / "benchmark_output" / "secret.jsonl").exists()


def test_prepare_suite_of_a_conf_with_no_entry(tmp_path: Path) -> None:
    conf = _conf(tmp_path / "sets", "entries: []\n")
    with pytest.raises(ConfError):
        helm.prepare_suite(conf, tmp_path / "suite", "s")
    assert not (tmp_path / "suite").exists()


# ---- HELM's results ------------------------------------------------------------------------------------

RUN_A = "custom_mcqa:path=capitals.jsonl,model=neurips/local"
RUN_B = "custom_mcqa:path=colours.jsonl,model=neurips/local"
RUN_C = "custom_mcqa:path=animals.jsonl,model=neurips/local"

HELM_LOG = f"""Reading run entries from offline.conf...
3 entries produced 3 run specs
RunSpec(name='{RUN_A}', scenario_spec=ScenarioSpec(class_name='CustomMCQAScenario'), adapter_spec=...)
RunSpec(name='{RUN_B}', scenario_spec=ScenarioSpec(class_name='CustomMCQAScenario'), adapter_spec=...)
  Running {RUN_A} {{
RunSpec(name='{RUN_A}', scenario_spec=...)
RunSpec(name='{RUN_C}', scenario_spec=...)
"""


def _stat(name: str, mean: Any, *, split: str = "test", count: int = 2, **extra: Any) -> dict[str, Any]:
    return {"name": {"name": name, "split": split, **extra}, "count": count, "sum": 0, "mean": mean}


STATS = [
    _stat("num_instances", 2, count=1),
    _stat("exact_match", 0.5),
    _stat("exact_match", 0.9, split="valid"),
    _stat("exact_match", 0.25, perturbation={"name": "robustness", "robustness": True, "computed_on": "worst"}),
    _stat("exact_match", 0.0, sub_split="hard"),  # after the split's own row: must not replace it
    _stat("quasi_exact_match", 1.0, count=0),  # no instance counted
    _stat("inference_runtime", None),
    _stat("prefix_exact_match", 1),
]


def _run_folder(suite: Suite, name: str, *, stats: Any = None, spec: bool = True) -> Path:
    folder = suite.runs_folder / name.replace("/", "_")
    folder.mkdir(parents=True)
    if spec:
        (folder / "run_spec.json").write_text(json.dumps({"name": name}), encoding="utf-8")
    if isinstance(stats, str):
        (folder / "stats.json").write_text(stats, encoding="utf-8")
    elif stats is not None:
        (folder / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    return folder


def _suite(tmp_path: Path) -> Suite:
    folder = tmp_path / "helm"
    return Suite("repro-audit", folder, folder / "offline.conf", (RUN_A, RUN_B, RUN_C))


def test_planned_runs_from_helm_runs_log(tmp_path: Path) -> None:
    log = tmp_path / "helm-run.log"
    log.write_text(HELM_LOG, encoding="utf-8")
    assert helm.planned_runs(log) == (RUN_A, RUN_B, RUN_C)  # in order, each once
    assert helm.planned_runs(tmp_path / "no-log") == ()


def test_read_metrics_takes_the_test_splits_means(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps(STATS), encoding="utf-8")
    assert helm.read_metrics(stats) == {
        "num_instances": 2.0,
        "exact_match": 0.5,
        "exact_match (robustness)": 0.25,
        "prefix_exact_match": 1.0,
    }


@pytest.mark.parametrize("text", ['[{"name": {"name": "exact_match"', "", "null", '{"exact_match": 1}', "[]"])
def test_a_corrupt_stats_file_gives_no_metrics(tmp_path: Path, text: str) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text(text, encoding="utf-8")
    assert helm.read_metrics(stats) == {}
    assert helm.read_metrics(tmp_path / "missing.json") == {}


def test_a_stats_file_of_the_wrong_shape_gives_no_metrics(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text(
        json.dumps([1, {"name": "exact_match", "split": "test", "count": 1, "mean": 1.0}]), encoding="utf-8"
    )
    assert helm.read_metrics(stats) == {}


def test_collect_finished_and_unfinished_runs(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    _run_folder(suite, RUN_A, stats=STATS)
    _run_folder(suite, RUN_B)  # started: its spec, no stats
    _run_folder(suite, "custom_mcqa:path=broken.jsonl,model=neurips/local", stats='[{"name": ')
    _run_folder(suite, "no-spec", stats=STATS, spec=False)  # not a run HELM finished
    (suite.runs_folder / "groups").mkdir()  # helm-summarize's, not a run
    (suite.runs_folder / "runs.json").write_text("[]", encoding="utf-8")

    results = {r.name: r for r in helm.collect(suite, (RUN_A, RUN_B, RUN_C))}

    a, b, c = (name.replace("/", "_") for name in (RUN_A, RUN_B, RUN_C))
    broken = "custom_mcqa:path=broken.jsonl,model=neurips_local"
    assert set(results) == {a, b, c, broken}
    assert results[a].finished
    assert results[a].instances == 2  # num_instances moved out of the metrics
    assert results[a].metrics == {"exact_match": 0.5, "exact_match (robustness)": 0.25, "prefix_exact_match": 1.0}
    assert results[a].to_dict() == {
        "name": a,
        "finished": True,
        "instances": 2,
        "metrics": {"exact_match": 0.5, "exact_match (robustness)": 0.25, "prefix_exact_match": 1.0},
        "per_instance": {},  # the test's run has no per_instance_stats.json
    }
    assert not results[b].finished and results[b].metrics == {}
    assert not results[c].finished and results[c].instances is None  # planned, never started
    assert results[broken].finished and results[broken].metrics == {} and results[broken].instances is None


def test_collect_with_no_runs_folder(tmp_path: Path) -> None:
    results = helm.collect(_suite(tmp_path), (RUN_A,))
    assert [(r.name, r.finished) for r in results] == [(RUN_A.replace("/", "_"), False)]
    assert helm.collect(_suite(tmp_path), ()) == []


# ---- where HELM is -------------------------------------------------------------------------------------


def _executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _install(bin_dir: Path, version: str | None = None) -> Path:
    _executable(bin_dir / "helm-run")
    _executable(bin_dir / "helm-summarize")
    if version is not None:
        _executable(bin_dir / "python", f"#!/bin/sh\necho {version}\n")
    return bin_dir


def _cached(cache: Path, name: str, *, complete: bool = True, mtime: float | None = None) -> Path:
    bin_dir = _install(cache / name / "bin")
    if complete:
        stamp = cache / name / ".complete"
        stamp.write_text("", encoding="utf-8")
        if mtime is not None:
            os.utime(stamp, (mtime, mtime))
    return bin_dir


@dataclass(frozen=True)
class Places:
    interpreter_bin: Path  # where this "interpreter" lives
    cache: Path  # REPRO_AUDIT_CACHE
    on_path: Path  # the only folder on PATH


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Places:
    """Nothing found anywhere until a test puts a HELM somewhere."""
    found = Places(tmp_path / "interpreter" / "bin", tmp_path / "cache", tmp_path / "path-bin")
    for folder in (found.interpreter_bin, found.cache, found.on_path):
        folder.mkdir(parents=True)
    monkeypatch.delenv(helm.HELM_ENV_VARIABLE, raising=False)
    monkeypatch.setenv("REPRO_AUDIT_CACHE", str(found.cache))
    monkeypatch.setenv("PATH", str(found.on_path))
    monkeypatch.setattr("rebuild.helm.sys.executable", str(found.interpreter_bin / "python3"))
    return found


def _found(result: HelmInstall | str) -> Path:
    assert isinstance(result, HelmInstall), result
    assert result.summarize == result.run.with_name("helm-summarize")
    return result.run.parent


def test_nothing_found_gives_the_install_hint(places: Places) -> None:
    result = helm.find_helm()
    assert isinstance(result, str)
    assert helm.INSTALL_HINT in result and helm.HELM_VERSION in result


def test_helm_on_path(places: Places) -> None:
    _install(places.on_path)
    assert _found(helm.find_helm()) == places.on_path


def test_a_cached_environment_beats_path(places: Places) -> None:
    _install(places.on_path)
    cached = _cached(places.cache, "helm-0.5.16-abc")
    assert _found(helm.find_helm()) == cached


def test_cached_environments_newest_first_and_complete_only(places: Places) -> None:
    _cached(places.cache, "helm-old", mtime=1_000_000)
    newest = _cached(places.cache, "helm-new", mtime=2_000_000)
    _cached(places.cache, "helm-half-made", complete=False)
    _cached(places.cache, "other-thing", mtime=3_000_000)  # not a helm-* environment
    assert _found(helm.find_helm()) == newest


def test_the_interpreters_environment_beats_the_cache(places: Places) -> None:
    _cached(places.cache, "helm-0.5.16-abc")
    _install(places.interpreter_bin)
    assert _found(helm.find_helm()) == places.interpreter_bin


def test_the_environment_variable_beats_the_interpreter(
    places: Places, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(places.interpreter_bin)
    chosen = _install(tmp_path / "from-env" / "bin")
    monkeypatch.setenv(helm.HELM_ENV_VARIABLE, str(chosen))
    assert _found(helm.find_helm()) == chosen
    monkeypatch.setenv(helm.HELM_ENV_VARIABLE, str(chosen / "helm-run"))  # the file itself will do
    assert _found(helm.find_helm()) == chosen


def test_the_argument_beats_the_environment_variable(
    places: Places, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(helm.HELM_ENV_VARIABLE, str(_install(tmp_path / "from-env" / "bin")))
    given = _install(tmp_path / "given" / "bin")
    assert _found(helm.find_helm(str(given))) == given
    assert _found(helm.find_helm(str(given / "helm-run"))) == given


def test_the_argument_is_used_whatever_the_environment_variable_says(
    places: Places, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(helm.HELM_ENV_VARIABLE, str(tmp_path / "stale-env" / "bin"))
    given = _install(tmp_path / "given" / "bin")
    assert _found(helm.find_helm(str(given))) == given


def test_a_configured_place_without_helm_run_says_so(
    places: Places, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(places.on_path)  # not fallen back on: the configured place is wrong
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = helm.find_helm(str(empty))
    assert isinstance(result, str)
    assert str(empty / "helm-run") in result and "--helm" in result

    monkeypatch.setenv(helm.HELM_ENV_VARIABLE, str(empty))
    result = helm.find_helm()
    assert isinstance(result, str)
    assert str(empty / "helm-run") in result and helm.HELM_ENV_VARIABLE in result


def test_an_incomplete_or_unusable_install_is_passed_over(places: Places) -> None:
    _executable(places.interpreter_bin / "helm-run")  # no helm-summarize beside it
    cached = _cached(places.cache, "helm-0.5.16-abc")
    (cached / "helm-run").chmod(0o644)  # not executable
    _install(places.on_path)
    assert _found(helm.find_helm()) == places.on_path


@pytest.mark.parametrize(("version", "pinned"), [(helm.HELM_VERSION, True), ("0.4.0", False)])
def test_the_environments_helm_version(places: Places, version: str, pinned: bool) -> None:
    _install(places.interpreter_bin, version=version)
    result = helm.find_helm()
    assert isinstance(result, HelmInstall)
    assert (result.version, result.pinned) == (version, pinned)
    assert result.to_dict() == {"path": str(places.interpreter_bin), "version": version, "pinned": pinned}


def test_no_python_beside_helm_means_no_version(places: Places) -> None:
    _install(places.on_path)
    result = helm.find_helm()
    assert isinstance(result, HelmInstall) and result.version is None and not result.pinned


# ---- the organizers' health check ---------------------------------------------------------------------


class FakeClock:
    """time.monotonic and time.sleep for the health check: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


SETTINGS = EntrySettings(health_delay=3.0, health_interval=2.0, health_attempts=4)


def _check(
    url: str, clock: FakeClock, alive: Callable[[], Any] = lambda: None, settings: EntrySettings = SETTINGS
) -> Health:
    return wait_healthy(url, settings, alive, clock=clock, sleep=clock.sleep)


def test_healthy_at_the_first_attempt_after_the_delay() -> None:
    clock = FakeClock()
    upstream = Upstream({"/process": [_json(200, {"text": "Paris"})]}, stamp=clock)
    with serving(upstream) as url:
        health = _check(url, clock)
    assert health == Health(True, 1, 3.0)
    assert [(m, p, json.loads(b), t) for m, p, b, _, t in upstream.requests] == [
        ("POST", "/process", HEALTH_PROMPT, 1003.0)  # the whole delay waited before the first POST
    ]
    assert sum(clock.sleeps) == 3.0
    assert max(clock.sleeps) <= 1.0  # whether the server still runs is asked at least every second


def test_a_server_answering_500_then_200_needs_two_attempts() -> None:
    clock = FakeClock()
    upstream = Upstream(
        {"/process": [Answer(500, b"Internal Server Error", "text/plain"), _json(200, {"text": "Paris"})]}, stamp=clock
    )
    with serving(upstream) as url:
        health = _check(url, clock)
    assert (health.healthy, health.attempts, health.seconds, health.error) == (True, 2, 5.0, None)
    assert [t for *_, t in upstream.requests] == [1003.0, 1005.0]  # the delay, then one interval


def test_a_server_never_up_uses_every_attempt() -> None:
    clock = FakeClock()
    health = _check(f"http://127.0.0.1:{free_port()}", clock)
    assert not health.healthy
    assert health.attempts == 4
    assert health.error is not None and health.error.startswith("/process: no answer")
    assert health.seconds == 3.0 + 3 * 2.0  # the delay and an interval between attempts, none after the last
    assert (health.exit_code, health.oom_killed) == (None, False)
    assert health.to_dict()["healthy"] is False and health.to_dict()["attempts"] == 4


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(503, b"busy", "text/plain"), "/process: HTTP 503"),
        (Answer(200, b"<html>nginx</html>", "text/html"), "/process: "),
    ],
)
def test_the_last_error_is_reported(answer: Answer, error: str) -> None:
    clock = FakeClock()
    upstream = Upstream({"/process": [answer]}, stamp=clock)
    with serving(upstream) as url:
        health = _check(url, clock)
    assert (health.healthy, health.attempts) == (False, 4)
    assert health.error is not None and health.error.startswith(error)
    assert len(upstream.requests) == 4


def test_a_server_that_exited_is_not_waited_for() -> None:
    clock = FakeClock()
    upstream = Upstream({"/process": [_json(200, {"text": "Paris"})]}, stamp=clock)
    with serving(upstream) as url:
        health = _check(url, clock, alive=lambda: (137, True))
    assert health == Health(False, 0, 0.0, "the server exited", 137, True)
    assert upstream.requests == []
    assert clock.sleeps == []


def test_a_server_that_exits_between_attempts() -> None:
    clock = FakeClock()
    upstream = Upstream({"/process": [_json(500, {"detail": "loading"})]}, stamp=clock)
    with serving(upstream) as url:
        health = _check(url, clock, alive=lambda: (1, False) if upstream.requests else None)
    assert (health.healthy, health.attempts, health.exit_code, health.oom_killed) == (False, 1, 1, False)
    assert health.error == "the server exited"
    assert len(upstream.requests) == 1


def test_a_fractional_delay_is_waited_in_full() -> None:
    clock = FakeClock()
    upstream = Upstream({"/process": [_json(200, {"text": "Paris"})]}, stamp=clock)
    with serving(upstream) as url:
        health = _check(url, clock, settings=EntrySettings(health_delay=2.5, health_attempts=1))
    assert health.healthy
    assert upstream.requests[0][4] == 1002.5


# ---- how training ended --------------------------------------------------------------------------------

MIB = 1024 * 1024
LOG = ["loading data", "epoch 1 loss 0.9", "", "epoch 2 loss 0.4"]


def _job(
    outcome: str = "exited", exit_code: int | None = 0, oom_killed: bool = False, error: str | None = None
) -> JobResult:
    return JobResult(outcome, exit_code, oom_killed, 12.5, error)


def test_exit_0_is_finished() -> None:
    end = classify_end(_job(), LOG, 512 * MIB)
    assert (end.kind, end.finished, end.evidence) == ("finished", True, ())
    assert end.summary == "training finished"


def test_exit_0_with_an_oom_kill_inside_is_finished_with_a_note() -> None:
    end = classify_end(_job(oom_killed=True), LOG, 512 * MIB)
    assert end.finished
    assert "killed for memory" in end.summary


def test_exit_0_after_a_caught_cuda_oom_is_finished() -> None:
    end = classify_end(_job(), ["CUDA out of memory; retrying with batch size 8", "saved"], None)
    assert end.kind == "finished"


def test_the_deadline_beats_everything() -> None:
    log = [*LOG, "torch.OutOfMemoryError: CUDA out of memory"]
    end = classify_end(_job("timeout", 137, True, "stopped after 8 s"), log, 512 * MIB)
    assert end.kind == "timeout" and not end.finished
    assert "stopped after 8 s" in end.summary


def test_killed_by_the_kernel_for_memory() -> None:
    log = [*LOG, "torch.OutOfMemoryError: CUDA out of memory"]  # the kernel's kill decides, not the log
    end = classify_end(_job(exit_code=137, oom_killed=True), log, 512 * MIB)
    assert end.kind == "oom-killed"
    assert "memory limit of 512 MiB" in end.summary
    assert end.evidence == tuple(log[-3:])
    assert " of " not in classify_end(_job(exit_code=137, oom_killed=True), LOG, None).summary


@pytest.mark.parametrize(
    "line",
    [
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 39.59 GiB total capacity)",
        "torch.OutOfMemoryError: Tried to allocate 20.00 MiB",
        "torch.cuda.OutOfMemoryError: CUDA out of memory.",
        "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        "RuntimeError: CUDA error: out of memory",
        "cuda OUT OF MEMORY",
    ],
)
def test_cuda_out_of_memory(line: str) -> None:
    log = ["loading model", line, "Traceback ends", ""]
    end = classify_end(_job(exit_code=1), log, 512 * MIB)
    assert end.kind == "cuda-oom"
    assert end.evidence == (line,)


def test_cuda_out_of_memory_keeps_the_last_three_lines_that_say_so() -> None:
    lines = [f"step {i}: CUDA out of memory" for i in range(5)]
    end = classify_end(_job(exit_code=1), ["start", *lines, "bye"], None)
    assert end.evidence == tuple(lines[-3:])


def test_any_other_exit_is_a_failure_with_the_last_lines() -> None:
    log = [f"line {i}" for i in range(TAIL_LINES + 5)] + ["", "FileNotFoundError: /home/me/data.json", "  "]
    end = classify_end(_job(exit_code=3), log, 512 * MIB)
    assert end.kind == "failed"
    assert "code 3" in end.summary
    assert end.evidence == (
        f"line {TAIL_LINES + 1}",
        f"line {TAIL_LINES + 2}",
        f"line {TAIL_LINES + 3}",
        f"line {TAIL_LINES + 4}",
        "FileNotFoundError: /home/me/data.json",
    )


def test_not_started() -> None:
    end = classify_end(_job("not-started", None, error="no such image: sha256:abc"), [], None)
    assert end.kind == "not-started" and not end.finished
    assert "no such image: sha256:abc" in end.summary


# ---- which build target ---------------------------------------------------------------------------------

TARGETS = [
    {"dockerfile": "train/Dockerfile", "role": "train"},
    {"dockerfile": "Dockerfile", "role": "inference"},
    {"dockerfile": "tools/Dockerfile", "role": "unknown"},
]


def test_pick_target_by_name() -> None:
    assert pick_target(TARGETS, "train", "tools/Dockerfile") == (TARGETS[2], None)


def test_pick_target_named_but_absent() -> None:
    target, why = pick_target(TARGETS, "inference", "serve/Dockerfile")
    assert target is None and why is not None
    assert "serve/Dockerfile" in why and "inference" in why


def test_pick_target_by_its_role() -> None:
    assert pick_target(TARGETS, "train", None) == (TARGETS[0], None)
    assert pick_target(iter(TARGETS), "inference", None) == (TARGETS[1], None)


def test_pick_target_with_no_such_role() -> None:
    target, why = pick_target([TARGETS[1], TARGETS[2]], "train", None)
    assert target is None and why is not None
    assert "no train Dockerfile" in why
    assert "Dockerfile (inference)" in why and "tools/Dockerfile (unknown)" in why
    assert pick_target([], "train", None)[1] == (
        "no train Dockerfile among the entry's targets: none; set train-dockerfile for the entry in the overrides file"
    )


def test_pick_target_with_several_of_the_role() -> None:
    several = [*TARGETS, {"dockerfile": "finetune/Dockerfile", "role": "train"}]
    target, why = pick_target(several, "train", None)
    assert target is None and why is not None
    assert "several train Dockerfiles" in why and "finetune/Dockerfile (train)" in why
