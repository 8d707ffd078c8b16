"""Every (state, input) pair of both role machines does what the table says."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.sip2 import LocalProtocolError
from protocols.sip2.state import (
    ACS_TRANSITIONS,
    SC_TRANSITIONS,
    AcsInput,
    AcsState,
    AcsStateMachine,
    ScInput,
    ScState,
    ScStateMachine,
)


@pytest.mark.parametrize("login_required", [True, False])
@pytest.mark.parametrize("state", list(AcsState))
@pytest.mark.parametrize("event", list(AcsInput))
def test_acs_pair(login_required: bool, state: AcsState, event: AcsInput) -> None:
    """A listed pair moves to the listed state; any other pair raises and closes."""
    machine = AcsStateMachine(login_required=login_required)
    machine.state = state
    expected = ACS_TRANSITIONS.get((state, event))
    if not login_required and (state, event) == (AcsState.LOGGING_IN, AcsInput.SEND_LOGIN_REFUSED):
        expected = AcsState.READY
    if expected is None:
        with pytest.raises(LocalProtocolError, match=event.value):
            machine.process(event)
        assert machine.state is AcsState.CLOSED
    else:
        assert machine.process(event) is expected
        assert machine.state is expected


@pytest.mark.parametrize("state", list(ScState))
@pytest.mark.parametrize("event", list(ScInput))
def test_sc_pair(state: ScState, event: ScInput) -> None:
    """A listed pair moves to the listed state; any other pair raises and fails."""
    machine = ScStateMachine()
    machine.state = state
    expected = SC_TRANSITIONS.get((state, event))
    if expected is None:
        with pytest.raises(LocalProtocolError, match=event.value):
            machine.process(event)
        assert machine.state is ScState.FAILED
    else:
        assert machine.process(event) is expected


def test_closed_and_failed_are_final() -> None:
    """Nothing leaves CLOSED except CLOSE, and nothing leaves FAILED."""
    assert {e for (s, e) in ACS_TRANSITIONS if s is AcsState.CLOSED} == {AcsInput.CLOSE}
    assert not [e for (s, e) in SC_TRANSITIONS if s is ScState.FAILED]


@given(st.lists(st.sampled_from(list(AcsInput)), max_size=30))
def test_acs_machine_never_reaches_an_unlisted_state(events: list[AcsInput]) -> None:
    """Any sequence of inputs keeps the machine in a state of the table."""
    machine = AcsStateMachine()
    reachable = {AcsState.AWAITING_LOGIN, *ACS_TRANSITIONS.values()}
    for event in events:
        try:
            machine.process(event)
        except LocalProtocolError:
            assert machine.state is AcsState.CLOSED
        assert machine.state in reachable
