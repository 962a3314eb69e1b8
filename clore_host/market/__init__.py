"""The market as `marketplace` and `spot_marketplace` show it (issue 15)."""
