"""The consortium's loan registry behind the ``StateStore`` protocol (in memory, or in
Redis shared by every gateway)."""
