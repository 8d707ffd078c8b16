"""Where loan events go to be recorded on the ledger: in memory, or anchored on an EVM
chain (the contract, the records, the Merkle tree and the chain client)."""
