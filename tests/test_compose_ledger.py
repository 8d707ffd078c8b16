"""compose.yaml's ledger: the one-shot deploy script on a real anvil, and its keys.

The gateways of compose.yaml trust that the registry is at a fixed address (anvil's
first contract from its first account) and that each ledger key is the gateway address
the script admits; both are checked here, the first by running
``deploy/compose/ledger-init.sh`` against a fresh anvil of the test's own.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_account import Account

from config.loader import parse_config
from gateway.cli.main import main
from tests.helpers.services import missing_service, start_anvil

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "deploy" / "compose" / "ledger-init.sh"


def _services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services: dict[str, Any] = loaded["services"]
    return services


def _contract() -> str:
    config, _, _ = parse_config(ROOT / "deploy" / "compose" / "interlend.toml")
    assert config.gateway.ledger.contract is not None
    return config.gateway.ledger.contract


def test_each_gateway_key_is_the_address_the_script_admits() -> None:
    """gateway-a's key is GATEWAY_A_ADDRESS's, gateway-b's GATEWAY_B_ADDRESS's."""
    services = _services()
    admitted = services["ledger-init"]["environment"]
    for name, variable in (("gateway-a", "GATEWAY_A_ADDRESS"), ("gateway-b", "GATEWAY_B_ADDRESS")):
        key = services[name]["environment"]["INTERLEND_LEDGER_KEY"]
        assert Account.from_key(key).address == admitted[variable]


def _script(url: str) -> subprocess.CompletedProcess[str]:
    environment = _services()["ledger-init"]["environment"]
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **environment,
        "INTERLEND_LEDGER_RPC": url,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _deploy_as_the_script_does(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """``interlend ledger deploy`` with the script's arguments, in this process (web3
    is imported once for the whole run, not once more in a child)."""
    environment = _services()["ledger-init"]["environment"]
    line = SCRIPT.read_text(encoding="utf-8").split("exec interlend ", 1)[1]
    command = " ".join(line.replace("\\\n", " ").split())
    for name, value in {**environment, "RPC": url}.items():
        command = command.replace(f'"${name}"', value).replace(f"${name}", value)
        monkeypatch.setenv(name, value)
    assert main(shlex.split(command)) == 0
    return capsys.readouterr().out


@pytest.mark.slow
def test_the_script_deploys_at_the_configured_address_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a fresh chain the script's deploy lands the registry at interlend.toml's
    contract address with both gateways admitted; the script then finds it there and
    deploys nothing."""
    node = start_anvil(tmp_path)
    if node is None:
        missing_service("anvil is not installed: run `npm ci` (make test does)")
        return
    try:
        printed = _deploy_as_the_script_does(node.url, monkeypatch, capsys)
        again = _script(node.url)
    finally:
        node.stop()
    found = re.search(r'^contract = "(0x[0-9a-fA-F]{40})"$', printed, re.MULTILINE)
    assert found is not None, printed
    assert found.group(1) == _contract()
    assert printed.count("# admitted ") == 2
    assert again.returncode == 0, again.stderr
    assert "already deployed" in again.stdout
