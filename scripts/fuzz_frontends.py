#!/usr/bin/env python3
"""Mutation-fuzz npucc's frontends and print one table row per target: variants, how many loaded,
how many failed with an npucc error naming the file, and anything else (must be 0).

    python scripts/fuzz_frontends.py 3000 --seed 0              # every row below
    python scripts/fuzz_frontends.py 500 --format pytorch -v    # one format, list each escape

The rows (fixture and loader per format; archives also member by member) are
tests/fuzz/targets.py's TARGETS; the mutations and the verdict are tests/fuzz/mutate.py's, the
same as the fuzz tests in the suite run with fewer variants. Same seed, same variants.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.targets import TARGETS, fuzz_target  # noqa: E402


def main(argv=None) -> int:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)  # torch's export warnings, once per successful load
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", type=int, help="variants per row")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", action="append", help="only these formats (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every escape")
    args = ap.parse_args(argv)
    rows = [t for t in TARGETS if not args.format or t.format in args.format]
    header = ("format", "fixture", "variants", "loaded", "npucc errors", "anything else",
              "seconds")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    total_other = 0
    for target in rows:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            counts, escapes = fuzz_target(target, args.variants, args.seed, Path(tmp))
            secs = time.perf_counter() - start
        total_other += counts["other"]
        print(f"| {target.format} | {target.name} | {args.variants} | {counts['loaded']} | "
              f"{counts['npucc-error']} | {counts['other']} | {secs:.0f} |", flush=True)
        for line in escapes if args.verbose else escapes[:3]:
            print(f"    {line[:400]}", file=sys.stderr)
    return 1 if total_other else 0


if __name__ == "__main__":
    sys.exit(main())
