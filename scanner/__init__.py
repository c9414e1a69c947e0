"""fcrdns-scanner: audit forward-confirmed reverse DNS over large IP ranges."""

__version__ = "0.1.0"
