"""Message layouts: the field specifiers and the ``Message`` base class.

Each SIP2 message is a frozen dataclass whose fields *are* its layout table::

    class CheckoutRequest(Message, code="11", direction=Direction.SC_TO_ACS):
        renewal_policy: bool = fixed(YN)
        ...
        institution_id: str = var("AO", TEXT, required=True, default="")
        screen_messages: tuple[str, ...] = repeated("AF", TEXT, default=())

* ``fixed`` fields come first on the wire, in declaration order, with no identifier.
* ``var`` fields follow, each as ``ID value |``; a field declared without a default
  is required, ``default=None`` makes it optional, and a required field that may be
  empty (the spec's ``AC|``) says ``required=True`` with its default.
* ``repeated`` fields may occur any number of times; their order is kept.
* Fields the layout does not name (vendor extensions such as ``CT`` or ``PB``, or a
  standard field in a message that does not define it) are kept, in order, in
  ``extensions`` and written back after the named ones, untouched.

From those declarations ``Message.__init_subclass__`` builds a ``MessageSpec`` (widths,
offsets, identifier lookup) once at import time, so the codec does no introspection
per frame.  Type checkers see the classes as dataclasses through ``dataclass_transform``.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import ClassVar, TypeVar, cast, dataclass_transform, overload

from .fieldtypes import FieldType

__all__ = [
    "SECRET_FIELD_IDS",
    "Direction",
    "Extensions",
    "FixedField",
    "Message",
    "MessageSpec",
    "VariableField",
    "fixed",
    "repeated",
    "var",
]

T = TypeVar("T")

Extensions = tuple[tuple[str, str], ...]
"""Fields outside a message's layout, as ``(field id, raw text)`` pairs in wire order."""

SECRET_FIELD_IDS = frozenset({"AC", "AD", "CO"})
"""Terminal password, patron PIN and login password: never rendered in logs."""

_FIXED = "sip2.fixed"
_VAR = "sip2.var"


class Direction(enum.Enum):
    """Who sends a message: the self-check (SC) or the circulation system (ACS)."""

    SC_TO_ACS = "SC->ACS"
    ACS_TO_SC = "ACS->SC"


@dataclasses.dataclass(frozen=True, slots=True)
class FixedField:
    """A fixed field: no identifier, a fixed width, a fixed place."""

    name: str
    kind: FieldType[object]
    width: int
    offset: int
    """Characters from the end of the command identifier."""


@dataclasses.dataclass(frozen=True, slots=True)
class VariableField:
    """An identified field: ``ID``, value, delimiter."""

    name: str
    field_id: str
    kind: FieldType[object]
    required: bool
    repeatable: bool
    default: object


@dataclasses.dataclass(frozen=True, slots=True)
class MessageSpec:
    """The layout of one message, derived from its class."""

    code: str
    name: str
    direction: Direction
    fixed: tuple[FixedField, ...]
    variable: tuple[VariableField, ...]
    fixed_length: int
    by_id: dict[str, VariableField]
    repeatable: tuple[VariableField, ...]
    required: tuple[VariableField, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _VarMeta:
    field_id: str
    kind: FieldType[object]
    required: bool
    repeatable: bool


@overload
def fixed(kind: FieldType[T]) -> T: ...
@overload
def fixed(kind: FieldType[T], *, default: T) -> T: ...
def fixed(kind: FieldType[T], *, default: object = dataclasses.MISSING) -> T:
    """Declare a fixed field of the given kind (its width comes from the kind)."""
    if kind.width is None:
        raise TypeError("a fixed field needs a kind with a width")
    return cast("T", dataclasses.field(default=default, metadata={_FIXED: kind}))


@overload
def var(field_id: str, kind: FieldType[T]) -> T: ...
@overload
def var(field_id: str, kind: FieldType[T], *, default: None) -> T | None: ...
@overload
def var(field_id: str, kind: FieldType[T], *, required: bool, default: T) -> T: ...
def var(
    field_id: str,
    kind: FieldType[T],
    *,
    required: bool | None = None,
    default: object = dataclasses.MISSING,
) -> T | None:
    """Declare an identified field (required unless it has a default)."""
    if required is None:
        required = default is dataclasses.MISSING
    meta = _VarMeta(field_id, kind, required, repeatable=False)
    return cast("T | None", dataclasses.field(default=default, metadata={_VAR: meta}))


def repeated(field_id: str, kind: FieldType[T], *, default: tuple[()]) -> tuple[T, ...]:
    """Declare an identified field that may occur any number of times."""
    meta = _VarMeta(field_id, kind, required=False, repeatable=True)
    return cast("tuple[T, ...]", dataclasses.field(default=default, metadata={_VAR: meta}))


def _build_spec(cls: type[Message], code: str, direction: Direction) -> MessageSpec:
    fixed_fields: list[FixedField] = []
    variable: list[VariableField] = []
    offset = 0
    for f in dataclasses.fields(cls):
        if _FIXED in f.metadata:
            kind: FieldType[object] = f.metadata[_FIXED]
            assert kind.width is not None  # checked by fixed()
            if variable:
                raise TypeError(f"{cls.__name__}.{f.name}: fixed fields come first")
            fixed_fields.append(FixedField(f.name, kind, kind.width, offset))
            offset += kind.width
        elif _VAR in f.metadata:
            meta: _VarMeta = f.metadata[_VAR]
            variable.append(
                VariableField(
                    f.name, meta.field_id, meta.kind, meta.required, meta.repeatable, f.default
                )
            )
    by_id = {v.field_id: v for v in variable}
    if len(by_id) != len(variable):
        raise TypeError(f"{cls.__name__}: a field identifier is declared twice")
    return MessageSpec(
        code,
        cls.__name__,
        direction,
        tuple(fixed_fields),
        tuple(variable),
        offset,
        by_id,
        repeatable=tuple(v for v in variable if v.repeatable),
        required=tuple(v for v in variable if v.required),
    )


def _fast_init(cls: type[_MessageRoot]) -> None:
    """Give a message class an ``__init__`` that sets its whole state at once.

    The ``__init__`` a frozen dataclass gets sets each field through
    ``object.__setattr__``, one call per field; messages have up to thirty fields and
    are made for every frame.  This one has the same signature (keyword-only, the same
    defaults) and stores the fields as one dictionary, in declaration order, which is
    what the dataclass's would leave behind.  Field names are the class's own
    identifiers, so the generated source holds nothing from outside.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    namespace: dict[str, object] = {"_set": object.__setattr__}
    params = []
    for f in fields:
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    state = ", ".join(f"{f.name!r}: {f.name}" for f in fields)
    source = (
        f"def __init__(self, *, {', '.join(params)}):\n    _set(self, '__dict__', {{{state}}})\n"
    )
    exec(source, namespace)
    init = namespace["__init__"]
    assert callable(init)
    generated = cls.__init__
    init.__qualname__ = generated.__qualname__  # type: ignore[attr-defined]
    init.__module__ = generated.__module__
    init.__annotations__ = generated.__annotations__
    init.__doc__ = generated.__doc__
    cls.__init__ = init  # type: ignore[method-assign]


@dataclass_transform(
    kw_only_default=True, frozen_default=True, field_specifiers=(fixed, var, repeated)
)
class _MessageRoot:
    """Turns every subclass into a frozen, keyword-only dataclass with a spec."""

    code: ClassVar[str]
    direction: ClassVar[Direction]
    spec: ClassVar[MessageSpec]
    registry: ClassVar[dict[str, type[Message]]] = {}

    def __init_subclass__(
        cls, *, code: str | None = None, direction: Direction | None = None
    ) -> None:
        super().__init_subclass__()
        dataclasses.dataclass(frozen=True, kw_only=True, repr=False)(cls)
        _fast_init(cls)
        if code is None or direction is None:
            return  # the abstract Message base itself
        assert issubclass(cls, Message)
        if code in _MessageRoot.registry:
            raise TypeError(f"message {code} is declared twice")
        cls.code = code
        cls.direction = direction
        cls.spec = _build_spec(cls, code, direction)
        _MessageRoot.registry[code] = cls


class Message(_MessageRoot):
    """Base class of every SIP2 message.

    Instances are immutable and compare by type and value.  ``repr`` never shows a
    password or PIN (fields AC, AD, CO), so a message can be logged as it is.
    """

    extensions: Extensions = dataclasses.field(default=())

    def __repr__(self) -> str:
        secret = {v.name for v in self.spec.variable if v.field_id in SECRET_FIELD_IDS}
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extensions":
                continue
            parts.append(f"{f.name}='***'" if f.name in secret and value else f"{f.name}={value!r}")
        if self.extensions:
            shown = tuple(
                (fid, "***" if fid in SECRET_FIELD_IDS and text else text)
                for fid, text in self.extensions
            )
            parts.append(f"extensions={shown!r}")
        return f"{type(self).__name__}({', '.join(parts)})"
