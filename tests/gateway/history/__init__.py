"""Tests of the registry history by period."""
