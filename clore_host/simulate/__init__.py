"""Backtest and simulate: what a policy would have done, and would earn (issue 17)."""
