"""Configuration models, the loader and the policy engine of the consortium."""
