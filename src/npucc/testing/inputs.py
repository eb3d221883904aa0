"""Deterministic random inputs for a graph: `npucc.compare` defines them (the pass manager's
validate-each instrument uses them too, below the testing kit); kept importable from here."""

from npucc.compare import INPUT_RANGE, int_input_range, random_inputs

__all__ = ["INPUT_RANGE", "int_input_range", "random_inputs"]
