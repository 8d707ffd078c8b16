"""The composition root: the daemon, its runtime, listeners' accept loop, metrics and logs."""
