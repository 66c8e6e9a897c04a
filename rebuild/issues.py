"""What the `build` stage reports: one finding per target that did not build, named by why it failed,
and one for a build that is not reproducible. Each failure class lists the static rules that predict it,
so a missing COPY source found statically and the same build failing on it are told as one story.
"""

from __future__ import annotations

from audit.issues import StageIssue
from audit.model import Severity

FAMILY = "build"

BASE_IMAGE = StageIssue(
    "RA020",
    "build-base-image-unavailable",
    Severity.HIGH,
    "The build could not start: a base image is neither on the host nor pullable.",
    "A `FROM` names an image the engine does not have and could not (or was not allowed to) pull: a tag "
    "that was deleted or never published, a private image, a nightly tag that has since moved, or a host "
    "whose profile allows no pulls. Floating and prerelease tags (RA101, RA103) are how an entry gets here.",
    "Base the image on a published tag pinned by digest (`FROM name:tag@sha256:...`).",
    family=FAMILY,
)
MISSING_FILE = StageIssue(
    "RA021",
    "build-missing-file",
    Severity.HIGH,
    "A COPY/ADD source is not in the build context: the file existed only on the entrant's machine.",
    "The classic builder and BuildKit both stop when a `COPY` or `ADD` source is missing from the build "
    "context: never committed, kept out by .gitignore or .dockerignore, or in an empty submodule. The "
    "static rules RA501-RA505 and RA509 find most of these without building.",
    "Commit the file (or download it in the build, pinned by checksum), or remove the COPY.",
    family=FAMILY,
)
DEPENDENCY = StageIssue(
    "RA022",
    "build-dependency-resolution",
    Severity.HIGH,
    "An install step could not resolve the dependencies: no matching version, or conflicting pins.",
    "pip (or conda, apt) found no distribution matching a requirement on the index it could reach, or the "
    "requirements contradict each other. Unpinned requirements resolve to whatever is newest on the day of "
    "the rebuild (RA201, RA301), which is how entries that built in 2023 stopped building.",
    "Pin every dependency to the version that worked (`repro-audit fix` can propose the pins).",
    family=FAMILY,
)
NETWORK = StageIssue(
    "RA023",
    "build-network-failure",
    Severity.HIGH,
    "A build step needed the network and could not reach it (DNS, TLS, refused or timed-out connection).",
    "The step downloads something at build time: packages from an index, a git clone, a model from the hub. "
    "On a host whose builds have no network, or when the server is gone, the build fails. Downloads are also "
    "what makes a build depend on the day it runs (RA201, RA401-RA405).",
    "Vendor what the build downloads into the repository, or pin it so a mirror can serve it.",
    family=FAMILY,
)
COMPILATION = StageIssue(
    "RA024",
    "build-compilation-failure",
    Severity.HIGH,
    "A compiler failed during the build (gcc, nvcc, a CUDA extension, a wheel built from source).",
    "Source builds depend on the compiler, the CUDA toolkit and headers of the base image; a CUDA extension "
    "(flash-attn, DeepSpeed ops, bitsandbytes from source) compiled in the build is the usual case (RA701).",
    "Install a prebuilt wheel matching the base image's CUDA and Python, pinned by version.",
    family=FAMILY,
)
TIMEOUT = StageIssue(
    "RA025",
    "build-timeout",
    Severity.HIGH,
    "The build did not finish within the time limit and was stopped.",
    "The competition gave each build a limit; long builds are mostly CUDA extensions compiled from source "
    "(RA701) and models downloaded during the build (RA405). The build was cancelled at its deadline and "
    "nothing of it was left running.",
    "Use prebuilt wheels and download models at run time, pinned by revision.",
    family=FAMILY,
)
OUT_OF_MEMORY = StageIssue(
    "RA026",
    "build-out-of-memory",
    Severity.HIGH,
    "A build step was killed, most likely for using more memory than the host allows (exit code 137).",
    "The step exceeded the memory limit of the host profile; parallel compilation of CUDA extensions "
    "(MAX_JOBS unset) is the usual cause.",
    "Limit parallel compile jobs (MAX_JOBS=2), or install a prebuilt wheel.",
    family=FAMILY,
)
RUN_FAILED = StageIssue(
    "RA027",
    "build-run-failed",
    Severity.HIGH,
    "A RUN step exited with an error.",
    "The command of a RUN step failed for a reason the log does not attribute to the network, a "
    "dependency, a compiler or memory; the evidence lines show its output.",
    "Run the step by hand in the base image and fix the command.",
    family=FAMILY,
)
INVALID_DOCKERFILE = StageIssue(
    "RA028",
    "build-invalid-dockerfile",
    Severity.HIGH,
    "The engine rejected the Dockerfile (syntax error, unknown instruction, no FROM).",
    "The Dockerfile does not parse with the engine that rebuilt it; some syntax (heredocs, `--mount`) needs "
    "BuildKit, which a plain `docker build` on an older engine does not use.",
    "Fix the instruction the message names.",
    family=FAMILY,
)
ENGINE_ERROR = StageIssue(
    "RA029",
    "build-engine-error",
    Severity.MEDIUM,
    "The build failed because of the engine or host (no space left, daemon error), not the entry.",
    "The failure says nothing about the entry: the host ran out of disk, or the engine failed. The build "
    "should be run again once the host is fixed (`repro-audit run ... --rerun build`).",
    "Free disk space on the host or restart the engine, then rerun the build stage.",
    family=FAMILY,
)
NOT_REPRODUCIBLE = StageIssue(
    "RA030",
    "build-not-reproducible",
    Severity.MEDIUM,
    "Two builds of the same target without cache gave different images (--rebuild-twice).",
    "Files differ in content, mode or owner between two builds from the same sources (timestamps are "
    "ignored): the build downloads whatever is newest, writes the date, or generates random data. A rebuild "
    "later will not give the image that was evaluated.",
    "Pin what the build downloads, and do not write dates or random values into the image.",
    family=FAMILY,
)

BUILD_ISSUES: tuple[StageIssue, ...] = (
    BASE_IMAGE,
    MISSING_FILE,
    DEPENDENCY,
    NETWORK,
    COMPILATION,
    TIMEOUT,
    OUT_OF_MEMORY,
    RUN_FAILED,
    INVALID_DOCKERFILE,
    ENGINE_ERROR,
    NOT_REPRODUCIBLE,
)

BY_CLASS: dict[str, StageIssue] = {
    "base-image": BASE_IMAGE,
    "missing-file": MISSING_FILE,
    "dependency-resolution": DEPENDENCY,
    "network": NETWORK,
    "compilation": COMPILATION,
    "timeout": TIMEOUT,
    "out-of-memory": OUT_OF_MEMORY,
    "run-failed": RUN_FAILED,
    "invalid-dockerfile": INVALID_DOCKERFILE,
    "engine-error": ENGINE_ERROR,
}

PREDICTED_BY: dict[str, tuple[str, ...]] = {
    "base-image": ("RA101", "RA103", "RA104"),
    "missing-file": ("RA501", "RA502", "RA503", "RA504", "RA505", "RA509"),
    "dependency-resolution": ("RA201", "RA202", "RA203", "RA204", "RA301", "RA302", "RA305", "RA307"),
    "network": ("RA201", "RA202", "RA203", "RA301", "RA302", "RA401", "RA402", "RA403", "RA404", "RA405"),
    "compilation": ("RA701",),
    "timeout": ("RA701", "RA405"),
    "out-of-memory": ("RA701",),
    "run-failed": ("RA506",),
    "invalid-dockerfile": ("RA001", "RA002"),
    "engine-error": (),
}
"""The static rules whose findings, on the same target, foretell a failure of each class."""


# ---- training ------------------------------------------------------------------------------------------
#
# How the `train` stage (rebuild/train.py) saw the entry's training end, when it did not simply finish.

TRAIN_FAMILY = "train"

TRAIN_TIMEOUT = StageIssue(
    "RA031",
    "train-timeout",
    Severity.HIGH,
    "Training did not finish within the track's time limit and was stopped.",
    "The competition gave every entry 24 hours on one GPU of its track. A training run still going at the "
    "limit produces no model the rules accept: too many steps or epochs for the track's GPU, a dataset "
    "larger than intended, or a loop that never ends (waiting on a download that cannot happen).",
    "Cap training by steps or time (e.g. `max_steps`, or stop at 23 h) and save the weights as it goes.",
    family=TRAIN_FAMILY,
)
TRAIN_OOM_KILLED = StageIssue(
    "RA032",
    "train-oom-killed",
    Severity.HIGH,
    "The kernel killed training for using more host memory than the container's limit.",
    "The container's memory (RAM, swap included) ran out: the kernel's OOM killer ended the process "
    "(`OOMKilled` in the container's state, exit code 137). Loading a full-precision model or a whole "
    "dataset into RAM at once is the usual cause.",
    "Load weights in half precision or sharded (`low_cpu_mem_usage=True`), and stream the dataset.",
    family=TRAIN_FAMILY,
)
TRAIN_CUDA_OOM = StageIssue(
    "RA033",
    "train-cuda-oom",
    Severity.HIGH,
    "Training ran out of GPU memory (CUDA out of memory).",
    "The model, its optimizer state and the activations of a batch did not fit in the track's GPU (40 GB "
    "on the A100 track, 24 GB on the RTX 4090 track). An entry tuned on a larger GPU fails here.",
    "Lower the batch size or sequence length, use gradient checkpointing, LoRA / 4-bit loading, or a "
    "smaller base model.",
    family=TRAIN_FAMILY,
)
TRAIN_FAILED = StageIssue(
    "RA034",
    "train-failed",
    Severity.HIGH,
    "Training exited with an error (or its container could not start).",
    "The training process ended with a non-zero exit code for a reason other than memory: a crash, a "
    "missing file or model, a download that needs a network or a token the rerun does not have.",
    "Read the last lines of train.log, quoted with the finding, and run the training image locally.",
    family=TRAIN_FAMILY,
)
TRAIN_NO_OUTPUT = StageIssue(
    "RA035",
    "train-no-output",
    Severity.MEDIUM,
    "Training finished but wrote nothing to its output folder.",
    "The weights must land in the folder mounted at the entry's output path (`/output` unless the "
    "organizers' overrides say otherwise), or the inference image cannot use what was trained.",
    "Save the trained weights (or adapter) under the output folder, e.g. `model.save_pretrained('/output')`.",
    family=TRAIN_FAMILY,
)

TRAIN_ISSUES: tuple[StageIssue, ...] = (TRAIN_TIMEOUT, TRAIN_OOM_KILLED, TRAIN_CUDA_OOM, TRAIN_FAILED, TRAIN_NO_OUTPUT)


# ---- evaluation ----------------------------------------------------------------------------------------
#
# How the `eval` stage (rebuild/eval.py) saw the entry's inference server and HELM's run over it.

EVAL_FAMILY = "eval"

EVAL_UNHEALTHY = StageIssue(
    "RA050",
    "eval-server-unhealthy",
    Severity.HIGH,
    "The inference server never answered the organizers' health check, so it could not be evaluated.",
    "Before starting HELM the organizers waited 120 s, then POSTed a prompt to `/process` up to 10 times, "
    "120 s apart. A server that exits (a crash while loading, a missing file or weights, an import error) "
    "or answers on another port or only on 127.0.0.1 inside the container never passes it.",
    "Serve on 0.0.0.0:80 and load the model before accepting requests; read server.log, quoted with the finding.",
    family=EVAL_FAMILY,
)
EVAL_TIMEOUT = StageIssue(
    "RA051",
    "eval-timeout",
    Severity.HIGH,
    "HELM did not finish within the evaluation limit: the unanswered runs score 0.",
    "The open set had 300 minutes and the closed set 600 minutes. About 30% of the competition's entries "
    "could not finish in time: generation too slow for the number of instances (no batching, full-precision "
    "weights, long outputs that ignore `max_new_tokens`, one request at a time).",
    "Measure requests/s on the track's GPU; respect max_new_tokens, stop early, quantize, serve concurrently.",
    family=EVAL_FAMILY,
)
EVAL_HELM_FAILED = StageIssue(
    "RA052",
    "eval-helm-failed",
    Severity.HIGH,
    "HELM's run over the server failed: some runs ended in an error and were not scored.",
    "helm-run stops a run when the model's answers cannot be used: an HTTP error from the server, an answer "
    "that lacks a field HELM reads (`text`, `tokens`, `logprob`, `request_time`), or a tokenizer endpoint "
    "that fails. The API contract findings usually say which.",
    "Fix the contract violations reported with this entry, then check with `repro-audit probe URL`.",
    family=EVAL_FAMILY,
)
EVAL_SERVER_OOM = StageIssue(
    "RA053",
    "eval-server-oom",
    Severity.HIGH,
    "The inference server ran out of memory during the evaluation (CUDA out of memory, or the kernel's OOM killer).",
    "About 10% of the competition's entries ran out of GPU memory during inference: a long prompt (up to "
    "2048 tokens), several samples at once, or a full-precision model on a 24 GB card.",
    "Load in half precision or 4/8-bit, bound the batch and the sequence length, and free caches between requests.",
    family=EVAL_FAMILY,
)
EVAL_SCENARIOS_UNAVAILABLE = StageIssue(
    "RA054",
    "eval-scenarios-unavailable",
    Severity.LOW,
    "Some scenarios of the evaluation set are not in the pinned HELM, so they were not evaluated.",
    "The closed set's SAMSum, corr2cause and ETHICS scenarios lived in the competition's own HELM fork, not "
    "in the released crfm-helm. The other scenarios of the set are evaluated; these are left out of the score.",
    "Evaluate with a HELM that has them (`--helm` pointing at its environment), or accept the partial set.",
    family=EVAL_FAMILY,
)

EVAL_ISSUES: tuple[StageIssue, ...] = (
    EVAL_UNHEALTHY,
    EVAL_TIMEOUT,
    EVAL_HELM_FAILED,
    EVAL_SERVER_OOM,
    EVAL_SCENARIOS_UNAVAILABLE,
)

# ---- the inference server's API contract -------------------------------------------------------------
#
# What `repro-audit probe` (rebuild/probe.py) reports about a running inference server: one issue per kind
# of contract violation, as HELM's HTTP client would meet it. Kept apart from the build's issues above.

API_FAMILY = "api"

API_UNREACHABLE = StageIssue(
    "RA040",
    "api-unreachable",
    Severity.HIGH,
    "The inference server gave no HTTP answer at all (connection refused, reset or timed out).",
    "HELM talks to the submission over HTTP (container port 80): `POST /process`, `/tokenize` and `/decode`. "
    "A server that refuses the connection or never answers cannot be evaluated; usually it crashed while "
    "loading the model, listens on another port or only on 127.0.0.1 inside the container, or needs longer "
    "to start than it was given.",
    "Serve on 0.0.0.0 port 80 (`uvicorn main:app --host 0.0.0.0 --port 80`) and check the container's log.",
    family=API_FAMILY,
)
API_RESPONSE_SHAPE = StageIssue(
    "RA041",
    "api-response-shape",
    Severity.HIGH,
    "An endpoint did not answer a valid HELM request with 200 and the contract's fields and JSON types.",
    "HELM reads `text`, `tokens[].text`, `tokens[].logprob`, `tokens[].top_logprob`, `logprob` and "
    "`request_time` from `/process`, `tokens` (integers) and `request_time` from `/tokenize`, `text` and "
    "`request_time` from `/decode`. A missing field, a number sent as a string, an error status, or a "
    "request refused because of the fields HELM adds (`num_return_sequences`, `top_p`, `top_k_per_token`, "
    "`stop_sequences`) fails every request of the evaluation.",
    "Answer with the competition's response models, and accept (ignore) request fields you do not use.",
    family=API_FAMILY,
)
API_ECHO_PROMPT = StageIssue(
    "RA042",
    "api-echo-prompt",
    Severity.MEDIUM,
    "`echo_prompt` is not honoured: the prompt is missing when asked for, or echoed when not.",
    "With `echo_prompt: true` HELM expects the answer's text to start with the prompt, and scores the "
    "prompt's tokens; with `false` it expects the generated text only. A server that ignores the flag "
    "gets wrong scores on every scenario that uses one of the two forms.",
    "Prepend the prompt to the text (and its tokens) only when `echo_prompt` is true.",
    family=API_FAMILY,
)
API_MAX_NEW_TOKENS = StageIssue(
    "RA043",
    "api-max-new-tokens",
    Severity.MEDIUM,
    "`max_new_tokens` is not respected: the answer has more generated tokens than were asked for.",
    "HELM sets `max_new_tokens` per scenario (a few tokens for multiple choice). Generating more changes "
    "the answers HELM scores and spends the evaluation's time limit on text nobody reads.",
    "Pass `max_new_tokens` to the model's generate call and return only the tokens it produced.",
    family=API_FAMILY,
)
API_NONDETERMINISTIC = StageIssue(
    "RA044",
    "api-nondeterministic",
    Severity.HIGH,
    "Two identical requests at temperature 1e-7 (HELM's temperature 0) with the same seed gave different text.",
    "HELM sends temperature 0 as 1e-7 and expects greedy, repeatable answers; an evaluation run twice must "
    "give the same score. Sampling at that temperature without a fixed seed, or nondeterministic kernels, "
    "make the submission's score a draw.",
    "Decode greedily when the temperature is below a small threshold (or seed every request), and disable "
    "nondeterministic kernels.",
    family=API_FAMILY,
)
API_TOKENIZE_ROUNDTRIP = StageIssue(
    "RA045",
    "api-tokenize-roundtrip",
    Severity.MEDIUM,
    "`/decode` of the tokens `/tokenize` gave does not give the original text back.",
    "HELM truncates prompts that do not fit the context window by tokenizing, cutting and decoding them. "
    "A decode that adds special tokens (`<s>`), changes spacing or case, or uses another tokenizer than "
    "`/tokenize` feeds the model different prompts from the ones HELM meant.",
    "Use one tokenizer for both endpoints and decode with `skip_special_tokens=True`.",
    family=API_FAMILY,
)
API_CONTEXT_WINDOW = StageIssue(
    "RA046",
    "api-context-window",
    Severity.HIGH,
    "A prompt filling the 2048-token context window (by the server's own `/tokenize`) was not answered.",
    "The competition's context window is 2048 tokens, and HELM fills it for few-shot scenarios. A server "
    "that refuses or fails on long prompts (a smaller `max_length`, a model loaded with a shorter context, "
    "running out of memory) loses those scenarios.",
    "Accept prompts of up to 2048 tokens minus `max_new_tokens`, and test the server with one.",
    family=API_FAMILY,
)
API_MALFORMED_REQUEST = StageIssue(
    "RA047",
    "api-malformed-request",
    Severity.LOW,
    "A malformed request (not JSON, no `prompt`, a `prompt` that is not a string) did not get a 4xx answer.",
    "A malformed request should be refused with a client error (400 or 422) that says what is wrong. A "
    "server error (5xx), a dropped connection or a 200 means the handler does not validate its input: the "
    "same code may crash or hang on an unusual request during the evaluation.",
    "Declare the request body as a pydantic model (FastAPI answers 422 for what does not fit it).",
    family=API_FAMILY,
)

API_ISSUES: tuple[StageIssue, ...] = (
    API_UNREACHABLE,
    API_RESPONSE_SHAPE,
    API_ECHO_PROMPT,
    API_MAX_NEW_TOKENS,
    API_NONDETERMINISTIC,
    API_TOKENIZE_ROUNDTRIP,
    API_CONTEXT_WINDOW,
    API_MALFORMED_REQUEST,
)

# `repro-audit rules` lists ISSUES, in id order
ISSUES: tuple[StageIssue, ...] = tuple(
    sorted((*BUILD_ISSUES, *TRAIN_ISSUES, *API_ISSUES, *EVAL_ISSUES), key=lambda issue: issue.id)
)
