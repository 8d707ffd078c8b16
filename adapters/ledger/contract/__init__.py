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

__all__ = ["ARTIFACT_NAME", "SOURCE_NAME", "V1_GOVERNANCE_ABI", "Artifact", "load_artifact"]

SOURCE_NAME = "InterlendRegistry.sol"
ARTIFACT_NAME = "InterlendRegistry.json"

V1_GOVERNANCE_ABI: list[dict[str, Any]] = [
    {
        "inputs": [{"internalType": "uint256", "name": "proposalId", "type": "uint256"}],
        "name": "proposal",
        "outputs": [
            {
                "components": [
                    {
                        "internalType": "enum InterlendRegistry.Action",
                        "name": "action",
                        "type": "uint8",
                    },
                    {"internalType": "bool", "name": "executed", "type": "bool"},
                    {"internalType": "uint32", "name": "epoch", "type": "uint32"},
                    {"internalType": "uint32", "name": "yes", "type": "uint32"},
                    {"internalType": "address", "name": "gateway", "type": "address"},
                    {"internalType": "bytes32", "name": "memberId", "type": "bytes32"},
                ],
                "internalType": "struct InterlendRegistry.Proposal",
                "name": "",
                "type": "tuple",
            }
        ],
        "stateMutability": "view",
        "type": "function",
    },
    {
        "inputs": [
            {"internalType": "enum InterlendRegistry.Action", "name": "action", "type": "uint8"},
            {"internalType": "bytes32", "name": "memberId", "type": "bytes32"},
            {"internalType": "address", "name": "gateway", "type": "address"},
        ],
        "name": "propose",
        "outputs": [{"internalType": "uint256", "name": "proposalId", "type": "uint256"}],
        "stateMutability": "nonpayable",
        "type": "function",
    },
]
"""``propose`` and ``proposal`` as the first registry (before settlement rounds) has
them: three arguments, and a proposal without ``value``.  Registries deployed then keep
working; everything else in their ABI is unchanged."""


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
