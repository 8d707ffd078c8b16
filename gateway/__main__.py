"""``python -m gateway`` runs the ``interlend`` command."""

from __future__ import annotations

from gateway.cli.main import main

raise SystemExit(main())
