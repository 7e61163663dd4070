"""``python -m notifier`` is the same program as ``clickfono-notifier``."""

from notifier.cli import script

script()
