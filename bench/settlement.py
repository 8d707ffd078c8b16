"""How long the settlement engine takes on a month of loans, and exact Shapley by size.

Run by hand: ``.venv/bin/python bench/settlement.py [--loans 10000 100000] [--rounds 5]``.

The month is synthetic: loans between the demo's three libraries in random directions
(a tenth of gamma's from its shared print repository), settled with the demo's plan
(config/demo.toml: base + drivers, proportional to loans, a net-lender pool,
per-transaction charges, a co-owned collection's storage).  Exact Shapley is timed on
a stepped capacity cost for 10 to 16 libraries (2^n coalitions each).  Medians of the
rounds are printed; the machine's load moves them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import config
from adapters.state.base import Loan
from config.loader import load_consortium
from gateway.history.period import Period
from gateway.history.reader import PeriodLoans
from gateway.settlement import formulas
from gateway.settlement.engine import settle

if TYPE_CHECKING:
    from collections.abc import Callable

    from config.consortium import Consortium

MONTH = Period.parse("2026-11")


def month_of(consortium: Consortium, count: int, seed: int = 1) -> PeriodLoans:
    """``count`` loans between the demo's libraries, spread over the month."""
    libraries = consortium.cost_plans["demo"].libraries
    rng = random.Random(seed)
    loans = []
    for number in range(count):
        owner, home = rng.sample(libraries, 2)
        prefix = consortium.nodes[owner].items[0].rstrip("*")
        shared = owner == "gamma" and rng.random() < 0.1
        item = f"310030000003{rng.randrange(10)}" if shared else f"{prefix}{number:09d}"
        out = MONTH.start + timedelta(seconds=rng.randrange(MONTH.days * 86_400))
        loans.append(
            Loan(
                f"loan-{number}", owner, home, item, "k", f"ILL-{home}", "t", out,
                out + timedelta(days=21),
            )
        )  # fmt: skip
    return PeriodLoans(MONTH, tuple(loans))


def median_seconds(run: Callable[[], object], rounds: int) -> float:
    """The median wall time of ``rounds`` runs."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def stepped_cost(demand: dict[str, int], coalition: frozenset[str]) -> int:
    """100,000 per started block of 25,000 of demand."""
    return -(-sum(demand[p] for p in coalition) // 25_000) * 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description="the settlement engine's timings")
    parser.add_argument("--loans", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    consortium = load_consortium(Path(config.__file__).parent / "demo.toml", check_secrets=False)
    plan = consortium.cost_plans["demo"]
    for count in args.loans:
        month = month_of(consortium, count)
        seconds = median_seconds(partial(settle, month, consortium, plan), args.rounds)
        per_loan = seconds / count * 1e6
        print(f"settle, {count:>9,} loans: {seconds * 1000:8.1f} ms ({per_loan:.2f} µs a loan)")
    for size in (10, 12, 14, 16):
        players = [f"lib{i}" for i in range(size)]
        cost = partial(stepped_cost, {p: 1_000 * (i + 1) for i, p in enumerate(players)})
        seconds = median_seconds(partial(formulas.shapley, players, cost), args.rounds)
        print(f"exact Shapley, {size} libraries: {seconds:6.2f} s")


if __name__ == "__main__":
    main()
