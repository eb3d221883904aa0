"""`python -m npucc.cli`."""

import sys

from . import main

sys.exit(main())
