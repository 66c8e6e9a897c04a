"""Redaction: the only forms in which a secret leaves a scan (a label, a salted fingerprint, a marker)."""

from __future__ import annotations

import random
import re

import pytest

from audit.secrets import redact
from audit.secrets.redact import FINGERPRINT_HEX, Redactor, fingerprint, marker, redacted
from tests.secrets import tokens


@pytest.mark.parametrize("length", [13, 14, 20, 37, 42, 200])
def test_long_secret_shows_three_and_two_characters_and_length(rng: random.Random, length: int) -> None:
    secret = tokens.alnum(rng, length)
    assert redacted(secret) == f"{secret[:3]}…{secret[-2:]} ({length} chars)"


@pytest.mark.parametrize("length", [0, 1, 5, 8, 12])
def test_short_secret_shows_only_its_length(rng: random.Random, length: int) -> None:
    secret = tokens.alnum(rng, length)
    assert redacted(secret) == f"… ({length} chars)"


def test_at_least_eight_characters_stay_hidden(rng: random.Random) -> None:
    for length in range(0, 60):
        secret = tokens.alnum(rng, length)
        label = redacted(secret)
        shown = len(label.split(" (")[0].replace("…", ""))
        assert shown in (0, 5)
        assert shown == 0 or length - shown >= 8
        assert f"({length} chars)" in label
        if length >= 6:
            assert secret not in label


def test_huggingface_token_label(rng: random.Random) -> None:
    token = tokens.hf_token(rng)
    assert redacted(token) == f"hf_…{token[-2:]} (37 chars)"


def test_fingerprint_is_16_hex_and_stable_for_one_salt(rng: random.Random) -> None:
    secret = tokens.hf_token(rng)
    first = fingerprint(secret, "salt-a")
    assert re.fullmatch(rf"[0-9a-f]{{{FINGERPRINT_HEX}}}", first) and FINGERPRINT_HEX == 16
    assert fingerprint(secret, "salt-a") == first
    assert fingerprint(secret, "salt-b") != first
    assert fingerprint(tokens.hf_token(rng), "salt-a") != first
    assert secret not in first


def test_fingerprint_separates_salt_from_secret() -> None:
    # Salt and secret are joined with a NUL, so moving characters across the boundary changes the print.
    assert fingerprint("bc", "a") != fingerprint("c", "ab")


def test_fingerprint_of_a_lone_surrogate_does_not_raise() -> None:
    assert len(fingerprint("tok\udce9en", redact.DEFAULT_SALT)) == FINGERPRINT_HEX


def test_marker_names_kind_and_fingerprint(rng: random.Random) -> None:
    secret = tokens.wandb_key(rng)
    assert marker("wandb-api-key", secret, "s") == f"<REDACTED:wandb-api-key:{fingerprint(secret, 's')}>"


def test_default_salt_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(redact.SALT_ENV, raising=False)
    assert redact.default_salt() == redact.DEFAULT_SALT
    monkeypatch.setenv(redact.SALT_ENV, "private")
    assert redact.default_salt() == "private"
    monkeypatch.setenv(redact.SALT_ENV, "")
    assert redact.default_salt() == redact.DEFAULT_SALT


def test_redactor_replaces_every_occurrence_and_leaves_the_rest(rng: random.Random) -> None:
    hf, key = tokens.hf_token(rng), tokens.wandb_key(rng)
    text = f"token {hf} in a.py\nagain {hf}; key={key}.\nnothing else"
    redactor = Redactor([hf, key])
    assert redactor(text) == f"token {redacted(hf)} in a.py\nagain {redacted(hf)}; key={redacted(key)}.\nnothing else"
    assert hf not in redactor(text) and key not in redactor(text)
    assert redactor("no secrets here") == "no secrets here"


def test_redactor_prefers_the_longest_secret(rng: random.Random) -> None:
    short = tokens.alnum(rng, 20)
    long = short + tokens.alnum(rng, 10)
    redactor = Redactor([short, long])
    assert redactor(f"a {long} b {short} c") == f"a {redacted(long)} b {redacted(short)} c"
    assert Redactor([long, short])(long) == redacted(long)


def test_redactor_escapes_regex_characters(rng: random.Random) -> None:
    password = "p.a+s$s(" + tokens.alnum(rng, 10) + ")*"
    redactor = Redactor([password])
    assert redactor(f"url=https://u:{password}@h") == f"url=https://u:{redacted(password)}@h"
    assert redactor("pxa+s$s(") == "pxa+s$s("


def test_redactor_add_and_truthiness(rng: random.Random) -> None:
    first, second = tokens.hf_token(rng), tokens.hf_token(rng)
    redactor = Redactor()
    assert not redactor and redactor(first) == first
    redactor.add(["", first])
    assert redactor and redactor(f"{first} {second}") == f"{redacted(first)} {second}"
    redactor.add([second, first])
    assert redactor(f"{first} {second}") == f"{redacted(first)} {redacted(second)}"
    assert redactor("") == ""
