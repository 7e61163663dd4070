"""Fixtures for local sink servers: webhook receiver, Slack API, SMTP (filled in later)."""
