"""`python -m npucc.frontends.tflite --supported | --write DOC`: the supported-operator note."""

import sys

from ..docnote import note_command
from . import supported_note

if __name__ == "__main__":
    sys.exit(note_command("python -m npucc.frontends.tflite", "tflite-supported", supported_note))
