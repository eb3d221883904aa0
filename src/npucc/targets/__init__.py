"""NPU targets as data, their constraints, and legalization.

    from npucc.targets import get_target, legalize
    t = get_target("rk3588")                  # or a path to your own target file
    print(legalize(graph, t).report())        # which nodes stay on the CPU, with every reason

- target.py: the Target record and the YAML loader/validator (`data/*.yaml` ship with npucc);
- constraints.py: one small function per NPU rule, its docstring the reason shown to users;
- legalize.py: every violated rule for every node;
- fusion.py: max-pool fusion rules (read by the fuse-conv-pool pass);
- docs.py: docs/targets/*.md generated from the target files and the docstrings.
"""

from .constraints import CONSTRAINTS, CheckContext, Constraint
from .fusion import PoolFusionRule
from .legalize import Legalization, NodeVerdict, Violation, layer_name, legalize
from .target import CostParams, Target, get_target, list_targets

__all__ = ["CONSTRAINTS", "CheckContext", "Constraint", "CostParams", "Legalization",
           "NodeVerdict", "PoolFusionRule", "Target", "Violation", "get_target", "layer_name",
           "legalize", "list_targets"]
