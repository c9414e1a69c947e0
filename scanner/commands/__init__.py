"""The `fcrdns` command line: the only layer that prints and chooses exit codes."""
