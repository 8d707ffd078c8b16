"""The report command as the tests run it: in this process, with a settle function
built by hand (``SAMPLE`` for the period asked) that records the loans it was handed."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from gateway.cli import report_settlement
from tests.gateway.reports.sample import SAMPLE
from tests.helpers.cli import ROOT

if TYPE_CHECKING:
    from config.consortium import Consortium
    from gateway.history.reader import PeriodLoans
    from gateway.settlement.result import Settlement

__all__ = ["DEMO_CONFIG", "ByHand", "report"]

DEMO_CONFIG = str(ROOT / "config" / "demo.toml")


class ByHand:
    """A settle function that returns ``SAMPLE`` for the period it was asked about,
    and keeps the loans it was handed."""

    def __init__(self) -> None:
        self.seen: list[PeriodLoans] = []

    def __call__(self, loans: PeriodLoans, consortium: Consortium) -> Settlement:
        assert set(consortium.libraries) == {"alpha", "beta", "gamma"}
        self.seen.append(loans)
        label = loans.period.label
        return dataclasses.replace(
            SAMPLE,
            period=label,
            statements=tuple(dataclasses.replace(s, period=label) for s in SAMPLE.statements),
        )


def report(*argv: str, settle: ByHand | None = None) -> int:
    """``interlend report settlement ARGV`` in this process, with ``settle`` given."""
    parser = argparse.ArgumentParser(prog="interlend report")
    report_settlement.add_parser(parser.add_subparsers(dest="report", required=True), settle)
    args = parser.parse_args(["settlement", *argv])
    status: int = args.run(args)
    return status
