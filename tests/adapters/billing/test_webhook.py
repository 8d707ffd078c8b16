"""The settlement webhook against a real HTTP receiver on loopback
(``tests/helpers/webhook.py``)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import trio
from structlog.testing import capture_logs

from adapters.backoff import Backoff
from adapters.billing.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookFailed,
    post_signed,
    sign,
    verify,
)
from tests.helpers.services import dead_port
from tests.helpers.webhook import RECEIVER_SECRET, start_receiver

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SECRET = RECEIVER_SECRET
BODY = b'{"event": "settlement", "sent_at": 1764547200}\n'


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


def _quick() -> Backoff:
    # Back-off between tries, not a wait for something: short so the test is quick.
    return Backoff(0.01, 0.05)


def test_the_signature_is_the_hmac_of_the_body() -> None:
    """``sha256=`` and the hex HMAC-SHA256; any change to body or key fails it."""
    header = sign(SECRET, BODY)
    assert header == "sha256=" + hmac.new(SECRET, BODY, "sha256").hexdigest()
    assert verify(SECRET, BODY, header)
    assert not verify(SECRET, BODY + b" ", header)
    assert not verify(b"another key", BODY, header)
    assert not verify(SECRET, BODY, "sha256=00")


async def test_a_receiver_that_fails_twice_gets_it_on_the_third_try(
    nursery: trio.Nursery,
) -> None:
    """Two 503s, then accepted: three tries, each with the same signed bytes."""
    receiver = await start_receiver(nursery, fail_first=2)
    with trio.fail_after(20):
        delivered = await post_signed(
            receiver.url, BODY, secret=SECRET, timestamp=1764547200, attempts=5,
            timeout_s=5, backoff=_quick(),
        )  # fmt: skip
    assert (delivered.status, delivered.attempts) == (204, 3)
    assert len(receiver.received) == 3
    for body, headers in receiver.received:
        assert body == BODY
        assert headers[SIGNATURE_HEADER.lower()] == sign(SECRET, BODY)
        assert headers[TIMESTAMP_HEADER.lower()] == "1764547200"
        assert headers["content-type"] == "application/json"


async def test_a_redirect_is_not_followed(nursery: trio.Nursery) -> None:
    """A 308 elsewhere: refused at once, the document not sent on."""
    receiver = await start_receiver(nursery, fail_first=9, status_when_failing=308)
    with trio.fail_after(20), pytest.raises(WebhookFailed, match=r"HTTP 308") as failed:
        await post_signed(
            receiver.url, BODY, secret=SECRET, timestamp=1, attempts=5, timeout_s=5,
            backoff=_quick(),
        )  # fmt: skip
    assert (failed.value.attempts, failed.value.retryable) == (1, False)
    assert len(receiver.received) == 1


async def test_a_receiver_with_another_secret_refuses_at_once(nursery: trio.Nursery) -> None:
    """A 4xx (here the receiver's 401 for a bad signature) is not tried again."""
    receiver = await start_receiver(nursery)
    with trio.fail_after(20), pytest.raises(WebhookFailed, match="refused") as failed:
        await post_signed(
            receiver.url, BODY, secret=b"not the receiver's", timestamp=1, attempts=5,
            timeout_s=5, backoff=_quick(),
        )  # fmt: skip
    assert (failed.value.attempts, failed.value.retryable) == (1, False)
    assert len(receiver.received) == 1


async def test_a_receiver_that_keeps_failing_is_given_up_after_the_attempts(
    nursery: trio.Nursery,
) -> None:
    """Always 500: exactly ``attempts`` tries, then a failure that says so."""
    receiver = await start_receiver(nursery, fail_first=100, status_when_failing=500)
    with trio.fail_after(20), pytest.raises(WebhookFailed, match="after 3 tries") as failed:
        await post_signed(
            receiver.url, BODY, secret=SECRET, timestamp=1, attempts=3, timeout_s=5,
            backoff=_quick(),
        )  # fmt: skip
    assert failed.value.retryable
    assert len(receiver.received) == 3


async def test_a_hanging_receiver_costs_one_time_limit_per_try(nursery: trio.Nursery) -> None:
    """Each try ends at its own time limit; the failure names it."""
    receiver = await start_receiver(nursery, hang=True)
    with trio.fail_after(20), pytest.raises(WebhookFailed, match=r"no answer within 0.2 s"):
        await post_signed(
            receiver.url, BODY, secret=SECRET, timestamp=1, attempts=2, timeout_s=0.2,
            backoff=_quick(),
        )  # fmt: skip
    assert len(receiver.received) == 2


async def test_nobody_listening_is_retried_then_reported() -> None:
    """Connection refused on every try: retryable, and the secret is not in the message."""
    url = f"http://127.0.0.1:{dead_port()}/hook"
    with trio.fail_after(20), pytest.raises(WebhookFailed) as failed:
        await post_signed(
            url, BODY, secret=SECRET, timestamp=1, attempts=2, timeout_s=2, backoff=_quick()
        )
    assert failed.value.retryable
    assert urlsplit(url).netloc in str(failed.value)
    assert SECRET.decode() not in str(failed.value)


async def test_credentials_in_the_url_are_never_logged_nor_told(nursery: trio.Nursery) -> None:
    """A receiver URL carrying credentials (user and password, or a token in the query,
    as some receivers want) is written to the logs and the error without them."""
    receiver = await start_receiver(nursery, fail_first=9, status_when_failing=422)
    parts = urlsplit(receiver.url)
    url = f"{parts.scheme}://hook-user:hook-pass@{parts.netloc}{parts.path}?token=hook-token"
    with capture_logs() as logs, trio.fail_after(20), pytest.raises(WebhookFailed) as failed:
        await post_signed(
            url, BODY, secret=SECRET, timestamp=1, attempts=1, timeout_s=5, backoff=_quick()
        )
    told = repr(logs) + str(failed.value)
    assert len(receiver.received) == 1
    assert "hook-pass" not in told
    assert "hook-token" not in told
    assert f"{parts.scheme}://{parts.netloc}{parts.path}?… refused" in str(failed.value)
