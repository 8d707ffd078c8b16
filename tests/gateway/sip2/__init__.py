"""Tests of the SIP2 edge: kiosks, logins, routing, answers."""
