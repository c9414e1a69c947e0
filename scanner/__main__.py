"""`python -m scanner` runs the `fcrdns` command line."""

import sys

from scanner.commands.cli import main

sys.exit(main())
