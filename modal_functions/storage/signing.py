"""HMAC-signed, expiring read URLs for the local artifact store.

A signed URL is

    {base_url}/v1/artifacts/{key}?exp={exp}&sig={sig}

where `exp` is the expiry as integer unix seconds (UTC) and

    sig = lowercase hex of HMAC-SHA256(key = utf8(secret), msg = utf8("GET\\n" + key + "\\n" + exp))

`key` is the artifact key exactly as in the path (it never needs percent-encoding:
the key grammar in `keys.py` only allows `[A-Za-z0-9_./-]`). The TypeScript worker
checks the same cases in packages/shared-types/vectors/url-signatures.json.

Verification checks the signature first (constant time), then the expiry, so a
tampered `exp` is `bad_signature` and a genuine but old URL is `signature_expired`;
both are 403. The clock is injectable so tests never wait.

A URL lives from 1 second to MAX_EXPIRES_IN (7 days, the API's `expires_in` limit too):
`check_expires_in` refuses anything else with `bad_request` before a URL is minted, so
no caller gets a URL that is already dead, or one whose `exp` the verifier would refuse.

The secret comes from ARTIFACT_SIGNING_SECRET; locally, when unset, a random secret
is created once in the data dir (`signing-secret`, mode 0600) so restarts keep URLs valid.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import time
from pathlib import Path
from typing import Callable

from ..errors import BAD_REQUEST, BAD_SIGNATURE, SIGNATURE_EXPIRED, CapabilityError
from .keys import parse_key

SECRET_FILE = "signing-secret"
EXP_RE = re.compile(r"[0-9]{1,12}")
SIG_RE = re.compile(r"[0-9a-f]{64}")
MAX_EXPIRES_IN = 7 * 24 * 3600  # seconds; the longest-lived URL any store hands out


def check_expires_in(expires_in: object) -> int:
    """`expires_in` as whole seconds in 1..MAX_EXPIRES_IN, or `bad_request` (400)."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise CapabilityError(
            BAD_REQUEST, f"expires_in must be a whole number of seconds from 1 to {MAX_EXPIRES_IN} (7 days), not {expires_in!r}",
            http_status=400)
    return expires_in


def canonical_string(key: str, exp: int) -> str:
    return f"GET\n{key}\n{exp}"


def sign(secret: str, key: str, exp: int) -> str:
    return hmac.new(secret.encode("utf-8"), canonical_string(key, exp).encode("utf-8"), hashlib.sha256).hexdigest()


def signed_url(base_url: str, secret: str, key: str, exp: int) -> str:
    return f"{base_url.rstrip('/')}/v1/artifacts/{key}?exp={exp}&sig={sign(secret, key, exp)}"


class UrlSigner:
    """Signs and verifies read URLs with one secret; `clock()` returns unix seconds."""

    def __init__(self, secret: str, base_url: str, clock: Callable[[], float] = time.time):
        if not secret:
            raise ValueError("signing secret must not be empty")
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    def signature(self, key: str, exp: int) -> str:
        return sign(self._secret, key, exp)

    def url(self, key: str, expires_in: int = 3600) -> str:
        parse_key(key)
        # rounded up: a URL lives at least `expires_in` seconds (a truncated clock cost up to one)
        exp = math.ceil(self.clock()) + check_expires_in(expires_in)
        return signed_url(self.base_url, self._secret, key, exp)

    def url_at(self, key: str, exp: int) -> str:
        parse_key(key)
        return signed_url(self.base_url, self._secret, key, exp)

    def verify(self, key: str, exp: str | int | None, sig: str | None) -> int:
        """Raise `bad_signature` / `signature_expired` (403); return the expiry when valid."""
        parse_key(key)
        exp_s = str(exp) if exp is not None else ""
        sig_s = sig or ""
        if not EXP_RE.fullmatch(exp_s) or not SIG_RE.fullmatch(sig_s):
            raise CapabilityError(BAD_SIGNATURE, "missing or malformed exp/sig", http_status=403)
        exp_i = int(exp_s)
        if not hmac.compare_digest(self.signature(key, exp_i), sig_s):
            raise CapabilityError(BAD_SIGNATURE, "signature does not match", http_status=403)
        if exp_i <= self.clock():
            raise CapabilityError(SIGNATURE_EXPIRED, "signed URL has expired", http_status=403)
        return exp_i


def load_or_create_secret(data_dir: Path) -> str:
    """The persisted local secret: created once (0600), then read back on every start."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    if not path.exists():
        # Write a temp file, then link it into place: link fails if another process won the race.
        tmp = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    value = path.read_text().strip()
    if not value:
        from . import StoreConfigError  # a configuration error: one line, exit 2 in the CLI

        raise StoreConfigError(f"signing secret file {path} is empty; delete it or set ARTIFACT_SIGNING_SECRET")
    return value
