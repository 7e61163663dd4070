"""Fixtures: webhook_fixtures (filled in by its owner)."""
