"""Where loan events go to be recorded on the ledger (memory now; an EVM chain later)."""
