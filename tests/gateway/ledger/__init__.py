"""Tests of the outbox consumer and the ledger in the daemon."""
