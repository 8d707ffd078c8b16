"""Amounts in integer minor units, written in major units for people.

Settlements carry money as integers of the currency's minor unit (cents for USD,
yen for JPY, fils for KWD); a report shows ``1,234.56 USD``.  The number of decimals
is ISO 4217's minor-unit exponent: 2 unless the currency is listed below.
"""

from __future__ import annotations

__all__ = ["exponent", "format_money", "major"]

_EXPONENTS = {
    # No minor unit in use.
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # Thousandths.
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (ISO 4217; 2 by default)."""
    return _EXPONENTS.get(currency, 2)


def major(amount: int, currency: str) -> float:
    """An amount in major units, for chart axes only (never for sums)."""
    return amount / int(10 ** exponent(currency))


def format_money(amount: int, currency: str, *, signed: bool = False) -> str:
    """``amount`` minor units as ``1,234.56 USD`` (``+``/``-`` in front when ``signed``).

    Exact: integer arithmetic, no float on the way.
    """
    places = exponent(currency)
    whole, fraction = divmod(abs(amount), int(10**places))
    text = f"{whole:,}" + (f".{fraction:0{places}d}" if places else "")
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    return f"{sign}{text} {currency}"
