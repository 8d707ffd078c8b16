"""Tests of the circulation flows: PINs, loans, renewals, returns, holds."""
