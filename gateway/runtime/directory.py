"""Discovery's view of the gateway (``gateway.network.discovery.Directory``): the
consortium and each member's ILS, from the rules and services in force."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.ils.base import MemberIls
    from config.consortium import Consortium
    from gateway.runtime.rules import Rules
    from gateway.runtime.services import Services

__all__ = ["MemberDirectory"]


class MemberDirectory:
    """The consortium and the members' ILS clients, as discovery asks for them."""

    def __init__(self, rules: Rules, services: Services) -> None:
        self._rules, self._services = rules, services

    @property
    def consortium(self) -> Consortium:
        """The consortium in force."""
        return self._rules.consortium

    def name(self, member: str) -> str:
        """A library's display name."""
        return self._rules.name(member)

    def ils(self, member: str) -> MemberIls | None:
        """A member's ILS client (``None`` for a node that is not a library)."""
        handle = self._services.members.get(member)
        return handle.ils if handle is not None else None
