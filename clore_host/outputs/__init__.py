"""Outputs: what the agent shows besides its API writes: log lines, Prometheus metrics and
the webhook."""
