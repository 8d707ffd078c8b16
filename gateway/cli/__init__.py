"""The ``interlend`` command line."""
