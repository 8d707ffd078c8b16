"""The ledger contract: Solidity source and the compiled artifact shipped with the package.

``InterlendRegistry.sol`` is compiled by ``compile.py`` (solcjs from the project's
``node_modules``, with a pinned compiler and EVM version) into ``InterlendRegistry.json``,
which is committed so the daemon needs no compiler; a test recompiles and fails when the
two drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["ARTIFACT_NAME", "SOURCE_NAME", "Artifact", "load_artifact"]

SOURCE_NAME = "InterlendRegistry.sol"
ARTIFACT_NAME = "InterlendRegistry.json"


@dataclass(frozen=True)
class Artifact:
    """The compiled contract: what web3 needs to deploy it and talk to it."""

    abi: list[dict[str, Any]]
    bytecode: str
    """Creation code, ``0x``-prefixed hex."""
    deployed_bytecode: str
    """Runtime code, ``0x``-prefixed hex (what ``eth_getCode`` returns once deployed)."""
    compiler: str
    evm_version: str


def load_artifact() -> Artifact:
    """The committed artifact, read from the package."""
    text = resources.files(__package__).joinpath(ARTIFACT_NAME).read_text(encoding="utf-8")
    data = json.loads(text)
    return Artifact(
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        compiler=data["compiler"]["version"],
        evm_version=data["compiler"]["evmVersion"],
    )
