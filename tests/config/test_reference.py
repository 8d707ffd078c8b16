"""The configuration reference: written from the models, complete, and never stale."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pytest

from config import reference
from config.models import (
    AdminListener,
    Config,
    GatewaySettings,
    LedgerSettings,
    LimitSettings,
    Node,
    StateSettings,
    policy_keys,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import BaseModel


def test_the_committed_reference_is_current() -> None:
    """docs/configuration.md is what ``python -m config.reference --write`` writes now
    (run it after changing a model)."""
    assert reference.REFERENCE_PATH.read_text(encoding="utf-8") == reference.render()


def test_every_inherited_key_is_listed_as_inherited_and_lockable() -> None:
    """Each key of ``policy_keys()`` has a row that inherits, with the lock key
    ``lock`` takes and its merge rule; no other row claims either."""
    rows = [row for table in reference.tables() for row in table.rows]
    lockable = {row.lock_key: row for row in rows if row.lock_key is not None}
    assert set(lockable) == set(policy_keys())
    for key, spec in policy_keys().items():
        assert lockable[key].inherits.startswith("yes")
        if spec.merge.name != "NEEDS_PRECEDENCE":
            assert spec.merge.value in lockable[key].inherits
    assert all(row.inherits == "no" for row in rows if row.lock_key is None)


@pytest.mark.parametrize(
    ("heading", "model"),
    [
        ("", Config),
        ("[gateway]", GatewaySettings),
        ("[gateway.admin]", AdminListener),
        ("[gateway.state]", StateSettings),
        ("[gateway.ledger]", LedgerSettings),
        ("[gateway.limits]", LimitSettings),
        ("[nodes.<id>]", Node),
    ],
)
def test_every_field_of_a_table_has_a_row(heading: str, model: type[BaseModel]) -> None:
    """A table lists its model's fields, inheritable sections apart, in order."""
    (table,) = [t for t in reference.tables() if t.heading == heading]
    sections = {"circulation", "ils", "lending", "cost"}
    expected = [name for name in model.model_fields if not (model is Node and name in sections)]
    assert [row.key for row in table.rows] == expected


def test_defaults_and_types_read_as_toml() -> None:
    """Defaults are written as TOML values, with required and unset ones named."""
    rows = {(t.heading, r.key): r for t in reference.tables() for r in t.rows}
    assert rows[("[gateway.state]", "backend")].default == '"memory"'
    assert rows[("[gateway.state]", "backend")].type == '`"memory"` | `"redis"`'
    assert rows[("[gateway]", "max_frame_size")].default == "32,768"
    assert rows[("[gateway]", "login_required")].default == "true"
    assert rows[("[nodes.<id>]", "kind")].default == "required"
    assert rows[("[gateway.ledger]", "rpc_url")].default == "unset"
    cap = rows[("[nodes.<id>.circulation]", "loan_cap_per_owner")]
    assert cap.default == "unset: no limit"
    assert "≥ 0" in cap.description


def test_check_fails_on_a_stale_file_and_write_mends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--check`` exits 1 naming the command to run; ``--write`` makes it pass."""
    stale = tmp_path / "configuration.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(reference, "REFERENCE_PATH", stale)
    assert reference.main(["--check"]) == 1
    assert "python -m config.reference --write" in capsys.readouterr().err
    assert reference.main(["--write"]) == 0
    assert reference.main(["--check"]) == 0
    assert reference.main([]) == 0
    assert capsys.readouterr().out == stale.read_text(encoding="utf-8")


def test_every_type_reads_as_words() -> None:
    """No cell shows a Python repr (a type added to the models without a name here)."""
    for table in reference.tables():
        for row in table.rows:
            assert "<class" not in row.type, (table.heading, row.key)
            assert "typing." not in row.type, (table.heading, row.key)


def test_an_unnamed_type_falls_back_to_its_name() -> None:
    """A type missing from the table is shown by its name."""

    class Colour:
        pass

    assert reference.type_name(Colour) == "Colour"
    assert reference.type_name(date | None) == "date (YYYY-MM-DD)"
