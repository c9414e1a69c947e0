"""`python -m scanner` runs the `fcrdns` command line."""

import sys

from scanner.cli import main

sys.exit(main())
