"""The resolved view: one typed field per inheritable setting, every default applied."""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pydantic
import pytest

import config
from config.loader import load_consortium
from config.models import DialectSettings, IlsSettings, NcipSettings, Node, policy_keys
from config.resolved import ResolvedDialect, ResolvedIls, ResolvedPolicy, listener_dialect

from .helpers import PROXY, build, consortium, library

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

CONFIG_DIR = Path(config.__file__).parent
SHIPPED = [*sorted((CONFIG_DIR / "examples").glob("*.toml")), CONFIG_DIR / "demo.toml"]

KIOSK_UNLIMITED = {"ils.dialect.max_field_length"}
"""Settings whose resolved field stays optional although their default is not ``None``:
a kiosk listener's dialect leaves ``max_field_length`` unset to mean no limit."""


def field_of(model: type[pydantic.BaseModel], key: str) -> FieldInfo:
    """The field a dotted key names, from ``model`` down through its nested models."""
    *sections, name = key.split(".")
    for section in sections:
        inner = model.model_fields[section].annotation
        assert isinstance(inner, type), key
        assert issubclass(inner, pydantic.BaseModel), key
        model = inner
    return model.model_fields[name]


def leaves(model: type[pydantic.BaseModel], prefix: str = "") -> set[str]:
    """The dotted names of every field of ``model`` that is not a nested model."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        inner = info.annotation
        if isinstance(inner, type) and issubclass(inner, pydantic.BaseModel):
            found |= leaves(inner, f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def without_none(annotation: object) -> object:
    """``X`` of ``X | None``."""
    assert typing.get_origin(annotation) in (typing.Union, types.UnionType), annotation
    rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    assert len(rest) == 1, annotation
    return rest[0]


def value_at(policy: ResolvedPolicy, key: str) -> object:
    """The resolved value a dotted key names."""
    found: object = policy
    for part in key.split("."):
        found = getattr(found, part)
    return found


def test_every_setting_has_a_resolved_field_of_its_type() -> None:
    """Each inheritable setting has a resolved field under its dotted name, typed as in
    its model but without ``None`` unless its default is ``None`` (no limit, not set);
    and the view has no field that is not a setting."""
    keys = policy_keys()
    assert leaves(ResolvedPolicy) == set(keys)
    for key, spec in keys.items():
        written = field_of(Node, key).annotation
        optional = spec.default is None or key in KIOSK_UNLIMITED
        expected = written if optional else without_none(written)
        assert field_of(ResolvedPolicy, key).annotation == expected, key


def test_settings_that_always_have_a_value_are_not_optional() -> None:
    """The values call sites used to default by hand are plain types now."""
    expected: dict[str, object] = {
        "ils.timeout_s": float,
        "ils.connect_timeout_s": float,
        "ils.concurrency": int,
        "ils.pool_size": int,
        "ils.endpoints": tuple[str, ...],
        "ils.dialect.delimiter": str,
        "ils.dialect.timezone": str,
        "ils.ncip.from_agency": str,
        "ils.ncip.api_key_header": str,
        "circulation.require_pin": bool,
        "circulation.visitor_renewals": int,
        "circulation.non_circulating_item_types": tuple[str, ...],
        "lending.goal_ratio": float,
        "circulation.loan_cap_per_owner": int | None,  # None: no cap
    }
    for key, annotation in expected.items():
        assert field_of(ResolvedPolicy, key).annotation == annotation, key


def test_a_node_setting_nothing_has_every_default() -> None:
    """What no node sets resolves to its model's ``Default``, for every setting."""
    c = build({"top": consortium(circulation=PROXY), "lib": library("top")})
    policy = c.policy("lib")
    for key, spec in policy_keys().items():
        if c.effective["lib"][key].source is None:
            assert value_at(policy, key) == spec.default, key
    assert policy.ils.timeout_s == 10.0
    assert policy.circulation.require_pin is True
    assert policy.ils.dialect.max_field_length == 255


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_resolved_view_agrees_with_effective(path: Path) -> None:
    """For every node of the shipped files, each resolved value is the effective value
    ``check-config`` prints, and is resolved once (the same object every time)."""
    c = load_consortium(path, check_secrets=False)
    for node_id in c.nodes:
        policy = c.policy(node_id)
        assert c.policy(node_id) is policy
        for key, resolved in c.effective[node_id].items():
            assert value_at(policy, key) == resolved.value, (node_id, key)


def test_inherited_values_reach_the_resolved_view() -> None:
    """A value set above a member is the member's resolved value, typed."""
    c = build(
        {
            "top": consortium(
                circulation={**PROXY, "block_fines_over": "2.50", "require_pin": False},
                ils={"timeout_s": 3, "dialect": {"charset": "utf-8"}},
            ),
            "lib": library("top"),
        }
    )
    policy = c.policy("lib")
    assert policy.circulation.block_fines_over == Decimal("2.50")
    assert policy.circulation.require_pin is False
    assert policy.ils.timeout_s == 3.0
    assert isinstance(policy.ils.timeout_s, float)
    assert policy.ils.dialect.charset == "utf-8"


def test_of_a_section_fills_what_it_leaves_unset() -> None:
    """A section on its own keeps what it sets and takes each default for the rest."""
    ils = ResolvedIls.of(
        IlsSettings(timeout_s=2.0, ncip=NcipSettings(auth="bearer"), dialect=DialectSettings())
    )
    assert ils.timeout_s == 2.0
    assert ils.ncip.auth == "bearer"
    assert ils.connect_timeout_s == 5.0
    assert ils.concurrency == 8
    assert ils.pool_size == 2
    assert ils.endpoints == ()
    assert ils.login is None
    assert ils.ncip.from_agency == "interlend"
    assert ils.ncip.api_key_header == "X-API-Key"
    assert ils.dialect == ResolvedDialect.of(DialectSettings())
    assert ils.dialect.charset == "cp850"


def test_a_kiosk_listener_sends_fields_of_any_length_unless_it_sets_a_limit() -> None:
    """A listener's dialect takes a member's defaults but for ``max_field_length``,
    which stays unlimited unless the listener sets it."""
    unset = listener_dialect(DialectSettings())
    assert unset.max_field_length is None
    assert unset.model_copy(update={"max_field_length": 255}) == ResolvedDialect.of(
        DialectSettings()
    )
    assert listener_dialect(DialectSettings(max_field_length=20)).max_field_length == 20


def test_a_resolved_view_refuses_none_or_a_missing_value() -> None:
    """A setting that always has a value cannot be ``None`` or left out, and a view
    cannot be changed once made."""
    c = build({"top": consortium(circulation=PROXY), "lib": library("top")})
    values = {key: r.value for key, r in c.effective["lib"].items()}
    with pytest.raises(pydantic.ValidationError, match="require_pin"):
        ResolvedPolicy.from_keys({**values, "circulation.require_pin": None})
    del values["ils.timeout_s"]
    with pytest.raises(pydantic.ValidationError, match="timeout_s"):
        ResolvedPolicy.from_keys(values)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        c.policy("lib").ils.timeout_s = 1.0  # type: ignore[misc]
