"""The pipeline fixtures (fixtures/pipeline/) without Docker: the learner trains on the host's Python and
its server keeps the competition's API contract and answers the offline question sets well, where the
same server with untrained weights scores at chance; each broken entry differs from the learner in one
file and is broken the way fixtures/pipeline/expected.toml says; the offline question sets are up to date
with scripts/make_offline_evalset.py. The Docker and HELM runs of these fixtures are the run stage's tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import re
import socketserver
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "fixtures" / "pipeline"
EVALSETS = REPO / "fixtures" / "evalsets" / "offline"
LEARNER = PIPELINE / "A100" / "alice" / "learner"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((PIPELINE / "expected.toml").read_text(encoding="utf-8"))

# The one file in which each broken entry differs from the learner.
DEFECTIVE_FILE = {
    "A100/bob/wrong-port": "inference/Dockerfile",
    "4090/carol/loose-api": "inference/server.py",
    "4090/dave/slow-server": "inference/server.py",
    "A100/erin/endless-training": "train/train.py",
    "A100/frank/memory-hog": "train/train.py",
    "4090/grace/cuda-oom": "train/train.py",
}
HELM_ZERO = 1e-7
LETTERS = "ABCDEFGH"
INSTRUCTIONS = "The following are multiple choice questions (with answers)."
IN_CONTEXT_EXAMPLES = 3
STARTUP_SECONDS = 15.0
# urllib would otherwise route 127.0.0.1 through a proxy set in the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---- helpers ------------------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "WEIGHTS_DIR", "OUTPUT_DIR")}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def _train(script: Path, output: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-u", str(script)],
        env=_env(OUTPUT_DIR=str(output), **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _load(path: Path, name: str) -> ModuleType:
    """Import a fixture's module by path, leaving no __pycache__ in the fixture tree."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def log_lines(self, pattern: str, count: int) -> list[str]:
        """Log lines matching `pattern`, waiting (bounded) until `count` of them arrived."""
        found: list[str] = []
        deadline = time.monotonic() + 10
        while len(found) < count and time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if re.search(pattern, line):
                found.append(line)
        return found


@dataclass
class Reply:
    status: int
    body: Any


def _start(server_py: Path, weights: Path) -> Server:
    process = subprocess.Popen(
        [sys.executable, "-u", str(server_py)],
        env=_env(WEIGHTS_DIR=str(weights), HOST="127.0.0.1", PORT="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=drain, daemon=True).start()
    try:
        first = lines.get(timeout=STARTUP_SECONDS)
    except queue.Empty:
        process.kill()
        raise AssertionError(f"{server_py} printed nothing in {STARTUP_SECONDS} s") from None
    match = re.match(r"serving on (http://127\.0\.0\.1:\d+) ", first)
    assert match, f"unexpected first line: {first!r}"
    return Server(match[1], process, lines)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("trained")
    result = _train(LEARNER / "train" / "train.py", output)
    assert result.returncode == 0, result.stderr
    return output


@pytest.fixture(scope="module")
def untrained_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("untrained")
    empty = output / "empty-corpus.txt"
    empty.write_text("", encoding="utf-8")
    result = _train(LEARNER / "train" / "train.py", output, CORPUS_PATH=str(empty))
    assert result.returncode == 0, result.stderr
    return output


@contextlib.contextmanager
def _serve(server_py: Path, weights: Path) -> Iterator[Server]:
    server = _start(server_py, weights)
    try:
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def learner(weights: Path) -> Iterator[Server]:
    with _serve(LEARNER / "inference" / "server.py", weights) as server:
        yield server


@pytest.fixture(scope="module")
def untrained(untrained_weights: Path) -> Iterator[Server]:
    with _serve(LEARNER / "inference" / "server.py", untrained_weights) as server:
        yield server


def post(server: Server, path: str, body: object) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        server.url + path, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            return Reply(response.status, json.loads(response.read()))
    except urllib.error.HTTPError as error:
        raw = error.read()
        return Reply(error.code, json.loads(raw) if raw else None)


def helm_request(prompt: str, max_new_tokens: int = 1, echo_prompt: bool = False) -> dict[str, Any]:
    """A /process body as HELM's HTTPModelClient sends it (temperature 0 sent as 1e-7)."""
    return {
        "prompt": prompt,
        "temperature": HELM_ZERO,
        "num_return_sequences": 1,
        "max_new_tokens": max_new_tokens,
        "top_p": 1,
        "echo_prompt": echo_prompt,
        "top_k_per_token": 1,
        "stop_sequences": [],
    }


def _instances(family: str) -> list[dict[str, Any]]:
    text = (EVALSETS / f"{family}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _correct_letter(instance: dict[str, Any]) -> str:
    (position,) = [i for i, ref in enumerate(instance["references"]) if "correct" in ref["tags"]]
    return LETTERS[position]


def _block(instance: dict[str, Any], answered: bool) -> str:
    lines = [f"Question: {instance['input']['text']}"]
    lines += [f"{LETTERS[i]}. {ref['output']['text']}" for i, ref in enumerate(instance["references"])]
    lines.append(f"Answer: {_correct_letter(instance)}" if answered else "Answer:")
    return "\n".join(lines)


def mcqa_prompts(family: str) -> list[tuple[str, str]]:
    """(prompt, correct letter) for each test instance, as HELM's custom_mcqa writes the prompt."""
    rows = _instances(family)
    examples = [row for row in rows if row["split"] == "train"][:IN_CONTEXT_EXAMPLES]
    shots = [_block(row, answered=True) for row in examples]
    return [
        ("\n\n".join([INSTRUCTIONS, *shots, _block(row, answered=False)]), _correct_letter(row))
        for row in rows
        if row["split"] == "test"
    ]


def _families() -> list[str]:
    conf = (EVALSETS / "offline.conf").read_text(encoding="utf-8")
    return [Path(path).stem for path in re.findall(r"custom_mcqa:path=([^,\"]+)", conf)]


def exact_match(server: Server) -> float:
    scored: list[bool] = []
    for family in _families():
        for prompt, letter in mcqa_prompts(family):
            reply = post(server, "/process", helm_request(prompt))
            assert reply.status == 200, reply.body
            scored.append(reply.body["text"].strip() == letter)
    return sum(scored) / len(scored)


# ---- the learner: training ------------------------------------------------------------------------------


def test_training_learns_and_writes_the_model(weights: Path, tmp_path: Path) -> None:
    model = json.loads((weights / "model.json").read_text(encoding="utf-8"))
    assert {"vocab", "associations", "bigrams", "piece_pattern"} <= set(model)
    assert " A" in model["vocab"] and " Paris" in model["vocab"]
    rerun = _train(LEARNER / "train" / "train.py", tmp_path)
    losses = [float(m) for m in re.findall(r"^epoch \d+/\d+\s+loss ([0-9.]+)", rerun.stdout, re.MULTILINE)]
    assert len(losses) >= 5 and losses[-1] < losses[0]  # the loss goes down epoch after epoch
    assert (tmp_path / "model.json").read_bytes() == (weights / "model.json").read_bytes()  # deterministic


def test_server_without_weights_exits_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-u", str(LEARNER / "inference" / "server.py")],
        env=_env(WEIGHTS_DIR=str(tmp_path), HOST="127.0.0.1", PORT="0"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "no weights" in result.stderr and str(tmp_path) in result.stderr


# ---- the learner: the API contract ----------------------------------------------------------------------


def _assert_process_shape(body: Any) -> None:
    assert set(body) == {"text", "tokens", "logprob", "request_time"}
    assert isinstance(body["text"], str)
    assert isinstance(body["logprob"], float) and isinstance(body["request_time"], float)
    for token in body["tokens"]:
        assert set(token) == {"text", "logprob", "top_logprob"}
        assert isinstance(token["text"], str) and isinstance(token["logprob"], float)
        assert all(isinstance(k, str) and isinstance(v, float) for k, v in token["top_logprob"].items())
    assert body["logprob"] == pytest.approx(sum(token["logprob"] for token in body["tokens"]))


def test_process_answers_helm_in_the_contract_shape(learner: Server) -> None:
    reply = post(learner, "/process", helm_request("The capital of France is", max_new_tokens=8))
    assert reply.status == 200
    _assert_process_shape(reply.body)
    assert 1 <= len(reply.body["tokens"]) <= 8
    assert reply.body["text"] == "".join(token["text"] for token in reply.body["tokens"])


def test_process_defaults_apply_when_only_the_prompt_is_sent(learner: Server) -> None:
    reply = post(learner, "/process", {"prompt": "A cow says"})
    assert reply.status == 200
    _assert_process_shape(reply.body)
    assert len(reply.body["tokens"]) <= 50


@pytest.mark.parametrize("prompt", ["The colour of snow is", mcqa_prompts("capitals")[0][0]])
def test_echo_prompt(learner: Server, prompt: str) -> None:
    echoed = post(learner, "/process", helm_request(prompt, max_new_tokens=4, echo_prompt=True)).body
    plain = post(learner, "/process", helm_request(prompt, max_new_tokens=4, echo_prompt=False)).body
    assert echoed["text"] == prompt + plain["text"]
    assert not plain["text"].startswith(prompt)
    assert echoed["tokens"] == plain["tokens"]  # only generated tokens, echoed or not


@pytest.mark.parametrize("limit", [0, 1, 3, 17])
def test_max_new_tokens_is_respected(learner: Server, limit: int) -> None:
    body = post(learner, "/process", helm_request("A dog and a cat", max_new_tokens=limit)).body
    assert len(body["tokens"]) <= limit
    if limit == 0:
        assert body["text"] == ""


def test_helm_zero_temperature_is_deterministic(learner: Server) -> None:
    for prompt in ("The capital of Kenya is", mcqa_prompts("colours")[3][0]):
        first = post(learner, "/process", helm_request(prompt, max_new_tokens=10)).body
        second = post(learner, "/process", helm_request(prompt, max_new_tokens=10)).body
        assert (first["text"], first["tokens"]) == (second["text"], second["tokens"])


def test_sampling_is_reproducible_for_a_seed(learner: Server) -> None:
    def sample(seed: int) -> str:
        body = {"prompt": "The", "max_new_tokens": 20, "temperature": 1.5, "seed": seed}
        return str(post(learner, "/process", body).body["text"])

    assert sample(7) == sample(7)
    assert len({sample(seed) for seed in range(8)}) > 1  # and it does sample


def test_tokenize_decode_round_trip(learner: Server) -> None:
    text = "Ünïcödé ☕ and 🚀,\ttabs\nnewlines  double  spaces — 42 Paris. The capital of France is Paris."
    tokens = post(learner, "/tokenize", {"text": text}).body["tokens"]
    assert all(isinstance(t, int) for t in tokens)
    reply = post(learner, "/decode", {"tokens": tokens})
    assert reply.status == 200 and reply.body["text"] == text
    assert isinstance(reply.body["request_time"], float)
    assert post(learner, "/decode", {"tokens": []}).body["text"] == ""


def test_a_2048_token_prompt_round_trips_and_is_accepted(learner: Server) -> None:
    long_text = "The capital of France is Paris. A cow says moo. " * 300
    everything = post(learner, "/tokenize", {"text": long_text, "truncation": False}).body["tokens"]
    assert len(everything) > 2048
    truncated = post(learner, "/tokenize", {"text": long_text, "truncation": True, "max_length": 2048}).body
    assert truncated["tokens"] == everything[:2048]
    assert len(post(learner, "/tokenize", {"text": long_text}).body["tokens"]) == 2048  # the defaults
    prompt = post(learner, "/decode", {"tokens": everything[:2048]}).body["text"]
    again = post(learner, "/tokenize", {"text": prompt, "truncation": False}).body["tokens"]
    assert again == everything[:2048]
    assert post(learner, "/decode", {"tokens": again}).body["text"] == prompt
    reply = post(learner, "/process", helm_request(prompt, max_new_tokens=1))
    assert reply.status == 200 and len(reply.body["tokens"]) <= 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/process", b"this is not JSON"),
        ("/process", b""),
        ("/process", b"[1, 2]"),
        ("/process", {}),
        ("/process", {"prompt": 3}),
        ("/process", {"prompt": ["a list"]}),
        ("/process", {"prompt": None}),
        ("/process", {"prompt": "x", "max_new_tokens": "ten"}),
        ("/process", {"prompt": "x", "temperature": "hot"}),
        ("/process", {"prompt": "x", "echo_prompt": "yes"}),
        ("/process", {"prompt": "x", "max_new_tokens": -1}),
        ("/tokenize", {"text": 5}),
        ("/tokenize", b"{"),
        ("/decode", {"tokens": ["a"]}),
        ("/decode", {"tokens": [-1]}),
        ("/decode", {"tokens": "1 2 3"}),
    ],
)
def test_malformed_requests_get_a_json_4xx(learner: Server, path: str, body: object) -> None:
    reply = post(learner, path, body)
    assert reply.status in (400, 422), reply
    assert isinstance(reply.body, dict) and isinstance(reply.body["error"], str)
    assert post(learner, "/tokenize", {"text": "still up"}).status == 200


def test_one_log_line_per_request(learner: Server) -> None:
    for _ in range(3):
        post(learner, "/decode", {"tokens": [72, 105]})
    assert len(learner.log_lines(r"^127\.0\.0\.1 POST /decode 200 ", 3)) == 3


def test_the_server_handles_requests_concurrently() -> None:
    server_module = _load(LEARNER / "inference" / "server.py", "learner_server")
    assert issubclass(server_module.LearnerServer, socketserver.ThreadingMixIn)


# ---- the learner: it learned ------------------------------------------------------------------------------


def test_learner_answers_the_offline_sets_well_and_only_after_training(learner: Server, untrained: Server) -> None:
    trained_score, untrained_score = exact_match(learner), exact_match(untrained)
    assert trained_score >= 0.7
    assert untrained_score <= 0.4  # the untrained server always answers A: chance
    assert trained_score > untrained_score + 0.3


def test_multiple_choice_answer_is_a_letter_with_letter_logprobs(learner: Server) -> None:
    prompt, _ = mcqa_prompts("animal_sounds")[0]
    (token,) = post(learner, "/process", helm_request(prompt, max_new_tokens=5)).body["tokens"]
    assert token["text"].strip() in "ABCD"
    assert set(token["top_logprob"]) == {" A", " B", " C", " D"}
    assert token["logprob"] == max(token["top_logprob"].values())


# ---- the offline question sets --------------------------------------------------------------------------


def test_offline_evalset_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_offline_evalset.py"), "--check"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_offline_evalsets_are_well_formed_and_not_solved_by_always_a() -> None:
    families = _families()
    assert len(families) == 3
    always_a = []
    for family in families:
        rows = _instances(family)
        assert [row["split"] for row in rows].count("train") >= IN_CONTEXT_EXAMPLES
        assert len({row["id"] for row in rows}) == len(rows)
        for row in rows:
            assert len(row["references"]) == 4
            assert len({ref["output"]["text"] for ref in row["references"]}) == 4
            assert sum("correct" in ref["tags"] for ref in row["references"]) == 1
        always_a += [_correct_letter(row) == "A" for row in rows if row["split"] == "test"]
    assert sum(always_a) / len(always_a) <= 0.4


# ---- the broken entries ---------------------------------------------------------------------------------


def _files(entry: Path) -> dict[str, bytes]:
    return {
        path.relative_to(entry).as_posix(): path.read_bytes()
        for path in sorted(entry.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_expected_lists_every_entry_and_every_entry_has_both_images() -> None:
    on_disk = sorted(p.relative_to(PIPELINE).as_posix() for p in PIPELINE.glob("*/*/*") if p.is_dir())
    assert sorted(EXPECTED) == on_disk == sorted([*DEFECTIVE_FILE, "A100/alice/learner"])
    for name in on_disk:
        for role in ("train", "inference"):
            parser = DockerfileParser(str(PIPELINE / name / role / "Dockerfile"))
            assert parser.baseimage == "repro-audit-local/python:3.11-bookworm"
            instructions = {item["instruction"] for item in parser.structure}
            assert instructions <= {"FROM", "WORKDIR", "COPY", "ENV", "EXPOSE", "CMD"}  # offline: COPY only
            assert json.loads(parser.cmd)[:2] == ["python3", "-u"]


@pytest.mark.parametrize("name", sorted(DEFECTIVE_FILE))
def test_a_broken_entry_differs_from_the_learner_in_one_file(name: str) -> None:
    learner_files, entry_files = _files(LEARNER), _files(PIPELINE / name)
    assert sorted(entry_files) == sorted(learner_files)
    assert [path for path in entry_files if entry_files[path] != learner_files[path]] == [DEFECTIVE_FILE[name]]


def test_wrong_port_listens_on_8080() -> None:
    learner_env = DockerfileParser(str(LEARNER / "inference" / "Dockerfile")).envs
    wrong_env = DockerfileParser(str(PIPELINE / "A100/bob/wrong-port/inference/Dockerfile")).envs
    assert (learner_env["PORT"], wrong_env["PORT"]) == ("80", "8080")


def test_loose_api_breaks_the_contract(weights: Path) -> None:
    with _serve(PIPELINE / "4090/carol/loose-api/inference/server.py", weights) as loose:
        prompt = "The capital of France is"
        body = post(loose, "/process", helm_request(prompt, max_new_tokens=3, echo_prompt=True)).body
        assert not body["text"].startswith(prompt)  # echo_prompt ignored
        assert body["tokens"] and all(isinstance(token["logprob"], str) for token in body["tokens"])
        assert post(loose, "/process", b"this is not JSON").status == 500
        # still good enough for HELM: multiple-choice answers are a letter with a numeric logprob
        question, letter = mcqa_prompts("capitals")[0]
        answer = post(loose, "/process", helm_request(question)).body
        assert answer["text"].strip() == letter
        _assert_process_shape(answer)


def test_slow_server_answers_correctly_one_request_at_a_time(weights: Path) -> None:
    path = PIPELINE / "4090/dave/slow-server/inference/server.py"
    module = _load(path, "slow_server")
    assert not issubclass(module.LearnerServer, socketserver.ThreadingMixIn)
    assert module.SECONDS_PER_REQUEST >= 1
    with _serve(path, weights) as slow:
        question, letter = mcqa_prompts("colours")[0]
        reply = post(slow, "/process", helm_request(question))
        assert reply.status == 200 and reply.body["text"].strip() == letter
        _assert_process_shape(reply.body)


def test_endless_training_never_finishes(tmp_path: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired) as stopped:
        _train(PIPELINE / "A100/erin/endless-training/train/train.py", tmp_path, timeout=2.5)
    printed = stopped.value.stdout
    text = printed.decode() if isinstance(printed, bytes) else printed or ""
    assert re.search(r"^epoch 1 +loss", text, re.MULTILINE)
    assert not (tmp_path / "model.json").exists()


def test_memory_hog_grows_in_64_mb_steps_and_never_past_3_gb(tmp_path: Path) -> None:
    script = PIPELINE / "A100/frank/memory-hog/train/train.py"
    module = _load(script, "memory_hog")
    assert module.SHARD_MB == 64
    assert module.cache_limit_mb({}) == module.cache_limit_mb({"HOG_LIMIT_MB": "999999"}) == 3072
    result = _train(script, tmp_path, HOG_LIMIT_MB="128")
    assert result.returncode == 0, result.stderr
    assert re.findall(r"^shard cache: (\d+) MB$", result.stdout, re.MULTILINE) == ["64", "128"]
    assert (tmp_path / "model.json").is_file()


def test_cuda_oom_prints_the_pytorch_error_and_exits_1(tmp_path: Path) -> None:
    result = _train(PIPELINE / "4090/grace/cuda-oom/train/train.py", tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; ")
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert not (tmp_path / "model.json").exists()


def test_overrides_file_is_read_by_the_run_stage() -> None:
    from rebuild.overrides import load_overrides

    overrides = load_overrides(PIPELINE / "overrides.toml")
    assert overrides.defaults.eval_conf == str((EVALSETS / "offline.conf").resolve())
    assert overrides.defaults.memory == 512 << 20
    assert {name for name, _ in overrides.entries} <= set(EXPECTED)
    assert overrides.for_entry("A100/erin/endless-training").train_timeout == 8
    assert overrides.for_entry("A100/alice/learner").train_timeout == 120
