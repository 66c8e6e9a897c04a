"""`repro-audit probe`: the inference-server contract checked against real HTTP servers on 127.0.0.1.

The reference server (tests/rebuild/contract_server.py) keeps the contract and passes every check; each
variant breaks exactly one rule, and exactly the check for that rule fails (the checks that need it are
skipped, never failed). Servers that answer garbage, 50 MB, not HTTP, or nothing at all give findings or
"unreachable", never a traceback. No test asserts a timing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from audit.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, main
from audit.ingest.issues import ISSUES as INGEST_ISSUES
from audit.rules import REGISTRY
from rebuild.issues import API_ISSUES, ISSUES
from rebuild.probe import CHECKS, CONTEXT_WINDOW, ProbeReport, ProbeUrlError, check_url, helm_request, probe
from tests.rebuild.contract_server import REFERENCE, Behaviour, free_port, serve, serve_not_http

TIMEOUT = 10.0  # per request: generous, the servers answer at once; only stalled servers meet it


def _probe(behaviour: Behaviour = REFERENCE, timeout: float = TIMEOUT) -> ProbeReport:
    with serve(behaviour) as url:
        return probe(url, timeout=timeout)


def _statuses(report: ProbeReport) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


def _failed(report: ProbeReport) -> set[str]:
    return {check.name for check in report.checks if check.status == "failed"}


# ---- the reference server --------------------------------------------------------------------------


def test_the_reference_server_passes_every_check() -> None:
    report = _probe()
    assert report.reachable and report.error is None
    assert [check.name for check in report.checks] == [check.name for check in CHECKS]
    assert set(_statuses(report).values()) == {"passed"}, _statuses(report)
    assert report.passed and report.findings() == []
    assert all(check.request is None and check.response_excerpt is None for check in report.checks)


def test_latency_samples_carry_the_endpoint_and_the_servers_request_time() -> None:
    report = _probe()
    assert {sample.endpoint for sample in report.samples} == {"/process", "/tokenize", "/decode"}
    assert all(sample.seconds >= 0 and sample.request_time is not None for sample in report.samples)
    summary = report.latency()
    assert summary.requests == len(report.samples)
    assert summary.p50_seconds is not None and summary.p95_seconds is not None
    assert summary.p50_seconds <= summary.p95_seconds
    assert report.latency("/decode").requests == 1


def test_the_context_window_prompt_fills_the_window_by_the_servers_tokenizer() -> None:
    check = _probe().check("context-window")
    # the toy tokenizer counts bytes, so the probe can fill the window to the token
    assert f"a {CONTEXT_WINDOW - 1}-token prompt" in check.detail


# ---- one broken rule, one failed check ---------------------------------------------------------------

VARIANTS = [
    pytest.param(Behaviour(logprob_as_string=True), "process-shape", "RA041", id="logprob-as-string"),
    pytest.param(Behaviour(reject_unknown_fields=True), "process-shape", "RA041", id="rejects-helm-fields"),
    pytest.param(Behaviour(token_ids_as_floats=True), "tokenize-shape", "RA041", id="token-ids-as-floats"),
    pytest.param(Behaviour(decode_adds_bos=True), "tokenize-roundtrip", "RA045", id="decode-keeps-bos"),
    pytest.param(Behaviour(ignore_echo=True), "echo-prompt", "RA042", id="ignores-echo"),
    pytest.param(Behaviour(ignore_max_new_tokens=True), "max-new-tokens", "RA043", id="ignores-max-new-tokens"),
    pytest.param(Behaviour(random_at_zero_temperature=True), "deterministic", "RA044", id="random-at-temperature-0"),
    pytest.param(Behaviour(max_prompt_tokens=1000), "context-window", "RA046", id="refuses-long-prompts"),
    pytest.param(Behaviour(crash_on_bad_json=True), "malformed-not-json", "RA047", id="500-on-bad-json"),
    pytest.param(Behaviour(drop_on_missing_prompt=True), "malformed-missing-prompt", "RA047", id="drops-no-prompt"),
    pytest.param(Behaviour(stringify_prompt=True), "malformed-wrong-type", "RA047", id="accepts-list-prompt"),
]


@pytest.mark.parametrize(("behaviour", "check", "rule"), VARIANTS)
def test_each_broken_rule_fails_exactly_its_check(behaviour: Behaviour, check: str, rule: str) -> None:
    report = _probe(behaviour)
    assert report.reachable
    assert _failed(report) == {check}, _statuses(report)
    failed = report.check(check)
    assert failed.request is not None and failed.request["method"] == "POST"
    assert failed.response_excerpt
    # a check is skipped only when one it needs did not pass
    needs = {c.name: c.needs for c in CHECKS}
    for name, status in _statuses(report).items():
        if status == "skipped":
            assert check in needs[name] or any(_statuses(report)[n] == "skipped" for n in needs[name]), name
    assert not report.passed
    findings = report.findings("inference/Dockerfile", target="inference/Dockerfile")
    assert [f.rule for f in findings] == [rule]
    (finding,) = findings
    assert finding.family == "api" and finding.target == "inference/Dockerfile"
    assert finding.location.path == "inference/Dockerfile"
    assert finding.evidence is not None and finding.evidence.startswith("POST ")


def test_rejected_helm_fields_are_shown_with_the_servers_answer() -> None:
    check = _probe(Behaviour(reject_unknown_fields=True)).check("process-shape")
    assert "HTTP 422" in check.detail
    assert check.response_excerpt is not None and "extra fields not permitted" in check.response_excerpt
    assert check.request is not None and check.request["body"]["top_k_per_token"] == 1


def test_checks_that_need_a_failed_check_are_skipped_with_the_reason() -> None:
    statuses = _statuses(_probe(Behaviour(logprob_as_string=True)))
    for name in ("echo-prompt", "max-new-tokens", "deterministic", "context-window"):
        assert statuses[name] == "skipped"
    report = _probe(Behaviour(token_ids_as_floats=True))
    assert report.check("context-window").status == "skipped"
    assert "tokenize-shape" in report.check("context-window").detail
    assert report.check("decode-shape").status == "skipped"


# ---- JSON types of /process --------------------------------------------------------------------------

TOKEN = {"text": "a", "logprob": -0.5, "top_logprob": {"a": -0.5}}
GOOD = {"text": "a", "tokens": [TOKEN], "logprob": -0.5}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        pytest.param({**GOOD, "logprob": True}, "`logprob` is a boolean", id="bool-logprob"),
        pytest.param({**GOOD, "request_time": None}, "`request_time` is null", id="null-request-time"),
        pytest.param({**GOOD, "text": 3}, "`text` is an integer", id="int-text"),
        pytest.param({"tokens": [TOKEN], "logprob": -0.5}, "`text` is missing", id="missing-text"),
        pytest.param({**GOOD, "tokens": [{**TOKEN, "top_logprob": [-0.5]}]}, "`tokens[0].top_logprob` is an array"),
        pytest.param({**GOOD, "tokens": [{**TOKEN, "top_logprob": {"a": "-0.5"}}]}, 'top_logprob["a"]` is a string'),
        pytest.param({**GOOD, "tokens": "a"}, "`tokens` is a string", id="tokens-string"),
        pytest.param([GOOD], "the answer is an array, expected an object", id="array"),
        pytest.param(None, "the answer is null, expected an object", id="null"),
    ],
)
def test_wrong_json_types_fail_the_process_shape(answer: Any, problem: str) -> None:
    check = _probe(Behaviour(fixed_process=True, process_answer=answer)).check("process-shape")
    assert check.status == "failed"
    assert problem in check.detail


def test_integers_are_numbers_for_logprob_and_request_time() -> None:
    answer = {"text": "a", "tokens": [{"text": "a", "logprob": 0, "top_logprob": {"a": 0}}], "logprob": -1}
    check = _probe(Behaviour(fixed_process=True, process_answer={**answer, "request_time": 1})).check("process-shape")
    assert check.status == "passed", check.detail


# ---- what a server sends cannot crash the probe -----------------------------------------------------


def test_an_answer_that_is_not_json_gives_findings() -> None:
    report = _probe(Behaviour(garbage=True))
    assert report.reachable
    check = report.check("process-shape")
    assert check.status == "failed" and "not JSON" in check.detail
    assert check.response_excerpt is not None and "Welcome to nginx" in check.response_excerpt
    assert {f.rule for f in report.findings()} == {"RA041", "RA047"}


def test_a_50_mb_answer_is_read_no_further_than_a_megabyte() -> None:
    report = _probe(Behaviour(huge_body=50 * 1024 * 1024))
    check = report.check("process-shape")
    assert check.status == "failed" and "longer than" in check.detail
    assert check.response_excerpt is not None and len(check.response_excerpt) < 1000
    assert "RA041" in {f.rule for f in report.findings()}


def test_malformed_checks_are_skipped_when_there_is_no_process_route() -> None:
    report = _probe(Behaviour(no_process=True))
    assert _failed(report) == {"process-shape"}
    for name in ("malformed-not-json", "malformed-missing-prompt", "malformed-wrong-type"):
        assert report.check(name).status == "skipped" and "HTTP 404" in report.check(name).detail


def test_redirects_are_not_followed() -> None:
    with serve() as good, serve(Behaviour(redirect_to=good)) as redirecting:
        report = probe(redirecting, timeout=TIMEOUT)
    check = report.check("process-shape")
    assert check.status == "failed" and "HTTP 307" in check.detail and "not followed" in check.detail


def test_a_stalled_endpoint_fails_its_checks_after_the_timeout() -> None:
    report = _probe(Behaviour(stall_process=1.0), timeout=0.2)
    assert report.reachable  # GET / answers: the server is there, /process is not answering
    check = report.check("process-shape")
    assert check.status == "failed" and "no answer within 0.2 s" in check.detail
    assert report.check("tokenize-shape").status == "passed"


def test_a_server_that_does_not_speak_http_is_unreachable() -> None:
    with serve_not_http() as url:
        report = probe(url, timeout=TIMEOUT)
    assert not report.reachable and report.checks == ()
    assert report.error == "the server's answer is not HTTP"
    assert [f.rule for f in report.findings()] == ["RA040"]


def test_nothing_listening_is_unreachable_not_a_pile_of_failures() -> None:
    report = probe(f"http://127.0.0.1:{free_port()}", timeout=TIMEOUT)
    assert not report.reachable and report.checks == () and report.samples == ()
    assert report.error == "connection refused"
    (finding,) = report.findings()
    assert finding.rule == "RA040" and "connection refused" in finding.message


# ---- the URL and the HELM request ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["localhost:8080", "127.0.0.1", "ftp://127.0.0.1/", "http://", "http://127.0.0.1:99999", "http://a:b@host/"],
)
def test_urls_that_cannot_be_probed(url: str) -> None:
    with pytest.raises(ProbeUrlError):
        check_url(url)


def test_a_base_url_keeps_its_path_without_the_trailing_slash() -> None:
    assert check_url(" http://host:8080/model/ ") == "http://host:8080/model"
    assert check_url("https://host") == "https://host"


def test_the_process_request_is_the_one_helm_sends() -> None:
    body = helm_request("hi", max_new_tokens=3)
    assert body == {
        "prompt": "hi",
        "temperature": 1e-7,
        "num_return_sequences": 1,
        "max_new_tokens": 3,
        "top_p": 1,
        "echo_prompt": False,
        "top_k_per_token": 1,
        "stop_sequences": [],
    }
    assert helm_request("hi", max_new_tokens=3, seed=7)["seed"] == 7


# ---- the command line -------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["schema_version", "url", "reachable", "error", "checks", "latency"],
    "properties": {
        "schema_version": {"const": 1},
        "url": {"type": "string"},
        "reachable": {"type": "boolean"},
        "error": {"type": ["string", "null"]},
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "title", "status", "detail", "request", "response_excerpt"],
                "properties": {
                    "name": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"enum": ["passed", "failed", "skipped"]},
                    "detail": {"type": "string"},
                    "request": {
                        "type": ["object", "null"],
                        "required": ["method", "path", "body"],
                    },
                    "response_excerpt": {"type": ["string", "null"]},
                },
            },
        },
        "latency": {
            "type": "object",
            "required": ["requests", "p50_seconds", "p95_seconds"],
            "properties": {
                "requests": {"type": "integer", "minimum": 0},
                "p50_seconds": {"type": ["number", "null"]},
                "p95_seconds": {"type": ["number", "null"]},
            },
        },
    },
}


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with serve() as url:
        assert main(["probe", url, "--timeout", "10"]) == EXIT_OK
    with serve(Behaviour(ignore_echo=True)) as url:
        assert main(["probe", url]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "FAILED" in out and "echo-prompt" in out and "the server breaks the contract" in out
    assert main(["probe", f"http://127.0.0.1:{free_port()}"]) == EXIT_ERROR
    assert "no HTTP answer: connection refused" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "localhost:8080"],
        ["probe", "ftp://127.0.0.1:8080"],
        ["probe", "http://127.0.0.1:1", "--timeout", "0"],
        ["probe", "http://127.0.0.1:1", "--timeout", "nan"],
        ["probe", "http://127.0.0.1:1", "--format", "sarif"],
        ["probe"],
    ],
)
def test_cli_usage_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("repro-audit: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_cli_json_has_its_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(Behaviour(max_prompt_tokens=1000)) as url:
        assert main(["probe", url, "--format", "json"]) == EXIT_FINDINGS
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, SCHEMA)
    assert document["reachable"] is True and document["latency"]["requests"] > 0
    (failed,) = [c for c in document["checks"] if c["status"] == "failed"]
    assert failed["name"] == "context-window" and failed["request"]["path"] == "/process"
    assert "characters)" in failed["request"]["body"]["prompt"]  # the long prompt is abbreviated

    assert main(["probe", f"http://127.0.0.1:{free_port()}", "--format", "json"]) == EXIT_ERROR
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, SCHEMA)
    assert document["reachable"] is False and document["checks"] == []
    assert document["latency"] == {"requests": 0, "p50_seconds": None, "p95_seconds": None, "by_endpoint": {}}


def test_cli_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve() as url:
        assert main(["probe", url, "--format", "json", "--output", str(tmp_path / "probe.json")]) == EXIT_OK
        assert main(["probe", url, "--output", str(tmp_path / "probe.txt")]) == EXIT_OK
        assert main(["probe", url, "--output", str(tmp_path / "missing" / "probe.txt")]) == EXIT_ERROR
    assert capsys.readouterr().out == ""
    jsonschema.validate(json.loads((tmp_path / "probe.json").read_text(encoding="utf-8")), SCHEMA)
    text = (tmp_path / "probe.txt").read_text(encoding="utf-8")
    assert "11 of 11 checks passed" in text and "\x1b[" not in text  # no colour codes in a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.json", "probe.txt"]  # no temporary left


# ---- the findings' registry -------------------------------------------------------------------------


def test_rules_lists_the_api_findings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == EXIT_OK
    out = capsys.readouterr().out
    for rule in ("RA040", "RA041", "RA042", "RA043", "RA044", "RA045", "RA046", "RA047"):
        assert rule in out
    assert main(["rules", "RA044"]) == EXIT_OK
    assert "api-nondeterministic" in capsys.readouterr().out


def test_api_issues_are_listed_once_with_unique_ids() -> None:
    assert set(API_ISSUES) <= set(ISSUES)
    ids = [issue.id for issue in (*INGEST_ISSUES, *ISSUES)] + [rule.id for rule in REGISTRY]
    assert len(ids) == len(set(ids))
    assert {issue.family for issue in API_ISSUES} == {"api"}
    assert {check.issue for check in CHECKS} | {API_ISSUES[0]} == set(API_ISSUES)
