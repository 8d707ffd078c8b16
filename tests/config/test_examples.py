"""The shipped configurations: the four 360 Consortium Edition models, the DAG case and
the demo consortium, each loaded and checked value by value."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import config
from config.loader import load_consortium
from config.secrets import verify_password

if TYPE_CHECKING:
    from config.consortium import Consortium

CONFIG_DIR = Path(config.__file__).parent
EXAMPLES = sorted((CONFIG_DIR / "examples").glob("*.toml"))


def load(name: str) -> Consortium:
    path = CONFIG_DIR / name if name == "demo.toml" else CONFIG_DIR / "examples" / name
    return load_consortium(path, check_secrets=False)


def value(c: Consortium, node: str, key: str) -> object:
    return c.effective[node][key].value


def reason(c: Consortium, node: str, key: str) -> str:
    return c.effective[node][key].reason


def test_every_model_is_shipped() -> None:
    """Examples exist for the four 360 models, the DAG case, cost sharing, and the
    consortium of simulated ILSs (`interlend simulate`)."""
    names = {path.name for path in EXAMPLES}
    assert names == {
        "cost-sharing.toml",
        "two-tier.toml",
        "multi-tier.toml",
        "pass-through.toml",
        "complex.toml",
        "dag.toml",
        "simulated.toml",
    }


@pytest.mark.parametrize("path", [*EXAMPLES, CONFIG_DIR / "demo.toml"], ids=lambda p: p.name)
def test_shipped_files_load_with_their_secrets(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the environment variables they name set, every shipped file loads."""
    text = path.read_text(encoding="utf-8")
    names = {part.split('"')[1] for part in text.split("env = ")[1:]}
    assert names, "every shipped example takes its ILS password from the environment"
    for name in names:
        monkeypatch.setenv(name, "secret")
    assert load_consortium(path).libraries


@pytest.mark.parametrize("path", [*EXAMPLES, CONFIG_DIR / "demo.toml"], ids=lambda p: p.name)
def test_no_secret_is_inline(path: Path) -> None:
    """Shipped files hold no password in clear: only env/file references and hashes."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or "=" not in line:
            continue
        key = line.split("=")[0].strip().lower()
        if "password" in key or "api_key" in key or "token" in key:
            assert "env =" in line or "file =" in line or "scrypt$" in line, line


def test_two_tier() -> None:
    """Members inherit the consortium's rules; an override stays local; a lock holds."""
    c = load("two-tier.toml")
    assert c.libraries == ("north", "south", "archive")
    assert value(c, "north", "circulation.visitor_loan_days") == 28
    assert reason(c, "north", "circulation.visitor_loan_days") == "set here"
    assert value(c, "south", "circulation.visitor_loan_days") == 21
    assert value(c, "archive", "circulation.visitor_loan_days") == 14
    for lib in c.libraries:
        assert value(c, lib, "circulation.block_fines_over") == Decimal("5.00")
        assert c.effective[lib]["circulation.block_fines_over"].locked_by == "metro"
        assert value(c, lib, "circulation.loan_cap_total") == 15
        assert value(c, lib, "ils.dialect.error_detection") == "required"
    assert value(c, "south", "ils.dialect.charset") == "utf-8"
    assert value(c, "north", "ils.dialect.charset") == "cp850"
    assert value(c, "south", "circulation.non_circulating_item_types") == ("010",)
    assert value(c, "north", "cost.size") == 42000
    assert c.nodes["archive"].kind == "non_client"
    assert c.owner_of("39000123") == "archive"
    assert c.home_of("221001234567890") == "north"
    assert c.home_of("22100123") is None  # too short for the 15-digit rule


def test_multi_tier() -> None:
    """Two levels of inheritance, with a lock at each level."""
    c = load("multi-tier.toml")
    assert value(c, "riverton", "circulation.visitor_loan_days") == 28
    assert reason(c, "riverton", "circulation.visitor_loan_days") == "inherited from valley"
    assert value(c, "riverton", "circulation.loan_cap_per_owner") == 8
    assert value(c, "millbrook", "circulation.loan_cap_per_owner") == 3
    assert value(c, "harbor", "circulation.visitor_loan_days") == 21
    assert value(c, "harbor", "circulation.visitor_renewals") == 0
    assert c.effective["harbor"]["circulation.visitor_renewals"].locked_by == "coast"
    assert value(c, "riverton", "circulation.visitor_renewals") == 2
    for lib in c.libraries:
        assert value(c, lib, "circulation.loan_cap_total") == 20
        assert c.effective[lib]["circulation.loan_cap_total"].locked_by == "state"
        assert value(c, lib, "circulation.proxy_patron_template") == "COOP-{home}"


def test_pass_through() -> None:
    """What is set on a profile reaches its members, and only them."""
    c = load("pass-through.toml")
    for lib in ("uni", "college"):
        assert value(c, lib, "circulation.lend_to") == ("academic",)
        assert value(c, lib, "circulation.patron_types") == ("staff", "student")
        assert value(c, lib, "circulation.visitor_loan_days") == 56
    assert value(c, "town", "circulation.lend_to") is None
    assert value(c, "town", "circulation.loan_cap_per_owner") == 10
    assert value(c, "town", "circulation.visitor_loan_days") == 21
    assert c.home_of("U1234567") == "uni"
    assert c.home_of("C1234567") == "college"


def test_complex() -> None:
    """A hybrid with a shared ILS, a profile, direct members, NCIP and a non-client."""
    c = load("complex.toml")
    assert value(c, "county-main", "ils.endpoints") == ("sip.county.example.org:6001",)
    assert reason(c, "county-main", "ils.endpoints") == "inherited from county"
    assert value(c, "county-main", "ils.institution_id") == "CML"
    assert value(c, "county-branch", "circulation.visitor_renewals") == 2
    assert value(c, "citylib", "circulation.visitor_renewals") == 1
    assert value(c, "museum", "circulation.visitor_loan_days") == 7
    assert value(c, "museum", "circulation.non_circulating_locations") == ("rare-books",)
    assert value(c, "bookmobile", "ils.adapter") == "ncip"
    assert value(c, "bookmobile", "ils.timeout_s") == 8.0
    assert c.ncip_peers["CITYLIB"][0] == "citylib"
    assert c.terminals["county-main-kiosk"].member == "county-main"
    for lib in c.libraries:
        assert c.effective[lib]["circulation.block_fines_over"].locked_by == "region"


def test_dag() -> None:
    """A library in two hybrids of one consortium, and one in two unrelated consortia."""
    c = load("dag.toml")
    assert value(c, "border", "circulation.loan_cap_per_owner") == 4
    assert reason(c, "border", "circulation.loan_cap_per_owner") == (
        "most restrictive of north-region (4), south-region (7)"
    )
    assert value(c, "border", "circulation.visitor_renewals") == 1
    assert value(c, "border", "circulation.non_circulating_item_types") == ("005",)
    assert value(c, "border", "ils.timeout_s") == 8.0
    assert value(c, "citycollege", "circulation.visitor_loan_days") == 21
    assert reason(c, "citycollege", "circulation.visitor_loan_days") == (
        "membership of south-region takes precedence over unilink"
    )
    assert value(c, "citycollege", "circulation.lend_to") == ("state", "unilink")
    assert value(c, "techu", "circulation.visitor_loan_days") == 90
    assert c.ancestors["citycollege"] == {"south-region", "state", "unilink"}
    assert c.ancestors["border"] == {"north-region", "south-region", "state"}


def test_demo_consortium_matches_the_design() -> None:
    """The demo data of DESIGN.md: three members, prefixes, terminals with password demo."""
    c = load("demo.toml")
    assert c.libraries == ("alpha", "beta", "gamma")
    for n, member in enumerate(c.libraries, start=1):
        assert c.home_of(f"2100{n}000000001") == member
        assert c.owner_of(f"3100{n}000000001") == member
    assert c.home_of("21001000000099") == "alpha"
    for login, member in (
        ("alpha-kiosk", "alpha"),
        ("beta-kiosk", "beta"),
        ("gamma-desk", "gamma"),
    ):
        account = c.terminals[login]
        assert account.member == member
        assert verify_password("demo", account.terminal.password_hash)
        assert not verify_password("Demo", account.terminal.password_hash)
