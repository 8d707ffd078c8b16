"""The consortium's loan registry behind the ``StateStore`` protocol (memory; Redis later)."""
