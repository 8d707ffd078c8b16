"""Billing and report exporters that reach outside the gateway (the settlement webhook)."""
