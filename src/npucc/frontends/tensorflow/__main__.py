"""`python -m npucc.frontends.tensorflow --supported | --write DOC`: the supported-op note."""

import sys

from ..docnote import note_command
from . import supported_note

if __name__ == "__main__":
    sys.exit(note_command("python -m npucc.frontends.tensorflow", "tensorflow-supported",
                          supported_note))
