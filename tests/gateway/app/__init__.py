"""Tests of the daemon: listeners, reload, logs."""
