"""`python -m cronpilot_client`: the same as the `cronpilot` console script."""

import sys

from cronpilot_client.cli.main import main

sys.exit(main())
