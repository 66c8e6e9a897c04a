"""Our detect-secrets plugins: HuggingFace user and organization tokens, Weights & Biases API keys.

Caught and not-caught cases for each, built from random tokens at test time, and proof that they are
genuine detect-secrets plugins: detect-secrets' own scan loads them from their file and reports with them.
Also our mended GitHub, GitLab and JWT plugins, which report the whole token.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from detect_secrets.core.scan import scan_line
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.settings import transient_settings
from detect_secrets.util.code_snippet import get_code_snippet

import audit.secrets.detectors as detectors_module
from audit.secrets.detectors import (
    GitHubTokenDetector,
    GitLabTokenDetector,
    HuggingFaceOrgTokenDetector,
    HuggingFaceUserTokenDetector,
    JwtTokenDetector,
    WandbApiKeyDetector,
)
from tests.secrets import tokens

Maker = Callable[[random.Random], str]


def found_in(detector: RegexBasedDetector, text: str) -> set[tuple[int, str]]:
    """(line number, secret) for every secret the plugin reports, each line seen with its neighbours."""
    lines = text.split("\n")
    found = set()
    for number, line in enumerate(lines, start=1):
        context = get_code_snippet(lines, number)
        for item in detector.analyze_line(filename="f", line=line, line_number=number, context=context):
            assert item.secret_value is not None
            found.add((number, item.secret_value))
    return found


def secrets_in(detector: RegexBasedDetector, text: str) -> set[str]:
    return {secret for _, secret in found_in(detector, text)}


# ---- HuggingFace tokens -------------------------------------------------------------------------------

HF_DETECTORS = [
    pytest.param(HuggingFaceUserTokenDetector, tokens.hf_token, id="user"),
    pytest.param(HuggingFaceOrgTokenDetector, tokens.hf_org_token, id="org"),
]

# How a token sits in the files of a submission; each takes the token and gives the text holding it.
HF_PLACES: dict[str, Callable[[str], str]] = {
    "alone": lambda tok: tok,
    "python-string": lambda tok: f'HF_TOKEN = "{tok}"',
    "python-single-quotes": lambda tok: f"login(token='{tok}')",
    "dockerfile-env": lambda tok: f"ENV HF_TOKEN={tok}",
    "dockerfile-env-space": lambda tok: f"ENV HUGGING_FACE_HUB_TOKEN {tok}",
    "shell-export": lambda tok: f"export HF_TOKEN={tok}; python train.py",
    "cli-argument": lambda tok: f"RUN huggingface-cli login --token {tok}",
    "yaml": lambda tok: f"hf_token: {tok}",
    "json": lambda tok: f'{{"token": "{tok}"}}',
    "bearer-header": lambda tok: f"Authorization: Bearer {tok}",
    "url-query": lambda tok: f"https://huggingface.co/api/models?token={tok}&full=1",
    "url-credentials": lambda tok: f"git clone https://user:{tok}@huggingface.co/org/model",
    "url-path": lambda tok: f"https://example.org/{tok}/resolve",
    "notebook-raw-newline-escape": lambda tok: f'    "import os\\n{tok}\\n",',
    "notebook-raw-tab-escape": lambda tok: f'"x =\\t{tok}"',
    "notebook-raw-unicode-quotes": lambda tok: f"token = \\u0022{tok}\\u0022",
    "notebook-raw-escaped-quotes": lambda tok: f'    "token = \\"{tok}\\"\\n",',
    "percent-escape-before": lambda tok: f"https://example.org/login?next=%3D{tok}",
    "percent-escape-both-sides": lambda tok: f"redirect=%22{tok}%22",
    "after-non-ascii-letter": lambda tok: f"clé={tok}",
    "twice-on-a-line": lambda tok: f"a = '{tok}'; b = '{tok}'",
}


@pytest.mark.parametrize("place", HF_PLACES.values(), ids=HF_PLACES.keys())
@pytest.mark.parametrize(("detector_class", "make"), HF_DETECTORS)
def test_huggingface_token_caught(
    rng: random.Random, detector_class: type[RegexBasedDetector], make: Maker, place: Callable[[str], str]
) -> None:
    token = make(rng)
    assert list(detector_class().analyze_string(place(token))) in ([token], [token, token])
    assert secrets_in(detector_class(), place(token)) == {token}


# Look-alikes: each takes the random source and gives a text with no whole token in it.
HF_LOOKALIKES: dict[str, Callable[[Maker, random.Random], str]] = {
    "letter-before": lambda make, r: "x" + make(r),
    "digit-before": lambda make, r: "7" + make(r),
    "underscore-before": lambda make, r: "my_" + make(r),
    "letter-after": lambda make, r: make(r) + "Q",
    "digit-after": lambda make, r: make(r) + "0",
    "underscore-after": lambda make, r: make(r) + "_",
    "one-short": lambda make, r: make(r)[:-1],
    "one-long": lambda make, r: make(r) + tokens.alnum(r, 1),
    "many-long": lambda make, r: make(r) + tokens.alnum(r, 20),
    "dash-inside": lambda make, r: make(r)[:20] + "-" + make(r)[-14:],
    "uppercase-prefix": lambda make, r: make(r).rpartition("_")[0].upper() + "_" + make(r).rpartition("_")[2],
    "prefix-only": lambda make, r: make(r).split("_")[0] + "_",
    "escape-then-letter": lambda make, r: "\\nx" + make(r),
    "percent-escape-then-letter": lambda make, r: "%3Dx" + make(r),
}


@pytest.mark.parametrize("lookalike", HF_LOOKALIKES.values(), ids=HF_LOOKALIKES.keys())
@pytest.mark.parametrize(("detector_class", "make"), HF_DETECTORS)
def test_huggingface_token_not_caught(
    rng: random.Random,
    detector_class: type[RegexBasedDetector],
    make: Maker,
    lookalike: Callable[[Maker, random.Random], str],
) -> None:
    text = lookalike(make, rng)
    assert list(detector_class().analyze_string(text)) == []
    assert list(detector_class().analyze_string(f'token = "{text}"')) == []


def test_huggingface_user_token_length_is_exact(rng: random.Random) -> None:
    detector = HuggingFaceUserTokenDetector()
    for length in (32, 33, 35, 36, 40):
        assert list(detector.analyze_string(f"t = '{tokens.hf_token(rng, length)}'")) == [], length
    token = tokens.hf_token(rng, 34)
    assert list(detector.analyze_string(f"t = '{token}'")) == [token]


def test_huggingface_kinds_do_not_see_each_other(rng: random.Random) -> None:
    user, org = tokens.hf_token(rng), tokens.hf_org_token(rng)
    line = f"USER={user} ORG={org}"
    assert list(HuggingFaceUserTokenDetector().analyze_string(line)) == [user]
    assert list(HuggingFaceOrgTokenDetector().analyze_string(line)) == [org]


def test_huggingface_token_low_entropy_still_caught() -> None:
    # A token is a token whatever its entropy (unlike detect-secrets' generic high-entropy plugins).
    token = "hf_" + "ab" * 17
    assert list(HuggingFaceUserTokenDetector().analyze_string(f"t='{token}'")) == [token]


# ---- Weights & Biases API keys ----------------------------------------------------------------------

WANDB_CAUGHT: dict[str, Callable[[str], str]] = {
    "env-assignment": lambda key: f"WANDB_API_KEY={key}",
    "env-assignment-quoted": lambda key: f'WANDB_API_KEY="{key}"',
    "shell-export": lambda key: f"export WANDB_API_KEY='{key}' && python train.py",
    "dockerfile-env-equals": lambda key: f"ENV WANDB_API_KEY={key}",
    "dockerfile-env-space": lambda key: f"ENV WANDB_API_KEY {key}",
    "dockerfile-arg": lambda key: f"ARG WANDB_API_KEY={key}",
    "os-environ": lambda key: f'os.environ["WANDB_API_KEY"] = "{key}"',
    "os-environ-single-quotes": lambda key: f"os.environ['WANDB_API_KEY']='{key}'",
    "setdefault": lambda key: f'os.environ.setdefault("WANDB_API_KEY", "{key}")',
    "yaml-key": lambda key: f"wandb_api_key: {key}",
    "dict-literal": lambda key: f'{{"wandb_key": "{key}"}}',
    "lowercase-variable": lambda key: f"wandb_key = '{key}'",
    "wandb-login-key": lambda key: f'wandb.login(key="{key}")',
    "wandb-login-key-after-other-argument": lambda key: f"wandb.login(anonymous='never', key='{key}')",
    "wandb-login-key-spaces": lambda key: f"wandb.login(key = '{key}', relogin=True)",
    "cli-login": lambda key: f"wandb login {key}",
    "cli-relogin": lambda key: f"RUN wandb login --relogin {key}",
    "cli-login-host": lambda key: f"wandb login --host https://api.wandb.ai {key}",
    "notebook-raw-os-environ": lambda key: f'    "os.environ[\\"WANDB_API_KEY\\"] = \\"{key}\\"\\n",',
    "netrc-one-line": lambda key: f"machine api.wandb.ai login user password {key}",
    "netrc-multi-line": lambda key: f"machine api.wandb.ai\n  login user\n  password {key}\n",
    "netrc-after-other-machine": lambda key: (
        f"machine github.com\n  login me\n  password x\nmachine api.wandb.ai\n  login user\n  password {key}\n"
    ),
}


@pytest.mark.parametrize("place", WANDB_CAUGHT.values(), ids=WANDB_CAUGHT.keys())
def test_wandb_key_caught(rng: random.Random, place: Callable[[str], str]) -> None:
    key = tokens.wandb_key(rng)
    assert secrets_in(WandbApiKeyDetector(), place(key)) == {key}


def test_wandb_netrc_key_is_placed_on_its_password_line(rng: random.Random) -> None:
    key = tokens.wandb_key(rng)
    text = f"machine api.wandb.ai\n  login user\n  password {key}\n"
    assert found_in(WandbApiKeyDetector(), text) == {(3, key)}


WANDB_NOT_CAUGHT: dict[str, Callable[[random.Random], str]] = {
    "bare-git-sha": lambda r: tokens.hex40(r),
    "git-checkout": lambda r: f"RUN git checkout {tokens.hex40(r)}",
    "pip-install-at-commit": lambda r: f"pip install git+https://github.com/org/repo@{tokens.hex40(r)}",
    "sha-in-json": lambda r: f'{{"commit": "{tokens.hex40(r)}"}}',
    "sha-next-to-wandb-init": lambda r: f'wandb.init(project="p", config={{"commit": "{tokens.hex40(r)}"}})',
    "uppercase-hex": lambda r: f"WANDB_API_KEY={tokens.hex40(r).upper()}",
    "39-hex": lambda r: f"WANDB_API_KEY={tokens.hex40(r)[:-1]}",
    "41-hex": lambda r: f"WANDB_API_KEY={tokens.hex40(r)}{tokens.chars(r, tokens.HEX, 1)}",
    "hex-then-letters": lambda r: f"WANDB_API_KEY={tokens.hex40(r)}xyz",
    "non-hex-letters": lambda r: "WANDB_API_KEY=" + tokens.chars(r, "ghijklmnop", 40),
    "variable-reference": lambda r: "WANDB_API_KEY=$WANDB_KEY",
    "netrc-other-machine": lambda r: f"machine github.com\n  login me\n  password {tokens.hex40(r)}\n",
    "netrc-other-machine-one-line": lambda r: f"machine example.org login me password {tokens.hex40(r)}",
    "netrc-other-machine-after-wandb": lambda r: (
        f"machine api.wandb.ai\n  login user\nmachine github.com\n  login me\n  password {tokens.hex40(r)}\n"
    ),
    "netrc-password-without-machine": lambda r: f"password {tokens.hex40(r)}",
    "wandb-login-no-key": lambda r: f"wandb login\ngit checkout {tokens.hex40(r)}",
}


@pytest.mark.parametrize("make", WANDB_NOT_CAUGHT.values(), ids=WANDB_NOT_CAUGHT.keys())
def test_wandb_key_not_caught(rng: random.Random, make: Callable[[random.Random], str]) -> None:
    assert secrets_in(WandbApiKeyDetector(), make(rng)) == set()


def test_wandb_netrc_password_needs_context_on_its_own_line(rng: random.Random) -> None:
    # Without the lines above, a `.netrc` password line cannot be told from any other: not reported.
    key = tokens.wandb_key(rng)
    found = WandbApiKeyDetector().analyze_line(filename="f", line=f"  password {key}", line_number=3, context=None)
    assert found == set()


# ---- mended upstream plugins report the whole token -------------------------------------------------


@pytest.mark.parametrize("prefix", ["ghp", "gho", "ghu", "ghs", "ghr"])
def test_github_token_is_reported_whole(rng: random.Random, prefix: str) -> None:
    first, second = tokens.github_token(rng, prefix), tokens.github_token(rng, prefix)
    assert list(GitHubTokenDetector().analyze_string(f"A={first} B='{second}'")) == [first, second]


@pytest.mark.parametrize(
    "make",
    [
        lambda r: tokens.gitlab_token(r, "glpat", 20),
        lambda r: tokens.gitlab_token(r, "glrt", 50),
        lambda r: tokens.gitlab_token(r, "glcbt", 24),
        lambda r: "glcbt-" + tokens.chars(r, tokens.HEX, 2) + "_" + tokens.alnum(r, 24),
        tokens.gitlab_runner_registration_token,
    ],
    ids=["glpat", "glrt", "glcbt-without-partition", "glcbt-with-partition", "runner-registration"],
)
def test_gitlab_token_is_reported_whole(rng: random.Random, make: Maker) -> None:
    token = make(rng)
    assert list(GitLabTokenDetector().analyze_string(f"CI_TOKEN={token}")) == [token]


def test_gitlab_token_too_short_is_not_caught(rng: random.Random) -> None:
    assert list(GitLabTokenDetector().analyze_string(f"t={tokens.gitlab_token(rng, 'glpat', 19)}")) == []


def test_jwt_is_reported_with_its_signature(rng: random.Random) -> None:
    token = tokens.jwt(rng)
    assert token.count(".") == 2
    detector = JwtTokenDetector()
    assert list(detector.analyze_string(f"Authorization: Bearer {token}")) == [token]
    assert list(detector.analyze_string(f"The token was {token}.")) == [token]
    assert list(detector.analyze_string(f'{{"jwt": "{token}"}}')) == [token]


def test_jwt_that_is_not_base64_json_is_not_caught(rng: random.Random) -> None:
    fake = "eyJ" + tokens.alnum(rng, 20) + ".eyJ" + tokens.alnum(rng, 20) + "." + tokens.alnum(rng, 20)
    assert list(JwtTokenDetector().analyze_string(fake)) == []


# ---- they are real detect-secrets plugins -----------------------------------------------------------

PLUGIN_FILE = "file://" + str(Path(detectors_module.__file__).resolve())
OUR_PLUGINS = ("HuggingFaceUserTokenDetector", "HuggingFaceOrgTokenDetector", "WandbApiKeyDetector")


def our_plugins_only() -> AbstractContextManager[object]:
    """detect-secrets' settings with our three plugins, loaded from their file, and no others."""
    return transient_settings({"plugins_used": [{"name": name, "path": PLUGIN_FILE} for name in OUR_PLUGINS]})


@pytest.mark.parametrize(
    ("make_line", "make_secret", "secret_type"),
    [
        pytest.param(
            lambda s: f"token = '{s}'", tokens.hf_token, HuggingFaceUserTokenDetector.secret_type, id="user-token"
        ),
        pytest.param(
            lambda s: f"ORG_TOKEN={s}", tokens.hf_org_token, HuggingFaceOrgTokenDetector.secret_type, id="org-token"
        ),
        pytest.param(lambda s: f"WANDB_API_KEY={s}", tokens.wandb_key, WandbApiKeyDetector.secret_type, id="wandb-key"),
    ],
)
def test_detect_secrets_scan_line_loads_our_plugins(
    rng: random.Random, make_line: Callable[[str], str], make_secret: Maker, secret_type: str
) -> None:
    secret = make_secret(rng)
    with our_plugins_only():
        found = [(s.type, s.secret_value) for s in scan_line(make_line(secret))]
    assert found == [(secret_type, secret)]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("GitHubTokenDetector", tokens.github_token),
        ("GitLabTokenDetector", tokens.gitlab_token),
        ("JwtTokenDetector", tokens.jwt),
    ],
)
def test_detect_secrets_uses_our_mended_plugins_under_upstream_names(
    rng: random.Random, name: str, make: Maker
) -> None:
    token = make(rng)
    with transient_settings({"plugins_used": [{"name": name, "path": PLUGIN_FILE}]}):
        assert [s.secret_value for s in scan_line(f"token = '{token}'")] == [token]


def test_detect_secrets_scan_line_ignores_a_git_sha(rng: random.Random) -> None:
    with our_plugins_only():
        assert list(scan_line(f"RUN git checkout {tokens.hex40(rng)}")) == []


def test_detect_secrets_scan_file_with_our_plugins(rng: random.Random, tmp_path: Path) -> None:
    hf, org, key, other = tokens.hf_token(rng), tokens.hf_org_token(rng), tokens.wandb_key(rng), tokens.hex40(rng)
    script = tmp_path / "train.py"
    script.write_text(f"import os\nos.environ['HF_TOKEN'] = '{hf}'\nORG = '{org}'\n")
    netrc = tmp_path / "netrc"
    netrc.write_text(
        f"machine github.com\n  login me\n  password {other}\nmachine api.wandb.ai\n  login me\n  password {key}\n"
    )
    collection = SecretsCollection()
    with our_plugins_only():
        collection.scan_file(str(script))
        collection.scan_file(str(netrc))
    found = {
        (Path(filename).name, item.line_number, item.type, item.secret_value)
        for filename in collection.files
        for item in collection[filename]
    }
    assert found == {
        ("train.py", 2, HuggingFaceUserTokenDetector.secret_type, hf),
        ("train.py", 3, HuggingFaceOrgTokenDetector.secret_type, org),
        ("netrc", 6, WandbApiKeyDetector.secret_type, key),
    }


@pytest.mark.parametrize(
    "detector_class", [HuggingFaceUserTokenDetector, HuggingFaceOrgTokenDetector, WandbApiKeyDetector]
)
def test_plugins_are_regex_based_detectors(detector_class: type[RegexBasedDetector]) -> None:
    assert issubclass(detector_class, RegexBasedDetector)
    assert detector_class.secret_type
    assert detector_class().json()["name"] == detector_class.__name__
