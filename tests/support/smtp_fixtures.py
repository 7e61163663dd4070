"""Fixtures: smtp_fixtures (filled in by its owner)."""
