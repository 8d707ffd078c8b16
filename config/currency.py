"""ISO 4217 currency codes and their minor units, and amounts written in the configuration.

Cost sharing keeps money in integer minor units (cents, pence, yen), so every amount
an operator writes in major units (``"1250.50"``) is turned into an integer once, at
load, by the currency's exponent.  An amount with more decimals than its currency has
is an error, never rounded: a configuration that says 0.005 dollars has a mistake in it.

The table lists the active ISO 4217 codes for money (not the precious metals, the
testing codes or the withdrawn ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decimal import Decimal

__all__ = ["CurrencyError", "check_currency", "exponent", "to_minor"]

_NO_MINOR_UNIT = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB "
    "EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS "
    "KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN "
    "MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD "
    "SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS "
    "UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)

_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS.split(), 2),
    **dict.fromkeys(_NO_MINOR_UNIT.split(), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(), 3),
    **dict.fromkeys(_FOUR_DECIMALS.split(), 4),
}


class CurrencyError(ValueError):
    """An unknown currency code, or an amount its currency cannot hold exactly."""


def check_currency(code: str) -> str:
    """``code`` if it is an active ISO 4217 currency.

    Raises:
        CurrencyError: It is not (the message says what is expected).
    """
    if code not in _EXPONENTS:
        hint = " (ISO 4217 codes are upper case)" if code.upper() in _EXPONENTS else ""
        raise CurrencyError(
            f"{code!r} is not an ISO 4217 currency code{hint}: use three letters such as "
            "USD, EUR or GBP"
        )
    return code


def exponent(code: str) -> int:
    """How many decimals ``code``'s minor unit has (2 for USD, 0 for JPY, 3 for KWD).

    Raises:
        CurrencyError: ``code`` is not an ISO 4217 currency.
    """
    return _EXPONENTS[check_currency(code)]


def to_minor(amount: Decimal, code: str) -> int:
    """``amount`` in major units as an integer of minor units (``12.50`` USD → 1250).

    Raises:
        CurrencyError: An unknown currency, or more decimals than the currency has.
    """
    scaled = amount.scaleb(exponent(code))
    if scaled != scaled.to_integral_value():
        raise CurrencyError(
            f"{amount} has more decimals than {code} has ({exponent(code)}): "
            "amounts are kept exactly, never rounded"
        )
    return int(scaled)
