"""Terminal passwords are stored as scrypt hashes; secrets come from env or files."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from config.secrets import hash_password, parse_password_hash, read_secret, verify_password

if TYPE_CHECKING:
    from pathlib import Path


def test_hash_and_verify() -> None:
    """A password verifies against its own hash and nothing else; salts differ."""
    stored = hash_password("demo")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("demo", stored)
    assert not verify_password("demo ", stored)
    assert hash_password("demo") != stored
    assert hash_password("demo", salt=b"0123456789abcdef") == hash_password(
        "demo", salt=b"0123456789abcdef"
    )


@pytest.mark.parametrize(
    "stored",
    [
        "demo",
        "bcrypt$1$2$3$4$5",
        "scrypt$x$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$16384$8$1$!!!$AAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$1000$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$16384$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_malformed_hashes_never_verify(stored: str) -> None:
    """A stored value that is not a well-formed hash is refused, never a crash."""
    with pytest.raises(ValueError, match="hash"):
        parse_password_hash(stored)
    assert not verify_password("demo", stored)


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret is read from a variable or a file (its trailing newline dropped)."""
    monkeypatch.setenv("INTERLEND_TEST_SECRET", "s3")
    assert read_secret(env="INTERLEND_TEST_SECRET") == "s3"
    path = tmp_path / "secret"
    path.write_text("from-file\n", encoding="utf-8")
    assert read_secret(file=path) == "from-file"
    monkeypatch.delenv("INTERLEND_TEST_SECRET")
    with pytest.raises(LookupError, match="is not set"):
        read_secret(env="INTERLEND_TEST_SECRET")
    with pytest.raises(LookupError, match="cannot read"):
        read_secret(file=tmp_path / "missing")
    with pytest.raises(LookupError, match="either env or file"):
        read_secret()
