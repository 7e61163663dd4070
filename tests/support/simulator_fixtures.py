"""Fixtures for the Clickfono simulator (filled in by the simulator work)."""
