"""A session's verified patrons: bounded however long the kiosk stays connected."""

from __future__ import annotations

import pytest

from gateway.circulation.session import VERIFIED_PER_SESSION, Session, VerifiedPatrons


def test_a_session_that_never_ends_a_patron_session_remembers_the_last_patrons_only() -> None:
    session = Session(conn_id="c1", peer="127.0.0.2:4000")
    keys = [f"patron-{n:04d}" for n in range(10 * VERIFIED_PER_SESSION)]
    for key in keys:
        session.verified.add(key)
    assert len(session.verified) == VERIFIED_PER_SESSION
    assert list(session.verified) == keys[-VERIFIED_PER_SESSION:]
    assert keys[0] not in session.verified
    assert keys[-1] in session.verified


def test_a_patron_verified_again_is_the_most_recent_and_outlives_older_ones() -> None:
    verified = VerifiedPatrons(3)
    for key in ("a", "b", "c"):
        verified.add(key)
    verified.add("a")  # a again: now b is the oldest
    verified.add("d")
    assert list(verified) == ["c", "a", "d"]
    assert "b" not in verified


def test_discard_and_clear_forget() -> None:
    verified = VerifiedPatrons(4)
    verified.add("a")
    verified.add("b")
    verified.discard("a")
    verified.discard("unknown")
    assert list(verified) == ["b"]
    verified.clear()
    assert len(verified) == 0
    assert "b" not in verified


def test_the_bound_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        VerifiedPatrons(0)
