"""`python -m npucc.frontends.caffe --supported | --write DOC`: the supported-layer note."""

import sys

from ..docnote import note_command
from . import supported_note

if __name__ == "__main__":
    sys.exit(note_command("python -m npucc.frontends.caffe", "caffe-supported", supported_note))
