"""The admin HTTP port: health, readiness, metrics, the status page and the API."""
