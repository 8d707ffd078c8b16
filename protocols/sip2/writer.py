"""Layouts compiled into writers: the text of a message's fields, without a loop.

``writer_for(cls)`` returns a function that takes a message's field values (its
``__dict__``) and a dialect, and returns the pieces of the frame's text: the fixed
part, then ``ID``, value and delimiter for each identified field that is present, in
layout order; with the number of identified fields and the length of the fixed part.
The codec appends the extensions, joins, checks and adds the trailer.

Why compiled: a generic loop over the layout asks, for every field of every frame,
whether it is repeatable, whether it is text, whether it is required, and where its
identifier is.  Those answers never change for a class, so each class's writer is
generated once (as ``dataclasses`` generates ``__init__``), with the answers written
into straight-line code, and kept.  The generated source is built only from the
layout (field names are identifiers; identifiers and codes go in as ``repr``), and
every failure goes through the helpers below, so the messages are those of the loop
it replaces:

* a fixed or typed field whose kind refuses the value: ``"<code> <Name>.<field>: <why>"``;
* a required field that is ``None``: ``"... is required"``;
* a text field that is not a ``str``: ``"...: expected text"``;
* a value longer than the dialect allows: ``"... is longer than N characters"``;
* a fixed part that is not ASCII (or not as wide as the layout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .errors import LocalProtocolError

if TYPE_CHECKING:
    from .dialect import Dialect
    from .spec import Message, MessageSpec

__all__ = ["Writer", "writer_for"]


class Writer(Protocol):
    """Writes the fields of one message class (see the module documentation)."""

    def __call__(
        self, state: dict[str, object], dialect: Dialect
    ) -> tuple[list[str], int, int]: ...


_WRITERS: dict[type[Message], Writer] = {}


def writer_for(cls: type[Message]) -> Writer:
    """The writer of ``cls``, compiled the first time it is asked for."""
    writer = _WRITERS.get(cls)
    if writer is None:
        writer = _WRITERS[cls] = _compile(cls.spec)
    return writer


def _field_error(spec: MessageSpec, name: str, error: ValueError) -> LocalProtocolError:
    return LocalProtocolError(f"{spec.code} {spec.name}.{name}: {error}")


def _required(spec: MessageSpec, name: str) -> LocalProtocolError:
    return LocalProtocolError(f"{spec.code} {spec.name}.{name} is required")


def _text(spec: MessageSpec, name: str, value: object) -> str:
    """``value`` if it is text (a ``str`` subclass too), else the error."""
    if isinstance(value, str):
        return value
    raise LocalProtocolError(f"{spec.code} {spec.name}.{name}: expected text")


def _too_long(spec: MessageSpec, name: str, limit: int) -> LocalProtocolError:
    return LocalProtocolError(f"{spec.code} {spec.name}.{name} is longer than {limit} characters")


def _not_ascii(spec: MessageSpec) -> LocalProtocolError:
    return LocalProtocolError(f"{spec.code} {spec.name}: fixed fields must be ASCII")


def _compile(spec: MessageSpec) -> Writer:
    namespace: dict[str, object] = {
        "spec": spec,
        "_field_error": _field_error,
        "_required": _required,
        "_text": _text,
        "_too_long": _too_long,
        "_not_ascii": _not_ascii,
    }
    lines = [
        "def write(state, dialect):",
        "    limit = dialect.max_field_length",
        "    d = dialect.field_delimiter",
    ]
    pieces = [repr(spec.code)]
    for n, f in enumerate(spec.fixed):
        namespace[f"fixed{n}"] = f.kind.encode
        lines += [
            "    try:",
            f"        f{n} = fixed{n}(state[{f.name!r}], dialect)",
            "    except ValueError as exc:",
            f"        raise _field_error(spec, {f.name!r}, exc) from None",
        ]
        pieces.append(f"f{n}")
    head_length = 2 + spec.fixed_length
    lines += [
        f"    head = {' + '.join(pieces)}",
        f"    if len(head) != {head_length} or not head.isascii():",
        "        raise _not_ascii(spec)",
        "    parts = [head]",
        "    n = 0",
    ]
    for n, v in enumerate(spec.variable):
        if v.kind.text:
            convert = [
                "if type(v) is not str:",
                f"    v = _text(spec, {v.name!r}, v)",
            ]
        else:
            namespace[f"kind{n}"] = v.kind.encode
            convert = [
                "try:",
                f"    v = kind{n}(v, dialect)",
                "except ValueError as exc:",
                f"    raise _field_error(spec, {v.name!r}, exc) from None",
            ]
        write = [
            *convert,
            "if limit is not None and len(v) > limit:",
            f"    raise _too_long(spec, {v.name!r}, limit)",
            f"parts += ({v.field_id!r}, v, d)",
            "n += 1",
        ]
        if v.repeatable:
            lines.append(f"    for v in state[{v.name!r}]:")
            lines += [f"        {line}" for line in write]
            continue
        lines.append(f"    v = state[{v.name!r}]")
        if v.required:
            lines += ["    if v is None:", f"        raise _required(spec, {v.name!r})"]
            lines += [f"    {line}" for line in write]
        else:
            lines.append("    if v is not None:")
            lines += [f"        {line}" for line in write]
    lines.append(f"    return parts, n, {head_length}")
    exec("\n".join(lines), namespace)
    writer = namespace["write"]
    assert callable(writer)
    writer.__qualname__ = f"write_{spec.code}_{spec.name}"  # type: ignore[attr-defined]
    return writer
