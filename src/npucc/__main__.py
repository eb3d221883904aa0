"""`python -m npucc` runs the command line."""

import sys

from npucc.cli import main

sys.exit(main())
