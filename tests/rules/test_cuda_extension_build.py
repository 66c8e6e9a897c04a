"""RA701 cuda-extension-build: CUDA extensions compiled from source during the build (medium).

Reported: installs of flash-attn, xformers, apex, DeepSpeed with `DS_BUILD_*` ops switched on (a
non-zero value in the RUN, or from an ENV/ARG of the stage before it; `DS_BUILD_OPS=0` switches them
off), auto-gptq and friends unless the argument is a prebuilt wheel; `pip install .` / `python setup.py`
inside a clone of flash-attention, apex, DeepSpeed ...; bitsandbytes, triton and vllm only when
`--no-build-isolation` forces a source build. Plain DeepSpeed builds its ops at run time and is fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.model import Confidence, Severity
from tests.helpers import caught

RULE = "RA701"
FROM = "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04\n"
APEX = "https://github.com/NVIDIA/apex"


@pytest.mark.parametrize(
    ("body", "line", "word"),
    [
        pytest.param("RUN pip install flash-attn --no-build-isolation\n", 2, "installs flash-attn,", id="flash-attn"),
        pytest.param("RUN pip install flash_attn==2.3.3\n", 2, "flash_attn==2.3.3", id="flash-attn-pinned"),
        pytest.param("RUN pip install xformers\n", 2, "installs xformers", id="xformers"),
        pytest.param("RUN pip install 'xformers==0.0.22'\n", 2, "xformers==0.0.22", id="xformers-pinned"),
        pytest.param("RUN python -m pip install auto-gptq==0.5.1\n", 2, "auto-gptq", id="auto-gptq"),
        pytest.param(
            f"RUN git clone {APEX} && cd apex && pip install -v --disable-pip-version-check --no-cache-dir "
            '--global-option="--cpp_ext" --global-option="--cuda_ext" ./\n',
            2,
            f"builds {APEX} from source",
            id="apex-global-options",
        ),
        pytest.param(
            f"RUN git clone {APEX} && cd apex && \\\n    pip install -v --no-build-isolation "
            '--config-settings "--build-option=--cpp_ext" --config-settings "--build-option=--cuda_ext" ./\n',
            3,
            f"builds {APEX}",
            id="apex-config-settings",
        ),
        pytest.param("RUN DS_BUILD_OPS=1 pip install deepspeed\n", 2, "deepspeed with DS_BUILD_OPS", id="ds-build-ops"),
        pytest.param(
            "RUN DS_BUILD_FUSED_ADAM=1 pip install deepspeed==0.10.3\n",
            2,
            "with DS_BUILD_FUSED_ADAM",
            id="ds-build-one-op",
        ),
        pytest.param(
            "ENV DS_BUILD_OPS=1\nRUN pip install deepspeed==0.10.3\n",
            3,
            "deepspeed==0.10.3 with DS_BUILD_OPS",
            id="env",
        ),
        pytest.param(
            "ARG DS_BUILD_OPS=1\nRUN pip install deepspeed==0.10.3\n", 3, "with DS_BUILD_OPS", id="arg-default"
        ),
        pytest.param(
            "RUN export DS_BUILD_FUSED_ADAM=1 && pip install deepspeed==0.10.3\n",
            2,
            "with DS_BUILD_FUSED_ADAM",
            id="export-in-the-run",
        ),
        pytest.param(
            "RUN DS_BUILD_OPS=0 DS_BUILD_FUSED_ADAM=1 pip install deepspeed==0.10.3\n",
            2,
            "deepspeed==0.10.3 with DS_BUILD_FUSED_ADAM, which",
            id="one-op-on-all-others-off",
        ),
        pytest.param(
            "RUN git clone https://github.com/Dao-AILab/flash-attention && cd flash-attention && "
            "python setup.py install\n",
            2,
            "runs setup.py of https://github.com/Dao-AILab/flash-attention",
            id="setup-py-in-clone",
        ),
        pytest.param(
            "RUN git clone https://github.com/Dao-AILab/flash-attention\nRUN pip install ./flash-attention\n",
            3,
            "builds https://github.com/Dao-AILab/flash-attention from source",
            id="install-clone-folder",
        ),
        pytest.param(
            "RUN pip install --no-build-isolation vllm==0.2.1\n", 2, "vllm==0.2.1", id="vllm-forced-source-build"
        ),
        pytest.param(
            "RUN pip install torch==2.1.0 && \\\n    pip install flash-attn==2.3.3\n", 3, "flash-attn", id="line"
        ),
    ],
)
def test_catches(tmp_path: Path, body: str, line: int, word: str) -> None:
    findings = caught(tmp_path, {"Dockerfile": FROM + body}, RULE)
    assert [(f.rule, f.location.path, f.location.line, f.severity, f.confidence, f.target) for f in findings] == [
        (RULE, "Dockerfile", line, Severity.MEDIUM, Confidence.MEDIUM, "Dockerfile")
    ]
    assert word in findings[0].message
    assert "CUDA compilation" in findings[0].message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("RUN pip install deepspeed==0.10.3\n", id="plain-deepspeed"),
        pytest.param("RUN pip install deepspeed\n", id="plain-deepspeed-unpinned-is-ra201"),
        pytest.param("ENV DS_BUILD_OPS=0\nRUN pip install deepspeed==0.10.3\n", id="env-zero"),
        pytest.param("ENV DS_BUILD_OPS=1\nRUN DS_BUILD_OPS=0 pip install deepspeed==0.10.3\n", id="inline-zero-wins"),
        pytest.param('ENV DS_BUILD_OPS=""\nRUN pip install deepspeed==0.10.3\n', id="env-empty"),
        pytest.param("ARG DS_BUILD_OPS\nRUN pip install deepspeed==0.10.3\n", id="arg-without-default"),
        pytest.param("RUN DS_BUILD_STRING=+local pip install deepspeed==0.10.3\n", id="build-string-is-a-version"),
        pytest.param(
            "ENV DS_BUILD_OPS=1\nFROM python:3.11 AS serve\nRUN pip install deepspeed==0.10.3\n",
            id="env-of-another-stage",
        ),
        pytest.param("RUN pip install bitsandbytes==0.41.1 triton==2.1.0\n", id="bitsandbytes-triton"),
        pytest.param("RUN pip install vllm==0.2.1\n", id="vllm-wheel"),
        pytest.param(
            "RUN pip install https://github.com/Dao-AILab/flash-attention/releases/download/v2.3.3/"
            "flash_attn-2.3.3+cu122torch2.1cxx11abiFALSE-cp310-cp310-linux_x86_64.whl\n",
            id="prebuilt-wheel-url",
        ),
        pytest.param("COPY wheels/ /wheels/\nRUN pip install /wheels/flash_attn-2.3.3-cp310-linux.whl\n", id="wheel"),
        pytest.param("RUN pip install torch==2.1.0 transformers==4.35.2\n", id="ordinary-packages"),
        pytest.param("RUN git clone https://github.com/a/b && cd b && pip install .\n", id="other-clone"),
        pytest.param("RUN echo pip install flash-attn\n", id="echo"),
        pytest.param("RUN pip download flash-attn==2.3.3\n", id="download-only"),
        pytest.param("RUN pip install apexx==1.0\n", id="prefix-of-a-longer-name"),
        pytest.param("# RUN pip install flash-attn\n", id="comment"),
    ],
)
def test_does_not_catch(tmp_path: Path, body: str) -> None:
    assert caught(tmp_path, {"Dockerfile": FROM + body}, RULE) == []


def test_ds_build_ops_zero_does_not_compile(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "RUN DS_BUILD_OPS=0 pip install deepspeed==0.10.3\n"}
    assert caught(tmp_path, files, RULE) == []


def test_env_set_after_the_install_does_not_apply(tmp_path: Path) -> None:
    files = {"Dockerfile": FROM + "RUN pip install deepspeed==0.10.3\nENV DS_BUILD_OPS=1\n"}
    assert caught(tmp_path, files, RULE) == []


def test_env_of_the_stage_built_from_applies(tmp_path: Path) -> None:
    dockerfile = (
        "FROM nvidia/cuda:12.1.0-devel-ubuntu22.04 AS base\nENV DS_BUILD_OPS=1\nARG DS_BUILD_AIO=1\n"
        "FROM base AS train\nRUN pip install deepspeed==0.10.3\n"
    )
    findings = caught(tmp_path, {"Dockerfile": dockerfile}, RULE)
    assert [f.location.line for f in findings] == [5]
    assert "deepspeed==0.10.3 with DS_BUILD_OPS, which" in findings[0].message  # an ARG does not carry over
