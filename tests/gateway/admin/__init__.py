"""Tests of the admin HTTP port."""
