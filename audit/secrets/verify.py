"""`--verify`: ask HuggingFace whether each HuggingFace token found is live, revoked, or cannot be told.

Off by default: verifying sends the token over the network, which is only acceptable to the service that
issued it. So the only request ever made is `GET {base}/api/whoami-v2` with the token as a bearer
credential, to the configured base URL (default https://huggingface.co): HTTPS only, except a loopback
address (a test server or a local mirror); no redirect is followed (it could carry the token elsewhere);
a short timeout; and no other kind of secret is ever sent anywhere.

200 means live (with the token's role when the answer names it), 401 or 403 revoked or invalid; anything
else (rate limits, timeouts, network errors) is "unknown".
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_BASE_URL = "https://huggingface.co"
DEFAULT_TIMEOUT = 5.0
VERIFIABLE_KINDS = frozenset({"huggingface-token", "huggingface-org-token"})


class VerifyConfigError(ValueError):
    """A base URL a token must never be sent to."""


@dataclass(frozen=True)
class Liveness:
    status: str  # "live", "revoked" or "unknown"
    detail: str = ""  # "write access", "HTTP 429", "timed out"...

    def __str__(self) -> str:
        return f"{self.status} ({self.detail})" if self.detail else self.status


def check_base_url(base_url: str) -> str:
    """The base URL without a trailing slash, or VerifyConfigError when a token must not go there."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise VerifyConfigError(f"--verify-url {base_url!r}: give an https:// URL such as {DEFAULT_BASE_URL}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise VerifyConfigError(
            f"--verify-url {base_url!r}: tokens are only sent over https (plain http only to a loopback address)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise VerifyConfigError(f"--verify-url {base_url!r}: give a plain base URL, without credentials or query")
    return base_url.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect becomes an HTTPError: the token is never re-sent


def check_tokens(
    tokens: Iterable[str], base_url: str = DEFAULT_BASE_URL, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Liveness]:
    """Liveness of each distinct token, asked once each."""
    base = check_base_url(base_url)
    # No proxy from the environment either: the token goes to the base URL and nowhere else.
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))
    return {token: _ask(opener, base, token, timeout) for token in dict.fromkeys(tokens)}


def _ask(opener: urllib.request.OpenerDirector, base: str, token: str, timeout: float) -> Liveness:
    request = urllib.request.Request(f"{base}/api/whoami-v2", method="GET")
    request.add_unredirected_header("Authorization", f"Bearer {token}")
    request.add_header("User-Agent", "repro-audit (secret liveness check)")
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return Liveness("revoked", f"HTTP {exc.code}")
        return Liveness("unknown", f"HTTP {exc.code}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Liveness("unknown", "timed out" if isinstance(reason, TimeoutError) else "no answer")
    return Liveness("live", _role(body))


def _role(body: bytes) -> str:
    try:
        answer = json.loads(body)
        role = answer["auth"]["accessToken"]["role"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f"{role} access" if isinstance(role, str) and role.isalnum() else ""
