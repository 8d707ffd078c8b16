"""``[gateway.admin]``: which hosts are loopback, and tokens required beyond it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.models import AdminListener, SecretRef, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.4.5.6", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("::ffff:127.0.0.1", False),
        ("admin.example.org", False),
        ("", False),
    ],
)
def test_only_the_loopback_interface_counts_as_loopback(host: str, loopback: bool) -> None:
    """Names other than localhost and every other address may be reached from outside."""
    assert is_loopback(host) is loopback


def test_beyond_loopback_the_admin_port_needs_tokens() -> None:
    """Without tokens only a loopback host is accepted; the error says what to do."""
    assert AdminListener().tokens == ()
    assert AdminListener(host="::1").host == "::1"
    with pytest.raises(ValidationError) as refused:
        AdminListener(host="0.0.0.0")
    assert "beyond loopback" in str(refused.value)
    assert "tokens = [" in str(refused.value)
    guarded = AdminListener(host="0.0.0.0", tokens=(SecretRef(env="ADMIN_TOKEN"),))
    assert guarded.tokens == (SecretRef(env="ADMIN_TOKEN"),)
