"""``interlend serve --workers N``: N gateway processes on the same listeners, watched
by a supervisor (``supervisor.py``; the worker's side in ``worker.py``)."""
