"""What the code imports is what ``pyproject.toml`` declares, and the other way round.

A distribution that arrives only because another dependency needs it today (``requests``
through web3, ``anyio`` through coredis) can leave with that dependency's next release;
one declared and never imported is weight for every install.  The imports are read
from the source (``ast``), mapped to the installed distributions that provide them,
and compared with ``[project] dependencies`` (the packages) and
``[project.optional-dependencies] dev`` (tests and benchmarks too).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
FIRST_PARTY = {"gateway", "protocols", "adapters", "config", "tests", "bench"}
PACKAGES = ("gateway", "protocols", "adapters", "config")

NOT_IMPORTED = {
    # eth-keys signs with coincurve when it is installed (seven times faster).
    "coincurve": "a faster signing backend, found by eth-keys",
    # Our code imports web3.providers.eth_tester, which imports eth_tester.
    "eth-tester": "the embedded chain, reached through web3",
}
"""Runtime dependencies that are declared on purpose although no module imports them."""


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert found is not None, requirement
    return _normal(found.group())


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    dev = {_requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    return runtime, dev


def _imported(*folders: str) -> dict[str, set[str]]:
    """Third-party top-level modules imported under ``folders``, with where."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@cache
def _distributions() -> dict[str, list[str]]:
    """Installed distributions by the top-level modules they provide."""
    return dict(packages_distributions())


def _providers(module: str) -> set[str]:
    return {_normal(d) for d in _distributions().get(module, [])}


def test_every_module_the_packages_import_is_a_declared_dependency() -> None:
    """Each third-party module imported by the shipped packages comes from a
    distribution listed in ``[project] dependencies``."""
    runtime, _ = _declared()
    undeclared = {
        module: sorted(where)
        for module, where in _imported(*PACKAGES).items()
        if not _providers(module) & runtime
    }
    assert undeclared == {}


def test_every_declared_dependency_is_imported() -> None:
    """Each runtime dependency is imported somewhere in the packages, or is listed in
    ``NOT_IMPORTED`` with the reason it is needed all the same."""
    runtime, _ = _declared()
    provided = set().union(*(_providers(m) for m in _imported(*PACKAGES)))
    unused = runtime - provided - set(NOT_IMPORTED)
    assert unused == set()
    assert set(NOT_IMPORTED) <= runtime


def test_tests_and_benchmarks_import_only_declared_distributions() -> None:
    """Tests and benchmarks import only runtime or ``dev`` dependencies."""
    runtime, dev = _declared()
    undeclared = {
        module: sorted(where)
        for module, where in _imported("tests", "bench").items()
        if not _providers(module) & (runtime | dev)
    }
    assert undeclared == {}
