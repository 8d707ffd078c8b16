"""Compile ``InterlendRegistry.sol`` into the committed ``InterlendRegistry.json``.

Run from the repository root after ``npm ci`` (``make test`` does it)::

    .venv/bin/python -m adapters.ledger.contract.compile          # rewrite the artifact
    .venv/bin/python -m adapters.ledger.contract.compile --check  # exit 1 if it drifted

The compiler is solcjs (the ``solc`` package from the npm registry, pinned in
``package-lock.json``), run offline through its Standard JSON interface.  Everything that
shapes the bytecode is fixed here: the compiler version (checked, not assumed), the EVM
version and the optimizer.  ``paris`` is the EVM version: it has no ``PUSH0``, so the
code runs on every post-merge chain, including permissioned ones and L2s that lag behind
mainnet's forks, as well as on anvil and on py-evm (eth-tester); ``PUSH0`` would save a
few gas per call, not worth a chain that refuses the code.  The optimizer is tuned for
many calls (``anchor`` runs once per batch for years), not for a cheap deployment.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "CONTRACT",
    "EVM_VERSION",
    "OPTIMIZER_RUNS",
    "SOLC_VERSION",
    "CompileError",
    "compile_artifact",
    "find_solcjs",
    "main",
    "render",
]

CONTRACT = "InterlendRegistry"
SOLC_VERSION = "0.8.37"
EVM_VERSION = "paris"
OPTIMIZER_RUNS = 10_000

HERE = Path(__file__).resolve().parent
SOURCE = HERE / f"{CONTRACT}.sol"
ARTIFACT = HERE / f"{CONTRACT}.json"
ROOT = HERE.parents[2]


class CompileError(Exception):
    """solcjs is missing, is the wrong version, or rejected the source."""


def find_solcjs(root: Path = ROOT) -> list[str] | None:
    """The command that runs solcjs (``node …/solc/solc.js``), or ``None`` if absent.

    ``INTERLEND_SOLCJS`` names another solc.js; otherwise the project's ``node_modules``.
    """
    node = shutil.which("node")
    script = Path(os.environ.get("INTERLEND_SOLCJS") or root / "node_modules/solc/solc.js")
    if node is None or not script.is_file():
        return None
    return [node, str(script)]


def _standard_input(source: str) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {SOURCE.name: {"content": source}},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "outputSelection": {
                SOURCE.name: {
                    CONTRACT: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]
                }
            },
        },
    }


def compile_artifact(source: str, solcjs: list[str], *, timeout_s: float = 120.0) -> dict[str, Any]:
    """Compile ``source`` and return the artifact (as written to the JSON file).

    Raises:
        CompileError: The compiler is not the pinned version, or reported an error.
    """
    version = subprocess.run(
        [*solcjs, "--version"], capture_output=True, text=True, check=True, timeout=timeout_s
    ).stdout.strip()
    if not version.startswith(f"{SOLC_VERSION}+"):
        raise CompileError(f"solcjs {version} found; the contract is pinned to {SOLC_VERSION}")
    # Node writes to a pipe asynchronously and solcjs exits without waiting: past the
    # pipe's 64 KiB the JSON came back cut short now and then.  A file is written whole.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as out:
        done = subprocess.run(
            [*solcjs, "--standard-json"],
            input=json.dumps(_standard_input(source)),
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=timeout_s,
        )
        out.seek(0)
        stdout = out.read()
    # solcjs may print notes (e.g. "no SMT solvers available") before the JSON document.
    start = stdout.find("{")
    try:
        output = json.loads(stdout[start:] if start >= 0 else stdout)
    except json.JSONDecodeError as exc:
        raise CompileError(f"solcjs failed: {done.stderr.strip() or stdout[:500]}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors or done.returncode != 0:
        detail = "\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors)
        raise CompileError(f"solcjs rejected {SOURCE.name}:\n{detail or done.stderr}")
    contract = output["contracts"][SOURCE.name][CONTRACT]
    return {
        "contractName": CONTRACT,
        "sourceName": SOURCE.name,
        "sourceSha256": hashlib.sha256(source.encode()).hexdigest(),
        "compiler": {
            "version": version,
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        },
        "abi": contract["abi"],
        "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
    }


def render(artifact: dict[str, Any]) -> str:
    """The artifact as committed: sorted keys, two-space indent, final newline."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the artifact, or with ``--check`` report whether the committed one drifted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the artifact drifted")
    args = parser.parse_args(argv)
    solcjs = find_solcjs()
    if solcjs is None:
        print("solcjs not found: run `npm ci` (node_modules/solc) first", file=sys.stderr)
        return 2
    try:
        text = render(compile_artifact(SOURCE.read_text(encoding="utf-8"), solcjs))
    except CompileError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        if ARTIFACT.read_text(encoding="utf-8") != text:
            print(f"{ARTIFACT.name} is out of date: run compile.py", file=sys.stderr)
            return 1
        return 0
    ARTIFACT.write_text(text, encoding="utf-8")
    print(f"wrote {ARTIFACT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
