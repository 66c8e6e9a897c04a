"""The catalog of kinds: its table is consistent, and every anchor shortcut is safe.

The scan only runs a plugin on lines holding one of its kind's anchors, so a secret whose line holds
none would be lost without a word. For every kind, secrets are crafted from the plugin's own patterns
(random tokens, random case), and each one the plugin reports must sit on a line holding an anchor and
be found by `ContentScanner` end to end, in a text file and inside a binary blob.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.util.code_snippet import get_code_snippet

from audit.secrets.catalog import BY_ID, BY_SECRET_TYPE, KINDS, Kind, select
from audit.secrets.content import ContentScanner
from tests.secrets import tokens


@dataclass(frozen=True)
class Example:
    """A text holding a secret of one kind, made from a random source: (text, the secret reported)."""

    make: Callable[[random.Random], tuple[str, str]]
    secret_holds_anchor: bool = True  # False: only the line does (a URL's password, an AWS secret key)
    single_line: bool = True  # also findable in a binary blob, where there are no neighbouring lines


def same(make: Callable[[random.Random], str], place: str) -> Callable[[random.Random], tuple[str, str]]:
    """An example whose reported secret is the whole token, placed in `place` (with `{}` for the token)."""

    def build(rng: random.Random) -> tuple[str, str]:
        token = make(rng)
        return place.format(token), token

    return build


def _url_credentials(scheme: str, host: str) -> Callable[[random.Random], tuple[str, str]]:
    def build(rng: random.Random) -> tuple[str, str]:
        password = tokens.url_password(rng)
        return f"URL = '{scheme}://{tokens.random_word(rng)}:{password}@{host}/x'", password

    return build


def _aws_secret(place: str) -> Callable[[random.Random], tuple[str, str]]:
    def build(rng: random.Random) -> tuple[str, str]:
        secret = tokens.aws_secret_access_key(rng)
        return place.format(secret), secret

    return build


def _azure(rng: random.Random) -> tuple[str, str]:
    key = tokens.azure_account_key(rng)
    text = f"DefaultEndpointsProtocol=https;AccountName=data;AccountKey={key};EndpointSuffix=core.windows.net"
    return text, f"AccountKey={key}"


def _private_key(rng: random.Random) -> tuple[str, str]:
    header = tokens.private_key_header(rng)
    return header, header.strip("-")


def _putty_key(rng: random.Random) -> tuple[str, str]:
    header = tokens.putty_key_header()
    return f"{header}: ssh-rsa\nEncryption: none\nComment: {tokens.random_word(rng)}", header


def _npm_hex(rng: random.Random) -> tuple[str, str]:
    parts = [tokens.chars(rng, tokens.HEX, n) for n in (8, 4, 4, 4, 12)]
    token = "-".join(parts)
    return f"//registry.npmjs.org/:_authToken={token}", token


def _netrc_multi_line(rng: random.Random) -> tuple[str, str]:
    key = tokens.wandb_key(rng)
    return f"machine api.wandb.ai\n  login user\n  password {key}", key


EXAMPLES: dict[str, list[Example]] = {
    "huggingface-token": [
        Example(same(tokens.hf_token, "HF_TOKEN = '{}'")),
        Example(same(tokens.hf_token, "ENV HUGGING_FACE_HUB_TOKEN={}")),
        Example(same(tokens.hf_token, '"source": ["import os\\n{}\\n"]')),
    ],
    "huggingface-org-token": [
        Example(same(tokens.hf_org_token, "token = '{}'")),
        Example(same(tokens.hf_org_token, "Authorization: Bearer {}")),
    ],
    "wandb-api-key": [
        Example(same(tokens.wandb_key, "WANDB_API_KEY={}"), secret_holds_anchor=False),
        Example(same(tokens.wandb_key, "ENV WANDB_API_KEY {}"), secret_holds_anchor=False),
        Example(same(tokens.wandb_key, 'os.environ["WANDB_API_KEY"] = "{}"'), secret_holds_anchor=False),
        Example(same(tokens.wandb_key, "wandb.login(key='{}')"), secret_holds_anchor=False),
        Example(same(tokens.wandb_key, "RUN wandb login --relogin {}"), secret_holds_anchor=False),
        Example(same(tokens.wandb_key, "machine api.wandb.ai login me password {}"), secret_holds_anchor=False),
        Example(_netrc_multi_line, secret_holds_anchor=False, single_line=False),
    ],
    "url-credentials": [
        Example(_url_credentials("https", "github.com"), secret_holds_anchor=False),
        Example(_url_credentials("postgresql", "db.internal:5432"), secret_holds_anchor=False),
        Example(_url_credentials("ftp", "files.example.org"), secret_holds_anchor=False),
    ],
    "aws-key": [
        Example(same(tokens.aws_access_key_id, "aws_access_key_id = {}")),
        Example(same(lambda r: tokens.aws_access_key_id(r, "ASIA"), "key: {}")),
        Example(same(lambda r: tokens.aws_access_key_id(r, "ABIA"), "{}")),
        Example(same(lambda r: tokens.aws_access_key_id(r, "ACCA"), "'{}'")),
        Example(same(lambda r: tokens.aws_access_key_id(r, "A3TX"), "id={}")),
        Example(_aws_secret("aws_secret_access_key = '{}'"), secret_holds_anchor=False),
        Example(_aws_secret('AWS_SECRET_ACCESS_KEY: "{}"'), secret_holds_anchor=False),
        Example(_aws_secret("client(aws_token='{}')"), secret_holds_anchor=False),
    ],
    "azure-storage-key": [Example(_azure)],
    "github-token": [
        Example(same(lambda r, prefix=prefix: tokens.github_token(r, prefix), "GITHUB_TOKEN={}"))
        for prefix in ("ghp", "gho", "ghu", "ghs", "ghr")
    ],
    "gitlab-token": [
        Example(same(tokens.gitlab_token, "CI_TOKEN={}")),
        Example(same(lambda r: tokens.gitlab_token(r, "gldt", 30), "token: {}")),
        Example(same(lambda r: tokens.gitlab_token(r, "glrt", 50), "'{}'")),
        Example(same(lambda r: tokens.gitlab_token(r, "glcbt"), "JOB={}")),
        Example(same(lambda r: tokens.gitlab_token(r, "glimt", 25), "{}")),
        Example(same(lambda r: tokens.gitlab_token(r, "glptt", 40), "{}")),
        Example(same(lambda r: tokens.gitlab_token(r, "glagent", 50), "{}")),
        Example(same(lambda r: tokens.gitlab_token(r, "gloas", 64), "{}")),
        Example(same(tokens.gitlab_runner_registration_token, "registration-token {}")),
    ],
    "private-key": [Example(_private_key), Example(_putty_key, single_line=False)],
    "openai-key": [Example(same(tokens.openai_key, "OPENAI_API_KEY={}"))],
    "pypi-token": [
        Example(same(tokens.pypi_token, "password = {}")),
        Example(same(lambda r: tokens.pypi_token(r, test_index=True), "password: {}")),
    ],
    "slack-token": [
        Example(same(tokens.slack_token, "SLACK_TOKEN={}")),
        Example(same(lambda r: tokens.slack_token(r, "p"), "token='{}'")),
        Example(same(tokens.slack_webhook, "webhook: {}")),
    ],
    "stripe-key": [
        Example(same(tokens.stripe_key, "stripe.api_key = '{}'")),
        Example(same(lambda r: tokens.stripe_key(r, "rk"), "{}")),
    ],
    "sendgrid-key": [Example(same(tokens.sendgrid_key, "SENDGRID_API_KEY={}"))],
    "square-oauth": [Example(same(tokens.square_oauth_secret, "square_secret: {}"))],
    "npm-token": [
        Example(same(tokens.npm_token, "//registry.npmjs.org/:_authToken={}"), secret_holds_anchor=False),
        Example(_npm_hex, secret_holds_anchor=False),
    ],
    "mailchimp-key": [Example(same(tokens.mailchimp_key, "MAILCHIMP_KEY={}"))],
    "jwt": [
        Example(same(tokens.jwt, "Authorization: Bearer {}")),
        Example(same(tokens.jwt, "token = '{}'")),
    ],
}

ANCHORED = [kind for kind in KINDS if kind.anchors is not None]
CASES = [
    pytest.param(kind, index, example, id=f"{kind.id}-{index}")
    for kind in ANCHORED
    for index, example in enumerate(EXAMPLES.get(kind.id, []))
]
SEEDS = range(4)


def plugin_reports(kind: Kind, text: str) -> list[tuple[str, str]]:
    """(secret, the line it was found on) for everything the kind's plugin reports, line by line."""
    plugin = kind.plugin()
    lines = text.split("\n")
    found = []
    for number, line in enumerate(lines, start=1):
        context = get_code_snippet(lines, number)
        for item in plugin.analyze_line(filename="f", line=line, line_number=number, context=context):
            assert item.secret_value is not None
            found.append((item.secret_value, line))
    return found


def holds_anchor(kind: Kind, text: str) -> bool:
    return any(anchor in text.lower() for anchor in kind.anchors or ())


def line_of(text: str, secret: str) -> int:
    """The 1-based line of `text` that holds `secret`."""
    return next(number for number, line in enumerate(text.split("\n"), start=1) if secret in line)


def mixed_case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


# ---- the table ---------------------------------------------------------------------------------------


def test_every_anchored_kind_has_examples() -> None:
    missing = [kind.id for kind in ANCHORED if len(EXAMPLES.get(kind.id, [])) < 1]
    assert missing == []
    assert set(EXAMPLES) <= {kind.id for kind in KINDS}


def test_kind_ids_are_unique_and_kebab_case() -> None:
    ids = [kind.id for kind in KINDS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", kind_id) for kind_id in ids)
    assert {kind.id: kind for kind in KINDS} == BY_ID


def test_each_plugin_and_secret_type_belongs_to_one_kind() -> None:
    plugins = [kind.plugin for kind in KINDS]
    assert len(plugins) == len(set(plugins))
    assert len(BY_SECRET_TYPE) == len(KINDS)
    for kind in KINDS:
        assert issubclass(kind.plugin, BasePlugin)
        assert BY_SECRET_TYPE[kind.plugin.secret_type] is kind


def test_rules_are_ra9_ids_and_labels_are_set() -> None:
    for kind in KINDS:
        assert re.fullmatch(r"RA9\d\d", kind.rule), kind
        assert kind.label and kind.label == kind.label.strip()
    # Kinds that share a rule are variants of one family; ours each have a rule of their own.
    for kind_id in ("huggingface-token", "huggingface-org-token", "wandb-api-key", "private-key", "jwt"):
        assert [k.id for k in KINDS if k.rule == BY_ID[kind_id].rule] == [kind_id]


def test_anchors_are_lowercase_ascii_and_non_empty() -> None:
    for kind in ANCHORED:
        assert kind.anchors, kind.id
        for anchor in kind.anchors or ():
            assert anchor == anchor.lower() and anchor.isascii() and anchor.strip() == anchor and anchor, anchor


def test_entropy_kinds_have_no_anchors_and_only_they_lack_them() -> None:
    assert {kind.id for kind in KINDS if kind.entropy} == {"base64-high-entropy", "hex-high-entropy"}
    for kind in KINDS:
        assert (kind.anchors is None) == kind.entropy, kind.id


def test_select_leaves_entropy_out_unless_asked() -> None:
    default = select()
    assert {k.id for k in default.kinds} == {k.id for k in KINDS if not k.entropy}
    assert not default.every_line
    with_entropy = select(entropy=True)
    assert {k.id for k in with_entropy.kinds} == {k.id for k in KINDS}
    assert with_entropy.every_line
    # Named explicitly, an entropy kind is selected whatever the flag says.
    assert [k.id for k in select(["hex-high-entropy"]).kinds] == ["hex-high-entropy"]


def test_select_keeps_catalog_order_and_is_cached() -> None:
    chosen = select(["jwt", "huggingface-token", "aws-key", "jwt"])
    assert [k.id for k in chosen.kinds] == ["huggingface-token", "aws-key", "jwt"]
    assert select(["aws-key", "jwt", "huggingface-token"]) is chosen
    assert select(["no-such-kind"]).kinds == ()


def test_detector_set_owners_and_anchors() -> None:
    chosen = select(["huggingface-token", "wandb-api-key", "aws-key"])
    assert chosen.anchors == tuple(sorted(chosen.anchors))
    assert set(chosen.anchors) == {a.encode() for k in chosen.kinds for a in k.anchors or ()}
    for anchor, indexes in chosen.owners.items():
        for index in indexes:
            assert anchor.decode() in (chosen.detectors[index].kind.anchors or ())
    assert chosen.candidate(b"x = 'hf_'") and chosen.candidate(b"export wandb_api_key=")
    assert not chosen.candidate(b"nothing to see here\n")


def test_detector_wants_its_anchors_only() -> None:
    (hf,) = select(["huggingface-token"]).detectors
    assert hf.wants("token = hf_abc".lower())
    assert not hf.wants("token = abc")
    (entropy,) = select(["base64-high-entropy"]).detectors
    assert entropy.wants("anything at all")


def test_only_context_plugins_get_the_slow_path() -> None:
    needing = {d.kind.id for d in select(entropy=True).detectors if d.needs_context}
    assert needing == {"wandb-api-key", "base64-high-entropy", "hex-high-entropy"}


# ---- every reported secret holds an anchor ---------------------------------------------------------


@pytest.mark.parametrize(("kind", "index", "example"), CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_plugin_reports_example_on_an_anchored_line(kind: Kind, index: int, example: Example, seed: int) -> None:
    text, secret = example.make(tokens.source((kind.id, index, seed)))
    found = plugin_reports(kind, text)
    assert secret in {value for value, _ in found}
    for value, line in found:
        assert holds_anchor(kind, line), (kind.id, line)
        if example.secret_holds_anchor:
            assert holds_anchor(kind, value), (kind.id, value)


@pytest.mark.parametrize(("kind", "index", "example"), CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_any_case_variant_the_plugin_reports_holds_an_anchor(
    kind: Kind, index: int, example: Example, seed: int
) -> None:
    # Anchors are compared in lowercase; a plugin matching without regard to case (AWS, Slack) must
    # still be caught whatever the case of the line.
    rng = tokens.source((kind.id, index, seed, "case"))
    text, _ = example.make(rng)
    for _ in range(8):
        variant = mixed_case(rng, text)
        for value, line in plugin_reports(kind, variant):
            assert holds_anchor(kind, line), (kind.id, line)
            scanned = ContentScanner(select([kind.id])).scan(variant.encode(), "variant.txt")
            assert value in {hit.secret for hit in scanned.hits}, (kind.id, variant)


@pytest.mark.parametrize(("kind", "index", "example"), CASES)
def test_content_scanner_finds_example_in_text(kind: Kind, index: int, example: Example) -> None:
    text, secret = example.make(tokens.source((kind.id, index, "text")))
    blob = f"# settings\n\n{text}\nprint('done')\n".encode()
    hits = [hit for hit in ContentScanner(select()).scan(blob, "settings.txt").hits if hit.secret == secret]
    assert [hit.kind.id for hit in hits] == [kind.id]
    assert hits[0].line == 2 + line_of(text, secret)


@pytest.mark.parametrize(("kind", "index", "example"), [case for case in CASES if case.values[2].single_line])
def test_content_scanner_finds_example_in_binary(kind: Kind, index: int, example: Example) -> None:
    text, secret = example.make(tokens.source((kind.id, index, "binary")))
    blob = b"\x00\x01\x02header\x00" + text.encode() + b"\x00\xff\xfe trailer\x00"
    hits = [hit for hit in ContentScanner(select()).scan(blob, "data.bin").hits if hit.secret == secret]
    assert [hit.kind.id for hit in hits] == [kind.id]
    assert hits[0].offset == blob.find(secret.encode())


def test_content_scanner_finds_every_example_of_one_file_on_its_line() -> None:
    rng = tokens.source("one-file")
    lines: list[str] = []
    expected = set()
    for kind, _index, example in (case.values for case in CASES):
        text, secret = example.make(rng)
        lines.append("")
        expected.add((len(lines) + line_of(text, secret), kind.id, secret))
        lines.extend(text.split("\n"))
    blob = "\n".join(lines).encode()
    found = {(hit.line, hit.kind.id, hit.secret) for hit in ContentScanner(select()).scan(blob, "all.txt").hits}
    assert expected <= found


# ---- entropy kinds -----------------------------------------------------------------------------------


def test_entropy_kinds_are_off_by_default_and_find_random_strings_when_on(rng: random.Random) -> None:
    b64 = tokens.chars(rng, tokens.ALNUM + "+/", 40)
    hexed = tokens.chars(rng, tokens.HEX, 48)
    blob = f"a = '{b64}'\nb = \"{hexed}\"\n".encode()
    assert ContentScanner(select()).scan(blob, "f.py").hits == []
    hits = ContentScanner(select(entropy=True)).scan(blob, "f.py").hits
    assert {(hit.line, hit.kind.id, hit.secret) for hit in hits} == {
        (1, "base64-high-entropy", b64),
        (2, "hex-high-entropy", hexed),
    }


def test_entropy_kinds_skip_uuids_and_sequences() -> None:
    blob = b"id = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'\nseq = 'abcdefghijklmnopqrstuvwxyz0123456789'\n"
    assert ContentScanner(select(entropy=True)).scan(blob, "f.py").hits == []
