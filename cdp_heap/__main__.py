"""``python -m cdp_heap`` is the same program as ``cdp-heap``."""

from cdp_heap.cli import entry_point

entry_point()
