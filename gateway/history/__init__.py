"""The registry's history by period: what reports, cost sharing and analytics read."""
