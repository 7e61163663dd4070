"""One module per sink behind the Protocol in ``base``."""
