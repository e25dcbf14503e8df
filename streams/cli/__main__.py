"""`python -m streams.cli` runs the command, as the installed `cdc-replicator` does."""

import sys

from streams.cli.main import main

sys.exit(main())
