"""Secrets: references to the environment or to files, and hashed terminal passwords.

Configuration files never hold a secret in clear.  A credential the gateway must send
(an ILS login password, an NCIP API key) is a reference, ``{ env = "NAME" }`` or
``{ file = "/run/secrets/name" }``, resolved when the configuration is loaded.  A
password the gateway only checks (a kiosk's terminal login) is stored as a salted
scrypt hash, made with ``interlend hash-password``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["hash_password", "read_secret", "verify_password"]

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash a password for the configuration: ``scrypt$N$r$p$salt$hash``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"{_PREFIX}${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def parse_password_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    """Split a stored hash into its parameters (``ValueError`` if it is not one)."""
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != _PREFIX:
        raise ValueError("expected scrypt$N$r$p$salt$hash (made by `interlend hash-password`)")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as exc:
        raise ValueError(f"malformed password hash: {exc}") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or len(digest) < 16 or len(salt) < 8:
        raise ValueError("password hash parameters are out of range")
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by ``hash_password`` (constant time)."""
    try:
        n, r, p, salt, digest = parse_password_hash(stored)
    except ValueError:
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=2**27
    )
    return hmac.compare_digest(candidate, digest)


def read_secret(*, env: str | None = None, file: Path | None = None) -> str:
    """Read a secret from an environment variable or a file.

    Raises:
        LookupError: The variable is not set, or the file cannot be read; the message
            says which.
    """
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise LookupError(f"environment variable {env} is not set")
        return value
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise LookupError(f"cannot read {file}: {exc.strerror}") from None
    raise LookupError("a secret needs either env or file")
