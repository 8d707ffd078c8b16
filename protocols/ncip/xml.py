"""Hardened XML in, namespace-blind navigation; namespaced XML out.

Reading: ``parse`` refuses bodies over a size cap before the parser sees them, parses
with no entity expansion, no DTD loading and no network, drops comments and processing
instructions, and refuses trees deeper than a depth cap.  A DOCTYPE may be present (old
templates carry one) but is never resolved.  ``Node`` then reads elements by *local*
name, so a message with the NCIP namespace, another prefix, or none at all reads alike.

Writing: ``Builder`` makes elements in the NCIP namespace with the prefix and attribute
style of a ``Style`` (qualified ``ns1:`` by default, as the 2.02 schema wants).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from .errors import NcipSyntaxError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "NS",
    "VERSION_202",
    "Builder",
    "Node",
    "Style",
    "parse",
]

NS = "http://www.niso.org/2008/ncip"
VERSION_202 = "http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"
MAX_BODY = 1 << 20
"""The largest message accepted (1 MiB; real NCIP messages are a few KiB)."""
MAX_DEPTH = 32
"""The deepest element nesting accepted (real messages nest about eight deep)."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


class Node:
    """A read-only view of an element that matches children by local name."""

    __slots__ = ("_element",)

    def __init__(self, element: etree._Element) -> None:
        self._element = element

    @property
    def name(self) -> str:
        """The element's local name (no namespace)."""
        return _local(self._element.tag)

    @property
    def text(self) -> str:
        """The element's own text, stripped ('' when it has none)."""
        return (self._element.text or "").strip()

    def attribute(self, name: str) -> str | None:
        """An attribute by local name, whatever its namespace."""
        for key, value in self._element.attrib.items():
            if _local(key) == name:
                return str(value)
        return None

    def children(self, name: str | None = None) -> Iterator[Node]:
        """Child elements (with that local name, when given), in document order."""
        for child in self._element:
            if isinstance(child.tag, str) and (name is None or _local(child.tag) == name):
                yield Node(child)

    def child(self, *path: str) -> Node | None:
        """The first descendant along a path of local names, or ``None``."""
        node: Node | None = self
        for name in path:
            assert node is not None
            node = next(node.children(name), None)
            if node is None:
                return None
        return node

    def value(self, *path: str) -> str | None:
        """The text of the element at ``path`` (``None`` when absent or empty)."""
        node = self.child(*path)
        if node is None:
            return None
        return node.text or None

    def values(self, *path: str) -> list[str]:
        """The texts of every element named ``path[-1]`` under ``path[:-1]``."""
        parent = self.child(*path[:-1]) if len(path) > 1 else self
        if parent is None:
            return []
        return [n.text for n in parent.children(path[-1]) if n.text]


def parse(body: bytes, *, max_body: int = MAX_BODY, max_depth: int = MAX_DEPTH) -> Node:
    """Parse an NCIP body into its root ``Node``.

    Raises:
        NcipSyntaxError: Too large, not well-formed, too deep, or not XML at all.
    """
    if len(body) > max_body:
        raise NcipSyntaxError(f"the message is {len(body)} bytes; the limit is {max_body}")
    if not body.strip():
        raise NcipSyntaxError("the message is empty")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise NcipSyntaxError(f"not well-formed XML: {exc.msg}") from None
    if root is None:  # pragma: no cover - lxml raises for an empty document
        raise NcipSyntaxError("no root element")
    _check_depth(root, max_depth)
    return Node(root)


def _check_depth(root: etree._Element, max_depth: int) -> None:
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise NcipSyntaxError(f"elements nest deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in element if isinstance(child.tag, str))


@dataclass(frozen=True)
class Style:
    """How outgoing NCIP is written, per peer.

    The default is the 2.02 schema's own form: prefix ``ns1``, ``version`` and
    ``Scheme`` qualified.  ``prefix=None`` writes the namespace as the default one
    with unqualified attributes (what Koha's NCIP server and many hand-written
    clients expect); ``date_only`` writes dates as ``YYYY-MM-DD``.
    """

    prefix: str | None = "ns1"
    date_only: bool = False
    version: str = VERSION_202

    @property
    def qualified(self) -> bool:
        """Whether attributes carry the namespace (only with a prefix)."""
        return self.prefix is not None


class Builder:
    """Makes NCIP elements in one ``Style``."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self._nsmap = {style.prefix: NS}

    def element(self, name: str, *children: etree._Element | None) -> etree._Element:
        """An element with child elements (``None`` children are skipped)."""
        node = etree.Element(f"{{{NS}}}{name}", nsmap=self._nsmap)  # type: ignore[arg-type]
        node.extend(c for c in children if c is not None)
        return node

    def text(
        self, name: str, value: str | None, scheme: str | None = None
    ) -> etree._Element | None:
        """A text element (``None`` when the value is ``None``), with a Scheme if given."""
        if value is None:
            return None
        node = etree.Element(f"{{{NS}}}{name}", nsmap=self._nsmap)  # type: ignore[arg-type]
        node.text = value
        if scheme is not None:
            node.set(self._attribute("Scheme"), scheme)
        return node

    def _attribute(self, name: str) -> str:
        return f"{{{NS}}}{name}" if self.style.qualified else name

    def message(self, payload: etree._Element | list[etree._Element]) -> bytes:
        """The serialized ``NCIPMessage`` around a payload (a service, or Problems)."""
        root = self.element("NCIPMessage")
        root.set(self._attribute("version"), self.style.version)
        root.extend(payload if isinstance(payload, list) else [payload])
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
