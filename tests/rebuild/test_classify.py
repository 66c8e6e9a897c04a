"""rebuild.classify: hand-written build logs of every failure class, the tricky cases between classes,
evidence line numbers, junk input; and (marked docker) the fixtures under fixtures/builds/ really built."""

from __future__ import annotations

import contextlib
import random
import re
import string
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rebuild.classify import (
    DAEMON_MESSAGE_LINE,
    MAX_EVIDENCE,
    SIGNALS,
    Failure,
    FailureClass,
    classify,
    run_exit_code,
    strip_ansi,
)
from rebuild.engine import created_images

RED, RESET = "\x1b[91m", "\x1b[0m"
CROSS = "\u00d7"  # pip frames a failed subprocess with it
BUILDS = Path(__file__).resolve().parents[2] / "fixtures" / "builds"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((BUILDS / "expected.toml").read_text(encoding="utf-8"))


def lines(text: str) -> list[str]:
    """A log as the build stage keeps it: the stream text split into lines."""
    return text.strip("\n").split("\n")


def numbered(log: list[str], needle: str) -> int:
    """The 1-based number of the one log line holding `needle`."""
    found = [i for i, line in enumerate(log, start=1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def evidence_lines(failure: Failure) -> list[int]:
    return [number for number, _ in failure.evidence]


def command_failed(command: str, code: int) -> str:
    return f"The command '/bin/sh -c {command}' returned a non-zero code: {code}"


# ---- logs, written the way the classic builder, pip 23/24, gcc, nvcc, apt, wget, curl and git print -------

HEAD = """\
Step 1/6 : FROM python:3.11-slim
 ---> 3a5b1c9d0e2f
Step 2/6 : WORKDIR /app
 ---> Using cache
 ---> 7c1d2e3f4a5b
Step 3/6 : COPY requirements.txt .
 ---> 9e8d7c6b5a43
"""

PIP_OFFLINE = f"""\
{HEAD}Step 4/6 : RUN pip install --no-cache-dir -r requirements.txt
 ---> Running in 5f0e4d3c2b1a
{RED}WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f3b2c1d0e50>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/torch/
{RESET}{RED}WARNING: Retrying (Retry(total=3, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f3b2c1d1a90>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/torch/
{RESET}{RED}WARNING: Retrying (Retry(total=2, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f3b2c1d2b10>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/torch/
{RESET}{RED}WARNING: Retrying (Retry(total=1, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f3b2c1d3c50>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/torch/
{RESET}{RED}WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f3b2c1d4d90>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/torch/
{RESET}{RED}ERROR: Could not find a version that satisfies the requirement torch==2.1.0 (from versions: none)
ERROR: No matching distribution found for torch==2.1.0
{RESET}Removing intermediate container 5f0e4d3c2b1a
"""

PIP_NO_INDEX = f"""\
{HEAD}Step 4/6 : RUN pip install --no-index --find-links /wheels -r requirements.txt
 ---> Running in 0a9b8c7d6e5f
Looking in links: /wheels
Processing /wheels/numpy-1.26.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
{RED}ERROR: Could not find a version that satisfies the requirement peft==0.5.0 (from versions: none)
{RESET}{RED}ERROR: No matching distribution found for peft==0.5.0
{RESET}Removing intermediate container 0a9b8c7d6e5f
"""

PIP_CONFLICT = f"""\
{HEAD}Step 4/6 : RUN pip install -r requirements.txt
 ---> Running in 6e5d4c3b2a19
Collecting transformers==4.30.0 (from -r requirements.txt (line 1))
  Downloading transformers-4.30.0-py3-none-any.whl (7.2 MB)
     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 7.2/7.2 MB 48.1 MB/s eta 0:00:00
Collecting tokenizers==0.15.0 (from -r requirements.txt (line 2))
  Downloading tokenizers-0.15.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl (3.8 MB)
     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 3.8/3.8 MB 61.0 MB/s eta 0:00:00
INFO: pip is looking at multiple versions of transformers to determine which version is compatible with other requirements. This could take a while.
{RED}ERROR: Cannot install -r requirements.txt (line 1) and tokenizers==0.15.0 because these package versions have conflicting dependencies.
{RESET}
The conflict is caused by:
    The user requested tokenizers==0.15.0
    transformers 4.30.0 depends on tokenizers!=0.11.3, <0.14 and >=0.11.1

To fix this you could try to:
1. loosen the range of package versions you've specified
2. remove package versions to allow pip attempt to solve the dependency conflict

{RED}ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts
{RESET}Removing intermediate container 6e5d4c3b2a19
"""

# a flaky connection pip got over: the index answered, the pinned local version is just not on it
PIP_WRONG_INDEX = f"""\
{HEAD}Step 4/6 : RUN pip install torch==2.1.0+cu121
 ---> Running in 2b3c4d5e6f70
{RED}WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ReadTimeoutError("HTTPSConnectionPool(host='pypi.org', port=443): Read timed out. (read timeout=15)")': /simple/torch/
{RESET}{RED}ERROR: Could not find a version that satisfies the requirement torch==2.1.0+cu121 (from versions: 1.13.0, 1.13.1, 2.0.0, 2.0.1, 2.1.0, 2.1.1, 2.1.2)
ERROR: No matching distribution found for torch==2.1.0+cu121
{RESET}Removing intermediate container 2b3c4d5e6f70
"""

WHEEL_WITH_GCC_ERROR = f"""\
{HEAD}Step 4/6 : RUN pip install fasttext==0.9.2
 ---> Running in 7d8e9f0a1b2c
Collecting fasttext==0.9.2
  Downloading fasttext-0.9.2.tar.gz (68 kB)
     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 68.8/68.8 kB 9.4 MB/s eta 0:00:00
  Preparing metadata (setup.py): started
  Preparing metadata (setup.py): finished with status 'done'
Building wheels for collected packages: fasttext
  Building wheel for fasttext (setup.py): started
  Building wheel for fasttext (setup.py): finished with status 'error'
{RED}  error: subprocess-exited-with-error

  {CROSS} python setup.py bdist_wheel did not run successfully.
  │ exit code: 1
  ╰─> [14 lines of output]
      running bdist_wheel
      running build
      running build_ext
      building 'fasttext_pybind' extension
      creating build/temp.linux-x86_64-cpython-311/python/fasttext_module/fasttext/pybind
      x86_64-linux-gnu-gcc -Wsign-compare -DNDEBUG -g -fwrapv -O2 -Wall -fPIC -Isrc -I/usr/local/include/python3.11 -c python/fasttext_module/fasttext/pybind/fasttext_pybind.cc -o build/temp.linux-x86_64-cpython-311/fasttext_pybind.o -std=c++17
      python/fasttext_module/fasttext/pybind/fasttext_pybind.cc:9:10: fatal error: pybind11/pybind11.h: No such file or directory
          9 | #include <pybind11/pybind11.h>
            |          ^~~~~~~~~~~~~~~~~~~~~
      compilation terminated.
      error: command '/usr/bin/x86_64-linux-gnu-gcc' failed with exit code 1
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
  ERROR: Failed building wheel for fasttext
{RESET}  Running setup.py clean for fasttext
Failed to build fasttext
{RED}ERROR: Could not build wheels for fasttext, which is required to install pyproject.toml-based projects
{RESET}Removing intermediate container 7d8e9f0a1b2c
"""

FLASH_ATTN_NVCC = f"""\
{HEAD}Step 4/6 : RUN MAX_JOBS=4 pip install flash-attn==2.3.6 --no-build-isolation
 ---> Running in 8e9f0a1b2c3d
Collecting flash-attn==2.3.6
  Downloading flash_attn-2.3.6.tar.gz (2.3 MB)
  Preparing metadata (setup.py): finished with status 'done'
Building wheels for collected packages: flash-attn
  Building wheel for flash-attn (setup.py): finished with status 'error'
{RED}  error: subprocess-exited-with-error
  ╰─> [9 lines of output]
      Guessing wheel URL:  https://github.com/Dao-AILab/flash-attention/releases/download/v2.3.6/flash_attn-2.3.6+cu122torch2.1cxx11abiFALSE-cp311-cp311-linux_x86_64.whl
      Precompiled wheel not found. Building from source...
      [1/49] /usr/local/cuda/bin/nvcc -I/usr/local/lib/python3.11/site-packages/torch/include -c csrc/flash_attn/src/flash_fwd_hdim128_fp16_sm80.cu -o build/temp.linux-x86_64-cpython-311/csrc/flash_attn/src/flash_fwd_hdim128_fp16_sm80.o -gencode arch=compute_90,code=sm_90
      FAILED: /tmp/pip-install-x7y8z9/flash-attn_1a2b/build/temp.linux-x86_64-cpython-311/csrc/flash_attn/src/flash_fwd_hdim128_fp16_sm80.o
      nvcc fatal   : Unsupported gpu architecture 'compute_90'
      ninja: build stopped: subcommand failed.
      RuntimeError: Error compiling objects for extension
      [end of output]
  ERROR: Failed building wheel for flash-attn
{RESET}Removing intermediate container 8e9f0a1b2c3d
"""

CUDA_HOME_MISSING = f"""\
{HEAD}Step 4/6 : RUN pip install deepspeed==0.12.6
 ---> Running in 9f0a1b2c3d4e
Collecting deepspeed==0.12.6
  Downloading deepspeed-0.12.6.tar.gz (1.2 MB)
  Preparing metadata (setup.py): finished with status 'error'
{RED}  error: subprocess-exited-with-error
      [WARNING] Unable to import torch, pre-compiling ops will be disabled.
      No CUDA runtime is found, using CUDA_HOME='/usr/local/cuda'
      OSError: CUDA_HOME environment variable is not set. Please set it to your CUDA install root.
      [end of output]
error: metadata-generation-failed
{RESET}Removing intermediate container 9f0a1b2c3d4e
"""

CC1PLUS_KILLED = f"""\
{HEAD}Step 4/6 : RUN pip install xformers==0.0.22 --no-binary xformers
 ---> Running in 0a1b2c3d4e5f
Building wheels for collected packages: xformers
  Building wheel for xformers (setup.py): finished with status 'error'
{RED}  error: subprocess-exited-with-error
      [14/212] c++ -MMD -MF build/temp/xformers/csrc/attention/attention.o.d -O3 -std=c++17 -c xformers/csrc/attention/attention.cpp
      FAILED: build/temp/xformers/csrc/attention/attention.o
      c++: fatal error: Killed signal terminated program cc1plus
      compilation terminated.
      ninja: build stopped: subcommand failed.
      RuntimeError: Error compiling objects for extension
  ERROR: Failed building wheel for xformers
{RESET}Removing intermediate container 0a1b2c3d4e5f
"""

KILLED_137 = f"""\
{HEAD}Step 4/6 : RUN python scripts/merge_lora.py --base /models/base --out /models/merged
 ---> Running in 1b2c3d4e5f60
loading base model (13B, fp16)...
{RED}Killed
{RESET}Removing intermediate container 1b2c3d4e5f60
"""

TRACEBACK = f"""\
{HEAD}Step 4/6 : RUN python scripts/convert_checkpoint.py --checkpoint checkpoints/final.pt
 ---> Running in 2c3d4e5f6a7b
converting checkpoints/final.pt
{RED}Traceback (most recent call last):
  File "/app/scripts/convert_checkpoint.py", line 41, in <module>
    main()
  File "/app/scripts/convert_checkpoint.py", line 33, in main
    state = load(args.checkpoint)
            ^^^^^^^^^^^^^^^^^^^^^
  File "/app/scripts/convert_checkpoint.py", line 12, in load
    with open(path, "rb") as handle:
         ^^^^^^^^^^^^^^^^
FileNotFoundError: [Errno 2] No such file or directory: 'checkpoints/final.pt'
{RESET}Removing intermediate container 2c3d4e5f6a7b
"""

APT_OFFLINE = """\
Step 1/4 : FROM debian:bookworm-slim
 ---> 5d6e7f8a9b0c
Step 2/4 : RUN apt-get update && apt-get install -y --no-install-recommends git-lfs
 ---> Running in 3d4e5f6a7b8c
Ign:1 http://deb.debian.org/debian bookworm InRelease
Ign:2 http://deb.debian.org/debian bookworm-updates InRelease
Ign:3 http://deb.debian.org/debian-security bookworm-security InRelease
Err:1 http://deb.debian.org/debian bookworm InRelease
  Temporary failure resolving 'deb.debian.org'
Err:2 http://deb.debian.org/debian bookworm-updates InRelease
  Temporary failure resolving 'deb.debian.org'
Reading package lists...
\x1b[91mW: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'
W: Some index files failed to download. They have been ignored, or old ones used instead.
\x1b[0mReading package lists...
Building dependency tree...
\x1b[91mE: Unable to locate package git-lfs
\x1b[0mRemoving intermediate container 3d4e5f6a7b8c
"""


# ---- one class at a time ---------------------------------------------------------------------------


def test_network_pip_that_never_reached_the_index() -> None:
    log = lines(PIP_OFFLINE)
    failure = classify(log, command_failed("pip install --no-cache-dir -r requirements.txt", 1))
    assert failure.kind is FailureClass.NETWORK
    assert failure.subject == "torch"
    assert failure.exit_code == 1
    assert failure.step == "Step 4/6 : RUN pip install --no-cache-dir -r requirements.txt"
    assert "could not reach the package index" in failure.summary
    first_retry = numbered(log, "Retry(total=4")
    assert evidence_lines(failure)[:3] == [first_retry, first_retry + 1, first_retry + 2]
    # the overridden "no matching distribution" stays visible: it is what the entrant saw last
    assert numbered(log, "No matching distribution found for torch==2.1.0") in evidence_lines(failure)


def test_dependency_pip_no_index_without_retries() -> None:
    log = lines(PIP_NO_INDEX)
    failure = classify(log, command_failed("pip install --no-index --find-links /wheels -r requirements.txt", 1))
    assert failure.kind is FailureClass.DEPENDENCY
    assert failure.subject == "peft==0.5.0"
    assert failure.summary == "pip found no version of peft==0.5.0 on the index it could reach"
    assert evidence_lines(failure) == [
        numbered(log, "satisfies the requirement peft==0.5.0"),
        numbered(log, "No matching distribution found for peft==0.5.0"),
    ]
    assert all("\x1b" not in text for _, text in failure.evidence)


def test_dependency_conflicting_pins_resolution_impossible() -> None:
    log = lines(PIP_CONFLICT)
    failure = classify(log, command_failed("pip install -r requirements.txt", 1))
    assert failure.kind is FailureClass.DEPENDENCY
    assert failure.subject == "-r requirements.txt (line 1) and tokenizers==0.15.0"
    assert "conflict" in failure.summary
    shown = evidence_lines(failure)
    for needle in ("Cannot install", "The conflict is caused by:", "The user requested tokenizers==0.15.0",
                   "transformers 4.30.0 depends on", "ResolutionImpossible"):  # fmt: skip
        assert numbered(log, needle) in shown
    assert shown == sorted(shown)


def test_dependency_when_the_index_answered_despite_a_retry() -> None:
    log = lines(PIP_WRONG_INDEX)
    failure = classify(log, command_failed("pip install torch==2.1.0+cu121", 1))
    assert failure.kind is FailureClass.DEPENDENCY
    assert failure.subject == "torch==2.1.0+cu121"
    assert "2.1.0, 2.1.1" in failure.summary


def test_dependency_apt_package_unknown() -> None:
    log = lines("""\
Step 2/3 : RUN apt-get update && apt-get install -y libcudnn8=8.9.2.26-1+cuda12.1
 ---> Running in 4e5f6a7b8c9d
Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]
Fetched 9003 kB in 2s (4512 kB/s)
Reading package lists...
Building dependency tree...
\x1b[91mE: Version '8.9.2.26-1+cuda12.1' for 'libcudnn8' was not found
\x1b[0mRemoving intermediate container 4e5f6a7b8c9d
""")
    failure = classify(log, command_failed("apt-get update && apt-get install -y libcudnn8=8.9.2.26-1+cuda12.1", 100))
    assert failure.kind is FailureClass.DEPENDENCY
    assert failure.subject == "libcudnn8"
    assert failure.exit_code == 100
    assert evidence_lines(failure) == [numbered(log, "E: Version")]


def test_network_apt_mirror_unresolvable_beats_unable_to_locate() -> None:
    log = lines(APT_OFFLINE)
    failure = classify(log, command_failed("apt-get update && apt-get install -y --no-install-recommends git-lfs", 100))
    assert failure.kind is FailureClass.NETWORK
    assert failure.subject == "deb.debian.org"
    assert numbered(log, "E: Unable to locate package git-lfs") in evidence_lines(failure)


@pytest.mark.parametrize(
    ("output", "subject"),
    [
        ("wget: bad address 'huggingface.co'", "huggingface.co"),
        ("curl: (6) Could not resolve host: huggingface.co", None),
        ("curl: (28) Failed to connect to github.com port 443 after 129543 ms: Connection timed out", None),
        ("curl: (60) SSL certificate problem: unable to get local issuer certificate", None),
        (
            "fatal: unable to access 'https://github.com/Dao-AILab/flash-attention.git/': Could not resolve host: github.com",
            "https://github.com/Dao-AILab/flash-attention.git/",
        ),
        ("ssh: Could not resolve hostname github.com: Temporary failure in name resolution", None),
        (
            "--2024-03-02 10:15:01--  https://example.org/weights.bin\nResolving example.org (example.org)... failed: Temporary failure in name resolution.\nwget: unable to resolve host address 'example.org'",
            None,
        ),
    ],
)
def test_network_download_tools(output: str, subject: str | None) -> None:
    log = ["Step 3/4 : RUN ./download_weights.sh", " ---> Running in 5f6a7b8c9d0e", RED + output + "\n" + RESET]
    failure = classify(log, command_failed("./download_weights.sh", 1))
    assert failure.kind is FailureClass.NETWORK
    assert evidence_lines(failure)[0] == 3
    if subject is not None:
        assert failure.subject == subject


def test_compilation_inside_failed_building_wheel() -> None:
    log = lines(WHEEL_WITH_GCC_ERROR)
    failure = classify(log, command_failed("pip install fasttext==0.9.2", 1))
    assert failure.kind is FailureClass.COMPILATION
    assert failure.subject == "fasttext"
    assert "pybind11/pybind11.h" in failure.summary
    shown = evidence_lines(failure)
    assert numbered(log, "fatal error: pybind11/pybind11.h") in shown
    assert shown == sorted(shown)  # in log order: the summary already says what matters most
    assert numbered(log, "error: command '/usr/bin/x86_64-linux-gnu-gcc' failed") in shown
    assert numbered(log, "ERROR: Failed building wheel for fasttext") in shown


def test_compilation_nvcc_in_a_flash_attn_build() -> None:
    log = lines(FLASH_ATTN_NVCC)
    failure = classify(log, command_failed("MAX_JOBS=4 pip install flash-attn==2.3.6 --no-build-isolation", 1))
    assert failure.kind is FailureClass.COMPILATION
    assert failure.subject == "flash-attn"
    assert "Unsupported gpu architecture 'compute_90'" in failure.summary
    assert numbered(log, "nvcc fatal") in evidence_lines(failure)


def test_compilation_cuda_home_not_set() -> None:
    log = lines(CUDA_HOME_MISSING)
    failure = classify(log, command_failed("pip install deepspeed==0.12.6", 1))
    assert failure.kind is FailureClass.COMPILATION
    assert "CUDA" in failure.summary
    assert numbered(log, "CUDA_HOME environment variable is not set") in evidence_lines(failure)


def test_timeout_wins_over_the_kill_exit_code() -> None:
    log = lines("""\
Step 1/6 : FROM repro-audit-local/busybox:1.35
 ---> f014af287bea
Step 4/6 : RUN sh fetch_weights.sh
 ---> Running in 2dd6772de54d
waiting for the weights mirror...
Removing intermediate container 2dd6772de54d
""")
    failure = classify(log, command_failed("sh fetch_weights.sh", 137), timed_out=True)
    assert failure.kind is FailureClass.TIMEOUT
    assert failure.exit_code is None  # 137 here is the deadline's kill, not the RUN's own doing
    assert "deadline" in failure.summary and "RUN sh fetch_weights.sh" in failure.summary
    assert evidence_lines(failure) == [3, 5]
    assert classify([], None, timed_out=True).kind is FailureClass.TIMEOUT


def test_out_of_memory_killed_and_137() -> None:
    log = lines(KILLED_137)
    error = command_failed("python scripts/merge_lora.py --base /models/base --out /models/merged", 137)
    failure = classify(log, error)
    assert failure.kind is FailureClass.OUT_OF_MEMORY
    assert failure.exit_code == 137
    assert "killed, most likely for memory (exit 137)" in failure.summary
    assert failure.evidence == ((numbered(log, "Killed"), "Killed"), (DAEMON_MESSAGE_LINE, error))


def test_out_of_memory_compiler_killed_beats_the_compile_failure() -> None:
    failure = classify(lines(CC1PLUS_KILLED), command_failed("pip install xformers==0.0.22 --no-binary xformers", 1))
    assert failure.kind is FailureClass.OUT_OF_MEMORY
    assert failure.subject == "cc1plus"
    assert "MAX_JOBS" in failure.summary


def test_out_of_memory_python_memory_error() -> None:
    log = ["Step 5/6 : RUN python build_index.py", RED + "MemoryError" + RESET]
    assert classify(log, command_failed("python build_index.py", 1)).kind is FailureClass.OUT_OF_MEMORY


def test_run_failed_script_exit_code_and_its_error_line() -> None:
    log = lines(f"""\
Step 4/6 : RUN python prepare_data.py --split validation
 ---> Running in b14793cc0141
{RED}error: data/validation.csv not found; run scripts/download_data.sh first
{RESET}preparing split 'validation' from data/validation.csv
Removing intermediate container b14793cc0141
""")
    error = command_failed("python prepare_data.py --split validation", 2)
    failure = classify(log, error)
    assert failure.kind is FailureClass.RUN_FAILED
    assert failure.exit_code == 2
    assert failure.summary == (
        "`RUN python prepare_data.py --split validation` failed with exit code 2: "
        "error: data/validation.csv not found; run scripts/download_data.sh first"
    )
    assert evidence_lines(failure) == [3, DAEMON_MESSAGE_LINE]


def test_run_failed_python_traceback_names_the_final_exception() -> None:
    log = lines(TRACEBACK)
    failure = classify(log, command_failed("python scripts/convert_checkpoint.py --checkpoint checkpoints/final.pt", 1))
    assert failure.kind is FailureClass.RUN_FAILED
    assert "FileNotFoundError: [Errno 2] No such file or directory: 'checkpoints/final.pt'" in failure.summary
    assert numbered(log, "FileNotFoundError") in evidence_lines(failure)


def test_run_failed_command_not_found() -> None:
    log = [
        "Step 3/4 : RUN nvidia-smi",
        " ---> Running in 9ef803c810b5",
        RED + "/bin/sh: 1: nvidia-smi: not found\n" + RESET,
    ]
    failure = classify(log, command_failed("nvidia-smi", 127))
    assert failure.kind is FailureClass.RUN_FAILED
    assert failure.subject == "nvidia-smi"
    assert failure.exit_code == 127


def test_run_failed_with_nothing_recognisable_cites_the_last_stderr_lines() -> None:
    log = [
        "Step 2/3 : RUN ./check.sh",
        " ---> Running in 0f1e2d3c4b5a",
        "checking inputs",
        RED + "inputs look odd\n" + RESET,
        RED + "giving up\n" + RESET,
        "Removing intermediate container 0f1e2d3c4b5a",
    ]
    failure = classify(log, command_failed("./check.sh", 4))
    assert failure.kind is FailureClass.RUN_FAILED
    assert failure.summary == "`RUN ./check.sh` failed with exit code 4: giving up"
    assert evidence_lines(failure) == [4, 5, DAEMON_MESSAGE_LINE]


def test_missing_file_from_the_copy_error() -> None:
    log = lines("""\
Step 1/6 : FROM repro-audit-local/python:3.11-bookworm
 ---> 0e79608d3074
Step 2/6 : WORKDIR /app
 ---> Running in 46ba4be80519
Removing intermediate container 46ba4be80519
 ---> 5277a710dd7c
Step 3/6 : COPY main.py .
 ---> 24d49c2afa84
Step 4/6 : COPY weights/adapter_model.bin /app/
""")
    error = (
        "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat weights/adapter_model.bin: file does not exist"
    )
    failure = classify(log, error)
    assert failure.kind is FailureClass.MISSING_FILE
    assert failure.subject == "weights/adapter_model.bin"
    assert failure.step == "Step 4/6 : COPY weights/adapter_model.bin /app/"
    assert failure.exit_code is None
    assert failure.evidence == ((9, "Step 4/6 : COPY weights/adapter_model.bin /app/"), (DAEMON_MESSAGE_LINE, error))
    # a build stage that also logs the daemon's message: the evidence points at that line
    logged = classify([*log, error], error)
    assert logged.kind is FailureClass.MISSING_FILE
    assert evidence_lines(logged) == [9, 10]
    assert classify([*log, error], None).kind is FailureClass.MISSING_FILE


def test_missing_file_outside_the_context_and_empty_glob() -> None:
    outside = classify(
        ["Step 2/3 : COPY ../secret.txt /x"], "COPY failed: forbidden path outside the build context: ../secret.txt ()"
    )
    assert (outside.kind, outside.subject) == (FailureClass.MISSING_FILE, "../secret.txt")
    glob = classify(["Step 2/3 : COPY *.bin /x/"], "COPY failed: no source files were specified")
    assert (glob.kind, glob.subject) == (FailureClass.MISSING_FILE, "*.bin")


@pytest.mark.parametrize(
    ("error", "summary_part"),
    [
        (
            "pull access denied for acme/llm-base, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            "does not exist or is private",
        ),
        ("manifest for acme/llm-base:2.1-cuda12 not found: manifest unknown: manifest unknown", "has no such tag"),
        (
            'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host',
            "registry-1.docker.io cannot be reached",
        ),
        ("invalid reference format: repository name must be lowercase", "not valid"),
    ],
)
def test_base_image(error: str, summary_part: str) -> None:
    log = ["Step 1/5 : FROM acme/llm-base:2.1-cuda12", "\n"]
    failure = classify(log, error)
    assert failure.kind is FailureClass.BASE_IMAGE
    assert failure.subject == "acme/llm-base:2.1-cuda12"  # the reference as the Dockerfile spells it
    assert summary_part in failure.summary
    assert failure.evidence == ((1, "Step 1/5 : FROM acme/llm-base:2.1-cuda12"), (DAEMON_MESSAGE_LINE, error))


@pytest.mark.parametrize(
    ("error", "subject"),
    [
        ("dockerfile parse error line 7: unknown instruction: PIP", "PIP"),
        ("no build stage in current context", None),
        ("the Dockerfile (Dockerfile.train) cannot be empty", "Dockerfile.train"),
        ("failed to parse Dockerfile: ENV must have two arguments", "Dockerfile"),
        ("Cannot locate specified Dockerfile: inference/Dockerfile", "inference/Dockerfile"),
    ],
)
def test_invalid_dockerfile(error: str, subject: str | None) -> None:
    failure = classify([], error)
    assert failure.kind is FailureClass.INVALID_DOCKERFILE
    assert failure.subject == subject
    assert failure.step is None
    assert failure.evidence == ((DAEMON_MESSAGE_LINE, error),)


def test_engine_disk_full_in_the_daemon_message_and_in_a_run() -> None:
    error = (
        "failed to register layer: Error processing tar file(exit status 1): write "
        "/usr/local/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so: no space left on device"
    )
    assert classify(["Step 5/7 : RUN pip install torch==2.1.0"], error).kind is FailureClass.ENGINE
    log = [
        "Step 5/7 : RUN pip install torch==2.1.0",
        RED + "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n" + RESET,
    ]
    failure = classify(log, command_failed("pip install torch==2.1.0", 1))
    assert failure.kind is FailureClass.ENGINE
    assert evidence_lines(failure)[0] == 2


def test_engine_unknown_daemon_message_and_nothing_at_all() -> None:
    failure = classify(["Step 2/4 : RUN make"], "the builder reached a state it does not know")
    assert failure.kind is FailureClass.ENGINE
    assert "the builder reached a state it does not know" in failure.summary
    empty = classify([], None)
    assert (empty.kind, empty.evidence, empty.step, empty.exit_code) == (FailureClass.ENGINE, (), None, None)


# ---- reading the log -------------------------------------------------------------------------------


def test_only_the_failing_step_counts() -> None:
    log = lines(f"""\
Step 3/5 : RUN pip install numpy==1.26.2
 ---> Running in 1f2e3d4c5b6a
{RED}WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f0a>: Failed to establish a new connection: [Errno 101] Network is unreachable')': /simple/numpy/
{RESET}Collecting numpy==1.26.2
Successfully installed numpy-1.26.2
 ---> 6a5b4c3d2e1f
Step 4/5 : RUN python -c "import numpy; assert numpy.__version__ == '2.0.0'"
 ---> Running in 7b6a5c4d3e2f
{RED}AssertionError
{RESET}Removing intermediate container 7b6a5c4d3e2f
""")
    failure = classify(log, command_failed("python -c \"import numpy; assert numpy.__version__ == '2.0.0'\"", 1))
    assert failure.kind is FailureClass.RUN_FAILED
    assert failure.step is not None and failure.step.startswith("Step 4/5")


def test_evidence_numbers_follow_the_elements_of_a_chunked_stream() -> None:
    """The stream as the Engine API sends it: headers and their newline apart, several lines per chunk."""
    log = [
        "Step 1/6 : FROM repro-audit-local/python:3.11-bookworm",  # 1
        "\n",  # 2
        " ---> 0e79608d3074\n",  # 3
        "Step 3/6 : RUN pip install transformers",  # 4
        "\n",  # 5
        " ---> Running in 28e1f96c3f93\n",  # 6
        f"{RED}WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after "
        "connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at "
        "0x7f6979951350>: Failed to establish a new connection: [Errno -3] Temporary failure in name "
        f"resolution')': /simple/transformers/\n{RESET}",  # 7
        f"{RED}ERROR: Could not find a version that satisfies the requirement transformers (from versions: none)\n"
        f"ERROR: No matching distribution found for transformers\n{RESET}",  # 8: two lines, one element
        "Removing intermediate container 28e1f96c3f93\n",  # 9
    ]
    failure = classify(log, command_failed("pip install transformers", 1))
    assert failure.kind is FailureClass.NETWORK
    assert failure.step == "Step 3/6 : RUN pip install transformers"
    assert evidence_lines(failure) == [7, 8, 8]
    assert [text.split(":")[0] for _, text in failure.evidence] == ["WARNING", "ERROR", "ERROR"]


def test_evidence_is_bounded() -> None:
    log = ["Step 2/3 : RUN make -j8"] + [
        f"src/kernel_{i}.c:{i}:1: error: expected ';' before '}}' token" for i in range(50)
    ]
    failure = classify(log, command_failed("make -j8", 2))
    assert failure.kind is FailureClass.COMPILATION
    assert 0 < len(failure.evidence) <= MAX_EVIDENCE
    assert evidence_lines(failure)[0] == 2  # the first compiler error, the one that matters


def test_strip_ansi_and_run_exit_code() -> None:
    assert strip_ansi(f"{RED}ERROR: x{RESET}") == "ERROR: x"
    assert strip_ansi("\x1b[1;31mbold red\x1b[m \x1b]0;title\x07done") == "bold red done"
    assert run_exit_code("The command '/bin/sh -c exit 3' returned a non-zero code: 3") == 3
    assert run_exit_code('process "/bin/sh -c exit 3" did not complete successfully: exit code: 3') == 3
    assert run_exit_code("COPY failed: no source files were specified") is None
    assert run_exit_code(None) is None
    assert run_exit_code("returned a non-zero code: 99999999999999999999") is None


def test_an_exit_code_given_wins_over_the_message() -> None:
    assert classify(["Step 2/2 : RUN x"], command_failed("x", 1), exit_code=137).kind is FailureClass.OUT_OF_MEMORY


def test_an_exit_code_without_any_message() -> None:
    killed = classify(["Step 2/2 : RUN python train.py", " ---> Running in 3e4f5a6b7c8d"], None, exit_code=137)
    assert (killed.kind, killed.exit_code) == (FailureClass.OUT_OF_MEMORY, 137)
    assert killed.evidence == ((DAEMON_MESSAGE_LINE, "exit code 137"),)
    plain = classify(["Step 2/2 : RUN python train.py", RED + "bad config\n" + RESET], None, exit_code=3)
    assert (plain.kind, plain.summary) == (
        FailureClass.RUN_FAILED,
        "`RUN python train.py` failed with exit code 3: bad config",
    )


def test_a_registry_address_in_an_add_step_is_a_download_not_a_base_image() -> None:
    error = (
        'Get "https://example.org/weights/adapter.bin": dial tcp: lookup example.org on 10.255.255.53:53: no such host'
    )
    add = classify(["Step 3/5 : ADD https://example.org/weights/adapter.bin /app/"], error)
    assert (add.kind, add.subject) == (FailureClass.NETWORK, "https://example.org/weights/adapter.bin")
    assert classify(["Step 1/5 : FROM acme/llm-base:2.1"], error).kind is FailureClass.BASE_IMAGE


def _junk(rng: random.Random) -> object:
    alphabet = string.printable + "\x00\x1b\x07\x7f\u2501\ufffd\ud7ff"
    pieces = [
        "\x1b[91m",
        "\x1b[0m",
        "\x1b[",
        "\x1b]0;",
        "Step ",
        "Step 1/1 : ",
        " : ",
        "\r",
        "\n",
        "returned a non-zero code: ",
    ]
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    if kind == 1:
        return None
    if kind == 2:
        return rng.randrange(-(10**30), 10**30)
    return "".join(
        rng.choice(pieces) if rng.random() < 0.2 else rng.choice(alphabet) for _ in range(rng.randrange(300))
    )


def test_junk_never_raises() -> None:
    rng = random.Random(20240302)
    for _ in range(400):
        log: Any = [_junk(rng) for _ in range(rng.randrange(12))]
        error: Any = _junk(rng)
        failure = classify(log, error, exit_code=rng.choice([None, 1, 137, -1]), timed_out=rng.random() < 0.1)
        assert isinstance(failure.kind, FailureClass)
        assert isinstance(failure.summary, str) and failure.summary
        assert len(failure.evidence) <= MAX_EVIDENCE
        for number, text in failure.evidence:
            assert 0 <= number <= len(log)
            assert "\x1b" not in text and "\x00" not in text
    weird: Any = b"\xff\xfe binary \x00 junk"
    assert isinstance(classify(weird, weird), Failure)
    assert isinstance(classify(["x" * 1_000_000, "error: " * 100_000], "\x00" * 10), Failure)


def test_every_summary_names_only_known_values() -> None:
    context = {"subject", "instruction", "code", "detail"}
    for signal in SIGNALS:
        allowed = context | set(signal.regex.groupindex)
        assert signal.summaries, signal.regex.pattern
        for template in signal.summaries:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
            assert names <= allowed, (template, names - allowed)
    covered = {signal.kind for signal in SIGNALS}
    assert covered == set(FailureClass) - {FailureClass.TIMEOUT}


# ---- the fixtures ----------------------------------------------------------------------------------

FIXTURE_KEYS = {"outcome", "memory", "network", "deadline", "predicted_by"}


def test_expected_toml_covers_every_fixture_with_known_keys() -> None:
    folders = {path.name for path in BUILDS.iterdir() if path.is_dir()}
    assert set(EXPECTED) == folders
    outcomes = {"built"} | {kind.value for kind in FailureClass}
    for name, table in EXPECTED.items():
        assert set(table) <= FIXTURE_KEYS, name
        assert table["outcome"] in outcomes, name
        assert re.fullmatch(r"\d+[kmg]", table.get("memory", "1m")), name
        assert table.get("network", False) is False, name
        assert re.fullmatch(r"\d+s", table.get("deadline", "1s")), name
        assert all(re.fullmatch(r"RA\d{3}", rule) for rule in table["predicted_by"]), name


def test_fixtures_are_small_and_hold_no_token() -> None:
    token = re.compile(r"hf_[A-Za-z0-9]{30,}")
    for path in BUILDS.rglob("*"):
        if path.is_file():
            assert path.stat().st_size < 8192, path
            assert not token.search(path.read_text(encoding="utf-8")), path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_predicted_by_is_what_the_static_check_reports(name: str) -> None:
    from audit.engine import CheckOptions, run_check

    reported = {finding.rule for finding in run_check([BUILDS / name], CheckOptions(jobs=1)).all_findings()}
    assert set(EXPECTED[name]["predicted_by"]) <= reported


# ---- really built (Docker) -------------------------------------------------------------------------


def _build(
    client: Any, context: Path, dockerfile: str = "Dockerfile", **options: Any
) -> tuple[list[str], str | None, int | None]:
    """(log lines, the daemon's error message, the RUN's exit code) of a real build; the images it
    made are removed afterwards."""
    import docker.errors

    stream: list[str] = []
    error: str | None = None
    code: int | None = None
    try:
        # nocache: every layer is this build's own, so no other build's clean-up can pull one from under it
        for item in client.api.build(
            path=str(context), dockerfile=dockerfile, rm=True, forcerm=True, nocache=True, decode=True,
            labels={"org.repro-audit.run": "test-classify"}, **options,
        ):  # fmt: skip
            if "stream" in item:
                stream.append(item["stream"])
            if "error" in item or "errorDetail" in item:
                detail = item.get("errorDetail") or {}
                error = detail.get("message") or item.get("error")
                code = detail.get("code")
    except docker.errors.APIError as exc:  # a Dockerfile the daemon refuses before building
        error = str(exc.explanation)
    finally:
        for image in reversed(created_images("".join(stream))):  # newest first
            # an image another build now uses as cache stays, and one gone already is fine
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image, force=True)
    return "".join(stream).splitlines(), error, code


def _options(table: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "memory" in table:
        units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
        size = int(table["memory"][:-1]) * units[table["memory"][-1]]
        options["container_limits"] = {"memory": size, "memswap": size}
    if table.get("network") is False:
        options["network_mode"] = "none"
    return options


FAILING = sorted(name for name, table in EXPECTED.items() if table["outcome"] not in {"built", "timeout"})
BUILT = sorted(name for name, table in EXPECTED.items() if table["outcome"] == "built")


@pytest.mark.docker
@pytest.mark.parametrize("name", FAILING)
def test_failing_fixture_is_classified_from_its_real_log(docker_client: Any, name: str) -> None:
    table = EXPECTED[name]
    log, error, code = _build(docker_client, BUILDS / name, **_options(table))
    assert error is not None, f"{name} built, but it should fail with {table['outcome']}"
    failure = classify(log, error, exit_code=code)
    assert failure.kind.value == table["outcome"], f"{failure}\nlog:\n" + "\n".join(log) + f"\nerror: {error}"
    assert failure.evidence
    for number, text in failure.evidence:
        assert number == DAEMON_MESSAGE_LINE or strip_ansi(log[number - 1]).rstrip() == text


@pytest.mark.docker
def test_failing_fixtures_tell_what_failed(docker_client: Any) -> None:
    """The subjects an entrant reads: the missing file, the image, the requirement."""
    log, error, code = _build(docker_client, BUILDS / "missing-file")
    assert classify(log, error, exit_code=code).subject == "weights/adapter_model.bin"
    log, error, code = _build(docker_client, BUILDS / "base-missing")
    assert classify(log, error, exit_code=code).subject == "repro-audit-local/python:3.10-nightly"
    log, error, code = _build(docker_client, BUILDS / "pip-no-match")
    assert classify(log, error, exit_code=code).subject == "peft==0.5.0"


@pytest.mark.docker
def test_an_unparseable_dockerfile_is_refused_before_any_step(docker_client: Any, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM repro-audit-local/busybox:1.35\nRUNN echo hello\n", encoding="utf-8")
    log, error, code = _build(docker_client, tmp_path)
    failure = classify(log, error, exit_code=code)
    assert (failure.kind, failure.subject) == (FailureClass.INVALID_DOCKERFILE, "RUNN")


@pytest.mark.docker
@pytest.mark.parametrize("name", BUILT)
def test_built_fixture_builds(docker_client: Any, name: str) -> None:
    dockerfiles = sorted(path.relative_to(BUILDS / name) for path in (BUILDS / name).rglob("Dockerfile"))
    assert dockerfiles
    for dockerfile in dockerfiles:
        log, error, _ = _build(docker_client, BUILDS / name / dockerfile.parent, **_options(EXPECTED[name]))
        assert error is None, (dockerfile, error, log[-5:])
        assert any(line.startswith("Successfully built ") for line in log)


def test_a_daemon_message_longer_than_what_is_matched_keeps_its_end() -> None:
    command = " && ".join(f"echo step-{n}-{'x' * 40}" for n in range(150))  # a RUN of several KB
    error = f"The command '/bin/sh -c {command} && exit 4' returned a non-zero code: 4"
    log = ["Step 2/2 : RUN " + command + " && exit 4", " ---> Running in 0123456789ab", error]
    failure = classify(log, error)
    assert failure.kind == FailureClass.RUN_FAILED
    assert failure.exit_code == 4
