"""Tests of the consortium analytics."""
