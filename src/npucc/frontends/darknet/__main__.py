"""`python -m npucc.frontends.darknet --supported | --write DOC`: the supported-section note."""

import sys

from ..docnote import note_command
from . import supported_note

if __name__ == "__main__":
    sys.exit(note_command("python -m npucc.frontends.darknet", "darknet-supported",
                          supported_note))
