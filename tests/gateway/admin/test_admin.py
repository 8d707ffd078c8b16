"""The admin port over real HTTP: bearer tokens, paging of ``/api/loans`` and the
checks that keep a GET from changing anything at a member ILS."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from adapters.state.base import LoanRequest, Reservation
from config.errors import ConfigError
from config.models import AdminListener, Config, SecretRef
from gateway.admin.routes import LOANS_LISTED
from gateway.cli.main import main
from protocols.ncip import Header, LookupAgency, read_reply, write_request
from tests.helpers.demo import circulation_demo, running_demo

if TYPE_CHECKING:
    from collections.abc import Callable

    from adapters.state.base import StateStore
    from gateway.demo.network import Demo

ROOT = Path(__file__).parents[3]
DEMO_TOML = ROOT / "config" / "demo.toml"
# A bound on failure only: a new interpreter on a fresh clone compiles the whole package
# first, which takes tens of seconds on two busy cores.
TIMEOUT = 60
TOKEN_ENV = "INTERLEND_TEST_ADMIN_TOKEN"
ENV_TOKEN = "env-token-0123456789abcdef"
FILE_TOKEN = "file-token-0123456789abcdef"


async def get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(url, headers=headers)


async def lend(store: StateStore, count: int) -> list[str]:
    """Make ``count`` returned loans of beta items to alpha in the registry; their ids,
    newest first (returned, so that the caps never count them)."""
    now = datetime.now(UTC)
    ids = []
    for n in range(count):
        item = f"31002{n:09d}"
        held = await store.reserve(
            LoanRequest(
                owner="beta",
                home="alpha",
                item=item,
                patron_key="k",
                proxy_patron="ILL-alpha",
                terminal="admin-test",
                idempotency_key=f"admin-test-{n}",
                cap_at_owner=None,
                cap_total=None,
            ),
            now=now,
        )
        assert isinstance(held, Reservation)
        loan = await store.commit(held, due=now + timedelta(days=14), now=now)
        await store.close("beta", item, now=now)
        ids.append(loan.loan_id)
    return ids[::-1]


# --- /api/loans ---------------------------------------------------------------------------


async def test_loans_come_a_page_at_a_time_and_say_what_follows(demo: Demo) -> None:
    """``limit`` and ``offset`` walk the loans newest first; each page says how many it
    holds, whether more follow and where the next page starts."""
    base = demo.bound.admin
    with trio.fail_after(TIMEOUT):
        ids = await lend(demo.gateway.services.store, 7)
        first = (await get(f"{base}/api/loans?limit=3")).json()
        second = (await get(f"{base}/api/loans?limit=3&offset={first['next']}")).json()
        last = (await get(f"{base}/api/loans?limit=3&offset={second['next']}")).json()
        whole = (await get(f"{base}/api/loans")).json()
    assert (first["returned"], first["limit"], first["offset"]) == (3, 3, 0)
    assert (first["more"], first["next"]) == (True, 3)
    assert (second["returned"], second["more"], second["next"]) == (3, True, 6)
    assert (last["returned"], last["more"], last["next"]) == (1, False, None)
    walked = [loan["loan_id"] for page in (first, second, last) for loan in page["loans"]]
    assert walked == ids
    assert whole["limit"] == 50
    assert [loan["loan_id"] for loan in whole["loans"]] == ids
    assert not whole["more"]


async def test_a_page_never_holds_more_than_the_maximum(demo: Demo) -> None:
    """A limit past the maximum is cut to 200 and the answer says so; the pages stop at
    the 1,000 most recent loans (``more`` still says older ones exist)."""
    base = demo.bound.admin
    with trio.fail_after(TIMEOUT):
        await lend(demo.gateway.services.store, LOANS_LISTED + 1)
        big = (await get(f"{base}/api/loans?limit=100000")).json()
        deepest = (await get(f"{base}/api/loans?limit=200&offset={LOANS_LISTED - 200}")).json()
    assert (big["limit"], big["returned"], big["more"], big["next"]) == (200, 200, True, 200)
    assert (deepest["returned"], deepest["more"], deepest["next"]) == (200, True, None)


@pytest.mark.parametrize(
    "query", ["limit=many", "offset=first", "offset=-1", f"offset={LOANS_LISTED}"]
)
async def test_a_page_that_cannot_be_given_is_a_400(demo: Demo, query: str) -> None:
    """Limits and offsets that are not whole numbers, or outside the listed loans."""
    with trio.fail_after(TIMEOUT):
        answer = await get(f"{demo.bound.admin}/api/loans?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"]


# --- GETs change nothing at the members ---------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "api/discover?item=31002000000001%7CAOgamma",
        "api/discover?item=31002000000001%0D11YN20261123%20%20%20%20120000",
        "api/discover?title=Beta%0ABook",
        "api/discover?isbn=9780000000002%00",
        f"api/discover?item=31002{'0' * 300}",
        "api/lenders?requester=alpha&title=Beta%7CBook",
        "api/lenders?requester=alpha&isbn=978%0D",
    ],
    ids=["delimiter", "cr", "lf", "nul", "long", "lenders-delimiter", "lenders-cr"],
)
async def test_lookups_refuse_what_could_reach_a_member_as_another_field(
    demo: Demo, query: str
) -> None:
    """A value with a SIP2 field delimiter, a control character (a CR would end the
    SIP2 message and start another), or past the length limit is a 400, and no member
    ILS was asked anything."""
    before = {m: len(sim.executed) for m, sim in demo.simulators.items()}
    with trio.fail_after(TIMEOUT):
        answer = await get(f"{demo.bound.admin}/{query}")
    assert answer.status_code == 400
    assert "must not hold" in answer.json()["error"] or "longer than" in answer.json()["error"]
    asked = {m: sim.executed[before[m] :] for m, sim in demo.simulators.items()}
    assert all("17" not in codes and "11" not in codes for codes in asked.values()), asked


async def test_a_clean_lookup_still_asks_the_owner(demo: Demo) -> None:
    """The allowed case: a plain barcode is looked up live at its owner (a 17)."""
    with trio.fail_after(TIMEOUT):
        answer = await get(f"{demo.bound.admin}/api/discover?item=31002000000001")
    assert answer.status_code == 200
    assert answer.json()["results"][0]["source"] == "live"
    assert "17" in demo.simulators["beta"].executed


# --- bearer tokens ------------------------------------------------------------------------


def _with_admin(host: str, token_file: Path) -> Callable[[Config], Config]:
    """The demo's configuration with its admin port on ``host`` and two tokens (one from
    the environment, one from a file)."""

    def adjust(config: Config) -> Config:
        config = circulation_demo(config)
        admin = AdminListener(
            host=host, port=0, tokens=(SecretRef(env=TOKEN_ENV), SecretRef(file=token_file))
        )
        gateway = config.gateway.model_copy(update={"admin": admin})
        return config.model_copy(update={"gateway": gateway})

    return adjust


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"], ids=["beyond-loopback", "loopback"])
async def test_admin_routes_need_a_bearer_token_but_the_probes(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tokens (required beyond loopback, optional but enforced on it) every admin
    route, ``/metrics`` included, answers 401 with a Bearer challenge unless one of the
    tokens is sent (the console's pages send a browser to their login instead);
    ``/healthz`` and ``/readyz`` stay open; the NCIP port is untouched."""
    monkeypatch.setenv(TOKEN_ENV, ENV_TOKEN)
    token_file = tmp_path / "admin-token"
    token_file.write_text(FILE_TOKEN + "\n", encoding="utf-8")
    with trio.fail_after(TIMEOUT):
        async with running_demo(_with_admin(host, token_file)) as demo:
            assert demo.bound.admin is not None
            assert demo.bound.ncip is not None
            base = demo.bound.admin.replace("0.0.0.0", "127.0.0.1").rstrip("/")
            paths = ("/api/members", "/api/analytics/usage", "/metrics")
            bare = {path: await get(f"{base}{path}") for path in paths}
            page = await get(f"{base}/")
            wrong = await get(f"{base}/api/members", {"Authorization": "Bearer not-the-token"})
            basic = await get(f"{base}/api/members", {"Authorization": f"Basic {ENV_TOKEN}"})
            prefix = await get(f"{base}/api/members", {"Authorization": f"Bearer {ENV_TOKEN[:-1]}"})
            by_env = await get(f"{base}/api/members", {"Authorization": f"Bearer {ENV_TOKEN}"})
            by_file = await get(f"{base}/metrics", {"Authorization": f"bearer {FILE_TOKEN}"})
            probes = [await get(f"{base}{path}") for path in ("/healthz", "/readyz")]
            ncip = await _post_ncip(demo.bound.ncip)
    for answer in bare.values():
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer ")
    # A browser cannot send a bearer token: the console's pages lead to its login.
    assert (page.status_code, page.headers["location"]) == (303, "/login?next=%2F")
    for answer in (wrong, basic, prefix):
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert by_env.status_code == 200
    assert set(by_env.json()) == {"alpha", "beta", "gamma"}
    assert by_file.status_code == 200
    assert "interlend_member_up" in by_file.text
    assert [answer.status_code for answer in probes] == [200, 200]
    assert read_reply(ncip.content).ok


async def _post_ncip(url: str) -> httpx.Response:
    """A LookupAgency from rs-beta with its API key (and no admin token)."""
    body = write_request(LookupAgency(Header("rs-beta", "interlend"), "beta"))
    headers = {
        "Content-Type": "application/xml",
        "X-API-Key": os.environ["INTERLEND_DEMO_NCIP_KEY"],
    }
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.post(url, content=body, headers=headers)


def _config_file(tmp_path: Path, admin: str) -> Path:
    """The demo file with a ``[gateway]`` table whose admin listener is ``admin``."""
    text = DEMO_TOML.read_text(encoding="utf-8")
    text += f"\n[gateway]\nadmin = {admin}\n\n[[gateway.sip2]]\nport = 0\n"
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_admin_port_beyond_loopback_without_tokens_does_not_start(tmp_path: Path) -> None:
    """``interlend serve`` refuses the file (exit 1, nothing started) and says why and
    what to do; ``check-config`` reports the same."""
    path = _config_file(tmp_path, '{ host = "0.0.0.0", port = 0 }')
    env = {**os.environ, "INTERLEND_DEMO_ILS_PASSWORD": "pw", "INTERLEND_DEMO_NCIP_KEY": "key"}
    served = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert served.returncode == 1
    assert "gateway.admin" in served.stderr
    assert "beyond loopback" in served.stderr
    assert "tokens" in served.stderr
    assert "nothing started" in served.stderr
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(path), "--no-secrets"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert checked.returncode == 1
    assert "gateway.admin" in checked.stderr
    assert "beyond loopback" in checked.stderr


def test_admin_tokens_must_be_readable_and_long_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``check-config`` names a token it cannot read, and one too short to be safe."""
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    path = _config_file(
        tmp_path, f'{{ host = "0.0.0.0", port = 0, tokens = [{{ env = "{TOKEN_ENV}" }}] }}'
    )
    assert main(["check-config", str(path)]) == 1
    assert f"environment variable {TOKEN_ENV} is not set" in capsys.readouterr().err
    monkeypatch.setenv(TOKEN_ENV, "short")
    assert main(["check-config", str(path)]) == 1
    assert "shorter than 16 characters" in capsys.readouterr().err
    monkeypatch.setenv(TOKEN_ENV, ENV_TOKEN)
    assert main(["check-config", str(path)]) == 0


async def test_a_configuration_made_in_code_cannot_open_the_admin_port_unguarded() -> None:
    """``model_copy`` skips the models' checks; an admin port beyond loopback without
    tokens still does not start (the gateway stops with the configuration error)."""

    def adjust(config: Config) -> Config:
        config = circulation_demo(config)
        assert config.gateway.admin is not None
        admin = config.gateway.admin.model_copy(update={"host": "0.0.0.0"})
        gateway = config.gateway.model_copy(update={"admin": admin})
        return config.model_copy(update={"gateway": gateway})

    refused = pytest.RaisesExc(ConfigError, match="beyond loopback")
    with trio.fail_after(TIMEOUT), pytest.RaisesGroup(refused, flatten_subgroups=True):
        async with running_demo(adjust):
            pass
