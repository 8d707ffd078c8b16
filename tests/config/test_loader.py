"""Loading files: TOML errors, positions, included files and secrets."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from config.errors import ConfigError, ConfigIssue, format_path
from config.loader import load_consortium, resolve_secrets
from config.positions import index_positions

if TYPE_CHECKING:
    from pathlib import Path

HEADER = """
[nodes.top]
kind = "consortium"
name = "Top"
circulation.proxy_patron_template = "ILL-{home}"
"""

LIB = """
[nodes.lib]
kind = "member"
name = "Lib"
memberships = ["top"]
patrons = ["21*"]
items = ["31*"]
ils.endpoints = ["127.0.0.1:6001"]
"""


def write(tmp_path: Path, text: str, name: str = "interlend.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(path: Path, *, check_secrets: bool = True) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_consortium(path, check_secrets=check_secrets)
    return list(info.value.issues)


def test_a_valid_file_loads(tmp_path: Path) -> None:
    """A good file gives a consortium."""
    consortium = load_consortium(write(tmp_path, HEADER + LIB))
    assert consortium.libraries == ("lib",)
    assert consortium.home_of("2100") == "lib"


def test_errors_carry_line_and_column(tmp_path: Path) -> None:
    """An unknown key and a wrong type are located in the file."""
    extra = textwrap.dedent(
        """
        circulation.visitor_loan_dayz = 3

        [[nodes.lib.terminals]]
        login = "k"
          password_hash = 7
        """
    )
    path = write(tmp_path, HEADER + LIB + extra)
    found = {format_path(i.path): i for i in errors_of(path)}
    typo = found["nodes.lib.circulation.visitor_loan_dayz"]
    assert (typo.file, typo.line, typo.column) == (str(path), 15, 1)
    assert typo.hint == "did you mean 'visitor_loan_days'?"
    wrong = found["nodes.lib.terminals[0].password_hash"]
    assert (wrong.line, wrong.column) == (19, 3)
    assert "got int" in wrong.message
    assert str(wrong).startswith(f"{path}:19:3: nodes.lib.terminals[0].password_hash: ")


def test_graph_errors_are_located_too(tmp_path: Path) -> None:
    """Errors found after validation (a dangling parent) also get their line."""
    path = write(tmp_path, HEADER + LIB.replace('["top"]', '["tpo"]'))
    (issue,) = errors_of(path)
    assert format_path(issue.path) == "nodes.lib.memberships[0].parent"
    assert issue.line == 10


def test_unknown_top_level_key(tmp_path: Path) -> None:
    """An unknown top-level key lists the known ones."""
    (issue,) = errors_of(write(tmp_path, "nodez = 1\n" + HEADER + LIB))
    assert issue.message == "unknown key 'nodez'"
    assert "nodes" in issue.hint
    assert issue.line == 1


def test_toml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    """A TOML syntax error is reported with its position, not a traceback."""
    (issue,) = errors_of(write(tmp_path, '[nodes.top]\nkind = "consortium\n'))
    assert issue.message.startswith("TOML syntax error")
    assert (issue.line, issue.column) == (2, 19)


def test_unreadable_files(tmp_path: Path) -> None:
    """A missing file and a file that is not UTF-8 are clear errors."""
    (missing,) = errors_of(tmp_path / "nowhere.toml")
    assert "cannot read the file" in missing.message
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[nodes]")
    (not_utf8,) = errors_of(binary)
    assert "not UTF-8" in not_utf8.message


def test_included_files_add_nodes(tmp_path: Path) -> None:
    """Members can live in their own files; their errors point into those files."""
    (tmp_path / "members").mkdir()
    write(tmp_path, LIB, "members/lib.toml")
    write(
        tmp_path,
        LIB.replace("nodes.lib", "nodes.other").replace("21*", "22*").replace("31*", "32*")
        + "colour = 1\n",
        "members/other.toml",
    )
    main = write(tmp_path, 'include = ["members/*.toml"]\n' + HEADER)
    (issue,) = errors_of(main)
    assert issue.file == str(tmp_path / "members/other.toml")
    assert format_path(issue.path) == "nodes.other.colour"
    assert issue.line == 9
    (tmp_path / "members/other.toml").unlink()
    assert load_consortium(main).libraries == ("lib",)


def test_include_errors(tmp_path: Path) -> None:
    """An include matching nothing, a node defined twice, or settings in an included
    file are errors."""
    write(tmp_path, LIB + "\n[gateway]\nx = 1\n", "extra.toml")
    main = write(tmp_path, 'include = ["extra.toml", "none/*.toml"]\n' + HEADER + LIB)
    found = {(i.message.split(" ")[0], i.file) for i in errors_of(main)}
    assert found == {
        ("node", str(tmp_path / "extra.toml")),
        ("an", str(tmp_path / "extra.toml")),
        ("'none/*.toml'", str(main)),
    }


def test_missing_secrets_are_errors_unless_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret that cannot be read is an error at its key; --no-secrets skips the check."""
    monkeypatch.delenv("TEST_SIP2_PASSWORD", raising=False)
    path = write(
        tmp_path,
        HEADER
        + 'ils.password = { env = "TEST_SIP2_PASSWORD" }\n'
        + LIB
        + '\n[[nodes.lib.ncip_peers]]\nagency_id = "LIB"\napi_key = { file = "nowhere.key" }\n',
    )
    found = {format_path(i.path): i for i in errors_of(path)}
    assert (
        "environment variable TEST_SIP2_PASSWORD is not set"
        in found["nodes.top.ils.password"].message
    )
    assert "cannot read nowhere.key" in found["nodes.lib.ncip_peers[0].api_key"].message
    assert load_consortium(path, check_secrets=False).libraries == ("lib",)
    monkeypatch.setenv("TEST_SIP2_PASSWORD", "s3cret")
    key = tmp_path / "api.key"
    key.write_text("k-123\n", encoding="utf-8")
    path.write_text(path.read_text().replace("nowhere.key", str(key)), encoding="utf-8")
    consortium = load_consortium(path)
    secrets, problems = resolve_secrets(consortium)
    assert problems == []
    assert secrets[("nodes", "top", "ils", "password")] == "s3cret"
    assert secrets[("nodes", "lib", "ncip_peers", 0, "api_key")] == "k-123"


def test_position_index_handles_toml_shapes() -> None:
    """Quoted keys, dotted keys, arrays of tables, sub-tables and multi-line values."""
    text = textwrap.dedent(
        '''
        [nodes."odd.id"]
        kind = "member"
        note = """
        kind = "not a key"
        """
        memberships = [
          { parent = "a" },
          { parent = "b" },
        ]
        name = "after"  # comment

        [[nodes."odd.id".terminals]]
        login = "one"

        [[nodes."odd.id".terminals]]
        login = "two"

        [nodes."odd.id".terminals.ext]
        'quoted key' = 1
        '''
    )
    index = index_positions("f.toml", text)
    assert index.locate(("nodes", "odd.id", "kind")) == (3, 1)
    assert index.locate(("nodes", "odd.id", "memberships", 1, "parent")) == (7, 1)
    assert index.locate(("nodes", "odd.id", "name")) == (11, 1)
    assert index.locate(("nodes", "odd.id", "terminals", 1, "login")) == (17, 1)
    assert index.locate(("nodes", "odd.id", "terminals", 1, "ext", "quoted key")) == (20, 1)
    assert index.locate(("elsewhere",)) is None
