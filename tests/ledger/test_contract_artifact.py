"""The committed contract artifact is what the committed Solidity source compiles to."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from adapters.ledger.contract import ARTIFACT_NAME, SOURCE_NAME, load_artifact
from adapters.ledger.contract import compile as solc
from tests.helpers.services import missing_service

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.slow
def test_artifact_matches_the_source() -> None:
    """Recompiling with the pinned solcjs and EVM version gives the committed JSON, byte
    for byte (run ``python -m adapters.ledger.contract.compile`` after editing the
    contract)."""
    solcjs = solc.find_solcjs()
    if solcjs is None:
        missing_service("solcjs is not installed: run `npm ci` (make test does)")
        return
    fresh = solc.render(solc.compile_artifact(solc.SOURCE.read_text(encoding="utf-8"), solcjs))
    committed = solc.ARTIFACT.read_text(encoding="utf-8")
    assert json.loads(fresh) == json.loads(committed), "InterlendRegistry.json is out of date"
    assert fresh == committed


def test_artifact_is_package_data_for_the_pinned_evm() -> None:
    """The package loads the artifact, compiled by the pinned solc for the pinned EVM."""
    artifact = load_artifact()
    assert artifact.evm_version == solc.EVM_VERSION == "paris"
    assert artifact.compiler.startswith(solc.SOLC_VERSION + "+")
    assert {e["name"] for e in artifact.abi if e["type"] == "function"} >= {
        "anchor",
        "propose",
        "vote",
        "bootstrapAdmit",
        "endBootstrap",
        "verifyInclusion",
    }
    assert (solc.HERE / SOURCE_NAME).is_file()
    assert solc.ARTIFACT.name == ARTIFACT_NAME
    assert json.loads(solc.ARTIFACT.read_text())["sourceSha256"]


def test_compile_reports_a_wrong_compiler() -> None:
    """A solcjs of another version is refused rather than silently used."""
    fake = [
        "/bin/sh",
        "-c",
        'if [ "$1" = --version ]; then echo 0.8.1+commit.x; fi',
        "fake-solcjs",
    ]
    with pytest.raises(solc.CompileError, match=r"pinned to 0\.8\.37"):
        solc.compile_artifact("contract X {}", fake)


def test_the_command_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``compile`` writes the artifact, ``--check`` exits 1 on drift, and a missing or
    failing compiler exits 2 with a message."""
    committed = json.loads(solc.ARTIFACT.read_text(encoding="utf-8"))
    target = tmp_path / ARTIFACT_NAME
    monkeypatch.setattr(solc, "ARTIFACT", target)
    monkeypatch.setattr(solc, "find_solcjs", lambda: ["solcjs"])
    monkeypatch.setattr(solc, "compile_artifact", lambda source, solcjs: committed)
    assert solc.main([]) == 0
    assert target.read_text(encoding="utf-8") == solc.render(committed)
    assert solc.main(["--check"]) == 0
    target.write_text("{}\n", encoding="utf-8")
    assert solc.main(["--check"]) == 1

    def broken(source: str, solcjs: list[str]) -> dict[str, object]:
        raise solc.CompileError("solcjs rejected it")

    monkeypatch.setattr(solc, "compile_artifact", broken)
    assert solc.main([]) == 2
    monkeypatch.setattr(solc, "find_solcjs", lambda: None)
    assert solc.main([]) == 2


def test_compile_reports_solc_errors() -> None:
    """A source solc rejects raises ``CompileError`` with solc's message."""
    solcjs = solc.find_solcjs()
    if solcjs is None:
        missing_service("solcjs is not installed: run `npm ci` (make test does)")
        return
    with pytest.raises(solc.CompileError, match="rejected"):
        solc.compile_artifact("pragma solidity ^0.8.0; contract InterlendRegistry { oops }", solcjs)
