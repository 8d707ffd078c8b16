"""The ledger side of the daemon: the outbox's consumer, the chain worker, proofs."""
