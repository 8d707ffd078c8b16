"""Tests of the NCIP edge."""
