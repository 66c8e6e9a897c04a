"""Token-shaped strings built at test time from a seeded random source.

No test file holds a literal token: secret scanners (ours included, and GitHub's push protection) would
flag the test suite itself, and a literal could be mistaken for a leaked credential. Every generator
takes a `random.Random`, so a test that seeds its own source gets the same strings on every run.
"""

from __future__ import annotations

import base64
import json
import random
import string

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"


def source(seed: object = 0) -> random.Random:
    """A random source seeded from any hashable-as-text value (a test's name, say)."""
    return random.Random(str(seed))


def chars(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def alnum(rng: random.Random, length: int) -> str:
    """Letters and digits, with at least one of each kind so no run is mistaken for a word or a number."""
    while True:
        text = chars(rng, ALNUM, length)
        if length < 3 or (
            any(c.isdigit() for c in text) and any(c.islower() for c in text) and any(c.isupper() for c in text)
        ):
            return text


def hex40(rng: random.Random) -> str:
    """40 lowercase hex characters: a W&B key, or a git commit id."""
    return chars(rng, HEX, 40)


def hf_token(rng: random.Random, length: int = 34) -> str:
    return "hf_" + alnum(rng, length)


def hf_org_token(rng: random.Random, length: int = 34) -> str:
    return "api_org_" + alnum(rng, length)


def wandb_key(rng: random.Random) -> str:
    return hex40(rng)


def aws_access_key_id(rng: random.Random, prefix: str = "AKIA") -> str:
    return prefix + chars(rng, UPPER_ALNUM, 16)


def aws_secret_access_key(rng: random.Random) -> str:
    return chars(rng, ALNUM + "/+", 40)


def azure_account_key(rng: random.Random) -> str:
    return chars(rng, ALNUM + "+/", 86) + "=="


def github_token(rng: random.Random, prefix: str = "ghp") -> str:
    return f"{prefix}_" + alnum(rng, 36)


def gitlab_token(rng: random.Random, prefix: str = "glpat", length: int = 20) -> str:
    return f"{prefix}-" + alnum(rng, length)


def gitlab_runner_registration_token(rng: random.Random) -> str:
    return "GR1348941" + alnum(rng, 20)


def openai_key(rng: random.Random) -> str:
    return "sk-" + alnum(rng, 20) + "T3Blbk" + "FJ" + alnum(rng, 20)


def pypi_token(rng: random.Random, test_index: bool = False) -> str:
    # The macaroon prefix is base64 of the index's domain; split so no file holds a whole token start.
    prefix = "pypi-AgENdGVzdC5weXBp" + "Lm9yZw" if test_index else "pypi-AgEIcHlw" + "aS5vcmc"
    return prefix + chars(rng, URLSAFE, 70)


def slack_token(rng: random.Random, flavour: str = "b") -> str:
    return f"xox{flavour}-" + chars(rng, string.digits, 10) + "-" + chars(rng, LOWER_ALNUM, 24)


def slack_webhook(rng: random.Random) -> str:
    return (
        "https://hooks.slack.com/services/T"
        + chars(rng, UPPER_ALNUM, 8)
        + "/B"
        + chars(rng, UPPER_ALNUM, 8)
        + "/"
        + alnum(rng, 24)
    )


def stripe_key(rng: random.Random, prefix: str = "sk") -> str:
    return f"{prefix}_live_" + alnum(rng, 24)


def sendgrid_key(rng: random.Random) -> str:
    return "SG." + alnum(rng, 22) + "." + alnum(rng, 43)


def square_oauth_secret(rng: random.Random) -> str:
    return "sq0csp-" + alnum(rng, 43)


def npm_token(rng: random.Random) -> str:
    return "npm_" + alnum(rng, 36)


def mailchimp_key(rng: random.Random) -> str:
    return chars(rng, HEX, 32) + "-us" + str(rng.randint(1, 20))


def private_key_header(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "DSA ", "OPENSSH ", ""])
    return f"-----BEGIN {kind}PRIVATE KEY-----"


def private_key_block(rng: random.Random) -> str:
    header = private_key_header(rng)
    body = "\n".join(chars(rng, ALNUM + "+/", 64) for _ in range(4))
    return f"{header}\n{body}\n{header.replace('BEGIN', 'END')}\n"


def putty_key_header() -> str:
    """The first word of a PuTTY private key file (in two parts, so this file is no key file itself)."""
    return "PuTTY-User-" + "Key-File-2"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt(rng: random.Random) -> str:
    """A formally valid JSON web token: two base64url JSON objects and a signature."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": alnum(rng, 12), "iat": rng.randint(10**9, 2 * 10**9)}).encode())
    signature = _b64url(rng.randbytes(32))
    return f"{header}.{payload}.{signature}"


def url_password(rng: random.Random) -> str:
    return alnum(rng, 16)


def random_word(rng: random.Random, length: int = 8) -> str:
    return chars(rng, string.ascii_lowercase, length)
