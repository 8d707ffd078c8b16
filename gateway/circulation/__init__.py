"""Circulation flows the gateway runs itself: patrons and PINs, loans, renewals, returns, holds."""
