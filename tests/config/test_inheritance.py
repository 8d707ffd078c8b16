"""Settings flow down the graph: overrides, locks, and explicit multi-parent rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from config.errors import format_path

from .helpers import PROXY, build, consortium, group, issues, library, one_issue


def test_values_flow_down_and_defaults_fill_the_rest() -> None:
    """A member inherits its consortium's values; what nobody sets has its default."""
    c = build(
        {"top": consortium(circulation={"visitor_loan_days": 28, **PROXY}), "lib": library("top")}
    )
    policy = c.policy("lib")
    assert policy.circulation.visitor_loan_days == 28
    assert c.effective["lib"]["circulation.visitor_loan_days"].source == "top"
    assert c.effective["lib"]["circulation.visitor_loan_days"].reason == "inherited from top"
    assert policy.circulation.visitor_renewals == 1
    assert c.effective["lib"]["circulation.visitor_renewals"].reason == "default"
    assert policy.ils.dialect.charset == "cp850"


def test_a_lower_node_overrides_what_is_not_locked() -> None:
    """A value set at the member wins over the inherited one."""
    c = build(
        {
            "top": consortium(circulation={"visitor_loan_days": 28, **PROXY}),
            "lib": library("top", circulation={"visitor_loan_days": 7}),
        }
    )
    assert c.policy("lib").circulation.visitor_loan_days == 7
    assert c.effective["lib"]["circulation.visitor_loan_days"].reason == "set here"


def test_a_locked_value_cannot_be_overridden() -> None:
    """Overriding a locked value is an error naming the lock, two levels down too."""
    nodes = {
        "top": consortium(
            circulation={"loan_cap_total": 10, **PROXY}, lock=["circulation.loan_cap_total"]
        ),
        "mid": group("hybrid", "top"),
        "lib": library("mid", circulation={"loan_cap_total": 50}),
    }
    issue = one_issue(nodes, "nodes.lib.circulation.loan_cap_total", "locked by top", "(10)")
    assert "unlock it at top" in issue.hint


def test_a_lock_travels_with_the_value() -> None:
    """Below a lock the provenance says who locked it."""
    c = build(
        {
            "top": consortium(
                circulation={"loan_cap_total": 10, **PROXY}, lock=["circulation.loan_cap_total"]
            ),
            "mid": group("hybrid", "top"),
            "lib": library("mid"),
        }
    )
    resolved = c.effective["lib"]["circulation.loan_cap_total"]
    assert resolved.locked_by == "top"
    assert resolved.reason == "inherited from top via mid, locked by top"


def test_a_node_locks_only_what_it_sets() -> None:
    """Locking an unset value, or something that is not a setting, is an error."""
    unset = {
        "top": consortium(circulation=PROXY, lock=["circulation.loan_cap_total"]),
        "lib": library("top"),
    }
    one_issue(unset, "nodes.top.lock[0]", "not set at top")
    unknown = {
        "top": consortium(circulation=PROXY, lock=["circulation.loan_cap"]),
        "lib": library("top"),
    }
    one_issue(unknown, "nodes.top.lock[0]", "not a setting")


def two_parents(
    key: str,
    left: object,
    right: object,
    *,
    precedence: tuple[int | None, int | None] = (None, None),
) -> dict[str, object]:
    section, name = key.split(".", 1)
    return {
        "top": consortium(circulation=PROXY),
        "left": group("hybrid", "top", **{section: {name: left}}),
        "right": group("hybrid", "top", **{section: {name: right}}),
        "lib": library(
            {"parent": "left", "precedence": precedence[0]},
            {"parent": "right", "precedence": precedence[1]},
        ),
    }


@pytest.mark.parametrize(
    ("key", "left", "right", "expected"),
    [
        ("circulation.loan_cap_per_owner", 4, 7, 4),
        ("circulation.visitor_loan_days", 28, 14, 14),
        ("circulation.block_fines_over", "5.00", "2.50", Decimal("2.50")),
        ("circulation.block_expired", False, True, True),
        ("circulation.reciprocal_only", True, False, True),
        ("circulation.patron_types", ["adult", "student"], ["student", "staff"], ("student",)),
        ("circulation.non_circulating_item_types", ["001"], ["005", "001"], ("001", "005")),
    ],
)
def test_disagreeing_parents_give_the_most_restrictive_value(
    key: str, left: object, right: object, expected: object
) -> None:
    """Without precedence, limits and privileges take the most restrictive value."""
    c = build(two_parents(key, left, right))
    resolved = c.effective["lib"][key]
    assert resolved.value == expected
    assert resolved.reason.startswith("most restrictive of left")


def test_declared_precedence_wins() -> None:
    """The membership with precedence 1 wins, even over a more restrictive value."""
    c = build(two_parents("circulation.loan_cap_per_owner", 9, 2, precedence=(1, 2)))
    resolved = c.effective["lib"]["circulation.loan_cap_per_owner"]
    assert resolved.value == 9
    assert resolved.reason == "membership of left takes precedence over right"


def test_declared_precedence_beats_undeclared() -> None:
    """One declared precedence is enough to decide."""
    c = build(two_parents("ils.timeout_s", 3.0, 9.0, precedence=(None, 5)))
    assert c.policy("lib").ils.timeout_s == 9.0


def test_tied_precedence_falls_back_to_the_rule() -> None:
    """Equal precedence does not decide; the most restrictive value does."""
    c = build(two_parents("circulation.visitor_renewals", 3, 1, precedence=(1, 1)))
    assert c.policy("lib").circulation.visitor_renewals == 1


def test_settings_without_a_restrictive_value_need_precedence() -> None:
    """Two time-outs cannot be compared for restrictiveness: an error with a hint."""
    issue = one_issue(
        two_parents("ils.timeout_s", 3.0, 9.0),
        "nodes.lib.memberships",
        "ils.timeout_s",
        "left (3.0)",
        "right (9.0)",
    )
    assert "precedence" in issue.hint


def test_agreeing_parents_need_nothing() -> None:
    """Parents that agree are not a conflict."""
    c = build(two_parents("ils.timeout_s", 4.0, 4.0))
    assert c.policy("lib").ils.timeout_s == 4.0


def test_a_local_value_settles_a_conflict() -> None:
    """A member that sets the value itself needs no rule for its parents' disagreement."""
    nodes = two_parents("ils.timeout_s", 3.0, 9.0)
    nodes["lib"]["ils"]["timeout_s"] = 5.0  # type: ignore[index]
    assert build(nodes).policy("lib").ils.timeout_s == 5.0


def test_locked_values_beat_unlocked_ones() -> None:
    """Between a locked and an unlocked parent value, the lock wins."""
    nodes = two_parents("circulation.visitor_loan_days", 28, 7)
    nodes["left"]["lock"] = ["circulation.visitor_loan_days"]  # type: ignore[index]
    resolved = build(nodes).effective["lib"]["circulation.visitor_loan_days"]
    assert resolved.value == 28
    assert resolved.locked_by == "left"


def test_conflicting_locks_are_an_error_until_precedence_decides() -> None:
    """Two parents locking different values cannot both be obeyed."""
    nodes = two_parents("circulation.visitor_loan_days", 28, 7)
    nodes["left"]["lock"] = ["circulation.visitor_loan_days"]  # type: ignore[index]
    nodes["right"]["lock"] = ["circulation.visitor_loan_days"]  # type: ignore[index]
    one_issue(nodes, "nodes.lib.memberships", "conflicting locked values")
    nodes = two_parents("circulation.visitor_loan_days", 28, 7, precedence=(2, 1))
    nodes["left"]["lock"] = ["circulation.visitor_loan_days"]  # type: ignore[index]
    nodes["right"]["lock"] = ["circulation.visitor_loan_days"]  # type: ignore[index]
    assert build(nodes).policy("lib").circulation.visitor_loan_days == 7


def test_a_parent_that_sets_nothing_does_not_vote() -> None:
    """Only parents with a value take part: one setter is simply inherited."""
    nodes = {
        "top": consortium(circulation=PROXY),
        "left": group("hybrid", "top", circulation={"loan_cap_per_owner": 3}),
        "right": group("hybrid", "top"),
        "lib": library("left", "right"),
    }
    resolved = build(nodes).effective["lib"]["circulation.loan_cap_per_owner"]
    assert (resolved.value, resolved.reason) == (3, "inherited from left")


def test_every_issue_is_reported_at_once() -> None:
    """Several problems give several issues in one error."""
    nodes = two_parents("ils.timeout_s", 3.0, 9.0)
    nodes["top"]["lock"] = ["circulation.loan_cap_total"]  # type: ignore[index]
    found = {format_path(i.path) for i in issues(nodes)}
    assert found == {"nodes.lib.memberships", "nodes.top.lock[0]"}
