"""Consortium analytics, pure: a period's loans and refusals (and the holdings
exports) in, usage and collection reports out.

Nothing here reads a store, a file or a clock: ``gateway/cli/report_analytics.py`` and
``gateway/admin/analytics.py`` read the registry (``gateway/history``) and the
holdings index, call ``usage_report`` or ``collection_report``, and write the result
as a table, CSV or JSON.  Every figure states what it counts (``docs/analytics.md``).
"""

from gateway.analytics.collection import CollectionReport, HeldCopy, collection_report
from gateway.analytics.usage import UsageReport, usage_report

__all__ = [
    "CollectionReport",
    "HeldCopy",
    "UsageReport",
    "collection_report",
    "usage_report",
]
