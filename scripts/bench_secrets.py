"""Benchmark the secret scan (`repro-audit check --select secret`) against `detect-secrets scan --all-files`.

The tree is bench_check's synthetic challenge archive (same generator, same seed defaults: 100 entries,
5,000 files, three 50 MiB weight files), into which tokens are then planted in every kind of place a
submission leaks one: Dockerfile `ENV`, `ARG` and a clone URL with credentials, `--build-arg` in a shell
script, Python and shell source, a notebook's source cell, stream output and error traceback (with ANSI
colour codes right around the token), a compiled `.pyc`, a pickle, a vim swap file, a log file, a
`.zip`, a `.tar.gz` and an archive inside an archive, a `.git/config` remote URL, W&B keys (`.env`,
`wandb.login(key=...)`, `.netrc`), a legacy `api_org_` token, low-entropy HuggingFace tokens, and two
entries that are real git repositories (made with git at generation time) where a token was committed
and taken out in a later commit. Every token is built at run time from a seeded `random.Random`; this
file holds nothing shaped like one. A manifest keeps each planted (token, entry, path, kind of place).

Recall: a planted token counts as found by repro-audit when the JSON report has a finding in that entry
at that path whose `secret.fingerprint` is the token's (computed with `audit.secrets.redact.fingerprint`
and the salt given to the child in `REPRO_AUDIT_SECRET_SALT`); a history-only token needs a finding
with `commit` set. "Located" also checks the finer place (line, archive member, notebook cell and
output, byte offset). detect-secrets finds a token when it reports any secret in that file at that line
(any line for binary files); it never reads git history. Its total number of findings is its noise: the
archive holds no other secret.

Timing: both tools run on the same tree in the same invocation, `--repeat` times each, alternating which
goes first; median and minimum wall time (`time.perf_counter`) and the peak RSS of each child and the
children it waited for (`os.wait4`). detect-secrets is slow (about 0.25 MB/s); a run longer than
`--detect-secrets-timeout` is killed, and then (or always, with `--subset always`) both tools are also
timed on a subset: the archive without its files of 1 MiB or more (the weight files), hard-linked, which
still holds every planted token. Then a history figure: `repro-audit check REPO --select RA901` on a
synthetic repository of `--history-commits` commits (built by scripts/bench_history.py when it is there,
else by a small `git fast-import` stream of our own).

Goals: repro-audit recall 100%; detect-secrets / repro-audit (medians) >= 20 on the full archive; the
history check under 5 s. A missed goal prints `GOAL MISSED` but still exits 0: a measurement, not a test.

Exit status: 0 measured (goals met or not), 1 a tool failed, 2 a tool is missing or the options are
inconsistent.

Usage::

    python scripts/bench_secrets.py                        # temp dir, 3 runs each, removed afterwards
    python scripts/bench_secrets.py --repeat 1 --json bench-out/secrets.json
    python scripts/bench_secrets.py --workdir bench-out/secrets --keep   # reuses the archive next time
    python scripts/bench_secrets.py --detect-secrets-timeout 300 --subset always
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import pickle
import py_compile
import random
import shutil
import signal
import statistics
import string
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_check as bc  # a sibling script, not a package
import benchlib  # a sibling module, not a package

PLANTER_VERSION = 1
SALT = "bench-secrets/fixed-salt"
SALT_ENV = "REPRO_AUDIT_SECRET_SALT"
RATIO_GOAL = 20.0
HISTORY_GOAL_S = 5.0
SUBSET_MAX_FILE = bc.MIB  # the subset leaves out files this large or larger: the weight files
REPRO_AUDIT = "repro-audit"
DETECT_SECRETS = "detect-secrets"
ARCHIVE_MANIFEST = "bench-secrets-archive.json"
PLANTS_MANIFEST = "bench-secrets-plants.json"  # holds the (synthetic) tokens: stays next to the archive
HISTORY_MANIFEST = "bench-secrets-history.json"
_ALNUM = string.ascii_letters + string.digits
_EPOCH = 1_697_800_000  # 2023-10-20, the challenge's submission deadline month
_ANSI_RED, _ANSI_BOLD_RED, _ANSI_RESET = "\x1b[0;31m", "\x1b[1;31m", "\x1b[0m"

# --------------------------------------------------------------------------------------------------
# Planted tokens
# --------------------------------------------------------------------------------------------------


@dataclass
class Plant:
    """One token at one place. `path` is relative to the entry; history plants are not in the tree."""

    place: str  # the kind of place, as the report groups them
    entry: str  # <track>/<user>/<repo>
    path: str
    token: str
    binary: bool = False  # detect-secrets: any line of the file counts
    history: bool = False  # only in git history: repro-audit must report it with a commit
    line: int | None = None  # the raw file's line holding the token (text files in the tree)
    member: str | None = None  # inside an archive, nested archives joined with "!"
    cell: int | None = None  # notebook cell, 1-based
    output: int | None = None  # notebook output within the cell, 1-based

    @property
    def where(self) -> str:
        if self.history:
            return "git history"
        if self.member is not None:
            return f"member {self.member}"
        if self.cell is not None:
            return f"cell {self.cell}" + ("" if self.output is None else f" output {self.output}")
        if self.binary:
            return "byte offset"
        return f"line {self.line}"


def _alnum(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(count))


def _hf_token(rng: random.Random) -> str:
    return "hf" + "_" + _alnum(rng, 34)


def _org_token(rng: random.Random) -> str:
    return "api" + "_org_" + _alnum(rng, 34)


def _wandb_key(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _low_entropy_hf_token(rng: random.Random, style: int) -> str:
    """34 letters or digits that are nearly all the same: one letter with two digits among it, or a
    short pattern repeated."""
    if style == 0:
        body = [rng.choice(string.ascii_lowercase)] * 34
        for at in rng.sample(range(34), 2):
            body[at] = rng.choice(string.digits)
    else:
        unit = rng.choice(string.ascii_lowercase) + rng.choice(string.ascii_uppercase) + rng.choice(string.digits)
        body = list((unit * 12)[:34])
    return "hf" + "_" + "".join(body)


class Planter:
    """Writes tokens into the generated archive, one fresh entry per place where it can."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.files: dict[str, list[str]] = {}
        self.large: set[str] = set()
        for track in sorted(p for p in root.iterdir() if p.is_dir()):
            for user in sorted(p for p in track.iterdir() if p.is_dir()):
                for repo in sorted(p for p in user.iterdir() if p.is_dir()):
                    entry = f"{track.name}/{user.name}/{repo.name}"
                    found: list[str] = []
                    for dirpath, dirnames, filenames in os.walk(repo):
                        dirnames.sort()
                        for name in sorted(filenames):
                            path = Path(dirpath, name)
                            found.append(path.relative_to(repo).as_posix())
                            if path.stat().st_size >= SUBSET_MAX_FILE:
                                self.large.add(entry)
                    self.files[entry] = found
        self.used: set[str] = set()
        self.tokens: set[str] = set()
        self.plants: list[Plant] = []

    # ---- helpers ---------------------------------------------------------------------------------

    def token(self, make: Callable[[random.Random], str]) -> str:
        token = make(self.rng)
        while token in self.tokens:
            token = make(self.rng)
        self.tokens.add(token)
        return token

    def entry(self, want: Callable[[str], bool] = lambda _: True, *, small: bool = False) -> str:
        """An entry holding a file `want`s, unused so far if possible (small: no file of 1 MiB or more)."""
        fits = [e for e in self.files if any(want(f) for f in self.files[e]) and not (small and e in self.large)]
        fresh = [e for e in fits if e not in self.used]
        if not fits:
            raise RuntimeError("planter bug: no entry has the file a place needs")
        entry = self.rng.choice(fresh or fits)
        self.used.add(entry)
        return entry

    def pick(self, entry: str, want: Callable[[str], bool]) -> str:
        return self.rng.choice([f for f in self.files[entry] if want(f)])

    def path(self, entry: str, rel: str) -> Path:
        return self.root / entry / rel

    def write(self, entry: str, rel: str, data: bytes | str) -> None:
        path = self.path(entry, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        if rel not in self.files[entry]:
            self.files[entry].append(rel)

    def insert_lines(self, entry: str, rel: str, new: Sequence[str], where: Callable[[list[str]], int]) -> None:
        lines = self.path(entry, rel).read_text(encoding="utf-8").split("\n")
        at = where(lines)
        lines[at:at] = list(new)
        self.write(entry, rel, "\n".join(lines))

    def add(self, place: str, entry: str, path: str, token: str, **where: Any) -> None:
        self.plants.append(Plant(place, entry, path, token, **where))

    def owner(self, entry: str) -> tuple[str, str]:
        _, user, repo = entry.split("/")
        return user.lower(), repo

    # ---- Dockerfiles and shell -------------------------------------------------------------------

    def dockerfile(self, place: str, make_line: Callable[[str, str, str], str], token: str) -> None:
        entry = self.entry(_is_dockerfile)
        rel = self.pick(entry, _is_dockerfile)
        user, repo = self.owner(entry)
        self.insert_lines(entry, rel, [make_line(token, user, repo)], _after_from)
        self.add(place, entry, rel, token)

    def build_arg_script(self, token: str) -> None:
        entry = self.entry(_is_dockerfile)
        user, repo = self.owner(entry)
        rel = "build_and_run.sh" if "build_and_run.sh" not in self.files[entry] else "scripts/build_and_run.sh"
        self.write(
            entry,
            rel,
            "#!/usr/bin/env bash\nset -euo pipefail\n\n"
            f"docker build --build-arg HF_TOKEN={token} -t {user}/{repo.lower()}:latest -f Dockerfile .\n"
            f"docker run --gpus all -p 8080:80 {user}/{repo.lower()}:latest\n",
        )
        self.add("shell: docker --build-arg", entry, rel, token)

    def shell_script(self, token: str) -> None:
        entry = self.entry(_is_shell)
        rel = self.pick(entry, _is_shell)
        self.insert_lines(entry, rel, [f"huggingface-cli login --token {token}"], lambda lines: min(3, len(lines)))
        self.add("shell script", entry, rel, token)

    # ---- Python ----------------------------------------------------------------------------------

    def python_source(self, place: str, new: Callable[[str], list[str]], token: str) -> None:
        entry = self.entry(_is_python)
        rel = self.pick(entry, _is_python)
        self.insert_lines(entry, rel, new(token), _before_first_def)
        self.add(place, entry, rel, token)

    def pyc(self, token: str) -> None:
        entry = self.entry(_is_python)
        folder = Path(self.pick(entry, _is_python)).parent
        user, repo = self.owner(entry)
        rel = (folder / "__pycache__" / f"hub_config.{sys.implementation.cache_tag}.pyc").as_posix()
        with tempfile.TemporaryDirectory() as scratch:
            source = Path(scratch, "hub_config.py")
            source.write_text(
                f'"""Where the adapter is pushed."""\n\nHF_TOKEN = "{token}"\nREPO_ID = "{user}/{repo}-lora"\n'
                "PRIVATE = True\n",
                encoding="utf-8",
            )
            target = self.path(entry, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            py_compile.compile(
                str(source),
                cfile=str(target),
                dfile="hub_config.py",
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        self.files[entry].append(rel)
        self.add("compiled .pyc", entry, rel, token, binary=True)

    def pickle_file(self, token: str) -> None:
        entry = self.entry()
        rel = "checkpoints/training_args.pkl"
        state = {
            "output_dir": "output",
            "learning_rate": 2e-4,
            "hub_token": token,
            "num_train_epochs": 3,
            "push_to_hub": True,
        }
        self.write(entry, rel, pickle.dumps(state, protocol=4))
        self.add("pickle", entry, rel, token, binary=True)

    def vim_swap(self, token: str) -> None:
        entry = self.entry(_is_python)
        source = Path(self.pick(entry, _is_python))
        rel = (source.parent / f".{source.name}.swp").as_posix()
        lines = ["import os", "", f'HF_TOKEN = "{token}"', "model = load_model(HF_TOKEN)", ""]
        self.write(entry, rel, _vim_swap(self.rng, f"~/{entry.split('/')[-1]}/{source.as_posix()}", lines))
        self.add("vim swap file", entry, rel, token, binary=True)

    # ---- notebooks -------------------------------------------------------------------------------

    def notebook(self, place: str, token: str) -> None:
        entry = self.entry(_is_notebook)
        rel = self.pick(entry, _is_notebook)
        path = self.path(entry, rel)
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
        at = self.rng.randint(0, len(cells))
        outputs: list[dict[str, object]] = []
        output: int | None = None
        if place == "notebook source cell":
            source = ["from huggingface_hub import login", "", f'login(token="{token}")']
        elif place == "notebook stream output":
            source = ["from huggingface_hub import HfFolder", "", "print(HfFolder.get_token())"]
            outputs.append({"name": "stdout", "output_type": "stream", "text": [token + "\n"]})
            output = 1
        else:  # an error whose traceback prints the token in bold red, codes right against it
            source = ["from huggingface_hub import login", "", 'login(token=os.environ["HF_TOKEN"])']
            outputs.append(
                {
                    "ename": "ValueError",
                    "evalue": "Invalid token passed!",
                    "output_type": "error",
                    "traceback": [
                        _ANSI_RED + "-" * 75 + _ANSI_RESET,
                        f"{_ANSI_RED}ValueError{_ANSI_RESET}                                Traceback (most recent call last)",
                        f"{_ANSI_RED}ValueError{_ANSI_RESET}: Invalid token passed! "
                        f"(token={_ANSI_BOLD_RED}{token}{_ANSI_RESET})",
                    ],
                }
            )
            output = 1
        cells.insert(
            at,
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"{self.rng.getrandbits(32):08x}",
                "metadata": {},
                "outputs": outputs,
                "source": [line + "\n" for line in source[:-1]] + source[-1:],
            },
        )
        self.write(entry, rel, json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        self.add(place, entry, rel, token, cell=at + 1, output=output)

    # ---- logs, configs, dotfiles -----------------------------------------------------------------

    def log_file(self, token: str) -> None:
        entry = self.entry()
        rel = "logs/train_2023-10-21.log"
        count = self.rng.randint(40, 200)
        secret_at = self.rng.randint(3, count - 1)
        lines = []
        for i in range(count):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(_EPOCH + 7 * i))
            if i == secret_at:
                lines.append(
                    f"{stamp},{i % 1000:03d} - INFO - environment: {{'CUDA_VISIBLE_DEVICES': '0', "
                    f"'HF_TOKEN': '{token}', 'WANDB_MODE': 'offline'}}"
                )
            else:
                lines.append(
                    f"{stamp},{i % 1000:03d} - INFO - step {i * 10} loss {self.rng.uniform(0.5, 3):.4f} "
                    f"lr {2e-4 * (1 - i / count):.2e}"
                )
        self.write(entry, rel, "\n".join(lines) + "\n")
        self.add("log file", entry, rel, token)

    def yaml_org_token(self, token: str) -> None:
        entry = self.entry()
        user, repo = self.owner(entry)
        rel = "configs/push_to_hub.yaml"
        self.write(
            entry,
            rel,
            f"hub_model_id: {user}/{repo}-adapter\nhub_private_repo: true\nhub_token: {token}\npush_to_hub: true\n",
        )
        self.add("legacy api_org_ token (YAML)", entry, rel, token)

    def wandb_env(self, token: str) -> None:
        entry = self.entry()
        user, _ = self.owner(entry)
        self.write(entry, ".env", f"WANDB_PROJECT=neurips-llm-efficiency\nWANDB_API_KEY={token}\nWANDB_ENTITY={user}\n")
        self.add("W&B key: WANDB_API_KEY in .env", entry, ".env", token)

    def wandb_netrc(self, token: str) -> None:
        entry = self.entry()
        self.write(entry, ".netrc", f"machine api.wandb.ai\n  login user\n  password {token}\n")
        self.add("W&B key: .netrc for api.wandb.ai", entry, ".netrc", token)

    # ---- archives --------------------------------------------------------------------------------

    def zip_member(self, token: str) -> None:
        entry = self.entry()
        rel = "export/adapter_bundle.zip"
        members = {
            "bundle/adapter_config.json": json.dumps({"r": 16, "lora_alpha": 32, "task_type": "CAUSAL_LM"}) + "\n",
            "bundle/README.md": "# Adapter\n\nLoRA adapter of our submission.\n",
            "bundle/.env": f"HF_TOKEN={token}\nMODEL_ID=meta-llama/Llama-2-7b-hf\n",
        }
        self.write(entry, rel, _zip({k: v.encode() for k, v in members.items()}))
        self.add(".zip member", entry, rel, token, binary=True, member="bundle/.env")

    def tar_member(self, token: str) -> None:
        entry = self.entry()
        user, repo = self.owner(entry)
        rel = "release/submission.tar.gz"
        members = {
            "submission/main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
            "submission/scripts/upload.py": (
                f'from huggingface_hub import HfApi\n\napi = HfApi(token="{token}")\n'
                f'api.upload_folder(folder_path="output", repo_id="{user}/{repo}-lora")\n'
            ),
        }
        self.write(entry, rel, _tar_gz({k: v.encode() for k, v in members.items()}))
        self.add(".tar.gz member", entry, rel, token, binary=True, member="submission/scripts/upload.py")

    def nested_member(self, token: str) -> None:
        entry = self.entry()
        rel = "artifacts/run_outputs.zip"
        inner = _tar_gz(
            {
                "logs/env.txt": (
                    f"CUDA_VISIBLE_DEVICES=0\nHUGGING_FACE_HUB_TOKEN={token}\nTRANSFORMERS_CACHE=/cache\n"
                ).encode(),
                "logs/stdout.txt": b"epoch 1 loss 1.234\nepoch 2 loss 0.987\n",
            }
        )
        outer = _zip({"run/metrics.json": b'{"mmlu": 0.41, "truthfulqa": 0.37}\n', "run/logs.tar.gz": inner})
        self.write(entry, rel, outer)
        self.add(
            "nested archive (.tar.gz in .zip)", entry, rel, token, binary=True, member="run/logs.tar.gz!logs/env.txt"
        )

    # ---- git repositories ------------------------------------------------------------------------

    def git_repositories(self) -> None:
        """Two entries become repositories: one has a token edited out of a file (and a remote URL with
        another in `.git/config`), the other a `.env` committed and then deleted."""
        edited = self.entry(_is_python, small=True)
        user, repo = self.owner(edited)
        base = self.root / edited
        _git(base, 0, "init", "-q", "-b", "main")
        _git(base, 0, "add", ".")
        _git(base, 1, "commit", "-q", "-m", "initial submission")
        rel = self.pick(edited, _is_python)
        token = self.token(_hf_token)
        self.insert_lines(edited, rel, [f'HF_TOKEN = "{token}"'], _before_first_def)
        _git(base, 2, "add", "-f", rel)
        _git(base, 3, "commit", "-q", "-m", "push the adapter to the hub")
        text = self.path(edited, rel).read_text(encoding="utf-8")
        self.write(edited, rel, text.replace(f'"{token}"', 'os.environ.get("HF_TOKEN")'))
        _git(base, 4, "add", "-f", rel)
        _git(base, 4, "commit", "-q", "-m", "read the token from the environment")
        self.add("git history: token edited out", edited, rel, token, history=True)
        remote = self.token(_hf_token)
        _git(base, 5, "remote", "add", "origin", f"https://{user}:{remote}@huggingface.co/spaces/{user}/{repo}")
        self.add(".git/config remote URL", edited, ".git/config", remote)

        deleted = self.entry(small=True)
        base = self.root / deleted
        _git(base, 0, "init", "-q", "-b", "main")
        _git(base, 0, "add", ".")
        _git(base, 1, "commit", "-q", "-m", "initial submission")
        hf, key = self.token(_hf_token), self.token(_wandb_key)
        self.write(deleted, ".env", f"HF_TOKEN={hf}\nWANDB_API_KEY={key}\n")
        _git(base, 2, "add", "-f", ".env")
        _git(base, 3, "commit", "-q", "-m", "add local settings")
        _git(base, 4, "rm", "-q", ".env")
        _git(base, 5, "commit", "-q", "-m", "remove local settings")
        self.files[deleted].remove(".env")
        self.add("git history: file deleted", deleted, ".env", hf, history=True)
        self.add("git history: file deleted", deleted, ".env", key, history=True)

    # ---- all of them -----------------------------------------------------------------------------

    def hf(self) -> str:
        return self.token(_hf_token)

    def plant_everything(self) -> list[Plant]:
        hf = self.hf
        self.dockerfile("Dockerfile ENV", lambda t, u, r: f"ENV HUGGINGFACE_TOKEN={t}", hf())
        self.dockerfile("Dockerfile ARG", lambda t, u, r: f"ARG HF_TOKEN={t}", hf())
        self.dockerfile(
            "Dockerfile clone URL with credentials",
            lambda t, u, r: f"RUN git clone https://{u}:{t}@huggingface.co/{u}/{r}-adapter /opt/adapter",
            hf(),
        )
        self.build_arg_script(hf())
        self.python_source(
            "Python source", lambda t: ["from huggingface_hub import login", "", f'login(token="{t}")', ""], hf()
        )
        self.shell_script(hf())
        for place in ("notebook source cell", "notebook stream output", "notebook error traceback (ANSI)"):
            self.notebook(place, hf())
        self.pyc(hf())
        self.pickle_file(hf())
        self.vim_swap(hf())
        self.log_file(hf())
        self.zip_member(hf())
        self.tar_member(hf())
        self.nested_member(hf())
        self.wandb_env(self.token(_wandb_key))
        self.python_source(
            "W&B key: wandb.login(key=...)",
            lambda t: ["import wandb", "", f'wandb.login(key="{t}")', ""],
            self.token(_wandb_key),
        )
        self.wandb_netrc(self.token(_wandb_key))
        self.yaml_org_token(self.token(_org_token))
        self.python_source(
            "low-entropy HF token",
            lambda t: [f'HF_TOKEN = "{t}"', ""],
            self.token(lambda r: _low_entropy_hf_token(r, 0)),
        )
        self.dockerfile(
            "low-entropy HF token",
            lambda t, u, r: f"ENV HF_TOKEN={t}",
            self.token(lambda r: _low_entropy_hf_token(r, 1)),
        )
        self.git_repositories()
        for plant in self.plants:
            if not plant.history and not plant.binary:
                data = self.path(plant.entry, plant.path).read_bytes()
                at = data.find(plant.token.encode())
                if at < 0:
                    raise RuntimeError(f"planter bug: the token is not in {plant.entry}/{plant.path}")
                plant.line = data.count(b"\n", 0, at) + 1
        return self.plants


def _is_dockerfile(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")


def _is_python(rel: str) -> bool:
    return rel.endswith(".py") and "/." not in f"/{rel}"


def _is_shell(rel: str) -> bool:
    return rel.endswith(".sh")


def _is_notebook(rel: str) -> bool:
    return rel.endswith(".ipynb")


def _after_from(lines: list[str]) -> int:
    return next((i + 1 for i, line in enumerate(lines) if line.upper().startswith("FROM ")), 0)


def _before_first_def(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if line.startswith(("def ", "class ", "@"))), len(lines))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2023, 10, 20, 12, 0, 0))
            stored = name.endswith((".gz", ".zip"))
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), _EPOCH, 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def _vim_swap(rng: random.Random, edited: str, lines: list[str]) -> bytes:
    """A vim swap file's shape: a block-0 header (`b0VIM`, user, host, file name), a pointer block and a
    data block whose NUL-terminated lines sit at its end; everything else NUL."""
    page = 4096
    header = bytearray(page)
    header[0:10] = b"b0VIM 9.0\0"
    header[12:16] = struct.pack("<I", page)
    header[16:20] = struct.pack("<I", _EPOCH + rng.randint(0, 86400))
    header[28:32] = b"alex"
    header[68:75] = b"gpu-box"
    header[108 : 108 + len(edited)] = edited.encode()
    header[page - 2 :] = b"U\0"
    pointer = bytearray(page)
    pointer[0:2] = b"tp"
    data = bytearray(page)
    data[0:2] = b"ad"
    text = b"".join(line.encode() + b"\0" for line in reversed(lines))
    data[page - len(text) :] = text
    return bytes(header + pointer + data)


def _git(cwd: Path, tick: int, *args: str) -> str:
    """git with no user or system configuration and fixed dates (`tick` minutes after the epoch)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    stamp = f"@{_EPOCH + 60 * tick} +0000"
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        GIT_AUTHOR_DATE=stamp,
        GIT_COMMITTER_DATE=stamp,
    )
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed in {cwd}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode(errors="replace").strip()


# --------------------------------------------------------------------------------------------------
# The archive: generate, plant, reuse
# --------------------------------------------------------------------------------------------------


@dataclass
class Archive:
    stats: bc.ArchiveStats
    plants: list[Plant]


def prepare_archive(workdir: Path, shape: bc.Shape) -> Archive:
    """Generate and plant the archive under `workdir/archive`, or reuse one an earlier run left there."""
    root = workdir / "archive"
    manifest = workdir / ARCHIVE_MANIFEST
    plants_file = workdir / PLANTS_MANIFEST
    wanted = {"generator": bc.GENERATOR_VERSION, "planter": PLANTER_VERSION, **asdict(shape)}
    if root.exists() and any(root.iterdir()):
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
            plants = [Plant(**p) for p in json.loads(plants_file.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError):
            found, plants = None, []
        if found != wanted:
            raise ValueError(
                f"{root} exists but was not generated with these options; remove it or pick another --workdir"
            )
        print(f"reusing the archive in {root}", file=sys.stderr)
        return Archive(bc.scan_archive(root), plants)
    needed = shape.big_binaries * shape.big_binary_mb * bc.MIB + shape.files * 16 * 1024
    probe = root
    while not probe.exists():
        probe = probe.parent
    if shutil.disk_usage(probe).free < 2 * needed:  # the archive, and the subset's copies of what cannot link
        raise ValueError(f"not enough disk space under {probe}: about {2 * needed / bc.MIB:.0f} MB needed")
    print(f"generating {shape.entries} entries, {shape.files} files into {root} ...", file=sys.stderr)
    start = time.perf_counter()
    bc.generate_archive(root, shape)
    plants = Planter(root, random.Random(f"bench-secrets/{shape.seed}")).plant_everything()
    stats = bc.scan_archive(root)
    print(f"  done in {time.perf_counter() - start:.1f} s: {stats.total_mb:.1f} MB, {len(plants)} tokens planted",
          file=sys.stderr)  # fmt: skip
    plants_file.write_text(json.dumps([asdict(p) for p in plants], indent=1) + "\n", encoding="utf-8")
    manifest.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    return Archive(stats, plants)


def make_subset(archive: Path, subset: Path) -> bc.ArchiveStats:
    """The archive without its files of `SUBSET_MAX_FILE` or more, hard-linked (copied across devices)."""
    if not subset.exists():

        def link(src: str, dst: str) -> None:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

        def large(folder: str, names: list[str]) -> list[str]:
            return [n for n in names if Path(folder, n).is_file() and Path(folder, n).stat().st_size >= SUBSET_MAX_FILE]

        shutil.copytree(archive, subset, symlinks=True, copy_function=link, ignore=large)
    return bc.scan_archive(subset)


# --------------------------------------------------------------------------------------------------
# Running the tools
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One timed child process."""

    seconds: float
    peak_rss_kib: int
    exit_code: int | None  # None: killed at the timeout
    timed_out: bool = False


@dataclass
class ToolRuns:
    name: str
    runs: list[Run] = field(default_factory=list)
    findings: int | None = None
    report: Path | None = None  # the output of the first complete run

    @property
    def complete(self) -> list[Run]:
        return [r for r in self.runs if not r.timed_out]

    @property
    def timed_out(self) -> bool:
        return any(r.timed_out for r in self.runs)

    @property
    def median_s(self) -> float | None:
        return statistics.median(r.seconds for r in self.complete) if self.complete else None

    @property
    def min_s(self) -> float | None:
        return min(r.seconds for r in self.complete) if self.complete else None

    @property
    def peak_rss_mb(self) -> float | None:
        return max(r.peak_rss_kib for r in self.runs) / 1024 if self.runs else None

    def figures(self) -> dict[str, object]:
        return {
            "median_s": _round(self.median_s, 4),
            "min_s": _round(self.min_s, 4),
            "peak_rss_mb": _round(self.peak_rss_mb, 1),
            "timed_out": self.timed_out,
            "findings": self.findings,
            "runs": [asdict(r) for r in self.runs],
        }


class ToolFailed(Exception):
    """A tool exited with a status that is not one of its normal ones."""


def timed_run(
    argv: Sequence[str], stdout: Path, stderr: Path, *, cwd: Path | None, env: dict[str, str], timeout: float | None
) -> Run:
    """Run `argv` in a session of its own; wall time, peak RSS, and a kill of the whole group at `timeout`."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env, start_new_session=True
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_group(proc.pid)

        timer = threading.Timer(timeout, expire) if timeout else None
        if timer is not None:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # already reaped by wait4; keeps Popen from waiting again
    if expired.is_set():
        _kill_group(proc.pid)  # pool workers the leader left behind
        return Run(elapsed, usage.ru_maxrss, None, timed_out=True)
    return Run(elapsed, usage.ru_maxrss, code)


def _tail(path: Path, limit: int = 4000) -> str:
    data = path.read_bytes()[-limit:]
    return data.decode("utf-8", errors="replace").rstrip() or "(empty)"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _version(executable: str) -> str:
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown version"
    lines = done.stdout.strip().splitlines()
    return lines[-1] if done.returncode == 0 and lines else "unknown version"


@dataclass
class Tools:
    repro_audit: str
    detect_secrets: str
    env: dict[str, str]

    def argv(self, name: str, tree: Path, report: Path) -> tuple[list[str], Path | None]:
        if name == REPRO_AUDIT:
            return [self.repro_audit, "check", str(tree), "--select", "secret", "--format", "json", "--output",
                    str(report)], None  # fmt: skip
        # detect-secrets names files relative to its working directory: run it from the tree's root.
        return [self.detect_secrets, "scan", "--all-files", "."], tree


def measure(
    tools: Tools, tree: Path, out_dir: Path, repeat: int, ds_timeout: float | None, label: str
) -> dict[str, ToolRuns]:
    """Both tools on `tree`, alternating the order; detect-secrets stops being rerun once it timed out."""
    results = {REPRO_AUDIT: ToolRuns(REPRO_AUDIT), DETECT_SECRETS: ToolRuns(DETECT_SECRETS)}
    order = list(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in range(repeat):
        for name in order if i % 2 == 0 else reversed(order):
            result = results[name]
            if result.timed_out:
                continue
            stem = f"{label}-{name}-{i + 1}"
            report = out_dir / f"{stem}.json"
            stdout, stderr = out_dir / f"{stem}.stdout", out_dir / f"{stem}.stderr"
            argv, cwd = tools.argv(name, tree, report)
            timeout = ds_timeout if name == DETECT_SECRETS else None
            run = timed_run(argv, stdout, stderr, cwd=cwd, env=tools.env, timeout=timeout)
            state = "TIMED OUT" if run.timed_out else f"exit {run.exit_code}"
            print(
                f"  {label:<7} run {i + 1}/{repeat}  {name:<15}{run.seconds:9.3f} s {run.peak_rss_kib / 1024:8.1f} MB"
                f"  {state}",
                file=sys.stderr,
            )
            ok = (0, 1) if name == REPRO_AUDIT else (0,)
            if not run.timed_out and run.exit_code not in ok:
                raise ToolFailed(f"{name} exited with {run.exit_code} on the {label} tree; stderr:\n{_tail(stderr)}")
            result.runs.append(run)
            if run.timed_out or result.report is not None:
                continue
            result.report = report if name == REPRO_AUDIT else stdout
            result.findings = _count(name, result.report)
    return results


def _count(name: str, report: Path) -> int | None:
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if name == REPRO_AUDIT:
        return sum(1 for e in data.get("entries", []) for f in e.get("findings", []) if f.get("family") == "secret")
    return sum(len(v) for v in data.get("results", {}).values())


# --------------------------------------------------------------------------------------------------
# Recall
# --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    plant: Plant
    fingerprint: str
    repro_audit: bool
    located: bool
    detect_secrets: bool | None  # None: detect-secrets produced no report

    def figures(self) -> dict[str, object]:
        p = self.plant
        return {
            "place": p.place,
            "entry": p.entry,
            "path": p.path,
            "where": p.where,
            "fingerprint": self.fingerprint,
            "repro_audit": self.repro_audit,
            "located": self.located,
            "detect_secrets": self.detect_secrets,
        }


def judge(plants: list[Plant], ra_report: Path, ds_report: Path | None, salt: str) -> tuple[list[Outcome], int, int]:
    """Each plant's outcome; repro-audit's findings matching no plant; tokens found in its JSON report."""
    from audit.secrets.redact import fingerprint

    text = ra_report.read_text(encoding="utf-8")
    findings: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in json.loads(text).get("entries", []):
        for finding in entry.get("findings", []):
            if finding.get("family") == "secret" and isinstance(finding.get("secret"), dict):
                findings.setdefault((entry["name"], finding["path"]), []).append(finding)
    ds_lines: dict[str, set[int]] | None = None
    if ds_report is not None:
        try:
            results = json.loads(ds_report.read_text(encoding="utf-8")).get("results", {})
            ds_lines = {
                Path(name).as_posix(): {s.get("line_number", 0) for s in found} for name, found in results.items()
            }
        except (OSError, ValueError):
            ds_lines = None
    outcomes = []
    planted: set[tuple[str, str, str]] = set()
    for plant in plants:
        fp = fingerprint(plant.token, salt)
        planted.add((plant.entry, plant.path, fp))
        matches = [
            f
            for f in findings.get((plant.entry, plant.path), [])
            if f["secret"].get("fingerprint") == fp and (f.get("commit") or not plant.history)
        ]
        found_ds: bool | None = None
        if ds_lines is not None:
            lines = ds_lines.get(f"{plant.entry}/{plant.path}", set())
            found_ds = not plant.history and bool(lines) and (plant.binary or plant.line in lines)
        outcomes.append(Outcome(plant, fp, bool(matches), any(_located(plant, f) for f in matches), found_ds))
    unplanted = sum(
        1
        for (entry, path), found in findings.items()
        for f in found
        if (entry, path, f["secret"].get("fingerprint")) not in planted
    )
    leaked = sum(1 for plant in plants if plant.token in text)
    return outcomes, unplanted, leaked


def _located(plant: Plant, finding: dict[str, Any]) -> bool:
    if plant.history:
        return bool(finding.get("commit"))
    if plant.member is not None:
        return finding.get("member") == plant.member
    if plant.cell is not None:
        return finding.get("cell") == plant.cell and finding.get("output") == plant.output
    if plant.binary:
        return finding.get("offset") is not None
    return finding.get("line") == plant.line


def describe_miss(root: Path, plant: Plant) -> str:
    """What the file around a missed token looked like, the token replaced by a placeholder."""
    label = f"<{plant.token[:3]}...{len(plant.token)} chars>"
    if plant.history:
        return f"{plant.entry}/{plant.path}: in git history only ({plant.place})"
    data = (root / plant.entry / plant.path).read_bytes()
    if plant.member is not None:
        return f"{plant.entry}/{plant.path} member {plant.member} ({len(data)} bytes, {plant.place})"
    at = data.find(plant.token.encode())
    if plant.binary and at >= 0:
        window = data[max(0, at - 40) : at + len(plant.token) + 40].replace(plant.token.encode(), label.encode())
        return f"{plant.entry}/{plant.path} @ byte {at}: {window!r}"
    line = data.decode("utf-8", "replace").split("\n")[(plant.line or 1) - 1]
    return f"{plant.entry}/{plant.path}:{plant.line} ({plant.where}): {line.replace(plant.token, label)!r}"


# --------------------------------------------------------------------------------------------------
# History figure
# --------------------------------------------------------------------------------------------------


@dataclass
class HistoryRepo:
    root: Path
    commits: int
    planted: list[tuple[str, str]]  # (token, path)
    builder: str


def prepare_history(workdir: Path, commits: int) -> HistoryRepo:
    """A repository of `commits` commits with HuggingFace tokens added and taken out along the way."""
    folder = workdir / "history"
    repo, manifest = folder / "repo", folder / HISTORY_MANIFEST
    try:
        import bench_history as bh

        builder = "scripts/bench_history.py"
        defaults = bh.parse_args([])
        _ = (bh.plan_repository, bh.build_repository, bh.GENERATOR_VERSION)  # the API this script uses
        shape = bh.Shape(
            commits=commits, files=defaults.files, tokens=min(defaults.tokens, commits // 4), seed=defaults.seed
        )
        wanted: dict[str, object] = {"builder": builder, "generator": bh.GENERATOR_VERSION, **asdict(shape)}
    except (ImportError, AttributeError):
        bh = None
        builder = "git fast-import (bench_secrets)"
        wanted = {"builder": builder, "commits": commits, "planter": PLANTER_VERSION}
    if repo.exists():
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if not isinstance(found, dict) or {k: v for k, v in found.items() if k != "planted"} != wanted:
            raise ValueError(f"{repo} exists but was not built with these options; remove it or pick another --workdir")
        print(f"reusing the history repository in {repo}", file=sys.stderr)
        return HistoryRepo(repo, commits, [tuple(p) for p in found["planted"]], builder)  # type: ignore[misc]
    folder.mkdir(parents=True, exist_ok=True)
    print(f"building a repository of {commits} commits with {builder} ...", file=sys.stderr)
    start = time.perf_counter()
    if bh is not None:
        plan = bh.plan_repository(shape)
        bh.build_repository(repo, plan)
        planted = [(p.token, p.path) for p in plan.planted]
    else:
        planted = _fast_import_repo(repo, commits, random.Random(f"bench-secrets/history/{commits}"))
    print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    manifest.write_text(json.dumps({**wanted, "planted": planted}, indent=1) + "\n", encoding="utf-8")
    return HistoryRepo(repo, commits, planted, builder)


def _fast_import_repo(repo: Path, commits: int, rng: random.Random) -> list[tuple[str, str]]:
    """Fallback builder: 50 modules on one branch, one to three changed per commit; eight tokens
    planted, each taken out a few dozen commits later (every other one by deleting its file)."""
    files = {f"src/module_{n}.py": [f"value_{n}_{i} = {rng.randint(0, 9999)}" for i in range(60)] for n in range(50)}
    plant_at = {int((k + 0.5) * commits / 8): k for k in range(8)}
    live: dict[int, tuple[str, str, bool]] = {}  # removal commit -> (token, path, by delete)
    planted: list[tuple[str, str]] = []
    stream: list[bytes] = []
    for index in range(commits):
        changed: dict[str, bytes | None] = {}
        if index == 0:
            changed = {p: "\n".join(lines).encode() + b"\n" for p, lines in files.items()}
        else:
            for path in rng.sample(sorted(p for p in files if p.startswith("src/")), rng.randint(1, 3)):
                files[path][rng.randrange(len(files[path]))] = f"value_{index} = {rng.randint(0, 9999)}"
                changed[path] = "\n".join(files[path]).encode() + b"\n"
            if index in live:
                token, path, by_delete = live.pop(index)
                if by_delete:
                    del files[path]
                    changed[path] = None
                else:
                    files[path] = [line for line in files[path] if token not in line]
                    changed[path] = "\n".join(files[path]).encode() + b"\n"
            if index in plant_at:
                k, token = plant_at[index], _hf_token(rng)
                path = (
                    f"notes/credentials_{k}.py"
                    if k % 2
                    else rng.choice(sorted(p for p in files if p.startswith("src/")))
                )
                files.setdefault(path, []).insert(0, f'HF_TOKEN = "{token}"')
                changed[path] = "\n".join(files[path]).encode() + b"\n"
                live[min(commits - 1, index + rng.randint(5, 60))] = (token, path, bool(k % 2))
                planted.append((token, path))
        message = f"change {index}\n".encode()
        stream.append(f"commit refs/heads/main\nmark :{index + 1}\n".encode())
        stream.append(f"committer Bench <bench@example.invalid> {_EPOCH + 60 * index} +0000\n".encode())
        stream.append(f"data {len(message)}\n".encode() + message)
        for path, data in sorted(changed.items()):
            if data is None:
                stream.append(f"D {path}\n".encode())
            else:
                stream.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        stream.append(b"\n")
    repo.mkdir(parents=True)
    _git(repo, 0, "init", "-q", "-b", "main")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, env=env, input=b"".join(stream), check=True)
    return planted


def measure_history(tools: Tools, history: HistoryRepo, out_dir: Path, repeat: int, salt: str) -> dict[str, object]:
    from audit.secrets.redact import fingerprint

    runs: list[Run] = []
    report = out_dir / "history-repro-audit.json"
    for i in range(repeat):
        stdout, stderr = out_dir / f"history-{i + 1}.stdout", out_dir / f"history-{i + 1}.stderr"
        argv = [tools.repro_audit, "check", str(history.root), "--select", "RA901", "--format", "json", "--output",
                str(report)]  # fmt: skip
        run = timed_run(argv, stdout, stderr, cwd=None, env=tools.env, timeout=None)
        print(
            f"  history run {i + 1}/{repeat}  {REPRO_AUDIT:<15}{run.seconds:9.3f} s {run.peak_rss_kib / 1024:8.1f} MB"
            f"  exit {run.exit_code}",
            file=sys.stderr,
        )
        if run.exit_code not in (0, 1):
            raise ToolFailed(f"repro-audit exited with {run.exit_code} on the history repository:\n{_tail(stderr)}")
        runs.append(run)
    data = json.loads(report.read_text(encoding="utf-8"))
    found = {
        (f["path"], f["secret"]["fingerprint"])
        for e in data.get("entries", [])
        for f in e.get("findings", [])
        if f.get("commit") and isinstance(f.get("secret"), dict)
    }
    hits = sum(1 for token, path in history.planted if (path, fingerprint(token, salt)) in found)
    median = statistics.median(r.seconds for r in runs)
    return {
        "builder": history.builder,
        "commits": history.commits,
        "median_s": round(median, 4),
        "min_s": round(min(r.seconds for r in runs), 4),
        "peak_rss_mb": round(max(r.peak_rss_kib for r in runs) / 1024, 1),
        "planted": len(history.planted),
        "found": hits,
        "runs": [asdict(r) for r in runs],
        "goal": {"limit_s": HISTORY_GOAL_S, "met": median < HISTORY_GOAL_S},
    }


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _ratio(ra: ToolRuns, ds: ToolRuns, ds_timeout: float | None) -> tuple[float | None, bool]:
    """detect-secrets / repro-audit of the medians; when detect-secrets timed out, the lower bound
    `timeout / repro-audit median` (second value True)."""
    if not ra.median_s:
        return None, False
    if ds.median_s is not None and not ds.timed_out:
        return ds.median_s / ra.median_s, False
    if ds.timed_out and ds_timeout:
        return ds_timeout / ra.median_s, True
    return None, False


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def build_figures(
    shape: bc.Shape,
    archive: Archive,
    versions: dict[str, str],
    repeat: int,
    ds_timeout: float | None,
    full: dict[str, ToolRuns],
    subset: tuple[bc.ArchiveStats, dict[str, ToolRuns]] | None,
    outcomes: list[Outcome],
    unplanted: int,
    leaked: int,
    recall_source: str | None,
    history: dict[str, object] | None,
    load: dict[str, list[float]],
) -> dict[str, object]:
    places: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = places.setdefault(o.plant.place, {"planted": 0, "repro_audit": 0, "located": 0, "detect_secrets": 0})
        row["planted"] += 1
        row["repro_audit"] += o.repro_audit
        row["located"] += o.located
        row["detect_secrets"] += bool(o.detect_secrets)
    total = len(outcomes)
    ra_found = sum(o.repro_audit for o in outcomes)
    ds_found = sum(bool(o.detect_secrets) for o in outcomes)
    ratio, lower_bound = _ratio(full[REPRO_AUDIT], full[DETECT_SECRETS], ds_timeout)
    subset_figures = None
    if subset is not None:
        stats, tools = subset
        subset_ratio, subset_bound = _ratio(tools[REPRO_AUDIT], tools[DETECT_SECRETS], ds_timeout)
        subset_figures = {
            "definition": f"the archive without its files of {SUBSET_MAX_FILE // bc.MIB} MiB or more (hard links)",
            "files": stats.files,
            "total_mb": round(stats.total_mb, 1),
            "tools": {name: t.figures() for name, t in tools.items()},
            "ratio_median": _round(subset_ratio, 2),
            "ratio_is_lower_bound": subset_bound,
        }
    recall = ra_found / total if total else None
    goals = {
        "repro_audit_recall": {"limit": 1.0, "value": recall, "met": recall == 1.0},
        "ratio": {
            "limit": RATIO_GOAL,
            "value": _round(ratio, 2),
            # a lower bound under the goal says nothing: the true ratio may still reach it
            "met": None if ratio is None or (lower_bound and ratio < RATIO_GOAL) else ratio >= RATIO_GOAL,
        },
        "history": {
            "limit": HISTORY_GOAL_S,
            "value": None if history is None else history["median_s"],
            "met": None if history is None else history["median_s"] < HISTORY_GOAL_S,  # type: ignore[operator]
        },
    }
    verdicts = [g["met"] for g in goals.values()]
    return {
        "machine": bc.machine_info(),
        "load_average": load,
        "archive": {
            "path": str(archive.stats.root),
            "seed": shape.seed,
            "entries": archive.stats.entries,
            "tracks": archive.stats.tracks,
            "files": archive.stats.files,
            "total_mb": round(archive.stats.total_mb, 1),
            "big_binaries": shape.big_binaries,
            "big_binary_mb": shape.big_binary_mb,
            "planted": total,
            "places": len(places),
            "git_repositories": len({p.entry for p in archive.plants if p.history}),
        },
        "salt_env": SALT_ENV,
        "versions": versions,
        "repeat": repeat,
        "detect_secrets_timeout_s": ds_timeout,
        "recall": {
            "repro_audit": {"found": ra_found, "located": sum(o.located for o in outcomes), "of": total},
            "detect_secrets": {"found": ds_found, "of": total, "measured_on": recall_source},
            "by_place": places,
            "repro_audit_unplanted_findings": unplanted,
            "tokens_in_repro_audit_report": leaked,
        },
        "plants": [o.figures() for o in outcomes],
        "tools": {name: t.figures() for name, t in full.items()},
        "ratio_median": _round(ratio, 2),
        "ratio_is_lower_bound": lower_bound,
        "subset": subset_figures,
        "history": history,
        "goals": goals,
        "goals_met": None if any(v is None for v in verdicts) else all(verdicts),
    }


def _commits_text(history: object) -> str:
    return f"{history['commits']:,}" if isinstance(history, dict) else "N"


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else "-"


def _s(value: object, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def print_report(figures: dict[str, object], outcomes: list[Outcome], root: Path) -> None:
    machine, archive, recall = figures["machine"], figures["archive"], figures["recall"]
    versions, goals, load = figures["versions"], figures["goals"], figures["load_average"]
    assert isinstance(machine, dict) and isinstance(archive, dict) and isinstance(recall, dict)
    assert isinstance(versions, dict) and isinstance(goals, dict) and isinstance(load, dict)
    cpu = machine["cpu_model"] or machine["processor"]
    cpu_text = f" ({cpu})" if cpu and cpu != machine["machine"] else ""
    label = 16
    print()
    print(
        f"{'machine':<{label}}{machine['cpu_count']} CPUs ({machine['usable_cpus']} usable), {machine['machine']}{cpu_text}"
    )
    print(f"{'python':<{label}}{machine['implementation']} {machine['python']}, {machine['platform']}")
    print(f"{'load average':<{label}}" + ", ".join(f"{k}: {' '.join(map(str, v))}" for k, v in load.items())
          + "  (1/5/15 min)")  # fmt: skip
    tracks = ", ".join(f"{k}: {v}" for k, v in archive["tracks"].items())
    print(
        f"{'archive':<{label}}{archive['entries']} entries ({tracks}), {archive['files']} files, "
        f"{archive['total_mb']:.1f} MB (seed {archive['seed']}); {archive['planted']} tokens planted in "
        f"{archive['places']} kinds of place, {archive['git_repositories']} git repositories"
    )
    for name, version in versions.items():
        print(f"{name:<{label}}{version}")
    print()
    width = max(len(p) for p in recall["by_place"]) + 2
    print(f"{'kind of place':<{width}}{'planted':>8}{'repro-audit':>13}{'located':>9}{'detect-secrets':>16}")
    for place, row in recall["by_place"].items():
        print(
            f"{place:<{width}}{row['planted']:>8}{row['repro_audit']:>13}{row['located']:>9}{row['detect_secrets']:>16}"
        )
    ra, ds = recall["repro_audit"], recall["detect_secrets"]
    print(f"{'all':<{width}}{ra['of']:>8}{ra['found']:>13}{ra['located']:>9}{ds['found']:>16}")
    print()
    print(f"recall repro-audit:    {_pct(ra['found'], ra['of'])}, located precisely {_pct(ra['located'], ra['of'])}")
    source = f"its report on the {ds['measured_on']}" if ds["measured_on"] else "NOT MEASURED: no complete run"
    print(f"recall detect-secrets: {_pct(ds['found'], ds['of'])} ({source})")
    print(
        f"repro-audit findings at no planted place: {recall['repro_audit_unplanted_findings']}; "
        f"planted tokens found in its JSON report: {recall['tokens_in_repro_audit_report']}"
    )
    for o in outcomes:
        if not o.repro_audit:
            print(f"  MISSED by repro-audit: {o.plant.place}: {describe_miss(root, o.plant)}")
        elif not o.located:
            print(f"  found but not at the expected {o.plant.where}: {o.plant.place}: {o.plant.entry}/{o.plant.path}")

    def timing_table(title: str, tools: dict[str, object]) -> None:
        print()
        print(f"{title:<{label}}{'median s':>10}{'min s':>10}{'peak RSS MB':>14}{'findings':>10}"
              f"   ({figures['repeat']} runs each)")  # fmt: skip
        for name, t in tools.items():
            assert isinstance(t, dict)
            note = "  TIMED OUT" if t["timed_out"] else ""
            findings = "-" if t["findings"] is None else str(t["findings"])
            print(f"{name:<{label}}{_s(t['median_s']):>10}{_s(t['min_s']):>10}{_s(t['peak_rss_mb'], '.1f'):>14}"
                  f"{findings:>10}{note}")  # fmt: skip

    timing_table("full archive", figures["tools"])  # type: ignore[arg-type]
    ratio = figures["ratio_median"]
    bound = ">= " if figures["ratio_is_lower_bound"] else ""
    timeout = figures["detect_secrets_timeout_s"]
    why = f" (detect-secrets killed after {timeout:.0f} s: a lower bound)" if figures["ratio_is_lower_bound"] else ""
    print(f"ratio detect-secrets / repro-audit (medians), full archive: {bound}{_s(ratio, '.1f')}{why}")
    subset = figures["subset"]
    if isinstance(subset, dict):
        timing_table("subset", subset["tools"])
        print(f"  subset: {subset['definition']}: {subset['files']} files, {subset['total_mb']:.1f} MB")
        sbound = ">= " if subset["ratio_is_lower_bound"] else ""
        print(f"ratio detect-secrets / repro-audit (medians), SUBSET: {sbound}{_s(subset['ratio_median'], '.1f')}")
    history = figures["history"]
    if isinstance(history, dict):
        print()
        print(
            f"history        repro-audit check --select RA901 on {history['commits']} commits ({history['builder']}): "
            f"median {history['median_s']:.3f} s, min {history['min_s']:.3f} s, peak RSS {history['peak_rss_mb']:.1f} MB, "
            f"planted tokens found {history['found']}/{history['planted']}"
        )
    print("goals")
    rows = (
        ("repro-audit recall 100%", goals["repro_audit_recall"], ".1%"),
        (f"detect-secrets / repro-audit >= {RATIO_GOAL:.0f}", goals["ratio"], ".1f"),
        (f"history check of {_commits_text(history)} commits < {HISTORY_GOAL_S:.0f} s", goals["history"], ".3f"),
    )  # fmt: skip
    for text, goal, fmt in rows:
        value = goal["value"]
        shown = format(value, fmt) if isinstance(value, float | int) else "-"
        status = (
            "not measured" if goal["met"] is None else f"met ({shown})" if goal["met"] else f"GOAL MISSED ({shown})"
        )
        print(f"  {text:<40} {status}")
    if figures["goals_met"] is False:
        print("\nGOAL MISSED (a measurement, not a failure: the exit status stays 0)")


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = bc.parse_args([])  # the archive bench_check generates by default
    parser = argparse.ArgumentParser(
        description="Recall and speed of `repro-audit check --select secret` against `detect-secrets scan "
        "--all-files` on a synthetic challenge archive with planted tokens.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder for the archive, the history repository and the tools' outputs (default: a fresh temporary "
        "directory, removed afterwards unless --keep); what an earlier run with the same options left there is reused",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    parser.add_argument("--entries", type=benchlib.positive, default=defaults.entries, help="submissions (default 100)")
    parser.add_argument(
        "--files", type=benchlib.positive, default=defaults.files, help="generated files (default 5000)"
    )
    parser.add_argument(
        "--dockerfiles", type=benchlib.positive, help="Dockerfiles, 2 or 3 per entry (default 2.5 per entry)"
    )
    parser.add_argument("--big-binaries", type=benchlib.non_negative, default=defaults.big_binaries,
                        help="large weight files (default 3)")  # fmt: skip
    parser.add_argument("--big-binary-mb", type=benchlib.positive, default=defaults.big_binary_mb,
                        help="size of each, MiB (default 50)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed, help="generator seed (default 2023)")
    parser.add_argument("--repeat", type=benchlib.positive, default=3, help="runs per tool (default 3)")
    parser.add_argument(
        "--detect-secrets-timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="kill a detect-secrets run after this long (default 900; 0: never)",
    )
    parser.add_argument(
        "--subset",
        choices=("auto", "always", "never"),
        default="auto",
        help="also time both tools on the archive without its weight files: when detect-secrets timed out "
        "on the full archive (auto, the default), always, or never",
    )
    parser.add_argument(
        "--history-commits",
        type=benchlib.positive,
        default=2000,
        help="commits of the history repository (default 2000)",
    )
    parser.add_argument("--no-history", action="store_true", help="skip the history figure")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.dockerfiles is None:
        args.dockerfiles = round(2.5 * args.entries)
    if not 2 * args.entries <= args.dockerfiles <= 3 * args.entries:
        parser.error(
            f"--dockerfiles must be between {2 * args.entries} and {3 * args.entries} for {args.entries} entries"
        )
    if args.entries < 4:
        parser.error("--entries must be at least 4 (the planted places need Dockerfiles, notebooks and shell scripts)")
    if args.detect_secrets_timeout < 0:
        parser.error("--detect-secrets-timeout must be 0 or more")
    if args.history_commits < 40:
        parser.error("--history-commits must be at least 40")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shape = bc.Shape(args.entries, args.files, args.dockerfiles, args.big_binaries, args.big_binary_mb, args.seed)
    ds_timeout = args.detect_secrets_timeout or None
    executables = {}
    for name, hint in ((REPRO_AUDIT, "pip install -e ."), (DETECT_SECRETS, "pip install detect-secrets")):
        found = bc.find_tool(name)
        if found is None:
            print(f"error: `{name}` not found next to {sys.executable} or on PATH; install it with:\n    {hint}",
                  file=sys.stderr)  # fmt: skip
            return 2
        executables[name] = found
    if shutil.which("git") is None:
        print("error: git is needed to make the repositories of the archive", file=sys.stderr)
        return 2
    try:
        from audit.secrets.redact import fingerprint  # noqa: F401  (needed to match findings)
    except ImportError:
        print(f"error: the `audit` package is not importable from {sys.executable}; pip install -e .", file=sys.stderr)
        return 2
    env = {**os.environ, SALT_ENV: SALT}
    tools = Tools(executables[REPRO_AUDIT], executables[DETECT_SECRETS], env)
    versions = {name: f"{_version(exe)}  [{exe}]" for name, exe in executables.items()}

    temporary = args.workdir is None
    workdir: Path = Path(tempfile.mkdtemp(prefix="repro-audit-bench-secrets-")) if temporary else args.workdir
    load: dict[str, list[float]] = {"start": _load()}
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            archive = prepare_archive(workdir, shape)
            history_repo = None if args.no_history else prepare_history(workdir, args.history_commits)
        except (ValueError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        out_dir = workdir / "out"
        load["before runs"] = _load()
        try:
            print(f"timing on the full archive: {args.repeat} run(s) each", file=sys.stderr)
            full = measure(tools, archive.stats.root, out_dir, args.repeat, ds_timeout, "full")
            subset = None
            if args.subset == "always" or (args.subset == "auto" and full[DETECT_SECRETS].timed_out):
                stats = make_subset(archive.stats.root, workdir / "subset")
                print(f"timing on the subset ({stats.files} files, {stats.total_mb:.1f} MB)", file=sys.stderr)
                subset = (stats, measure(tools, stats.root, out_dir, args.repeat, ds_timeout, "subset"))
            history = None
            if history_repo is not None:
                history = measure_history(tools, history_repo, out_dir, args.repeat, SALT)
        except ToolFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            if temporary and not args.keep:
                print("(rerun with --keep to inspect the archive and the outputs)", file=sys.stderr)
            return 1
        load["end"] = _load()
        ds_report, recall_source = full[DETECT_SECRETS].report, "full archive"
        if ds_report is None and subset is not None and subset[1][DETECT_SECRETS].report is not None:
            ds_report, recall_source = subset[1][DETECT_SECRETS].report, "subset"
        if ds_report is None:
            recall_source = None
        ra_report = full[REPRO_AUDIT].report
        assert ra_report is not None  # repro-audit never times out
        outcomes, unplanted, leaked = judge(archive.plants, ra_report, ds_report, SALT)
        figures = build_figures(
            shape, archive, versions, args.repeat, ds_timeout, full, subset, outcomes, unplanted, leaked,
            recall_source, history, load,
        )  # fmt: skip
        print_report(figures, outcomes, archive.stats.root)
        benchlib.write_figures(args.json, figures)
        return 0
    finally:
        benchlib.leave_workdir(workdir, temporary, args.keep)


if __name__ == "__main__":
    sys.exit(main())
