"""Tests of the demo's simulated ILSs."""
