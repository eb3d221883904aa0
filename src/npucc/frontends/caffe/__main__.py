"""`python -m npucc.frontends.caffe --supported`: print the supported-layer note."""

import argparse
import sys

from ..docnote import write_note
from . import supported_note


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m npucc.frontends.caffe")
    ap.add_argument("--supported", action="store_true", help="print the supported-layer note")
    ap.add_argument("--write", metavar="DOC", help="update the 'caffe-supported' section of DOC "
                    "(docs/FRONTENDS.md)")
    opts = ap.parse_args(argv)
    if opts.write:
        write_note(opts.write, "caffe-supported", supported_note())
        return 0
    if opts.supported:
        sys.stdout.write(supported_note())
        return 0
    ap.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
