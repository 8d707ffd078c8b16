"""Tests of discovery, lender selection and shared breakers."""
