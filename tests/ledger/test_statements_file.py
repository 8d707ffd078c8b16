"""The statements file (the report's JSON export) read into ``Statement``s, pure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from gateway.ledger.settlement import (
    STATEMENT_FIELDS,
    StatementsFileError,
    leaf_of,
    parse_statements,
    plan_for,
    read_statements,
)
from gateway.settlement.statement import Statement

if TYPE_CHECKING:
    from pathlib import Path

ALPHA = {
    "period": "2026-11",
    "library": "alpha",
    "currency": "EUR",
    "loans_lent": 12,
    "loans_borrowed": 4,
    "charges": 30500,
    "credits": 52250,
}


def test_a_list_of_statement_objects_reads_back(tmp_path: Path) -> None:
    """Exactly the ``Statement`` fields, one object per library; the leaf keeps them."""
    assert tuple(ALPHA) == STATEMENT_FIELDS
    path = tmp_path / "statements.json"
    path.write_text(json.dumps([ALPHA, {**ALPHA, "library": "beta"}]), encoding="utf-8")
    statements = read_statements(path)
    assert statements[0] == Statement(**ALPHA)  # type: ignore[arg-type]
    leaf = leaf_of(statements[0])
    assert (leaf.library, leaf.charges, leaf.credits) == ("alpha", 30500, 52250)
    assert plan_for(statements, "2026-11").libraries() == ["alpha", "beta"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "are not JSON: Expecting property name"),
        ('{"statements": []}', "must be a JSON list of statements"),
        ("[1]", "statement 1: not an object"),
        (json.dumps([{**ALPHA, "net": 1}]), "statement 1: unknown net"),
        (json.dumps([{k: v for k, v in ALPHA.items() if k != "credits"}]), "missing credits"),
        (json.dumps([ALPHA, {**ALPHA, "charges": "30500"}]), "statement 2: charges must be an"),
        (json.dumps([{**ALPHA, "loans_lent": True}]), "loans_lent must be an integer"),
        (json.dumps([{**ALPHA, "credits": -1}]), "credits cannot be negative"),
        (json.dumps([{**ALPHA, "currency": "euro"}]), "not an ISO 4217 currency code"),
    ],
)
def test_a_file_that_is_not_statements_is_refused_clearly(text: str, message: str) -> None:
    """Each fault names the statement and the field."""
    with pytest.raises(StatementsFileError, match=message):
        parse_statements(text, source="s.json")


def test_a_plan_needs_the_statements_of_its_period(tmp_path: Path) -> None:
    """Statements of another period, or two of one library, or a missing file, are
    refused with the reason."""
    statements = parse_statements(json.dumps([ALPHA]))
    with pytest.raises(StatementsFileError, match="for 2026-11, not only for --period 2026-10"):
        plan_for(statements, "2026-10")
    with pytest.raises(StatementsFileError, match="more than one statement for alpha"):
        plan_for(statements * 2, "2026-11")
    with pytest.raises(StatementsFileError, match="at least one statement"):
        plan_for([], "2026-11")
    with pytest.raises(StatementsFileError, match=r"cannot read .*missing\.json: No such file"):
        read_statements(tmp_path / "missing.json")
