"""The consortium network: discovery, lender selection and shared breaker state."""
